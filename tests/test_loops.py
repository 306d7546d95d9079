"""Counted loops (mcusim/loops.py): which loops qualify, and that running them without hooks
gives the counts, cycles, budget stops and faults of the reference hooks (which count every
execution through the block hook)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from mcusim import native
from mcusim.build import build_firmware
from mcusim.errors import BudgetExhausted, EmulationFault, TimeLimitExceeded
from mcusim.loader import load_elf
from mcusim.loops import MIN_ENTRIES, decode_loops, find_loops
from mcusim.machine import Machine

TESTS_DIR = Path(__file__).resolve().parent
COUNTED = {"sum_down", "sum_through", "step_down", "sum_pushed", "sum_below", "sum_back",
           "sum_spilled", "steps_above"}
NOT_COUNTED = {"after_branch", "jumped_into", "two_writers", "with_it", "spilled_stored",
               "adds_ordered"}


@pytest.fixture(scope="module")
def loops_elf(board):
    return build_firmware([TESTS_DIR / "firmware" / "loop_cases.S"], board).elf


def test_finds_exactly_the_counted_loops(loops_elf):
    image = load_elf(loops_elf)
    found = {image.function_at(loop.start).name: loop for loop in decode_loops(image)}
    assert set(found) & (COUNTED | NOT_COUNTED) == COUNTED   # (the C library has some too)
    down = found["sum_down"]
    assert (down.register, down.step, down.compare_register, down.compare_value,
            down.compared_before_update, down.condition) == ("r1", -1, None, 1, True, "ne")
    assert down.size == 10 and down.branch == down.start + 8   # ldr.w, add, subs, bne
    through = found["sum_through"]
    assert (through.register, through.step, through.compare_register,
            through.compared_before_update) == ("r0", 4, "r1", True)
    step = found["step_down"]
    assert (step.register, step.step, step.compare_register, step.compare_value) == \
        ("r0", -2, None, 4)
    assert [(found[f].register, found[f].step, found[f].compare_register, found[f].condition)
            for f in ("sum_below", "sum_back", "sum_spilled")] == \
        [("r0", 4, "r1", "lo"), ("r0", -4, "r1", "hs"), ("r0", 4, "r1", "lo")]
    above = found["steps_above"]
    assert (above.register, above.step, above.compare_value, above.compared_before_update,
            above.condition) == ("r0", -3, 3, True, "gt")
    assert find_loops(image) == decode_loops(image)            # the cached analysis


def _calls(board, elf) -> tuple[list[tuple], int]:
    """Counts, instructions and cycles of the loop cases (and the budget stops and faults
    among them), and the passages counted without hooks."""
    m = Machine(board, elf)
    data = m.place(np.arange(1, 65, dtype=np.uint32))
    top = max(r.end for r in board.regions if r.kind == "ram" and not r.alias_of)
    jobs = [(("sum_down", data, 64), None), (("sum_down", data, 1), None),
            (("sum_down", data, 64), 60), (("sum_through", data, data + 4 * 63), None),
            (("sum_through", data, data), None), (("step_down", 40), None),
            (("step_down", 41), 5000), (("sum_pushed", data, 64), None),
            (("sum_down", top - 16, 16), None),           # the 5th load faults
            (("sum_below", data, data + 4 * 64), None), (("sum_below", data, data + 4), None),
            (("sum_below", data, data + 4 * 64), 100),
            (("sum_back", data + 4 * 63, data), None), (("sum_back", data, data), None),
            (("sum_spilled", data, 64), None), (("steps_above", 100), None),
            (("steps_above", -5), None), (("steps_above", 2 ** 31 - 1), 3000),
            (("after_branch", data, 64), None), (("jumped_into", data, 64), None),
            (("spilled_stored", data, 64), None), (("adds_ordered", -100), None),
            (("two_writers", 0, 64), None), (("with_it", 0, 65), None)]
    out: list[tuple] = []
    passages = 0
    for job, budget in jobs:
        try:
            res = m.call(*job, budget=budget)
            row: tuple = (res.return_value, res.instructions, m.profile(res).cycles)
        except (BudgetExhausted, EmulationFault) as exc:
            row = (type(exc).__name__, exc.details.get("instructions"))
        counts = native.read_counts(m._state)
        passages += native.loop_runs(m._state)
        out.append((job[0], *row, counts.blocks.tobytes(), counts.edges.tobytes(),
                    native.executed_instructions(m._state)))
    return out, passages


def test_counted_loops_count_as_the_reference_build(board, loops_elf, reference_hooks,
                                                     use_hooks):
    fast, passages = _calls(board, loops_elf)
    use_hooks(reference_hooks)
    plain, none = _calls(board, loops_elf)
    assert passages == 9 and none == 0    # (the calls whose counted loop runs unhooked)
    assert [f[1] for f in fast if isinstance(f[1], str)] == \
        ["BudgetExhausted", "BudgetExhausted", "UnmappedAccessFault", "BudgetExhausted",
         "BudgetExhausted"]
    for f, p in zip(fast, plain):
        assert f == p, f[0]


def test_a_counted_loop_runs_without_hooks_and_traces_with_them(board, loops_elf):
    m = Machine(board, loops_elf)
    data = m.place(np.arange(1, 65, dtype=np.uint32))
    first = m.call("sum_down", data, 64)
    assert first.return_value == 64 * 65 // 2 and native.loop_runs(m._state) == 1
    traced = m.call("sum_down", data, 64, trace=True)   # a Python hook on every instruction
    assert native.loop_runs(m._state) == 0                # so the loop ran with the hooks
    assert sum(traced.trace_counts.values()) == first.instructions == traced.instructions
    assert np.array_equal(traced.counts.blocks, first.counts.blocks)
    m.write(m.place(np.zeros(4, np.uint32), "flash"), np.ones(4, np.uint32))  # flushes code
    again = m.call("sum_down", data, 64)
    assert native.loop_runs(m._state) == 1                # translated without hooks again
    assert np.array_equal(again.counts.blocks, first.counts.blocks)
    assert np.array_equal(again.counts.edges, first.counts.edges)


def test_a_loop_stopped_by_the_budget_runs_without_hooks_in_the_next_call(board, loops_elf):
    m = Machine(board, loops_elf)
    data = m.place(np.arange(1, 65, dtype=np.uint32))
    with pytest.raises(BudgetExhausted):
        m.call("sum_down", data, 64, budget=60)
    assert m.call("sum_down", data, 64).return_value == 64 * 65 // 2
    assert native.loop_runs(m._state) == 1


def test_without_counted_loops_every_block_is_hooked_with_the_same_counts(board, loops_elf):
    m, hooked = Machine(board, loops_elf), Machine(board, loops_elf, counted_loops=False)
    runs = []
    for machine in (m, hooked):
        data = machine.place(np.arange(1, 65, dtype=np.uint32))
        runs.append(machine.call("sum_through", data, data + 4 * 63))
        runs.append(native.loop_runs(machine._state))
    assert runs[1] == 1 and runs[3] == 0
    assert np.array_equal(runs[0].counts.blocks, runs[2].counts.blocks)
    assert m.profile(runs[0]).cycles == hooked.profile(runs[2]).cycles
    assert m._loops and not Machine(board, loops_elf, cyccnt=True)._loops   # CYCCNT served


def test_a_timeout_inside_a_counted_loop_counts_the_executions_that_ran(board, loops_elf):
    m = Machine(board, loops_elf, budget=None)
    start = 2 ** 31       # a billion executions: the timeout stops the loop
    with pytest.raises(TimeLimitExceeded) as info:
        m.call("step_down", start, timeout=0.3)
    r0 = m.engine.reg(0)
    # movs, nop and the first execution (in the entering block), then 4 instructions per
    # execution: the one the stop came before counts, as the block hook counts it
    assert info.value.details["instructions"] == 6 + 2 * (start - r0)
    assert start - r0 > 1000


def test_loops_whose_entries_run_few_executions_are_retired(board, loops_elf):
    m = Machine(board, loops_elf)
    hooked = Machine(board, loops_elf, counted_loops=False)
    data = m.place(np.arange(1, 1025, dtype=np.uint32))
    for _ in range(MIN_ENTRIES):                 # 2 executions after the first, each time
        m.call("sum_down", data, 3)
        m.call("sum_below", data, data + 4 * 1024)        # 1023 each time: it pays
    assert native.loop_runs(m._state) == 1
    short = m.call("sum_down", data, 64)
    assert native.loop_runs(m._state) == 0       # retired: the block hook counts it now
    assert m.call("sum_below", data, data + 4 * 1024).return_value == 1024 * 1025 // 2
    assert native.loop_runs(m._state) == 1
    same = hooked.call("sum_down", hooked.place(np.arange(1, 65, dtype=np.uint32)), 64)
    assert np.array_equal(short.counts.blocks, same.counts.blocks)
    assert m.profile(short).cycles == hooked.profile(same).cycles
