"""Cost of the fault checks of issue 15: the native stack check, the division-by-zero trap
and the optional alignment check, on the programs of ``emulation_speed.py``, in one process.

Three machines on the same ELF (``mb_programs.c``, then the s8 kernel family on one CifarNet
convolution and fully-connected layer), all with the native counting hooks:

* ``baseline``: stack check off (``native.set_stack_check(state, 0, 0, 0)``) and no trap
  hooks (``traps.find_sites`` returning nothing while the machine is built);
* ``stack_check``: the native stack check only;
* ``default``: as ``Machine(board, elf)`` builds it (stack check, alignment and division
  traps), with the number of instructions hooked.

Prints million instructions per second (CPU time, best of ``--repeat`` round-robin runs) and
the ratio to the baseline; then the per-call cost of the wall-clock limit (the watchdog is
armed and disarmed around every call): short calls with ``timeout=None`` and with the default.
Usage: ``python benchmarks/fault_checks_overhead.py [--board stm32f469i] [--repeat 3]``
"""

from __future__ import annotations

import argparse
import time
from typing import Callable
from unittest import mock

import numpy as np

from emulation_speed import SOURCES, _workloads
from mcusim import native, traps
from mcusim.boards import get_board
from mcusim.build import build_firmware
from mcusim.kernels import s8
from mcusim.kernels.firmware import build_family
from mcusim.kernels.layers import get_layer
from mcusim.machine import Machine


def _without_traps(board, elf, *, stack_check: bool) -> Machine:
    with mock.patch.object(traps, "find_sites", return_value=[]):
        m = Machine(board, elf)
    if not stack_check:
        native.set_stack_check(m._state, 0, 0, 0)
    return m


def _s8_workloads(m: Machine) -> dict[str, Callable[[], object]]:
    """The int8 kernels of the s8 family on one CifarNet layer shape each."""
    rng = np.random.default_rng(0)
    jobs = {}
    for kind, name in (("conv", "cifarnet.conv2"), ("fc", "cifarnet.fc1")):
        x, w, bias, p = s8.make_problem(get_layer(name), rng)
        run = s8.run_conv_s8 if kind == "conv" else s8.run_fc_s8
        jobs[f"s8 {kind}"] = (lambda run=run, x=x, w=w, bias=bias, p=p:
                              (m.free_all(), run(m, x, w, bias, p, budget=4_000_000_000))[1].result)
    return jobs


def _machines(board, elf) -> dict[str, Machine]:
    return {"baseline": _without_traps(board, elf, stack_check=False),
            "stack_check": _without_traps(board, elf, stack_check=True),
            "default": Machine(board, elf)}


def measure(board_name: str, repeat: int) -> list[dict]:
    board = get_board(board_name)
    rows = _rows(_machines(board, build_firmware(SOURCES, board).elf), _workloads, repeat)
    rows += _rows(_machines(board, build_family(board, "s8")), _s8_workloads, repeat)
    return rows


def _rows(machines: dict[str, Machine], workloads, repeat: int) -> list[dict]:
    jobs = {name: workloads(m) for name, m in machines.items()}
    rows = []
    for program in jobs["baseline"]:
        row: dict = {"program": program}
        best = {name: float("inf") for name in machines}
        insns = {name: jobs[name][program]().instructions for name in machines}  # translate
        for _ in range(repeat):            # round robin, CPU time: the cores are shared
            for name in machines:
                t = time.process_time()
                jobs[name][program]()
                best[name] = min(best[name], time.process_time() - t)
        for name, m in machines.items():
            row[name] = insns[name] / best[name] / 1e6
            row[f"{name}_sites"] = len(getattr(m, "_trap_sites", {}))
        rows.append(row)
    return rows


def call_overhead(board_name: str, repeat: int, calls: int = 2000) -> dict[str, float]:
    """Microseconds per short call (``mcu_dot_s8`` on 16 bytes), without and with a timeout."""
    board = get_board(board_name)
    m = Machine(board, build_firmware(SOURCES, board).elf)
    a = m.place(np.arange(16, dtype=np.int8))
    best = {"no timeout": float("inf"), "default timeout": float("inf")}
    for _ in range(repeat):
        for name, kwargs in (("no timeout", {"timeout": None}), ("default timeout", {})):
            t = time.perf_counter()
            for _ in range(calls):
                m.call("mb_dot_s8", a, a, 16, **kwargs)
            best[name] = min(best[name], (time.perf_counter() - t) / calls * 1e6)
    return best


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--board", default="stm32f469i")
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args(argv)
    for r in measure(args.board, args.repeat):
        print(f"{r['program']:8s} baseline {r['baseline']:6.1f} MIPS; stack check "
              f"{r['stack_check']:6.1f} MIPS ({r['stack_check'] / r['baseline']:.0%}); all "
              f"checks (default) {r['default']:6.1f} MIPS ({r['default'] / r['baseline']:.0%}, "
              f"{r['default_sites']} instructions hooked)")
    per_call = call_overhead(args.board, args.repeat)
    print("per call: " + ", ".join(f"{k} {v:.1f} us" for k, v in per_call.items()) +
          f" (ratio {per_call['default timeout'] / per_call['no timeout']:.2f})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
