"""Run the payment service as a child process: for the shop's `cli serve` and for test fixtures.

The child stays in the caller's process group, so whatever stops the caller's group (Ctrl-C in a
terminal, a test runner killing its group) stops the service too. Start-up waits for `/health`
with a deadline, polling; never a fixed sleep. `pause()`/`resume()` (SIGSTOP/SIGCONT) freeze the
service mid-payment for tests of timeouts and reconciliation.
"""

from __future__ import annotations

import contextlib
import http.client
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import IO

from payment_gateway.settings import DEFAULT_HOST, DEFAULT_LEDGER, DEFAULT_PORT, PROJECT_ROOT

POLL_INTERVAL_S = 0.05
STOP_TIMEOUT_S = 10.0
_FAULT_HEADER = "x-fault-flag"


class GatewayStartError(RuntimeError):
    """The service did not come up: it exited (bad settings, port taken) or did not answer in time."""


class GatewayProcess:
    """A running `python -m payment_gateway`: where it listens, its pid and ledger, and how to stop it."""

    def __init__(self, process: subprocess.Popen, url: str, ledger: Path, log_path: Path, log_file: IO[bytes]):
        self._process, self._log_file = process, log_file
        self.url, self.ledger, self.log_path = url, ledger, log_path
        self.pid = process.pid

    @property
    def running(self) -> bool:
        """Whether the child has not exited yet."""
        return self._process.poll() is None

    def pause(self) -> None:
        """Freeze the service (SIGSTOP): requests then hang, as with a stuck payment provider."""
        self._process.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        """Let a paused service run again (SIGCONT): requests that waited are answered."""
        self._process.send_signal(signal.SIGCONT)

    def stop(self, timeout_s: float = STOP_TIMEOUT_S) -> int:
        """SIGTERM (graceful: in-flight requests finish), SIGKILL after `timeout_s`; returns the exit code.

        After a graceful stop the code is -15: uvicorn shuts down, then re-raises the SIGTERM it caught.
        """
        if self._process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                self._process.send_signal(signal.SIGTERM)
                self._process.send_signal(signal.SIGCONT)  # a paused process would never see the SIGTERM
            try:
                self._process.wait(timeout_s)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
        self._log_file.close()
        return self._process.returncode

    def __enter__(self) -> GatewayProcess:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


def _client_host(host: str) -> str:
    """Where a local client reaches a server bound to `host` (a wildcard bind is reached on loopback)."""
    host = {"0.0.0.0": "127.0.0.1", "::": "::1", "": "127.0.0.1"}.get(host, host)
    return f"[{host}]" if ":" in host else host


def _port_taken(host: str, port: int) -> bool:
    with contextlib.suppress(OSError), socket.create_connection((host.strip("[]"), port), timeout=0.5):
        return True
    return False


def _health(host: str, port: int) -> bool:
    """Whether the service answers: /health 200, or the 503 of the paymentUnreachable flag (up, on purpose down)."""
    connection = http.client.HTTPConnection(host.strip("[]"), port, timeout=1.0)
    try:
        connection.request("GET", "/health")
        response = connection.getresponse()
        response.read()
        return response.status == 200 or response.getheader(_FAULT_HEADER) == "paymentUnreachable"
    except (OSError, http.client.HTTPException):
        return False
    finally:
        connection.close()


def _tail(path: Path, lines: int = 15) -> str:
    with contextlib.suppress(OSError):
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    return ""


def start_gateway(env: dict[str, str], log_path: Path, timeout_s: float = 60) -> GatewayProcess:
    """Start `python -m payment_gateway` with `env` laid over this process's environment, and wait for /health.

    Its stdout and stderr go to `log_path` (appended). PAYMENT_HOST, PAYMENT_PORT and PAYMENT_LEDGER
    are resolved here (defaults as in settings.py) and handed to the child explicitly, so both
    sides agree on them. Raises GatewayStartError, with the end of the log, if the child exits or
    does not answer within `timeout_s`.
    """
    child_env = {**os.environ, **env}
    host = child_env.get("PAYMENT_HOST") or DEFAULT_HOST
    try:
        port = int(child_env.get("PAYMENT_PORT") or DEFAULT_PORT)
    except ValueError:
        raise GatewayStartError(f"PAYMENT_PORT is not a number: {child_env.get('PAYMENT_PORT')!r}") from None
    ledger = Path(child_env.get("PAYMENT_LEDGER") or DEFAULT_LEDGER)
    child_env |= {"PAYMENT_HOST": host, "PAYMENT_PORT": str(port), "PAYMENT_LEDGER": str(ledger)}
    child_env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(PROJECT_ROOT), child_env.get("PYTHONPATH")]))
    client_host = _client_host(host)
    # Another server on the port would answer our health checks while our child fails to bind.
    if _port_taken(client_host, port):
        raise GatewayStartError(f"port {port} on {host} is already in use")

    log_path = Path(log_path)
    log_path.parent.mkdir(parents=True, exist_ok=True)
    log_file = log_path.open("ab")
    process = subprocess.Popen(
        [sys.executable, "-m", "payment_gateway"],
        env=child_env,
        cwd=PROJECT_ROOT,
        stdin=subprocess.DEVNULL,
        stdout=log_file,
        stderr=subprocess.STDOUT,
    )
    gateway = GatewayProcess(process, f"http://{client_host}:{port}", ledger, log_path, log_file)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            gateway.stop()
            raise GatewayStartError(f"payment gateway exited with code {process.returncode}:\n{_tail(log_path)}")
        if _health(client_host, port):
            return gateway
        time.sleep(POLL_INTERVAL_S)
    gateway.stop()
    raise GatewayStartError(f"payment gateway did not answer /health within {timeout_s}s:\n{_tail(log_path)}")


__all__ = ["GatewayProcess", "GatewayStartError", "start_gateway"]
