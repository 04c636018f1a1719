"""The documentation: the site builds without a warning, the job-file reference is generated
from the config classes, and the shell blocks of the README and the getting-started page run."""

from __future__ import annotations

import gzip
import os
import re
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from tests.reliability_util import env

ROOT = Path(__file__).parents[1]
sys.path.insert(0, str(ROOT / "docs"))

import gen_reference  # noqa: E402

SHELL_BLOCK = re.compile(r"((?:^<!--[^\n]*-->\n)*)^```(?:sh|bash|shell)\n(.*?)^```", re.M | re.S)


def test_site_builds_strict(tmp_path: Path) -> None:
    site = tmp_path / "site"
    p = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "-f", str(ROOT / "mkdocs.yml"), "-d", str(site)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
        env=env({"NO_MKDOCS_2_WARNING": "1"}),
    )
    assert p.returncode == 0, p.stderr
    assert "WARNING" not in p.stderr, p.stderr
    api = (site / "api" / "index.html").read_text(encoding="utf-8")
    for name in ("load", "Pipeline", "RunReport", "SourceConfig", "SinkConfig", "RunConfig", "ConfigError"):
        assert f'id="loader.{name}"' in api, name  # rendered from the docstrings by mkdocstrings
    assert "rows_written" in api
    assert "Rows written to the target." in api  # RunReport's fields, described
    assert 'id="loader.NothingLoadedError"' in api
    assert 'id="loader.Pipeline.from_config"' in api  # documented by its docstring
    # Google-style sections are rendered as parameter tables, not run-on text
    assert "Args:" not in api
    # links from docs/ to repository files are published with the site
    assert (site / "repo" / "configs" / "quickstart.toml").read_bytes() == (
        ROOT / "configs" / "quickstart.toml"
    ).read_bytes()


def test_job_file_reference_is_generated_and_current() -> None:
    page = gen_reference.PAGE.read_text(encoding="utf-8")
    assert gen_reference.render(page) == page, "docs/job-files.md is out of date: run python docs/gen_reference.py"
    assert "| `chunk_size` | integer | `8192` | Rows per chunk" in page
    assert "| `write_buffer_size` | size | `8388608` | LevelDB write buffer" in page  # a size: bytes or text
    assert 'A key of type size takes a number of bytes or text such as `"64MiB"`' in page
    assert '| `format` | `"csv"` \\| `"parquet"` \\| `"jsonl"` \\| `"arrow"` | unset |' in page


def test_every_job_file_key_has_a_docstring() -> None:
    assert gen_reference.undocumented() == []


def test_a_key_without_a_docstring_is_found() -> None:
    import ast

    from loader import config

    class C:
        pass

    source = 'class C:\n    a: int = 1\n    """Documented."""\n    b: int = 2\n    c: str = ""\n    """Also."""\n'
    assert config.field_docs(C, ast.parse(source)) == {"a": "Documented.", "c": "Also."}


def shell_blocks(text: str) -> list[str]:
    """The shell blocks meant to run: not those after a ``<!-- no-run: why -->`` comment."""
    return [code for comments, code in SHELL_BLOCK.findall(text) if "no-run" not in comments]


def checkout_copy(tmp_path: Path) -> tuple[Path, dict[str, str]]:
    """The package and its configs in a temp directory, with ``loader`` and ``python3`` on PATH
    running this interpreter on that copy (as an installed ``loader`` would)."""
    repo = tmp_path / "repo"
    for name in ("loader", "configs"):
        shutil.copytree(ROOT / name, repo / name, ignore=shutil.ignore_patterns("__pycache__"))
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name, args in (("loader", "-m loader "), ("python3", "")):
        (bin_dir / name).write_text(f'#!/bin/sh\nexec "{sys.executable}" {args}"$@"\n')
        (bin_dir / name).chmod(0o755)
    run_env = env()
    run_env.update(PYTHONPATH=str(repo), PATH=f"{bin_dir}{os.pathsep}{run_env['PATH']}")
    return repo, run_env


def run_blocks(blocks: list[str], cwd: Path, run_env: dict[str, str]) -> None:
    for code in blocks:
        p = subprocess.run(
            ["bash", "-euo", "pipefail", "-c", code], cwd=cwd, env=run_env, capture_output=True, text=True, timeout=120
        )
        assert p.returncode == 0, f"{code}\nexit {p.returncode}\n{p.stdout}\n{p.stderr}"


