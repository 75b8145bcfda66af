"""A local HTTP server on 127.0.0.1 that misbehaves on purpose, for the HTTP layer's time bounds.

Each connection is served by the next behaviour of a script (the last one repeats):

- ``"ok"``: answers at once;
- ``"hang"``: accepts the connection, reads the request and never answers;
- ``"trickle"``: sends the headers, then the body one byte every ``interval`` seconds;
- ``"flood"``: sends headers without a Content-Length, then the body again and again until the
  client hangs up (an answer with no end; ``sent`` counts its bytes);
- an ``int`` (a status such as 503): answers that status at once.

Raw sockets rather than http.server, so "accepted but silent" is exactly that, and every
connection is counted: ``connections`` (accepted) and ``requests`` (request heads read).
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterable

Behaviour = str | int


class SlowServer:
    def __init__(self, script: Iterable[Behaviour] = ("ok",), *, body: bytes = b"fine",
                 interval: float = 0.1, headers: dict[str, str] | None = None):
        self.script = list(script) or ["ok"]
        self.body = body
        self.headers = dict(headers or {})
        self.interval = interval
        self.connections = 0
        self.requests = 0
        self.sent = 0  # body bytes a "flood" wrote
        self.heads: list[bytes] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._sock = socket.create_server(("127.0.0.1", 0))
        self._sock.settimeout(0.05)
        self.port = self._sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}/"
        self._start(self._accept_loop)

    def __enter__(self) -> SlowServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=2)
        self._sock.close()

    def _start(self, target, *args) -> None:
        thread = threading.Thread(target=target, args=args, daemon=True)
        self._threads.append(thread)
        thread.start()

    def _accept_loop(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            with self._lock:
                self.connections += 1
                behaviour = self.script.pop(0) if len(self.script) > 1 else self.script[0]
            self._start(self._serve, conn, behaviour)

    def _serve(self, conn: socket.socket, behaviour: Behaviour) -> None:
        with conn:
            conn.settimeout(0.05)
            head = self._read_head(conn)
            if head is None:
                return
            with self._lock:
                self.requests += 1
                self.heads.append(head)
            try:
                if behaviour == "hang":
                    self._stop.wait()
                elif behaviour == "trickle":
                    conn.sendall(self._head(200, len(self.body)))
                    for i in range(len(self.body)):
                        if self._stop.wait(self.interval):
                            return
                        conn.sendall(self.body[i:i + 1])
                elif behaviour == "flood":
                    extra = "".join(f"{k}: {v}\r\n" for k, v in self.headers.items())
                    conn.sendall(f"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n{extra}"
                                 "Connection: close\r\n\r\n".encode())
                    conn.settimeout(5)  # a client that reads slowly is still reading
                    while not self._stop.is_set():
                        conn.sendall(self.body)
                        with self._lock:
                            self.sent += len(self.body)
                else:
                    status = 200 if behaviour == "ok" else int(behaviour)
                    conn.sendall(self._head(status, len(self.body)) + self.body)
            except OSError:  # the client gave up: that is what these tests are about
                return

    def _read_head(self, conn: socket.socket) -> bytes | None:
        data = b""
        while b"\r\n\r\n" not in data:
            if self._stop.is_set():
                return None
            try:
                chunk = conn.recv(65536)
            except TimeoutError:
                continue
            except OSError:
                return None
            if not chunk:
                return None
            data += chunk
        return data.split(b"\r\n\r\n", 1)[0]

    def _head(self, status: int, length: int) -> bytes:
        extra = "".join(f"{k}: {v}\r\n" for k, v in self.headers.items())
        return (f"HTTP/1.1 {status} Status\r\nContent-Type: text/plain\r\n{extra}"
                f"Content-Length: {length}\r\nConnection: close\r\n\r\n").encode()
