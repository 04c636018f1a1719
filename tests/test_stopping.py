"""A stop request is the run's that handles signals: other runs neither see it nor clear it."""

from __future__ import annotations

import contextlib
import io
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.csv as pacsv
import pytest

from loader import InterruptedLoad, JobConfig, Pipeline, RunConfig, SinkConfig, SourceConfig, load, stopping
from loader.cli import main
from loader.errors import ConfigError
from loader.pipeline import _Signals
from tests.conftest import sqlite_rows
from tests.reliability_util import env, wait_until


def in_thread(work: object) -> BaseException | None:
    """What ``work()`` raised in a thread of its own (None: nothing)."""
    raised: list[BaseException] = []

    def target() -> None:
        try:
            work()  # type: ignore[operator]
        except BaseException as exc:
            raised.append(exc)

    t = threading.Thread(target=target)
    t.start()
    t.join()
    return raised[0] if raised else None


def test_only_the_run_that_handles_signals_sees_its_stop_request() -> None:
    with _Signals(True) as signals:
        os.kill(os.getpid(), signal.SIGINT)
        while signals.signum is None:  # the handler runs in this thread, between two bytecodes
            time.sleep(0.001)
        assert in_thread(stopping.check) is None  # another thread's run
        with _Signals(False):
            stopping.check()  # a run here that handles no signals
        with pytest.raises(InterruptedLoad) as info:
            stopping.check()
        assert info.value.exit_code == 130


def test_a_run_ending_elsewhere_keeps_this_runs_stop_request() -> None:
    with _Signals(True):
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(0.01)

        def other_run() -> None:
            with _Signals(True):  # not the main thread: installs nothing
                pass

        assert in_thread(other_run) is None
        with pytest.raises(InterruptedLoad) as info:
            stopping.check()
        assert info.value.exit_code == 143
    stopping.check()  # the run ended: nothing asks to stop any more


