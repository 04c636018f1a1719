"""The README is the front door: its commands and its Python example must work."""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
from pathlib import Path

from tests.reliability_util import env

ROOT = Path(__file__).parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")


def block_after(marker: str) -> str:
    m = re.search(re.escape(marker) + r"\s*```\w*\n(.*?)```", README, re.S)
    assert m, f"no code block after {marker}"
    return m.group(1)


def test_python_example_runs(tmp_path: Path) -> None:
    code = block_after("<!-- python-example -->")
    # run from a copy of the sample configs so outputs land in tmp_path
    (tmp_path / "configs").symlink_to(ROOT / "configs")
    p = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, env=env(), timeout=120
    )
    assert p.returncode == 0, p.stderr
    lines = p.stdout.splitlines()
    assert lines[0].startswith("ok 1000 0 ")
    assert (tmp_path / "out" / "example.db").exists() and (tmp_path / "out" / "example.ldb").is_dir()
    assert lines[-1].startswith("ok: 1,000 rows written to out/example-quickstart.db (table events)")


def test_ci_runs_the_readme_test_command() -> None:
    command = block_after("<!-- test-command -->").strip()
    ci = (ROOT / ".ci" / "run").read_text()
    assert "<!-- test-command -->" in ci  # .ci/run extracts and runs exactly that line
    assert command.startswith("python3 -m venv .venv") and "pytest" in command
    assert command.endswith("-n auto")  # on every core: the suite's 10-minute budget counts on both


def test_quickstart_command_names_the_bundled_job() -> None:
    command = block_after("<!-- quickstart-command -->").strip()
    assert command.endswith("loader run configs/quickstart.toml")
    assert (ROOT / "configs" / "quickstart.toml").exists()


def test_the_package_description_names_what_loader_reads_and_writes() -> None:
    """The one line PyPI and ``pip show`` give, as the README's first one says it."""
    description = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]["description"]
    for name in ("CSV", "Parquet", "JSON Lines", "Arrow IPC", "SQLite", "LevelDB"):
        assert name in description, description


def _slug(heading: str) -> str:
    """A heading's anchor as MkDocs makes it (Python-Markdown's ``toc`` slugify)."""
    return re.sub(r"[-\s]+", "-", re.sub(r"[^\w\- ]", "", heading.lstrip("#").strip().lower()))


def test_links_between_the_readme_and_docs_resolve() -> None:
    """Every relative link of the README and docs/ names a file that exists, and a heading
    in it where it names an anchor (sections moved between files must not leave dead links)."""
    pages = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
    assert len(pages) > 1
    dead = []
    for page in pages:
        for target in re.findall(r"\]\(([^)\s]+)\)", page.read_text(encoding="utf-8")):
            if re.match(r"[a-z]+://", target):
                continue
            path, _, anchor = target.partition("#")
            file = (page.parent / path).resolve() if path else page
            if not file.exists():
                dead.append(f"{page.name}: {target}")
                continue
            if anchor and file.suffix == ".md":
                headings = {
                    _slug(line) for line in file.read_text(encoding="utf-8").splitlines() if line.startswith("#")
                }
                if anchor not in headings:
                    dead.append(f"{page.name}: {target}")
    assert dead == []


def test_the_error_example_is_what_the_product_prints(tmp_path: Path) -> None:
    """hunt28b D6: the README's example left out the job file's name, which leads the line."""
    from tests.reliability_util import cli

    shown = block_after("shows the traceback:")
    (tmp_path / "job.toml").write_text('[source]\npath = "a.csv"\n[sink]\npath = "a.db"\ntabel = "e"\n')
    p = cli("validate", "job.toml", cwd=tmp_path)
    assert (p.returncode, p.stderr) == (2, shown)


def test_validate_s_help_says_it_takes_no_key_flags() -> None:
    """hunt28b D7: "Same as run --dry-run.", yet `validate --engine processes` is refused."""
    from tests.reliability_util import cli

    p = cli("validate", "--help")
    assert (
        " ".join(p.stdout.split()).count(
            "Same as run --dry-run, but it takes no key flags: set keys with --set "
            "(--set run.engine=processes for run's --engine processes)."
        )
        == 1
    )
    assert "loader validate job.toml              # run --dry-run without run's flags" in README
