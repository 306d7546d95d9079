"""How the C hooks (``_native_hooks.c``) are compiled: flags, layout defines, cache key.

Imports nothing from mcusim (and no numpy), so ``setup.py`` loads this file by path to build
the prebuilt library shipped in wheels, and :mod:`mcusim.native` uses it for the build in
the cache (the fallback of checkouts and of wheels built without a compiler).  The state
layout comes from the sibling ``_native_layout.py``, read the same way.
"""

from __future__ import annotations

import hashlib
import sys
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:   # subprocess and runpy are imported when needed: not on a warm start
    import subprocess

SOURCE = Path(__file__).with_name("_native_hooks.c")
LAYOUT = Path(__file__).with_name("_native_layout.py")
CFLAGS = ("-O2", "-fPIC", "-shared", "-std=c99", "-fno-strict-aliasing")
#: The library a wheel carries next to this file, and the file holding its source key.
PREBUILT = "_native_hooks.so"
PREBUILT_KEY = "_native_hooks.key"


def layout_defines() -> list[str]:
    """The state layout as ``-D`` flags (one definition: ``_native_layout.py``; the module
    itself when mcusim has imported it, else the file run by path, as ``setup.py`` does)."""
    module = sys.modules.get("mcusim._native_layout")
    if module is not None and Path(module.__file__ or "") == LAYOUT:
        layout = vars(module)
    else:
        import runpy

        layout = runpy.run_path(str(LAYOUT))
    return [f"-D{n}={layout[n]}ull" for n in sorted(layout) if n.isupper()]


def flags() -> list[str]:
    """Every compiler flag, the layout included."""
    return [*CFLAGS, *layout_defines()]


def source_key() -> str:
    """Hash of the source and the flags: a prebuilt library is used only when its recorded
    key equals this one (a changed source or layout makes it stale)."""
    text = "\0".join([SOURCE.read_text(), *flags()])
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def compile_hooks(cc: str, out: Path,
                  extra: tuple[str, ...] = ()) -> subprocess.CompletedProcess[str]:
    """Compile the hooks with ``cc`` into the shared library ``out`` (``extra``: more flags,
    e.g. ``-DMCUSIM_HOOKS_REFERENCE`` for the tests' reference build without shortcuts)."""
    import subprocess

    return subprocess.run([cc, *flags(), *extra, "-o", str(out), str(SOURCE)],
                          capture_output=True, text=True, check=False)
