"""A local bioRxiv/medRxiv API on 127.0.0.1 for tests and the demo, in the real JSON shapes.

``GET /pubs/{server}/{doi}[/na/json]`` answers the preprint -> published mapping the server
holds for that preprint (``{"messages": [{"status": "ok"}], "collection": [...]}``), or
``"no posts found"`` with an empty collection; ``GET /details/{server}/{doi}[/na/json]`` each
version with its ``published`` DOI ("NA" until published). Tests can script the next answers,
make answers slow (``delay``), and read every request (``requests``).
"""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler
from urllib.parse import unquote, urlsplit

from .base import LocalServer

NO_POSTS = {"messages": [{"status": "no posts found"}], "collection": []}


class BiorxivServer(LocalServer):
    """``with BiorxivServer() as server:``; point WATCHER_BIORXIV_URL at ``server.url``."""

    def __init__(self) -> None:
        self.preprints: dict[tuple[str, str], dict] = {}  # (server, doi) -> preprint fields
        self.scripted: list[tuple[int, str]] = []
        self.delay = 0.0
        self.requests: list[str] = []
        self._lock = threading.Lock()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/"

    def add(self, doi: str, *, server: str = "medrxiv", title: str = "A preprint",
            published_doi: str = "", journal: str = "", published_date: str = "",
            date: str = "2025-01-10") -> None:
        """A preprint on *server*; published when *published_doi* is given."""
        with self._lock:
            self.preprints[(server, doi.lower())] = {
                "doi": doi.lower(), "title": title, "published_doi": published_doi,
                "journal": journal, "published_date": published_date, "date": date,
                "platform": {"medrxiv": "medRxiv", "biorxiv": "bioRxiv"}[server]}

    def fail(self, status: int, body: str = "", times: int = 1) -> None:
        self.scripted.extend([(status, body)] * times)

    def handle(self, path: str) -> tuple[int, dict]:
        with self._lock:
            self.requests.append(path)
            if self.scripted:
                status, body = self.scripted.pop(0)
                return status, {"messages": [{"status": body or "error"}], "collection": []}
            preprints = dict(self.preprints)
        parts = unquote(path).strip("/").split("/")
        if len(parts) >= 4 and parts[-2:] == ["na", "json"]:
            parts = parts[:-2]
        if len(parts) < 4 or parts[0] not in ("pubs", "details"):
            return 404, {"messages": [{"status": "not found"}], "collection": []}
        kind, server, doi = parts[0], parts[1], "/".join(parts[2:]).lower()
        found = preprints.get((server, doi))
        if found is None:
            return 200, NO_POSTS
        if kind == "pubs":
            if not found["published_doi"]:
                return 200, NO_POSTS
            return 200, {"messages": [{"status": "ok"}], "collection": [{
                "preprint_doi": found["doi"], "published_doi": found["published_doi"],
                "published_journal": found["journal"], "preprint_platform": found["platform"],
                "preprint_title": found["title"], "preprint_date": found["date"],
                "published_date": found["published_date"]}]}
        return 200, {"messages": [{"status": "ok", "category": "all"}], "collection": [{
            "title": found["title"], "doi": found["doi"], "date": found["date"],
            "version": "1", "published": found["published_doi"] or "NA",
            "server": found["platform"]}]}


class _Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 (http.server naming)
        app = self.app  # type: ignore[attr-defined]
        status, answer = app.handle(urlsplit(self.path).path)
        if app.delay:
            time.sleep(app.delay)
        body = json.dumps(answer).encode("utf-8")
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            pass

    def log_message(self, format: str, *args: object) -> None:  # quiet
        pass


BiorxivServer.handler = _Handler  # the server answers through this handler