def count(db: Path, table: str) -> int:
    with sqlite3.connect(db) as conn:
        return int(conn.execute(f'select count(*) from "{table}"').fetchone()[0])


def test_getting_started_blocks_run(tmp_path: Path) -> None:
    blocks = shell_blocks((ROOT / "docs" / "getting-started.md").read_text(encoding="utf-8"))
    assert len(blocks) >= 4 and any("loader run configs/quickstart.toml" in b for b in blocks)
    repo, run_env = checkout_copy(tmp_path)
    run_blocks(blocks, repo, run_env)
    assert count(repo / "out" / "quickstart.db", "events") == 1000
    assert count(repo / "out" / "events.db", "events") == 1000
    assert (repo / "out" / "events.ldb" / "CURRENT").exists()


def test_readme_shell_blocks_run(tmp_path: Path) -> None:
    """The command-line tour names inputs of its own (data/events.csv, rows.csv, job.toml):
    made here from the bundled sample before the blocks run."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    blocks = shell_blocks(readme)
    assert len(SHELL_BLOCK.findall(readme)) > len(blocks) >= 1  # the install commands are marked
    repo, run_env = checkout_copy(tmp_path)
    sample = ROOT / "configs" / "sample" / "events.csv"
    (repo / "data").mkdir()
    shutil.copy(sample, repo / "data" / "events.csv")
    pq.write_table(pacsv.read_csv(sample), repo / "data" / "events.parquet")
    (repo / "data" / "events-1.csv.gz").write_bytes(gzip.compress(sample.read_bytes()))
    shutil.copy(sample, repo / "rows.csv")
    # beside the paths it names, so they resolve the same from the job file and from the current directory
    job = '[source]\npath = "configs/sample/events.csv"\n[sink]\npath = "out/job.db"\ntable = "events"\n'
    (repo / "job.toml").write_text(job)
    run_blocks(blocks, repo, run_env)
    assert count(repo / "out" / "events.db", "events") == 1000
    assert count(repo / "out" / "all.db", "events") == 1000
    assert count(repo / "out" / "x.db", "x") == 1000 and count(repo / "out" / "x.db", "events") == 1000
    assert (repo / "out" / "events.ldb" / "CURRENT").exists()


def _module_map() -> set[str]:
    """The paths under loader/ that docs/development.md's module map names: an entry's own
    name is in loader/, a name in a package's description is in that package."""
    text = (ROOT / "docs" / "development.md").read_text(encoding="utf-8")
    block = text[text.index("```\nloader/") + 4 : text.index("\nconfigs/ ")]
    named, package = set(), ""
    for line in block.splitlines()[1:]:
        names = re.findall(r"[\w.]+\.py|\w+/", line)
        if not line.startswith("   "):  # an entry, not a description's next line
            package = line.split()[0] if line.split()[0].endswith("/") else ""
            named.add(names.pop(0))
        named.update(package + name for name in names)
    return named


def test_the_module_map_names_the_package_as_it_is() -> None:
    package = ROOT / "loader"
    named = _module_map()
    assert sorted(n for n in named if not (package / n).exists()) == []
    modules = {p.relative_to(package).as_posix() for p in package.glob("*.py")}
    for sub in (p for p in package.iterdir() if (p / "__init__.py").exists()):
        modules |= {f"{sub.name}/"} | {f"{sub.name}/{p.name}" for p in sub.glob("*.py") if p.name != "__init__.py"}
        modules |= {f"{sub.name}/{p.name}/" for p in sub.iterdir() if (p / "__init__.py").exists()}
    assert sorted(modules - named) == []


def test_the_api_page_s_reader_example_runs() -> None:
    """hunt28b D12: the README called the readers importable on their own, and nothing showed
    how to make one (``CSVReader("events.csv")`` raises a TypeError)."""
    text = (ROOT / "docs" / "api.md").read_text(encoding="utf-8")
    section = text[text.index("\n## Readers\n") :]
    block = section[section.index("```python\n") + 10 : section.index("\n```\n")]
    names: dict[str, object] = {}
    cwd = os.getcwd()
    os.chdir(ROOT)
    try:
        exec(compile(block, "docs/api.md", "exec"), names)
    finally:
        os.chdir(cwd)
    assert names["rows"] == 1000
