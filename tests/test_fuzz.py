"""Generated malformed CSV through the reader and the pipeline into SQLite.

Properties: nothing but the loader's own errors escapes; rows_read =
rows_written + rows_rejected + rows_filtered; the table holds exactly the
written rows and the reject file one JSON line per rejected row; and a load
that crashes part-way and is resumed ends identical to an uninterrupted one.
Examples are derandomized (the same on every run) and bounded in number.
"""

from __future__ import annotations

import json
import sqlite3
import tempfile
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from loader import JobConfig, Pipeline, RunConfig, SinkConfig, SourceConfig
from loader.errors import LoaderError, NothingLoadedError
from loader.readers import CSVReader
from tests.reliability_util import rejects_of


def fuzz(max_examples: int) -> settings:
    return settings(
        max_examples=max_examples,
        derandomize=True,
        phases=[Phase.explicit, Phase.reuse, Phase.generate],
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )


# the file-level errors these inputs can earn: a header of one empty name, and
# nothing at all (that header with no line end)
FILE_ERRORS = ("header row is empty", "file is empty (no header, no rows)")

# pieces that break CSV in the ways real files do
FIELD = st.one_of(
    st.integers(-(10**20), 10**20).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.text(max_size=12),
    st.sampled_from(
        ['"', '""', '"a,b"', '"x\ny"', '"unterminated', "a\x00b", "\r", "", " ", "NaN", "1e400", "true", "2024-02-30"]
    ),
)
RAW_BYTES = st.sampled_from(
    [b"\xff", b"\xfe\xff", b"\xc3", b"\xe2\x82", b"\x00", b"\r\n", b'"', b"\n\n", b"\xef\xbb\xbf"]
)


@st.composite
def malformed_csv(draw: st.DrawFn) -> bytes:
    width = draw(st.integers(1, 4))
    header = ",".join(
        draw(st.lists(st.sampled_from(["id", "a", "b", "id", "", "x y", "ü"]), min_size=width, max_size=width))
    )
    lines = [header.encode()]
    for _ in range(draw(st.integers(0, 40))):
        n = draw(st.sampled_from([width, width, width, width - 1, width + 1, 0]))
        row = ",".join(draw(st.lists(FIELD, min_size=max(n, 0), max_size=max(n, 0)))).encode("utf-8", "surrogatepass")
        if draw(st.integers(0, 9)) == 0:
            cut = draw(st.integers(0, len(row)))
            row = row[:cut] + draw(RAW_BYTES) + row[cut:]
        lines.append(row)
    end = draw(st.sampled_from([b"\n", b"", b"\r\n"]))
    return b"\n".join(lines) + end


def job(
    src: Path, db: Path, block_size: int, chunk: int, batch: int, read_ahead: int, workers: int = 1, **source: Any
) -> JobConfig:
    return JobConfig(
        source=SourceConfig(path=[str(src)], block_size=block_size, infer_rows=10, **source),
        sink=SinkConfig(path=str(db), table="t", batch_size=batch),
        run=RunConfig(chunk_size=chunk, read_ahead=read_ahead, workers=workers),
    )


def table_rows(db: Path) -> list[tuple[Any, ...]]:
    conn = sqlite3.connect(db)
    try:
        if not conn.execute("SELECT count(*) FROM sqlite_master WHERE name = 't'").fetchone()[0]:
            return []
        return conn.execute("SELECT * FROM t ORDER BY rowid").fetchall()
    finally:
        conn.close()


def reject_file(db: Path) -> list[str]:
    """The reject file's lines, each without its target (two targets' lines compare alike)."""
    path = rejects_of(db)
    # JSON lines end in "\n" only: a value may hold U+2028 or U+0085, which splitlines() would split on
    lines = path.read_text(encoding="utf-8").split("\n")[:-1] if path.exists() else []
    target = f' "target": {json.dumps(str(db.resolve()))},'
    return [line.replace(target, "", 1) for line in lines]


@pytest.mark.slow
@fuzz(300)
@given(data=malformed_csv(), block=st.sampled_from([1024, 4096, 1 << 20]), chunk=st.integers(1, 30))
def test_reader_accounts_for_every_row(data: bytes, block: int, chunk: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "f.csv"
        src.write_bytes(data)
        try:
            with CSVReader(
                str(src), SourceConfig(path=[str(src)], block_size=block, infer_rows=10), chunk_size=chunk
            ) as reader:
                last = 0
                for c in reader:
                    assert c.rows_read == c.num_rows + len(c.rejects) + c.rows_filtered
                    assert c.num_rows <= chunk
                    rows = c.rows.to_pylist()
                    assert rows == sorted(rows) and all(last < r <= c.last_row for r in rows)
                    assert all(last < (r.row or 0) <= c.last_row for r in c.rejects)
                    assert isinstance(c.batch, pa.RecordBatch)
                    last = c.last_row
        except LoaderError as exc:
            assert str(exc).endswith(FILE_ERRORS), exc


def run_counting(pipeline: Pipeline) -> Any:
    """The run's report, also when every row was rejected (all committed, but exit 4)."""
    try:
        return pipeline.run()
    except NothingLoadedError as exc:
        report = exc.report  # type: ignore[attr-defined]
        assert report.rows_read and not report.rows_written
        return report


class Boom(Exception):
    pass


def crash_after(n: int):  # type: ignore[no-untyped-def]
    seen = [0]

    def stage(batch: pa.RecordBatch) -> pa.RecordBatch:
        seen[0] += 1
        if seen[0] > n:
            raise Boom("simulated crash")
        return batch

    return stage


@pytest.mark.slow
@fuzz(70)
@given(
    data=malformed_csv(),
    block=st.sampled_from([1024, 1 << 20]),
    chunk=st.integers(1, 8),
    batch=st.integers(1, 20),
    read_ahead=st.sampled_from([0, 2]),
    workers=st.sampled_from([1, 3]),
    crash=st.integers(0, 6),
)
def test_pipeline_invariant_and_resume_after_crash(
    data: bytes, block: int, chunk: int, batch: int, read_ahead: int, workers: int, crash: int
) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "f.csv"
        src.write_bytes(data)
        clean, resumed = Path(tmp) / "clean.db", Path(tmp) / "resumed.db"
        try:
            report = run_counting(Pipeline(job(src, clean, block, chunk, batch, read_ahead, workers)))
        except LoaderError as exc:
            assert str(exc).endswith(FILE_ERRORS), exc  # a bad row never fails the load
            return
        assert report.rows_read == report.rows_written + report.rows_rejected + report.rows_filtered
        rows = table_rows(clean)
        rejects = reject_file(clean)
        assert len(rows) == report.rows_written
        assert len(rejects) == report.rows_rejected
        for line in rejects:
            entry = json.loads(line)
            assert entry["file"] == str(src) and entry["reason"] and entry["row"] >= 1

        # the same load, crashed after `crash` chunks and resumed, ends the same
        try:
            Pipeline(job(src, resumed, block, chunk, batch, read_ahead, workers), transforms=[crash_after(crash)]).run()
        except (LoaderError, Boom) as exc:
            assert "simulated crash" in str(exc) or isinstance(exc, NothingLoadedError)
        again = run_counting(Pipeline(job(src, resumed, block, chunk, batch, read_ahead, workers)))
        assert again.rows_read == again.rows_written + again.rows_rejected + again.rows_filtered
        assert table_rows(resumed) == rows
        assert reject_file(resumed) == rejects
