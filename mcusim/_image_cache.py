"""Parsed ELF images, and what is computed from their code, reused across machines and processes.

Parsing an ELF with pyelftools (segments, symbols, the DWARF line table, then the function
signatures on the first call) costs 0.1-0.3 s per image, more than creating the machine.
:func:`load_image` returns the same :class:`~mcusim.loader.LoadedImage` for an unchanged
file within a process, and keeps a pickled copy (signatures parsed) in the build cache
(``$MCUSIM_CACHE_DIR`` or ``~/.cache/mcusim``) keyed by the file's bytes, its path and the
loader's source, so another process skips the parse.  Anything unusual (no such file, a
cache entry that does not load) falls back to :func:`~mcusim.loader.load_elf`, which also
reports every error.

:func:`cached_analysis` does the same for a static analysis of an image's code (the trap
sites of :mod:`mcusim.traps`: decoding a whole image costs 20-200 ms and needs Capstone,
whose import alone costs about 25 ms): the result is kept in memory and pickled under
``analysis/`` in the cache, keyed by the bytes and addresses of the executable sections
(what the analysis reads) and the sources of the modules it depends on, so a new ELF, a
changed kernel or a new mcusim or Capstone version computes it again.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.util
import os
import pickle
import sys
from pathlib import Path
from typing import Callable, TypeVar

from mcusim import loader
from mcusim.loader import LoadedImage, load_elf

_MEMO: dict[tuple[str, int, int], LoadedImage] = {}
_MEMO_MAX = 64
_ANALYSES: dict[str, object] = {}
#: ``(id(image), kind, depends)`` -> (the image, its key): hashing the code once per image.
_KEYS: dict[tuple[int, str, tuple[str, ...]], tuple[LoadedImage, str]] = {}
#: Bump when the layout of a pickled analysis changes without its modules' sources changing.
ANALYSIS_SCHEMA = 1
T = TypeVar("T")


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
    found, image = _read_pickle(cached)
    if not found or not isinstance(image, LoadedImage):
        image = load_elf(path)
        image.signature("")                 # parse the DWARF signatures now, pickled with it
        _write_pickle(cached, image)        # a read-only cache only costs the next parse
    if len(_MEMO) >= _MEMO_MAX:
        _MEMO.clear()
    _MEMO[memo_key] = image
    return image


@functools.lru_cache(maxsize=None)
def _module_digest(name: str) -> bytes:
    """Digest of the source of module ``name`` (found without importing it), or of its name
    when it has no readable source file."""
    module = sys.modules.get(name)
    origin = getattr(module, "__file__", None)
    if origin is None:
        try:
            spec = importlib.util.find_spec(name)
        except (ImportError, ValueError):
            spec = None
        origin = spec.origin if spec is not None else None
    try:
        return hashlib.sha256(Path(origin).read_bytes()).digest() if origin else name.encode()
    except OSError:
        return name.encode()


def analysis_key(image: LoadedImage, kind: str, depends: tuple[str, ...]) -> str:
    """The cache key of analysis ``kind`` of ``image`` (see :func:`cached_analysis`)."""
    memo = (id(image), kind, depends)
    known = _KEYS.get(memo)
    if known is not None and known[0] is image:
        return known[1]
    h = hashlib.sha256(f"{kind}\0{ANALYSIS_SCHEMA}\0".encode())
    for name in depends:
        h.update(_module_digest(name))
    for sec in image.sections:
        if sec.executable and not sec.nobits:
            h.update(f"{sec.address:x}:{sec.size:x}\0".encode())
            h.update(image.read(sec.address, sec.size))
    key = f"{kind}-{h.hexdigest()[:32]}"
    if len(_KEYS) >= 4 * _MEMO_MAX:
        _KEYS.clear()
    _KEYS[memo] = (image, key)
    return key


def _read_pickle(path: Path) -> tuple[bool, object]:
    """``(True, value)`` pickled in ``path``, or ``(False, None)`` when it is absent or
    does not load (a damaged or foreign entry counts as absent)."""
    if not path.is_file():
        return False, None
    try:
        with path.open("rb") as f:
            return True, pickle.load(f)
    except Exception:
        return False, None


def _write_pickle(path: Path, value: object) -> None:
    """Pickle ``value`` into ``path`` atomically; a cache that cannot be written only costs
    recomputing the value later."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{os.getpid()}.{path.name}")
        with tmp.open("wb") as f:
            pickle.dump(value, f, protocol=pickle.HIGHEST_PROTOCOL)
        os.replace(tmp, path)
    except OSError:
        pass


def _analysis_path(key: str) -> Path:
    from mcusim.build import cache_dir

    return cache_dir() / "analysis" / f"{key}.pickle"


def read_analysis(key: str) -> tuple[bool, object]:
    """``(True, value)`` stored under ``key`` (:func:`analysis_key`) in the disk cache, or
    ``(False, None)`` when absent or unreadable."""
    found, entry = _read_pickle(_analysis_path(key))
    if found and isinstance(entry, tuple) and len(entry) == 2 and entry[0] == key:
        return True, entry[1]
    return False, None


def write_analysis(key: str, value: object) -> None:
    """Store ``value`` under ``key`` in the disk cache (atomically)."""
    _write_pickle(_analysis_path(key), (key, value))


def cached_analysis(image: LoadedImage, kind: str, compute: Callable[[], T], *,
                    depends: tuple[str, ...]) -> T:
    """``compute()``, a static analysis of ``image``'s code, computed once per distinct code.

    Parameters
    ----------
    image
        The image analysed; only its executable sections (addresses and bytes) may matter.
    kind
        Name of the analysis (part of the key and of the file name).
    compute
        Computes the result: plain, picklable data.
    depends
        Modules whose source the result depends on (e.g. ``("mcusim.traps",
        "mcusim.decoder", "capstone")``): changing any of them computes it again.

    Returns
    -------
    The result, from memory, from the disk cache, or computed (and then stored).
    """
    key = analysis_key(image, kind, depends)
    if key in _ANALYSES:
        return _ANALYSES[key]   # type: ignore[return-value]
    found, result = read_analysis(key)
    if not found:
        result = compute()
        write_analysis(key, result)
    if len(_ANALYSES) >= _MEMO_MAX:
        _ANALYSES.clear()
    _ANALYSES[key] = result
    return result   # type: ignore[return-value]
