"""A request body read up to a cap, for the routes anyone can post to (/alerts, /otlp/v1/traces).

Starlette's `request.body()` reads whatever a client sends before anyone can look at its size, and
a chunked body has no Content-Length to look at. `read_body` reads the body as it arrives and gives
up as soon as it passes the cap, so no more than the cap is ever held; `too_large` is the answer.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse


async def read_body(request: Request, limit: int) -> bytes | None:
    """The request's body, read chunk by chunk as it arrives; None as soon as it passes `limit` bytes
    (or says it will: a Content-Length over it is refused before anything is read)."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and (len(declared) > 15 or int(declared) > limit):
        return None
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


def too_large(limit: int) -> JSONResponse:
    """413 for a body past `limit`. The rest of it is never read: the server closes the connection."""
    return JSONResponse({"error": f"body larger than {limit} bytes"}, status_code=413, headers={"Connection": "close"})
