"""Cycle accounting: the planned (vectorized) costs equal a plain per-block reference, and a
run is never costed with a stale plan (changed code at the same addresses, other edges)."""

from __future__ import annotations

import functools
import importlib
from collections import defaultdict

import numpy as np
import pytest

from mcusim.boards import get_board
from mcusim.build import FIRMWARE_DIR, build_firmware
from mcusim.decoder import Decoder
from mcusim.machine import Machine
from mcusim.native import BLOCK_DTYPE, EDGE_DTYPE, BlockCounts
from mcusim.timing import account, get_core_model, load_cost_table
from mcusim.timing.account import _first_load, clear_plans
from mcusim.timing.classify import classify
from tests.conftest import BOARDS
from tests.microbench_util import microbench_machine, microbench_sources

account_module = importlib.import_module("mcusim.timing.account")   # not the function
PROGRAMS = [FIRMWARE_DIR / "microbench" / "mb_programs.c",
            FIRMWARE_DIR / "basic" / "mcu_dot_s8.c", FIRMWARE_DIR / "basic" / "mcu_rms_f32.c"]


def fresh_model(board: str):
    """A model of the board's core of its own (no plans or costs of other tests)."""
    core = get_board(board).core
    return type(get_core_model(core))(load_cost_table(core))


def reference(counts: BlockCounts, read_code, model) -> tuple[dict[str, int], list[list[int]]]:
    """Totals by cause and per-instruction cycles, block by block and edge by edge."""
    dec = Decoder()
    arr, edges = counts.blocks, counts.edges
    blocks = [dec.decode_block(a, read_code(a, s))
              for a, s in zip(arr["addr"].tolist(), arr["size"].tolist())]
    cyc = [[c * int(n) for c in model.block_cycles(b)]
           for b, n in zip(blocks, arr["count"].tolist())]
    tot = {"core": sum(map(sum, cyc)), "branch": 0, "pipeline": 0,
           "fetch": int(arr["istall"].sum()), "data": int(arr["dstall"].sum())}
    where = {b.address: i for i, b in enumerate(blocks)}
    succ = defaultdict(list)
    for s, d, n in zip(edges["src"].tolist(), edges["dst"].tolist(), edges["count"].tolist()):
        if s in where and d in where:
            src, dst = where[s], where[d]
            taken = model.taken_cycles(blocks[src], blocks[dst]) * n
            pipe = model.pipeline_delta(blocks[src], blocks[dst]) * n
            cyc[src][-1] += taken
            cyc[dst][0] += pipe
            tot["branch"] += taken
            tot["pipeline"] += pipe
            succ[src].append((blocks[dst], n))
    for src, out in succ.items():
        extra = model.site_cycles(blocks[src], out, int(arr["switches"][src]))
        cyc[src][-1] += extra
        tot["branch"] += extra
    if counts.last in where:
        last = where[counts.last]
        extra = model.exit_cycles(blocks[last])
        cyc[last][-1] += extra
        tot["branch"] += extra
    static = model.table.classes["div"].cycles
    for i, blk in enumerate(blocks):
        cyc[i][0] += int(arr["istall"][i])
        cyc[i][_first_load(blk)] += int(arr["dstall"][i])
        if arr["divn"][i]:
            extra = int(arr["divcyc"][i]) - static * int(arr["divn"][i])
            at = next(j for j, insn in enumerate(blk.insns) if classify(insn) == "div")
            cyc[i][at] += extra
            tot["core"] += extra
    return tot, cyc


def assert_matches_reference(acc, counts: BlockCounts, read_code, model) -> None:
    tot, cyc = reference(counts, read_code, model)
    assert {k: getattr(acc, k) for k in tot} == tot
    assert [c.tolist() for c in acc.cycles] == cyc
    assert all(c.dtype == np.int64 for c in acc.cycles)
    assert acc.executions.dtype == np.uint64
    assert acc.executions.tolist() == counts.blocks["count"].tolist()
    assert acc.total == sum(map(sum, cyc))


@pytest.fixture
def plans_made(monkeypatch) -> list[int]:
    """Counts the plans :func:`account` makes (one element per plan)."""
    made: list[int] = []
    real = account_module._make_plan

    def spy(*args, **kwargs):
        made.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(account_module, "_make_plan", spy)
    return made


@functools.lru_cache(maxsize=None)
def program_machine(board: str) -> Machine:
    b = get_board(board)
    return Machine(b, build_firmware(PROGRAMS, b).elf)


