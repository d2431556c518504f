"""The outbox: deliveries not delivered yet, in the usage books' SQLite file.

A delivery is written (and committed) before its first attempt and deleted right after its
receiver answered 2xx, or when it is given up; so a crash, even `kill -9`, loses none, and a
delivery is sent again only if the collector died between the 2xx and the delete (receivers
dedupe on `delivery_id`). Row ids keep the order the changes happened in; the deliveries of
one alert to one target go strictly in that order.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from pathlib import Path

from gpu_insight.collector.notify.database import connect

SCHEMA = (
    """
    CREATE TABLE IF NOT EXISTS notify_outbox (
        id INTEGER PRIMARY KEY AUTOINCREMENT,  -- the order the changes happened in
        target_id TEXT NOT NULL,
        delivery_id TEXT NOT NULL,
        alert_key TEXT NOT NULL,  -- rule and GPU: one alert's deliveries go in order
        body BLOB NOT NULL,
        created_at REAL NOT NULL,  -- epoch seconds; given up GIVE_UP_AFTER_S later
        attempts INTEGER NOT NULL DEFAULT 0,
        last_error TEXT,
        UNIQUE (target_id, delivery_id)
    )
    """,
    "CREATE INDEX IF NOT EXISTS notify_outbox_alert ON notify_outbox (target_id, alert_key, id)",
)

# The first undelivered delivery of each alert and target; among those, the ones tried least
# first, so a delivery its receiver keeps failing does not hold up the others.
HEADS = """
SELECT id, target_id, delivery_id, body, created_at, attempts FROM notify_outbox AS o
WHERE id = (
    SELECT MIN(id) FROM notify_outbox
    WHERE target_id = o.target_id AND alert_key = o.alert_key
)
{excluded}
ORDER BY attempts, id
LIMIT 1
"""


@dataclass(frozen=True)
class PendingDelivery:
    row_id: int
    target_id: str
    delivery_id: str
    body: bytes
    created_at: float
    attempts: int


@dataclass(frozen=True)
class Backlog:
    """One target's undelivered deliveries."""

    count: int
    oldest_created_at: float


class Outbox:
    """Thread-safe: the notifier's writer adds, its sender reads and removes."""

    def __init__(self, db_path: str | Path) -> None:
        self._lock = threading.Lock()
        self._db = connect(db_path)
        with self._db:
            for statement in SCHEMA:
                self._db.execute(statement)

    def add(
        self, target_id: str, delivery_id: str, alert_key: str, body: bytes, created_at: float
    ) -> bool:
        """Commits one delivery; False when this target already has it."""
        with self._lock, self._db:
            cursor = self._db.execute(
                "INSERT OR IGNORE INTO notify_outbox "
                "(target_id, delivery_id, alert_key, body, created_at) VALUES (?, ?, ?, ?, ?)",
                (target_id, delivery_id, alert_key, body, created_at),
            )
            return cursor.rowcount == 1

    def next_due(self, excluded_targets: Collection[str] = ()) -> PendingDelivery | None:
        """The delivery to try next, leaving out targets that are backing off."""
        excluded = sorted(excluded_targets)
        where = f"AND target_id NOT IN ({', '.join('?' * len(excluded))})" if excluded else ""
        with self._lock:
            row = self._db.execute(HEADS.format(excluded=where), excluded).fetchone()
        return None if row is None else PendingDelivery(*row)

    def failed(self, row_id: int, error: str) -> None:
        with self._lock, self._db:
            self._db.execute(
                "UPDATE notify_outbox SET attempts = attempts + 1, last_error = ? WHERE id = ?",
                (error, row_id),
            )

    def remove(self, row_id: int) -> None:
        """Delivered, or given up: either way, never sent again."""
        with self._lock, self._db:
            self._db.execute("DELETE FROM notify_outbox WHERE id = ?", (row_id,))

    def remove_older_than(self, created_before: float) -> Counter[str]:
        """Gives up every delivery created before this instant; how many, per target."""
        return self._remove_where("created_at < ?", [created_before])

    def remove_targets_except(self, known: Collection[str]) -> Counter[str]:
        """Drops the deliveries of targets that no longer exist; how many, per target."""
        keep = sorted(known)
        if not keep:
            return self._remove_where("1", [])
        return self._remove_where(f"target_id NOT IN ({', '.join('?' * len(keep))})", keep)

    def _remove_where(self, condition: str, params: Sequence[float | str]) -> Counter[str]:
        # SELECT, then DELETE, under the lock (only this connection writes the outbox):
        # DELETE ... RETURNING would need SQLite 3.35.
        with self._lock, self._db:
            rows = self._db.execute(
                f"SELECT target_id FROM notify_outbox WHERE {condition}", params
            ).fetchall()
            self._db.execute(f"DELETE FROM notify_outbox WHERE {condition}", params)
        return Counter(target for (target,) in rows)

    def backlog(self) -> dict[str, Backlog]:
        with self._lock:
            rows = self._db.execute(
                "SELECT target_id, COUNT(*), MIN(created_at) FROM notify_outbox GROUP BY target_id"
            ).fetchall()
        return {target: Backlog(count, oldest) for target, count, oldest in rows}

    def close(self) -> None:
        with self._lock:
            self._db.close()
