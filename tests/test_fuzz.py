"""Property-based fuzzing (hypothesis): bad input ends in an mcusim error or succeeds.

Three generators, each with a bounded number of examples so the file runs in well under a
minute: mutated ELF files (byte flips, truncation, header fields of a real built ELF),
mutated board profiles (field values and types of a real profile, and raw text damage) and
command lines (subcommands, options and call arguments, valid and not).  Every case must
either succeed or raise a :class:`~mcusim.errors.McusimError` subclass (for the command
line: exit with status 0, 1 or argparse's 2, never a traceback), and each case must finish
within hypothesis's ``deadline``: emulation gets a small budget and a 2 s wall-clock limit.

``MCUSIM_FUZZ_EXAMPLES`` scales the number of examples (e.g. 10 for a long local run);
cases are derandomized so the suite is reproducible.
"""

from __future__ import annotations

import contextlib
import io
import math
import os
import struct
import tempfile
import tomllib
from datetime import timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from mcusim.boards import BOARDS_DIR, get_board
from mcusim.build import FIRMWARE_DIR, build_firmware
from mcusim.cli import main
from mcusim.errors import McusimError
from mcusim.loader import load_elf
from mcusim.machine import Machine

SCALE = float(os.environ.get("MCUSIM_FUZZ_EXAMPLES", "1"))
BASE_BOARD = "stm32f469i"   # wait states and enabled caches: the profile fuzz reaches them
LIMITS = dict(budget=200_000, timeout=2.0)


def _settings(examples: int) -> settings:
    return settings(max_examples=max(1, int(examples * SCALE)), deadline=timedelta(seconds=10),
                    derandomize=True, database=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                           HealthCheck.function_scoped_fixture])


@pytest.fixture(scope="module")
def elf_blob() -> bytes:
    board = get_board(BASE_BOARD)
    elf = build_firmware(sorted((FIRMWARE_DIR / "basic").glob("*.c")), board).elf
    Machine(board, elf).call("mcu_dot_s8", 0x2000_0000, 0x2000_0000, 0)  # compile the hooks
    return elf.read_bytes()


@pytest.fixture(scope="module")
def workdir():
    with tempfile.TemporaryDirectory(prefix="mcusim-fuzz-") as d:
        yield Path(d)


def _exercise(board: Any, path: Path) -> None:
    """Load ``path`` on ``board``, call a kernel and profile it: success or an mcusim error."""
    try:
        m = Machine(board, path, **LIMITS)
        a = m.place(np.arange(8, dtype=np.int8))
        m.profile(m.call("mcu_dot_s8", a, a, 8))
        m.call("mcu_checksum", a, 8)
    except McusimError:
        pass


# -- ELF files -------------------------------------------------------------------------------

_ELF_FIELDS = [(0x10, "<H"), (0x12, "<H"), (0x18, "<I"), (0x1C, "<I"), (0x20, "<I"),
               (0x2A, "<H"), (0x2C, "<H"), (0x2E, "<H"), (0x30, "<H"), (0x32, "<H")]
_WORDS = st.sampled_from([0, 1, 2, 0x7F, 0x80, 0xFF, 0xFFFF, 0x7FFF_FFFF, 0xFFFF_FFFF,
                          0x0800_0000, 0x2000_0000, 0x6000_0000])


@st.composite
def elf_mutation(draw: st.DrawFn) -> tuple[str, list]:
    kind = draw(st.sampled_from(["flip", "truncate", "header", "phdr"]))
    if kind == "flip":
        return kind, draw(st.lists(st.tuples(st.integers(0, 1 << 20), st.integers(0, 255)),
                                   min_size=1, max_size=16))
    if kind == "truncate":
        return kind, [draw(st.floats(0.0, 1.0))]
    if kind == "header":
        return kind, draw(st.lists(st.tuples(st.sampled_from(_ELF_FIELDS), _WORDS),
                                   min_size=1, max_size=3))
    return kind, draw(st.lists(st.tuples(st.integers(0, 7), st.integers(0, 7), _WORDS),
                               min_size=1, max_size=3))


