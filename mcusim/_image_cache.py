"""Parsed ELF images reused across machines and processes.

Parsing an ELF with pyelftools (segments, symbols, the DWARF line table, then the function
signatures on the first call) costs 0.1-0.3 s per image, more than creating the machine.
:func:`load_image` returns the same :class:`~mcusim.loader.LoadedImage` for an unchanged
file within a process, and keeps a pickled copy (signatures parsed) in the build cache
(``$MCUSIM_CACHE_DIR`` or ``~/.cache/mcusim``) keyed by the file's bytes, its path and the
loader's source, so another process skips the parse.  Anything unusual (no such file, a
cache entry that does not load) falls back to :func:`~mcusim.loader.load_elf`, which also
reports every error.
"""

from __future__ import annotations

import hashlib
import os
import pickle
from pathlib import Path

from mcusim import loader
from mcusim.loader import LoadedImage, load_elf

_MEMO: dict[tuple[str, int, int], LoadedImage] = {}
_MEMO_MAX = 64


def _loader_version() -> bytes:
    """Changes whenever the loader (and so the pickled classes) changes."""
    return Path(loader.__file__).read_bytes()


def load_image(path: str | os.PathLike[str]) -> LoadedImage:
    """:func:`~mcusim.loader.load_elf`, reusing earlier parses of the same file."""
    if not isinstance(path, (str, os.PathLike)):
        return load_elf(path)
    p = Path(path)
    try:
        st = p.stat()
        resolved = str(p.resolve())
    except (OSError, ValueError):       # e.g. no such file, a NUL in the name
        return load_elf(path)
    if not p.is_file() or st.st_size > loader.MAX_ELF_BYTES:
        return load_elf(path)
    memo_key = (resolved, st.st_mtime_ns, st.st_size)
    image = _MEMO.get(memo_key)
    if image is not None and image.path == p:
        return image
    blob = p.read_bytes()
    digest = hashlib.sha256(blob + resolved.encode() + str(p).encode()
                            + _loader_version()).hexdigest()[:32]
    from mcusim.build import cache_dir

    cached = cache_dir() / "images" / f"{digest}.pickle"
    image = None
    if cached.is_file():
        try:
            with cached.open("rb") as f:
                image = pickle.load(f)
        except Exception:   # a damaged or foreign entry: parse again
            image = None
        if not isinstance(image, LoadedImage):
            image = None
    if image is None:
        image = load_elf(path)
        image.signature("")                 # parse the DWARF signatures now, pickled with it
        try:
            cached.parent.mkdir(parents=True, exist_ok=True)
            tmp = cached.with_name(f".{os.getpid()}.{cached.name}")
            with tmp.open("wb") as f:
                pickle.dump(image, f, protocol=pickle.HIGHEST_PROTOCOL)
            os.replace(tmp, cached)
        except OSError:                     # a read-only cache only costs the next parse
            pass
    if len(_MEMO) >= _MEMO_MAX:
        _MEMO.clear()
    _MEMO[memo_key] = image
    return image
