"""kernels: pyarrow.compute's functions without its import, called the same way."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as arrow_pc
import pyarrow.parquet as pq
import pytest

from loader import kernels as pc

TEXT = pa.array(["a", "bb", None, "a"])


@pytest.mark.parametrize(
    "name, args, kwargs",
    [
        ("is_in", (TEXT,), {"value_set": pa.array(["a"])}),  # options by keyword
        ("utf8_lpad", (TEXT, 4, "0"), {}),  # options positionally, after the inputs
        ("binary_join_element_wise", (TEXT, TEXT, "-"), {"null_handling": "replace", "null_replacement": "null"}),  # any number of inputs
        ("and_", (pa.array([True, False]), pa.array([True, True])), {}),  # a Python keyword as name
        ("or_", (pa.array([True, False]), pa.array([False, False])), {}),
        ("if_else", (pa.array([True, False]), "x", "y"), {}),
        ("round", (pa.array([1.25, 2.5]),), {"ndigits": 1}),
        ("min_max", (pa.array([3, 1, 2]),), {}),
        ("take", (TEXT, pa.array([3, 0])), {}),
        ("filter", (pa.record_batch({"x": [1, 2]}), pa.array([False, True])), {}),
        ("drop_null", (TEXT,), {}),
        ("cast", (pa.array(["1", "2"]), pa.int64()), {}),
        ("cast", (pa.array([1.5]), pa.int64()), {"safe": False}),
        ("fill_null", (TEXT, "z"), {}),  # a Python value
        ("fill_null", (pa.array([1, None], pa.int32()), pa.scalar(7, pa.int64())), {}),  # a scalar of another type
    ],
)
def test_each_call_gives_what_pyarrow_compute_gives(name: str, args: tuple[object, ...], kwargs: dict[str, object]) -> None:
    assert getattr(pc, name)(*args, **kwargs).equals(getattr(arrow_pc, name)(*args, **kwargs))


def test_options_are_taken_whole_too_and_mistakes_are_refused() -> None:
    options = arrow_pc.SetLookupOptions(value_set=pa.array(["bb"]))
    assert pc.is_in(TEXT, options=options).to_pylist() == [False, True, False, False]
    with pytest.raises(TypeError, match=r"is_in\(\): options given both as options= and as arguments"):
        pc.is_in(TEXT, options=options, skip_nulls=True)
    with pytest.raises(TypeError, match=r"utf8_length\(\) takes 1 input\(s\) and no options"):
        pc.utf8_length(TEXT, 3)
    with pytest.raises(AttributeError, match="no compute function 'no_such_kernel'"):
        pc.no_such_kernel  # noqa: B018
    assert not hasattr(pc, "no_such_kernel")
    with pytest.raises(pa.ArrowInvalid):
        pc.cast(pa.array(["x"]), pa.int64())  # safe by default, as in pyarrow


def test_a_load_never_imports_pyarrow_compute(tmp_path: Path) -> None:
    """CSV with a value that fails its type after the sample (the reject path),
    and Parquet, into LevelDB and into SQLite (whose driver is used without its
    DB-API module, which imports pyarrow.dataset): ~30 ms spared on every run."""
    csv = tmp_path / "in.csv"
    csv.write_text("id,n,at,zip\n" + "".join(f"{i},{i},2024-01-0{i % 9 + 1} 10:00,0{i}\n" for i in range(1, 300)) + "300,abc,2024-01-01 10:00,0\n")
    pq.write_table(pa.table({"id": [1, 2], "v": [1.5, None]}), str(tmp_path / "in.parquet"))
    loads = [
        [str(csv), str(tmp_path / "a.ldb"), "--key", "k:{id}", "--infer-rows", "10", "--rejects", str(tmp_path / "a.jsonl")],
        [str(tmp_path / "in.parquet"), str(tmp_path / "b.ldb"), "--key", "k:{id}"],
        [str(csv), str(tmp_path / "c.db"), "--infer-rows", "10", "--rejects", str(tmp_path / "c.jsonl")],
        [str(tmp_path / "in.parquet"), str(tmp_path / "d.db"), "--table", "d", "--mode", "upsert", "--primary-key", "id"],
    ]
    probe = (
        "import sys\n"
        "from loader.cli import main\n"
        f"codes = [main(['load', *args, '--quiet']) for args in {loads!r}]\n"
        "print(codes, 'pyarrow.compute' in sys.modules, 'pyarrow.dataset' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert out.stdout.split("\n")[-2] == "[0, 0, 0, 0] False False"
    for rejects in ("a.jsonl", "c.jsonl"):
        assert (tmp_path / rejects).read_text().count("\n") == 1  # the reject path ran
    with sqlite3.connect(tmp_path / "d.db") as db:
        assert db.execute("SELECT id, v FROM d ORDER BY id").fetchall() == [(1, 1.5), (2, None)]
