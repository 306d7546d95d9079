"""Shared by the benchmark scripts: put a generated block into its page between markers.

Each generated block (``<!-- NAME:start -->`` ... ``<!-- NAME:end -->``) lives in one page of
``docs/`` (:data:`TARGETS`); the README links to those pages.
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
DOCS = ROOT / "docs"
#: The page that holds each generated block.
TARGETS: dict[str, Path] = {
    "speed-table": DOCS / "performance.md",
    "startup-table": DOCS / "performance.md",
    "hooks-table": DOCS / "performance.md",
    "profile-table": DOCS / "performance.md",
    "call-table": DOCS / "performance.md",
    "variants-table": DOCS / "performance.md",
    "entry-table": DOCS / "performance.md",
    "loops-table": DOCS / "performance.md",
    "s8-table": DOCS / "kernels_s8.md",
    "packed-table": DOCS / "kernels_packed.md",
    "trec-table": DOCS / "kernels_trec.md",
    "models-table": DOCS / "models.md",
    "coremark-table": DOCS / "memory_model.md",
    "nas-table": DOCS / "nas_search.md",
    "lut-table": DOCS / "lut.md",
}


def target(name: str) -> Path:
    """The page holding block ``name`` (the README for a block not listed in TARGETS)."""
    return TARGETS.get(name, README)


def write_section(name: str, text: str, page: Path | None = None) -> bool:
    """Replace what stands between ``<!-- NAME:start -->`` and ``<!-- NAME:end -->``.

    Returns False (and writes nothing) when the file or a marker is missing; the caller then
    prints the text instead.
    """
    page = target(name) if page is None else page
    start, end = f"<!-- {name}:start -->", f"<!-- {name}:end -->"
    body = page.read_text() if page.exists() else ""
    if start not in body or end not in body:
        return False
    head, rest = body.split(start, 1)
    _, tail = rest.split(end, 1)
    page.write_text(f"{head}{start}\n{text}\n{end}{tail}")
    return True


def publish(name: str, text: str, page: Path | None = None, *, dry: bool = False) -> None:
    """Write ``text`` into block ``name`` of its page (default :func:`target`), or print it
    when the page has no such block or ``dry`` (a script's ``--no-readme``) is set."""
    page = target(name) if page is None else page
    if not dry and write_section(name, text, page):
        print(f"wrote the {name} into {page}", file=sys.stderr)
    else:
        print(text)
