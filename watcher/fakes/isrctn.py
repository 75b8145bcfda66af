"""A local ISRCTN query API server on 127.0.0.1 for tests and the demo.

``GET /query/format/default?q=...&limit=N`` answers ``<allTrials totalCount="...">`` holding up
to *limit* ``<fullTrial>`` elements in the registry's namespace. ``q`` is evaluated simply: a
``lastEdited GE <timestamp>`` clause filters on each trial's ``lastUpdated``; the rest is groups
joined by ``AND``, each group an OR of bare words or quoted phrases matched case-insensitively
anywhere in the trial's text. Field filters (``condition:``) and ``NOT`` are not modelled.
Tests can script the next answers (any status, body and content type).
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass
from datetime import date
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit
from xml.sax.saxutils import escape

from .base import LocalServer

NS = "http://www.67bricks.com/isrctn"
_EDITED = re.compile(r"\s*AND\s+lastEdited\s+GE\s+(\d{4}-\d{2}-\d{2})\S*\s*$")
_TOKEN = re.compile(r'"([^"]*)"|([^\s()]+)')


def trial_xml(isrctn: str, *, title: str, condition: str, drug: str, updated: date,
              nct: str | None = None, eudract: str | None = None,
              status: str = "Recruiting", enrolment: int = 60,
              country: str = "United Kingdom", sponsor: str = "University of Oxford") -> str:
    """A ``fullTrial`` in the shape of the registry's query API (elements it documents)."""
    eudract_ref = f"<eudraCTNumber>{escape(eudract)}</eudraCTNumber>" if eudract else ""
    nct_ref = f"<clinicalTrialsGovNumber>{escape(nct)}</clinicalTrialsGovNumber>" if nct else ""
    return (
        f'<fullTrial><trial lastUpdated="{updated.isoformat()}T10:00:00.000Z">'
        f'<isrctn dateAssigned="2024-01-10T00:00:00.000Z">{isrctn.removeprefix("ISRCTN")}'
        f"</isrctn><trialDescription><title>{escape(title)}</title>"
        f"<plainEnglishSummary>A trial of {escape(drug)}.</plainEnglishSummary>"
        f"</trialDescription><externalRefs><doi>10.1186/{isrctn}</doi>"
        f"{eudract_ref}{nct_ref}</externalRefs>"
        f"<trialDesign><primaryStudyDesign>Interventional</primaryStudyDesign>"
        f"<overallEndDate>2026-12-31T00:00:00.000Z</overallEndDate></trialDesign>"
        f"<participants><recruitmentCountries><country>{escape(country)}</country>"
        f"</recruitmentCountries><targetEnrolment>{enrolment}</targetEnrolment>"
        f"<totalFinalEnrolment>0</totalFinalEnrolment>"  # as the registry says until the end
        f"<recruitmentStart>2024-02-01T00:00:00.000Z</recruitmentStart>"
        f"<recruitmentStatusOverride>{escape(status)}</recruitmentStatusOverride>"
        f"</participants><conditions><condition><description>{escape(condition)}"
        f"</description></condition></conditions><interventions><intervention>"
        f"<description>{escape(drug)}</description><drugNames>{escape(drug)}</drugNames>"
        f"<phase>Phase II</phase></intervention></interventions></trial>"
        f"<sponsor><organisation>{escape(sponsor)}</organisation></sponsor></fullTrial>")


@dataclass
class Scripted:
    status: int
    body: str
    content_type: str = "text/plain"


class IsrctnServer(LocalServer):
    """Start with ``with IsrctnServer() as server:``; point WATCHER_ISRCTN_URL at server.url."""

    def __init__(self) -> None:
        self.trials: dict[str, tuple[date, str]] = {}  # isrctn -> (lastUpdated day, xml)
        self.scripted: list[Scripted] = []
        self.requests: list[dict[str, str]] = []
        self._lock = threading.Lock()
        self._httpd: ThreadingHTTPServer | None = None

    def add(self, isrctn: str, **fields) -> str:
        with self._lock:
            self.trials[isrctn] = (fields["updated"], trial_xml(isrctn, **fields))
        return isrctn

    def add_full_trial(self, isrctn: str, xml: str, *, updated: date) -> str:
        """Serve a ``fullTrial`` given as XML (a recorded answer's, or an edited copy of one),
        last edited on *updated*."""
        with self._lock:
            self.trials[isrctn] = (updated, xml)
        return isrctn

    def fail(self, status: int, body: str = "", *, content_type: str = "text/plain") -> None:
        self.scripted.append(Scripted(status, body, content_type))

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/api/"

    def handle(self, path: str, params: dict[str, str]) -> tuple[int, str, bytes]:
        with self._lock:
            self.requests.append(params)
            if self.scripted:
                answer = self.scripted.pop(0)
                return answer.status, answer.content_type, answer.body.encode("utf-8")
            trials = dict(self.trials)
        if path.rstrip("/") != "/api/query/format/default":
            return 404, "text/plain", b"Not found"
        q = params.get("q", "")
        since = None
        if match := _EDITED.search(q):
            since, q = date.fromisoformat(match.group(1)), q[:match.start()]
        groups = [_alternatives(g) for g in re.split(r"\)\s+AND\s+\(", q.strip().strip("()"))
                  if g.strip()]
        hits = [xml for _, (day, xml) in sorted(trials.items())
                if (since is None or day >= since)
                and all(any(_has(xml, alt) for alt in group) for group in groups)]
        limit = int(params.get("limit") or 10)
        body = (f'<?xml version="1.0" encoding="UTF-8"?><allTrials xmlns="{NS}" '
                f'totalCount="{len(hits)}">{"".join(hits[:limit])}</allTrials>')
        return 200, "application/xml", body.encode("utf-8")


def _alternatives(group: str) -> list[str]:
    words = [m.group(1) or m.group(2) for m in _TOKEN.finditer(group)]
    return [w.lower() for w in words if w.upper() != "OR"]


def _has(xml: str, phrase: str) -> bool:
    text = re.sub(r"<[^>]+>", " ", xml).lower()
    return re.search(r"\b" + re.escape(phrase.rstrip("*")), text) is not None


class _Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 (http.server naming)
        parts = urlsplit(self.path)
        params = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        status, content_type, body = self.app.handle(parts.path, params)  # type: ignore[attr-defined]
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:  # quiet
        pass


IsrctnServer.handler = _Handler  # the server answers through this handler