def call_program(m: Machine, name: str, seed: int):
    m.free_all()
    rng = np.random.default_rng(seed)
    if name == "mb_branchy":
        return m.call(name, 20 + seed, m.alloc(4 * 48), 48)
    if name == "mcu_dot_s8":
        a = m.place(rng.integers(-128, 128, 200, dtype=np.int8))
        return m.call(name, a, m.place(rng.integers(-128, 128, 200, dtype=np.int8)), 200)
    return m.call(name, m.place(rng.standard_normal(50).astype(np.float32)), 50)


@pytest.mark.parametrize("board", BOARDS)
@pytest.mark.parametrize("name", ["mb_branchy", "mcu_dot_s8", "mcu_rms_f32"])
def test_planned_and_repeated_runs_equal_the_reference(board: str, name: str,
                                                      plans_made: list[int]) -> None:
    m, model = program_machine(board), fresh_model(board)
    runs = [call_program(m, name, seed).counts for seed in (1, 2, 1)]
    for counts in runs:
        acc = account(counts, m.board, m.read_bytes, model, decoder=Decoder())
        assert_matches_reference(acc, counts, m.read_bytes, model)
    assert len(plans_made) == 3                     # a new decoder: its own plans
    dec = Decoder()
    accs = [account(c, m.board, m.read_bytes, model, decoder=dec) for c in runs]
    assert len(plans_made) < 6                      # the repeated shape reused its plan
    for acc, counts in zip(accs, runs):
        assert_matches_reference(acc, counts, m.read_bytes, model)


@pytest.mark.parametrize("board", BOARDS)
@pytest.mark.parametrize("func", ["mb_sdiv", "mb_udiv_wide", "mb_tbb", "mb_b_alternating",
                                  "mb_call", "mb_it", "mb_ldr_use", "mb_bx"])
def test_microbenchmarks_equal_the_reference(board: str, func: str) -> None:
    m, buf = microbench_machine(board)
    model, dec = fresh_model(board), Decoder()
    for n in (3, 8, 3):
        m.write(buf, np.full(16, buf, dtype=np.uint32))
        counts = m.call(func, n, buf).counts
        assert_matches_reference(account(counts, m.board, m.read_bytes, model, decoder=dec),
                                 counts, m.read_bytes, model)
    assert counts.blocks["divn"].any() == func.startswith(("mb_sdiv", "mb_udiv"))


@pytest.mark.parametrize("board", BOARDS)
def test_a_repeated_shape_gives_the_costs_of_a_fresh_plan(board: str,
                                                         plans_made: list[int]) -> None:
    m, model = program_machine(board), fresh_model(board)
    first, again = (call_program(m, "mb_branchy", 3).counts for _ in range(2))
    dec = Decoder()
    account(first, m.board, m.read_bytes, model, decoder=dec)
    hit = account(again, m.board, m.read_bytes, model, decoder=dec)
    assert len(plans_made) == 1
    clear_plans(model)
    fresh = account(again, m.board, m.read_bytes, model, decoder=dec)
    assert len(plans_made) == 2
    assert (hit.core, hit.branch, hit.pipeline, hit.fetch, hit.data) == \
        (fresh.core, fresh.branch, fresh.pipeline, fresh.fetch, fresh.data)
    assert [c.tolist() for c in hit.cycles] == [c.tolist() for c in fresh.cycles]
    assert hit.blocks == fresh.blocks


@pytest.mark.parametrize("board", BOARDS)
def test_code_changed_at_the_same_addresses_is_costed_afresh(board: str,
                                                            plans_made: list[int]) -> None:
    b = get_board(board)
    m, model = Machine(b, build_firmware(microbench_sources(), b).elf), fresh_model(board)
    buf = m.alloc(64)
    start = m.image.symbol("mb_alu").address & ~1
    dec = Decoder()
    wide = next(i for i in dec.decode_block(start, m.read_bytes(start, 64)).insns
                if i.size == 4)                             # add.w r12, r12, #1
    before = m.call("mb_alu", 5, buf).counts
    old = account(before, b, m.read_bytes, model, decoder=dec)
    m.write(wide.address, bytes.fromhex("bcfbfcfc"))       # udiv r12, r12, r12
    after = m.call("mb_alu", 5, buf).counts
    assert account_module._shape_key(after) == account_module._shape_key(before)
    new = account(after, b, m.read_bytes, model, decoder=dec)
    assert len(plans_made) == 2
    assert new.total != old.total
    assert_matches_reference(new, after, m.read_bytes, model)


