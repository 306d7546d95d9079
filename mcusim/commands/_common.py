"""Argument helpers shared by the subcommands."""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path
from numbers import Integral, Real
from typing import TYPE_CHECKING, Any, Iterable, Sequence

from mcusim._files import check_regular
from mcusim.boards import builtin_boards
from mcusim.errors import MachineError
from mcusim.limits import DEFAULT_BUDGET, DEFAULT_TIMEOUT, MAX_BUDGET, MAX_TIMEOUT

#: ``--budget none``: no instruction limit (the wall-clock limit still applies).
UNLIMITED = "none"
#: Largest ``buf:DTYPE:@FILE.npy`` accepted (bigger than any board memory).
MAX_NPY_BYTES = 1 << 30

if TYPE_CHECKING:  # numpy is imported by the commands that place buffers, not at start-up
    import numpy as np

CALL_ARGS_HELP = """\
function arguments, in order: integers (42, -1, 0x20000000), floats (2.5, 1e-3; passed in
s0..s15), or buffers placed in SRAM and passed by address:
  buf:DTYPE:V1,V2,...    a buffer holding these values (e.g. buf:int8:1,-2,3)
  buf:DTYPE:@FILE.npy    a buffer holding the array in FILE.npy
  zeros:DTYPE:N          N zero elements (an output buffer; printed after the call)"""


class _OnceAction(argparse.Action):
    """Store an option's value, refusing a second occurrence (instead of keeping the last)."""

    def __call__(self, parser, namespace, values, option_string=None) -> None:
        if getattr(namespace, f"_seen_{self.dest}", False):
            parser.error(f"{option_string} given more than once; this command takes one board")
        setattr(namespace, f"_seen_{self.dest}", True)
        setattr(namespace, self.dest, values)


def add_board(parser: argparse.ArgumentParser, *, required: bool = True,
              multiple: bool = False) -> None:
    """Add ``--board`` (a built-in name or a path to a .toml profile).

    With ``multiple`` the option may be repeated and ``args.board`` is a list (None when
    absent and not ``required``); otherwise a second ``--board`` is an error.
    """
    names = ", ".join(builtin_boards())
    help_text = f"board: a built-in profile ({names}) or the path of your own .toml profile"
    if multiple:
        more = " (repeat to compare several side by side" + \
            ("; default: all built-in)" if not required else ")")
        parser.add_argument("--board", "-b", action="append", metavar="BOARD",
                            required=required, help=help_text + more)
    else:
        parser.add_argument("--board", "-b", required=required, metavar="BOARD",
                            action=_OnceAction, help=help_text)


def board_columns(per_board: Sequence[tuple[str, Any]]) -> list[tuple[str, Any]]:
    """Give every ``(board name, value)`` a distinct column name (``name``, ``name#2``, ...)."""
    seen: dict[str, int] = {}
    out = []
    for name, value in per_board:
        seen[name] = seen.get(name, 0) + 1
        out.append((name if seen[name] == 1 else f"{name}#{seen[name]}", value))
    return out


def comparison(per_board: dict[str, dict[str, Any]], metrics: Sequence[str]) -> list[dict[str, Any]]:
    """Rows ``{"metric": m, <board>: value, ...}``: one row per metric, a column per board."""
    return [{"metric": m, **{b: d.get(m) for b, d in per_board.items()}} for m in metrics]


def add_call(parser: argparse.ArgumentParser) -> None:
    """Add ``--call SYMBOL ARGS...``, ``--region``, ``--budget`` and ``--check-reads``."""
    parser.add_argument("--call", nargs="+", metavar=("SYMBOL", "ARG"),
                        help="call SYMBOL instead of running from the reset vector; " + CALL_ARGS_HELP)
    parser.add_argument("--region", default="ram", metavar="REGION",
                        help="memory region for buffer arguments (default: ram = the first "
                             "RAM region with room; e.g. ccm, dtcm, sram2)")
    parser.add_argument("--budget", type=_budget, default=None, metavar="N",
                        help="instruction budget; the run stops with an error past it "
                             f"(default: {DEFAULT_BUDGET:.0e}; 'none' for no instruction limit)")
    parser.add_argument("--timeout", type=_timeout, default=None, metavar="SECONDS",
                        help="wall-clock limit of the run (default: "
                             f"{DEFAULT_TIMEOUT:g} s, longer for a larger --budget; 'none' for "
                             "no limit)")
    parser.add_argument("--check-reads", action="store_true",
                        help="checked mode: stop at the first read or write past a buffer "
                             "argument and name PC, function and source line (buffers sit "
                             "against inaccessible pages; no cost per instruction)")


