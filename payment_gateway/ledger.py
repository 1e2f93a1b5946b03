"""The payment ledger: intents, charges, refunds and idempotency records in one SQLite file.

One connection per ledger, guarded by a lock, used only from worker threads (the service awaits
it with run_in_threadpool, so the event loop never waits on disk). Every change is one
`BEGIN IMMEDIATE` transaction: it takes SQLite's write lock at the start, so two processes on one
file (or two ledgers in one test) serialise their read-decide-write steps instead of racing.
The idempotency table's primary key (scope, key) is the backstop against a second charge even if
two writers ever got past the in-process lock.

Never stored: a card number or CVC. An intent keeps brand, last4 and expiry only; an idempotency
record keeps an HMAC of the request parameters and the response it gave.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

SCHEMA = """
CREATE TABLE IF NOT EXISTS payment_intents (
    id TEXT PRIMARY KEY,
    amount INTEGER NOT NULL CHECK (amount > 0),
    currency TEXT NOT NULL,
    reference TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('requires_payment_method', 'succeeded', 'canceled')),
    idempotency_key TEXT UNIQUE,
    created INTEGER NOT NULL,
    expires_at INTEGER,
    amount_refunded INTEGER NOT NULL DEFAULT 0 CHECK (amount_refunded BETWEEN 0 AND amount),
    card_brand TEXT,
    card_last4 TEXT,
    card_exp_month INTEGER,
    card_exp_year INTEGER,
    error_code TEXT,
    error_decline_code TEXT,
    error_message TEXT
);
CREATE INDEX IF NOT EXISTS ix_payment_intents_reference ON payment_intents (reference);
-- Every card check that really ran, approved or not: "charged once" is countable here.
CREATE TABLE IF NOT EXISTS charges (
    id TEXT PRIMARY KEY,
    payment_intent TEXT NOT NULL REFERENCES payment_intents (id),
    amount INTEGER NOT NULL,
    outcome TEXT NOT NULL CHECK (outcome IN ('succeeded', 'declined')),
    decline_code TEXT,
    card_brand TEXT,
    card_last4 TEXT,
    created INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS ix_charges_payment_intent ON charges (payment_intent);
-- A payment intent is charged successfully at most once, whatever the code above does.
CREATE UNIQUE INDEX IF NOT EXISTS ux_charges_one_success ON charges (payment_intent) WHERE outcome = 'succeeded';
CREATE TABLE IF NOT EXISTS refunds (
    id TEXT PRIMARY KEY,
    payment_intent TEXT NOT NULL REFERENCES payment_intents (id),
    amount INTEGER NOT NULL CHECK (amount > 0),
    status TEXT NOT NULL,
    created INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS ix_refunds_payment_intent ON refunds (payment_intent);
CREATE TABLE IF NOT EXISTS idempotency_records (
    scope TEXT NOT NULL,
    key TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    status_code INTEGER NOT NULL,
    body TEXT NOT NULL,
    created INTEGER NOT NULL,
    PRIMARY KEY (scope, key)
);
"""

INTENT_COLUMNS = (
    "id", "amount", "currency", "reference", "status", "idempotency_key", "created", "expires_at", "amount_refunded",
    "card_brand", "card_last4", "card_exp_month", "card_exp_year", "error_code", "error_decline_code", "error_message",
)  # fmt: skip
# How long a writer queues for another process's write lock before it gives up.
BUSY_TIMEOUT_MS = 10_000


@dataclass(frozen=True)
class StoredResponse:
    """A response kept under an idempotency key, with the fingerprint of the request that made it."""

    fingerprint: str
    status_code: int
    body: dict[str, Any]


class Transaction:
    """Row-level reads and writes inside one open transaction (see Ledger.transaction)."""

    def __init__(self, connection: sqlite3.Connection):
        self.connection = connection

    def intent(self, intent_id: str) -> dict[str, Any] | None:
        """An intent row by id, or None."""
        row = self.connection.execute(
            f"SELECT {', '.join(INTENT_COLUMNS)} FROM payment_intents WHERE id = ?", (intent_id,)
        ).fetchone()
        return dict(zip(INTENT_COLUMNS, row, strict=True)) if row else None

    def intent_by_key(self, idempotency_key: str) -> dict[str, Any] | None:
        """The intent a create with this key made, or None."""
        row = self.connection.execute(
            f"SELECT {', '.join(INTENT_COLUMNS)} FROM payment_intents WHERE idempotency_key = ?", (idempotency_key,)
        ).fetchone()
        return dict(zip(INTENT_COLUMNS, row, strict=True)) if row else None

    def insert_intent(self, intent: dict[str, Any]) -> None:
        """Add an intent (the columns given; the rest take their defaults)."""
        columns = [column for column in INTENT_COLUMNS if column in intent]
        self.connection.execute(
            f"INSERT INTO payment_intents ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})",
            [intent[column] for column in columns],
        )

    def update_intent(self, intent_id: str, **changes: Any) -> None:
        """Change columns of one intent."""
        assert changes and set(changes) <= set(INTENT_COLUMNS)  # column names come from code, never from input
        assignments = ", ".join(f"{column} = ?" for column in changes)
        self.connection.execute(
            f"UPDATE payment_intents SET {assignments} WHERE id = ?", [*changes.values(), intent_id]
        )

    def insert_charge(self, charge: dict[str, Any]) -> None:
        """Record one card check that ran (a second success for one intent raises IntegrityError)."""
        self.connection.execute(
            "INSERT INTO charges (id, payment_intent, amount, outcome, decline_code, card_brand, card_last4, created)"
            " VALUES (:id, :payment_intent, :amount, :outcome, :decline_code, :card_brand, :card_last4, :created)",
            charge,
        )

    def insert_refund(self, refund: dict[str, Any]) -> None:
        """Record one refund."""
        self.connection.execute(
            "INSERT INTO refunds (id, payment_intent, amount, status, created)"
            " VALUES (:id, :payment_intent, :amount, :status, :created)",
            refund,
        )

    def stored_response(self, scope: str, key: str) -> StoredResponse | None:
        """The answer stored under (scope, key), or None."""
        row = self.connection.execute(
            "SELECT fingerprint, status_code, body FROM idempotency_records WHERE scope = ? AND key = ?", (scope, key)
        ).fetchone()
        return StoredResponse(row[0], row[1], json.loads(row[2])) if row else None

    def store_response(self, scope: str, key: str, fingerprint: str, status_code: int, body: dict, now: int) -> None:
        """Raises sqlite3.IntegrityError if the key was taken meanwhile (the backstop)."""
        self.connection.execute(
            "INSERT INTO idempotency_records (scope, key, fingerprint, status_code, body, created)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            (scope, key, fingerprint, status_code, json.dumps(body, separators=(",", ":")), now),
        )


class Ledger:
    """The SQLite file: created on open (WAL mode), one lock-guarded connection, short write transactions."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        # isolation_level=None: transactions are begun explicitly (BEGIN IMMEDIATE), never implicitly.
        self._connection = sqlite3.connect(
            self.path, isolation_level=None, check_same_thread=False, timeout=BUSY_TIMEOUT_MS / 1000
        )
        with self._lock:
            self._connection.execute("PRAGMA journal_mode = WAL")
            # FULL: a payment acknowledged to the caller survives a power cut, not just a crash.
            self._connection.execute("PRAGMA synchronous = FULL")
            self._connection.execute("PRAGMA foreign_keys = ON")
            self._connection.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
            self._connection.executescript(SCHEMA)

    @contextmanager
    def transaction(self) -> Iterator[Transaction]:
        """One write transaction: committed when the block ends, rolled back if it raises."""
        with self._lock:
            self._connection.execute("BEGIN IMMEDIATE")
            try:
                yield Transaction(self._connection)
            except BaseException:
                self._connection.execute("ROLLBACK")
                raise
            self._connection.execute("COMMIT")

    def check(self) -> None:
        """Raises if the file cannot be read (for /health)."""
        with self._lock:
            self._connection.execute("SELECT count(*) FROM idempotency_records WHERE 0").fetchone()

    def count(self, table: str, where: str = "1", *params: Any) -> int:
        """Rows of a ledger table (for tests and operators; `table` and `where` come from code, not input)."""
        assert table in {"payment_intents", "charges", "refunds", "idempotency_records"}
        with self._lock:
            return self._connection.execute(f"SELECT count(*) FROM {table} WHERE {where}", params).fetchone()[0]

    def close(self) -> None:
        """Close the connection (the file stays)."""
        with self._lock:
            self._connection.close()
