"""The edge of the HTTP API: Stripe-shaped errors and strict parsing of every request parameter.

Everything a client sends is checked here, before any work: types (a bool is not an int, "12"
is not an int), ranges, string lengths and alphabets, unknown parameters. A failure is an
ApiError naming the parameter; nothing a client sends can reach the service as a wrong type,
which is what keeps every input away from a 500.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from dataclasses import dataclass
from typing import Any

from payment_gateway.cards import NAME_MAX, Card

MAX_BODY_BYTES = 16 * 1024
AMOUNT_MIN, AMOUNT_MAX = 1, 99_999_999
REFERENCE_MAX = 64
# Unix seconds up to 2100: far enough for any expiry, small enough to be an SQLite integer and a date.
TIMESTAMP_MAX = 4_102_444_800
IDEMPOTENCY_KEY = re.compile(r"[A-Za-z0-9_-]{1,64}")
INTENT_ID = re.compile(r"pi_[0-9a-f]{24}")
CURRENCY = re.compile(r"[a-z]{3}")
CARD_FIELD_MAX = 64
CARD_FIELDS = frozenset({"number", "exp_month", "exp_year", "cvc", "name"})


class ApiError(Exception):
    """An answer other than success: HTTP status and Stripe's error object."""

    def __init__(self, status: int, type_: str, code: str, message: str, **extra: Any):
        super().__init__(message)
        self.status = status
        self.error: dict[str, Any] = {"type": type_, "code": code, "message": message, **extra}

    @property
    def body(self) -> dict[str, Any]:
        """The JSON answer: {"error": {...}}."""
        return {"error": self.error}


def invalid(param: str, message: str, code: str = "parameter_invalid") -> ApiError:
    """A 400 invalid_request_error naming the parameter at fault."""
    return ApiError(400, "invalid_request_error", code, message, param=param)


def missing(param: str) -> ApiError:
    """A 400 for a required parameter that is absent (Stripe's parameter_missing)."""
    return invalid(param, f"Missing required param: {param}.", "parameter_missing")


def resource_missing(param: str, what: str) -> ApiError:
    """A 404 for an object that does not exist (or could never have been issued)."""
    return ApiError(404, "invalid_request_error", "resource_missing", f"No such {what}.", param=param)


def parse_json(raw: bytes) -> dict[str, Any]:
    """The body as a JSON object, or a 400 (never a 500: bad UTF-8, 10,000-digit numbers, deep nesting)."""
    if not raw.strip():
        return {}
    try:
        value = json.loads(raw.decode("utf-8"), parse_constant=_refuse_constant)
    except (ValueError, RecursionError):  # JSONDecodeError, UnicodeDecodeError and int-digit limits are ValueErrors
        raise ApiError(400, "invalid_request_error", "invalid_json", "The request body is not valid JSON.") from None
    if not isinstance(value, dict):
        raise ApiError(400, "invalid_request_error", "invalid_json", "The request body must be a JSON object.")
    return value


def _refuse_constant(name: str) -> None:
    raise ValueError(f"{name} is not JSON")


def _unknown(body: dict[str, Any], allowed: frozenset[str], parent: str | None = None) -> None:
    for name in body:
        if name not in allowed:
            shown = name if len(name) <= 40 else name[:40] + "…"
            param = f"{parent}[{shown}]" if parent else shown
            raise invalid(param, f"Received unknown parameter: {param}.", "parameter_unknown")


def integer(body: dict[str, Any], name: str, low: int, high: int, *, param: str | None = None) -> int:
    """An int within [low, high]; bool and float are refused (JSON `true` is not 1)."""
    param = param or name
    value = body[name]
    if type(value) is not int:
        raise invalid(param, f"Invalid integer: {param} must be a whole number.", "parameter_invalid_integer")
    if not low <= value <= high:
        raise invalid(param, f"Invalid integer: {param} must be between {low} and {high}.", "parameter_invalid_integer")
    return value


def string(body: dict[str, Any], name: str, max_length: int, *, param: str | None = None) -> str:
    """A non-empty str of at most max_length characters, without control characters."""
    param = param or name
    value = body[name]
    if not isinstance(value, str):
        raise invalid(param, f"Invalid string: {param} must be a string.", "parameter_invalid_string")
    if not 1 <= len(value) <= max_length:
        raise invalid(
            param, f"Invalid string: {param} must be 1 to {max_length} characters.", "parameter_invalid_string"
        )
    if any(ord(char) < 32 or ord(char) == 127 for char in value):
        raise invalid(
            param, f"Invalid string: {param} must not contain control characters.", "parameter_invalid_string"
        )
    return value


def idempotency_key(value: str | None, *, required: bool) -> str | None:
    """The Idempotency-Key header, checked: 1-64 of [A-Za-z0-9_-]."""
    if value is None:
        if required:
            raise invalid("idempotency_key", "An Idempotency-Key header is required.", "parameter_missing")
        return None
    if not IDEMPOTENCY_KEY.fullmatch(value):
        raise invalid("idempotency_key", "Idempotency-Key must be 1 to 64 characters of A-Z a-z 0-9 _ -.")
    return value