def _mutate_elf(blob: bytes, mutation: tuple[str, list]) -> bytes:
    kind, ops = mutation
    data = bytearray(blob)
    if kind == "flip":
        for offset, value in ops:
            data[offset % len(data)] = value
    elif kind == "truncate":
        del data[int(ops[0] * len(data)):]
    elif kind == "header":
        for (offset, fmt), value in ops:
            struct.pack_into(fmt, data, offset, value & (0xFFFF if fmt == "<H" else 0xFFFF_FFFF))
    else:   # program header i, field j (p_type .. p_align)
        phoff, = struct.unpack_from("<I", data, 0x1C)
        phnum, = struct.unpack_from("<H", data, 0x2C)
        for i, j, value in ops:
            off = phoff + 32 * (i % max(phnum, 1)) + 4 * j
            if off + 4 <= len(data):
                struct.pack_into("<I", data, off, value)
    return bytes(data)


@example(mutation=("header", [((0x1C, "<I"), 0xFFFF_FFFF)]))
@example(mutation=("phdr", [(1, 2, 0x0800_0000), (1, 3, 0x0800_0000)]))   # overlapping segments
@example(mutation=("phdr", [(0, 2, 0x6000_0000), (0, 3, 0x6000_0000)]))   # outside the map
@example(mutation=("truncate", [0.5]))
@_settings(40)
@given(mutation=elf_mutation())
def test_fuzz_elf(elf_blob, workdir, mutation):
    path = workdir / "fuzz.elf"
    path.write_bytes(_mutate_elf(elf_blob, mutation))
    try:
        load_elf(path)
    except McusimError:
        return
    _exercise(BASE_BOARD, path)


# -- board profiles ----------------------------------------------------------------------

def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf") \
            if math.isinf(value) else repr(value)
    if isinstance(value, str):
        return '"' + "".join(c if c.isprintable() and c not in '"\\' else f"\\u{ord(c):04x}"
                             for c in value) + '"'
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{_key(k)} = {_toml_value(v)}" for k, v in value.items()) + "}"
    raise TypeError(type(value))


def _key(key: str) -> str:
    return key if key.replace("_", "").replace("-", "").isalnum() and key.isascii() \
        else _toml_value(key)


def _to_toml(doc: dict[str, Any]) -> str:
    lines = [f"{_key(k)} = {_toml_value(v)}" for k, v in doc.items()
             if not isinstance(v, dict) and not (isinstance(v, list) and v and
                                                 all(isinstance(t, dict) for t in v))]
    for k, v in doc.items():
        if isinstance(v, list) and v and all(isinstance(t, dict) for t in v):
            for table in v:
                lines += ["", f"[[{_key(k)}]]"] + [f"{_key(a)} = {_toml_value(b)}"
                                                   for a, b in table.items()]
        elif isinstance(v, dict):
            lines += ["", f"[{_key(k)}]"] + [f"{_key(a)} = {_toml_value(b)}"
                                             for a, b in v.items()]
    return "\n".join(lines) + "\n"


_SCALARS = st.one_of(
    st.integers(-(1 << 64), 1 << 64), st.sampled_from([0, 1, 8, 9, 1023, 1024, 2 ** 31, 2 ** 62]),
    st.floats(allow_nan=True), st.booleans(), st.text(max_size=12),
    st.sampled_from(["64 KiB", "3000 MiB", "flash", "sram1", "art_i", "ram", "cortex-m7", ""]),
)
_VALUES = st.one_of(_SCALARS, st.lists(_SCALARS, max_size=3),
                    st.dictionaries(st.text(max_size=5), _SCALARS, max_size=2))
_EDGES = st.sampled_from([0, -1, 1, 3, 7, 8, 9, 64, 65, 1000, 1 << 20, 1 << 31, 1 << 32,
                          1 << 40, 1 << 62, (1 << 63) - 1, 1 << 64])
_EXTREME_INTS = st.one_of(_EDGES, _EDGES, _EDGES, st.integers(-(1 << 70), 1 << 70))


