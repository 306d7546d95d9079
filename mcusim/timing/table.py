"""Load a core cost table (``profiles/cores/<core>.toml``) into plain data.

Every class and rule must cite a source listed in the file's ``[sources]``; a table without
it is rejected with :class:`mcusim.errors.ProfileError`, so a cost can never enter the model
without a reference.
"""

from __future__ import annotations

import functools
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from mcusim._paths import data_dir
from mcusim.errors import ProfileError
from mcusim.timing.classify import CLASSES

__all__ = ["ClassCost", "CostTable", "load_cost_table", "CORES_DIR"]

CORES_DIR = data_dir("profiles") / "cores"


@dataclass(frozen=True)
class ClassCost:
    """Cost of one instruction class.

    Attributes
    ----------
    cycles
        Base (issue) cycles.
    per_reg
        Extra cycles per transferred register for register-list instructions.
    latency
        Result latency (dual-issue model only; 1 = usable next cycle).
    source, note
        Citation key and explanation from the table file.
    """

    cycles: int
    per_reg: int = 0
    latency: int = 1
    source: str = ""
    note: str = ""


@dataclass(frozen=True)
class CostTable:
    """A core's cost table: per-class costs and named rule values."""

    core: str
    dual_issue: bool
    classes: dict[str, ClassCost]
    rules: dict[str, int]
    sources: dict[str, str] = field(default_factory=dict)
    path: Path | None = None

    def cost(self, cls: str) -> ClassCost:
        """Cost of class ``cls``."""
        return self.classes[cls]

    def rule(self, name: str) -> int:
        """Value of rule ``name``."""
        return self.rules[name]


def load_cost_table(core_or_path: str | Path) -> CostTable:
    """Read and validate a core table by core name (``"cortex-m4"``) or file path.

    Raises
    ------
    ProfileError
        Missing file, missing class, or an entry without a known ``source``.
    """
    path = Path(core_or_path)
    if not path.suffix:
        path = CORES_DIR / f"{core_or_path}.toml"
    return _load(path.resolve())


@functools.lru_cache(maxsize=8)
def _load(path: Path) -> CostTable:
    if not path.is_file():
        raise ProfileError("no core timing table", file=str(path))
    try:
        raw = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as exc:
        raise ProfileError(f"invalid TOML: {exc}", file=str(path)) from exc
    sources = raw.get("sources", {})
    classes: dict[str, ClassCost] = {}
    for name in CLASSES:
        entry = raw.get("classes", {}).get(name)
        if entry is None:
            raise ProfileError("missing instruction class", file=str(path), field=name)
        _check_source(path, f"classes.{name}", entry, sources)
        classes[name] = ClassCost(int(entry["cycles"]), int(entry.get("per_reg", 0)),
                                  int(entry.get("latency", 1)), entry["source"],
                                  entry.get("note", ""))
    rules: dict[str, int] = {}
    for name, entry in raw.get("rules", {}).items():
        _check_source(path, f"rules.{name}", entry, sources)
        rules[name] = int(entry["value"])
    return CostTable(raw.get("core", path.stem), bool(raw.get("dual_issue", False)),
                     classes, rules, sources, path)


def _check_source(path: Path, where: str, entry: dict, sources: dict) -> None:
    if entry.get("source") not in sources:
        raise ProfileError("entry does not cite a source listed in [sources]",
                           file=str(path), field=where)
