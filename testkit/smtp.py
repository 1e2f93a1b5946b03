"""A real SMTP server in the test process (aiosmtpd) that keeps every message it accepts.

Shared by tests/ and e2e/: the shop sends to it through SMTP_URL as it would to Mailpit. It can be
stopped and started again on the same port, to be the mail server that is down for a while.
"""

from __future__ import annotations

import asyncio
import email
import threading
import time
from email import policy
from email.message import EmailMessage

from aiosmtpd.controller import Controller

from testkit.servers import free_port


class SmtpSink:
    def __init__(self, port: int | None = None, delay_s: float = 0.0):
        self.port = port or free_port()
        # How long each message takes to accept: a slow server, so senders overlap.
        self.delay_s = delay_s
        self._received: list[EmailMessage] = []
        self._lock = threading.Lock()
        self._controller: Controller | None = None

    @property
    def url(self) -> str:
        return f"smtp://127.0.0.1:{self.port}"

    async def handle_DATA(self, server, session, envelope) -> str:  # aiosmtpd's handler hook
        if self.delay_s:
            await asyncio.sleep(self.delay_s)
        message = email.message_from_bytes(envelope.content, policy=policy.default)
        with self._lock:
            self._received.append(message)
        return "250 Message accepted for delivery"

    def start(self) -> SmtpSink:
        self._controller = Controller(self, hostname="127.0.0.1", port=self.port)
        self._controller.start()
        return self

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    def messages(self, to: str | None = None, kind: str | None = None) -> list[EmailMessage]:
        """Every message accepted so far, or those to `to` and of `kind` (the X-Shop-Email-Kind header)."""
        with self._lock:
            found = list(self._received)
        return [
            message
            for message in found
            if (to is None or message["To"].addresses[0].addr_spec == to)
            and (kind is None or message["X-Shop-Email-Kind"] == kind)
        ]

    def wait_for(self, to: str | None = None, kind: str | None = None, count: int = 1, timeout_s: float = 30):
        """The messages once at least `count` match; AssertionError after `timeout_s`."""
        deadline = time.monotonic() + timeout_s
        while len(found := self.messages(to, kind)) < count:
            if time.monotonic() > deadline:
                raise AssertionError(f"{len(found)} of {count} e-mails ({kind or 'any'} to {to or 'anyone'}) arrived")
            time.sleep(0.05)
        return found


def text_of(message: EmailMessage) -> str:
    return message.get_body(("plain",)).get_content()


def html_of(message: EmailMessage) -> str:
    return message.get_body(("html",)).get_content()
