"""The payment rules: create, confirm (charge), refund and read intents, each exactly once per idempotency key.

A request with an idempotency key runs in two locks: a per-key asyncio.Lock in this process (a
twin request waits here, on the event loop, without holding a thread) and then one ledger
transaction that reads the stored response, does the work and stores its response together, so
a crash can never leave a charge without its record. The ledger's (scope, key) primary key is
the backstop across processes: a loser of that race rolls back and replays the winner's answer.

What is stored under a key: every answer the work itself produced, declines and refusals
included (replayed as they were). Not stored: parameter errors found before any work, 404s for
intents that do not exist, and 500s (a retry with the same key may then succeed).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import secrets
import sqlite3
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from opentelemetry import trace
from starlette.concurrency import run_in_threadpool

from payment_gateway import __version__, api, cards
from payment_gateway.faults import FaultFlags
from payment_gateway.ledger import Ledger, Transaction
from payment_gateway.metrics import GatewayMetrics

logger = logging.getLogger("payment_gateway.payments")

REQUIRES_PAYMENT_METHOD, SUCCEEDED, CANCELED = "requires_payment_method", "succeeded", "canceled"


@dataclass
class Reply:
    """An HTTP answer from the service, and what it did (for metrics, logs and span attributes)."""

    status: int
    body: dict[str, Any]
    store: bool = True
    replayed: bool = False
    # Set when a card was really checked: the outcome, the intent and the card summary.
    charge: dict[str, Any] | None = None
    refund_outcome: str | None = None
    # Set when money went back: amount and currency of the refund.
    refund: dict[str, Any] | None = None


def new_id(prefix: str) -> str:
    """pi_/re_/ch_ and 24 random hex digits (96 bits: unguessable, never reused)."""
    return f"{prefix}_{secrets.token_hex(12)}"


def intent_object(row: dict[str, Any]) -> dict[str, Any]:
    """The Stripe-shaped payment_intent from a ledger row."""
    card = None
    if row["card_last4"] is not None:
        card = {"brand": row["card_brand"], "last4": row["card_last4"], "exp_month": row["card_exp_month"],
                "exp_year": row["card_exp_year"]}  # fmt: skip
    error = None
    if row["error_code"] is not None:
        error = {"type": "card_error", "code": row["error_code"], "decline_code": row["error_decline_code"],
                 "message": row["error_message"]}  # fmt: skip
    return {
        "id": row["id"],
        "object": "payment_intent",
        "amount": row["amount"],
        "currency": row["currency"],
        "reference": row["reference"],
        "status": row["status"],
        "idempotency_key": row["idempotency_key"],
        "created": row["created"],
        "expires_at": row["expires_at"],
        "amount_refunded": row["amount_refunded"],
        "refunded": row["amount_refunded"] > 0 and row["amount_refunded"] >= row["amount"],
        "card": card,
        "last_payment_error": error,
    }


class KeyedLocks:
    """One asyncio.Lock per key, alive only while someone holds or waits for it (a bounded dict)."""

    def __init__(self) -> None:
        self._locks: dict[Any, tuple[asyncio.Lock, int]] = {}

    @asynccontextmanager
    async def hold(self, key: Any) -> AsyncIterator[None]:
        """Hold the key's lock for the block; twins wait here, on the loop."""
        lock, users = self._locks.get(key, (None, 0))
        lock = lock or asyncio.Lock()
        self._locks[key] = (lock, users + 1)
        try:
            async with lock:
                yield
        finally:
            lock, users = self._locks[key]
            if users == 1:
                del self._locks[key]
            else:
                self._locks[key] = (lock, users - 1)

    def __len__(self) -> int:
        return len(self._locks)


