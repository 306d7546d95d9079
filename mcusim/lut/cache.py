"""Disk cache of sweep results, keyed by firmware hash + configuration.

Results are appended, one JSON line per configuration, to
``<root>/<board>-<hash>.jsonl`` as they finish, so an interrupted sweep keeps what it
measured and a repeated or extended sweep only runs the rows that are new.  A torn last
line (the process was killed mid-write) is ignored when reading.

The root is ``$MCUSIM_CACHE_DIR/lut`` (default ``~/.cache/mcusim/lut``; see
:func:`mcusim.build.cache_dir`) unless given.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Iterable

from mcusim.build import cache_dir

__all__ = ["ResultCache", "default_root"]


def default_root() -> Path:
    """``<mcusim cache dir>/lut``."""
    return cache_dir() / "lut"


class ResultCache:
    """Append-only result store.

    Parameters
    ----------
    root
        Folder of the cache files (created on first write); None for :func:`default_root`.

    Examples
    --------
    >>> cache = ResultCache(tmp_path)                                  # doctest: +SKIP
    >>> cache.put("stm32f469i", "ab12", [("key1", {"cycles": 10})])    # doctest: +SKIP
    >>> cache.get("stm32f469i", "ab12")["key1"]["cycles"]              # doctest: +SKIP
    10
    """

    def __init__(self, root: str | Path | None = None) -> None:
        self.root = Path(root) if root is not None else default_root()
        self._loaded: dict[Path, dict[str, dict[str, Any]]] = {}

    def _file(self, board: str, fw_hash: str) -> Path:
        safe = "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in Path(board).stem)
        return self.root / f"{safe}-{fw_hash}.jsonl"

    def get(self, board: str, fw_hash: str) -> dict[str, dict[str, Any]]:
        """All cached results of a board and firmware hash, by configuration key."""
        path = self._file(board, fw_hash)
        if path not in self._loaded:
            found: dict[str, dict[str, Any]] = {}
            if path.exists():
                with path.open(encoding="utf-8") as fh:
                    for line in fh:
                        try:
                            rec = json.loads(line)
                        except json.JSONDecodeError:
                            continue  # torn line of an interrupted write
                        found[rec["key"]] = rec["row"]
            self._loaded[path] = found
        return self._loaded[path]

    def put(self, board: str, fw_hash: str, items: Iterable[tuple[str, dict[str, Any]]]) -> None:
        """Append results and flush them to disk at once."""
        path = self._file(board, fw_hash)
        known = self.get(board, fw_hash)
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("a", encoding="utf-8") as fh:
            for key, row in items:
                fh.write(json.dumps({"key": key, "row": row}) + "\n")
                known[key] = row
            fh.flush()
            os.fsync(fh.fileno())