def _counts(edges: list[tuple[int, int, int]], execs: tuple[int, int], *, last: int = 0x1008,
            stalls: int = 0) -> BlockCounts:
    """Two blocks at 0x1000 (ldr; ldr; subs; bne) and 0x1008 (bx lr) with these edges."""
    blocks = np.zeros(2, dtype=BLOCK_DTYPE)
    blocks["addr"], blocks["size"], blocks["ninstr"] = (0x1000, 0x1008), (8, 2), (4, 1)
    blocks["count"] = execs
    blocks["istall"], blocks["dstall"] = stalls, 2 * stalls
    blocks["switches"] = (3, 0)
    return BlockCounts(blocks, np.array(edges, dtype=EDGE_DTYPE), 0x1000, last)


CODE = bytes.fromhex("0868" "4868" "0138" "fbd1" "7047")


def _reader(code: bytearray):
    return lambda a, n: bytes(code[a - 0x1000:a - 0x1000 + n])


@pytest.mark.parametrize("board", BOARDS)
def test_synthetic_code_change_is_never_costed_stale(board: str,
                                                     plans_made: list[int]) -> None:
    code, model, dec = bytearray(CODE), fresh_model(board), Decoder()
    counts = _counts([(0x1000, 0x1000, 99), (0x1000, 0x1008, 1)], (100, 1), stalls=5)
    old = account(counts, get_board(board), _reader(code), model, decoder=dec)
    assert_matches_reference(old, counts, _reader(code), model)
    code[0:4] = bytes.fromhex("0022" "0023")                # movs r2, #0; movs r3, #0
    new = account(counts, get_board(board), _reader(code), model, decoder=dec)
    assert len(plans_made) == 2 and new.core != old.core
    assert_matches_reference(new, counts, _reader(code), model)
    again = account(counts, get_board(board), _reader(code), model, decoder=dec)
    assert len(plans_made) == 2 and again.total == new.total


@pytest.mark.parametrize("board", BOARDS)
@pytest.mark.parametrize("edges, execs", [
    ([(0x1000, 0x1008, 1)], (1, 1)),                          # loop taken no time
    ([(0x1000, 0x1000, 9), (0x1000, 0x1008, 1)], (10, 1)),    # the loop
    ([(0x1000, 0x1000, 9), (0x1000, 0x1008, 1), (0x1008, 0x2000, 1)], (10, 1)),  # to no block
])
def test_another_edge_set_gets_its_own_plan(board: str, edges, execs,
                                            plans_made: list[int]) -> None:
    code, model, dec = _reader(bytearray(CODE)), fresh_model(board), Decoder()
    other = _counts([(0x1000, 0x1000, 4), (0x1000, 0x1008, 1), (0x1008, 0x1000, 1)], (6, 2))
    account(other, get_board(board), code, model, decoder=dec)
    counts = _counts(edges, execs)
    acc = account(counts, get_board(board), code, model, decoder=dec)
    assert len(plans_made) == 2
    assert_matches_reference(acc, counts, code, model)


def test_record_and_before_decode_once_per_plan() -> None:
    code, model, dec = _reader(bytearray(CODE)), fresh_model("stm32f469i"), Decoder()
    counts = _counts([(0x1000, 0x1000, 99), (0x1000, 0x1008, 1)], (100, 1))
    seeded, keys = [], []
    for _ in range(2):
        account(counts, get_board("stm32f469i"), code, model, decoder=dec, record=keys,
                before_decode=lambda: seeded.append(1))
    assert seeded == [1]
    assert keys == [(0x1000, CODE[:8]), (0x1008, CODE[8:])]


def test_the_plan_cache_is_bounded(monkeypatch, plans_made: list[int]) -> None:
    monkeypatch.setattr(account_module, "PLAN_CACHE_SIZE", 2)
    code, model, dec = _reader(bytearray(CODE)), fresh_model("stm32f746zg"), Decoder()
    shapes = [_counts([(0x1000, 0x1008, 1)], (1, 1)),
              _counts([(0x1000, 0x1000, 1), (0x1000, 0x1008, 1)], (2, 1)),
              _counts([(0x1000, 0x1000, 2)], (3, 0), last=0x1000)]
    for counts in shapes + shapes[-1:]:
        acc = account(counts, get_board("stm32f746zg"), code, model, decoder=dec)
        assert_matches_reference(acc, counts, code, model)
    assert len(plans_made) == 3
    assert len(model._account_costs.plans) == 2


@pytest.mark.parametrize("board", BOARDS)
def test_an_empty_run_costs_nothing(board: str) -> None:
    acc = account(BlockCounts.empty(), get_board(board), _reader(bytearray(CODE)),
                  fresh_model(board), decoder=Decoder())
    assert acc.total == acc.instructions == 0
    assert acc.blocks == [] and acc.cycles == [] and len(acc.executions) == 0
