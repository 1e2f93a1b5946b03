"""Password hashing with bcrypt (cost 12)."""

import bcrypt

from ecom_reflex.observability.tracing import span

BCRYPT_COST = 12
# bcrypt only looks at the first 72 bytes; longer passwords are refused, not truncated.
MAX_PASSWORD_BYTES = 72


def hash_password(password: str) -> str:
    raw = password.encode("utf-8")
    if len(raw) > MAX_PASSWORD_BYTES:
        raise ValueError(f"password is longer than {MAX_PASSWORD_BYTES} bytes")
    with span("password.hash"):
        return bcrypt.hashpw(raw, bcrypt.gensalt(rounds=BCRYPT_COST)).decode("ascii")


def verify_password(password: str, password_hash: str) -> bool:
    raw = password.encode("utf-8")
    if len(raw) > MAX_PASSWORD_BYTES:
        return False
    with span("password.verify"):
        return bcrypt.checkpw(raw, password_hash.encode("ascii"))
