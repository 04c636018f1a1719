from __future__ import annotations

import ast
import dataclasses
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from loader.config import field_docs
from loader.report import FileReport, RunReport, peak_rss_mb

ROOT = Path(__file__).parents[1]


def test_peak_rss_is_the_process_own_not_its_parents() -> None:
    """A loader started by a large parent (scheduler, test runner) reports its own peak:
    ru_maxrss alone would carry the parent's high-water mark across exec."""
    ballast = bytearray(400 << 20)  # the parent holds 400 MB, touched
    for i in range(0, len(ballast), 4096):
        ballast[i] = 1
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    p = subprocess.run(
        [sys.executable, "-c", "from loader.report import peak_rss_mb; print(peak_rss_mb())"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=True,
    )
    child = float(p.stdout)
    assert 5 < child < 200, child
    assert peak_rss_mb() >= 400
    del ballast


_HOST = """
import resource
from loader import load
def hwm():
    return int([line.split()[1] for line in open("/proc/self/status") if line.startswith("VmHWM")][0])
ballast = bytearray(300 << 20)
for i in range(0, len(ballast), 4096):
    ballast[i] = 1
del ballast
before = hwm(), resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
r = load("a.csv", "t.db", table="t")
print(*before, hwm(), resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, r.peak_rss_mb * 1024)
"""


@pytest.mark.skipif(not os.access("/proc/self/clear_refs", os.W_OK), reason="the peak is reset on Linux only")
def test_a_library_load_resets_the_hosts_peak_to_measure_its_own_as_docs_api_says(tmp_path: Path) -> None:
    """docs/api.md, "The host process": the host's earlier peak is lost from VmHWM and
    ru_maxrss (and so from its parent's wait4), for ``peak_rss_mb`` to be the load's own."""
    (tmp_path / "a.csv").write_text("id,n\n1,2\n", encoding="utf-8")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    # ru_maxrss keeps the peak of the program a process exec'd from (the test runner's here):
    # the host is a child the shell forks, with a small exec'd image of its own
    host = ["/bin/sh", "-c", '"$0" -c "$1"; exit $?', sys.executable, _HOST]
    p = subprocess.run(host, cwd=tmp_path, capture_output=True, text=True, env=env, timeout=60, check=True)
    hwm_before, maxrss_before, hwm_after, maxrss_after, run_kb = map(float, p.stdout.split())
    assert min(hwm_before, maxrss_before) > 300 << 10  # kB
    assert max(hwm_after, maxrss_after, run_kb) < 200 << 10
    assert abs(hwm_after - run_kb) < 2048  # the load's peak is the process's now


def test_summary_line_and_counts() -> None:
    r = RunReport(target="out/x.db", table="t", rejects_path="out/x.db.rejects.jsonl")
    r.start()
    r.rows_read, r.rows_written, r.rows_rejected, r.files_loaded = 10, 8, 2, 1
    r.finish("ok")
    line = r.summary()
    assert line.startswith("ok: 8 rows written to out/x.db (table t) from 1 file in ")
    assert line.endswith("; WARNING 2 rows rejected, see out/x.db.rejects.jsonl")
    # the rate counts rows read (10), not the rows written beside it: it says so
    assert re.search(r" in [\d.]+s \([\d,]+ rows read/s, peak \d+ MB\);", line), line
    data = r.to_dict()
    assert data["rows_read"] == 10 and data["status"] == "ok" and "_t0" not in data


@pytest.mark.parametrize(
    ("found", "status", "said"),
    [
        (["cp1252"], "ok", ": 1 of them is not UTF-8 but read as cp1252: {replay} and --encoding cp1252"),
        (["cp1252", "cp1251"], "ok", ": 1 of them is not UTF-8 but may be cp1252 or cp1251: {replay} and {name}"),
        ([], "ok", ": 1 of them is not UTF-8, nor plainly in another encoding: {replay} and {name}"),
        (["cp1252"], "nothing_loaded", ""),  # its error says to rerun with the encoding
    ],
)
def test_the_warning_of_rows_not_utf8_says_what_they_read_as_and_how_they_load(
    found: list[str], status: str, said: str
) -> None:
    r = RunReport(target="x.db", rejects_path="x.rejects.jsonl", rows_rejected=2, rows_not_utf8=1)
    r.not_utf8_reads_as = found
    r.start()
    r.finish(status)
    replay = "replay them with `loader replay` as the run was given (its job file, or its sources, target and flags)"
    name = "--encoding NAME (the encoding they were written in)"
    assert r.summary().endswith(
        "; WARNING 2 rows rejected, see x.rejects.jsonl" + said.format(replay=replay, name=name)
    )


@pytest.mark.parametrize(
    ("loaded", "statuses", "files"),
    [
        (0, [("incomplete", 5)], "from 1 file half loaded in "),
        (2, [("loaded", 3), ("loaded", 3), ("incomplete", 5), ("incomplete", 0)], "from 2 files and 1 half loaded in "),
        (0, [("incomplete", 5), ("incomplete", 4)], "from 2 files half loaded in "),
        (0, [("incomplete", 0)], "from 0 files in "),  # stopped before a row of it was committed
    ],
)
def test_a_stopped_runs_summary_counts_the_files_it_half_loaded(
    loaded: int, statuses: list[tuple[str, int]], files: str
) -> None:
    r = RunReport(target="x.db", table="t", files_loaded=loaded)
    r.files = [
        FileReport(f"{i}.csv", status=status, rows_read=n, rows_written=n) for i, (status, n) in enumerate(statuses)
    ]
    r.rows_read = r.rows_written = sum(n for _, n in statuses)
    r.start()
    r.finish("interrupted")
    assert r.summary().startswith(f"interrupted: {r.rows_written} rows written to x.db (table t) {files}")


def test_write_creates_the_directory_and_leaves_no_temp_file(tmp_path: Path) -> None:
    import json

    r = RunReport(target="x.db")
    r.start()
    r.finish("ok")
    path = tmp_path / "out" / "report.json"
    r.write(str(path))
    assert json.loads(path.read_text())["status"] == "ok"
    assert os.listdir(path.parent) == ["report.json"]


def test_every_report_field_has_a_docstring() -> None:
    """The API reference (``::: loader.RunReport``) shows each field with its description."""
    tree = ast.parse((ROOT / "loader" / "report.py").read_text(encoding="utf-8"))
    for cls in (RunReport, FileReport):
        docs = field_docs(cls, tree)
        assert [f.name for f in dataclasses.fields(cls) if f.repr and f.name not in docs] == [], cls.__name__
    assert (RunReport.__doc__ or "").startswith("What a run did: returned by ``Pipeline.run()``")
    assert field_docs(RunReport, tree)["rows_written"] == "Rows written to the target."


def test_the_report_is_written_an_entry_at_a_time_as_the_json_it_always_was(tmp_path: Path) -> None:
    """The report of thousands of input files, made whole as one text after the peak was read,
    was the run's real peak (10,000 files: 13 MB past the reported one). It is written an entry
    of each list at a time (files, an engine's parts, a replay's rows), the same JSON."""
    import json

    from loader.replay import ReplayReport

    r = ReplayReport(target="x.db", table="t", sizes={"block_size": 1})
    r.files = [
        FileReport(f"in/f{i}.csv", rows_read=i, dialect={"delimiter": ",", "detected": ["header"]}) for i in range(3)
    ]
    r.parts = [{"path": "a", "rows_read": 1}]
    r.rows = [{"row": 1, "outcome": "written"}, {"row": 2, "outcome": 'a "quoted"\nreason'}]
    r.start()
    r.finish("ok")
    pieces = list(r.json_pieces())
    assert len(pieces) > 6  # not one text
    expected = json.dumps(r.to_dict(), indent=2) + "\n"
    assert b"".join(pieces).decode() == expected
    empty = RunReport(target="x.db")
    assert b"".join(empty.json_pieces()).decode() == json.dumps(empty.to_dict(), indent=2) + "\n"
    r.write(str(tmp_path / "r.json"))
    assert (tmp_path / "r.json").read_text() == expected


def test_a_cluster_workers_peak_past_max_memory_is_memory_exceeded_and_said_to_be_unbounded(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A cluster's own worker is not held to --max-memory: its peak, measured with each part,
    past the ceiling is no plain ``ok``."""
    from loader.report import RunReport

    # the coordinator's own peak below the ceiling (the test process's may be anything)
    monkeypatch.setattr("loader.report.peak_rss_mb", lambda: 90.0)

    report = RunReport(job="j", sink="sqlite", target="t.db", table="t", max_memory_mb=130.0)
    report.start()
    report.add_cluster_peak(120.0)
    report.add_cluster_peak(274.1)
    report.finish("ok")
    assert (report.status, report.memory_exceeded, report.cluster_peak_rss_mb) == ("memory_exceeded", True, 274.1)
    assert report.summary().endswith(
        "; WARNING peak memory 274 MB (a cluster worker's, which --max-memory does not bound) "
        "went past --max-memory 130 MB"
    )
