"""Every setting of the payment service, read from the environment (and `.env`) in one place.

Like the shop's settings, an invalid value stops start-up with one line naming the setting
(`load_or_exit`, exit code 2). The API key is required: a payment service that anyone on the
network could call must not start by accident.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8010
DEFAULT_LEDGER = PROJECT_ROOT / "data" / "payments.db"
DEFAULT_FLAGS_FILE = PROJECT_ROOT / "monitoring" / "flagd" / "flags.json"
DEFAULT_LOG_FILE = PROJECT_ROOT / "logs" / "payments.json.log"
# Values never echoed back in an error message.
SECRET_SETTINGS = frozenset({"payment_api_key"})


class GatewaySettings(BaseSettings):
    """The service's configuration; field names are the environment variables, lower-cased."""

    model_config = SettingsConfigDict(
        env_file=PROJECT_ROOT / ".env", env_file_encoding="utf-8", extra="ignore", case_sensitive=False
    )

    payment_host: str = Field(default=DEFAULT_HOST, min_length=1, description="Address the service binds to.")
    payment_port: int = Field(default=DEFAULT_PORT, ge=1, le=65535)
    # Bearer token every /v1 caller must bring; printable ASCII because it travels in a header.
    payment_api_key: SecretStr = Field(min_length=16, max_length=256)
    payment_ledger: Path = Field(default=DEFAULT_LEDGER, description="SQLite file of intents, refunds, keys.")
    # The same flag file the shop reads (monitoring/flagd/flags.json), so one edit breaks both.
    fault_flags_file: Path = DEFAULT_FLAGS_FILE
    otel_exporter_otlp_endpoint: str | None = None
    otel_exporter_otlp_protocol: Literal["http/protobuf", "grpc"] = "http/protobuf"
    payment_log_file: Path | None = DEFAULT_LOG_FILE
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"

    @field_validator("payment_api_key")
    @classmethod
    def _printable_key(cls, value: SecretStr) -> SecretStr:
        text = value.get_secret_value()
        if not all("!" <= char <= "~" for char in text):
            raise ValueError("must be printable ASCII without spaces (it is sent as a bearer token)")
        return value

    @field_validator("payment_log_file", "otel_exporter_otlp_endpoint", mode="before")
    @classmethod
    def _empty_is_unset(cls, value: object) -> object:
        return None if value == "" else value

    @field_validator("otel_exporter_otlp_endpoint")
    @classmethod
    def _valid_endpoint(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("http://", "https://")):
            raise ValueError("must be an http:// or https:// URL")
        return value

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper_level(cls, value: object) -> object:
        return value.upper() if isinstance(value, str) else value

    @property
    def tracing_enabled(self) -> bool:
        """Whether spans are exported (an OTLP endpoint is set)."""
        return self.otel_exporter_otlp_endpoint is not None

    @property
    def api_key(self) -> str:
        """The API key in clear, for the one comparison that needs it."""
        return self.payment_api_key.get_secret_value()


class SettingsError(Exception):
    """An environment variable holds a value the service cannot run with."""


def _describe(error: ValidationError) -> str:
    first = error.errors()[0]
    field = str(first["loc"][0]) if first["loc"] else "settings"
    message = first["msg"].removeprefix("Value error, ")
    if first["type"] == "missing":
        return f"setting {field.upper()} is required" + (
            " (at least 16 characters)" if field in SECRET_SETTINGS else ""
        )
    shown = "<hidden>" if field in SECRET_SETTINGS else repr(str(first.get("input")))
    return f"invalid setting {field.upper()}: {message} (got {shown})"


def load_settings() -> GatewaySettings:
    """Read the settings now (no cache: tests and the process each read their own environment)."""
    try:
        return GatewaySettings()
    except ValidationError as error:
        raise SettingsError(_describe(error)) from None


def load_or_exit() -> GatewaySettings:
    """Settings for the entry point: one clear line and exit 2 instead of a traceback."""
    try:
        return load_settings()
    except SettingsError as error:
        print(f"error: {error}", file=sys.stderr)
        raise SystemExit(2) from None
