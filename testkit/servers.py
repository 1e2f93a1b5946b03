"""Throwaway servers on loopback for tests and benchmarks: PostgreSQL, Redis, and the shop itself.

PostgreSQL refuses to run as root, so as root its commands run as the `postgres` user.
Both are started fresh in a temporary folder and stopped by the fixture that owns them.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import psycopg

PG_BIN = Path("/usr/lib/postgresql/15/bin")
REDIS_SERVER = shutil.which("redis-server") or "/usr/bin/redis-server"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _as_postgres(command: list[str]) -> list[str]:
    return ["runuser", "-u", "postgres", "--", *command] if os.geteuid() == 0 else command


@dataclass
class PostgresServer:
    datadir: Path
    port: int

    def url(self, database: str = "postgres") -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{database}"

    def execute(self, sql: str) -> None:
        with psycopg.connect(f"postgresql://postgres@127.0.0.1:{self.port}/postgres", autocommit=True) as connection:
            connection.execute(sql)

    def stop(self, mode: str = "fast") -> None:
        subprocess.run(
            _as_postgres([str(PG_BIN / "pg_ctl"), "-D", str(self.datadir), "-m", mode, "-w", "stop"]),
            capture_output=True,
            timeout=60,
        )

    def start(self) -> None:
        options = (
            f"-p {self.port} -k {self.datadir} -c listen_addresses=127.0.0.1 -c max_connections=300"
            # Durability is not what these tests are about; speed is welcome.
            " -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        )
        subprocess.run(
            _as_postgres(
                [str(PG_BIN / "pg_ctl"), "-D", str(self.datadir), "-l", str(self.datadir / "server.log"),
                 "-o", options, "-w", "start"]
            ),
            check=True,
            capture_output=True,
            timeout=60,
        )  # fmt: skip


def start_postgres(workdir: Path) -> PostgresServer:
    datadir = workdir / "pgdata"
    datadir.mkdir(parents=True)
    if os.geteuid() == 0:
        shutil.chown(workdir, "postgres")
        shutil.chown(datadir, "postgres")
    subprocess.run(
        _as_postgres([str(PG_BIN / "initdb"), "-D", str(datadir), "-U", "postgres", "-A", "trust", "-E", "UTF8",
                      "--no-sync", "--locale=C"]),
        check=True,
        capture_output=True,
        timeout=120,
    )  # fmt: skip
    server = PostgresServer(datadir=datadir, port=free_port())
    server.start()
    return server


@dataclass
class RedisServer:
    port: int
    process: subprocess.Popen

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()


def start_redis(workdir: Path, port: int | None = None) -> RedisServer:
    port = port or free_port()
    process = subprocess.Popen(
        [REDIS_SERVER, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
         "--dir", str(workdir)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )  # fmt: skip
    deadline = time.monotonic() + 30
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as sock:
                sock.sendall(b"PING\r\n")
                if sock.recv(16).startswith(b"+PONG"):
                    return RedisServer(port=port, process=process)
        except OSError:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError("redis-server did not start")
        time.sleep(0.1)


# What a copy of the app leaves behind: environments, builds, data and caches.
APP_COPY_IGNORE = shutil.ignore_patterns(
    ".venv", ".web", ".git", ".tools", "data", "logs", "artifacts", "__pycache__", ".pytest_cache", ".metrics",
    "uploaded_files", "node_modules", ".states",
)  # fmt: skip


def copy_of_the_app(source: Path, workdir: Path) -> Path:
    """The app's source in `workdir/app`, with the npm-installed bun linked: a second shop that builds
    its own frontend, never touching the build another running shop serves."""
    root = workdir / "app"
    shutil.copytree(source, root, ignore=APP_COPY_IGNORE)
    (root / ".tools").symlink_to(source / ".tools")
    return root


class ShopProcess:
    """The shop as `make run` starts it (`cli setup`, then `cli serve`), in `root`, stopped as a process group.

    A process group of its own (stopped as one) but the caller's session: Linux schedules
    each session as one CPU group (autogroup), and in a group of its own the shop's lowered
    priorities (its bcrypt threads) would not count against the load generator that shares
    its cores, which a shop on its own machine never meets.
    """

    def __init__(
        self, root: Path, env: dict[str, str], log_path: Path, healthy: dict | None = None, serve_args: tuple = ()
    ):
        self.root, self.env, self.log_path = root, env, log_path
        # After `cli serve`: ("--prebuilt",) serves the frontend `cli build-frontend` made, as the image does.
        self.serve_args = list(serve_args)
        self.url = f"http://127.0.0.1:{env['PORT']}"
        # What /health must answer before the shop counts as started.
        self.healthy = healthy or {"status": "ok", "database": "ok", "payments": "ok"}
        self.process: subprocess.Popen | None = None

    def setup(self) -> None:
        subprocess.run(
            [sys.executable, "-m", "ecom_reflex.cli", "setup"],
            cwd=self.root, env=self.env, check=True, capture_output=True, timeout=300,
        )  # fmt: skip

    def start(self, timeout_s: float = 600) -> None:
        with self.log_path.open("a") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "ecom_reflex.cli", "serve", *self.serve_args],
                cwd=self.root, env=self.env, stdout=log, stderr=subprocess.STDOUT, process_group=0,
            )  # fmt: skip
        deadline = time.monotonic() + timeout_s
        while not self._healthy():
            if self.process.poll() is not None or time.monotonic() > deadline:
                tail = "\n".join(self.log_path.read_text().splitlines()[-40:])
                raise RuntimeError(
                    f"the shop did not start (exit {self.process.poll()}); end of {self.log_path}:\n{tail}"
                )
            time.sleep(1)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()

    def worker_pids(self) -> list[int]:
        """The shop's processes (the reflex CLI and its server workers)."""
        if self.process is None:
            return []
        listing = subprocess.run(["ps", "-e", "-o", "pid=,pgid="], capture_output=True, text=True)
        rows = (line.split() for line in listing.stdout.splitlines())
        return [int(pid) for pid, group in rows if int(group) == self.process.pid]

    def payment_service_pids(self) -> list[int]:
        """The payment service `cli serve` started (payment_gateway/, in the shop's process group)."""
        return [pid for pid in self.worker_pids() if _is_payment_service(pid)]

    def cpu_seconds(self) -> tuple[float, float]:
        """(the shop's CPU seconds, its payment service's): user + system time of each process now. The
        shop's own figure leaves the payment service out, so it compares with runs before it paid by card."""
        pids = self.worker_pids()
        service = [pid for pid in pids if _is_payment_service(pid)]
        return cpu_of([pid for pid in pids if pid not in service]), cpu_of(service)

    def _healthy(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.url}/health", timeout=5) as response:
                if json.load(response) != self.healthy:
                    return False
            with urllib.request.urlopen(f"{self.url}/", timeout=5) as response:
                return response.status == 200
        except OSError:
            return False


