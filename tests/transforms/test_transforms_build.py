"""build_stages (job-file tables), as_stage, apply, close_stages."""

from __future__ import annotations

import dataclasses
import tomllib
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pytest
from transforms_testutil import chunk_of, col

from loader import load
from loader.chunk import Chunk
from loader.errors import ConfigError, LoaderError, RejectLimitError, TransformError
from loader.sinks import get as sink_named
from loader.transforms import (
    STAGE_TYPES,
    Cast,
    Dedupe,
    Derive,
    FillNull,
    Filter,
    Rename,
    Split,
    Stage,
    apply,
    as_stage,
    build_stages,
    close_stages,
    output_schema,
)

JOB = """
[[transform]]
type = "cast"
columns = { age = "int64", price = "float64" }

[[transform]]
type = "filter"
where = "age >= 18 and country in ('NO', 'SE')"

[[transform]]
type = "derive"
columns = { total = "price * 2", label = "concat(name, ' (', country, ')')" }

[[transform]]
type = "rename"
columns = { name = "navn" }

[[transform]]
type = "default"
columns = { price = 0 }

[[transform]]
type = "dedupe"
columns = ["navn"]
"""


def specs(text: str = JOB) -> list[dict[str, Any]]:
    return tomllib.loads(text)["transform"]


def test_job_file_chain() -> None:
    stages = build_stages(specs())
    assert [s.name for s in stages] == [
        "transform[1] (cast)",
        "transform[2] (filter)",
        "transform[3] (derive)",
        "transform[4] (rename)",
        "transform[5] (default)",
        "transform[6] (dedupe)",
    ]
    assert isinstance(stages[0], Cast) and isinstance(stages[4], FillNull)
    assert all(isinstance(s, Stage) for s in stages)
    c = chunk_of(
        {
            "name": ["Åse", "Bo", "Cy", "Åse", "Di"],
            "age": ["34", "x", "17", "40", "20"],
            "price": ["1.5", "2", "3", None, "4"],
            "country": ["NO", "SE", "NO", "NO", "DK"],
        }
    )
    [out] = list(apply(stages, [c]))
    close_stages(stages)
    assert out.batch.schema.names == ["navn", "age", "price", "country", "total", "label"]
    assert col(out, "navn") == ["Åse"]
    assert col(out, "label") == ["Åse (NO)"]
    assert col(out, "total") == [3.0]
    # 5 read = 1 written + 1 rejected (age 'x') + 3 filtered (age 17, DK, duplicate Åse)
    assert len(out.rejects) == 1 and out.rejects[0].stage == "transform[1] (cast)"
    assert out.rows_filtered == 3
    assert out.rows_read == out.num_rows + len(out.rejects) + out.rows_filtered


def test_python_equivalents_match_the_job_keys() -> None:
    stages = [
        Cast(columns={"age": "int64"}),
        Filter(where="age >= 18"),
        Derive(columns={"x": "age * 2"}),
        Rename(columns={"x": "y"}),
    ]
    out = next(apply(stages, [chunk_of({"age": ["10", "20"]})]))
    assert col(out, "y") == [40]
    assert [s.name for s in stages] == ["cast", "filter", "derive", "rename"]


def test_every_type_is_buildable_from_a_table() -> None:
    minimal: dict[str, dict[str, Any]] = {
        "select": {"columns": ["a"]},
        "drop": {"columns": ["a"]},
        "rename": {"columns": {"a": "b"}},
        "reorder": {"columns": ["a"]},
        "flatten": {},
        "cast": {"columns": {"a": "int64"}},
        "filter": {"where": "a > 1"},
        "derive": {"columns": {"b": "a"}},
        "fill_null": {"columns": {"a": 0}},
        "default": {"columns": {"a": 0}},
        "trim": {"columns": ["a"]},
        "lower": {"columns": ["a"]},
        "upper": {"columns": ["a"]},
        "replace": {"column": "a", "pattern": "x", "replacement": "y"},
        "split": {"column": "a", "into": ["b", "c"]},
        "validate": {"rules": {"a": {"min": 0}}},
        "dedupe": {"columns": ["a"]},
        "python": {"function": "json:dumps"},
    }
    assert set(minimal) == set(STAGE_TYPES)
    stages = build_stages([{"type": t, **opts} for t, opts in minimal.items()])
    assert len(stages) == len(minimal)


