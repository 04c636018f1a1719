"""The reject file (``loader.rejects``): which lines a run keeps when it starts, for the
lines of other jobs and targets, of an earlier loader, and fixed copies a user appended."""

from __future__ import annotations

import json
from pathlib import Path

from loader.chunk import Reject
from loader.rejects import Committed, RejectFile

NEW = Committed(0, 0, None)  # a job's first run: no line committed


def _run(path: Path, target: str, rows: list[int], keep: Committed, job: str = "table:t") -> Committed:
    """A run of ``job`` into ``target``: starts on ``keep`` (its checkpoint), rejects ``rows``,
    commits; what its checkpoint records."""
    with RejectFile(str(path), job, target=target) as rejects:
        rejects.start(keep)
        rejects.write(Reject(file="/in/a.csv", row=r, reason="bad", values={"v": "bad"}) for r in rows)
        return rejects.sync()


def _rows(path: Path) -> list[tuple[str | None, int, str]]:
    lines = [json.loads(x) for x in path.read_text(encoding="utf-8").splitlines()]
    return [(x.get("target"), x["row"], x["values"]["v"]) for x in lines]


def test_a_run_keeps_the_lines_of_another_target_of_its_job(tmp_path: Path) -> None:
    """day1.db and day2.db loading table t (one job) into one reject file: neither run takes
    the other's lines for uncommitted lines of its own."""
    shared = tmp_path / "r.jsonl"
    one = _run(shared, "/db/day1.db", [1, 2], NEW)
    two = _run(shared, "/db/day2.db", [7], NEW)
    one = _run(shared, "/db/day1.db", [3], one)
    _run(shared, "/db/day2.db", [], two)
    assert _rows(shared) == [("/db/day1.db", 1, "bad"), ("/db/day1.db", 2, "bad"), ("/db/day2.db", 7, "bad"), ("/db/day1.db", 3, "bad")]  # fmt: skip
    assert one.lines == 3


def test_lines_of_an_earlier_loader_count_as_the_targets_own(tmp_path: Path) -> None:
    """A reject file an earlier loader wrote (lines without ``target``): its lines of the job
    are the committed ones its checkpoint counts; an uncommitted one past them still goes."""
    path = tmp_path / "r.jsonl"
    old = [f'{{"job": "table:t", "v": 2, "file": "/in/a.csv", "row": {r}, "reason": "bad", "values": {{"v": "bad"}}}}\n' for r in (1, 2, 3)]  # fmt: skip
    path.write_text("".join(old), encoding="utf-8")
    committed = Committed(len("".join(old[:2]).encode()), 2, path.stat().st_ino)
    after = _run(path, "/db/day1.db", [3], committed)
    assert _rows(path) == [(None, 1, "bad"), (None, 2, "bad"), ("/db/day1.db", 3, "bad")]
    assert after.lines == 3


def test_a_fixed_copy_appended_after_a_run_is_kept_by_the_next_runs(tmp_path: Path) -> None:
    """The workflow "Replaying fixed rows": a fixed copy of a line appended after it (by
    ``>>``, or saved by an editor as a new file) is not a stopped run's uncommitted line; the
    next scheduled runs keep it, and count it. A stopped run's line after it still goes."""
    path = tmp_path / "r.jsonl"
    done = _run(path, "/db/t.db", [1, 2], NEW)
    first = path.read_text(encoding="utf-8").splitlines(keepends=True)
    with open(path, "a", encoding="utf-8") as fh:
        fh.write(first[1].replace('"v": "bad"', '"v": "7"'))
    done = _run(path, "/db/t.db", [], done)
    assert _rows(path) == [("/db/t.db", 1, "bad"), ("/db/t.db", 2, "bad"), ("/db/t.db", 2, "7")]
    assert done.lines == 3

    # saved by an editor (a new file), then a run stopped after writing a line of row 5
    text = path.read_text(encoding="utf-8") + first[0].replace('"v": "bad"', '"v": "8"')
    path.unlink()
    path.write_text(text, encoding="utf-8")
    with open(path, "a", encoding="utf-8") as fh:
        fh.write(first[0].replace('"row": 1', '"row": 5'))
    _run(path, "/db/t.db", [], done)
    assert _rows(path) == [("/db/t.db", 1, "bad"), ("/db/t.db", 2, "bad"), ("/db/t.db", 2, "7"), ("/db/t.db", 1, "8")]  # fmt: skip