def cpu_of(pids: list[int]) -> float:
    """User + system CPU seconds of `pids` (processes gone meanwhile count nothing)."""
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except (FileNotFoundError, ProcessLookupError):
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15 of stat)
    return total / os.sysconf("SC_CLK_TCK")


def _is_payment_service(pid: int) -> bool:
    try:
        return b"payment_gateway" in Path(f"/proc/{pid}/cmdline").read_bytes()
    except (FileNotFoundError, ProcessLookupError):
        return False


def sqlite_shop(root: Path, **settings: str) -> ShopProcess:
    """The app in `root` as a shop (not yet started) on a fresh SQLite file and a free port, exporting
    no traces, its output and JSON log in a fresh folder; `settings` override the environment."""
    from ecom_reflex.cli import reflex_environment

    folder = Path(tempfile.mkdtemp(prefix="shop-"))
    env = reflex_environment()
    for name in ("OTEL_EXPORTER_OTLP_ENDPOINT", "PROMETHEUS_MULTIPROC_DIR", "REDIS_URL", "WORKERS", "PAYMENT_URL",
                 "PAYMENT_API_KEY", "PAYMENT_LOG_FILE"):  # fmt: skip
        env.pop(name, None)
    env.update(
        DB_URL=f"sqlite:///{folder / 'shop.db'}",
        HOST="127.0.0.1",
        PORT=str(free_port()),
        ADMIN_PASSWORD=secrets.token_urlsafe(16),
        LOG_FILE=str(folder / "app.json.log"),
        # `cli serve` starts its payment service here (a port and ledger of this shop's own).
        PAYMENT_PORT=str(free_port()),
        PAYMENT_LEDGER=str(folder / "payments.db"),
        # Clients say which address each simulated shopper has (X-Forwarded-For), as a proxy
        # would: per-address throttles then see a crowd, not one client.
        TRUSTED_PROXIES="127.0.0.1",
    )
    env.update(settings)
    return ShopProcess(root, env, folder / "server.log")
