"""Reading an answer's body: decoded (gzip, deflate) in bounded pieces, under a size cap and a
deadline, so neither a compression bomb nor a trickling server can hold a run."""

from __future__ import annotations

import io
import time
import zlib
from collections.abc import Iterator

import httpx

from .failures import DeadlineExceeded, TooLarge

#: Largest answer read, decoded (WATCHER_MAX_RESPONSE_MB): a bigger one fails, unread.
DEFAULT_MAX_BYTES = 200_000_000
#: Most bytes one decompression step may produce: httpx inflates a whole network chunk at once
#: (64 KB of gzip is 64 MB of zeros; gzip twice, 64 GB), before any cap could be checked.
_PIECE = 65_536
WBITS = {"gzip": zlib.MAX_WBITS | 16, "deflate": zlib.MAX_WBITS}
#: Most content-encodings undone on one answer (a real server uses one).
_LAYERS = 4


def read(response: httpx.Response, deadline: float, max_bytes: int) -> httpx.Response:
    """The streamed answer, decoded, whole and held once (no list of chunks joined into a
    second copy), or TooLarge as soon as it passes *max_bytes* (its Content-Length is
    believed up front). Content-encodings are undone here in pieces of at most _PIECE
    bytes (see decoded), so a small compressed answer that inflates past the cap is
    stopped within one piece of it, however many times it was compressed."""
    length = response.headers.get("Content-Length", "").strip()
    if length.isdigit() and int(length) > max_bytes:
        raise TooLarge
    body = io.BytesIO()
    for chunk in decoded(response):
        if time.monotonic() > deadline:
            raise DeadlineExceeded
        if body.tell() + len(chunk) > max_bytes:
            raise TooLarge
        body.write(chunk)
    if time.monotonic() > deadline:
        raise DeadlineExceeded
    headers = httpx.Headers(response.headers)
    headers.pop("Content-Encoding", None)  # already decoded
    # getvalue() hands over BytesIO's own buffer; a plain identity response keeps it as is.
    return httpx.Response(response.status_code, headers=headers, content=body.getvalue(),
                          request=response.request, extensions=response.extensions)


def decoded(response: httpx.Response) -> Iterator[bytes]:
    """*response*'s body with its content-encodings undone (gzip and deflate, as httpx does;
    others are left as they are, as httpx leaves them), in pieces of at most _PIECE bytes."""
    chunks: Iterator[bytes] = response.iter_raw()
    layers = [WBITS[name] for encoding in response.headers.get_list("content-encoding",
                                                                    split_commas=True)
              if (name := encoding.strip().lower()) in WBITS]
    if len(layers) > _LAYERS:  # each layer is a decoder (and a frame) of its own
        raise httpx.DecodingError(f"the answer is compressed {len(layers)} times (at most "
                                  f"{_LAYERS} are undone)")
    for wbits in reversed(layers):
        chunks = _inflated(chunks, wbits)
    return chunks


def _inflated(chunks: Iterator[bytes], wbits: int) -> Iterator[bytes]:
    """One encoding undone, never more than _PIECE bytes at a time. Deflate may come raw,
    without its zlib header (as httpx accepts it too). A broken stream is httpx's
    DecodingError, as it would have been."""
    inflater, first = zlib.decompressobj(wbits), True
    try:
        for chunk in chunks:
            data = chunk
            while data:
                try:
                    piece = inflater.decompress(data, _PIECE)
                except zlib.error:
                    if not (first and wbits == zlib.MAX_WBITS):
                        raise
                    inflater = zlib.decompressobj(-zlib.MAX_WBITS)  # raw deflate
                    piece = inflater.decompress(data, _PIECE)
                first = False
                if piece:
                    yield piece
                data = inflater.unconsumed_tail
        while not inflater.eof and (piece := inflater.decompress(b"", _PIECE)):
            yield piece  # what the last input still held
    except zlib.error as exc:
        raise httpx.DecodingError(f"the answer's compressed body is broken: {exc}") from None
