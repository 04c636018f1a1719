"""MkDocs hooks: links from docs/ to files of the repository (``../configs/quickstart.toml``).

On GitHub such a link opens the file; on the site the file is published under ``repo/``
and the link rewritten to it, so both work and ``mkdocs build --strict`` still checks it.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from mkdocs.structure.files import File, Files

ROOT = Path(__file__).resolve().parents[1]
REPO_LINK = re.compile(r"\]\(\.\./(?!docs/)([^)#\s]+)")


def _targets(files: Files) -> set[str]:
    found: set[str] = set()
    for page in files.documentation_pages():
        found.update(REPO_LINK.findall(Path(page.abs_src_path or "").read_text(encoding="utf-8")))
    return {t for t in found if not t.endswith(".md") and (ROOT / t).is_file()}


def on_files(files: Files, config: Any) -> Files:
    for target in sorted(_targets(files)):
        files.append(File.generated(config, f"repo/{target}", abs_src_path=str(ROOT / target)))
    return files


def on_page_markdown(markdown: str, page: Any, config: Any, files: Files) -> str:
    depth = page.file.src_uri.count("/")
    return REPO_LINK.sub(lambda m: "](" + "../" * depth + "repo/" + m.group(1), markdown)
