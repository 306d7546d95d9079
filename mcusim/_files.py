"""Bounded, regular-file-only reading and checked output paths (shared by every file user).

A FIFO given as an input blocks ``open`` forever and ``/dev/zero`` never ends, so every
reader goes through :func:`read_regular`: it looks at the file with ``stat`` (which does not
block), refuses anything that is not a regular file or is larger than the caller's limit,
and reads at most that many bytes.  :func:`check_output` does the same for files mcusim
writes (a directory, a missing parent directory, a device).
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from mcusim.errors import FileError, McusimError


def _kind(mode: int) -> str:
    for test, name in ((stat.S_ISDIR, "a directory"), (stat.S_ISFIFO, "a FIFO (named pipe)"),
                       (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
                       (stat.S_ISSOCK, "a socket")):
        if test(mode):
            return name
    return "not a regular file"


def check_regular(path: str | Path, limit: int, error: type[McusimError] = FileError,
                  what: str = "file") -> Path:
    """Raise ``error`` unless ``path`` is an existing regular file of at most ``limit`` bytes.

    Parameters
    ----------
    path
        The file.
    limit
        Largest accepted size in bytes.
    error
        The :class:`~mcusim.errors.McusimError` subclass to raise (names ``file``).
    what
        What the file is, for the message (``"ELF"``, ``"board profile"``, ...).

    Returns
    -------
    Path
    """
    text = str(path)
    if "\0" in text:
        raise error(f"{what} path contains a NUL byte", file=repr(text))
    path = Path(text)
    try:
        info = os.stat(path)
    except FileNotFoundError:
        raise error(f"{what} not found", file=text) from None
    except (OSError, ValueError) as exc:
        raise error(f"cannot read {what}: {getattr(exc, 'strerror', None) or exc}",
                    file=text) from None
    if not stat.S_ISREG(info.st_mode):
        raise error(f"{what} is {_kind(info.st_mode)}, not a regular file", file=text)
    if info.st_size > limit:
        raise error(f"{what} is too large ({info.st_size} bytes; at most {limit})", file=text)
    return path


def read_regular(path: str | Path, limit: int, error: type[McusimError] = FileError,
                 what: str = "file") -> bytes:
    """The bytes of a regular file of at most ``limit`` bytes (see :func:`check_regular`)."""
    path = check_regular(path, limit, error, what)
    try:
        # O_NONBLOCK: should the file be swapped for a FIFO after the check, open won't hang.
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
        with os.fdopen(fd, "rb") as handle:
            if not stat.S_ISREG(os.fstat(handle.fileno()).st_mode):
                raise error(f"{what} is not a regular file", file=str(path))
            data = handle.read(limit + 1)
    except OSError as exc:
        raise error(f"cannot read {what}: {exc.strerror or exc}", file=str(path)) from None
    if len(data) > limit:
        raise error(f"{what} is too large (more than {limit} bytes)", file=str(path))
    return data


def check_output(path: str | Path, what: str = "output file",
                 suffixes: tuple[str, ...] = ()) -> Path:
    """Check that ``path`` can be written as a regular file before any work is done.

    Raises :class:`~mcusim.errors.FileError` for a NUL byte, a directory, an existing
    non-regular file, a missing parent directory, or (when ``suffixes`` is given) an
    unsupported file extension.
    """
    text = str(path)
    if not text or "\0" in text:
        raise FileError(f"invalid {what} path", file=repr(text))
    path = Path(text)
    if suffixes and path.suffix.lower() not in suffixes:
        raise FileError(f"unsupported {what} format {path.suffix or '(none)'!r}",
                        file=text, supported=", ".join(suffixes))
    try:
        if path.exists() and not path.is_file():
            raise FileError(f"{what} is {_kind(os.stat(path).st_mode)}", file=text)
        parent = path.parent
        if not parent.is_dir():
            raise FileError(f"the directory of the {what} does not exist", file=text,
                            directory=str(parent))
    except OSError as exc:
        raise FileError(f"cannot write {what}: {exc.strerror or exc}", file=text) from None
    return path
