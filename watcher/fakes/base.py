"""What every local fake server shares: a threaded HTTP server on 127.0.0.1, port 0, started
and stopped around a test, a benchmark or `watcher demo`; and, for long-running tests, a flaky
upstream: ``fail_every_other(path, status)`` answers every other request whose path contains
*path* with *status*, the rest as usual."""

from __future__ import annotations

import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self


class LocalServer:
    """Subclasses set ``handler`` (its requests reach the server as ``self.app``)."""

    handler: type[BaseHTTPRequestHandler]
    _httpd: ThreadingHTTPServer | None = None
    _flaky: tuple[str, int] | None = None  # (path fragment, status) failing every other call
    _flaky_calls = 0
    _flaky_lock = threading.Lock()

    def fail_every_other(self, path: str = "", status: int = 503) -> None:
        """Answer the 2nd, 4th, ... request whose path contains *path* with *status*. A 5xx
        is retried by the client (so a poll usually survives it); a 4xx fails that call."""
        self._flaky, self._flaky_calls = (path, status), 0

    def _fails_now(self, path: str) -> int | None:
        """The status to answer this request with instead, or None to answer it."""
        if self._flaky is None or self._flaky[0] not in path:
            return None
        with self._flaky_lock:
            self._flaky_calls += 1
            return self._flaky[1] if self._flaky_calls % 2 == 0 else None

    @property
    def port(self) -> int:
        assert self._httpd is not None, "server not started"
        return self._httpd.server_address[1]

    def start(self) -> Self:
        handler = type("Handler", (self.handler,), {"app": self, **_flaky(self.handler)})
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._httpd.daemon_threads = True
        threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05},
                         daemon=True).start()
        return self

    def stop(self) -> None:
        if self._httpd:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _flaky(base: type[BaseHTTPRequestHandler]) -> dict[str, Callable[..., None]]:
    """do_GET/do_POST that first ask the server whether this call is one that fails."""
    methods = {}
    for name in ("do_GET", "do_POST"):
        original = getattr(base, name, None)
        if original is None:
            continue

        def method(handler: Any, original: Callable[..., None] = original) -> None:
            status = handler.app._fails_now(handler.path)
            if status is None:
                original(handler)
            else:  # send_error closes the connection: an unread request body does no harm
                handler.send_error(status, "failing every other call, on purpose")

        methods[name] = method
    return methods
