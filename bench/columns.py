"""The benchmark table's columns, importable without pyarrow.

The runner stays a small process (its children inherit its peak RSS in the
OS's accounting, so it must never load pyarrow itself).
"""

from __future__ import annotations

# name, declared SQLite type (for the sqlite3 shell's pre-created table)
COLUMNS = [
    ("id", "INTEGER"),
    ("customer_id", "INTEGER"),
    ("amount", "REAL"),
    ("name", "TEXT"),
    ("signup_date", "TEXT"),
    ("event_ts", "TEXT"),
    ("zip", "TEXT"),
    ("active", "INTEGER"),
    ("score", "REAL"),
    ("note", "TEXT"),
]


# The transform chain's output (bench/transform_chain.toml applied by gen.py), as Parquet
CHAIN_OUTPUT = "chain.parquet"


# The id column's order and form (see gen.py); the first is the default
IDS = ("scrambled", "sorted", "uuid")


def data_path(out_dir: str, rows: int, fmt: str, ids: str = "scrambled") -> str:
    import os

    return os.path.join(out_dir, f"bench_{rows}_{ids}.{fmt}")
