"""Baseline: the loop people write by hand with pyarrow and sqlite3.

pyarrow's streaming CSV reader runs in a reader thread (it releases the GIL
while parsing) and hands Python value lists through a small queue; the main
thread feeds them to ``executemany`` as an iterator of tuples, in one
transaction. No rejects, no checkpoints, no type checks: a ceiling for what
a plain Python loop reaches, not a competitor.

    python bench/baselines/pyarrow_sqlite.py data.csv target.db
"""

from __future__ import annotations

import queue
import sqlite3
import sys
import threading
from collections.abc import Iterator
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

SQLITE = {"int64": "INTEGER", "double": "REAL", "bool": "INTEGER"}


def python_columns(batch: pa.RecordBatch) -> list[list[Any]]:
    out = []
    for col in batch.columns:
        if pa.types.is_temporal(col.type):
            col = pc.cast(col, pa.string())
        out.append(col.to_pylist())
    return out


def batches(path: str) -> Iterator[pa.RecordBatch]:
    if path.endswith(".parquet"):
        yield from pq.ParquetFile(path).iter_batches(batch_size=65536)
        return
    # zip codes keep their leading zeros; everything else is inferred by pyarrow
    conv = pacsv.ConvertOptions(column_types={"zip": pa.string()})
    yield from pacsv.open_csv(path, convert_options=conv, read_options=pacsv.ReadOptions(block_size=1 << 20))


def main(src: str, target: str) -> int:
    q: queue.Queue[Any] = queue.Queue(maxsize=4)
    schema: list[tuple[str, str]] = []

    def produce() -> None:
        try:
            for batch in batches(src):
                if not schema:
                    schema.extend((f.name, SQLITE.get(str(f.type), "TEXT")) for f in batch.schema)
                q.put(python_columns(batch))
        finally:
            q.put(None)

    threading.Thread(target=produce, daemon=True).start()
    conn = sqlite3.connect(target, isolation_level=None)
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute("BEGIN")
    created = False
    rows = 0
    while (cols := q.get()) is not None:
        if not created:
            conn.execute("CREATE TABLE t (" + ", ".join(f'"{n}" {t}' for n, t in schema) + ")")
            sql = "INSERT INTO t VALUES (" + ", ".join("?" * len(schema)) + ")"
            created = True
        conn.executemany(sql, zip(*cols, strict=True))
        rows += len(cols[0])
    conn.execute("COMMIT")
    conn.close()
    print(rows)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2]))
