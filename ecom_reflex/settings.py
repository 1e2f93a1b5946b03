"""Every setting of the shop, read from the environment (and `.env`) in one place.

Nothing else in the code base reads `os.environ` for configuration. An invalid
value stops start-up with one line naming the setting (see `load_or_exit`).
"""

from __future__ import annotations

import functools
import ipaddress
import os
import re
import sys
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from pydantic import Field, ValidationError, ValidationInfo, field_validator, model_validator
from pydantic_core import PydanticCustomError
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

PROJECT_ROOT = Path(__file__).resolve().parent.parent
ASSETS_DIR = PROJECT_ROOT / "assets"

# Drivers the shop is built and tested for; anything else is a typo.
SUPPORTED_DB_BACKENDS = ("sqlite", "postgresql")


# Settings renamed when their meaning changed (issue 26: limits count attempts, not failures).
RETIRED_SETTINGS = {
    "LOGIN_FAILURES_PER_ADDRESS": "LOGIN_ATTEMPTS_PER_ADDRESS",
    "LOGIN_FAILURES_PER_ACCOUNT_AND_ADDRESS": "LOGIN_ATTEMPTS_PER_ACCOUNT_AND_ADDRESS",
    "LOGIN_FAILURES_PER_ACCOUNT": "LOGIN_ATTEMPTS_PER_ACCOUNT",
    "PASSWORD_RESETS_PER_ACCOUNT": "PASSWORD_RESET_EMAILS_PER_RECIPIENT",
}


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_file=PROJECT_ROOT / ".env",
        env_file_encoding="utf-8",
        extra="ignore",
        case_sensitive=False,
    )

    db_url: str = Field(
        default=f"sqlite:///{PROJECT_ROOT / 'data' / 'shop.db'}",
        description="SQLAlchemy URL of the database.",
    )
    host: str = Field(default="127.0.0.1", min_length=1, description="Address the server binds to.")
    port: int = Field(default=8000, ge=1, le=65535, description="The one port of the app.")
    environment: str = Field(default="development", min_length=1, description="Deployment name.")
    admin_username: str = Field(
        default="admin", pattern=r"^[A-Za-z0-9_.-]{3,32}$", description="Admin account ensured by setup."
    )
    admin_email: str = Field(default="admin@shop.local", pattern=r"^[^@\s]+@[^@\s]+$")
    # No default on purpose: when unset, setup generates one and prints it once.
    admin_password: str | None = Field(default=None, min_length=8)
    seed_demo_data: bool = Field(default=True, description="Seed the demo catalogue on setup.")
    upload_dir: Path = Field(default=PROJECT_ROOT / "uploaded_files", description="Where uploaded images are kept.")
    # How long a writer queues for SQLite's write lock before its transaction is retried.
    db_busy_timeout_seconds: float = Field(default=15.0, gt=0, le=600)
    # Threads per worker that run database work off the event loop (and connections to match).
    db_threads: int = Field(default=32, ge=2, le=256)

    # Observability. Off is for measuring what it costs (bench/overhead.py), not for production:
    # no JSON logs, no traces, no event or HTTP metrics.
    observability: bool = True
    service_name: str = Field(default="ecom-shop", min_length=1, description="service.name in traces and logs.")
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    log_file: Path | None = Field(default=PROJECT_ROOT / "logs" / "app.json.log", description="JSON log file.")
    log_file_max_bytes: int = Field(default=10 * 1024 * 1024, ge=1024)
    log_file_backups: int = Field(default=5, ge=0, le=100)
    # Standard OpenTelemetry names: unset endpoint = no export (tracing off).
    otel_exporter_otlp_endpoint: str | None = None
    otel_exporter_otlp_protocol: Literal["http/protobuf", "grpc"] = "http/protobuf"
    # Share of browser-started traces kept (browser spans forwarded by the relay, and the server's
    # spans of those events); metrics count every interaction whatever this is.
    browser_trace_sample_ratio: float = Field(
        default=1.0, ge=0, le=1, description="Share (0 to 1) of browser interactions traced."
    )
    redis_url: str | None = Field(default=None, description="Redis for Reflex state; required when WORKERS > 1.")
    workers: int = Field(default=1, ge=1, le=64, description="Backend worker processes.")
    # How long a tab's server-side state outlives its last event (in memory, or as Redis TTLs):
    # a signed-in tab's, and one nobody is logged in on (state/store.py). Everything in it comes
    # back from the browser and the database when the tab returns.
    state_idle_seconds: int = Field(default=3600, ge=5, le=7 * 24 * 3600)
    anonymous_state_idle_seconds: int = Field(default=300, ge=5, le=7 * 24 * 3600)
    prometheus_multiproc_dir: Path = Field(
        default=PROJECT_ROOT / ".metrics", description="Per-run folder for multi-worker metrics."
    )
    low_stock_refresh_seconds: float = Field(default=30.0, gt=0, le=3600)
    # Fault flags (ecom_reflex/faults.py): a flagd flag file, read in-process; every flag off by default.
    fault_flags_file: Path = Field(default=PROJECT_ROOT / "monitoring" / "flagd" / "flags.json")
    # Grafana's contact point posts alerts to /alerts with this bearer token; unset = endpoint off.
    alert_webhook_token: str | None = Field(default=None, min_length=16)
    # GET /metrics answers only with this bearer token; unset = anyone who reaches the port, so
    # `cli serve` refuses a HOST beyond loopback without it unless METRICS_PUBLIC says so.
    metrics_token: str | None = Field(default=None, min_length=16)
    metrics_public: bool = Field(default=False, description="Serve /metrics without a token on the network.")

    # Throttling (services/throttling.py), in the `limits` library's notation ("5 per minute; 20 per hour").
    # Each attempt takes its slot before the work it limits, so a parallel burst gets no more through.
    # Login attempts from one client address, for any account: past it, that address may not log in.
    login_attempts_per_address: str = "30 per 15 minutes"
    # Login attempts from one address for one account (a success clears it): past it, that address may
    # not try that account.
    login_attempts_per_account_and_address: str = "5 per 15 minutes"
    # Login attempts for one account from anywhere: past it, only addresses with no recent attempt may try it.
    login_attempts_per_account: str = "20 per 15 minutes"
    # Registrations one address may attempt, refused ones included.
    registrations_per_address: str = "5 per minute; 20 per hour"
    # Password-reset requests from one client address (any e-mail typed).
    password_resets_per_address: str = "5 per minute; 20 per hour"
    # Reset e-mails one address receives (counted as they are sent, not as they are asked for): short
    # enough that a flood of requests never keeps the owner from a link for long.
    password_reset_emails_per_recipient: str = "3 per hour"
    # Browser span exports (POST /otlp/v1/traces) from one client address: a busy tab sends one every
    # 5 s at most (12 a minute) plus one as its page hides, so 60 leaves room for a few tabs behind
    # one address. A refused export only loses telemetry; the browser may send it again later.
    browser_exports_per_address: str = "60 per minute"

    # E-mail (ecom_reflex/mailer.py). Unset SMTP_URL: every e-mail is written to the JSON log
    # instead (reset links redacted), so the shop runs with nothing more.
    # smtp://[user:password@]host[:port] (STARTTLS when the server offers it) or smtps:// (TLS).
    smtp_url: str | None = None
    mail_from: str = Field(default="Reflex Shop <shop@localhost>", min_length=3, max_length=254)
    # Where the shop is reached from outside: the links in e-mails start with it. Unset: the
    # address it is served at (http://HOST:PORT), right only on the machine itself.
    public_url: str | None = None
    # A failed send is tried again after this long, then twice as long each time (at most an
    # hour), and given up after EMAIL_MAX_ATTEMPTS tries in all.
    email_retry_seconds: float = Field(default=30.0, gt=0, le=3600)
    email_max_attempts: int = Field(default=8, ge=1, le=50)
    # How often each worker's sender looks for due e-mails when it found none.
    email_poll_seconds: float = Field(default=1.0, gt=0, le=60)
    # The most e-mails (of every kind together) any one address is sent in an hour; past it an e-mail
    # is not sent at all (marked "capped", counted), never held back to flood it later.
    email_per_recipient_per_hour: int = Field(default=10, ge=1, le=10_000)
    # Links that confirm an account's address (at registration, on asking again, on a change):
    # at most one a minute per account, and this many a day.
    email_links_per_account_per_day: int = Field(default=10, ge=1, le=1_000)
    # Reverse proxies (addresses or networks, comma-separated) whose X-Forwarded-For is believed;
    # otherwise the client address is the connection's peer.
    trusted_proxies: str = ""
    # Origins (scheme://host[:port], comma-separated) whose pages may open the websocket;
    # unset = only the origin the shop is served at.
    allowed_origins: str = ""

    # Payments (ecom_reflex/payments.py, services/payment_client.py). Unset PAYMENT_URL: `cli serve`
    # starts the payment service (payment_gateway/) itself on PAYMENT_PORT, with its ledger in
    # PAYMENT_LEDGER, and stops it with the shop. Unset PAYMENT_API_KEY: that local service and the
    # shop share a key made for the run; with PAYMENT_URL set it must be set.
    payment_url: str | None = None
    payment_api_key: str | None = Field(default=None, min_length=16)
    payment_port: int = Field(default=8010, ge=1, le=65535)
    payment_ledger: Path = Field(default=PROJECT_ROOT / "data" / "payments.db")
    payment_currency: str = Field(default="usd", pattern=r"^[a-z]{3}$")
    # How long an order holds its stock waiting for its payment (fractions for tests).
    payment_hold_minutes: float = Field(default=15.0, gt=0, le=7 * 24 * 60)
    # One HTTP call to the service; failed calls are tried PAYMENT_RETRIES more times with the same key.
    payment_timeout_seconds: float = Field(default=5.0, gt=0, le=120)
    payment_retries: int = Field(default=2, ge=0, le=10)
    # The circuit breaker: this many failed calls in a row open it; it lets a trial call through after the reset time.
    payment_breaker_failures: int = Field(default=5, ge=1, le=1000)
    payment_breaker_reset_seconds: float = Field(default=30.0, gt=0, le=3600)
    # How often each worker's reconciler expires overdue holds, asks about unknown payments and retries refunds.
    payment_reconcile_seconds: float = Field(default=5.0, gt=0, le=600)
    # Payment attempts (card testing is the classic attack on a payment form), taken before the call.
    payment_attempts_per_account: str = "5 per 10 minutes; 20 per day"
    payment_attempts_per_address: str = "10 per 10 minutes; 50 per day"

    @field_validator("db_url")
    @classmethod
    def _valid_db_url(cls, value: str) -> str:
        try:
            url = make_url(value)
        except ArgumentError:
            raise ValueError("is not a database URL (expected e.g. sqlite:///data/shop.db)") from None
        if url.get_backend_name() not in SUPPORTED_DB_BACKENDS:
            raise ValueError(f"database '{url.get_backend_name()}' is not supported (use sqlite or postgresql)")
        if url.drivername == "postgresql":
            # Plain postgresql:// means psycopg 3 here (SQLAlchemy's default would be psycopg2),
            # for our engine and for Reflex's alike.
            return url.set(drivername="postgresql+psycopg").render_as_string(hide_password=False)
        return value

    @field_validator(
        "login_attempts_per_address",
        "login_attempts_per_account_and_address",
        "login_attempts_per_account",
        "registrations_per_address",
        "password_resets_per_address",
        "password_reset_emails_per_recipient",
        "payment_attempts_per_account",
        "payment_attempts_per_address",
        "browser_exports_per_address",
    )
    @classmethod
    def _valid_rate(cls, value: str) -> str:
        from limits import parse_many

        try:
            parse_many(value)
        except ValueError:
            raise ValueError("is not a rate like '5 per minute' or '5 per minute; 20 per hour'") from None
        return value

    @field_validator("trusted_proxies")
    @classmethod
    def _valid_networks(cls, value: str) -> str:
        for part in filter(None, (piece.strip() for piece in value.split(","))):
            try:
                ipaddress.ip_network(part, strict=False)
            except ValueError:
                raise ValueError(f"{part!r} is not an address or network (e.g. 10.0.0.0/8)") from None
        return value

    @field_validator("allowed_origins")
    @classmethod
    def _valid_origins(cls, value: str) -> str:
        for part in filter(None, (piece.strip() for piece in value.split(","))):
            if not re.fullmatch(r"https?://[^/\s]+", part):
                raise ValueError(f"{part!r} is not an origin like https://shop.example.com")
        return value

    @property
    def allowed_origin_list(self) -> list[str]:
        return [part.strip().rstrip("/") for part in self.allowed_origins.split(",") if part.strip()]

    @property
    def trusted_proxy_networks(self) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
        return tuple(
            ipaddress.ip_network(part, strict=False)
            for part in filter(None, (piece.strip() for piece in self.trusted_proxies.split(",")))
        )

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper_level(cls, value: object) -> object:
        return value.upper() if isinstance(value, str) else value

    @field_validator(
        "log_file", "otel_exporter_otlp_endpoint", "redis_url", "alert_webhook_token", "metrics_token", "smtp_url",
        "public_url", "payment_url", "payment_api_key", mode="before",
    )  # fmt: skip
    @classmethod
    def _empty_is_unset(cls, value: object) -> object:
        return None if value == "" else value

    @field_validator("otel_exporter_otlp_endpoint")
    @classmethod
    def _valid_endpoint(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("http://", "https://")):
            raise ValueError("must be an http:// or https:// URL")
        return value

    @field_validator("payment_url")
    @classmethod
    def _valid_payment_url(cls, value: str | None) -> str | None:
        if value is not None and not re.fullmatch(r"https?://[^/\s]+/?", value):
            raise ValueError("must be the payment service's http:// or https:// base URL, e.g. http://payments:8010")
        return value.rstrip("/") if value else value

    @model_validator(mode="after")
    def _no_retired_names(self) -> Settings:
        # A renamed setting left in an environment would otherwise be ignored without a word.
        for old, new in RETIRED_SETTINGS.items():
            if old in os.environ:
                raise PydanticCustomError("retired_setting", f"{old} is now {new} (it counts what it says): rename it")
        return self

    @model_validator(mode="after")
    def _key_with_url(self) -> Settings:
        if self.payment_api_key is None and self.payment_url is not None:
            raise PydanticCustomError(
                "payment_api_key", "PAYMENT_API_KEY must be set when PAYMENT_URL is (the key that service expects)"
            )
        return self

    @property
    def host_is_loopback(self) -> bool:
        """Whether HOST is reached from this machine only: localhost, 127.0.0.0/8 or ::1."""
        host = self.host.strip().strip("[]").rstrip(".").lower()
        if host == "localhost":
            return True
        try:
            address = ipaddress.ip_address(host)
        except ValueError:
            return False  # a name other than localhost: whatever it resolves to, maybe the network
        mapped = getattr(address, "ipv4_mapped", None)  # ::ffff:127.0.0.1
        return address.is_loopback or (mapped is not None and mapped.is_loopback)

    @property
    def metrics_exposure_problem(self) -> str | None:
        """Why serving on HOST would show /metrics (revenue, orders, login failures) to anyone who
        reaches the port, or None: a HOST beyond loopback needs METRICS_TOKEN or METRICS_PUBLIC=true."""
        if self.metrics_token is not None or self.metrics_public or self.host_is_loopback:
            return None
        return (
            f"HOST={self.host} serves the network, and without METRICS_TOKEN anyone who reaches it reads /metrics"
            " (revenue, orders, login failures): set METRICS_TOKEN (16 or more characters), or METRICS_PUBLIC=true"
            " to publish them"
        )

    @property
    def payment_service_url(self) -> str:
        """Where the shop reaches the payment service: PAYMENT_URL, or the one `cli serve` starts."""
        return self.payment_url or f"http://127.0.0.1:{self.payment_port}"

    @field_validator("smtp_url")
    @classmethod
    def _valid_smtp_url(cls, value: str | None) -> str | None:
        if value is None:
            return value
        parts = urlsplit(value)
        if parts.scheme not in ("smtp", "smtps") or not parts.hostname:
            raise ValueError("must be an smtp://host[:port] or smtps://host[:port] URL")
        try:
            parts.port  # noqa: B018 - raises on a port that is not a number
        except ValueError:
            raise ValueError("has a port that is not a number") from None
        return value

    @field_validator("public_url")
    @classmethod
    def _valid_public_url(cls, value: str | None) -> str | None:
        if value is not None and not re.fullmatch(r"https?://[^/\s]+(/[^\s?#]*)?", value):
            raise ValueError("must be an http:// or https:// URL such as https://shop.example.com")
        return value.rstrip("/") if value else value

    @property
    def shop_url(self) -> str:
        """The start of every link the shop sends out (PUBLIC_URL, else where it is served)."""
        return self.public_url or f"http://{self.host}:{self.port}"

    @field_validator("mail_from")
    @classmethod
    def _valid_mail_from(cls, value: str) -> str:
        from email.headerregistry import Address
        from email.utils import parseaddr

        name, address = parseaddr(value)
        if "@" not in address or "\n" in value or "\r" in value:
            raise ValueError("must be an address such as 'Shop <shop@example.com>' or shop@example.com")
        Address(display_name=name, addr_spec=address)
        return value

    @field_validator("redis_url")
    @classmethod
    def _valid_redis_url(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("redis://", "rediss://", "unix://")):
            raise ValueError("must be a redis:// URL")
        return value

    @field_validator("workers")
    @classmethod
    def _workers_need_redis(cls, value: int, info: ValidationInfo) -> int:
        if value > 1 and info.data.get("redis_url") is None:
            # Without Redis each worker would keep its own copy of every browser's state.
            raise ValueError("more than 1 worker needs REDIS_URL (state shared between workers)")
        return value

    @property
    def tracing_enabled(self) -> bool:
        return self.otel_exporter_otlp_endpoint is not None

    @field_validator("admin_password", mode="before")
    @classmethod
    def _empty_password_is_unset(cls, value: object) -> object:
        return None if value == "" else value

    @property
    def is_sqlite(self) -> bool:
        return make_url(self.db_url).get_backend_name() == "sqlite"