def test_a_stopped_runs_lines_go_and_a_fixed_copy_after_them_stays(tmp_path: Path) -> None:
    """The file grew since the commit (same file): a stopped run's lines are cut, a fixed
    copy of a committed line among them kept."""
    path = tmp_path / "r.jsonl"
    done = _run(path, "/db/t.db", [1], NEW)
    first = path.read_text(encoding="utf-8")
    with open(path, "a", encoding="utf-8") as fh:
        fh.write(first.replace('"row": 1', '"row": 9'))  # the stopped run's
        fh.write(first.replace('"v": "bad"', '"v": "3"'))  # the user's fix
    done = _run(path, "/db/t.db", [], done)
    assert _rows(path) == [("/db/t.db", 1, "bad"), ("/db/t.db", 1, "3")]
    with open(path, "a", encoding="utf-8") as fh:
        fh.write(first.replace('"row": 1', '"row": 9'))  # another stopped run's, alone: cut
    _run(path, "/db/t.db", [], done)
    assert _rows(path) == [("/db/t.db", 1, "bad"), ("/db/t.db", 1, "3")]


def test_a_restart_drops_the_jobs_lines_with_its_first_commit_not_before(tmp_path: Path) -> None:
    """``--restart``: the job's committed lines (another target's stay) go when the run's first
    commit syncs its own; a run refused or stopped before that leaves the file as it was."""
    path = tmp_path / "r.jsonl"
    done = _run(path, "/db/t.db", [1, 2], NEW)
    _run(path, "/db/other.db", [9], NEW)
    before = path.read_bytes()
    with RejectFile(str(path), "table:t", target="/db/t.db") as rejects:
        rejects.start(done)
        rejects.start_over()
        rejects.write([Reject(file="/in/a.csv", row=5, reason="bad", values={"v": "new"})])
    assert path.read_bytes().startswith(before)  # stopped before a commit: the old lines are all there
    with RejectFile(str(path), "table:t", target="/db/t.db") as rejects:
        rejects.start(done)  # the stopped run's line goes; the committed ones stay
        assert path.read_bytes() == before
        rejects.start_over()
        rejects.write([Reject(file="/in/a.csv", row=1, reason="bad", values={"v": "again"})])
        committed = rejects.sync()
        assert path.read_bytes().startswith(before)  # until the commit is durable
        rejects.settle()
    assert _rows(path) == [("/db/other.db", 9, "bad"), ("/db/t.db", 1, "again")]
    assert committed == Committed(path.stat().st_size, 1, path.stat().st_ino)


def _restart_synced(path: Path, done: Committed) -> Committed:
    """A --restart stopped between its first commit's ``sync`` and ``settle``: what that
    commit's checkpoint records."""
    with RejectFile(str(path), "table:t", target="/db/t.db") as rejects:
        rejects.start(done)
        rejects.start_over()
        rejects.write([Reject(file="/in/a.csv", row=4, reason="bad", values={"v": "new"})])
        return rejects.sync()


def test_a_restart_stopped_before_its_commit_was_durable_keeps_the_old_lines(tmp_path: Path) -> None:
    """hunt24a #4: the restart's new file waits beside the old one; a run that starts on the
    checkpoint the commit did not replace (it failed, or was killed before it) keeps the old
    lines, byte for byte, and removes the new file."""
    path = tmp_path / "r.jsonl"
    done = _run(path, "/db/t.db", [1, 2], NEW)
    _run(path, "/db/other.db", [9], NEW)
    before = path.read_bytes()
    _restart_synced(path, done)
    assert path.read_bytes().startswith(before)
    with RejectFile(str(path), "table:t", target="/db/t.db") as rejects:
        rejects.start(done)
        assert rejects.lines == 2
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r.jsonl"]


def test_a_restart_stopped_after_its_commit_puts_its_new_file_in_place(tmp_path: Path) -> None:
    """Killed between the commit and ``settle``: the checkpoint is the restart's, of the new
    file (its inode), which the next run's start puts in place of the old one."""
    path = tmp_path / "r.jsonl"
    done = _run(path, "/db/t.db", [1, 2], NEW)
    _run(path, "/db/other.db", [9], NEW)
    committed = _restart_synced(path, done)
    with RejectFile(str(path), "table:t", target="/db/t.db") as rejects:
        rejects.start(committed)
        assert rejects.lines == 1
    assert _rows(path) == [("/db/other.db", 9, "bad"), ("/db/t.db", 4, "new")]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r.jsonl"]