def _like(original: Any) -> st.SearchStrategy:
    """Values of the original's type, biased to the edges (or, a third of the time, any)."""
    if isinstance(original, bool):
        same: st.SearchStrategy = st.booleans()
    elif isinstance(original, int):
        same = _EXTREME_INTS
    elif isinstance(original, str):
        same = st.one_of(st.text(max_size=10), st.sampled_from(
            ["0 KiB", "1 B", "3000 MiB", "4096 MiB", "7 KiB", "flash", "ram", "sram1", "ccm",
             "art_i", "art_d", "cortex-m7", ""]),
            _EXTREME_INTS.map(lambda n: f"{n} KiB"))
    else:
        same = _VALUES
    return st.one_of(same, same, same, _VALUES)


def _paths(doc: dict[str, Any]) -> list[tuple]:
    out: list[tuple] = []
    for k, v in doc.items():
        out.append((k,))
        if isinstance(v, dict):
            for k2, v2 in v.items():
                out.append((k, k2))
                if isinstance(v2, dict):
                    out += [(k, k2, k3) for k3 in v2]
        elif isinstance(v, list):
            for i, t in enumerate(v):
                if isinstance(t, dict):
                    out += [(k, i, k2) for k2 in t]
    return out


@st.composite
def profile_text(draw: st.DrawFn) -> str:
    base = tomllib.loads((BOARDS_DIR / f"{BASE_BOARD}.toml").read_text())
    if draw(st.integers(0, 9)) == 0:     # raw text damage
        text = _to_toml(base)
        cut = draw(st.integers(0, len(text)))
        return text[:cut] + draw(st.text(max_size=8)) + text[cut + draw(st.integers(0, 8)):]
    for _ in range(draw(st.integers(1, 3))):
        paths = _paths(base)
        numeric = [p for p in paths if isinstance(_get(base, p), int)]
        path = draw(st.sampled_from(numeric if numeric and draw(st.integers(0, 3)) else paths))
        parent: Any = base
        for part in path[:-1]:
            parent = parent[part]
        action = draw(st.sampled_from(["set", "set", "set", "delete", "add"]))
        if action == "delete":
            parent.pop(path[-1]) if isinstance(parent, dict) else None
        elif action == "add" and isinstance(parent, dict):
            parent[draw(st.text(min_size=1, max_size=6))] = draw(_VALUES)
        elif isinstance(parent, (dict, list)) and path[-1] in (parent if isinstance(parent, dict)
                                                                else range(len(parent))):
            parent[path[-1]] = draw(_like(parent[path[-1]]))
    return _to_toml(base)


def _get(doc: Any, path: tuple) -> Any:
    for part in path:
        doc = doc[part]
    return doc


def _edited(**edits: Any) -> str:
    """The base profile with ``edits`` ({"caches.art_i.lines": 1 << 40, ...}) applied."""
    doc = tomllib.loads((BOARDS_DIR / f"{BASE_BOARD}.toml").read_text())
    for dotted, value in edits.items():
        *parents, last = [int(p) if p.isdigit() else p for p in dotted.split(".")]
        _get(doc, tuple(parents))[last] = value
    return _to_toml(doc)


def _many_wait_regions() -> str:
    doc = tomllib.loads((BOARDS_DIR / f"{BASE_BOARD}.toml").read_text())
    doc["regions"] += [{"name": f"ext{i}", "kind": "ram", "start": 0x6000_0000 + i * 0x10_0000,
                        "size": 1024, "wait_states": 2} for i in range(9)]
    return _to_toml(doc)


# The failures the first fuzzing round found (issue 15) run every time, besides the search.
@example(text=_edited(**{"caches.art_i.lines": 1 << 40}))
@example(text=_edited(**{"caches.art_i.lines": 1 << 30, "caches.art_i.ways": 1 << 30}))
@example(text=_edited(**{"regions.0.wait_states": 1 << 62}))
@example(text=_many_wait_regions())
@_settings(80)
@given(text=profile_text())
def test_fuzz_board_profile(elf_blob, workdir, text):
    path = workdir / "fuzz.toml"
    path.write_text(text, encoding="utf-8", errors="surrogatepass")
    try:
        board = get_board(path)
    except McusimError:
        return
    elf = workdir / "base.elf"
    if not elf.exists():
        elf.write_bytes(elf_blob)
    _exercise(board, elf)