def import_in_background(*modules: str) -> None:
    """Start importing ``modules`` on a second thread (pandas and Capstone take a few hundred
    ms) while the main thread sets up and runs the firmware: Unicorn releases the GIL while
    it emulates.  Errors are left for the main thread's own import to report."""
    import importlib
    import threading

    def load() -> None:
        for name in modules:
            try:
                importlib.import_module(name)
            except Exception:    # noqa: BLE001 - the real import raises it again, with context
                return

    threading.Thread(target=load, name="mcusim-imports", daemon=True).start()


def _budget(text: str) -> int | str:
    if text.strip().lower() == UNLIMITED:
        return UNLIMITED
    try:
        value = int(text, 0)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
    if not 1 <= value <= MAX_BUDGET:
        raise argparse.ArgumentTypeError(f"must be between 1 and {MAX_BUDGET} (or 'none')")
    return value


def _timeout(text: str) -> float | str:
    if text.strip().lower() == UNLIMITED:
        return UNLIMITED
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {text!r}") from None
    if not (math.isfinite(value) and 0 < value <= MAX_TIMEOUT):
        raise argparse.ArgumentTypeError(f"must be between 0 and {MAX_TIMEOUT:g} seconds "
                                         "(or 'none')")
    return value


def limits(args: argparse.Namespace) -> dict[str, Any]:
    """``budget=`` / ``timeout=`` keywords for :meth:`Machine.call` from ``--budget`` and
    ``--timeout`` (only those given; ``none`` becomes ``None``, no limit)."""
    out: dict[str, Any] = {}
    for key in ("budget", "timeout"):
        value = getattr(args, key, None)
        if value is not None:
            out[key] = None if value == UNLIMITED else value
    return out


def _dtype(dtype: str, token: str) -> np.dtype:
    """A plain numeric dtype (bool, integers, floats) from its name."""
    import numpy as np

    try:
        dt = np.dtype(dtype)
    except (TypeError, ValueError, SyntaxError):
        raise MachineError(f"unknown dtype {dtype!r} in argument {token!r}",
                           hint="e.g. int8, uint8, int16, int32, float32") from None
    if dt.kind not in "biuf" or dt.itemsize == 0 or dt.itemsize > 8:
        raise MachineError(f"unsupported dtype {dt} in argument {token!r}",
                           hint="use bool, integer or float types (int8, float32, ...)")
    return dt


def _check_range(values: np.ndarray, dt: np.dtype, token: str) -> np.ndarray:
    """``values`` cast to ``dt``, refusing values the dtype cannot hold."""
    import numpy as np

    if dt.kind in "iu":
        info = np.iinfo(dt)
        lo, hi = (values.min(), values.max()) if values.size else (0, 0)
        if values.dtype.kind == "f" and values.size and not np.all(np.isfinite(values)):
            raise MachineError(f"non-finite values for {dt} in argument {token!r}")
        if lo < info.min or hi > info.max:
            raise MachineError(f"values out of range for {dt} ({info.min}..{info.max}) in "
                               f"argument {token!r}")
        cast = values.astype(dt)
        if values.dtype.kind == "f" and not np.array_equal(cast, values):
            raise MachineError(f"non-integer values for {dt} in argument {token!r}")
        return cast
    if dt.kind == "f":
        as_float = values.astype(np.float64)
        cast = as_float.astype(dt)
        if np.any(np.isinf(cast) & np.isfinite(as_float)):
            raise MachineError(f"values too large for {dt} (|x| <= "
                               f"{float(np.finfo(dt).max):.7g}) in argument {token!r}")
        return cast
    return values.astype(dt)


