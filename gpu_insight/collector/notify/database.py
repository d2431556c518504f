"""The notifier's connections to the usage books' SQLite file (WAL: the books and the notifier
write side by side; a writer waits for another up to BUSY_TIMEOUT_S)."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

BUSY_TIMEOUT_S = 10.0
PRIVATE = 0o600  # the file now holds webhook secrets


def connect(db_path: str | Path) -> sqlite3.Connection:
    path = Path(db_path)
    path.parent.mkdir(parents=True, exist_ok=True)
    db = sqlite3.connect(path, timeout=BUSY_TIMEOUT_S, check_same_thread=False)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=NORMAL")
    os.chmod(path, PRIVATE)
    return db
