"""Profiles of real runs: native counts vs the slow reference, tables, exports, CLI."""

from __future__ import annotations

import argparse
import functools
import json
import re
import shutil
import subprocess
import sys

import numpy as np
import pytest

from mcusim.boards import get_board
from mcusim.build import FIRMWARE_DIR, build_firmware
from mcusim.decoder import Decoder
from mcusim.machine import Machine
from tests.microbench_util import microbench_sources, run_mb

BOARDS = ["stm32f469i", "stm32f746zg"]
PROGRAMS = [FIRMWARE_DIR / "microbench" / "mb_programs.c",
            FIRMWARE_DIR / "basic" / "mcu_dot_s8.c", FIRMWARE_DIR / "basic" / "mcu_rms_f32.c"]


@functools.lru_cache(maxsize=None)
def program_machine(board: str) -> Machine:
    b = get_board(board)
    return Machine(b, build_firmware(PROGRAMS, b).elf)


def run_program(board: str, name: str, *, trace: bool = False):
    m = program_machine(board)
    m.free_all()
    rng = np.random.default_rng(1)
    if name == "mb_branchy":
        return m, m.call(name, 25, m.alloc(4 * 48), 48, trace=trace)
    if name == "mcu_dot_s8":
        a = m.place(rng.integers(-128, 128, 200, dtype=np.int8))
        b = m.place(rng.integers(-128, 128, 200, dtype=np.int8))
        return m, m.call(name, a, b, 200, trace=trace)
    x = m.place(rng.standard_normal(50).astype(np.float32))
    return m, m.call(name, x, 50, trace=trace)


def reference_counts(machine: Machine, trace_counts: dict[int, int]) -> dict[int, int]:
    """Per-instruction executions from the Python code hook, plus the IT-block instructions
    whose condition failed (Unicorn does not report them; the core spends a cycle on each):
    every instruction predicated by an IT executes as often as the IT itself."""
    dec = Decoder()
    ref = dict(trace_counts)
    for addr, n in trace_counts.items():
        insn = dec.decode_one(addr, machine.read_bytes(addr, 4))
        a = addr + insn.size
        for _ in range(insn.it_count):
            ref[a] = n
            a += dec.decode_one(a, machine.read_bytes(a, 4)).size
    return ref


@pytest.mark.parametrize("board", BOARDS)
@pytest.mark.parametrize("name", ["mb_branchy", "mcu_dot_s8", "mcu_rms_f32"])
def test_native_counts_equal_reference_count(board: str, name: str) -> None:
    m, r = run_program(board, name, trace=True)
    prof = m.profile(r)
    tab = prof.instructions_table()
    native = dict(zip(tab["address"].tolist(), tab["executions"].tolist()))
    assert native == reference_counts(m, r.trace_counts)
    assert prof.instructions == r.instructions == sum(native.values())


@pytest.mark.parametrize("board", ["stm32f407-16mhz", "stm32f746zg"])
@pytest.mark.parametrize("func", ["mb_it", "mb_tbb", "mb_b_alternating", "mb_call"])
def test_native_counts_equal_reference_on_microbenchmarks(board: str, func: str) -> None:
    b = get_board(board)
    m = Machine(b, build_firmware(microbench_sources(), b).elf)     # fresh: see run_program
    buf = m.alloc(64)
    m.write(buf, np.full(16, buf, dtype=np.uint32))
    r = m.call(func, 7, buf, trace=True)
    tab = m.profile(r).instructions_table()
    native = dict(zip(tab["address"].tolist(), tab["executions"].tolist()))
    assert native == reference_counts(m, r.trace_counts)


@pytest.mark.parametrize("board", BOARDS)
def test_tables_add_up(board: str) -> None:
    m, r = run_program(board, "mb_branchy")
    prof = m.profile(r)
    assert prof.cycles == sum(prof.breakdown.values()) > prof.instructions // 2
    assert prof.cpi == pytest.approx(prof.cycles / prof.instructions)
    assert prof.latency_us == pytest.approx(prof.cycles / get_board(board).clock_hz * 1e6)
    funcs = prof.functions().set_index("name")
    assert funcs["self_cycles"].sum() == prof.cycles
    assert funcs["instructions"].sum() == prof.instructions
    assert prof.instructions_table()["cycles"].sum() == prof.cycles
    assert prof.lines()["cycles"].sum() == prof.cycles
    # calls from BL edges; the entry's inclusive cost is the whole run
    calls = prof.call_edges()
    assert calls[("mb_branchy", "mb_collatz_steps")] == 25
    assert calls[("mb_branchy", "mb_insertion_sort")] == 1
    assert funcs.at["mb_branchy", "inclusive_cycles"] == prof.cycles
    assert funcs.at["mb_insertion_sort", "inclusive_cycles"] == \
        funcs.at["mb_insertion_sort", "self_cycles"]
    lines = prof.lines()
    assert (lines["file"].str.endswith("mb_programs.c")).any()


