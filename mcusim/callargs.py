"""Host values to AAPCS (hard-float) registers for :meth:`mcusim.machine.Machine.call`.

With the function's C signature (from DWARF, :meth:`mcusim.loader.LoadedImage.signature`)
every argument is converted to its parameter's type or rejected: an integer given for a
``float`` parameter is converted, a float for an ``int32_t`` parameter, a value outside the
parameter's range or the wrong number of arguments raise :class:`~mcusim.errors.MachineError`
naming the function, the parameter and the signature.  Without debug info the Python type
decides (floats to ``s`` registers, integers to core registers) and integers must fit in 32
bits.  ``None``, strings, bytes, arrays and other objects are always errors.

Register assignment follows the AAPCS (ARM IHI 0042, section 6.1.2 "Parameter passing" and
the VFP variant): core arguments in r0-r3 then the stack (64-bit values in an even register
pair or 8-byte-aligned stack slot); ``float`` in the first free ``s`` register, ``double``
in the first free even pair (back-filling), s0-s15.
"""

from __future__ import annotations

import math
import struct
from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np

from mcusim.errors import MachineError
from mcusim.loader import Parameter, Signature

__all__ = ["Marshalled", "marshal", "return_value"]

_F32_MAX = float(np.finfo(np.float32).max)


@dataclass
class Marshalled:
    """Register and stack contents for one call."""

    core: list[int] = field(default_factory=list)      # r0..r3 (unsigned 32-bit)
    stack: list[int] = field(default_factory=list)     # words above SP, in order
    sregs: dict[int, int] = field(default_factory=dict)  # s-register index -> bits


def _kind_of_value(value: Any, symbol: str, index: int) -> str:
    if isinstance(value, (bool, np.bool_, int, np.integer)):
        return "int"
    if isinstance(value, (float, np.floating)):
        return "float"
    raise MachineError(
        f"argument {index} of {symbol} is a {type(value).__name__}, not a number",
        symbol=symbol, hint="pass ints, floats or buffer addresses (Machine.place)")


class _Assigner:
    def __init__(self, symbol: str) -> None:
        self.symbol = symbol
        self.out = Marshalled()
        self.ncrn = 0
        self.free_s = [True] * 16
        self.vfp_spilled = False

    def word(self, value: int) -> None:
        if self.ncrn < 4:
            self.out.core.append(value & 0xFFFF_FFFF)
            self.ncrn += 1
        else:
            self.out.stack.append(value & 0xFFFF_FFFF)

    def dword(self, value: int) -> None:
        lo, hi = value & 0xFFFF_FFFF, (value >> 32) & 0xFFFF_FFFF
        if self.ncrn % 2:
            self.ncrn += 1
            self.out.core.append(0)
        if self.ncrn <= 2:
            self.out.core += [lo, hi]
            self.ncrn += 2
        else:
            self.ncrn = 4
            if len(self.out.stack) % 2:
                self.out.stack.append(0)
            self.out.stack += [lo, hi]

    def single(self, value: float) -> None:
        bits = struct.unpack("<I", struct.pack("<f", value))[0]
        for i in range(16):
            if self.free_s[i] and not self.vfp_spilled:
                self.free_s[i] = False
                self.out.sregs[i] = bits
                return
        self.vfp_spilled = True
        self.out.stack.append(bits)

    def double(self, value: float) -> None:
        lo, hi = struct.unpack("<II", struct.pack("<d", value))
        for i in range(0, 16, 2):
            if self.free_s[i] and self.free_s[i + 1] and not self.vfp_spilled:
                self.free_s[i] = self.free_s[i + 1] = False
                self.out.sregs[i], self.out.sregs[i + 1] = lo, hi
                return
        self.vfp_spilled = True
        if len(self.out.stack) % 2:
            self.out.stack.append(0)
        self.out.stack += [lo, hi]


def _float_value(value: Any, limit: float, what: str, symbol: str) -> float:
    out = float(value)
    if math.isfinite(out) and abs(out) > limit:
        raise MachineError(f"{what} of {symbol}: {value!r} is out of range for its type",
                           symbol=symbol)
    return out


