"""The checkpoint log LevelDB targets keep beside their data."""

from __future__ import annotations

from pathlib import Path

import pytest

from loader.writers import statelog
from loader.writers.statelog import StateLog, StateLogError, read_state_log


def test_a_commit_appends_only_what_it_changed(tmp_path: Path) -> None:
    path = str(tmp_path / "s.jsonl")
    log = StateLog(path, durable=False)
    log.set("j", {f"file:{i}": "x" * 100 for i in range(1000)})
    size = (tmp_path / "s.jsonl").stat().st_size
    log.set("j", {"job": "running"})
    assert (tmp_path / "s.jsonl").stat().st_size - size == len('{"job":"j","set":{"job":"running"}}\n')
    assert read_state_log(path)[0]["j"]["job"] == "running"
    assert len(read_state_log(path)[0]["j"]) == 1001


def test_a_torn_last_line_is_an_unfinished_commit(tmp_path: Path) -> None:
    path = tmp_path / "s.jsonl"
    log = StateLog(str(path), durable=True)
    log.set("j", {"a": "1"})
    with open(path, "a") as fh:
        fh.write('{"job":"j","set":{"a":"2"')  # killed mid-append
    assert read_state_log(str(path)) == ({"j": {"a": "1"}}, True)
    reopened = StateLog(str(path), durable=False)  # drops the torn line before appending after it
    assert reopened.jobs == {"j": {"a": "1"}}
    reopened.set("j", {"b": "3"})
    assert read_state_log(str(path)) == ({"j": {"a": "1", "b": "3"}}, False)


def test_a_broken_line_before_the_end_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "s.jsonl"
    path.write_text('{"job":"j","set":{"a":"1"}}\nnot json\n{"job":"j","set":{"a":"2"}}\n')
    with pytest.raises(StateLogError, match="line 2"):
        read_state_log(str(path))