def test_leaf_call_inclusive_on_microbenchmark() -> None:
    result, prof = run_mb("stm32f407-16mhz", "mb_call", 10)
    funcs = prof.functions().set_index("name")
    assert prof.call_edges() == {("mb_call", "mb_leaf"): 10}
    assert funcs.at["mb_leaf", "self_cycles"] == 10 * 3          # bx lr: 1 + P(2)
    assert funcs.at["mb_call", "inclusive_cycles"] == prof.cycles


def test_annotate_lists_every_instruction_with_cycles() -> None:
    m, r = run_program("stm32f469i", "mb_branchy")
    prof = m.profile(r)
    text = prof.annotate("mb_collatz_steps")
    tab = prof.instructions_table()
    part = tab[tab["function"] == "mb_collatz_steps"]
    for addr, cyc in zip(part["address"], part["cycles"]):
        assert re.search(rf"\|\s+{cyc}\s+\|.*{addr:x}:", text)
    assert "not executed" in prof.annotate("no_such_function")


def _callgrind_annotate(path, *extra: str) -> tuple[str, list[int], dict[str, list[int]]]:
    """Run callgrind_annotate; return its text, PROGRAM TOTALS and per-function costs."""
    out = subprocess.run(["callgrind_annotate", *extra, str(path)], capture_output=True,
                         text=True, check=True).stdout
    cell = r"([\d,]+)(?:\s+\(\s*[\d.]+%\))?"
    four = r"\s+".join([cell] * 4)
    totals = re.search(rf"^\s*{four}\s+PROGRAM TOTALS", out, re.M)
    assert totals is not None, out
    listed = {m[5]: [int(m[i].replace(",", "")) for i in range(1, 5)]
              for m in re.finditer(rf"^\s*{four}\s+\S*?:(\w+) \[", out, re.M)}
    return out, [int(v.replace(",", "")) for v in totals.groups()], listed


@pytest.mark.skipif(shutil.which("callgrind_annotate") is None,
                    reason="valgrind's callgrind_annotate not installed")
def test_callgrind_annotate_reads_export(tmp_path) -> None:
    m, r = run_program("stm32f469i", "mb_branchy")
    prof = m.profile(r)
    path = tmp_path / "out.callgrind"
    prof.write_callgrind(path)
    _, totals, listed = _callgrind_annotate(path)
    assert totals[:3] == [prof.cycles, prof.instructions, int(r.counts.blocks["imiss"].sum())]
    funcs = prof.functions()
    tab = prof.instructions_table()
    expected = {n: [int(c), int(i), int(tab.loc[tab["function"] == n, "icache_misses"].sum()), 0]
                for n, c, i in zip(funcs["name"], funcs["self_cycles"], funcs["instructions"])}
    assert listed == expected


@pytest.mark.skipif(shutil.which("callgrind_annotate") is None,
                    reason="valgrind's callgrind_annotate not installed")
@pytest.mark.parametrize("board", BOARDS)
def test_callgrind_has_instruction_positions_and_cache_misses(tmp_path, board) -> None:
    m = program_machine(board)
    m.free_all()
    a = m.place(np.arange(-100, 100, dtype=np.int8))
    b = m.place(np.arange(100, -100, -1, dtype=np.int8), "flash")   # data reads from Flash
    r = m.call("mcu_dot_s8", a, b, 200)
    prof = m.profile(r)
    dmiss = int(r.counts.blocks["dmiss"].sum())
    assert dmiss > 0
    text = prof.callgrind_text()
    assert "positions: instr line" in text
    tab = prof.instructions_table()
    for addr in tab["address"]:
        assert re.search(rf"^0x{addr:x} \d+ ", text, re.M)
    path = tmp_path / "dot.callgrind"
    prof.write_callgrind(path)
    _, totals, listed = _callgrind_annotate(path)
    assert totals == [prof.cycles, prof.instructions, int(r.counts.blocks["imiss"].sum()), dmiss]
    assert listed["mcu_dot_s8"][3] == dmiss