def _int_value(value: Any, param: Parameter | None, what: str, symbol: str,
               signature: Signature | None) -> int:
    v = int(value)
    bits = 8 * (param.size if param is not None else 4)
    signed = param is None or param.kind == "int"
    lo = -(1 << (bits - 1))
    hi = (1 << (bits - 1)) - 1 if signed and param is not None else (1 << bits) - 1
    if not lo <= v <= hi:
        raise MachineError(f"{what} of {symbol}: {v} does not fit in "
                           f"{param.type_name if param else 'a 32-bit register'}",
                           symbol=symbol, signature=str(signature) if signature else None)
    if bits < 32:   # AAPCS: the caller extends sub-word arguments to 32 bits
        v &= (1 << bits) - 1
        if signed and v >> (bits - 1):
            v -= 1 << bits
    return v


def marshal(args: Sequence[Any], signature: Signature | None, symbol: str) -> Marshalled:
    """Assign ``args`` to registers and stack words.

    Parameters
    ----------
    args
        Python or numpy scalars (buffer addresses are integers).
    signature
        The function's C signature, or None (no debug info: the Python types decide).
    symbol
        Function name, for messages.

    Raises
    ------
    MachineError
        Wrong argument count, a value of the wrong type or out of range.
    """
    kinds = [_kind_of_value(a, symbol, i) for i, a in enumerate(args)]
    params: tuple[Parameter, ...] = ()
    if signature is not None:
        params = signature.params
        if len(args) != len(params) and not (signature.variadic and len(args) >= len(params)):
            raise MachineError(f"{symbol} takes {len(params)} argument(s), got {len(args)}",
                               symbol=symbol, signature=str(signature))
    out = _Assigner(symbol)
    for i, (value, kind) in enumerate(zip(args, kinds)):
        param = params[i] if i < len(params) else None
        what = f"argument {i} ({param.type_name} {param.name})" if param else f"argument {i}"
        if param is None:
            if kind == "float" and signature is not None:
                raise MachineError(f"{what} of {symbol}: floats cannot be passed to the "
                                   f"variadic part", symbol=symbol, signature=str(signature))
            if kind == "float":
                out.single(_float_value(value, _F32_MAX, what, symbol))
            else:
                out.word(_int_value(value, None, what, symbol, signature))
        elif param.kind == "float":
            out.single(_float_value(value, _F32_MAX, what, symbol))
        elif param.kind == "double":
            out.double(_float_value(value, math.inf, what, symbol))
        elif param.kind in ("int", "uint", "pointer") and param.size in (1, 2, 4, 8):
            if kind == "float":
                raise MachineError(f"{what} of {symbol}: got the float {value!r} for an "
                                   f"integer parameter", symbol=symbol, signature=str(signature))
            v = _int_value(value, param, what, symbol, signature)
            out.dword(v) if param.size == 8 else out.word(v)
        else:
            raise MachineError(f"{what} of {symbol}: parameters of this type cannot be "
                               f"passed from the host", symbol=symbol, signature=str(signature))
    return out.out


def return_value(returns: Parameter | None, r0: int, r1: int, s0_bits: int, s1_bits: int
                 ) -> int | float | None:
    """The C return value from the result registers (None for ``void``).

    Without a known return type (``returns`` of kind ``"other"``) it is r0 as a signed int.
    """
    if returns is None:
        return None
    if returns.kind == "float":
        return struct.unpack("<f", struct.pack("<I", s0_bits))[0]
    if returns.kind == "double":
        return struct.unpack("<d", struct.pack("<II", s0_bits, s1_bits))[0]
    if returns.size == 8:
        raw, bits = (r1 << 32) | r0, 64
    else:
        bits = 8 * min(max(returns.size, 1), 4)
        raw = r0 & ((1 << bits) - 1)
    if returns.kind in ("uint", "pointer"):
        return raw
    return raw - (1 << bits) if raw >> (bits - 1) & 1 else raw
