"""Business actions: each one counted in Prometheus and written as one INFO log line, together.

Callers pass what happened; this module decides the metric and the log fields,
so the two never disagree. Usernames may appear in logs (never in labels);
passwords, tokens and hashes are never passed in.
"""

from __future__ import annotations

import logging

from ecom_reflex.observability import metrics

logger = logging.getLogger("ecom_reflex.business")


def login_succeeded(username: str, user_id: int) -> None:
    metrics.USER_LOGINS.labels(status="success").inc()
    logger.info(
        "login succeeded",
        extra={"action": "login", "outcome": "success", "username": username, "user_id": user_id},
    )


def login_failed(username: str) -> None:
    metrics.USER_LOGINS.labels(status="failure").inc()
    logger.info("login failed", extra={"action": "login", "outcome": "failure", "username": username})


def login_throttled(username: str, reason: str) -> None:
    metrics.USER_LOGINS.labels(status="throttled").inc()
    logger.warning(
        "login refused: throttled",
        extra={"action": "login", "outcome": "throttled", "username": username, "reason": reason},
    )


def registration_throttled(reason: str) -> None:
    metrics.USER_REGISTRATIONS_THROTTLED.inc()
    logger.warning(
        "registration refused: throttled", extra={"action": "register", "outcome": "throttled", "reason": reason}
    )


def registered(username: str, user_id: int) -> None:
    metrics.USER_REGISTRATIONS.inc()
    logger.info("user registered", extra={"action": "register", "username": username, "user_id": user_id})


def logged_out(user_id: int | None) -> None:
    logger.info("logged out", extra={"action": "logout", "user_id": user_id})


def cart_addition(product_id: int, quantity: int) -> None:
    metrics.CART_ADDITIONS.inc()
    logger.info("added to cart", extra={"action": "cart_add", "product_id": product_id, "quantity": quantity})


def order_placed(order_id: int, total_cents: int, item_count: int) -> None:
    metrics.ORDERS.inc()
    metrics.REVENUE_CENTS.inc(total_cents)
    metrics.ORDER_VALUE.observe(total_cents / 100)
    logger.info(
        "order placed",
        extra={"action": "order_placed", "order_id": order_id, "total_cents": total_cents, "items": item_count},
    )


def checkout_failed(reason: str, detail: str = "") -> None:
    if reason not in metrics.CHECKOUT_FAILURE_REASONS:
        reason = "error"
    metrics.CHECKOUT_FAILURES.labels(reason=reason).inc()
    logger.info("checkout failed", extra={"action": "checkout", "reason": reason, "detail": detail})


def admin_change(admin_id: int, change: str, **what) -> None:
    """Every change an admin makes: who, which change, and its target and values.

    `what` becomes log fields, so its keys must not be LogRecord attributes (name, msg, ...).
    """
    logger.info(f"admin {change}", extra={"action": "admin_change", "change": change, "admin_id": admin_id, **what})


def masked_address(address: str) -> str:
    """a***@example.com: enough to tell e-mails apart in a log, not to write to anyone."""
    local, _, domain = address.partition("@")
    return f"{local[:1]}***@{domain}" if domain else "***"


def email_attempt(kind: str, outcome: str, recipient: str, attempt: int, error: str = "") -> None:
    """One try at sending an e-mail (metrics.EMAIL_OUTCOMES); `recipient` is logged masked."""
    metrics.EMAILS.labels(kind=kind, outcome=outcome).inc()
    fields = {"action": "email", "kind": kind, "outcome": outcome, "attempt": attempt, "to": masked_address(recipient)}
    if error:
        fields["error"] = error
    level = logging.INFO if outcome in ("sent", "logged") else logging.WARNING
    logger.log(level, f"e-mail {outcome}", extra=fields)


def password_reset_requested() -> None:
    """Answered (the same whether an account has the address or not); never the address typed."""
    metrics.PASSWORD_RESETS.labels(step="requested").inc()
    logger.info("password reset requested", extra={"action": "password_reset"})


