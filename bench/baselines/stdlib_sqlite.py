"""Baseline: the standard library only, ``csv.reader`` straight into ``executemany``.

Values stay text; the table's declared types (column affinity) turn numbers
into numbers, as the sqlite3 shell's ``.import`` does.

    python bench/baselines/stdlib_sqlite.py data.csv target.db INTEGER,REAL,TEXT,...
"""

from __future__ import annotations

import csv
import sqlite3
import sys


def main(src: str, target: str, types: list[str]) -> int:
    conn = sqlite3.connect(target, isolation_level=None)
    conn.execute("PRAGMA synchronous=NORMAL")
    with open(src, newline="", encoding="utf-8") as fh:
        rows = csv.reader(fh)
        header = next(rows)
        cols = ", ".join(f'"{n}" {t}' for n, t in zip(header, types, strict=True))
        conn.execute(f"CREATE TABLE t ({cols})")
        conn.execute("BEGIN")
        conn.executemany("INSERT INTO t VALUES (" + ", ".join("?" * len(header)) + ")", rows)
        conn.execute("COMMIT")
    conn.close()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2], sys.argv[3].split(",")))
