"""Deterministic benchmark data: CSV and Parquet of any row count.

Ten columns with the mix real exports have: integers, floats, text holding
quotes and commas, dates, timestamps, zip codes with leading zeros,
booleans and nullable columns. Every value is a pure function of the row
number (a multiplicative hash computed with ``pyarrow.compute``), so the
same ``--rows`` always gives byte-identical files, and millions of rows take
seconds, not minutes.

    python bench/gen.py --rows 1000000 --out bench/data
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import sys
from collections.abc import Callable, Iterator
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from columns import CHAIN_OUTPUT, COLUMNS, data_path

SLICE = 100_000  # rows generated at a time: keeps the generator's own memory small

SCHEMA = pa.schema(
    [
        ("id", pa.int64()),
        ("customer_id", pa.int64()),
        ("amount", pa.float64()),
        ("name", pa.string()),
        ("signup_date", pa.date32()),
        ("event_ts", pa.timestamp("s")),
        ("zip", pa.string()),
        ("active", pa.bool_()),
        ("score", pa.float64()),  # nullable
        ("note", pa.string()),  # nullable
    ]
)
assert SCHEMA.names == [name for name, _ in COLUMNS]

FIRST = ["Ada", "Grace", "Alan", "Edsger", "Barbara", "Donald", "Frances", "Ken", "Margaret", "Linus", "Radia", "Dennis"]
LAST = ["Lovelace", "Hopper", "Turing", "Dijkstra", "Liskov", "Knuth", "Allen", "Thompson", "Hamilton", "Torvalds"]
SUFFIX = ["", "", "", ", Jr.", ' "the Ace"', ", PhD", " O'Brien"]
NOTES = [
    "ok",
    "call back, after 5pm",
    'said "not now"',
    "address changed; see ticket",
    "VIP, handle with care",
    "paid in full",
    "duplicate? check, then merge",
]
EPOCH_DAY = (dt.date(2015, 1, 1) - dt.date(1970, 1, 1)).days
EPOCH_S = EPOCH_DAY * 86400


def _hash(ids: pa.Array, salt: int) -> pa.Array:
    """A well-mixed non-negative int64 per row (splitmix-style, wrapping uint64)."""
    x = pc.cast(ids, pa.uint64())
    x = pc.multiply(pc.add(x, pa.scalar(salt * 0x9E3779B97F4A7C15 % (1 << 64), pa.uint64())), pa.scalar(0xBF58476D1CE4E5B9, pa.uint64()))
    x = pc.bit_wise_xor(x, pc.shift_right(x, pa.scalar(31, pa.uint64())))
    x = pc.multiply(x, pa.scalar(0x94D049BB133111EB, pa.uint64()))
    x = pc.bit_wise_xor(x, pc.shift_right(x, pa.scalar(29, pa.uint64())))
    return pc.cast(pc.shift_right(x, pa.scalar(2, pa.uint64())), pa.int64())


def _mod(h: pa.Array, m: int) -> pa.Array:
    return pc.modulo(h, pa.scalar(m, pa.int64()))


def _pick(words: list[str], h: pa.Array) -> pa.Array:
    return pa.array(words, pa.string()).take(_mod(h, len(words)))


def make_batch(start: int, n: int) -> pa.RecordBatch:
    """Rows ``start + 1 .. start + n``."""
    ids = pa.array(range(start + 1, start + n + 1), pa.int64())
    h = [_hash(ids, s) for s in range(10)]
    name = pc.binary_join_element_wise(_pick(FIRST, h[3]), " ", _pick(LAST, h[4]), _pick(SUFFIX, h[5]), "")
    days = pc.add(_mod(h[1], 3650), EPOCH_DAY)
    secs = pc.add(_mod(h[2], 3650 * 86400), EPOCH_S)
    score_null = pc.equal(_mod(h[6], 10), 0)
    note_null = pc.less(_mod(h[7], 10), 2)
    score = pc.divide(pc.cast(_mod(h[8], 100_000), pa.float64()), 1000.0)
    return pa.record_batch(
        [
            ids,
            _mod(h[0], 1_000_000),
            pc.divide(pc.cast(_mod(h[9], 10_000_000), pa.float64()), 100.0),
            name,
            pc.cast(pc.cast(days, pa.int32()), pa.date32()),
            pc.cast(secs, pa.timestamp("s")),
            pc.utf8_lpad(pc.cast(_mod(h[6], 100_000), pa.string()), 5, "0"),
            pc.equal(_mod(h[5], 3), 0),
            pc.if_else(score_null, pa.scalar(None, pa.float64()), score),
            pc.if_else(note_null, pa.scalar(None, pa.string()), _pick(NOTES, h[8])),
        ],
        schema=SCHEMA,
    )


def chain_output(b: pa.RecordBatch) -> pa.RecordBatch:
    """What bench/transform_chain.toml makes of a batch (cast, filter, derive,
    rename, fill_null), so that a load of the chain's output without the stages
    can be timed beside the load with them."""
    b = b.filter(pc.and_(pc.greater_equal(b["amount"], 0.0), pc.is_valid(b["id"])))
    cols = dict(zip(b.schema.names, b.columns, strict=True))
    cols["customer_id"] = pc.cast(cols["customer_id"], pa.int32())
    cols["score"] = pc.fill_null(cols["score"], 0.0)
    cols["amount_cents"] = pc.round(pc.multiply(cols["amount"], 100.0))
    cols["label"] = pc.binary_join_element_wise(cols["name"], " ", cols["zip"], "")
    names = ["comment" if n == "note" else n for n in cols]
    return pa.record_batch(list(cols.values()), names=names)


def batches(rows: int, transform: Callable[[pa.RecordBatch], pa.RecordBatch] | None = None) -> Iterator[pa.RecordBatch]:
    for lo in range(0, rows, SLICE):
        b = make_batch(lo, min(SLICE, rows - lo))
        yield transform(b) if transform else b


def _write(path: str, rows: int, open_writer: Callable[[str], Any], transform: Callable[[pa.RecordBatch], pa.RecordBatch] | None = None) -> None:
    """Stream the batches through a writer into a temp file, then rename: no half files."""
    tmp = path + ".tmp"
    with open_writer(tmp) as w:
        for b in batches(rows, transform):
            w.write_batch(b)
    os.replace(tmp, path)


def write_csv(path: str, rows: int) -> None:
    _write(path, rows, lambda p: pacsv.CSVWriter(p, SCHEMA))


def write_parquet(path: str, rows: int) -> None:
    # pyarrow's defaults (snappy, dictionary pages, row groups of up to 1Mi rows): what users get
    _write(path, rows, lambda p: pq.ParquetWriter(p, SCHEMA))


def write_chain_output(path: str, rows: int) -> None:
    schema = chain_output(make_batch(0, 1)).schema
    _write(path, rows, lambda p: pq.ParquetWriter(p, schema), chain_output)


WRITERS = {"csv": write_csv, "parquet": write_parquet, CHAIN_OUTPUT: write_chain_output}


def ensure(out_dir: str, rows: int, fmt: str) -> str:
    """The data file for ``rows`` rows, generated once and reused."""
    os.makedirs(out_dir, exist_ok=True)
    path = data_path(out_dir, rows, fmt)
    if not os.path.exists(path):
        WRITERS[fmt](path, rows)
    return path


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--out", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "data"))
    ap.add_argument("--format", choices=["csv", "parquet", "both", CHAIN_OUTPUT], default="both",
                    help=f"{CHAIN_OUTPUT}: the transform chain's output as Parquet (see chain_output)")
    args = ap.parse_args(argv)
    for fmt in ("csv", "parquet") if args.format == "both" else (args.format,):
        path = ensure(args.out, args.rows, fmt)
        print(f"{path}: {os.path.getsize(path) / 1e6:.1f} MB", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