class Gateway:
    """The service behind the HTTP routes: ledger, fault flags, metrics and the idempotency locks."""

    def __init__(
        self,
        ledger: Ledger,
        flags: FaultFlags,
        api_key: str,
        *,
        clock: Callable[[], float] = time.time,
        tracer_provider: trace.TracerProvider | None = None,
    ) -> None:
        self.ledger, self.flags, self.clock = ledger, flags, clock
        self.tracer = trace.get_tracer("payment_gateway", __version__, tracer_provider)
        self._closed = False
        self.metrics = GatewayMetrics(tuple(flags.current()))
        self.api_key = api_key.encode()
        # Fingerprints are keyed by a value derived from the API key (never the key itself).
        self.fingerprint_secret = hashlib.sha256(b"payment-gateway fingerprint\0" + self.api_key).digest()
        self.locks = KeyedLocks()

    def close(self) -> None:
        """Stop reading flags and close the ledger (a second call does nothing)."""
        if self._closed:
            return
        self._closed = True
        self.flags.close()
        self.ledger.close()

    def now(self) -> int:
        """Unix seconds from the service's clock (a fake one in tests)."""
        return int(self.clock())

    # -- the idempotent core ------------------------------------------------------------------------------

    async def _idempotent(
        self, operation: str, scope: str, key: str | None, params: dict[str, Any], work: Callable[[Transaction], Reply]
    ) -> Reply:
        """Run `work` once per (scope, key): later twins with the same parameters get its stored answer."""
        if key is None:
            async with self.locks.hold(scope):  # no key: still one confirm of an intent at a time
                return await run_in_threadpool(self._run, scope, None, "", work)
        digest = api.fingerprint(self.fingerprint_secret, {"scope": scope, **params})
        async with self.locks.hold((scope, key)):
            reply = await run_in_threadpool(self._run, scope, key, digest, work)
        if reply.replayed:
            self.metrics.count_replay(operation)
        return reply

    def _run(self, scope: str, key: str | None, digest: str, work: Callable[[Transaction], Reply]) -> Reply:
        for _attempt in range(2):
            try:
                with self.ledger.transaction() as tx:
                    if key is not None and (stored := tx.stored_response(scope, key)) is not None:
                        if not hmac.compare_digest(stored.fingerprint, digest):
                            return Reply(
                                400,
                                api.ApiError(
                                    400,
                                    "idempotency_error",
                                    "idempotency_key_reused",
                                    "This Idempotency-Key was already used with other parameters.",
                                ).body,
                                store=False,
                            )
                        return Reply(stored.status_code, stored.body, replayed=True)
                    reply = work(tx)
                    if key is not None and reply.store:
                        tx.store_response(scope, key, digest, reply.status, reply.body, self.now())
                    return reply
            except sqlite3.IntegrityError:
                # Another writer stored this key first (or charged this intent first): everything here was
                # rolled back; the second pass finds its stored answer (or the intent's new state).
                continue
        raise RuntimeError("idempotency record conflict did not resolve")

    # -- operations ---------------------------------------------------------------------------------------

    async def create(self, key: str, params: api.CreateParams) -> Reply:
        """POST /v1/payment_intents: a new intent, charged at once when confirm is true."""

        def work(tx: Transaction) -> Reply:
            intent = {
                "id": new_id("pi"), "amount": params.amount, "currency": params.currency,
                "reference": params.reference, "status": REQUIRES_PAYMENT_METHOD, "idempotency_key": key,
                "created": self.now(), "expires_at": params.expires_at,
            }  # fmt: skip
            tx.insert_intent(intent)
            if params.card is not None:
                return self._charge(tx, intent["id"], params.card)
            return Reply(200, intent_object(tx.intent(intent["id"])))

        if params.card is None:
            return await self._idempotent("create", "create", key, params.canonical(), work)
        return await self._traced_charge("create", "create", key, params.canonical(), work)

    async def confirm(self, intent_id: str, key: str | None, card: cards.Card) -> Reply:
        """POST /v1/payment_intents/{id}/confirm: charge the card, unless already paid, expired or canceled."""

        def work(tx: Transaction) -> Reply:
            return self._charge(tx, intent_id, card)

        return await self._traced_charge(
            "confirm", f"confirm:{intent_id}", key, {"card": api.canonical_card(card)}, work
        )

    async def _traced_charge(
        self, operation: str, scope: str, key: str | None, params: dict, work: Callable[[Transaction], Reply]
    ) -> Reply:
        """The charge inside a payment.charge span, counted and logged once when it really ran."""
        with self.tracer.start_as_current_span("payment.charge") as span:
            try:
                reply = await self._idempotent(operation, scope, key, params, work)
            except Exception:
                span.set_attribute("payment.outcome", "error")
                self.metrics.count_payment("error")
                # The traceback is logged once, by the HTTP edge that answers 500.
                logger.error("payment failed", extra={"outcome": "error", "operation": operation})
                raise
            charge = reply.charge
            outcome = charge["outcome"] if charge else "replayed" if reply.replayed else "not_charged"
            span.set_attribute("payment.outcome", outcome)
            if charge:
                attributes = {
                    "payment.amount": charge["amount"], "payment.currency": charge["currency"],
                    "payment.decline_code": charge["decline_code"], "card.brand": charge["brand"],
                }  # fmt: skip
                # Absent rather than empty: no decline code on success, no brand for an invalid number.
                span.set_attributes({name: value for name, value in attributes.items() if value is not None})
                self.metrics.count_payment(charge["outcome"], charge["decline_code"])
                logger.info(
                    f"payment {charge['outcome']}",
                    extra={
                        "intent_id": charge["intent_id"], "amount": charge["amount"], "currency": charge["currency"],
                        "outcome": charge["outcome"], "decline_code": charge["decline_code"],
                        "brand": charge["brand"], "last4": charge["last4"],
                    },
                )  # fmt: skip
            return reply

    def _charge(self, tx: Transaction, intent_id: str, card: cards.Card) -> Reply:
        """Check the card against an intent, in the caller's transaction."""
        row = tx.intent(intent_id)
        if row is None:
            return Reply(404, api.resource_missing("intent", "payment_intent").body, store=False)
        if row["status"] == SUCCEEDED:
            return Reply(200, intent_object(row))  # paid already: nothing is charged again
        now = self.now()
        if row["status"] == CANCELED or (row["expires_at"] is not None and row["expires_at"] <= now):
            if row["status"] != CANCELED:
                tx.update_intent(intent_id, status=CANCELED)
                row = tx.intent(intent_id)
            error = api.ApiError(
                400, "invalid_request_error", "payment_intent_expired",
                "This PaymentIntent has expired or was canceled; it can no longer be paid.",
                payment_intent=intent_object(row),
            )  # fmt: skip
            return Reply(400, error.body)
        outcome = cards.charge(card, self.clock())
        summary = outcome.summary
        tx.insert_charge({
            "id": new_id("ch"), "payment_intent": intent_id, "amount": row["amount"],
            "outcome": "succeeded" if outcome.approved else "declined",
            "decline_code": outcome.decline.decline_code if outcome.decline else None,
            "card_brand": summary.brand if summary else None, "card_last4": summary.last4 if summary else None,
            "created": now,
        })  # fmt: skip
        charge = {
            "intent_id": intent_id, "amount": row["amount"], "currency": row["currency"],
            "outcome": "succeeded" if outcome.approved else "declined",
            "decline_code": outcome.decline.decline_code if outcome.decline else None,
            "brand": summary.brand if summary else None, "last4": summary.last4 if summary else None,
        }  # fmt: skip
        if outcome.approved:
            assert summary is not None
            tx.update_intent(
                intent_id, status=SUCCEEDED, card_brand=summary.brand, card_last4=summary.last4,
                card_exp_month=summary.exp_month, card_exp_year=summary.exp_year,
                error_code=None, error_decline_code=None, error_message=None,
            )  # fmt: skip
            return Reply(200, intent_object(tx.intent(intent_id)), charge=charge)
        decline = outcome.decline
        assert decline is not None
        tx.update_intent(
            intent_id, error_code=decline.code, error_decline_code=decline.decline_code, error_message=decline.message
        )
        body = {"error": {**decline.as_error(), "payment_intent": intent_object(tx.intent(intent_id))}}
        return Reply(402, body, charge=charge)

    async def refund(self, key: str, params: api.RefundParams) -> Reply:
        """POST /v1/refunds: give back part or all of what a succeeded intent captured, never more."""

        def work(tx: Transaction) -> Reply:
            row = tx.intent(params.payment_intent)
            if row is None:
                return Reply(404, api.resource_missing("payment_intent", "payment_intent").body, store=False)
            if row["status"] != SUCCEEDED:
                error = api.invalid(
                    "payment_intent", "Only a succeeded PaymentIntent can be refunded.",
                    "payment_intent_unexpected_state",
                )  # fmt: skip
                return Reply(400, error.body, refund_outcome="refused")
            left = row["amount"] - row["amount_refunded"]
            if left <= 0:
                error = api.invalid("payment_intent", "This payment has already been refunded.",
                                    "charge_already_refunded")  # fmt: skip
                return Reply(400, error.body, refund_outcome="refused")
            amount = left if params.amount is None else params.amount
            if amount > left:
                error = api.invalid(
                    "amount", f"Refund amount ({amount}) is greater than what is left to refund ({left}).",
                    "amount_too_large",
                )  # fmt: skip
                return Reply(400, error.body, refund_outcome="refused")
            refund = {"id": new_id("re"), "payment_intent": row["id"], "amount": amount, "status": "succeeded",
                      "created": self.now()}  # fmt: skip
            tx.insert_refund(refund)
            tx.update_intent(row["id"], amount_refunded=row["amount_refunded"] + amount)
            return Reply(200, {"object": "refund", **refund}, refund_outcome="succeeded",
                         refund={"amount": amount, "currency": row["currency"]})  # fmt: skip

        params_dict = {"payment_intent": params.payment_intent, "amount": params.amount}
        with self.tracer.start_as_current_span("payment.refund") as span:
            reply = await self._idempotent("refund", "refund", key, params_dict, work)
            outcome = reply.refund_outcome or ("replayed" if reply.replayed else "not_refunded")
            span.set_attribute("payment.outcome", outcome)
            if reply.refund_outcome:
                self.metrics.count_refund(reply.refund_outcome)
                extra = {"intent_id": params.payment_intent, "outcome": reply.refund_outcome}
                if reply.refund:
                    extra |= reply.refund
                    span.set_attributes({"payment.amount": reply.refund["amount"],
                                         "payment.currency": reply.refund["currency"]})  # fmt: skip
                logger.info(f"refund {reply.refund_outcome}", extra=extra)
        return reply

    async def retrieve(self, intent_id: str) -> Reply:
        """GET /v1/payment_intents/{id}: the intent as it is now (an expired unpaid one shows canceled)."""
        row = await run_in_threadpool(self._read, lambda tx: tx.intent(intent_id))
        if row is None:
            return Reply(404, api.resource_missing("intent", "payment_intent").body, store=False)
        return Reply(200, intent_object(row), store=False)

    async def search(self, key: str) -> Reply:
        """GET /v1/payment_intents?idempotency_key=K: the intent that key created (the reconciler's question)."""
        row = await run_in_threadpool(self._read, lambda tx: tx.intent_by_key(key))
        if row is None:
            return Reply(404, api.resource_missing("idempotency_key", "payment_intent").body, store=False)
        return Reply(200, intent_object(row), store=False)

    def _read(self, find: Callable[[Transaction], dict[str, Any] | None]) -> dict[str, Any] | None:
        """Read an intent; one past its expires_at and never paid becomes canceled first, so that answer is final."""
        with self.ledger.transaction() as tx:
            row = find(tx)
            expired = row is not None and row["expires_at"] is not None and row["expires_at"] <= self.now()
            if expired and row["status"] == REQUIRES_PAYMENT_METHOD:
                tx.update_intent(row["id"], status=CANCELED)
                row = tx.intent(row["id"])
            return row

    async def health(self) -> tuple[bool, str]:
        """Whether the ledger answers (and if not, why, without details of the file)."""
        try:
            await run_in_threadpool(self.ledger.check)
        except sqlite3.Error as error:
            return False, f"unavailable: {type(error).__name__}"
        return True, "ok"
