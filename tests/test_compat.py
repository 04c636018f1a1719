"""loader.compat: each work-around still works on the library versions installed."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.csv as pacsv
import pytest

from loader.compat import (
    CHECKED_PYARROW,
    CHECKED_PYTHON,
    InvalidRows,
    call_function,
    cast_options,
    compute_function,
    invalid_csv_rows,
    read_json_block,
)

ROOT = Path(__file__).parents[1]


def test_pyarrow_version_was_checked() -> None:
    major = int(pa.__version__.split(".")[0])
    assert major in CHECKED_PYARROW, (
        f"pyarrow {pa.__version__}: check loader/compat.py again, then widen CHECKED_PYARROW"
    )


def test_python_version_was_checked() -> None:
    assert sys.version_info[0] == 3 and sys.version_info[1] in CHECKED_PYTHON, (
        f"Python {sys.version.split()[0]}: check idle_pool_threads and pool_threads in loader/compat.py again, then widen CHECKED_PYTHON"
    )


def test_idle_pool_threads_are_a_pools_workers_waiting_for_work_and_no_others() -> None:
    """A pool's worker between tasks is idle; one running a task, and a plain thread
    waiting on the same kind of lock, are not."""
    import threading
    from concurrent.futures import ThreadPoolExecutor

    from loader.compat import idle_pool_threads, pool_threads

    go = threading.Event()
    plain = threading.Thread(target=go.wait)
    plain.start()
    with ThreadPoolExecutor(2) as pool:
        try:
            pool.submit(lambda: None).result()
            workers = {t.ident for t in pool._threads}
            for _ in range(200):  # the worker goes back to its queue after the task's result is set
                if workers <= idle_pool_threads():
                    break
                threading.Event().wait(0.01)
            assert workers <= idle_pool_threads()
            assert plain.ident not in idle_pool_threads()
            assert threading.get_ident() not in idle_pool_threads()
            started = threading.Event()
            busy = pool.submit(lambda: (started.set(), go.wait()))
            assert started.wait(10)
            running = {t.ident for t in pool._threads} - idle_pool_threads()
            assert len(running) == 1 and running <= {t.ident for t in pool._threads}
            # idle or running a task, a pool's worker; the plain thread and this one are none
            assert pool_threads() >= {t.ident for t in pool._threads}
            assert not {plain.ident, threading.get_ident()} & pool_threads()
        finally:
            go.set()
            plain.join()
        busy.result()


def _run(code: str) -> list[str]:
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert done.returncode == 0, done.stderr
    return done.stdout.split()


def test_the_command_keeps_pyarrow_from_importing_pandas_and_user_code_still_gets_it(tmp_path: Path) -> None:
    pytest.importorskip("pandas")
    (tmp_path / "in.csv").write_text("id,v\n1,2.5\n2,x\n")
    code = (
        "import sys, pyarrow as pa\n"
        "from loader import __main__ as command\n"
        f"sys.argv = ['loader', 'load', {str(tmp_path / 'in.csv')!r}, {str(tmp_path / 'o.db')!r}, '--quiet']\n"
        "code = command.main()\n"
        "print(code, 'pandas' in sys.modules)\n"
        # code that is not loader's (a python stage, the caller) still imports pandas through pyarrow
        "df = pa.table({'a': [1, 2]}).to_pandas()\n"
        "print(type(df).__name__, pa.Table.from_pandas(df).num_rows)\n"
    )
    assert _run(code) == ["0", "False", "DataFrame", "2"]


def test_a_library_load_keeps_pyarrow_from_importing_pandas_and_the_host_still_gets_it(tmp_path: Path) -> None:
    """From Python too: the load's own conversions import no pandas; a stage's ``to_pandas``
    does, and the host's own import afterwards is pandas to pyarrow again (a Series' NaN
    is a null, a Categorical a dictionary), though pyarrow's probe was refused before."""
    pytest.importorskip("pandas")
    (tmp_path / "in.csv").write_text("id,v\n1,2.5\n2,x\n")
    code = (
        "import sys, pyarrow as pa, loader\n"
        f"r = loader.load({str(tmp_path / 'in.csv')!r}, {str(tmp_path / 'o.db')!r}, table='t')\n"
        "print(r.status, 'pandas' in sys.modules)\n"
        "def stage(batch):\n"
        "    return batch.append_column('big', pa.array(batch.to_pandas()['id'] > 1))\n"
        f"r = loader.load({str(tmp_path / 'in.csv')!r}, {str(tmp_path / 'p.db')!r}, table='t', transforms=[stage])\n"
        "print(r.status, r.rows_written, 'pandas' in sys.modules)\n"
        "import numpy as np, pandas as pd\n"
        "print(pa.array(pd.Series([1.0, np.nan])).null_count, pa.types.is_dictionary(pa.array(pd.Categorical(['a'])).type))\n"
    )
    assert _run(code) == ["ok", "False", "ok", "2", "True", "1", "True"]


