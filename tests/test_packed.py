"""Tests of the packed low-bit family: layout, the drain-interval proof, and the emulated
kernels compared bit-exactly with the numpy reference on both boards."""

from __future__ import annotations

import numpy as np
import pytest

from mcusim.kernels import packed as P
from mcusim.kernels.layers import Layer

BOARDS = ("stm32f469i", "stm32f746zg")

# Hand-derived: s, n and R_max = floor((2^s - 1) / (n (2^ba - 1)(2^bw - 1))) per (bw, ba).
EXPECTED_SCHEMES = {
    (2, 2): (8, 4, 0, 7), (2, 4): (8, 4, 0, 1), (4, 2): (8, 4, 0, 1),
    (2, 8): (16, 2, 0, 42), (8, 2): (16, 2, 0, 42), (4, 4): (16, 2, 0, 145),
    (4, 8): (16, 2, 0, 8), (8, 4): (16, 2, 0, 8), (8, 8): (24, 2, 1, 129),
}

FC_SHAPES = (Layer("t.fc37x5", "fc", 1, 1, 37, 5), Layer("t.fc130x3", "fc", 1, 1, 130, 3))
CONV_SHAPES = (
    Layer("t.conv3", "conv", 5, 6, 3, 5, 3, 3, 1, 1),     # odd C_in, C_out, padding
    Layer("t.conv7s2", "conv", 7, 6, 7, 3, 3, 2, 2, 0),   # odd sizes, stride 2, kh != kw
)


