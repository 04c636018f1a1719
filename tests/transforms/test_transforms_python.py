"""python: user functions by import path, batch (fast) and row (slow) modes."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import sqlite3
import sys
import textwrap
from decimal import Decimal
from pathlib import Path

import plyvel
import pyarrow as pa
import pyarrow.compute as pc
import pytest
from transforms_testutil import chunk_of, col

from loader import load
from loader.cli import main
from loader.errors import ConfigError, LoaderError
from loader.transforms import Drop, Python, output_schema
from loader.writers.leveldb import peek as leveldb_peek

MODULE = """
import pyarrow as pa
import pyarrow.compute as pc

def normalise(batch):
    i = batch.schema.get_field_index("name")
    return batch.set_column(i, "name", pc.utf8_upper(batch.column("name")))

def shrink(batch):
    return batch.slice(0, 1)

def explode(batch):
    raise RuntimeError("bad batch")

def not_a_batch(batch):
    return [1]

def per_row(row):
    if row["age"] is None:
        return None
    if row["age"] < 0:
        raise ValueError(f"negative age {row['age']}")
    return {**row, "adult": row["age"] >= 18}

NOT_CALLABLE = 3
"""


@pytest.fixture()
def usermod(tmp_path, monkeypatch):  # type: ignore[no-untyped-def]
    pkg = tmp_path / "mypkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "cleaning.py").write_text(textwrap.dedent(MODULE))
    (pkg / "broken.py").write_text("raise ImportError('needs numpy')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    yield "mypkg.cleaning"
    for name in [m for m in sys.modules if m.startswith("mypkg")]:
        del sys.modules[name]


def test_batch_mode_by_import_path(usermod: str) -> None:
    stage = Python(function=f"{usermod}:normalise")
    out = stage(chunk_of({"name": ["åse", None, "bo"]}))
    assert col(out, "name") == ["ÅSE", None, "BO"]
    assert out.rows.to_pylist() == [1, 2, 3]


def test_batch_mode_row_count_must_not_change(usermod: str) -> None:
    stage = Python(function=f"{usermod}:shrink", name="transform[1] (python)")
    with pytest.raises(LoaderError) as info:
        stage(chunk_of({"name": ["a", "b"]}, file="in.csv"))
    assert info.value.file == "in.csv" and info.value.stage == "transform[1] (python)"
    assert "returned 1 rows for 2; a batch function must keep the row count" in str(info.value)


def test_batch_mode_exception_is_loader_error_naming_stage_and_file(usermod: str) -> None:
    stage = Python(function=f"{usermod}:explode", name="transform[1] (python)")
    with pytest.raises(LoaderError) as info:
        stage(chunk_of({"name": ["a"]}, file="in.csv"))
    assert str(info.value) == "transform[1] (python): in.csv, row 1: the function raised RuntimeError: bad batch"
    assert isinstance(info.value.__cause__, RuntimeError)
    with pytest.raises(LoaderError, match=r"returned list, expected a pyarrow.RecordBatch"):
        Python(function=f"{usermod}:not_a_batch")(chunk_of({"name": ["a"]}))


def test_row_mode_filters_rejects_and_adds_columns(usermod: str) -> None:
    stage = Python(function=f"{usermod}:per_row", mode="row", name="transform[2] (python)")
    c = chunk_of({"name": ["Åse", "Bo", "Cy", "Di"], "age": pa.array([30, None, -1, 12], pa.int32())})
    out = stage(c)
    assert col(out, "name") == ["Åse", "Di"]
    assert col(out, "adult") == [True, False]
    assert out.batch.schema.field("age").type == pa.int32()  # input type kept
    assert out.rows.to_pylist() == [1, 4]
    assert out.rows_filtered == 1
    [r] = out.rejects
    assert (r.file, r.row, r.stage, r.column) == ("t.csv", 3, "transform[2] (python)", None)
    assert r.reason == "ValueError: negative age -1"
    assert r.values == {"name": "Cy", "age": -1}


def test_row_mode_all_dropped_and_empty(usermod: str) -> None:
    stage = Python(function=lambda row: None, mode="row")
    out = stage(chunk_of({"a": [1, 2]}))
    assert out.num_rows == 0 and out.rows_filtered == 2 and out.batch.schema.names == ["a"]
    empty = chunk_of(pa.record_batch({"a": pa.array([], pa.int64())}))
    assert stage(empty).num_rows == 0


def test_callable_from_python() -> None:
    stage = Python(function=lambda b: b.set_column(0, "a", pc.multiply(b.column(0), 2)))
    assert col(stage(chunk_of({"a": [1, 2]})), "a") == [2, 4]


@pytest.mark.parametrize(
    "path, fragment",
    [
        ("nosuchpkg.mod:fn", "function: cannot import 'nosuchpkg.mod' for 'nosuchpkg.mod:fn': No module named"),
        ("mypkg.cleaning:nope", "function: 'mypkg.cleaning' has no 'nope' (from 'mypkg.cleaning:nope')"),
        ("mypkg.cleaning:NOT_CALLABLE", "function: 'mypkg.cleaning:NOT_CALLABLE' is not a function"),
        ("mypkg.broken:fn", "function: cannot import 'mypkg.broken' for 'mypkg.broken:fn': needs numpy"),
        ("justaname", "function: expected \"package.module:function\", got 'justaname'"),
    ],
)
def test_import_errors_are_config_errors(usermod: str, path: str, fragment: str) -> None:
    with pytest.raises(ConfigError) as info:
        Python(function=path, name="transform[1] (python)")
    assert fragment in str(info.value)
    assert info.value.stage == "transform[1] (python)"


def test_mode_is_checked(usermod: str) -> None:
    with pytest.raises(ConfigError, match=r"mode: expected one of 'batch', 'row', got 'rows' \(did you mean 'row'\?\)"):
        Python(function=f"{usermod}:normalise", mode="rows")


def test_job_file_code_is_refused_unless_allowed(usermod: str) -> None:
    from loader.transforms import build_stages

    spec = [{"type": "trim", "columns": ["a"]}, {"type": "python", "function": f"{usermod}:normalise"}]
    with pytest.raises(ConfigError) as info:
        build_stages(spec, allow_code=False)
    assert str(info.value) == (
        "transform[2] (python): function: 'mypkg.cleaning:normalise' is code to import and run; "
        "a job file may run code only when allowed"
    )
    assert info.value.hint == (
        "if you trust this job file, allow its code: --allow-python, LOADER_ALLOW_PYTHON=1, "
        "or Pipeline(..., allow_python=True)"
    )
    assert "mypkg.cleaning" not in sys.modules


@pytest.mark.parametrize("value", ["true", "yes", "0"])
def test_an_allow_python_variable_that_does_not_allow_code_says_it_was_seen(
    usermod: str, value: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``LOADER_ALLOW_PYTHON=true`` was refused as if unset, with a hint naming the variable."""
    from loader.transforms import build_stages

    monkeypatch.setenv("LOADER_ALLOW_PYTHON", value)
    spec = [{"type": "python", "function": f"{usermod}:normalise"}]
    with pytest.raises(ConfigError) as info:
        build_stages(spec, allow_code=None)  # the environment decides
    assert info.value.hint == (
        f"LOADER_ALLOW_PYTHON is {value!r} here, which does not allow it (only 1 does); "
        "if you trust this job file, allow its code: --allow-python, LOADER_ALLOW_PYTHON=1, "
        "or Pipeline(..., allow_python=True)"
    )
    with pytest.raises(ConfigError) as info:  # refused by the caller: the variable does not matter
        build_stages(spec, allow_code=False)
    assert info.value.hint is not None and info.value.hint.startswith("if you trust")
    monkeypatch.setenv("LOADER_ALLOW_PYTHON", "1")
    assert len(build_stages(spec, allow_code=None, defer_imports=True)) == 1