# -- command lines -----------------------------------------------------------------------

_DTYPES = ["int8", "uint8", "int16", "int32", "float32", "float64", "bool", "object", "V8",
           "datetime64", "U4", "complex64", "int4", ""]
_NUMBERS = st.one_of(st.integers(-(1 << 40), 1 << 40).map(str),
                     st.floats(allow_nan=True).map(repr),
                     st.sampled_from(["0x20000000", "-1", "300", "1e39", "nan", "inf", "1.5",
                                      "99999999999", "x", ""]))


@st.composite
def call_token(draw: st.DrawFn) -> str:
    kind = draw(st.sampled_from(["buf", "zeros", "number", "junk"]))
    dtype = draw(st.sampled_from(_DTYPES))
    if kind == "buf":
        return f"buf:{dtype}:" + ",".join(draw(st.lists(_NUMBERS, max_size=4)))
    if kind == "zeros":
        return f"zeros:{dtype}:{draw(_NUMBERS)}"
    if kind == "number":
        return draw(_NUMBERS)
    return draw(st.text(max_size=10).filter(lambda t: not t.startswith("-")))


@st.composite
def command_line(draw: st.DrawFn, elf: str, out: str) -> list[str]:
    board = draw(st.sampled_from(["stm32f469i", "stm32f746zg", BASE_BOARD, "nope",
                                  str(Path(out) / "missing.toml")]))
    command = draw(st.sampled_from(["run", "run", "profile", "profile", "boards", "build",
                                    "kernels", "bench"]))
    if command == "boards":
        return ["boards", *draw(st.sampled_from([[], ["--json"], ["-b", board]]))]
    if command == "kernels":
        return ["kernels", *draw(st.sampled_from([[], ["--json"]]))]
    if command == "bench":   # only the fast failures: an unknown layer or board
        return ["kernels", "bench", "--layer", draw(st.text(max_size=8)), "-b", board]
    targets = [str(Path(out) / "x.png"), str(Path(out) / "x.xyz"), out,
               str(Path(out) / "missing" / "x.cg"), "/dev/null"]
    if command == "build":
        return ["build", str(FIRMWARE_DIR / "basic" / "mcu_dot_s8.c"), "-b", board, "-o",
                draw(st.sampled_from(targets + [str(Path(out) / "o.elf")]))]
    argv = [command, draw(st.sampled_from([elf, elf, out, "/dev/zero",
                                           str(Path(out) / "none.elf")])), "-b", board]
    if draw(st.booleans()):
        symbol = draw(st.sampled_from(["mcu_dot_s8", "mcu_scale_f32", "mcu_checksum", "nope"]))
        argv += ["--call", symbol, *draw(st.lists(call_token(), max_size=4))]
    argv += ["--budget", draw(st.sampled_from(["100000", "0", "-1", "none", "x"])),
             "--timeout", draw(st.sampled_from(["2", "0", "nan", "0.5"]))]
    if command == "profile" and draw(st.booleans()):
        argv += [draw(st.sampled_from(["--plot", "--callgrind", "--csv"])),
                 draw(st.sampled_from(targets))]
    if draw(st.booleans()):
        argv.append("--json")
    return argv


@pytest.fixture(scope="module")
def cli_paths(elf_blob, workdir) -> tuple[str, str]:
    elf = workdir / "cli.elf"
    elf.write_bytes(elf_blob)
    out = workdir / "out"
    out.mkdir()
    return str(elf), str(out)


@_settings(40)
@given(data=st.data())
def test_fuzz_command_line(cli_paths, data):
    argv = data.draw(command_line(*cli_paths))
    stdout, stderr = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
        try:
            status = main(argv)
        except SystemExit as exc:      # argparse: usage errors exit with 2, --help with 0
            status = exc.code
    assert status in (0, 1, 2), (argv, stderr.getvalue())
    assert "Traceback" not in stderr.getvalue()
