"""One attempt at a request: under one deadline, without signals (jobs may run in threads),
following redirects only on the same scheme, host and port."""

from __future__ import annotations

import time

import httpx

from .body import read
from .deadline import PollDeadline, Remaining
from .failures import DeadlineExceeded, PollOutOfTime, Redirected, TooManyRedirects, netloc

#: Same-host redirects followed for one request.
MAX_REDIRECTS = 5


def send(client: httpx.Client, method: str, url: str, *, params: dict | None,
         data: dict | None, timeout: float, max_bytes: int,
         poll: PollDeadline | None = None,
         headers: dict[str, str] | None = None) -> httpx.Response:
    """One attempt within *timeout* seconds in all (and within *poll*'s deadline).

    httpx's timeouts apply to each connect and each read, so a trickling server never
    trips them: the body is streamed and the deadline checked between chunks, and every
    phase (pool, connect, send, headers, body) may wait at most what is left of it. A body
    that stalls just before the deadline can overrun it by at most one read. The deadline
    is the poll's when that comes first (then running out is PollOutOfTime).

    A redirect is followed (within the same deadline) only to the same scheme, host and
    port, with httpx's rules for the method: anything else is Redirected, unsent."""
    own = time.monotonic() + timeout
    deadline = min(own, poll.at) if poll is not None else own
    remaining = Remaining(deadline, timeout)
    try:
        for _ in range(MAX_REDIRECTS + 1):
            with client.stream(method, url, params=params, data=data, headers=headers,
                               extensions={"timeout": remaining}) as response:
                # (a 3xx naming nowhere, or a 300/304, is the answer itself: not a success)
                if not response.has_redirect_location:
                    return read(response, deadline, max_bytes)
                origin = response.url
                target = origin.join(response.headers["Location"])
                status = response.status_code
            if (target.scheme, target.host, target.port) != (origin.scheme, origin.host,
                                                             origin.port):
                raise Redirected(f"{target.scheme}://{netloc(target)}")
            if origin.userinfo and not target.userinfo:  # same host: same credentials
                target = target.copy_with(userinfo=origin.userinfo)
            if status == 303 and method != "HEAD" or status in (301, 302) \
                    and method == "POST":
                method, data = "GET", None
            url, params = str(target), None
        raise TooManyRedirects
    except (httpx.TimeoutException, DeadlineExceeded):
        if poll is not None and poll.at < own:
            raise PollOutOfTime from None
        raise
