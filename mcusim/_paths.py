"""Where the bundled firmware sources and profiles live.

In a source checkout they are the top-level ``firmware/`` and ``profiles/`` folders; in an
installed wheel they ship inside the package as ``mcusim/_firmware`` and ``mcusim/_profiles``
(``setup.py`` maps the top-level folders there).  Both are found relative to the package, never
relative to the working directory.
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

__all__ = ["data_dir"]


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