def test_the_hosts_pandas_is_pandas_to_pyarrow_after_a_refused_probe() -> None:
    """A host that imports pandas only after a load (whose conversions had pyarrow's probe
    refused) gets pandas' conversions from pyarrow, not a plain sequence's."""
    pytest.importorskip("pandas")
    code = (
        "import sys, pyarrow as pa, loader\n"
        "from loader import convert  # makes Arrow arrays as it is imported\n"
        "print('pandas' in sys.modules)\n"
        "import numpy as np, pandas as pd\n"
        "print(pa.array(pd.Series([1.0, np.nan])).null_count, pa.types.is_dictionary(pa.array(pd.Categorical(['a'])).type))\n"
    )
    assert _run(code) == ["False", "1", "True"]


def test_without_the_command_pyarrow_imports_pandas_as_before() -> None:
    """The probe is real: without spare_pandas_import, one Arrow conversion imports pandas
    (if this starts failing, pyarrow stopped probing and loader.compat can go)."""
    pytest.importorskip("pandas")
    assert _run("import sys, pyarrow as pa; pa.array([1]); print('pandas' in sys.modules)") == ["True"]


def test_compute_functions_come_from_the_registry_with_their_options_and_arity() -> None:
    import pyarrow.compute as arrow_pc

    func, options, arity = compute_function("utf8_lpad")
    assert (options, arity) == (arrow_pc.PadOptions, 1)
    assert func.call([pa.array(["a"])], options(3, "0")).to_pylist() == ["00a"]
    assert compute_function("binary_join_element_wise")[1:] == (arrow_pc.JoinOptions, Ellipsis)
    assert compute_function("invert")[1] is None
    with pytest.raises(pa.ArrowKeyError):
        compute_function("no_such_kernel")
    assert call_function("add", [pa.array([1]), pa.array([2])]).to_pylist() == [3]
    assert cast_options(pa.int8(), safe=False) == arrow_pc.CastOptions.unsafe(pa.int8())
    assert cast_options(pa.int8(), safe=True) == arrow_pc.CastOptions.safe(pa.int8()) != cast_options(pa.int8(), False)


def _parse(data: bytes, handler: InvalidRows) -> pa.Table:
    parse = pacsv.ParseOptions(invalid_row_handler=handler)
    convert = pacsv.ConvertOptions(column_types={"a": pa.binary(), "b": pa.binary()})
    return pacsv.read_csv(pa.BufferReader(data), parse_options=parse, convert_options=convert)


def test_pyarrow_tells_of_an_undecodable_malformed_row_only_through_the_unraisable_hook() -> None:
    """A malformed row of UTF-8 reaches the handler; one that is not UTF-8 fails the whole
    parse, and only the unraisable hook hears why (if pyarrow starts handing such rows to
    the handler, invalid_csv_rows can go)."""
    hook = sys.unraisablehook
    with invalid_csv_rows() as invalid:
        assert sys.unraisablehook is not hook
        table = _parse(b"a,b\n1,2\n3,4,5\n6,7\n", invalid)
    assert table.num_rows == 2 and [r.text for r in invalid.rows] == ["3,4,5"] and not invalid.undecodable
    with invalid_csv_rows() as invalid, pytest.raises(pa.ArrowInvalid):
        _parse(b"a,b\n1,2\n3,\xff4,5\n6,7\n", invalid)
    assert invalid.undecodable and invalid.rows == []
    assert sys.unraisablehook is hook


def test_other_unraisable_errors_still_reach_the_hook_before(monkeypatch: pytest.MonkeyPatch) -> None:
    heard: list[type[BaseException]] = []
    monkeypatch.setattr(sys, "unraisablehook", lambda u: heard.append(u.exc_type))

    class Broken:
        def __del__(self) -> None:
            raise KeyError("in __del__")

    with invalid_csv_rows(), invalid_csv_rows():  # nested, as parse workers are
        Broken()
    assert heard == [KeyError]


def test_parquet_is_read_without_pyarrow_parquet_and_its_filesystems(tmp_path: Path) -> None:
    """A Parquet load imports neither ``pyarrow.parquet`` nor ``pyarrow.fs`` (whose S3
    libraries stay resident), and reads every row and the schema through ``_parquet``."""
    import pyarrow.parquet as pq

    pq.write_table(pa.table({"id": list(range(5000)), "s": ["x"] * 5000}), tmp_path / "in.parquet", row_group_size=1000)
    code = (
        "import sys, sqlite3\n"
        "from loader import __main__ as command\n"
        f"sys.argv = ['loader', 'load', {str(tmp_path / 'in.parquet')!r}, {str(tmp_path / 'o.ldb')!r}, '--key', '{{id}}', '--quiet']\n"
        "code = command.main()\n"
        "import plyvel\n"
        f"db = plyvel.DB({str(tmp_path / 'o.ldb')!r})\n"
        "print(code, 'pyarrow.parquet' in sys.modules, 'pyarrow.fs' in sys.modules, sum(1 for _ in db), db.get(b'4999'.rjust(20, b'0')))\n"
    )
    assert _run(code) == ["0", "False", "False", "5000", """b'{"id":4999,"s":"x"}'"""]


