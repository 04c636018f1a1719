"""Replacing a file atomically, and fsyncs of a file while it is written."""

from __future__ import annotations

import errno
import os
import threading
from pathlib import Path

import pytest

from loader import files
from loader.files import EarlyFsync, replace_file


def test_a_replaced_file_is_whole_and_readable_by_others(tmp_path: Path) -> None:
    target = tmp_path / "sub" / "report.json"
    old = os.umask(0o022)
    try:
        replace_file(str(target), "one", durable=True)
    finally:
        os.umask(old)
    replace_file(str(target), [b"tw", b"o"], durable=False)
    assert target.read_text() == "two"
    assert oct(target.stat().st_mode & 0o777) == "0o644"
    assert [p.name for p in target.parent.iterdir()] == ["report.json"]  # no temporary file left


def test_a_new_file_follows_the_umask_and_a_rewritten_one_keeps_its_mode(tmp_path: Path) -> None:
    private, kept = tmp_path / "private.json", tmp_path / "kept.json"
    old = os.umask(0o077)
    try:
        replace_file(str(private), "secret", durable=False)
    finally:
        os.umask(old)
    kept.write_text("old")
    kept.chmod(0o640)
    replace_file(str(kept), "new", durable=False)
    assert oct(private.stat().st_mode & 0o777) == "0o600"
    assert oct(kept.stat().st_mode & 0o777) == "0o640" and kept.read_text() == "new"


def test_early_fsyncs_run_on_a_thread_one_at_a_time(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "f"
    path.write_bytes(b"x")
    seen: list[int] = []
    go = threading.Event()

    def fsync(p: str) -> None:
        seen.append(threading.get_ident())
        go.wait(10)

    monkeypatch.setattr(files, "fsync_path", fsync)
    with EarlyFsync(str(path)) as early:
        early.start()
        early.start()  # the first still runs: no second one
        go.set()
    assert len(seen) == 1 and seen[0] != threading.get_ident()
    with EarlyFsync(str(path)) as early:
        for _ in range(3):
            early.start()
            early.close()  # waited for: the next starts anew
    assert len(seen) == 4


def test_an_early_fsyncs_error_is_raised_at_the_next_start_or_at_close(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Linux reports a failed writeback to one fsync: none of them may drop it."""
    path = tmp_path / "f"
    path.write_bytes(b"x")

    def fsync(p: str) -> None:
        raise OSError(errno.EIO, "Input/output error", p)

    monkeypatch.setattr(files, "fsync_path", fsync)
    early = EarlyFsync(str(path))
    early.start()
    with pytest.raises(OSError) as caught:
        early.close()
    assert caught.value.errno == errno.EIO
    early.start()
    while early._running is not None and not early._running.done():
        threading.Event().wait(0.01)
    with pytest.raises(OSError):
        early.start()
    early.close()
    with pytest.raises(ValueError, match="boom"), EarlyFsync(str(path)) as early:
        early.start()
        raise ValueError("boom")  # the error on its way out wins over the fsync's


def test_temporaries_are_the_names_replace_file_writes_beside_a_path(tmp_path: Path) -> None:
    """What a process killed inside ``replace_file`` leaves: found by the path it was
    writing, and no other path's."""
    import tempfile

    from loader.files import temporaries

    target = tmp_path / "p[1].json"
    fd, left = tempfile.mkstemp(dir=tmp_path, prefix=f".{target.name}.", suffix=".tmp")  # as replace_file names it
    os.close(fd)
    (tmp_path / ".p[1].json2.x.tmp").write_text("")
    (tmp_path / ".q.json.x.tmp").write_text("")
    replace_file(str(target), "{}", durable=False)
    assert temporaries(str(target)) == [left]


def test_a_file_in_the_way_of_a_parent_directory_is_not_a_directory(tmp_path: Path) -> None:
    (tmp_path / "m.csv").write_text("a\n")
    for path in (tmp_path / "m.csv" / "r.json", tmp_path / "m.csv" / "sub" / "r.json"):
        with pytest.raises(NotADirectoryError) as info:
            replace_file(str(path), "{}", durable=False)
        assert (info.value.errno, info.value.strerror) == (errno.ENOTDIR, "Not a directory")
    assert files.make_parent(str(tmp_path / "new" / "r.json")) == str(tmp_path / "new")
    assert (tmp_path / "new").is_dir()


def test_a_symlinked_file_is_replaced_where_the_link_reaches_and_the_link_stays(tmp_path: Path) -> None:
    """A report or metrics file linked into a collector's folder: the link was replaced by a
    regular file, so the file the collector read never changed again."""
    (tmp_path / "collector").mkdir()
    real = tmp_path / "collector" / "loader.prom"
    real.write_text("old")
    link = tmp_path / "metrics.prom"
    link.symlink_to(real)
    replace_file(str(link), "new", durable=True)
    assert link.is_symlink() and real.read_text() == "new"
    assert sorted(p.name for p in real.parent.iterdir()) == ["loader.prom"]