def test_a_signal_stops_the_run_that_handles_it_and_not_a_load_in_another_thread(
    tmp_path: Path, data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    heard = threading.Event()
    handle = _Signals._handle

    def handled(self: _Signals, signum: int, frame: object) -> None:
        handle(self, signum, frame)
        heard.set()

    monkeypatch.setattr(_Signals, "_handle", handled)
    other: list[object] = []

    def slow(batch: pa.RecordBatch) -> pa.RecordBatch:  # on the handling run's read-ahead thread
        if not heard.is_set():
            os.kill(os.getpid(), signal.SIGINT)
            assert heard.wait(10)
            try:  # a load of its own in this thread, while the stop request stands
                other.append(load(data_dir / "small.csv", tmp_path / "xb.db", table="t"))
            except BaseException as exc:
                other.append(exc)
        return batch

    src = tmp_path / "big.csv"
    src.write_text("id\n" + "".join(f"{i}\n" for i in range(3000)))
    job = JobConfig(
        source=SourceConfig(path=[str(src)]),
        sink=SinkConfig(path=str(tmp_path / "a.db"), batch_size=1000),
        run=RunConfig(chunk_size=1000),
    )
    with pytest.raises(InterruptedLoad) as info:
        Pipeline(job, transforms=[slow], handle_signals=True).run()
    assert (info.value.exit_code, str(info.value)) == (130, "stopped by SIGINT; committed work is kept")
    (report,) = other
    assert getattr(report, "status", report) == "ok"
    assert sqlite_rows(tmp_path / "xb.db", "SELECT count(*) FROM t") == [(2,)]


@pytest.fixture
def listening_early():  # type: ignore[no-untyped-def]
    """The command's first line (``loader.__main__``), undone after the test; Python's own
    handlers before it, as in a terminal (a background job of a script inherits SIGINT ignored)."""
    old = {sig: signal.getsignal(sig) for sig in (signal.SIGTERM, signal.SIGINT)}
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    stopping.listen_early()
    try:
        yield
    finally:
        stopping.take_early()
        for sig, handler in old.items():
            signal.signal(sig, handler)


@pytest.mark.usefixtures("listening_early")
def test_a_signal_while_the_command_starts_stops_its_run_with_a_report(tmp_path: Path) -> None:
    """SIGTERM before the run's handlers were in place killed the process unsaid: no message,
    no report. Noted from the command's first line, it stops the run at its first boundary."""
    src = tmp_path / "in.csv"
    src.write_text("id\n1\n2\n", encoding="utf-8")
    signal.raise_signal(signal.SIGTERM)  # while the command parses its flags, imports, globs
    job = JobConfig(
        source=SourceConfig(path=[str(src)]),
        sink=SinkConfig(path=str(tmp_path / "o.db"), table="t"),
        run=RunConfig(report=str(tmp_path / "r.json")),
    )
    with pytest.raises(InterruptedLoad) as stopped:
        Pipeline(job, handle_signals=True).run()
    assert stopped.value.exit_code == 143
    assert stopped.value.report is not None and stopped.value.report.status == "interrupted"
    assert (tmp_path / "r.json").exists() and stopping.take_early() is None


@pytest.mark.usefixtures("listening_early")
def test_a_command_that_runs_no_load_takes_python_s_handlers_back_and_a_noted_signal_acts() -> None:
    signal.raise_signal(signal.SIGINT)
    with pytest.raises(KeyboardInterrupt):
        stopping.stop_listening_early()  # inspect, validate: Ctrl-C as usual
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL


@pytest.mark.usefixtures("listening_early")
def test_as_pid_1_a_command_that_runs_no_load_ends_on_sigterm_as_its_default_action_would(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """PID 1 (a container without an init): the kernel drops a default-action signal, so
    SIG_DFL back made inspect and validate ignore SIGTERM for their whole run."""
    monkeypatch.setattr(stopping.os, "getpid", lambda: 1)
    stopping.stop_listening_early()
    assert signal.getsignal(signal.SIGTERM) is stopping._as_default
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # Python's own: it acts as PID 1 too


@pytest.mark.parametrize("command", [["inspect", "-"], ["run", "JOB", "--dry-run"]])
def test_as_pid_1_inspect_and_a_dry_run_stop_on_sigterm_with_143(tmp_path: Path, command: list[str]) -> None:
    """The command as PID 1 of a PID namespace, reading a standard input that stays open (the
    dry run: 3,000 files to look at, seconds of work, which a dry run of standard input does
    not read): it ran on, SIGTERM after SIGTERM, until SIGKILL."""
    folder = tmp_path / "in"
    folder.mkdir()
    for i in range(3000):
        (folder / f"f{i}.csv").write_text(f"id,v\n{i},a\n")
    job = tmp_path / "job.toml"
    job.write_text(f'[source]\npath = "{folder}/*.csv"\n[sink]\npath = "{tmp_path / "t.db"}"\ntable = "t"\n')
    args = [str(job) if a == "JOB" else a for a in command]
    unshare = ["unshare", "--pid", "--fork", "--mount-proc", sys.executable, "-m", "loader", *args]
    proc = subprocess.Popen(
        unshare, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env()
    )
    try:
        children = Path(f"/proc/{proc.pid}/task/{proc.pid}/children")
        wait_until(lambda: proc.poll() is not None or bool(children.read_text().strip()), "PID 1 started", timeout=30)
        if proc.poll() is not None:
            pytest.skip(f"cannot start a PID namespace here: {proc.stderr.read().strip()}")  # type: ignore[union-attr]
        pid1 = int(children.read_text().split()[0])
        deadline = time.monotonic() + 10
        while proc.poll() is None and time.monotonic() < deadline:  # one lands once the command listens
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid1, signal.SIGTERM)
            time.sleep(0.3)
        assert proc.poll() is not None, "still running 10 s after the first SIGTERM"
        assert proc.returncode == 143
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait()
        proc.stdin.close()  # type: ignore[union-attr]
        proc.stderr.close()  # type: ignore[union-attr]


def test_a_signal_the_parent_ignores_stays_ignored() -> None:
    """`trap '' TERM; exec loader inspect ...`: listen_early took SIGTERM over and inspect's
    handlers back were Python's defaults, so an ignored SIGTERM killed it."""
    old = {sig: signal.getsignal(sig) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        stopping.listen_early()
        assert signal.getsignal(signal.SIGTERM) is signal.SIG_IGN
        stopping.stop_listening_early()
        assert signal.getsignal(signal.SIGTERM) is signal.SIG_IGN
        assert signal.getsignal(signal.SIGINT) is old[signal.SIGINT]  # the one it replaced, back
    finally:
        for sig, handler in old.items():
            signal.signal(sig, handler)


def signal_mid_parse(monkeypatch: pytest.MonkeyPatch, signum: int) -> list[int]:
    """The next CSV block pyarrow parses gets ``signum`` mid-read, raised on the reading
    thread (delivered before the read goes on). Where pyarrow's own handler is set (the
    main thread, a Python handler for the signal) it cancels the parse. The signals sent."""
    real = pacsv.read_csv
    sent: list[int] = []

    class SignalOnRead(io.BytesIO):
        def read(self, size: int | None = -1) -> bytes:
            if not sent:
                sent.append(signum)
                signal.raise_signal(signum)
            return super().read(size)

    def read_csv(source: Any, **options: Any) -> pa.Table:
        if not sent:
            source = SignalOnRead(bytes(source.read()))
        return real(source, **options)

    monkeypatch.setattr(pacsv, "read_csv", read_csv)
    return sent


def test_a_sigterm_while_a_csv_file_is_sampled_stops_the_run_at_its_first_boundary(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """pyarrow cancels a CSV parse on a signal that has a Python handler: a SIGTERM while
    the types were inferred failed the run with an internal error (ArrowCancelled, exit 1)."""
    src = tmp_path / "in.csv"
    src.write_text("id,v\n" + "".join(f"{i},{i * 3}\n" for i in range(5000)), encoding="utf-8")
    job = JobConfig(
        source=SourceConfig(path=[str(src)]),
        sink=SinkConfig(path=str(tmp_path / "o.db"), table="t", batch_size=1000),
        run=RunConfig(chunk_size=1000),
    )
    sent = signal_mid_parse(monkeypatch, signal.SIGTERM)
    with pytest.raises(InterruptedLoad) as stopped:
        Pipeline(job, handle_signals=True).run()
    report = stopped.value.report
    assert sent == [signal.SIGTERM]
    assert (stopped.value.exit_code, report.status, report.error) == (
        143,
        "interrupted",
        "stopped by SIGTERM; committed work is kept",
    )
    assert report.rows_written == sqlite_rows(tmp_path / "o.db", "SELECT count(*) FROM t")[0][0] == 1000
    assert Pipeline(job).run().rows_written == 4000


def test_a_stop_ends_the_wait_for_a_blocking_request_at_once() -> None:
    """A storage request pyarrow blocks on in C++ runs in a thread of its own, waited for in
    slices: the run's stop request ends the wait (the request is left to finish), where the
    signal's handler could not have run until the request returned."""
    released = threading.Event()
    request = stopping.Request()
    with stopping.scope(request):
        assert stopping.interruptible(lambda: 42) == 42
        with pytest.raises(ZeroDivisionError):  # its own error, as it raised it
            stopping.interruptible(lambda: 1 // 0)
        threading.Timer(0.2, lambda: setattr(request, "signum", signal.SIGTERM)).start()
        started = time.monotonic()
        with pytest.raises(InterruptedLoad) as stopped:
            stopping.interruptible(lambda: released.wait(30))
    assert time.monotonic() - started < 10  # at once: not after the request's 30 s
    assert (stopped.value.exit_code, str(stopped.value)) == (143, "stopped by SIGTERM; committed work is kept")
    assert stopping.abandoned()  # still waiting: the command exits without it
    released.set()
    wait_until(lambda: not stopping.abandoned(), "the abandoned request ended", timeout=30)


@pytest.mark.usefixtures("listening_early")
def test_a_signal_noted_while_the_command_starts_ends_a_blocking_request() -> None:
    released = threading.Event()
    threading.Timer(0.2, signal.raise_signal, (signal.SIGTERM,)).start()
    with pytest.raises(InterruptedLoad) as stopped:
        stopping.interruptible(lambda: released.wait(30))
    released.set()
    assert stopped.value.exit_code == 143 and stopping.take_early() is None


def test_handle_signals_off_the_main_thread_is_refused_naming_it(tmp_path: Path) -> None:
    """Python sets signal handlers in the main thread only: elsewhere ``handle_signals=True``
    did nothing, unsaid, and a SIGTERM ended the process with no report. Now a ConfigError
    (exit 2) before anything is read or written, with the failed run's report on the error
    (not in run.report: a usage error writes none)."""
    src = tmp_path / "in.csv"
    src.write_text("id\n1\n2\n", encoding="utf-8")
    job = JobConfig(
        source=SourceConfig(path=[str(src)]),
        sink=SinkConfig(path=str(tmp_path / "o.db"), table="t"),
        run=RunConfig(report=str(tmp_path / "r.json")),
    )
    raised: list[BaseException] = []

    def work() -> None:
        try:
            Pipeline(job, handle_signals=True).run()
        except BaseException as exc:
            raised.append(exc)

    t = threading.Thread(target=work, name="host-worker")
    t.start()
    t.join()
    (exc,) = raised
    assert isinstance(exc, ConfigError) and exc.exit_code == 2
    assert str(exc) == (
        "handle_signals=True: signal handlers can be set in the main thread only, and this run is in thread 'host-worker'"
    )
    assert exc.hint == (
        "run the pipeline in the main thread, or without handle_signals: a signal then does what the "
        "process's own handler says (SIGINT raises KeyboardInterrupt in the main thread)"
    )
    assert exc.report is not None and (exc.report.status, exc.report.exit_code) == ("failed", 2)
    assert not (tmp_path / "o.db").exists()
    assert in_thread(lambda: Pipeline(job).run()) is None  # without it, a thread's run loads
    assert sqlite_rows(tmp_path / "o.db", "SELECT id FROM t") == [(1,), (2,)]


def test_the_command_run_by_a_hosts_thread_loads_and_leaves_signals_to_the_host(tmp_path: Path) -> None:
    src = tmp_path / "in.csv"
    src.write_text("id\n1\n", encoding="utf-8")
    codes: list[int] = []
    assert (
        in_thread(lambda: codes.append(main(["load", str(src), str(tmp_path / "o.db"), "--table", "t", "-q"]))) is None
    )
    assert codes == [0] and sqlite_rows(tmp_path / "o.db", "SELECT id FROM t") == [(1,)]
