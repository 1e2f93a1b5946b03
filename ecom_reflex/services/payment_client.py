"""The shop's client of the payment service (payment_gateway/): the only way money moves.

Over HTTP (httpx, on the event loop), as a shop talks to a card processor:
- every call has a timeout; a call that fails in transit or with a 5xx is tried again, a bounded
  number of times with jittered back-off (tenacity), always with the same idempotency key, so the
  service charges at most once whatever arrives twice;
- a circuit breaker (circuitbreaker) fails fast while the service keeps failing, and lets a
  trial call through after PAYMENT_BREAKER_RESET_SECONDS;
- an outcome that could not be learnt is UNKNOWN, never guessed: the reconciler asks again by
  the key (lookup). An intent the service has not seen once its expires_at is past can never be
  charged (the service refuses it), so only then is "not found" read as "not charged".
- OpenTelemetry's httpx instrumentation sends the trace context, so the checkout's trace goes on
  in the service.

The card's number and CVC go into the request body and nowhere else: `Card` hides them from
repr, and no log line, span attribute or metric label gets them.
"""

from __future__ import annotations

import enum
import logging
import time
from dataclasses import dataclass, field
from datetime import datetime

import httpx
from circuitbreaker import CircuitBreaker, CircuitBreakerError
from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor
from tenacity import AsyncRetrying, retry_if_exception_type, stop_after_attempt, wait_random_exponential

from ecom_reflex.observability import business

logger = logging.getLogger("ecom_reflex.payments")

# The shopper's words for the service's decline codes (Stripe's codes).
DECLINE_MESSAGES = {
    "generic_decline": "Your card was declined.",
    "card_declined": "Your card was declined.",
    "insufficient_funds": "Your card was declined: insufficient funds.",
    "expired_card": "Your card was declined: it has expired.",
    "incorrect_cvc": "Your card was declined: the security code (CVC) is incorrect.",
    "processing_error": "Your card could not be charged: the bank had a processing error. Try again.",
    "incorrect_number": "Your card number is incorrect.",
    "invalid_expiry_month": "Your card's expiry date is not valid.",
    "invalid_expiry_year": "Your card's expiry date is not valid.",
    "invalid_cvc": "Your card's security code (CVC) is not valid.",
}
NOT_CHARGED = "Your payment could not be completed, and nothing was charged. Please try again."
# After an attempt's expires_at, the service may still be finishing a request that arrived in time.
LOOKUP_GRACE_SECONDS = 10


class ChargeOutcome(enum.StrEnum):
    APPROVED = "approved"
    DECLINED = "declined"  # no money taken, for sure
    UNKNOWN = "unknown"  # nobody knows yet: the reconciler asks


@dataclass(frozen=True)
class CardSummary:
    """What a receipt shows of a card; all the shop keeps."""

    brand: str
    last4: str
    exp_month: int
    exp_year: int


@dataclass(frozen=True)
class Card:
    """A card as typed, on its way to the service. Its number and CVC never leave this object except in
    the request body."""

    number: str = field(repr=False)
    exp_month: int
    exp_year: int
    cvc: str = field(repr=False)
    name: str = field(repr=False)

    def as_json(self) -> dict:
        return {"number": self.number, "exp_month": self.exp_month, "exp_year": self.exp_year, "cvc": self.cvc,
                "name": self.name}  # fmt: skip


@dataclass(frozen=True)
class Charge:
    outcome: ChargeOutcome
    reference: str = ""
    # What the shopper is told when no money was taken.
    message: str = ""
    decline_code: str = ""
    card: CardSummary | None = None
    # Not a decline of the card but a failure of ours or the service's (counted as an error).
    error: bool = False

    @property
    def approved(self) -> bool:
        return self.outcome is ChargeOutcome.APPROVED


UNKNOWN = Charge(ChargeOutcome.UNKNOWN, error=True)


@dataclass(frozen=True)
class RefundResult:
    ok: bool
    message: str = ""


class ServiceFailure(Exception):
    """The service did not answer, or answered with a failure of its own (5xx, 429): worth another try."""


def _card_summary(body: dict) -> CardSummary | None:
    card = body.get("card")
    if not isinstance(card, dict):
        return None
    try:
        return CardSummary(str(card["brand"])[:16], str(card["last4"])[-4:], int(card["exp_month"]),
                           int(card["exp_year"]))  # fmt: skip
    except (KeyError, TypeError, ValueError):
        return None


def _declined(error: dict) -> Charge:
    code = str(error.get("decline_code") or error.get("code") or "generic_decline")
    return Charge(ChargeOutcome.DECLINED, message=DECLINE_MESSAGES.get(code, DECLINE_MESSAGES["generic_decline"]),
                  decline_code=code if code in DECLINE_MESSAGES else "other")  # fmt: skip


def _from_intent(intent: dict, expires_at: datetime | None) -> Charge:
    """What an intent read from the service says of its attempt."""
    status = intent.get("status")
    if status == "succeeded":
        return Charge(ChargeOutcome.APPROVED, reference=str(intent.get("id", ""))[:64], card=_card_summary(intent))
    if status == "canceled":
        return Charge(ChargeOutcome.DECLINED, message=NOT_CHARGED, decline_code="not_charged")
    if isinstance(error := intent.get("last_payment_error"), dict):
        return _declined(error)
    if expires_at is not None and time.time() > expires_at.timestamp() + LOOKUP_GRACE_SECONDS:
        return Charge(ChargeOutcome.DECLINED, message=NOT_CHARGED, decline_code="not_charged")
    return UNKNOWN


