"""Decoded blocks of an image kept in the disk cache, so a fresh process profiles without
Capstone.

A profile decodes each executed block once (:class:`mcusim.decoder.Decoder` caches them in
the process); a new process would decode them again, and importing Capstone alone costs
about 25 ms, as much as the rest of a short profile.  :func:`seed` fills the shared decoder
with the blocks earlier processes decoded for the image, :func:`store` adds the ones this
profile decoded.  Entries are keyed like the other static analyses of the image
(:func:`mcusim._image_cache.analysis_key`: its code, the decoder's and Capstone's sources),
and every block by its address and bytes as executed, so a block is never served for other
bytes.  Concurrent writers may drop each other's additions: those blocks are only decoded
again.
"""

from __future__ import annotations

import weakref

from mcusim._image_cache import analysis_key, read_analysis, write_analysis
from mcusim.decoder import Block, Decoder
from mcusim.loader import LoadedImage

_DEPENDS = ("mcusim.decoder", "capstone")
_Key = tuple[int, bytes]
#: Per decoder: the image keys already seeded into it.
_SEEDED: weakref.WeakKeyDictionary[Decoder, set[str]] = weakref.WeakKeyDictionary()
#: Per image key: the blocks known to be on disk (read or written by this process).
_ON_DISK: dict[str, set[_Key]] = {}


def _key(image: LoadedImage) -> str:
    return analysis_key(image, "blocks", _DEPENDS)


def seed(image: LoadedImage, decoder: Decoder) -> None:
    """Give ``decoder`` the blocks of ``image`` decoded by earlier processes (once)."""
    key = _key(image)
    done = _SEEDED.setdefault(decoder, set())
    if key in done:
        return
    done.add(key)
    found, entries = read_analysis(key)
    if not found or not isinstance(entries, list):
        entries = []
    decoder.seed(entries)
    _ON_DISK.setdefault(key, set()).update((a, c) for a, c, _ in entries)


def store(image: LoadedImage, decoder: Decoder, keys: list[_Key]) -> None:
    """Add the blocks ``keys`` (``(address, code)`` as executed) that ``decoder`` holds
    and the disk copy of ``image``'s blocks lacks."""
    key = _key(image)
    known = _ON_DISK.setdefault(key, set())
    new = {k for k in keys if k not in known}
    if not new:
        return
    found, entries = read_analysis(key)      # another process may have added some
    if not found or not isinstance(entries, list):
        entries = []
    have = {(a, c) for a, c, _ in entries}
    for address, code in sorted(new - have):
        blk = decoder.cached(address, code)
        if isinstance(blk, Block):
            entries.append((address, code, blk))
    write_analysis(key, entries)
    known.update(have | new)

