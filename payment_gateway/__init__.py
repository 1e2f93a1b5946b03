"""The payment service: a small Stripe-shaped card processor in its own process, port and ledger.

The shop reaches it only over HTTP (`python -m payment_gateway`, started by `process.start_gateway`).
Modules: settings (environment), cards (card rules and test cards), api (request parsing and
errors), ledger (SQLite), service (idempotent payment rules), faults (fault flags), metrics,
telemetry (logs and traces), app (HTTP routes), process (start and stop it as a child process).
"""

__version__ = "0.1.0"
SERVICE_NAME = "payment-gateway"
