"""Shared by the benchmark scripts: put a generated block into README.md between markers."""

from __future__ import annotations

import sys
from pathlib import Path

README = Path(__file__).resolve().parent.parent / "README.md"


def write_section(name: str, text: str, readme: Path = README) -> bool:
    """Replace what stands between ``<!-- NAME:start -->`` and ``<!-- NAME:end -->``.

    Returns False (and writes nothing) when the file or a marker is missing; the caller then
    prints the text instead.
    """
    start, end = f"<!-- {name}:start -->", f"<!-- {name}:end -->"
    body = readme.read_text() if readme.exists() else ""
    if start not in body or end not in body:
        return False
    head, rest = body.split(start, 1)
    _, tail = rest.split(end, 1)
    readme.write_text(f"{head}{start}\n{text}\n{end}{tail}")
    return True


def publish(name: str, text: str, readme: Path = README) -> None:
    """Write ``text`` into the README section ``name``, or print it when there is none."""
    if write_section(name, text, readme):
        print(f"wrote the {name} into {readme}", file=sys.stderr)
    else:
        print(text)
