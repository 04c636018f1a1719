"""Bad values cost in proportion to their number: a few bad values spread thin
through a file do not send whole blocks down a per-value path."""

from __future__ import annotations

from pathlib import Path

from loader import load
from tests.conftest import calls_made, sqlite_rows

ROWS = 100_000
EVERY = 1000  # 0.1% of the rows hold one bad value


def _write(path: Path, *, bad: bool) -> Path:
    lines = ["id,qty,amount,day,name"]
    for i in range(ROWS):
        qty, amount = str(i % 977), f"{(i * 7919) % 100000 / 100:.2f}"
        if bad and i % EVERY == 500:
            if (i // EVERY) % 2:
                qty = "x"
            else:
                amount = "1.2.3"
        lines.append(f"{i},{qty},{amount},2024-{1 + i % 12:02d}-{1 + i % 28:02d},name {i}")
    path.write_text("\n".join(lines) + "\n")
    return path


def _load_calls(src: Path, db: Path) -> tuple[int, int, int]:
    types = {"qty": "int64", "amount": "float64", "day": "date"}
    report, calls = calls_made(lambda: load(str(src), str(db), table="t", source_options={"columns": types}))
    assert report.rows_read == report.rows_written + report.rows_rejected
    return calls, report.rows_written, report.rows_rejected


def test_bad_values_spread_thin_cost_little_more_than_a_clean_file(tmp_path: Path) -> None:
    clean = _write(tmp_path / "clean.csv", bad=False)
    dirty = _write(tmp_path / "dirty.csv", bad=True)
    _load_calls(clean, tmp_path / "warm.db")  # the first load imports what loads use
    clean_calls, written, rejected = _load_calls(clean, tmp_path / "clean.db")
    assert (written, rejected) == (ROWS, 0)
    dirty_calls, written, rejected = _load_calls(dirty, tmp_path / "dirty.db")
    assert (written, rejected) == (ROWS - ROWS // EVERY, ROWS // EVERY)
    reasons = sqlite_rows(tmp_path / "dirty.db", "SELECT count(*) FROM t WHERE qty IS NULL OR amount IS NULL")
    assert reasons == [(0,)]  # rejected, not nulled
    ratio = dirty_calls / clean_calls
    assert ratio < 3.0, f"bad values made the load {ratio:.1f}x the function calls ({clean_calls:,} clean)"
