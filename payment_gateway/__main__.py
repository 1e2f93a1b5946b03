"""`python -m payment_gateway`: serve the payment service on PAYMENT_HOST:PAYMENT_PORT, one process.

uvicorn in this very process (not a supervisor with worker children), so the pid that
process.start_gateway holds is the one that serves: SIGSTOP freezes payments, SIGTERM stops them
gracefully. Invalid settings or a ledger that cannot be opened: one line on stderr, exit 2.
"""

from __future__ import annotations

import logging
import sqlite3
import sys


def main() -> None:
    """Load settings, set up logs and traces, open the ledger, and serve until SIGTERM/SIGINT."""
    from payment_gateway.settings import load_or_exit

    settings = load_or_exit()

    import uvicorn

    from payment_gateway import telemetry
    from payment_gateway.app import create_app

    telemetry.configure_logging(settings)
    provider = telemetry.configure_tracing(settings)
    try:
        app = create_app(settings, tracer_provider=provider)
    except (sqlite3.Error, OSError) as error:
        print(f"error: cannot open the ledger {settings.payment_ledger}: {error}", file=sys.stderr)
        raise SystemExit(2) from None
    logging.getLogger("payment_gateway").info(
        "payment gateway listening", extra={"host": settings.payment_host, "port": settings.payment_port}
    )
    config = uvicorn.Config(
        app,
        host=settings.payment_host,
        port=settings.payment_port,
        workers=1,
        log_config=None,  # our JSON handlers on the root logger, not uvicorn's console format
        access_log=False,  # the request histogram and server spans say the same, without raw paths
        server_header=False,
        proxy_headers=False,
        timeout_graceful_shutdown=5,
        lifespan="on",
    )
    uvicorn.Server(config).run()  # the app's lifespan flushes the spans on the way out
    provider.shutdown()


if __name__ == "__main__":
    main()
