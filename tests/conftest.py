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