def error_of(spec_list: list[Any]) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        build_stages(spec_list)
    return info.value


def test_unknown_type() -> None:
    e = error_of([{"type": "filter", "where": "true"}, {"type": "filtr", "where": "a"}])
    assert str(e) == (
        "transform[2]: type: unknown transform type 'filtr' (did you mean 'filter'?); types: "
        "select, drop, rename, reorder, flatten, cast, filter, derive, fill_null, default, trim, lower, upper, replace, "
        "split, validate, dedupe, python"
    )
    assert e.stage == "transform[2]"
    assert "type: required key is missing" in str(error_of([{"where": "x"}]))
    assert "transform[1]: expected a table" in str(error_of(["filter"]))


def test_unknown_key_suggests() -> None:
    e = error_of([{"type": "filter", "were": "age > 1"}])
    assert str(e) == "transform[1] (filter): were: unknown key (did you mean 'where'?); filter takes: where"
    assert e.stage == "transform[1] (filter)"
    e = error_of([{"type": "cast", "columns": {"a": "int64"}, "on_eror": "null"}])
    assert "on_eror: unknown key (did you mean 'on_error'?); cast takes: columns, formats, timezone, on_error" in str(e)
    assert "name: unknown key" in str(error_of([{"type": "drop", "columns": ["a"], "name": "x"}]))


def test_missing_key() -> None:
    assert str(error_of([{"type": "filter"}])) == "transform[1] (filter): where: required key is missing"


def test_bad_expression() -> None:
    e = error_of([{"type": "select", "columns": ["a"]}, {"type": "filter", "where": "age >= 18)"}])
    assert str(e) == "transform[2] (filter): where: unexpected ')' at position 10 in \"age >= 18)\""
    e = error_of([{"type": "derive", "columns": {"x": "__import__('os').system('rm -rf /')"}}])
    assert "transform[1] (derive): columns.x: unexpected '.' at position 17" in str(e)


def test_bad_type_name() -> None:
    e = error_of([{"type": "cast", "columns": {"age": "integer64"}}])
    assert str(e).startswith("transform[1] (cast): column 'age': columns.age: unknown type 'integer64'")
    assert e.stage == "transform[1] (cast)"
    assert e.hint and "int64" in e.hint


def test_bad_values() -> None:
    assert "transform[1] (filter): where: expected non-empty text, got 3" in str(
        error_of([{"type": "filter", "where": 3}])
    )
    assert "on_error: expected one of" in str(error_of([{"type": "cast", "columns": {"a": "int64"}, "on_error": "x"}]))
    assert "transform: expected a list" in str(error_of("nope"))  # type: ignore[arg-type]


def test_as_stage_wraps_batch_functions() -> None:
    def double(batch: pa.RecordBatch) -> pa.RecordBatch:
        return batch.set_column(0, "a", pc.multiply(batch.column(0), 2))

    stage = as_stage(double)
    assert stage.name == "double"
    assert col(stage(chunk_of({"a": [1, 2]})), "a") == [2, 4]
    f = Filter(where="a > 1")
    assert as_stage(f) is f

    bad = as_stage(lambda b: b.slice(1))
    with pytest.raises(LoaderError, match=r"returned 1 rows for 2; a batch function must keep the row count"):
        bad(chunk_of({"a": [1, 2]}))
    with pytest.raises(ConfigError):
        as_stage(42)  # type: ignore[arg-type]


def test_apply_is_lazy() -> None:
    seen: list[int] = []

    def source():  # type: ignore[no-untyped-def]
        for i in range(3):
            seen.append(i)
            yield chunk_of({"a": [i]}, first_row=i + 1)

    it = apply([Derive(columns={"b": "a + 1"})], source())
    assert seen == []
    first = next(it)
    assert seen == [0] and col(first, "b") == [1]
    assert [col(c, "b") for c in it] == [[2], [3]]


def test_close_stages_closes_dedupe() -> None:
    d = Dedupe(columns=["a"])
    list(apply([d], [chunk_of({"a": [1, 1]})]))
    assert d._store is not None
    close_stages([d, Filter(where="true")])
    assert d._store is None