def test_clear_and_compaction_keep_the_same_state(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(statelog, "COMPACT_MIN_BYTES", 200)
    path = tmp_path / "s.jsonl"
    log = StateLog(str(path), durable=False)
    log.set("other", {"k": "v"})
    for i in range(50):
        log.set("j", {"row": str(i)})
    log.clear("other")
    lines = path.read_text().splitlines()
    assert len(lines) < 20  # compacted along the way, not 52 lines
    assert read_state_log(str(path))[0] == {"j": {"row": "49"}} == log.jobs
    assert [p.name for p in tmp_path.iterdir()] == ["s.jsonl"]  # no temp file left behind


def test_appends_after_a_compaction_land_in_the_new_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The log keeps its file open between commits; a compaction replaces the file."""
    monkeypatch.setattr(statelog, "COMPACT_MIN_BYTES", 200)
    path = tmp_path / "s.jsonl"
    log = StateLog(str(path), durable=False)
    compactions = 0
    for i in range(30):
        before = path.stat().st_ino if path.exists() else None
        log.set("j", {"row": str(i)})
        compactions += before is not None and path.stat().st_ino != before
        assert read_state_log(str(path))[0] == {"j": {"row": str(i)}}  # on disk after every commit
    log.close()
    assert compactions >= 2


def test_a_clear_that_keeps_entries_is_one_line(tmp_path: Path) -> None:
    path = tmp_path / "s.jsonl"
    log = StateLog(str(path), durable=False)
    log.set("j", {"file:a": "1", "keys": "k"})
    log.clear("j", ("keys", "absent"))
    assert path.read_text().splitlines()[-1] == '{"job":"j","clear":true,"set":{"keys":"k"}}'
    assert read_state_log(str(path))[0] == {"j": {"keys": "k"}} == log.jobs
    log.compact()
    assert read_state_log(str(path))[0] == {"j": {"keys": "k"}}
    log.clear("j")
    assert read_state_log(str(path))[0] == {} == log.jobs


def test_a_clear_later_is_written_with_the_jobs_next_entries_or_not_at_all(tmp_path: Path) -> None:
    """``--restart``: the job is forgotten in memory at once, in the file only with its next
    write, in one line with it; a run that stops before then (or compacts) leaves the file's
    entries as they were."""
    path = str(tmp_path / "s.jsonl")
    log = StateLog(path, durable=False)
    log.set("j", {"a": "1", "keys": "int64"})
    log.set("other", {"x": "1"})
    before = Path(path).read_bytes()
    log.clear_later("j", keep=("keys",))
    assert log.jobs["j"] == {"keys": "int64"}
    log.compact()  # a compaction does not write the clear either
    log.close()
    assert read_state_log(path)[0] == {"j": {"a": "1", "keys": "int64"}, "other": {"x": "1"}}
    assert StateLog(path, durable=False).jobs["j"] == {"a": "1", "keys": "int64"}
    Path(path).write_bytes(before)

    log = StateLog(path, durable=False)
    log.clear_later("j", keep=("keys",))
    log.set("j", {"b": "2"})
    assert Path(path).read_text().splitlines()[-1] == '{"job":"j","clear":true,"set":{"keys":"int64","b":"2"}}'
    assert read_state_log(path)[0] == {"j": {"keys": "int64", "b": "2"}, "other": {"x": "1"}}
    log.set("j", {"c": "3"})  # written once: the next entries append as usual
    assert Path(path).read_text().splitlines()[-1] == '{"job":"j","set":{"c":"3"}}'


def test_a_clear_later_flushed_or_cleared_again_is_written_then(tmp_path: Path) -> None:
    path = str(tmp_path / "s.jsonl")
    log = StateLog(path, durable=False)
    log.set("j", {"a": "1"})
    log.clear_later("j")
    assert "j" not in log.jobs
    log.clear("j")  # nothing left in memory, but the file's entries go
    assert read_state_log(path)[0] == {}
    log.set("j", {"a": "1"})
    log.clear_later("j")
    log.flush_clear("j")
    log.flush_clear("j")  # once
    assert read_state_log(path)[0] == {}
    assert Path(path).read_text().count('"clear":true') == 2


def test_a_compact_log_is_not_rewritten_by_the_next_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A log as compaction leaves it (one line per job) takes a new run's commits as appends
    until it has doubled: rewriting it at every run's first commit held the job's whole
    checkpoint twice more, as text, on every no-op run."""
    monkeypatch.setattr(statelog, "COMPACT_MIN_BYTES", 200)
    path = tmp_path / "s.jsonl"
    log = StateLog(str(path), durable=False)
    log.set("j", {f"file:{i}": "x" * 100 for i in range(20)})
    log.set("k", {"job": "done"})
    log.compact()
    log.close()
    assert len(path.read_text().splitlines()) == 2
    reopened = StateLog(str(path), durable=False)
    reopened.set("j", {"job": "complete"})
    assert len(path.read_text().splitlines()) == 3  # appended, not compacted
    reopened.close()
    again = StateLog(str(path), durable=False)  # nor by the run after it
    again.set("j", {"job": "complete"})
    assert len(path.read_text().splitlines()) == 4  # appended, not compacted
    assert read_state_log(str(path))[0]["j"]["job"] == "complete"
    again.close()
    with open(path, "a") as fh:  # grown to twice its compacted size: compacted at the next commit
        fh.writelines('{"job":"k","set":{"job":"%s"}}\n' % ("x" * 100) for _ in range(25))
    last = StateLog(str(path), durable=False)
    last.set("j", {"job": "complete"})
    assert len(path.read_text().splitlines()) == 2
    assert read_state_log(str(path))[0] == last.jobs


def test_a_compaction_writes_the_log_in_pieces(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A compaction writes each job's line as ``json.dumps`` would, without holding it whole:
    a job's checkpoint holds an entry per file it ever loaded."""
    import json
    import tracemalloc

    monkeypatch.setattr(statelog, "COMPACT_PIECE", 100)
    path = tmp_path / "s.jsonl"
    log = StateLog(str(path), durable=False)
    entries = {f"file:/in/f{i:06d}.csv": json.dumps({"done": True, "path": f"in/é{i}" * 20}) for i in range(5000)}
    log.set("j", entries)
    log.set("k", {})
    tracemalloc.start()
    try:
        log.compact()
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    lines = [json.dumps({"job": job, "set": e}, separators=(",", ":")) + "\n" for job, e in (("j", entries), ("k", {}))]
    assert path.read_text(encoding="utf-8") == "".join(lines)
    assert log._compacted == path.stat().st_size
    assert peak < len(lines[0]) / 4, (peak, len(lines[0]))
