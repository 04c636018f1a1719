"""The progress line: what a person sees on a terminal (a pseudo-terminal here)."""

from __future__ import annotations

import gzip
import io
import os
import re
import select
import subprocess
import sys
from pathlib import Path

import pytest

from loader.progress import Progress, fields, is_terminal, layout

ROOT = Path(__file__).resolve().parent.parent
ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


def _csv(path: Path, rows: int, start: int = 0) -> Path:
    lines = ["id,name,amount"] + [f"{i},name-{i},{i * 1.5}" for i in range(start, start + rows)]
    path.write_text("\n".join(lines) + "\n")
    return path


def _load_in_pty(tmp_path: Path, *args: str, columns: int = 160) -> tuple[int, str]:
    """``loader load ARGS`` with stderr on a pseudo-terminal of ``columns`` columns;
    returns the exit code and what the terminal received."""
    master, slave = os.openpty()
    env = {**os.environ, "COLUMNS": str(columns), "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "loader", "load", *args],
        cwd=tmp_path,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=slave,
    )
    os.close(slave)
    out = b""
    while True:
        ready, _, _ = select.select([master], [], [], 60)
        if not ready:
            proc.kill()
            break
        try:
            data = os.read(master, 65536)
        except OSError:  # EIO: the child closed the terminal
            break
        if not data:
            break
        out += data
    os.close(master)
    return proc.wait(timeout=60), out.decode()


def _frames(screen: str) -> list[str]:
    """The progress lines drawn, in order, as the terminal shows each (escapes removed)."""
    lines = screen.replace("\r\n", "\n").split("\n")
    return [ANSI.sub("", f) for line in lines if "\r" in line for f in line.split("\r") if f.strip()]


def test_all_fields_and_100_percent_on_a_glob_with_a_loaded_file(tmp_path: Path) -> None:
    _csv(tmp_path / "a.csv", 20_000)
    code, _ = _load_in_pty(tmp_path, "a.csv", "out.db", "--table", "t", "--no-progress")
    assert code == 0
    _csv(tmp_path / "b.csv", 5_000, start=20_000)
    code, screen = _load_in_pty(tmp_path, "*.csv", "out.db", "--table", "t")
    assert code == 0
    last = _frames(screen)[-1]
    assert re.search(
        r"^\[#+\] 100%  \d+\.\d KB/\d+\.\d KB  5,000 rows  [\d.]+ MB/s  [\d,]+ rows/s  ETA 0:00  RSS \d+ MB\s*$", last
    ), last
    assert "5,000 rows written" in screen  # the summary follows on its own line


def test_gzip_input_ends_at_100_percent(tmp_path: Path) -> None:
    plain = _csv(tmp_path / "events.csv", 30_000)
    (tmp_path / "events.csv.gz").write_bytes(gzip.compress(plain.read_bytes()))
    plain.unlink()
    code, screen = _load_in_pty(tmp_path, "events.csv.gz", "out.db")
    assert code == 0
    frames = _frames(screen)
    assert " 100%" in frames[-1] and "30,000 rows" in frames[-1], frames[-1]


def test_a_narrow_terminal_keeps_a_readable_line(tmp_path: Path) -> None:
    _csv(tmp_path / "a.csv", 10_000)
    code, screen = _load_in_pty(tmp_path, "a.csv", "out.db", columns=40)
    assert code == 0
    last = _frames(screen)[-1]
    assert len(last.rstrip()) <= 39
    # no room for a bar of ten: the four most important fields, no one-character bar
    assert re.fullmatch(r"100%  10,000 rows  ETA 0:00  RSS \d+ MB\s*", last), last


def test_no_progress_on_a_terminal_and_progress_into_a_pipe(tmp_path: Path) -> None:
    _csv(tmp_path / "a.csv", 100)
    code, screen = _load_in_pty(tmp_path, "a.csv", "out.db", "--no-progress")
    assert code == 0 and "\r" not in screen.replace("\r\n", "\n") and "100 rows written" in screen
    env = {**os.environ, "COLUMNS": "100", "PYTHONPATH": str(ROOT)}
    cmd = [sys.executable, "-m", "loader", "load", "a.csv", "again.db"]
    piped = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, check=True)
    assert "%" not in piped.stderr  # not a terminal: no progress unless asked
    forced = subprocess.run(
        [*cmd[:-1], "forced.db", "--progress"], cwd=tmp_path, env=env, capture_output=True, check=True
    )
    assert "100%" in _frames(forced.stderr.decode())[-1]


def test_fields_drop_least_important_first_and_the_bar_is_never_a_sliver() -> None:
    parts = fields(done=30 << 20, total=60 << 20, rows=300_000, elapsed=3.0, rss_mb=112.4)
    assert parts == {
        "percent": " 50%",
        "bytes": "30.0 MB/60.0 MB",
        "rows": "300,000 rows",
        "mb_s": "10.0 MB/s",
        "rows_s": "100,000 rows/s",
        "eta": "ETA 0:03",
        "rss": "RSS 112 MB",
    }
    every = " 50%  30.0 MB/60.0 MB  300,000 rows  10.0 MB/s  100,000 rows/s  ETA 0:03  RSS 112 MB"
    assert layout(parts, 200) == "[" + "#" * 15 + "." * 15 + "] " + every  # the bar stops growing at 30
    assert layout(parts, 70) == " 50%  300,000 rows  10.0 MB/s  100,000 rows/s  ETA 0:03  RSS 112 MB"
    assert layout(parts, 40) == " 50%  300,000 rows  ETA 0:03"  # eight columns left: no bar
    assert layout(parts, 20) == " 50%  300,000 rows"
    assert layout(parts, 8) == " 50%"
    for width in range(2, 200):
        line = layout(parts, width)
        assert len(line) <= width - 1 or width == 1
        bar = re.match(r"\[([#.]*)\]", line)
        assert bar is None or len(bar.group(1)) >= 10


def test_unknown_total_shows_bytes_and_no_percentage() -> None:
    parts = fields(done=5 << 20, total=None, rows=1_000, elapsed=2.0, rss_mb=0.0)
    assert parts == {"bytes": "5.0 MB", "rows": "1,000 rows", "mb_s": "2.5 MB/s", "rows_s": "500 rows/s"}
    assert layout(parts, 100) == "5.0 MB  1,000 rows  2.5 MB/s  500 rows/s"


def test_a_stream_that_fails_ends_the_display_not_the_load() -> None:
    class Full(io.StringIO):
        def write(self, text: str) -> int:
            raise OSError(28, "No space left on device")

    progress = Progress(100, enabled=True, stream=Full())
    progress.update(10, 1)  # the first draw fails: no more are tried
    assert not progress.enabled
    progress.update(10, 1)
    progress.close()


def test_no_stream_or_a_closed_one_draws_nothing_and_is_no_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    """A host's ``sys.stderr`` may be None (a service, ``pythonw``) or closed: the draw raised
    AttributeError / ValueError into the load."""
    closed = io.StringIO()
    closed.close()
    for stream in (None, closed):
        monkeypatch.setattr(sys, "stderr", stream)
        assert not is_terminal(stream)
        progress = Progress(100, enabled=True)
        progress.update(10, 1)
        assert not progress.enabled
        progress.close()
