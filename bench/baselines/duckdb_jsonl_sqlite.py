"""Baseline: DuckDB's ``read_json`` into SQLite.

DuckDB's own SQLite writer is an extension it downloads on first use; without
it, the fastest path is DuckDB's reader streaming Arrow record batches into the
same ADBC SQLite driver loader uses (``adbc_ingest``, one transaction). DuckDB
infers the types, in parallel; no rejects, no checkpoints.

    python bench/baselines/duckdb_jsonl_sqlite.py data.jsonl target.db
"""

from __future__ import annotations

import sys

import adbc_driver_sqlite.dbapi as adbc
import duckdb

BATCH = 65536


def main(src: str, target: str) -> int:
    con = duckdb.connect()
    rel = con.sql("SELECT * FROM read_json(?, format = 'newline_delimited')", params=[src])
    reader = rel.to_arrow_reader(BATCH)
    with adbc.connect(target) as conn:
        with conn.cursor() as cur:
            cur.adbc_ingest("t", reader, mode="create")
        conn.commit()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2]))
