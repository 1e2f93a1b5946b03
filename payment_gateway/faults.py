"""Fault flags of the payment service: make it fail, slow or vanish on purpose, from the shop's flag file.

OpenFeature with the flagd provider reading FAULT_FLAGS_FILE in-process (the file the shop reads,
monitoring/flagd/flags.json), as ecom_reflex/faults.py does. Unlike the shop, the provider is
bound to a domain of its own per FaultFlags instance, so several gateways in one test process
each read their own file. Flags missing from the file, or a file that cannot be read, count as off.

| flag | type | does |
|---|---|---|
| paymentFailurePercent | int 0-100 | that share of /v1 POSTs answers 500 before doing anything |
| paymentDelayMs | int ms | every /v1 request waits that long first |
| paymentUnreachable | bool | every request (health and metrics too) answers 503 at once |
"""

from __future__ import annotations

import itertools
import logging
import random
from pathlib import Path

from openfeature import api
from openfeature.client import OpenFeatureClient

logger = logging.getLogger("payment_gateway.faults")

DEFAULTS: dict[str, int | bool] = {
    "paymentFailurePercent": 0,
    "paymentDelayMs": 0,
    "paymentUnreachable": False,
}
# How often the flag file is looked at: an edit shows within about this long.
POLL_MS = 500
# A delay flag set absurdly high must not hold requests forever.
MAX_DELAY_MS = 60_000

_domains = itertools.count(1)


class FaultFlags:
    """Reads the three payment flags from a flagd flag file, live (edits apply without a restart)."""

    def __init__(self, flag_file: Path, poll_ms: int = POLL_MS):
        from openfeature.contrib.hook.opentelemetry import TracingHook
        from openfeature.contrib.provider.flagd import FlagdProvider
        from openfeature.contrib.provider.flagd.config import ResolverType

        self.domain = f"payment-gateway-{next(_domains)}"
        provider = FlagdProvider(
            resolver_type=ResolverType.FILE, offline_flag_source_path=str(flag_file), deadline_ms=poll_ms
        )
        try:
            # And wait: with plain set_provider the first evaluations would answer the defaults.
            api.set_provider_and_wait(provider, domain=self.domain)
        except Exception:
            logger.warning("fault flags unreadable: every flag stays off", extra={"flag_file": str(flag_file)})
        self._client: OpenFeatureClient | None = api.get_client(self.domain)
        # Each evaluation becomes an event on the current span (why a request was slow or failed).
        self._client.add_hooks([TracingHook()])

    def value(self, flag: str) -> int | bool:
        """The flag's current value; its default (off) when the file lacks it or cannot be read."""
        default = DEFAULTS[flag]
        if self._client is None:
            return default
        if isinstance(default, bool):
            return self._client.get_boolean_value(flag, default)
        return max(0, self._client.get_integer_value(flag, default))

    def current(self) -> dict[str, int | bool]:
        """Every flag and its value now (for the gauge)."""
        return {flag: self.value(flag) for flag in DEFAULTS}

    def failure_injected(self) -> bool:
        """Whether this request should fail on purpose (paymentFailurePercent)."""
        percent = self.value("paymentFailurePercent")
        return bool(percent) and random.random() * 100 < percent

    def delay_seconds(self) -> float:
        """How long to hold this request first (paymentDelayMs)."""
        return min(int(self.value("paymentDelayMs")), MAX_DELAY_MS) / 1000

    def unreachable(self) -> bool:
        """Whether the service should look down (paymentUnreachable)."""
        return bool(self.value("paymentUnreachable"))

    def close(self) -> None:
        """Stop reading the file (the provider's watcher thread ends; the domain falls back to no flags)."""
        from openfeature.provider.no_op_provider import NoOpProvider

        self._client = None
        api.set_provider(NoOpProvider(), domain=self.domain)
