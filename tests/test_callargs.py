"""Arguments follow the C signature from DWARF: converted, or rejected with a clear error."""

from __future__ import annotations

import json
import struct

import numpy as np
import pytest

from mcusim.callargs import marshal, return_value
from mcusim.cli import main
from mcusim.errors import MachineError
from mcusim.loader import Parameter, Signature
from mcusim.machine import Machine

F = Parameter("x", "float", "float", 4)
D = Parameter("d", "double", "double", 8)
I32 = Parameter("n", "int32_t", "int", 4)
U8 = Parameter("c", "uint8_t", "uint", 1)
I64 = Parameter("w", "int64_t", "int", 8)
P = Parameter("p", "float *", "pointer", 4)


def _f(bits: int) -> float:
    return struct.unpack("<f", struct.pack("<I", bits))[0]


@pytest.fixture
def basic(board, basic_elf):
    return Machine(board, basic_elf)


def test_int_for_float_parameter_is_converted():
    regs = marshal([0x2000_0000, 3, 2, 1], Signature("f", (P, I32, F, F), None), "f")
    assert regs.core == [0x2000_0000, 3]
    assert _f(regs.sregs[0]) == 2.0 and _f(regs.sregs[1]) == 1.0


def test_aapcs_back_fills_floats_and_aligns_doubles_and_64bit_ints():
    regs = marshal([1.0, 2.0, 3.0, 1, 2], Signature("f", (F, D, F, I32, I64), None), "f")
    assert sorted(regs.sregs) == [0, 1, 2, 3]      # s0, d1 = s2:s3, s1 back-filled
    assert _f(regs.sregs[0]) == 1.0 and _f(regs.sregs[1]) == 3.0
    assert struct.unpack("<d", struct.pack("<II", regs.sregs[2], regs.sregs[3]))[0] == 2.0
    assert regs.core == [1, 0, 2, 0]                # int64 in the even pair r2:r3


@pytest.mark.parametrize("args, match", [
    ([2.5], "float 2.5 for an integer"),
    ([2 ** 31], "does not fit in int32_t"),
    ([None], "NoneType, not a number"),
    (["3"], "str, not a number"),
    ([np.zeros(2)], "ndarray, not a number"),
    ([1, 2], r"takes 1 argument\(s\), got 2"),
])
def test_bad_arguments_are_errors(args, match):
    with pytest.raises(MachineError, match=match):
        marshal(args, Signature("f", (I32,), None), "f")


def test_without_signature_integers_must_fit_32_bits():
    assert marshal([-1, 0xFFFF_FFFF], None, "f").core == [0xFFFF_FFFF, 0xFFFF_FFFF]
    with pytest.raises(MachineError, match="32-bit"):
        marshal([1 << 32], None, "f")
    with pytest.raises(MachineError, match="does not fit in uint8_t"):
        marshal([300], Signature("f", (U8,), None), "f")


def test_return_values_by_type():
    assert return_value(None, 5, 0, 0, 0) is None
    assert return_value(I32, 0xFFFF_FFFF, 0, 0, 0) == -1
    assert return_value(U8, 0x1FF, 0, 0, 0) == 0xFF
    assert return_value(F, 0, 0, struct.unpack("<I", struct.pack("<f", 1.5))[0], 0) == 1.5


def test_scale_with_integer_gain_and_void_return(basic):
    y = basic.place(np.array([1, 2, 3], dtype=np.float32))
    res = basic.call("mcu_scale_f32", y, 3, 3, 2)       # gain 3, bias 2 given as ints
    assert basic.read(y, 3, np.float32).tolist() == [5.0, 8.0, 11.0]
    assert res.returns == "void" and res.value is None


def test_float_and_64bit_returns(board, basic, faults_elf):
    x = basic.place(np.array([3, 4], dtype=np.float32))
    res = basic.call("mcu_rms_f32", x, 2)
    assert res.returns == "float" and res.value == pytest.approx(np.sqrt(12.5))
    m = Machine(board, faults_elf)
    assert m.call("mul64", 0xFFFF_FFFF, 0xFFFF_FFFF).value == 0xFFFF_FFFF ** 2


def test_call_rejects_out_of_range_and_non_numbers(basic):
    a = basic.place(np.arange(4, dtype=np.int8))
    with pytest.raises(MachineError, match="does not fit"):
        basic.call("mcu_dot_s8", a, a, 2 ** 40)
    with pytest.raises(MachineError, match="NoneType"):
        basic.call("mcu_dot_s8", a, None, 4)
    with pytest.raises(MachineError, match=r"int32_t mcu_dot_s8\(const int8_t \* a"):
        basic.call("mcu_dot_s8", a, a)


@pytest.mark.parametrize("value", [None, "abc", b"abc", np.array([object(), 1], dtype=object),
                                   np.array(["x", "y"]), np.zeros(2, dtype="V8")])
def test_place_rejects_non_numeric_data(basic, value):
    with pytest.raises(MachineError, match="cannot place"):
        basic.place(value)


def test_cli_integer_gain_and_void(board, basic_elf, capsys):
    call = ["--call", "mcu_scale_f32", "buf:float32:1,2,3", "3", "2", "1"]
    assert main(["run", str(basic_elf), "-b", board.name, *call, "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["buffers"]["buf:float32:1,2,3"] == [3.0, 5.0, 7.0]
    assert out["return_type"] == "void" and out["return_value"] is None
    assert main(["run", str(basic_elf), "-b", board.name, *call]) == 0
    assert "none (void function)" in capsys.readouterr().out