def password_reset_decided(outcome: str) -> None:
    """What became of a request once answered: queued (an e-mail with a link), no_account, or capped
    (its address had its reset e-mails for now). For the log and the metric, never for the asker."""
    metrics.PASSWORD_RESETS.labels(step=outcome).inc()
    logger.info(f"password reset request: {outcome}", extra={"action": "password_reset", "outcome": outcome})


def password_reset_throttled(reason: str) -> None:
    metrics.PASSWORD_RESETS.labels(step="throttled").inc()
    logger.warning("password reset refused: throttled", extra={"action": "password_reset", "reason": reason})


def password_reset_completed(user_id: int) -> None:
    metrics.PASSWORD_RESETS.labels(step="completed").inc()
    logger.info("password reset: new password set", extra={"action": "password_reset", "user_id": user_id})


def password_reset_link_refused() -> None:
    """Counted, not logged: any client can open the reset page with made-up links as often as it
    likes, and a log line each would let it fill the log. A rise shows on the metric."""
    metrics.PASSWORD_RESETS.labels(step="refused").inc()


def email_link_requested(step: str) -> None:
    """A new link asked for on the account page: "again", or "change" (another address)."""
    metrics.EMAIL_VERIFICATIONS.labels(step=step).inc()
    logger.info("e-mail address link requested", extra={"action": "email_verification", "step": step})


def email_verified(user_id: int) -> None:
    metrics.EMAIL_VERIFICATIONS.labels(step="verified").inc()
    logger.info("e-mail address confirmed", extra={"action": "email_verification", "step": "verified",
                                                   "user_id": user_id})  # fmt: skip


def email_link_refused() -> None:
    """Counted, not logged, as a refused reset link: made-up links from any client must not fill the log."""
    metrics.EMAIL_VERIFICATIONS.labels(step="refused").inc()


def payment_call(operation: str, outcome: str, seconds: float, breaker_open: bool) -> None:
    """One call to the payment service (its retries included), timed with the trace as exemplar."""
    from ecom_reflex.observability.tracing import current_trace_id

    metrics.observe_payment_call(operation, outcome, seconds, current_trace_id(), breaker_open)


def payment_attempt(order_id: int, attempt: int, outcome: str, *, decline_code: str = "", brand: str = "",
                    last4: str = "", error: bool = False) -> None:  # fmt: skip
    """What became of one payment attempt: never the card's number or CVC, only what a receipt shows."""
    metrics.count_payment(outcome)
    fields = {"action": "payment", "order_id": order_id, "attempt": attempt, "outcome": outcome}
    if decline_code:
        fields["decline_code"] = decline_code
    if brand:
        fields |= {"card_brand": brand, "card_last4": last4}
    level = logging.WARNING if error or outcome == "unknown" else logging.INFO
    logger.log(level, f"payment {outcome}", extra=fields)


def payment_throttled(reason: str) -> None:
    metrics.count_payment("throttled")
    logger.warning("payment refused: too many attempts", extra={"action": "payment", "reason": reason})


def payment_resolved(order_id: int, attempt: int, outcome: str) -> None:
    """The reconciler learnt the outcome of an attempt that had none."""
    logger.info(f"payment reconciled: {outcome}", extra={"action": "payment_reconciled", "order_id": order_id,
                                                         "attempt": attempt, "outcome": outcome})  # fmt: skip


def holds_expired(order_ids: list[int]) -> None:
    metrics.count_expired_holds(len(order_ids))
    for order_id in order_ids:
        logger.info("unpaid order expired: its stock is back", extra={"action": "hold_expired", "order_id": order_id})


def refund_attempt(order_id: int, ok: bool, message: str = "") -> None:
    metrics.count_refund("succeeded" if ok else "failed")
    if ok:
        logger.info("order refunded", extra={"action": "refund", "order_id": order_id})
    else:
        logger.warning("refund failed; it stays pending and is retried",
                       extra={"action": "refund", "order_id": order_id, "error": message})  # fmt: skip