def test_csv_json_and_plot_exports(tmp_path) -> None:
    import pandas as pd

    m, r = run_program("stm32f746zg", "mcu_dot_s8")
    prof = m.profile(r)
    prof.to_csv(tmp_path / "p.csv")
    df = pd.read_csv(tmp_path / "p.csv")
    assert df["cycles"].sum() == prof.cycles and len(df) == len(prof.instructions_table())
    obj = json.loads(prof.to_json(tmp_path / "p.json"))
    assert obj["board"] == "stm32f746zg" and obj["core"] == "cortex-m7"
    assert obj["cycles"] == prof.cycles and obj["clock_hz"] == 216_000_000
    assert {"name", "self_cycles", "inclusive_cycles", "instructions"} <= set(obj["functions"][0])
    prof.plot(tmp_path / "p.png")
    assert (tmp_path / "p.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_cli_profile_json(tmp_path, capsys) -> None:
    from mcusim.commands import profile as cmd

    parser = argparse.ArgumentParser()
    cmd.register(parser.add_subparsers())
    srcs = [str(p) for p in microbench_sources()]
    args = parser.parse_args(["profile", *srcs, "--board", "stm32f407-16mhz", "--call",
                              "mb_alu", "10", "zeros:uint32:16", "--json",
                              "--callgrind", str(tmp_path / "cg"), "--csv",
                              str(tmp_path / "c.csv")])
    assert args.func(args) == 0
    obj = json.loads(capsys.readouterr().out)
    assert obj["cycles"] == 10 * 18 + 9 + 3 and obj["instructions"] == 181
    assert obj["board"] == "stm32f407-16mhz" and obj["core"] == "cortex-m4"
    assert obj["latency_us"] == pytest.approx(obj["cycles"] / 16.0)
    assert obj["functions"][0]["name"] == "mb_alu"
    assert (tmp_path / "cg").exists() and (tmp_path / "c.csv").exists()
    assert obj["latency_ms"] == pytest.approx(obj["latency_us"] / 1000, abs=1e-6)
    assert obj["stop_reason"] == "return" and obj["return_type"] is None  # assembly: no DWARF types
    assert isinstance(obj["return_value"], int)
    assert obj["lines"] and sum(ln["cycles"] for ln in obj["lines"]) <= obj["cycles"]
    assert {"file", "line", "function", "executions", "cycles", "pct"} <= set(obj["lines"][0])
    args = parser.parse_args(["profile", *srcs, "-b", "stm32f407-16mhz", "--call", "mb_call",
                              "3", "0", "--annotate", "mb_leaf", "--top", "5"])
    assert args.func(args) == 0
    out = capsys.readouterr().out
    assert "mb_leaf" in out and "bx lr" in out and "cycles" in out
    # the annotation shows the C text beside file:line
    leaf = [ln for ln in out.splitlines() if re.search(r"mb_\w+\.[cS]:\d+\s+\S", ln)]
    assert leaf, out


def test_annotate_skips_a_source_that_became_a_fifo(tmp_path) -> None:
    import os

    src = tmp_path / "twice.c"
    src.write_text("int twice(int x)\n{\n    return 2 * x;\n}\n")
    m = Machine("stm32f469i", build_firmware([src], "stm32f469i").elf)
    prof = m.profile(m.call("twice", 21))
    src.unlink()
    os.mkfifo(src)             # the DWARF path now names a FIFO: reading it would block
    text = prof.annotate("twice")
    assert "twice" in text and "return 2 * x" not in text


@pytest.mark.parametrize("board", BOARDS)
@pytest.mark.parametrize("name", ["mb_branchy", "mcu_dot_s8"])
def test_plain_rows_are_the_dataframe_views(board: str, name: str) -> None:
    m, r = run_program(board, name)
    prof = m.profile(r)
    for rows, frame in ((prof.instruction_rows(), prof.instructions_table()),
                        (prof.function_rows(), prof.functions()),
                        (prof.line_rows(), prof.lines())):
        assert list(frame.columns) == list(rows[0]._fields)
        assert [tuple(r) for r in rows] == list(frame.itertuples(index=False, name=None))
    # sorted like pandas' sort_values(ascending=False) on the grouped tables
    funcs = prof.instructions_table().groupby("function", sort=False)["cycles"].sum()
    expected = funcs.reset_index().sort_values("cycles", ascending=False)["function"].tolist()
    assert [f.name for f in prof.function_rows()] == expected


def test_cli_profile_text_and_json_import_no_pandas(tmp_path) -> None:
    elf = build_firmware(PROGRAMS, get_board("stm32f469i")).elf
    probe = ("import json, sys, contextlib, io\nimport mcusim.cli\n"
             "for extra in ([], ['--json'], ['--annotate', 'mb_branchy']):\n"
             "    with contextlib.redirect_stdout(io.StringIO()):\n"
             f"        mcusim.cli.main(['profile', {str(elf)!r}, '-b', 'stm32f469i', '--call',"
             " 'mb_branchy', '20', 'zeros:int32:32', '32', *extra])\n"
             "print(json.dumps(sorted(sys.modules)))")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                         check=True, cwd=tmp_path).stdout
    modules = {m.split(".")[0] for m in json.loads(out.splitlines()[-1])}
    assert "pandas" not in modules and "pyarrow" not in modules and "mcusim" in modules
