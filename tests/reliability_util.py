"""Helpers for the reliability tests: real `python -m loader` processes and target readers."""

from __future__ import annotations

import contextlib
import io
import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import plyvel

from loader.rejects import default_rejects_path
from loader.writers.leveldb import STATE_FILE
from loader.writers.statelog import read_state_log

ROOT = Path(__file__).parents[1]


def env(extra: dict[str, str] | None = None) -> dict[str, str]:
    out = {k: v for k, v in os.environ.items() if not k.startswith("LOADER_")}
    out["PYTHONPATH"] = str(ROOT)
    out.update(extra or {})
    return out


def cli(
    *args: str,
    extra_env: dict[str, str] | None = None,
    cwd: Path = ROOT,
    timeout: float = 120,
    input: str | None = None,
) -> subprocess.CompletedProcess[str]:
    """``python -m loader ARGS`` from this checkout, without the caller's LOADER_* variables;
    ``input``: its standard input."""
    return subprocess.run(
        [sys.executable, "-m", "loader", *args],
        input=input,
        capture_output=True,
        text=True,
        cwd=cwd,
        env=env(extra_env),
        timeout=timeout,
    )


def in_process(*args: str) -> subprocess.CompletedProcess[str]:
    """``loader ARGS`` as :func:`cli` runs it (no LOADER_* variables, from this checkout's
    directory), but through ``loader.cli.main`` in this process: a refusal or an error line
    costs no interpreter start. For what is not about the process (signals, exit of the
    real binary, kills, what the command imports)."""
    from loader.cli import main

    out, err = io.StringIO(), io.StringIO()
    saved, cwd = dict(os.environ), os.getcwd()
    os.environ.clear()
    os.environ.update(env())
    os.chdir(ROOT)
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = main(list(args))
    finally:
        os.chdir(cwd)
        os.environ.clear()
        os.environ.update(saved)
    return subprocess.CompletedProcess(["loader", *args], code, out.getvalue(), err.getvalue())


def popen(*args: str, extra_env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "loader", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
        env=env(extra_env),
    )


def toml_value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, dict):
        return "{ " + ", ".join(f"{k} = {toml_value(x)}" for k, x in v.items()) + " }"
    return json.dumps(v)  # strings, numbers and lists are valid TOML as JSON


def write_job(path: Path, **sections: dict[str, Any] | list[dict[str, Any]]) -> Path:
    """A job file of ``sections``; a list (``transform=[{...}, ...]``) is an array of tables."""
    lines = []
    for name, tables in sections.items():
        for table in tables if isinstance(tables, list) else [tables]:
            lines.append(f"[[{name}]]" if isinstance(tables, list) else f"[{name}]")
            lines += [f"{k} = {toml_value(v)}" for k, v in table.items()]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def sqlite_table(db: Path, table: str = "t", order: str = "id") -> list[tuple[Any, ...]]:
    conn = sqlite3.connect(db)
    try:
        exists = conn.execute("SELECT count(*) FROM sqlite_master WHERE name = ?", (table,)).fetchone()[0]
        if not exists:
            return []
        return conn.execute(f'SELECT * FROM "{table}" ORDER BY {order}').fetchall()
    finally:
        conn.close()


def sqlite_state(db: Path, job: str | None = None) -> dict[str, Any]:
    """The checkpoint entries of every job (or of ``job``) in a SQLite target, parsed."""
    if not db.exists():
        return {}
    conn = sqlite3.connect(db)
    try:
        if not conn.execute("SELECT count(*) FROM sqlite_master WHERE name = '_loader_state'").fetchone()[0]:
            return {}
        where, params = ("WHERE job = ?", (job,)) if job is not None else ("", ())
        return {k: json.loads(v) for k, v in conn.execute(f"SELECT key, value FROM _loader_state {where}", params)}
    finally:
        conn.close()


def leveldb_items(path: Path) -> tuple[list[tuple[bytes, bytes]], dict[str, Any]]:
    """Data pairs (in key order) and parsed checkpoint entries of a LevelDB target."""
    # a kill inside LevelDB's own creation (directory made, CURRENT not yet written)
    # leaves a directory that holds no data
    if not (path / "CURRENT").exists():
        return [], {}
    db = plyvel.DB(str(path))
    try:
        data = list(db)
    finally:
        db.close()
    return data, {k: json.loads(v) for k, v in leveldb_state(path).items()}


def leveldb_state(path: Path) -> dict[str, str]:
    """The checkpoint entries a LevelDB target's log holds, as the loader reads it: whole
    lines only (a running load may be appending one)."""
    jobs, _ = read_state_log(str(path / STATE_FILE))
    return {k: v for entries in jobs.values() for k, v in entries.items()}


def file_totals(state: dict[str, Any]) -> dict[str, int]:
    """Row counts summed over the checkpoint's file entries."""
    out = {"rows_read": 0, "rows_written": 0, "rows_rejected": 0, "rows_filtered": 0}
    for key, entry in state.items():
        if key.startswith("file:"):
            for name in out:
                out[name] += entry[name]
    return out


def reject_lines(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").split("\n")[:-1]]


def rejects_of(target: Path | str, job: str = "table:t") -> Path:
    """The default reject file of ``job`` on ``target``."""
    return Path(default_rejects_path(str(target), job))


def process_alive(pid: int) -> bool:
    """Running, not a zombie left for a parent (or an init that may never reap it)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False