class PaymentClient:
    """One per worker (an AsyncClient and its connection pool, a breaker): see ecom_reflex/payments.py."""

    def __init__(
        self,
        base_url: str,
        api_key: str,
        *,
        currency: str = "usd",
        timeout_s: float = 5.0,
        retries: int = 2,
        breaker_failures: int = 5,
        breaker_reset_s: float = 30.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ):
        self.currency = currency
        self.retries = retries
        self._http = httpx.AsyncClient(
            base_url=base_url,
            headers={"Authorization": f"Bearer {api_key}"},
            timeout=httpx.Timeout(timeout_s),
            transport=transport,
        )
        HTTPXClientInstrumentor.instrument_client(self._http)
        self.breaker = CircuitBreaker(
            failure_threshold=breaker_failures, recovery_timeout=breaker_reset_s, expected_exception=ServiceFailure,
            name="payment-service",
        )  # fmt: skip
        self._send_once = self.breaker.decorate(self._send_once_unguarded)

    async def aclose(self) -> None:
        await self._http.aclose()

    @property
    def breaker_open(self) -> bool:
        return self.breaker.opened

    async def _send_once_unguarded(self, method: str, path: str, **kwargs) -> httpx.Response:
        try:
            response = await self._http.request(method, path, **kwargs)
        except httpx.HTTPError as error:
            raise ServiceFailure(type(error).__name__) from error
        if response.status_code >= 500 or response.status_code == 429:
            raise ServiceFailure(f"HTTP {response.status_code}")
        return response

    async def _send(self, operation: str, method: str, path: str, *, attempts: int, **kwargs) -> httpx.Response:
        """The call, tried up to `attempts` times with the same request (so the same idempotency key)."""
        started = time.perf_counter()
        outcome = "error"
        try:
            async for attempt in AsyncRetrying(
                stop=stop_after_attempt(attempts),
                wait=wait_random_exponential(multiplier=0.2, max=2.0),
                retry=retry_if_exception_type(ServiceFailure),
                reraise=True,
            ):
                with attempt:
                    response = await self._send_once(method, path, **kwargs)
            outcome = "declined" if response.status_code == 402 else "ok"
            return response
        finally:
            business.payment_call(operation, outcome, time.perf_counter() - started, self.breaker_open)

    async def charge(self, key: str, amount_cents: int, reference: str, expires_at: datetime, card: Card) -> Charge:
        """Create and confirm a payment with `card` under idempotency key `key`."""
        body = {"amount": amount_cents, "currency": self.currency, "reference": reference,
                "expires_at": int(expires_at.timestamp()), "confirm": True, "card": card.as_json()}  # fmt: skip
        try:
            response = await self._send("pay", "POST", "/v1/payment_intents", attempts=self.retries + 1, json=body,
                                        headers={"Idempotency-Key": key})  # fmt: skip
        except (ServiceFailure, CircuitBreakerError) as error:
            logger.warning("payment outcome unknown: the service did not answer", extra={"reason": str(error)[:200]})
            return UNKNOWN
        payload = _json(response)
        error = payload.get("error") if isinstance(payload.get("error"), dict) else None
        if response.status_code == 200:
            return _from_intent(payload, expires_at)
        if response.status_code == 402 and error is not None:
            return _declined(error)
        # Refused as a request (400, 401, 409...): nothing was charged, but it is our failure, not the card's.
        logger.error(
            "the payment service refused the request",
            extra={"status": response.status_code, "code": str((error or {}).get("code", ""))[:64]},
        )
        if error is not None and error.get("code") == "payment_intent_expired":
            return Charge(ChargeOutcome.DECLINED, message=NOT_CHARGED, decline_code="not_charged")
        return Charge(ChargeOutcome.DECLINED, message=NOT_CHARGED, decline_code="refused", error=True)

    async def lookup(self, key: str, expires_at: datetime) -> Charge:
        """What became of the attempt with idempotency key `key` (one try: the reconciler asks again later)."""
        try:
            response = await self._send("lookup", "GET", "/v1/payment_intents", attempts=1,
                                        params={"idempotency_key": key})  # fmt: skip
        except (ServiceFailure, CircuitBreakerError):
            return UNKNOWN
        if response.status_code == 200:
            return _from_intent(_json(response), expires_at)
        if response.status_code == 404:
            return _from_intent({}, expires_at)
        logger.error("the payment service refused a lookup", extra={"status": response.status_code})
        return UNKNOWN

    async def refund(self, key: str, reference: str, amount_cents: int) -> RefundResult:
        """Refund `amount_cents` of payment `reference`; the same key never refunds twice."""
        try:
            response = await self._send(
                "refund", "POST", "/v1/refunds", attempts=self.retries + 1,
                json={"payment_intent": reference, "amount": amount_cents}, headers={"Idempotency-Key": key},
            )  # fmt: skip
        except (ServiceFailure, CircuitBreakerError) as error:
            return RefundResult(False, f"the payment service did not answer ({str(error)[:100]})")
        if response.status_code == 200:
            return RefundResult(True)
        error = _json(response).get("error") or {}
        code = str(error.get("code", "")) if isinstance(error, dict) else ""
        if code == "charge_already_refunded":
            return RefundResult(True)
        return RefundResult(False, f"refused: HTTP {response.status_code} {code}"[:200])


async def service_health(base_url: str) -> str | None:
    """None when the service at `base_url` answers its health check, else what is wrong. A client of its
    own (the worker's may be busy or its breaker open): /health says whether the service is up now."""
    try:
        async with httpx.AsyncClient(base_url=base_url, timeout=2.0) as http:
            response = await http.get("/health")
    except httpx.HTTPError as error:
        return f"unreachable ({type(error).__name__})"
    return None if response.status_code == 200 else f"HTTP {response.status_code}"


def _json(response: httpx.Response) -> dict:
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}