def test_deferred_import_checks_syntax_only(usermod: str) -> None:
    from loader.transforms import build_stages

    [stage] = build_stages([{"type": "python", "function": f"{usermod}:normalise"}], defer_imports=True)
    assert "mypkg.cleaning" not in sys.modules and stage.resolved is False  # type: ignore[attr-defined]
    with pytest.raises(ConfigError, match=r'function: expected "package.module:function", got \'justaname\''):
        build_stages([{"type": "python", "function": "justaname"}], defer_imports=True)
    [missing] = build_stages([{"type": "python", "function": "nosuchpkg.mod:fn"}], defer_imports=True)
    with pytest.raises(ConfigError, match=r"cannot import 'nosuchpkg\.mod'"):
        missing.resolve()  # type: ignore[attr-defined]
    stage.resolve()  # type: ignore[attr-defined]
    assert "mypkg.cleaning" in sys.modules and stage.resolved is True  # type: ignore[attr-defined]
    assert col(stage(chunk_of({"name": ["a"]})), "name") == ["A"]


def _label(row):  # type: ignore[no-untyped-def]
    return {**row, "label": row["name"].upper(), "n": "x" if row["name"] == "Cy" else len(row["name"])}


def test_the_output_of_a_row_function_over_a_dictionary_of_dates_is_known_before_any_row() -> None:
    """An empty batch of a dictionary of dates could not be built (from_pylist), so neither
    the shape of a row function's output nor the stages' schema."""
    stage = Python(function=_label, mode="row", columns={"n": "int16"}, name="transform[1] (python)")
    day = pa.dictionary(pa.int8(), pa.date32())
    assert output_schema([stage], pa.schema([("day", day)])) == pa.schema([("day", day), ("n", pa.int16())])


def test_row_mode_declared_columns_shape_the_output_before_any_row() -> None:
    stage = Python(function=_label, mode="row", columns={"label": "string", "n": "int16"}, name="transform[1] (python)")
    schema = pa.schema([("name", pa.string())])
    assert output_schema([stage], schema) == pa.schema(
        [("name", pa.string()), ("label", pa.string()), ("n", pa.int16())]
    )
    out = stage(chunk_of({"name": ["Åse", "Cy", "Di"]}))
    assert out.batch.to_pylist() == [{"name": "Åse", "label": "ÅSE", "n": 3}, {"name": "Di", "label": "DI", "n": 2}]
    assert out.batch.schema.field("n").type == pa.int16()
    [r] = out.rejects
    assert (r.row, r.column, r.reason) == (2, "n", "'x' is not a valid int16")


def test_declared_columns_need_row_mode() -> None:
    with pytest.raises(
        ConfigError, match='columns: declares the columns a row function returns; use it with mode = "row"'
    ):
        Python(function=lambda b: b, columns={"a": "string"})
    with pytest.raises(ConfigError, match=r"columns\.a"):
        Python(function=_label, mode="row", columns={"a": "text!"})


def test_a_row_function_adding_a_column_loads_into_a_new_sqlite_table(tmp_path) -> None:  # type: ignore[no-untyped-def]
    src = tmp_path / "in.csv"
    src.write_text("name\nAse\nBo\n")
    db = tmp_path / "out.db"
    stage = Python(function=_label, mode="row", columns={"label": "string", "n": "int64"})
    report = load(src, db, table="t", transforms=[stage])
    assert report.rows_written == 2
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT name, label, n, typeof(n) FROM t ORDER BY name").fetchall() == [
            ("Ase", "ASE", 3, "integer"),
            ("Bo", "BO", 2, "integer"),
        ]


