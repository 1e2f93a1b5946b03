"""Who may call the operators' HTTP routes (/metrics, /alerts): a bearer token from the settings."""

from __future__ import annotations

import hmac

from starlette.requests import Request
from starlette.responses import JSONResponse


def bearer_refusal(request: Request, token: str) -> JSONResponse | None:
    """401 unless the request carries `token` as its bearer token (compared in constant time); else None."""
    scheme, _, supplied = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() == "bearer" and hmac.compare_digest(supplied.strip().encode(), token.encode()):
        return None
    return JSONResponse({"error": "unauthorized"}, status_code=401, headers={"WWW-Authenticate": "Bearer"})