class SettingsError(Exception):
    """An environment variable holds a value the shop cannot run with."""


# Values never echoed back in an error message.
SECRET_SETTINGS = frozenset({"admin_password", "alert_webhook_token", "metrics_token", "smtp_url", "payment_api_key"})


def _mask_url_password(text: str) -> str:
    """scheme://user:secret@host -> scheme://user:***@host, so errors never print a password."""
    return re.sub(r"(://[^:/@]*:)[^@]*@", r"\1***@", text)


def _describe(error: ValidationError) -> str:
    first = error.errors()[0]
    field = str(first["loc"][0]) if first["loc"] else "settings"
    message = first["msg"].removeprefix("Value error, ")
    if not first["loc"]:
        # A rule across settings: its input is every setting, secrets included.
        return f"invalid settings: {message}"
    shown = "<hidden>" if field in SECRET_SETTINGS else repr(_mask_url_password(str(first.get("input"))))
    return f"invalid setting {field.upper()}: {message} (got {shown})"


@functools.cache
def get_settings() -> Settings:
    try:
        return Settings()
    except ValidationError as error:
        raise SettingsError(_describe(error)) from None


def load_or_exit() -> Settings:
    """Settings for an entry point: one clear line and exit 2 instead of a traceback."""
    try:
        return get_settings()
    except SettingsError as error:
        print(f"error: {error}", file=sys.stderr)
        raise SystemExit(2) from None