def test_a_column_a_row_function_adds_undeclared_is_refused_naming_the_file(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from loader.errors import SchemaMismatchError

    src = tmp_path / "in.csv"
    src.write_text("name\nAse\n")
    stage = Python(function=lambda row: {**row, "extra": "x"}, mode="row")
    with pytest.raises(SchemaMismatchError) as info:
        load(src, tmp_path / "out.db", table="t", transforms=[stage])
    assert str(info.value) == f"{src}, column 'extra': table 't' has no column 'extra'"


def _quarter_and_afternoon(row):  # type: ignore[no-untyped-def]
    return {**row, "qty": row["qty"] / 4, "day": dt.datetime.combine(row["day"], dt.time(15, 45))}


def test_row_mode_a_value_its_column_type_would_change_rejects_the_row() -> None:
    """An input column keeps its type: 2.5 is not truncated into an int64 nor 15:45 dropped from
    a date; the row goes to the rejects with the values the function got."""
    c = chunk_of({"qty": [10, 20], "day": [dt.date(2024, 1, 1), dt.date(2024, 1, 2)]})
    stage = Python(function=_quarter_and_afternoon, mode="row", name="transform[1] (python)")
    out = stage(c)
    assert out.batch.num_rows == 0 and out.batch.schema == c.batch.schema
    hint = "; declare the column's type in the stage's columns to change it"
    assert [(r.row, r.column, r.reason, r.values) for r in out.rejects] == [
        (1, "qty", "'2.5' is not a valid int64" + hint, {"qty": 10, "day": dt.date(2024, 1, 1)}),
        (2, "day", "'2024-01-02 15:45:00' has a time of day that date would drop" + hint, c.batch.to_pylist()[1]),
    ]
    whole = Python(function=lambda r: {**r, "qty": r["qty"] / 2}, mode="row")(c)  # 5.0 and 10.0 are whole
    assert col(whole, "qty") == [5, 10] and whole.batch.schema.field("qty").type == pa.int64() and not whole.rejects


def test_row_mode_declared_column_rejects_a_value_its_type_would_round() -> None:
    c = chunk_of({"id": [1, 2]})
    out = Python(function=lambda r: {**r, "score": r["id"] * 1.5}, mode="row", columns={"score": "int64"})(c)
    assert out.batch.to_pylist() == [{"id": 2, "score": 3}]
    assert [(r.row, r.column, r.reason) for r in out.rejects] == [(1, "score", "'1.5' is not a valid int64")]
    precise = Decimal("1.123456789012345678901")
    out = Python(function=lambda r: {**r, "x": precise}, mode="row", columns={"x": "float64"})(c)
    assert out.num_rows == 0 and {r.reason for r in out.rejects} == {f"{precise} is not a valid float64"}
    out = Python(function=lambda r: {**r, "x": precise}, mode="row")(chunk_of({"x": [1.5]}))  # undeclared too
    assert out.num_rows == 0 and out.rejects[0].reason.startswith(f"{precise} is not a valid float64;")


def test_row_mode_rejects_each_row_once_when_declared_columns_fail_in_different_rows() -> None:
    def two(row):  # type: ignore[no-untyped-def]
        return {**row, "a": "x" if row["n"] == 1 else 1, "b": "y" if row["n"] == 2 else 2}

    out = Python(function=two, mode="row", columns={"a": "int64", "b": "int64"})(chunk_of({"n": [1, 2, 3]}))
    assert out.batch.to_pylist() == [{"n": 3, "a": 1, "b": 2}]
    assert [(r.row, r.column, r.reason) for r in out.rejects] == [
        (1, "a", "'x' is not a valid int64"),
        (2, "b", "'y' is not a valid int64"),
    ]


def test_row_mode_values_a_function_leaves_alone_keep_their_types() -> None:
    utc = pa.array([dt.datetime(2024, 1, 1, 1, 1, 1, 1000)], pa.timestamp("ms", "UTC"))
    c = chunk_of(
        {
            "f": pa.array([1.1], pa.float32()),  # comes back as 1.100000023841858, a float32 exactly
            "u": pa.array([2**64 - 1], pa.uint64()),  # beyond int64: no type of its own in pa.array
            "t": utc,
            "d": pa.array([Decimal("1.50")], pa.decimal128(10, 2)),
        }
    )
    out = Python(function=lambda r: r, mode="row")(c)
    assert not out.rejects and out.batch.select(["u", "t", "d"]).equals(c.batch.select(["u", "t", "d"]))
    assert out.batch.column("f").to_pylist() == c.batch.column("f").to_pylist()  # as float64: see below


@pytest.mark.parametrize("target", ["sqlite", "leveldb"])
def test_row_mode_loads_nothing_rounded(tmp_path, target: str) -> None:  # type: ignore[no-untyped-def]
    src = tmp_path / "in.csv"
    src.write_text("id,qty,day\n1,10,2024-01-01\n2,20,2024-01-02\n")
    db = tmp_path / ("t.db" if target == "sqlite" else "t.ldb")
    where = {"table": "t"} if target == "sqlite" else {"key": "{id}"}
    stage = Python(function=lambda r: {**r, "qty": r["qty"] / 4}, mode="row")
    report = load(src, db, **where, transforms=[stage])
    assert (report.rows_written, report.rows_rejected) == (1, 1)
    if target == "sqlite":
        with sqlite3.connect(db) as conn:
            assert conn.execute("SELECT id, qty FROM t").fetchall() == [(2, 5)]
    else:
        ldb = plyvel.DB(str(db))
        try:
            assert [json.loads(v)["qty"] for _, v in ldb] == [5]
        finally:
            ldb.close()


NULL_COLUMN = """
def fill(row):
    return {**row, "mid": "x" if row["id"] == 1 else 7}

def text(row):
    return {**row, "mid": "x"}
"""


def test_row_mode_values_for_a_null_typed_column_take_their_own_type(tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """A column without a value in a whole file is typed null: every value a row function
    gave it was rejected as "not a valid null"."""
    (tmp_path / "nullcol.py").write_text(NULL_COLUMN)
    monkeypatch.syspath_prepend(str(tmp_path))
    c = chunk_of({"id": [1, 2], "mid": pa.nulls(2)})
    out = Python(function="nullcol:text", mode="row")(c)
    assert (col(out, "mid"), out.batch.schema.field("mid").type, out.rejects) == (["x", "x"], pa.string(), [])
    # as for a new column: its values that are not text type it, the text is rejected
    out = Python(function="nullcol:fill", mode="row")(c)
    assert (col(out, "mid"), out.batch.schema.field("mid").type) == ([7], pa.int64())
    assert [(r.row, r.reason) for r in out.rejects] == [
        (1, "'x' is not a valid int64; declare the column's type in the stage's columns to change it")
    ]
    sys.modules.pop("nullcol", None)


def test_row_mode_computes_into_float32_columns_as_float64() -> None:
    """A float32 column rejected nearly every computed value (``10.277777777777779 would be
    rounded by float32``): it comes out float64, which both targets store anyway."""
    c = chunk_of({"temp_f": pa.array([50.5, None], pa.float32()), "h": pa.array([0.5, 1.5], pa.float16())})

    def to_c(row):  # type: ignore[no-untyped-def]
        row["temp_c"] = None if row["temp_f"] is None else (row["temp_f"] - 32) * 5 / 9
        row["h"] = row["h"] / 3
        return row

    stage = Python(function=to_c, mode="row", columns={"temp_c": "float32"})
    out = stage(c)
    assert not out.rejects
    assert out.batch.to_pylist() == [
        {"temp_f": 50.5, "h": 0.5 / 3, "temp_c": (50.5 - 32) * 5 / 9},
        {"temp_f": None, "h": 0.5, "temp_c": None},
    ]
    doubles = pa.schema([("temp_f", pa.float64()), ("h", pa.float64()), ("temp_c", pa.float64())])
    assert out.batch.schema == doubles == output_schema([stage], c.batch.schema)
    at_int = Python(function=lambda r: {**r, "n": r["temp_f"]}, mode="row", columns={"n": "int64"})(c)
    assert [r.reason for r in at_int.rejects] == ["'50.5' is not a valid int64"]  # a real rounding still is one


@pytest.mark.parametrize("target", ["sqlite", "leveldb"])
def test_row_mode_loads_values_computed_from_a_float32_parquet_column(tmp_path, target: str) -> None:  # type: ignore[no-untyped-def]
    """A pandas-written Parquet file's float32 column, through a row function, into each
    target; a later run, whose checkpoint records the column as the float64 stored (the files
    are read with float32, before the stages), loads another file the same way."""
    pd = pytest.importorskip("pandas")
    for name, temps in (("a", [50.0, 68.5]), ("b", [100.4])):
        frame = pd.DataFrame({"id": range(len(temps)), "temp_f": pd.Series(temps, dtype="float32")})
        frame["id"] += 10 if name == "b" else 0
        frame["temp_c"] = pd.Series([0.0] * len(temps), dtype="float32")  # filled in by the function
        frame.to_parquet(tmp_path / f"{name}.parquet")
    db = tmp_path / ("t.db" if target == "sqlite" else "t.ldb")
    where = {"table": "t"} if target == "sqlite" else {"key": "{id}"}

    def to_c(row):  # type: ignore[no-untyped-def]
        row["temp_c"] = (row["temp_f"] - 32) * 5 / 9
        return row

    stage = Python(function=to_c, mode="row")
    first = load(tmp_path / "a.parquet", db, **where, transforms=[stage])
    second = load([tmp_path / "a.parquet", tmp_path / "b.parquet"], db, **where, transforms=[stage])
    assert (first.rows_written, first.rows_rejected, second.rows_written, second.files_skipped) == (2, 0, 1, 1)
    expected = [(f, (f - 32) * 5 / 9) for f in (50.0, 68.5, float(pa.scalar(100.4, pa.float32()).as_py()))]
    if target == "sqlite":
        with sqlite3.connect(db) as conn:
            assert conn.execute("SELECT temp_f, temp_c FROM t ORDER BY id").fetchall() == expected
            [(schema,)] = conn.execute("SELECT value FROM _loader_state WHERE key = 'schema'").fetchall()
    else:
        schema = leveldb_peek(str(db), second.job)["schema"]
        ldb = plyvel.DB(str(db))
        try:
            assert [(json.loads(v)["temp_f"], json.loads(v)["temp_c"]) for _, v in ldb] == expected
        finally:
            ldb.close()
    assert json.loads(schema) == {"id": "int64", "temp_f": "float64", "temp_c": "float64"}


def test_row_mode_computes_into_nested_float32_as_float64() -> None:
    """A list of float32 kept what a function computed into it rounded to float32
    (``1.5 * 1.1`` stored as 1.649999976158142): nested floats widen as top-level ones do."""
    c = chunk_of(
        {
            "xs": pa.array([[1.5, 2.25], None], pa.list_(pa.float32())),
            "s": pa.array([{"f": 0.5}, {"f": None}], pa.struct([("f", pa.float16())])),
        }
    )

    def scale(row):  # type: ignore[no-untyped-def]
        xs = None if row["xs"] is None else [v * 1.1 for v in row["xs"]]
        f = row["s"]["f"]
        return {"xs": xs, "s": {"f": None if f is None else f / 3}}

    stage = Python(function=scale, mode="row")
    out = stage(c)
    assert not out.rejects
    assert out.batch.to_pylist() == [
        {"xs": [1.5 * 1.1, 2.25 * 1.1], "s": {"f": 0.5 / 3}},
        {"xs": None, "s": {"f": None}},
    ]
    widened = pa.schema([("xs", pa.list_(pa.float64())), ("s", pa.struct([("f", pa.float64())]))])
    assert out.batch.schema == widened == output_schema([stage], c.batch.schema)


def test_a_batch_function_returning_view_types_loads_as_a_reader_would(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """A batch function that builds its output with Polars returns string_view columns:
    a row rejected for a null key was an internal error (no ``take`` kernel for them)."""
    src = tmp_path / "in.csv"
    src.write_text("id,name\n1,a\n2,\n3,c\n")

    def as_views(batch: pa.RecordBatch) -> pa.RecordBatch:
        return batch.set_column(1, "name", batch.column(1).cast(pa.string_view()))

    db = tmp_path / "t.ldb"
    report = load(src, db, key="{name}", transforms=[Python(function=as_views)])
    assert (report.rows_written, report.rows_rejected) == (2, 1)
    ldb = plyvel.DB(str(db))
    try:
        assert [(k, json.loads(v)) for k, v in ldb] == [(b"a", {"id": 1, "name": "a"}), (b"c", {"id": 3, "name": "c"})]
    finally:
        ldb.close()


def test_a_batch_function_returning_extension_types_stores_them_as_a_reader_would(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """A UUID is its bytes (its JSON was the dashed text) and a bool8 a bool (it was TEXT '1')."""
    src = tmp_path / "in.csv"
    src.write_text("id\n1\n")

    def tagged(batch: pa.RecordBatch) -> pa.RecordBatch:
        n = batch.num_rows
        u = pa.ExtensionArray.from_storage(pa.uuid(), pa.array([b"\x01" * 16] * n, pa.binary(16)))
        b = pa.ExtensionArray.from_storage(pa.bool8(), pa.array([1] * n, pa.int8()))
        return batch.append_column("u", u).append_column("b", b)

    load(src, tmp_path / "t.db", table="t", transforms=[Python(function=tagged)])
    with sqlite3.connect(tmp_path / "t.db") as conn:
        assert conn.execute("SELECT u, b, typeof(b) FROM t").fetchall() == [(b"\x01" * 16, 1, "integer")]
    load(src, tmp_path / "t.ldb", key="{id}", transforms=[Python(function=tagged)])
    ldb = plyvel.DB(str(tmp_path / "t.ldb"))
    try:
        assert [json.loads(v) for _, v in ldb] == [{"id": 1, "u": "AQEBAQEBAQEBAQEBAQEBAQ==", "b": True}]
    finally:
        ldb.close()


def test_row_mode_a_new_columns_later_chunks_keep_the_type_its_first_chunk_gave_it() -> None:
    """A column the function adds undeclared was typed by each chunk's values: text '00004' in
    a later chunk went into the table's INTEGER column as 4, rejecting nothing."""
    stage = Python(function=lambda r: {**r, "zip": 12345 if r["id"] == 1 else f"{r['id']:05d}"}, mode="row")
    first = stage(chunk_of({"id": [1]}))
    assert first.batch.schema.field("zip").type == pa.int64()
    later = stage(chunk_of({"id": [2, 3]}, first_row=2))
    assert later.num_rows == 0 and later.batch.schema.field("zip").type == pa.int64()
    hint = "; declare the column's type in the stage's columns to change it"
    assert [(r.row, r.column, r.reason, r.values) for r in later.rejects] == [
        (2, "zip", "'00002' is not a valid int64" + hint, {"id": 2}),
        (3, "zip", "'00003' is not a valid int64" + hint, {"id": 3}),
    ]


def test_batch_mode_a_columns_later_batches_keep_the_type_its_first_batch_gave_it() -> None:
    def tag(batch: pa.RecordBatch) -> pa.RecordBatch:
        ids = batch.column("id").to_pylist()
        if ids and ids[0] < 3:
            return batch.append_column("tag", pa.array([i * 10 for i in ids], pa.int64()))
        return batch.append_column("tag", pa.array([None if i == 4 else f"{i:05d}" for i in ids], pa.string()))

    stage = Python(function=tag, name="transform[1] (python)")
    assert col(stage(chunk_of({"id": [1, 2]})), "tag") == [10, 20]
    later = stage(chunk_of({"id": [3, 4]}, first_row=3))
    hint = "; the function returned int64 for the column before: return one type from every batch"
    assert later.batch.to_pylist() == [{"id": 4, "tag": None}]
    assert later.batch.schema.field("tag").type == pa.int64()
    assert [(r.row, r.column, r.reason, r.values) for r in later.rejects] == [
        (3, "tag", "'00003' is not a valid int64" + hint, {"id": 3})
    ]


@pytest.mark.parametrize("mode", ["row", "batch"])
def test_a_column_of_another_kind_in_a_later_chunk_is_rejected_not_converted(tmp_path, mode: str) -> None:  # type: ignore[no-untyped-def]
    src = tmp_path / "in.csv"
    src.write_text("id\n" + "".join(f"{i}\n" for i in range(1, 9)), encoding="utf-8")
    db = tmp_path / "t.db"

    def zip_of(i: int) -> object:
        return 12340 + i if i <= 3 else f"{i:05d}"

    if mode == "row":
        stage = Python(function=lambda r: {**r, "zip": zip_of(r["id"])}, mode="row")
    else:
        stage = Python(
            function=lambda b: b.append_column("zip", pa.array([zip_of(i) for i in b.column("id").to_pylist()]))
        )
    report = load(src, db, table="t", transforms=[stage], sink_options={"alter": True}, run_options={"chunk_size": 3})
    assert (report.rows_written, report.rows_rejected) == (3, 5)
    assert sqlite3.connect(db).execute("SELECT id, zip, typeof(zip) FROM t ORDER BY id").fetchall() == [
        (1, 12341, "integer"),
        (2, 12342, "integer"),
        (3, 12343, "integer"),
    ]


MIXED = """
def z(row):
    # a float, and text in every third row past the first 100 (a later year's export)
    z = row["id"] / 1000
    return {**row, "z": str(z) if row["id"] > 100 and row["id"] % 3 == 0 else z}
"""


@pytest.mark.parametrize("engine", ["threads", "processes"])
def test_a_new_columns_values_of_two_kinds_in_a_chunk_reject_rows_on_every_engine(tmp_path: Path, engine: str) -> None:
    """hunt23a #7: on threads the first chunk typed z float64 and the text of later chunks
    was rejected row by row (exit 0); on processes a part's stage met both kinds in its first
    chunk and stopped the run (exit 65, "values of mixed types"). The first value's kind types
    the column, the other kind is rejected, on both."""
    from tests.reliability_util import ROOT, cli, reject_lines, write_job

    (tmp_path / "mixedz.py").write_text(MIXED)
    (tmp_path / "in.csv").write_text("id\n" + "".join(f"{i}\n" for i in range(1, 2001)))
    job = write_job(
        tmp_path / "job.toml",
        source={"path": "in.csv"},
        sink={"path": "t.db", "table": "t", "alter": True},
        run={"engine": engine, "chunk_size": 50, "part_size": 4096},
        transform=[{"type": "python", "function": "mixedz:z", "mode": "row"}],
    )
    # a real process: PYTHONPATH, which finds the stage's module, is read as an interpreter starts
    env = {"PYTHONPATH": f"{tmp_path}:{ROOT}"}
    p = cli("run", str(job), "--allow-python", "-q", cwd=tmp_path, extra_env=env, process=True)
    assert (p.returncode, p.stderr) == (0, "")
    texts = [i for i in range(101, 2001) if i % 3 == 0]
    rows = sqlite3.connect(tmp_path / "t.db").execute("SELECT id, z, typeof(z) FROM t ORDER BY id").fetchall()
    assert rows == [(i, i / 1000, "real") for i in range(1, 2001) if i not in texts]
    hint = "; declare the column's type in the stage's columns to change it"
    got = sorted((r["row"], r["reason"]) for r in reject_lines(tmp_path / "t.db.table-t.rejects.jsonl"))
    assert got == [(i, f"{str(i / 1000)!r} is not a valid float64" + hint) for i in texts]


def test_a_batch_function_failing_on_the_empty_batch_says_it_was_that_one(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """``output_schema`` calls a batch function with 0 rows first; its failure there read as
    one on the file's rows ("the function raised IndexError" for a 3-row file)."""
    import pyarrow.parquet as pq

    src = tmp_path / "p.parquet"
    pq.write_table(pa.table({"id": [1, 2, 3]}), src)

    def first(batch: pa.RecordBatch) -> pa.RecordBatch:
        return batch.append_column("first", pa.array([batch.column(0)[0].as_py()] * batch.num_rows))

    with pytest.raises(LoaderError) as info:
        load(src, tmp_path / "t.db", table="t", transforms=[first])
    assert info.value.exit_code == 65
    assert str(info.value) == (
        f"first: {src}: the function raised IndexError: index out of bounds, "
        "on the 0-row batch passed first to learn the columns the function returns"
    )
    assert info.value.hint == (
        "the function is called first with a batch of 0 rows (the input's columns), before any row is read, "
        "to learn the columns it returns: make it handle that batch too, returning 0 rows with the columns it adds"
    )


def test_a_stage_used_again_types_its_new_columns_anew_in_each_load(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """The type a column's first values gave it holds for one load: another load into another
    table with the same stage object types it by its own values."""
    src = tmp_path / "in.csv"
    src.write_text("id\n1\n", encoding="utf-8")
    kind: dict[str, object] = {"value": 7}
    stage = Python(function=lambda r: {**r, "x": kind["value"]}, mode="row")
    assert load(src, tmp_path / "a.db", table="t", transforms=[stage], sink_options={"alter": True}).rows_written == 1
    kind["value"] = "seven"
    report = load(src, tmp_path / "b.db", table="t", transforms=[stage], sink_options={"alter": True})
    assert (report.rows_written, report.rows_rejected) == (1, 0)
    assert sqlite3.connect(tmp_path / "b.db").execute("SELECT x FROM t").fetchall() == [("seven",)]


_BIG = [2**60, 2**53 + 1, 3, 10**18]  # float64 holds the first, third and fourth exactly
_ROUNDED = "'9007199254740993' would be stored as 9007199254740992.0 by float64"


def test_row_mode_declared_float_keeps_every_integer_it_holds_exactly() -> None:
    stage = Python(function=lambda r: {**r, "x": _BIG[r["id"] - 1]}, mode="row", columns={"x": "float64"})
    out = stage(chunk_of({"id": [1, 2, 3, 4]}))
    assert out.batch.to_pylist() == [{"id": 1, "x": 2.0**60}, {"id": 3, "x": 3.0}, {"id": 4, "x": 1e18}]
    assert [(r.row, r.column, r.reason) for r in out.rejects] == [
        (2, "x", f"{_ROUNDED} (declare the column as decimal(p, s) or string)")
    ]


def test_batch_mode_integers_into_a_float_column_keep_every_one_it_holds_exactly() -> None:
    def fn(batch: pa.RecordBatch) -> pa.RecordBatch:
        x = pa.array(_BIG[: batch.num_rows]) if batch.num_rows else pa.array([], pa.float64())
        return batch.append_column("x", x)

    stage = Python(function=fn)
    stage(chunk_of({"id": pa.array([], pa.int64())}))  # the 0-row batch makes x a float64
    out = stage(chunk_of({"id": [1, 2, 3, 4]}))
    assert out.batch.to_pylist() == [{"id": 1, "x": 2.0**60}, {"id": 3, "x": 3.0}, {"id": 4, "x": 1e18}]
    assert [(r.row, r.column) for r in out.rejects] == [(2, "x")]
    assert out.rejects[0].reason.startswith(f"{_ROUNDED} (declare")


def test_a_batch_function_returning_no_column_for_the_empty_batch_says_it_was_that_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A function that rebuilds its batch from rows (``RecordBatch.from_pylist``) returns one of
    no column for 0 rows: that said the stage "leaves no column of the input's"."""
    (tmp_path / "fns_no_column.py").write_text(
        "import pyarrow as pa\n"
        "def add(batch):\n"
        "    rows = batch.to_pylist()\n"
        "    for r in rows:\n"
        '        r["x"] = len(r["v"])\n'
        "    return pa.RecordBatch.from_pylist(rows)\n",
        encoding="utf-8",
    )
    (tmp_path / "a.csv").write_text("id,v\n1,ab\n", encoding="utf-8")
    (tmp_path / "job.toml").write_text(
        '[source]\npath = "a.csv"\n[sink]\ntype = "sqlite"\npath = "t.db"\ntable = "t"\n'
        '[[transform]]\ntype = "python"\nfunction = "fns_no_column:add"\nmode = "batch"\n',
        encoding="utf-8",
    )
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    assert main(["run", "job.toml", "--allow-python", "-q"]) == 65
    assert capsys.readouterr().err.splitlines()[-2:] == [
        "loader: error: transform[1] (python): a.csv: the function returned a batch with no columns, "
        "on the 0-row batch passed first to learn the columns the function returns",
        "  hint: make the function handle a batch of 0 rows: return a 0-row batch with the columns it adds",
    ]


def _run_job(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, module: str, code: str, stage: str = "") -> int:
    """``loader run`` of a.csv (ids 1 to 3 on lines 2 to 4) through ``module:fn``, made of ``code``."""
    (tmp_path / f"{module}.py").write_text(textwrap.dedent(code), encoding="utf-8")
    (tmp_path / "a.csv").write_text("id,v\n1,a\n2,b\n3,c\n", encoding="utf-8")
    (tmp_path / "job.toml").write_text(
        '[source]\npath = "a.csv"\n[sink]\ntype = "sqlite"\npath = "t.db"\ntable = "t"\n'
        f'[[transform]]\ntype = "python"\nfunction = "{module}:fn"\n{stage}',
        encoding="utf-8",
    )
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    return main(["run", "job.toml", "--allow-python", "-q"])


def test_a_batch_function_that_raises_names_the_batchs_first_and_last_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """docs/reliability.md's exit 65: the error names the file and where in it; a batch
    function's failure named the file alone."""
    code = """
        def fn(batch):
            if batch.num_rows:
                raise ValueError("boom")
            return batch
    """
    assert _run_job(tmp_path, monkeypatch, "fns_raise_lines", code) == 65
    assert capsys.readouterr().err.splitlines()[-2:] == [
        "loader: error: transform[1] (python): a.csv, lines 2-4: the function raised ValueError: boom",
        "  hint: fix the data or the stage, then rerun: committed work is kept and the rerun resumes",
    ]


def test_a_batch_functions_failure_names_the_batchs_rows_where_no_line_is_known(tmp_path: Path) -> None:
    import pyarrow.parquet as pq

    src = tmp_path / "p.parquet"
    pq.write_table(pa.table({"id": [1, 2, 3, 4]}), src)

    def fails(batch: pa.RecordBatch) -> pa.RecordBatch:
        if batch.num_rows:
            raise ValueError("boom")
        return batch

    with pytest.raises(LoaderError) as info:
        load(src, tmp_path / "t.db", table="t", transforms=[fails], run_options={"chunk_size": 2})
    assert str(info.value) == f"fails: {src}, rows 1-2: the function raised ValueError: boom"
    assert (info.value.row, info.value.last_row, info.value.line, info.value.last_line) == (1, 2, None, None)


def test_a_chunks_lines_name_a_batch_functions_failure_one_line_alone() -> None:
    def fails(batch: pa.RecordBatch) -> pa.RecordBatch:
        raise ValueError("boom")

    stage = Python(function=fails, name="transform[1] (python)")
    lines = dataclasses.replace(chunk_of({"id": [1, 2]}, file="in.csv", first_row=5), lines=pa.array([9, 11]))
    with pytest.raises(LoaderError) as info:
        stage(lines)
    assert str(info.value) == "transform[1] (python): in.csv, lines 9-11: the function raised ValueError: boom"
    one = dataclasses.replace(chunk_of({"id": [1]}, file="in.csv", first_row=5), lines=pa.array([9]))
    with pytest.raises(LoaderError) as info:
        stage(one)
    assert str(info.value) == "transform[1] (python): in.csv, line 9: the function raised ValueError: boom"


def test_a_batch_function_returning_a_dataframe_is_told_to_return_arrow(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A pandas DataFrame for every batch: the hint sent the user to handle a batch of 0 rows,
    which the function did."""
    code = """
        def fn(batch):
            return batch.to_pandas()
    """
    assert _run_job(tmp_path, monkeypatch, "fns_pandas_cli", code) == 65
    assert capsys.readouterr().err.splitlines()[-2:] == [
        "loader: error: transform[1] (python): a.csv: the function returned DataFrame, expected a pyarrow.RecordBatch "
        "or Table, on the 0-row batch passed first to learn the columns the function returns",
        "  hint: return a pyarrow.RecordBatch or Table, e.g. pa.Table.from_pandas(df, preserve_index=False)",
    ]


def test_a_plain_function_returning_a_dataframe_is_told_to_return_arrow(tmp_path: Path) -> None:
    src = tmp_path / "in.csv"
    src.write_text("id\n1\n", encoding="utf-8")
    with pytest.raises(LoaderError) as info:
        load(src, tmp_path / "t.db", table="t", transforms=[lambda b: b.to_pandas()])
    assert info.value.exit_code == 65
    assert str(info.value) == (
        f"<lambda>: {src}: the function returned DataFrame, expected a pyarrow.RecordBatch or Table, "
        "on the 0-row batch passed first to learn the columns the function returns"
    )
    assert (
        info.value.hint == "return a pyarrow.RecordBatch or Table, e.g. pa.Table.from_pandas(df, preserve_index=False)"
    )


def test_a_batch_function_returning_nothing_for_a_batch_of_rows_is_told_to_return_arrow() -> None:
    def forgot(batch: pa.RecordBatch) -> pa.RecordBatch | None:
        return batch if not batch.num_rows else None

    with pytest.raises(LoaderError) as info:
        Python(function=forgot, name="transform[1] (python)")(chunk_of({"id": [1, 2, 3]}, file="in.csv"))
    assert str(info.value) == (
        "transform[1] (python): in.csv, rows 1-3: the function returned NoneType, expected a pyarrow.RecordBatch or Table"
    )
    assert info.value.hint == (
        "return a pyarrow.RecordBatch or Table: the function returned nothing (is its return statement missing?)"
    )


def test_a_batch_function_that_raises_on_the_empty_batch_is_told_it_is_called_with_one_first(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    code = """
        def fn(batch):
            return batch.append_column("w", batch.column("missing"))
    """
    assert _run_job(tmp_path, monkeypatch, "fns_raise_empty", code) == 65
    assert capsys.readouterr().err.splitlines()[-2:] == [
        'loader: error: transform[1] (python): a.csv: the function raised KeyError: \'Field "missing" does not '
        "exist in schema', on the 0-row batch passed first to learn the columns the function returns",
        "  hint: the function is called first with a batch of 0 rows (the input's columns), before any row is read, "
        "to learn the columns it returns: make it handle that batch too, returning 0 rows with the columns it adds",
    ]


def test_a_row_function_returning_no_dict_names_the_row_and_line() -> None:
    stage = Python(function=lambda r: r if r["id"] != 2 else [r], mode="row", name="transform[1] (python)")
    chunk = dataclasses.replace(chunk_of({"id": [1, 2, 3]}, file="in.csv"), lines=pa.array([2, 4, 5]))
    with pytest.raises(LoaderError) as info:
        stage(chunk)
    assert str(info.value) == (
        "transform[1] (python): in.csv, line 4: the function returned list for a row; expected a dict or None"
    )
    assert (info.value.row, info.value.line) == (2, 4)


def test_a_key_or_column_the_function_leaves_out_is_null_in_either_mode(tmp_path: Path) -> None:
    """As docs/transforms.md says: the table's columns are known before any row is read (a row
    function's: the input's and the declared ones); what a function leaves out is NULL."""
    src, db = tmp_path / "in.csv", tmp_path / "t.db"
    src.write_text("id,v,w\n1,a,x\n2,b,y\n3,c,z\n", encoding="utf-8")

    def subset(row: dict[str, object]) -> dict[str, object]:
        return {"id": row["id"], "n": 1} if row["id"] != 2 else {"id": row["id"], "v": row["v"], "n": 2}

    row_stage = Python(function=subset, mode="row", columns={"n": "int64"})
    assert load(src, db, table="r", transforms=[row_stage]).rows_written == 3
    assert sqlite3.connect(db).execute("SELECT * FROM r ORDER BY id").fetchall() == [
        (1, None, None, 1),
        (2, "b", None, 2),
        (3, None, None, 1),
    ]

    def later_without_w(batch: pa.RecordBatch) -> pa.RecordBatch:
        return batch.drop_columns(["w"]) if batch.num_rows and batch.column("id")[0].as_py() > 1 else batch

    report = load(src, db, table="b", transforms=[later_without_w], run_options={"chunk_size": 1})
    assert report.rows_written == 3
    assert sqlite3.connect(db).execute("SELECT * FROM b ORDER BY id").fetchall() == [
        (1, "a", "x"),
        (2, "b", None),
        (3, "c", None),
    ]


def test_a_key_every_row_of_a_chunk_leaves_out_stays_a_column_for_later_stages(tmp_path: Path) -> None:
    """A row function's output has the input's columns in every chunk, as the dry run says: a
    later stage on a column no row of the chunk kept finds it (NULL), not 'no column'."""
    src, db = tmp_path / "in.csv", tmp_path / "t.db"
    src.write_text("id,island,w\n1,a,x\n2,b,y\n", encoding="utf-8")

    def without_island(row: dict[str, object]) -> dict[str, object]:
        return {k: v for k, v in row.items() if k != "island"}

    stages = [Python(function=without_island, mode="row"), Drop(columns=["island"])]
    assert load(src, db, table="t", transforms=stages).rows_written == 2
    assert sqlite3.connect(db).execute("SELECT * FROM t ORDER BY id").fetchall() == [(1, "x"), (2, "y")]


def test_a_row_function_that_reuses_its_output_dict_gives_each_row_its_own_values() -> None:
    """A function that clears and refills one dict (or reuses a list inside it) returns each
    row's values as they are then: the stage takes them at once, not after the chunk's last call."""
    out: dict[str, object] = {}

    def refill(row: dict[str, object]) -> dict[str, object]:
        out.clear()
        out.update(row)
        return out

    tags: list[object] = []
    inner: dict[str, object] = {}

    def reused_values(row: dict[str, object]) -> dict[str, object]:
        tags.clear()
        tags.append([row["id"]])  # a nested list, reused below it too
        inner["id"] = row["id"]
        return {**row, "tags": tags, "inner": inner}

    c = chunk_of({"id": [1, 2, 3], "name": ["a", "b", "c"]})
    assert Python(function=refill, mode="row")(c).batch.to_pylist() == c.batch.to_pylist()
    done = Python(function=reused_values, mode="row")(c).batch
    assert done.column("tags").to_pylist() == [[[1]], [[2]], [[3]]]
    assert done.column("inner").to_pylist() == [{"id": 1}, {"id": 2}, {"id": 3}]


def test_a_row_function_reusing_its_output_dict_loads_every_row_into_leveldb(tmp_path: Path) -> None:
    src, ldb = tmp_path / "in.csv", tmp_path / "t.ldb"
    src.write_text("id,name\n" + "".join(f"{i},n{i}\n" for i in range(5)), encoding="utf-8")
    out: dict[str, object] = {}

    def refill(row: dict[str, object]) -> dict[str, object]:
        out.clear()
        out.update(row)
        return out

    report = load(src, ldb, key="{name}", transforms=[Python(function=refill, mode="row")])
    assert report.rows_written == 5
    db = plyvel.DB(str(ldb))
    try:
        assert [k for k, _ in db.iterator() if k.startswith(b"n")] == [b"n0", b"n1", b"n2", b"n3", b"n4"]
    finally:
        db.close()