def test_plan_style_empty_chunk_passes_every_stage() -> None:
    # The pipeline runs an empty chunk through the stages to learn the output schema.
    stages = build_stages(specs())
    empty = Chunk(
        batch=pa.RecordBatch.from_pylist(
            [],
            schema=pa.schema(
                [("name", pa.string()), ("age", pa.string()), ("price", pa.string()), ("country", pa.string())]
            ),
        ),
        file="x.csv",
        rows=pa.array([], pa.int64()),
        last_row=0,
        end={},
    )
    [out] = list(apply(stages, [empty]))
    assert out.batch.schema.names == ["navn", "age", "price", "country", "total", "label"]
    assert out.batch.schema.field("age").type == pa.int64()
    assert stages[-1]._store is None  # type: ignore[attr-defined]  # no temp file for a plan


def test_a_job_imports_only_the_stage_modules_it_uses() -> None:
    """A load without transforms does not pay for the expression parser at start."""
    import subprocess
    import sys

    code = (
        "import sys; from loader.transforms import build_stages; "
        "build_stages([]); assert 'loader.expr' not in sys.modules, 'imported early'; "
        "build_stages([{'type': 'filter', 'where': 'a > 1'}]); assert 'loader.expr' in sys.modules"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


class _Own:
    """A stage object of the user's (a name and a call), failing as told."""

    name = "my_stage"

    def __init__(self, outcome: Any) -> None:
        self.outcome = outcome

    def __call__(self, chunk: Chunk) -> Any:
        if isinstance(self.outcome, BaseException):
            raise self.outcome
        return self.outcome(chunk)


def test_a_stage_object_that_raises_is_a_transform_error_naming_it_the_file_and_the_rows() -> None:
    with pytest.raises(TransformError) as info:
        list(apply([Filter(where="true"), _Own(ValueError("bad"))], [chunk_of({"a": [1]}, file="in.csv")]))
    assert str(info.value) == "my_stage: in.csv, row 1: the stage raised ValueError: bad"
    assert info.value.exit_code == 65 and isinstance(info.value.__cause__, ValueError)


@pytest.mark.parametrize(("result", "kind"), [(lambda c: c.batch, "RecordBatch"), (lambda c: None, "NoneType")])
def test_a_stage_object_returning_no_chunk_is_a_transform_error(result: Any, kind: str) -> None:
    with pytest.raises(TransformError) as info:
        list(apply([_Own(result)], [chunk_of({"a": [1]}, file="in.csv")]))
    assert str(info.value) == f"my_stage: in.csv, row 1: the stage returned {kind}, expected a loader.chunk.Chunk"
    assert info.value.hint and "chunk.with_batch(batch)" in info.value.hint


@pytest.mark.parametrize("exc", [KeyboardInterrupt(), SystemExit(3), RejectLimitError("too many"), ConfigError("x")])
def test_a_stage_object_lets_interrupts_and_loader_errors_pass(exc: BaseException) -> None:
    with pytest.raises(type(exc)) as info:
        list(apply([_Own(exc)], [chunk_of({"a": [1]})]))
    assert info.value is exc


def test_a_load_with_a_failing_stage_object_stops_with_exit_65(tmp_path) -> None:  # type: ignore[no-untyped-def]
    src = tmp_path / "in.csv"
    src.write_text("a\n1\n")
    with pytest.raises(TransformError) as info:
        load(src, tmp_path / "t.db", table="t", transforms=[_Own(ValueError("bad"))])
    # the 0-row batch the loader passes first, to learn the stage's columns, says so
    assert str(info.value) == (
        f"my_stage: {src}: the stage raised ValueError: bad, on the 0-row batch passed first to learn "
        "the columns the stage returns"
    )
    assert info.value.hint == (
        "the stage is called first with a chunk of 0 rows (the input's columns), before any row is read, "
        "to learn the columns it returns: make it handle that chunk too"
    )
    assert info.value.report is not None
    assert (info.value.report.status, info.value.report.exit_code) == ("failed", 65)


def test_a_stage_object_keeping_rows_by_a_mask_from_a_python_list_loads(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """The 0-row batch passed first made ``pa.array([])``, typed null, which keep() refused:
    "the stage raised ArrowInvalid: Invalid null value" on every load."""
    src = tmp_path / "in.csv"
    src.write_text("name\nann\nbarbara\ncy\n")

    def short(chunk: Chunk) -> Chunk:
        return chunk.keep(pa.array([len(n) < 5 for n in chunk.batch.column("name").to_pylist()]))

    report = load(src, tmp_path / "t.db", table="t", transforms=[_Own(short)])
    assert (report.rows_written, report.rows_filtered) == (2, 1)


@pytest.mark.parametrize(
    ("stage", "twins"),
    [
        (Derive(columns={"ID": "id * 2"}, name="transform[1] (derive)"), "'id' and 'ID'"),
        (Rename(columns={"c": "B"}, name="transform[1] (rename)"), "'b' and 'B'"),
        (Split(column="b", into=["C", "d"], name="transform[1] (split)"), "'C' and 'c'"),
    ],
)
def test_a_stage_making_two_names_sqlite_takes_for_one_is_a_config_error(stage: Stage, twins: str) -> None:
    """Such a load failed at the CREATE TABLE ("duplicate column name: ID", exit 1) after
    validate had said ok; LevelDB's JSON keys tell them apart."""
    schema = pa.schema({"id": pa.int64(), "b": pa.string(), "c": pa.int64()})
    with pytest.raises(ConfigError) as e:
        output_schema([stage], schema, "case.csv", name_clash=sink_named("sqlite").name_clash)
    assert str(e.value) == f"{stage.name}: case.csv: columns {twins} differ only in case: one column to SQLite"
    assert e.value.hint == "rename one of them, or drop one, in the stage"
    names = output_schema([stage], schema, "case.csv", name_clash=sink_named("leveldb").name_clash).names
    assert sum(f"'{n}'" in twins for n in names) == 2  # both kept: two keys of LevelDB's JSON


def test_names_the_input_had_already_in_two_cases_are_no_stage_s_fault() -> None:
    schema = pa.schema({"id": pa.int64(), "ID": pa.int64()})  # a reader's source: renamed by the reader
    out = output_schema([Derive(columns={"x": "id"})], schema, name_clash=sink_named("sqlite").name_clash)
    assert out.names == ["id", "ID", "x"]


def test_a_column_a_stage_needs_that_a_file_lacks_names_the_file() -> None:
    schema = pa.schema({"id": pa.int64(), "b": pa.int64()})
    with pytest.raises(ConfigError) as e:
        output_schema([Filter(where="a > 1", name="transform[1] (filter)")], schema, "mf/f2.csv")
    assert e.value.file == "mf/f2.csv"
    assert str(e.value).startswith("transform[1] (filter): mf/f2.csv: where: unknown column 'a'")


def test_a_stage_that_leaves_no_column_is_a_config_error_naming_it() -> None:
    """A drop of every column printed an empty schema and "ok", and the run failed on
    ``CREATE TABLE "t" ()`` with exit 1."""
    from loader.transforms import Drop, Select

    schema = pa.schema({"id": pa.int64(), "name": pa.string()})
    stages: list[Stage] = [Select(columns=["id"]), Drop(columns=["id"], name="transform[2] (drop)")]
    with pytest.raises(ConfigError) as e:
        output_schema(stages, schema, "d.csv")
    assert (e.value.exit_code, str(e.value)) == (
        2,
        "transform[2] (drop): d.csv: the stage leaves no column of the input's (id)",
    )
    assert e.value.hint == "keep at least one column for the target"


@pytest.mark.parametrize("command", ["validate", "run"])
@pytest.mark.parametrize("sink", ["d.db", "d.ldb"])
def test_a_job_whose_stages_drop_every_column_stops_before_writing(tmp_path, command: str, sink: str) -> None:  # type: ignore[no-untyped-def]
    from tests.reliability_util import cli

    (tmp_path / "d.csv").write_text("id,name\n1,a\n", encoding="utf-8")
    where = 'table = "t"' if sink.endswith(".db") else 'key = "{id}"'
    job = tmp_path / "drop.toml"
    job.write_text(
        f'[source]\npath = "d.csv"\n[[transform]]\ntype = "drop"\ncolumns = ["id", "name"]\n'
        f'[sink]\npath = "{sink}"\n{where}\n',
        encoding="utf-8",
    )
    p = cli(command, str(job))
    assert p.returncode == 2
    assert p.stderr.splitlines()[0] == (
        f"loader: error: transform[1] (drop): {tmp_path / 'd.csv'}: the stage leaves no column of the input's (id, name)"
    )
    assert not (tmp_path / sink).exists()


def test_a_column_missing_after_a_row_function_hints_to_declare_it_there() -> None:
    """A filter over a column a row function adds undeclared said only "unknown column 'extra'"
    (exit 2): the stages after a row function see the columns it declares, no other."""
    from loader.transforms import Python

    schema = pa.schema({"id": pa.int64()})
    adds = Python(function=lambda r: {**r, "extra": 1}, mode="row", name="transform[1] (python)")
    with pytest.raises(ConfigError) as e:
        output_schema([adds, Filter(where="extra > 1", name="transform[2] (filter)")], schema, "f.csv")
    declare = (
        'if transform[1] (python) adds it, declare it there: columns = { name = "type" } '
        "(the stages after a row function know only the columns it declares)"
    )
    assert e.value.hint == declare
    with pytest.raises(ConfigError) as e:
        output_schema([adds, Rename(columns={"extra": "x"})], schema, "f.csv")
    assert e.value.hint == "columns are: id; " + declare  # the hint it had, then this one
    declared = Python(function=lambda r: {**r, "extra": 1}, mode="row", columns={"extra": "int64"})
    assert output_schema([declared, Filter(where="extra > 1")], schema).names == ["id", "extra"]


# Every stage type (``default`` is ``fill_null``), with options it runs with on ``_DATA``.
_EVERY_STAGE = {
    "select": {"columns": ["id"]},
    "drop": {"columns": ["name"]},
    "rename": {"columns": {"id": "key"}},
    "reorder": {"columns": ["name"]},
    "flatten": {},
    "cast": {"columns": {"id": "string"}},
    "filter": {"where": "id > 1"},
    "derive": {"columns": {"x": "id + 1"}},
    "fill_null": {"columns": {"name": "?"}},
    "trim": {"columns": ["name"]},
    "lower": {"columns": ["name"]},
    "upper": {"columns": ["name"]},
    "replace": {"column": "name", "pattern": "a", "replacement": "b"},
    "split": {"column": "name", "into": ["p", "q"], "separator": " "},
    "validate": {"rules": {"id": {"min": 0, "unique": True}}},
    "dedupe": {"columns": ["id"]},
    "python": {"function": lambda batch: batch},
}
_DATA = {"id": [1, 2, 2], "name": ["a b", None, "c d"]}


def test_every_stage_type_is_in_the_test_of_loads_sharing_a_stage() -> None:
    assert set(_EVERY_STAGE) == set(STAGE_TYPES) - {"default"}


def _state(stage: Stage) -> dict[str, Any]:
    """A stage's attributes: each object it holds, and a list's or dict's values as they are now."""
    return {
        k: dict(v) if isinstance(v, dict) else list(v) if isinstance(v, list) else id(v) for k, v in vars(stage).items()
    }


@pytest.mark.parametrize("kind", sorted(_EVERY_STAGE))
def test_each_loads_copy_of_a_stage_learns_for_itself(kind: str) -> None:
    """A load runs its own copy of a caller's stage (``for_load``): what it learns as it runs (a
    schema's checks, a key store, the types a function's columns settled) is neither the shared
    object's nor another load's, however the caller used the object before."""
    stage = STAGE_TYPES[kind](**_EVERY_STAGE[kind])
    stage(chunk_of(_DATA))  # the caller's own use of it, before any load
    before = _state(stage)
    other = {"name": ["x y"], "id": pa.array([7], pa.int32()), "z": [0.5]}  # another schema
    copies = [stage.for_load() for _ in range(2)]
    try:
        for own in copies:
            per_run = [f.name for f in dataclasses.fields(own) if f.metadata.get("per_run")]
            assert all(getattr(own, name) is not getattr(stage, name) for name in per_run), per_run
            own(chunk_of(_DATA))
            own(chunk_of(other, first_row=4))
        assert _state(stage) == before
    finally:
        close_stages([stage, *copies])
