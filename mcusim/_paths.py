"""Where the bundled firmware sources and profiles live.

In a source checkout they are the top-level ``firmware/`` and ``profiles/`` folders; in an
installed wheel they ship inside the package as ``mcusim/_firmware`` and ``mcusim/_profiles``
(``setup.py`` maps the top-level folders there).  Both are found relative to the package, never
relative to the working directory.  The MLPerf Tiny models used by the demo, the benchmarks
and the lookup-table prior are not bundled: :func:`shared_models_dir` finds them.
"""

from __future__ import annotations

import os
from importlib.resources import files
from pathlib import Path

__all__ = ["data_dir", "shared_models_dir"]


def data_dir(name: str) -> Path:
    """Directory of the bundled ``firmware`` or ``profiles`` data.

    Parameters
    ----------
    name
        ``"firmware"`` or ``"profiles"``.

    Returns
    -------
    Path
        ``<package>/_<name>`` when installed from a wheel, else ``<checkout>/<name>``.
    """
    package = Path(str(files("mcusim")))
    installed = package / f"_{name}"
    if installed.is_dir():
        return installed
    return package.parent / name


def shared_models_dir(override: str | os.PathLike[str] | None = None) -> Path:
    """Folder of the shared real ``.tflite`` models.

    ``override`` when given, else ``$MCUSIM_SHARED_MODELS``, else the first existing
    ``shared/models`` beside the checkout, beside the folder holding it (a worktree) or beside
    the working directory; when none exists, the path beside the checkout (absent).
    """
    if override:
        return Path(override)
    env = os.environ.get("MCUSIM_SHARED_MODELS")
    if env:
        return Path(env)
    checkout = Path(str(files("mcusim"))).resolve().parent
    for root in (checkout.parent, checkout.parent.parent, Path.cwd().resolve().parent):
        candidate = root / "shared" / "models"
        if candidate.is_dir():
            return candidate
    return checkout.parent / "shared" / "models"