# --------------------------------------------------------------------------- numpy only
@pytest.mark.parametrize("bits", P.BITS)
@pytest.mark.parametrize("count", [1, 5, 16, 33])
def test_pack_roundtrip(bits: int, count: int) -> None:
    rng = np.random.default_rng(count)
    v = rng.integers(0, 1 << bits, size=count)
    buf = P.pack_values(v, bits)
    assert buf.size == -(-count * bits // 8)
    assert np.array_equal(P.unpack_values(buf, bits, count), v)


def test_pack_layout_is_little_endian() -> None:
    assert P.pack_values([1, 2, 3, 0], 2).tolist() == [1 | 2 << 2 | 3 << 4]
    assert P.pack_values([0xA, 0x5, 0x3], 4).tolist() == [0x5A, 0x03]
    with pytest.raises(ValueError):
        P.pack_values([4], 2)


@pytest.mark.parametrize("pair", P.PAIRS, ids=lambda p: f"w{p[0]}a{p[1]}")
def test_scheme_selection(pair: tuple[int, int]) -> None:
    s = P.select_scheme(*pair)
    assert (s.lane_bits, s.lanes, s.wide, s.max_run) == EXPECTED_SCHEMES[pair]
    assert s.block_values == 32 // min(pair) and s.block_mults * s.lanes == s.block_values
    assert P.drain_interval(*pair) <= s.max_run


@pytest.mark.parametrize("pair", P.PAIRS, ids=lambda p: f"w{p[0]}a{p[1]}")
@pytest.mark.parametrize("strategy", P.STRATEGIES)
def test_weight_permutation(pair: tuple[int, int], strategy: str) -> None:
    perm = P.weight_permutation(*pair, strategy)
    assert sorted(perm.tolist()) == list(range(32 // min(pair)))


def test_weight_permutation_w8a8_is_byte_reversal() -> None:
    # UMLAL lanes: bytes (0, 3) then (2, 1); lane l meets lane n-1-l, so each word is reversed.
    assert P.weight_permutation(8, 8, "mul").tolist() == [3, 2, 1, 0]
    # SMLAD meets lane l with lane l and both operands are unpacked alike: no permutation.
    assert P.weight_permutation(8, 8, "smlad").tolist() == [0, 1, 2, 3]


def _max_run_sum(pair: tuple[int, int], products: int) -> tuple[int, int]:
    """Sum of `products` all-max packed products, without and with register wrap."""
    s = P.select_scheme(*pair)
    bw, ba = pair
    a = sum(P.max_value(ba) << (s.lane_bits * i) for i in range(s.lanes))
    w = sum(P.max_value(bw) << (s.lane_bits * (s.lanes - 1 - j)) for j in range(s.lanes))
    return products * a * w, (products * a * w) % (1 << (64 if s.wide else 32))


def _lane(value: int, pair: tuple[int, int]) -> int:
    s = P.select_scheme(*pair)
    return (value >> (s.lane_bits * (s.lanes - 1))) & ((1 << s.lane_bits) - 1)


@pytest.mark.parametrize("pair", P.PAIRS, ids=lambda p: f"w{p[0]}a{p[1]}")
def test_drain_bound_is_tight(pair: tuple[int, int]) -> None:
    """R_max all-max products extract exactly with no carry; R_max + 1 overflow."""
    s = P.select_scheme(*pair)
    m = P.max_value(pair[0]) * P.max_value(pair[1])
    for products, exact in ((s.max_run, True), (s.max_run + 1, False)):
        full, wrapped = _max_run_sum(pair, products)
        want = products * s.lanes * m
        assert (_lane(wrapped, pair) == want) is exact
        lower = full & ((1 << (s.lane_bits * (s.lanes - 1))) - 1)
        if exact:  # lanes below n-1 never carried into it
            assert lower == sum(products * (k + 1) * m << (s.lane_bits * k)
                                for k in range(s.lanes - 1))


@pytest.mark.parametrize("pair", P.PAIRS, ids=lambda p: f"w{p[0]}a{p[1]}")
def test_kernel_drain_interval(pair: tuple[int, int]) -> None:
    """The kernel's run is maximal in its own unit: one more block (or multiply) overflows."""
    s = P.select_scheme(*pair)
    run = P.drain_interval(*pair)
    step = s.block_mults if s.drain_blocks else 1
    assert run % step == 0 and run <= s.max_run < run + step
    v = s.lanes * (run + step)
    a = np.full(v, P.max_value(pair[1]))
    w = np.full(v, P.max_value(pair[0]))
    exact = int(np.dot(a, w))
    assert P.packed_dot(a, w, *pair) == exact                 # the kernel's run: exact
    assert P.packed_dot(a, w, *pair, run=run + step) != exact  # one step longer: overflow


@pytest.mark.parametrize("pair", P.PAIRS, ids=lambda p: f"w{p[0]}a{p[1]}")
def test_packed_dot_random(pair: tuple[int, int]) -> None:
    rng = np.random.default_rng(sum(pair))
    for k in (1, 7, 61, 300):
        a = rng.integers(0, 1 << pair[1], size=k)
        w = rng.integers(0, 1 << pair[0], size=k)
        assert P.packed_dot(a, w, *pair) == int(np.dot(a, w))
        full_a = np.full(k, P.max_value(pair[1]))
        full_w = np.full(k, P.max_value(pair[0]))
        assert P.packed_dot(full_a, full_w, *pair, run=P.select_scheme(*pair).max_run) == \
            int(np.dot(full_a, full_w))


@pytest.mark.parametrize("pair", [(2, 8), (4, 4), (8, 2)], ids=lambda p: f"w{p[0]}a{p[1]}")
def test_correction_algebra(pair: tuple[int, int]) -> None:
    """corr + sum a_u w_u - 2^(bw-1) sum a_u == bias + sum (a_u - z_a)(w_u - 2^(bw-1))."""
    p = P.make_problem(CONV_SHAPES[0], *pair, np.random.default_rng(3))
    rows = p.rows()
    signed = (rows - p.input_zero_point) @ (p.w - (1 << (p.w_bits - 1))).T + p.bias[None, :]
    assert np.array_equal(P.accumulators(rows, p.w, p.correction, p.w_bits), signed)


# --------------------------------------------------------------------------- emulated
@pytest.fixture(scope="module", params=BOARDS)
def machine(request: pytest.FixtureRequest):  # type: ignore[no-untyped-def]
    from mcusim.boards import get_board
    from mcusim.machine import Machine

    board = get_board(request.param)
    return Machine(board, P.build(board))


def _check(run: P.PackedRun, p: P.PackedProblem) -> None:
    assert run.status == 0
    assert run.result.stop_reason == "return"
    np.testing.assert_array_equal(run.output, p.reference())
    outs = run.output.size
    spare = run.raw.size * 8 - outs * p.out_bits
    if spare:  # bits past the last output keep the buffer's fill pattern
        assert int(run.raw[-1]) >> (8 - spare) == 0xA5 >> (8 - spare)


def test_scheme_matches_c(machine) -> None:  # type: ignore[no-untyped-def]
    for pair in P.PAIRS:
        status, fields = P.get_scheme(machine, *pair)
        assert status == 0 and fields == P.select_scheme(*pair).as_tuple()
    assert P.get_scheme(machine, 3, 4)[0] == -1


def test_row_bytes_matches_c(machine) -> None:  # type: ignore[no-untyped-def]
    for bw, ba in P.PAIRS:
        for k in (1, 15, 16, 37, 75, 1600):
            for bits in (bw, ba):
                got = machine.call("mnn_packed_row_bytes", k, bits, bw, ba).return_value
                assert got == P.row_bytes(k, bits, bw, ba), (k, bits, bw, ba)


@pytest.mark.parametrize("pair", P.PAIRS, ids=lambda p: f"w{p[0]}a{p[1]}")
def test_fc_bit_exact(machine, pair: tuple[int, int]) -> None:  # type: ignore[no-untyped-def]
    rng = np.random.default_rng(pair[0] * 10 + pair[1])
    for layer in FC_SHAPES:
        out_bits = {2: 8, 4: 2, 8: 4}[pair[1]]
        p = P.make_problem(layer, *pair, rng, out_bits=out_bits)
        for strategy in P.STRATEGIES:
            _check(P.run_kernel(machine, p, strategy), p)


@pytest.mark.parametrize("pair", P.PAIRS, ids=lambda p: f"w{p[0]}a{p[1]}")
def test_conv_bit_exact(machine, pair: tuple[int, int]) -> None:  # type: ignore[no-untyped-def]
    rng = np.random.default_rng(100 + pair[0] * 10 + pair[1])
    for layer in CONV_SHAPES:
        p = P.make_problem(layer, *pair, rng)
        for strategy in P.STRATEGIES:
            _check(P.run_kernel(machine, p, strategy), p)


@pytest.mark.parametrize("pair", P.PAIRS, ids=lambda p: f"w{p[0]}a{p[1]}")
def test_worst_case_longest_runs(machine, pair: tuple[int, int]) -> None:  # type: ignore[no-untyped-def]
    """All-max operands over two full drain runs, a partial run and a tail."""
    s = P.select_scheme(*pair)
    k = 2 * max(s.drain_blocks, 1) * s.block_values + s.block_values + 3
    layer = Layer("t.worst", "fc", 1, 1, k, 3)
    p = P.make_problem(layer, *pair, np.random.default_rng(0), out_bits=8, worst_case=True)
    assert p.reference().tolist() == [0, 1, 2]  # the identity requantisation's targets
    for strategy in P.STRATEGIES:
        _check(P.run_kernel(machine, p, strategy), p)
    conv = Layer("t.worstconv", "conv", 3, 2, k // 4 + 1, 2, 2, 2)
    pc = P.make_problem(conv, *pair, np.random.default_rng(0), out_bits=8, worst_case=True)
    _check(P.run_kernel(machine, pc, "mul"), pc)


@pytest.mark.parametrize("a_bits", P.BITS)
def test_buffer_size_agrees(machine, a_bits: int) -> None:  # type: ignore[no-untyped-def]
    for layer in CONV_SHAPES:
        p = P.make_problem(layer, 4, a_bits, np.random.default_rng(1))
        need = P.conv_buffer_size(layer, 4, a_bits)
        for strategy in P.STRATEGIES:
            machine.free_all()
            assert P.get_buffer_size(machine, p, strategy) == need
            _check(P.run_kernel(machine, p, strategy, scratch_bytes=need), p)
            assert P.run_kernel(machine, p, strategy, scratch_bytes=need - 4).status == -2


def test_argument_errors(machine, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    p = P.make_problem(FC_SHAPES[0], 4, 4, np.random.default_rng(2))
    bad_clamp = P.PackedProblem(**{**p.__dict__, "act_max": 16})
    assert P.run_kernel(machine, bad_clamp, "smlad").status == -1
    good = P.layer_struct(p)
    for index, value in ((16, 3), (17, 1), (18, 16), (19, 16), (4, 0)):  # bits, z_a, N
        words = good.copy()
        words[index] = value
        monkeypatch.setattr(P, "layer_struct", lambda _p, w=words: w)
        assert P.run_kernel(machine, p, "mul").status == -1, (index, value)


def test_packing_beats_smlad_on_w2a2(machine) -> None:  # type: ignore[no-untyped-def]
    """Four products per MUL must execute fewer instructions than two per SMLAD."""
    p = P.make_problem(Layer("t.fc", "fc", 1, 1, 512, 8), 2, 2, np.random.default_rng(5))
    mul = P.run_kernel(machine, p, "mul")
    smlad = P.run_kernel(machine, p, "smlad")
    _check(mul, p)
    _check(smlad, p)
    assert mul.result.instructions < 0.8 * smlad.result.instructions


@pytest.mark.parametrize("pair", [(2, 2), (4, 8), (8, 8)], ids=lambda p: f"w{p[0]}a{p[1]}")
def test_plain_c_build(pair: tuple[int, int]) -> None:
    """MNN_FORCE_PLAIN_C (no SMLAD) computes the same results."""
    from mcusim.boards import get_board
    from mcusim.machine import Machine

    board = get_board("stm32f469i")
    m = Machine(board, P.build(board, plain_c=True))
    p = P.make_problem(CONV_SHAPES[1], *pair, np.random.default_rng(9))
    for strategy in P.STRATEGIES:
        _check(P.run_kernel(m, p, strategy), p)


def test_bench_rows_and_table() -> None:
    """The bench module's rows (registry contract) and the README table built from them."""
    import importlib.util
    from pathlib import Path

    from mcusim.boards import get_board
    from mcusim.kernels import packed_bench
    from mcusim.kernels.registry import REQUIRED_COLUMNS, get_family

    assert get_family("packed") is packed_bench
    names = {k.name for k in packed_bench.list_kernels()}
    assert len(names) == 18 and {"packed_w4a8", "smlad_w4a8", "packed_w2a2"} <= names
    layers = (FC_SHAPES[0], CONV_SHAPES[1])
    rows = packed_bench.bench(get_board("stm32f746zg"), layers, pairs=((2, 2), (8, 4)))
    assert len(rows) == 2 * 2 * len(layers)
    for row in rows:
        assert set(REQUIRED_COLUMNS) <= set(row)
        assert row["cycles"] > 0 and row["speedup_vs_s8"] > 0
        if row["strategy"] == "smlad":
            assert row["speedup_vs_smlad"] == 1.0
    fc = [r for r in rows if r["layer"] == "t.fc37x5" and r["w_bits"] == 2]
    assert fc[0]["weight_bytes"] == 5 * 12 + 5 * 12  # 3 blocks of 16 two-bit weights + 12 B/ch
    spec = importlib.util.spec_from_file_location(
        "packed_table", Path(__file__).resolve().parent.parent / "benchmarks" / "packed_table.py")
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    import pandas as pd

    text = mod.table(pd.DataFrame(rows))
    assert "| stm32f746zg | w2a2 |" in text and "| stm32f746zg | w8a4 |" in text
