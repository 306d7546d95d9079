"""Shared fixtures: boards and the first firmware set built once per session."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from mcusim.boards import get_board
from mcusim.build import FIRMWARE_DIR, build_firmware

BOARDS = ("stm32f469i", "stm32f746zg")
TESTS_DIR = Path(__file__).resolve().parent
# the benchmark scripts import their shared helper (benchmarks/_readme.py) as a sibling
sys.path.insert(0, str(TESTS_DIR.parent / "benchmarks"))


@pytest.fixture(scope="session", params=BOARDS)
def board(request):
    return get_board(request.param)


@pytest.fixture(scope="session")
def basic_elf(board):
    return build_firmware(sorted((FIRMWARE_DIR / "basic").glob("*.c")), board).elf


@pytest.fixture(scope="session")
def faults_elf(board):
    return build_firmware([TESTS_DIR / "firmware" / "faults.c"], board, opt="-O1").elf


@pytest.fixture(scope="session")
def reference_hooks(tmp_path_factory):
    """The hooks built with -DMCUSIM_HOOKS_REFERENCE: every block through the general entry
    path and every fetch line through the model one by one (no fast repeats, no successor
    shortcuts, no line-buffer/MRU checks ahead of the model, no loops counted without
    hooks)."""
    from mcusim import _native_build, native

    lib = tmp_path_factory.mktemp("reference") / "reference_hooks.so"
    out = _native_build.compile_hooks(native._host_compiler(), lib, ("-DMCUSIM_HOOKS_REFERENCE",))
    assert out.returncode == 0, out.stderr
    return lib


@pytest.fixture
def use_hooks(monkeypatch):
    """``use_hooks(lib)`` makes new machines load the hooks library ``lib``; ``None`` (and
    the end of the test) the normal one again."""
    from mcusim import native

    def switch(lib) -> None:
        native.forget_library()
        if lib is None:
            monkeypatch.undo()
        else:
            monkeypatch.setattr(native, "hook_library", lambda: lib)

    yield switch
    switch(None)