def test_digests_come_from_cpythons_own_modules_alike_and_a_load_maps_no_libcrypto(tmp_path: Path) -> None:
    import hashlib

    from loader.compat import sha1, sha256

    for data in (b"", b"abc", bytes(range(256)) * 1000):
        assert sha256(data).hexdigest() == hashlib.sha256(data).hexdigest()
        assert sha1(data).hexdigest() == hashlib.sha1(data).hexdigest()
    h = sha256()
    h.update(b"ab")
    h.update(b"c")
    assert h.hexdigest() == hashlib.sha256(b"abc").hexdigest()
    (tmp_path / "in.csv").write_text("id,v\n3,x\n1,y\n2,z\n")
    code = (
        "import sys\n"
        "from loader import __main__ as command\n"
        f"sys.argv = ['loader', 'load', {str(tmp_path / 'in.csv')!r}, {str(tmp_path / 'o.ldb')!r}, '--key', '{{id}}', '--quiet']\n"
        "print(command.main(), '_hashlib' in sys.modules)\n"
    )
    assert _run(code) == ["0", "False"]  # the file's fingerprint and the sort's run names were made


def _bootstrapping_in_child(out: Any) -> None:
    from loader.compat import spawn_bootstrapping

    out.put(spawn_bootstrapping())


def test_spawn_bootstrapping_is_set_only_while_a_spawned_child_prepares() -> None:
    """multiprocessing's spawned child sets ``_inheriting`` around ``prepare`` (which imports
    the main module) and deletes it before the task runs; the parent never has it."""
    import inspect
    import multiprocessing
    import multiprocessing.spawn

    from loader.compat import spawn_bootstrapping

    source = inspect.getsource(multiprocessing.spawn._main)
    assert "_inheriting = True" in source and "del process.current_process()._inheriting" in source
    assert spawn_bootstrapping() is False
    ctx = multiprocessing.get_context("spawn")
    out = ctx.Queue()
    child = ctx.Process(target=_bootstrapping_in_child, args=(out,))
    child.start()
    assert out.get(timeout=60) is False  # the task runs after the flag is gone
    child.join(60)
    assert child.exitcode == 0


NULL_FIRST = b'null\n{"id":1}\n'


@pytest.mark.skipif(pa.__version__.split(".")[0] != "26", reason="the crash reproduces with pyarrow 26")
def test_pyarrow_crashes_on_a_json_block_starting_with_null_and_read_json_block_refuses_it() -> None:
    """pyarrow 26's JSON reader segfaults on a buffer whose first value is ``null`` (pandas
    writes a missing record so), with or without a schema; the guard refuses such a block."""
    raw = f"import pyarrow as pa, pyarrow.json as j; j.read_json(pa.BufferReader({NULL_FIRST!r}))"
    crashed = subprocess.run([sys.executable, "-c", raw], capture_output=True, cwd=ROOT, timeout=120)
    assert crashed.returncode == -signal.SIGSEGV
    guarded = (
        "import pyarrow as pa, pyarrow.json as j\n"
        "from loader.compat import read_json_block\n"
        "try:\n"
        f"    read_json_block({NULL_FIRST!r}, j.ReadOptions(use_threads=False), None)\n"
        "except pa.ArrowInvalid as exc:\n"
        "    print('refused:', exc)\n"
    )
    assert " ".join(_run(guarded)) == "refused: a JSON block's first value is not an object"


@pytest.mark.parametrize("data", [NULL_FIRST, b"\n  null\n", b"\xef\xbb\xbfnull\n", b"[1]\n", b"1\n{}\n", b'"s"\n'])
def test_read_json_block_refuses_a_block_whose_first_value_is_not_an_object(data: bytes) -> None:
    import pyarrow.json as pajson

    with pytest.raises(pa.ArrowInvalid, match="first value is not an object"):
        read_json_block(data, pajson.ReadOptions(use_threads=False), None)


def test_read_json_block_reads_a_block_of_objects_as_pyarrow_does() -> None:
    import pyarrow.json as pajson

    table = read_json_block(b'\xef\xbb\xbf\n {"id":1}\n{"id":2}\n', pajson.ReadOptions(use_threads=False), None)
    assert table.to_pylist() == [{"id": 1}, {"id": 2}]
    with pytest.raises(pa.ArrowInvalid, match="Empty JSON file"):
        read_json_block(b"", pajson.ReadOptions(use_threads=False), None)
