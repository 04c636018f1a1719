"""Baseline: pandas ``read_json(lines=True, chunksize=...)`` and ``to_sql`` into SQLite.

The streaming way pandas reads JSON Lines: one DataFrame of ``CHUNK`` rows at
a time, appended with ``to_sql`` over Python's sqlite3 (``method="multi"`` is
slower on SQLite), committed at the end. zip stays text (pandas would make it
a number); everything else is pandas' inference.

    python bench/baselines/pandas_jsonl_sqlite.py data.jsonl target.db
"""

from __future__ import annotations

import sqlite3
import sys

import pandas as pd

CHUNK = 65536


def main(src: str, target: str) -> int:
    conn = sqlite3.connect(target)
    with pd.read_json(src, lines=True, chunksize=CHUNK, dtype={"zip": str}) as chunks:
        for frame in chunks:
            frame.to_sql("t", conn, if_exists="append", index=False)
    conn.commit()
    conn.close()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2]))