def intent_id(value: str) -> str:
    """A well-formed payment intent id, else 404 (an id we could never have issued is simply missing)."""
    if not INTENT_ID.fullmatch(value):
        raise resource_missing("intent", "payment_intent")
    return value


def card(body: dict[str, Any]) -> Card:
    """The `card` object: types and bounds here; whether the card is good is cards.charge's business."""
    if "card" not in body or body["card"] is None:
        raise missing("card")
    raw = body["card"]
    if not isinstance(raw, dict):
        raise invalid("card", "Invalid object: card must be an object.", "parameter_invalid_object")
    _unknown(raw, CARD_FIELDS, "card")
    for name in ("number", "exp_month", "exp_year", "cvc"):
        if name not in raw:
            raise missing(f"card[{name}]")
    number = string(raw, "number", CARD_FIELD_MAX, param="card[number]")
    cvc = string(raw, "cvc", CARD_FIELD_MAX, param="card[cvc]")
    # Wide bounds here: a month of 13 or a year of 1999 is a card error (402), not a malformed request.
    exp_month = integer(raw, "exp_month", -(10**6), 10**6, param="card[exp_month]")
    exp_year = integer(raw, "exp_year", -(10**6), 10**6, param="card[exp_year]")
    name = string(raw, "name", NAME_MAX, param="card[name]") if raw.get("name") is not None else None
    return Card(number=number, exp_month=exp_month, exp_year=exp_year, cvc=cvc, name=name)


@dataclass(frozen=True)
class CreateParams:
    """A checked POST /v1/payment_intents body."""

    amount: int
    currency: str
    reference: str
    expires_at: int | None
    confirm: bool
    card: Card | None

    def canonical(self) -> dict[str, Any]:
        """The parameters as they enter the idempotency fingerprint."""
        return {
            "amount": self.amount, "currency": self.currency, "reference": self.reference,
            "expires_at": self.expires_at, "confirm": self.confirm, "card": canonical_card(self.card),
        }  # fmt: skip


CREATE_FIELDS = frozenset({"amount", "currency", "reference", "expires_at", "confirm", "card"})


def create_params(body: dict[str, Any], now: float) -> CreateParams:
    """Check a create body; `now` refuses an expires_at already past."""
    _unknown(body, CREATE_FIELDS)
    for name in ("amount", "currency", "reference"):
        if name not in body:
            raise missing(name)
    amount = integer(body, "amount", AMOUNT_MIN, AMOUNT_MAX)
    currency = body["currency"]
    if not isinstance(currency, str) or not CURRENCY.fullmatch(currency):
        raise invalid("currency", "Invalid currency: use three lowercase letters (ISO 4217), e.g. eur.")
    reference = string(body, "reference", REFERENCE_MAX)
    expires_at = None
    if body.get("expires_at") is not None:
        expires_at = integer(body, "expires_at", 0, TIMESTAMP_MAX)
        if expires_at <= now:
            raise invalid("expires_at", "expires_at must be in the future.")
    confirm = body.get("confirm", False)
    if not isinstance(confirm, bool):
        raise invalid("confirm", "Invalid boolean: confirm must be true or false.", "parameter_invalid_boolean")
    if confirm:
        parsed_card = card(body)
    elif body.get("card") is not None:
        raise invalid("card", "card is only accepted with confirm: true (or on /confirm).")
    else:
        parsed_card = None
    return CreateParams(amount, currency, reference, expires_at, confirm, parsed_card)


def confirm_card(body: dict[str, Any]) -> Card:
    """Check a confirm body: only `card`."""
    _unknown(body, frozenset({"card"}))
    return card(body)


@dataclass(frozen=True)
class RefundParams:
    """A checked POST /v1/refunds body (amount None: whatever is left)."""

    payment_intent: str
    amount: int | None


def refund_params(body: dict[str, Any]) -> RefundParams:
    """Check a refund body; an id we could never have issued is a 404, as for a missing one."""
    _unknown(body, frozenset({"payment_intent", "amount"}))
    if "payment_intent" not in body:
        raise missing("payment_intent")
    value = string(body, "payment_intent", 64)
    if not INTENT_ID.fullmatch(value):
        raise resource_missing("payment_intent", "payment_intent")
    amount = integer(body, "amount", AMOUNT_MIN, AMOUNT_MAX) if body.get("amount") is not None else None
    return RefundParams(value, amount)


def canonical_card(value: Card | None) -> dict[str, Any] | None:
    """The card as it enters a fingerprint: separators removed, so "4242 4242…" and "42424242…" are one card."""
    if value is None:
        return None
    return {"number": value.digits, "exp_month": value.exp_month, "exp_year": value.exp_year, "cvc": value.cvc,
            "name": value.name}  # fmt: skip


def fingerprint(secret: bytes, params: dict[str, Any]) -> str:
    """HMAC-SHA256 of the canonical JSON of the parameters.

    Keyed, not a bare SHA-256: the parameters include a card number and CVC, and a plain hash of
    a 16-digit number with a known prefix can be brute-forced from a copy of the ledger.
    """
    canonical = json.dumps(params, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hmac.new(secret, canonical.encode(), hashlib.sha256).hexdigest()