def _array(dtype: str, spec: str, token: str) -> np.ndarray:
    import numpy as np

    dt = _dtype(dtype, token)
    if spec.startswith("@"):
        path = check_regular(spec[1:], MAX_NPY_BYTES, MachineError, ".npy file")
        try:
            loaded = np.load(path, allow_pickle=False)
        except (OSError, ValueError, EOFError) as exc:
            raise MachineError(f"cannot load {spec[1:]}: {exc}", argument=token) from None
        if not isinstance(loaded, np.ndarray) or loaded.dtype.kind not in "biuf":
            raise MachineError(f"{spec[1:]} does not hold a numeric array", argument=token)
        return _check_range(loaded, dt, token)
    try:
        values = [float(v) if dt.kind == "f" else int(v, 0) for v in spec.split(",") if v]
    except ValueError:
        raise MachineError(f"cannot parse the values of argument {token!r}") from None
    if dt.kind == "f":
        return _check_range(np.array(values, dtype=np.float64), dt, token)
    lo, hi = (min(values), max(values)) if values else (0, 0)
    bounds = (0, 1) if dt.kind == "b" else (int(np.iinfo(dt).min), int(np.iinfo(dt).max))
    if lo < bounds[0] or hi > bounds[1]:
        raise MachineError(f"values out of range for {dt} ({bounds[0]}..{bounds[1]}) in "
                           f"argument {token!r}")
    return np.array(values, dtype=dt)


def parse_call_args(machine: Any, tokens: Sequence[str], region: str
                    ) -> tuple[list[int | float], list[tuple[str, int, np.ndarray]]]:
    """Turn CLI tokens into call arguments; returns (args, buffers as (token, address, array))."""
    import numpy as np

    args: list[int | float] = []
    buffers: list[tuple[str, int, np.ndarray]] = []
    for token in tokens:
        if token.startswith(("buf:", "zeros:")):
            parts = token.split(":", 2)
            if len(parts) != 3:
                raise MachineError(f"malformed buffer argument {token!r}",
                                   hint="use buf:DTYPE:V1,V2 or zeros:DTYPE:N")
            kind, dtype, spec = parts
            if kind == "zeros":
                dt = _dtype(dtype, token)
                try:
                    count = int(spec, 0)
                except ValueError:
                    raise MachineError(f"malformed buffer argument {token!r}",
                                       hint="zeros:DTYPE:N with an integer N") from None
                memory = sum(r.size for r in machine.board.regions if not r.alias_of)
                if not 0 <= count * dt.itemsize <= memory:
                    raise MachineError(f"buffer argument {token!r} needs {count * dt.itemsize} "
                                       f"bytes; {machine.board.name} has {memory} in all",
                                       argument=token)
                arr = np.zeros(count, dtype=dt)
            else:
                arr = _array(dtype, spec, token)
            addr = machine.place(arr, region, name=token[:40])
            args.append(addr)
            buffers.append((token, addr, arr))
            continue
        try:
            args.append(int(token, 0))
            continue
        except ValueError:
            pass
        try:
            args.append(float(token))
        except ValueError:
            raise MachineError(f"cannot parse argument {token!r}",
                               hint="integers, floats, buf:DTYPE:VALUES or zeros:DTYPE:N") from None
    return args, buffers


def read_buffers(machine: Any, buffers: Iterable[tuple[str, int, np.ndarray]]) -> dict[str, list]:
    """Contents of the buffers after a call (for printing)."""
    return {token: machine.read(addr, len(arr), arr.dtype).tolist()
            for token, addr, arr in buffers}


def print_json(obj: Any) -> None:
    json.dump(obj, sys.stdout, indent=2, default=_default)
    sys.stdout.write("\n")


def _default(value: Any) -> Any:
    if isinstance(value, Integral):     # numpy integers and floats register as these
        return int(value)
    if isinstance(value, Real):
        return float(value)
    if isinstance(value, Path):
        return str(value)
    raise TypeError(type(value).__name__)


def format_table(rows: Sequence[dict[str, Any]], columns: Sequence[str]) -> str:
    """A plain-text table of ``rows`` (dicts) with the given columns.

    Numbers are formatted one way everywhere: integers with thousands separators, floats
    with three decimals (three significant digits below 1), None as ``-``; numbers are
    right-aligned.
    """
    def fmt(v: Any) -> str:
        if v is None:
            return "-"
        if isinstance(v, bool):
            return str(v)
        if isinstance(v, Integral):
            return f"{int(v):,}"
        if isinstance(v, Real):
            f = float(v)
            return f"{f:,.3f}" if abs(f) >= 1 or f == 0 else f"{f:.3g}"
        return str(v)
    cells = [[fmt(r.get(c, "")) for c in columns] for r in rows]
    widths = [max([len(c)] + [len(row[i]) for row in cells]) for i, c in enumerate(columns)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(columns, widths)),
             "  ".join("-" * w for w in widths)]
    lines += ["  ".join(v.rjust(w) if v[:1].isdigit() or v[:1] == "-" else v.ljust(w)
                        for v, w in zip(row, widths)) for row in cells]
    return "\n".join(lines)
