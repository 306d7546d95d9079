"""Import a package that only an extra installs, or fail with the ``pip install`` line.

Every feature that needs a package outside the required dependencies imports it through
:func:`require`, so a plain ``pip install mcusim`` ends in a clear
:class:`~mcusim.errors.MissingDependencyError` instead of a ``ModuleNotFoundError`` traceback.
"""

from __future__ import annotations

import importlib
from types import ModuleType

from mcusim.errors import MissingDependencyError

__all__ = ["require"]


def require(module: str, extra: str, *, purpose: str = "") -> ModuleType:
    """Import ``module``; if it (or something it needs) is missing, name the extra.

    Parameters
    ----------
    module
        Dotted module name, e.g. ``"sklearn.datasets"``.
    extra
        The mcusim extra that installs it (``pip install "mcusim[<extra>]"``).
    purpose
        What the package is needed for (shown in the message).

    Returns
    -------
    ModuleType
        The imported module.

    Raises
    ------
    MissingDependencyError
        When the import fails.
    """
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        missing = (getattr(exc, "name", None) or module).split(".")[0]
        what = f" for {purpose}" if purpose else ""
        raise MissingDependencyError(
            f"the Python package {missing!r} is needed{what} but is not installed",
            hint=f'pip install "mcusim[{extra}]"') from None
