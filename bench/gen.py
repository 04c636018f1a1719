"""Deterministic benchmark data: CSV, Parquet and JSON Lines of any row count.

Ten columns with the mix real exports have: integers, floats, text holding
quotes and commas, dates, timestamps, zip codes with leading zeros,
booleans and nullable columns. Every value is a pure function of the row
number (a multiplicative hash computed with ``pyarrow.compute``), so the
same ``--rows`` always gives byte-identical files, and millions of rows take
seconds, not minutes.

The ``id`` column is unique in every mode: ``scrambled`` (the default,
``(row * 2654435761) mod 2**32``: keys arrive in no order, as hashed or
allocated ids do), ``sorted`` (1, 2, 3, ...: an LSM store's best case) or
``uuid`` (random-looking UUID text).

    python bench/gen.py --rows 1000000 --out bench/data
    python bench/gen.py --rows 1000000 --ids sorted
    python bench/gen.py --rows 1000000 --format jsonl
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
from columns import CHAIN_OUTPUT, COLUMNS, IDS, data_path

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

FIRST = [
    "Ada",
    "Grace",
    "Alan",
    "Edsger",
    "Barbara",
    "Donald",
    "Frances",
    "Ken",
    "Margaret",
    "Linus",
    "Radia",
    "Dennis",
]
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


def _mix(ids: pa.Array, salt: int) -> pa.Array:
    """A well-mixed uint64 per row (splitmix-style, wrapping uint64); one-to-one for a given salt."""
    x = pc.cast(ids, pa.uint64())
    x = pc.multiply(
        pc.add(x, pa.scalar(salt * 0x9E3779B97F4A7C15 % (1 << 64), pa.uint64())),
        pa.scalar(0xBF58476D1CE4E5B9, pa.uint64()),
    )
    x = pc.bit_wise_xor(x, pc.shift_right(x, pa.scalar(31, pa.uint64())))
    x = pc.multiply(x, pa.scalar(0x94D049BB133111EB, pa.uint64()))
    return pc.bit_wise_xor(x, pc.shift_right(x, pa.scalar(29, pa.uint64())))


def _hash(ids: pa.Array, salt: int) -> pa.Array:
    """A well-mixed non-negative int64 per row."""
    return pc.cast(pc.shift_right(_mix(ids, salt), pa.scalar(2, pa.uint64())), pa.int64())


def _ids(rows: pa.Array, mode: str) -> pa.Array:
    """The ``id`` column for row numbers ``rows`` (from 1): unique in every mode."""
    if mode == "sorted":
        return rows
    if mode == "scrambled":  # an odd multiplier modulo 2**32: one-to-one below 2**32 rows
        product = pc.multiply(pc.cast(rows, pa.uint64()), pa.scalar(2654435761, pa.uint64()))
        return pc.cast(pc.bit_wise_and(product, pa.scalar(0xFFFFFFFF, pa.uint64())), pa.int64())
    # uuid: the first 64 bits are a one-to-one mix of the row number, so no two rows share one
    hi, lo = _mix(rows, 11).to_pylist(), _mix(rows, 12).to_pylist()
    hexes = (f"{a:016x}{b:016x}" for a, b in zip(hi, lo, strict=True))
    return pa.array([f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}" for h in hexes], pa.string())


def _mod(h: pa.Array, m: int) -> pa.Array:
    return pc.modulo(h, pa.scalar(m, pa.int64()))


def _pick(words: list[str], h: pa.Array) -> pa.Array:
    return pa.array(words, pa.string()).take(_mod(h, len(words)))


def make_batch(start: int, n: int, ids_mode: str = "scrambled") -> pa.RecordBatch:
    """Rows ``start + 1 .. start + n``; every column but ``id`` depends on the row number only."""
    rows = pa.array(range(start + 1, start + n + 1), pa.int64())
    h = [_hash(rows, s) for s in range(10)]
    ids = _ids(rows, ids_mode)
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
        schema=SCHEMA if ids_mode != "uuid" else SCHEMA.set(0, pa.field("id", pa.string())),
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


def batches(
    rows: int, ids_mode: str, transform: Callable[[pa.RecordBatch], pa.RecordBatch] | None = None
) -> Iterator[pa.RecordBatch]:
    for lo in range(0, rows, SLICE):
        b = make_batch(lo, min(SLICE, rows - lo), ids_mode)
        yield transform(b) if transform else b


def _write(
    path: str,
    rows: int,
    ids_mode: str,
    open_writer: Callable[[str, pa.Schema], Any],
    transform: Callable[[pa.RecordBatch], pa.RecordBatch] | None = None,
) -> None:
    """Stream the batches through a writer into a temp file, then rename: no half files."""
    tmp = path + ".tmp"
    first = make_batch(0, 1, ids_mode)
    schema = (transform(first) if transform else first).schema
    with open_writer(tmp, schema) as w:
        for b in batches(rows, ids_mode, transform):
            w.write_batch(b)
    os.replace(tmp, path)


def write_csv(path: str, rows: int, ids_mode: str) -> None:
    _write(path, rows, ids_mode, pacsv.CSVWriter)


def write_parquet(path: str, rows: int, ids_mode: str) -> None:
    # pyarrow's defaults (snappy, dictionary pages, row groups of up to 1Mi rows): what users get
    _write(path, rows, ids_mode, pq.ParquetWriter)


def write_chain_output(path: str, rows: int, ids_mode: str) -> None:
    _write(path, rows, ids_mode, pq.ParquetWriter, chain_output)


class _JSONLWriter:
    """JSON Lines as pandas writes them (``to_json(orient="records", lines=True)``):
    dates and timestamps as their ISO text, missing values as null."""

    def __init__(self, path: str, schema: pa.Schema) -> None:
        self.fh = open(path, "w", encoding="utf-8")  # noqa: SIM115  (closed in __exit__)

    def __enter__(self) -> _JSONLWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.fh.close()

    def write_batch(self, b: pa.RecordBatch) -> None:
        columns = [pc.cast(c, pa.string()) if pa.types.is_temporal(c.type) else c for c in b.columns]
        frame = pa.record_batch(columns, names=b.schema.names).to_pandas()
        frame.to_json(self.fh, orient="records", lines=True)


def write_jsonl(path: str, rows: int, ids_mode: str) -> None:
    _write(path, rows, ids_mode, _JSONLWriter)


WRITERS = {"csv": write_csv, "jsonl": write_jsonl, "parquet": write_parquet, CHAIN_OUTPUT: write_chain_output}


def ensure(out_dir: str, rows: int, fmt: str, ids_mode: str = "scrambled") -> str:
    """The data file for ``rows`` rows, generated once and reused."""
    os.makedirs(out_dir, exist_ok=True)
    path = data_path(out_dir, rows, fmt, ids_mode)
    if not os.path.exists(path):
        WRITERS[fmt](path, rows, ids_mode)
    return path


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--out", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "data"))
    ap.add_argument(
        "--format",
        choices=["csv", "parquet", "jsonl", "both", CHAIN_OUTPUT],
        default="both",
        help=f"{CHAIN_OUTPUT}: the transform chain's output as Parquet (see chain_output)",
    )
    ap.add_argument("--ids", choices=IDS, default="scrambled", help="order and form of the unique id column")
    args = ap.parse_args(argv)
    for fmt in ("csv", "parquet") if args.format == "both" else (args.format,):
        path = ensure(args.out, args.rows, fmt, args.ids)
        print(f"{path}: {os.path.getsize(path) / 1e6:.1f} MB", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
