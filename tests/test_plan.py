"""The memory planner: TFLM's own greedy test cases and hand-computed offsets, the exact order
search against brute force, in-place rules against the kernels under emulation, no overlaps
on random inputs, the real models' TFLM trace, and failures."""

from __future__ import annotations

import itertools
import random
from pathlib import Path

import numpy as np
import pytest

from mcusim.errors import ModelError
from mcusim.model.graph import Graph, Operator, OpParams, Quant, Tensor
from mcusim.model.plan import (
    STRATEGIES, Dataflow, GreedyPlanner, LinearPlanner, MemoryPlanner, inplace_options,
    lifetimes, min_peak_order, plan_graph, plan_in_order, plan_summary, window_in_place_safe,
)
from mcusim.model.plan.order import live_bytes_in_order
from mcusim.model.scratch import board_has_dsp, scratch_bytes
from tests.model_util import shared_model

BOARDS = ("stm32f469i", "stm32f746zg")
#: TFLM's planned non-persistent "head" of the shared models (../shared/models/README.md).
TFLM_HEAD = {"kws_ref_model.tflite": 16_000, "pretrainedResnet_quant.tflite": 49_152}
Q = Quant((0.05,), (0,))


# ----------------------------------------------------------------------------- graph helpers
class _G:
    """Builds small valid graphs: activations and constants appended as used."""

    def __init__(self) -> None:
        self.tensors: list[Tensor] = []
        self.ops: list[Operator] = []

    def act(self, shape: tuple[int, ...]) -> int:
        self.tensors.append(Tensor(f"t{len(self.tensors)}", shape, "int8", Q))
        return len(self.tensors) - 1

    def const(self, shape: tuple[int, ...], dtype: str = "int8") -> int:
        data = np.zeros(shape, dtype=np.int8 if dtype == "int8" else np.int32)
        self.tensors.append(Tensor(f"c{len(self.tensors)}", shape, dtype, Q, data))
        return len(self.tensors) - 1

    def op(self, kind: str, ins: tuple[int, ...], out_shape: tuple[int, ...],
           params: OpParams = OpParams()) -> int:
        y = self.act(out_shape)
        self.ops.append(Operator(f"{len(self.ops):02d}_{kind}", kind, ins, (y,), params))
        return y

    def conv(self, x: int, c_out: int, k: int = 1, pad: int = 0) -> int:
        n, h, w, c = self.tensors[x].shape
        wt, b = self.const((c_out, k, k, c)), self.const((c_out,), "int32")
        return self.op("conv", (x, wt, b), (n, h + 2 * pad - k + 1, w + 2 * pad - k + 1, c_out),
                       OpParams(padding=(pad,) * 4))

    def dwconv(self, x: int, k: int = 3, pad: int = 1, stride: int = 1) -> int:
        n, h, w, c = self.tensors[x].shape
        wt, b = self.const((1, k, k, c)), self.const((c,), "int32")
        oh, ow = (h + 2 * pad - k) // stride + 1, (w + 2 * pad - k) // stride + 1
        return self.op("dwconv", (x, wt, b), (n, oh, ow, c),
                       OpParams(stride=(stride, stride), padding=(pad,) * 4))

    def pool(self, x: int, kind: str = "maxpool", k: int = 2, stride: int = 2,
             pad: int = 0) -> int:
        n, h, w, c = self.tensors[x].shape
        oh, ow = (h + 2 * pad - k) // stride + 1, (w + 2 * pad - k) // stride + 1
        return self.op(kind, (x,), (n, oh, ow, c),
                       OpParams(filter=(k, k), stride=(stride, stride), padding=(pad,) * 4))

    def graph(self, inputs: tuple[int, ...], outputs: tuple[int, ...]) -> Graph:
        return Graph("test", tuple(self.tensors), tuple(self.ops), inputs, outputs).validate()


def _two_branches() -> tuple[Graph, dict[str, int]]:
    """x(10) -> a1(100) -> a2(10); x -> b1(100) -> b2(10); out = a2 + b2 (10 bytes).

    Graph order a1, b1, a2, b2, add holds x, a1 and b1 together (210 B); running branch a
    first never needs more than 120 B.
    """
    g = _G()
    x = g.act((1, 1, 1, 10))
    a1 = g.conv(x, 100)
    b1 = g.conv(x, 100)
    a2 = g.conv(a1, 10)
    b2 = g.conv(b1, 10)
    out = g.op("add", (a2, b2), (1, 1, 1, 10))
    return g.graph((x,), (out,)), {"x": x, "a1": a1, "b1": b1, "a2": a2, "b2": b2, "out": out}


# ----------------------------------------------------------------------------- buffer planners
# TFLM's own expectations (tensorflow/lite/micro/memory_planner/greedy_memory_planner_test.cc:
# TestGreedyBasics, TestGreedyMedium, TestOverlapCase), sizes unaligned there.
TFLM_CASES = [
    ([(10, 0, 1), (20, 2, 3)], [0, 0], 20),
    ([(10, 0, 1), (20, 1, 2), (30, 2, 3), (40, 3, 4), (50, 0, 1)], [50, 70, 40, 0, 0], 90),
    ([(100, 0, 1), (50, 2, 3), (20, 1, 2)], [0, 0, 100], 120),
]


@pytest.mark.parametrize("buffers, offsets, arena", TFLM_CASES)
def test_greedy_matches_tflm_tests(buffers: list, offsets: list, arena: int) -> None:
    p = GreedyPlanner(alignment=1)
    assert [p.add_buffer(*b) for b in buffers] == list(range(len(buffers)))
    assert p.offsets() == offsets
    assert p.arena_size == arena
    p.check_overlaps()


def test_greedy_aligns_sizes_to_16_by_default() -> None:
    p = GreedyPlanner()
    for b in [(10, 0, 1), (20, 1, 2), (30, 2, 3)]:  # -> 16, 32, 32 bytes
        p.add_buffer(*b)
    assert p.alignment == 16
    assert [b.size for b in p.buffers] == [16, 32, 32]
    assert p.offsets() == [32, 0, 32]
    assert p.arena_size == 64


@pytest.mark.parametrize("alignment, offsets, arena", [(1, [0, 10, 30], 46),
                                                       (16, [0, 16, 48], 64)])
def test_linear_offsets(alignment: int, offsets: list[int], arena: int) -> None:
    p = LinearPlanner(alignment=alignment)
    for b in [(10, 0, 1), (20, 1, 2), (16, 2, 3)]:
        p.add_buffer(*b)
    assert p.offsets() == offsets
    assert p.arena_size == arena


def test_tied_buffers_share_an_offset() -> None:
    """a (100, steps 0-1), b (40, 1-2) written over a, c (60, 2-3): c goes above b only."""
    def build(planner: MemoryPlanner, tie: bool) -> MemoryPlanner:
        a = planner.add_buffer(100, 0, 1)
        b = planner.add_buffer(40, 1, 2)
        planner.add_buffer(60, 2, 3)
        if tie:
            planner.tie(b, a)
        return planner

    tied = build(GreedyPlanner(alignment=1), True)
    assert tied.offsets() == [0, 0, 40]
    assert tied.arena_size == 100
    tied.check_overlaps()
    free = build(GreedyPlanner(alignment=1), False)
    assert free.offsets() == [0, 100, 0]
    assert free.arena_size == 140
    lin = build(LinearPlanner(alignment=1), True)
    assert lin.offsets() == [0, 0, 100]
    assert lin.arena_size == 160


class _AllAtZero(MemoryPlanner):
    name = "broken"

    def _place(self, buffers, groups, deltas):  # type: ignore[no-untyped-def]
        return [0] * len(buffers)


def test_overlap_check_and_timeline_show_a_bad_plan() -> None:
    p = _AllAtZero(alignment=1)
    p.add_buffer(10, 0, 1)
    p.add_buffer(10, 1, 2)
    with pytest.raises(ModelError, match="share bytes"):
        p.check_overlaps()
    lines = p.timeline(width=10).splitlines()
    assert lines[0] == "  0: 0000000000 (10 B)"
    assert lines[1] == "  1: !!!!!!!!!! (10 B)"   # both on the same 10 bytes
    assert lines[2] == "  2: 1111111111 (10 B)"


@pytest.mark.parametrize("planner", [LinearPlanner, GreedyPlanner])
def test_random_buffers_never_overlap(planner: type[MemoryPlanner]) -> None:
    rng = random.Random(1234)
    for _ in range(150):
        p = planner(alignment=rng.choice([1, 4, 16]))
        n = rng.randint(1, 25)
        for _ in range(n):
            first = rng.randint(0, 12)
            p.add_buffer(rng.randint(0, 3000), first, first + rng.randint(0, 6))
        for _ in range(rng.randint(0, 3)):  # some in-place ties
            i, j = rng.randrange(n), rng.randrange(n)
            if not any(i in g and j in g for g in p.tie_groups()):
                p.tie(i, j)
        p.check_overlaps()
        bufs, offs = p.buffers, p.offsets()
        assert all(o % p.alignment == 0 for o in offs)
        total = sum(max(bufs[i].size for i in g) for g in p.tie_groups())
        peak = max(sum(max((bufs[i].size for i in g if bufs[i].first_use <= t <= bufs[i].last_use),
                           default=0) for g in p.tie_groups()) for t in range(20))
        assert peak <= p.arena_size <= total
        if planner is LinearPlanner:
            assert p.arena_size == total


@pytest.mark.parametrize("args, match", [((-1, 0, 1), "size"), ((10, 2, 1), "lifetime"),
                                         ((10, -1, 1), "lifetime")])
def test_invalid_buffers_are_model_errors(args: tuple[int, int, int], match: str) -> None:
    with pytest.raises(ModelError, match=match):
        GreedyPlanner().add_buffer(*args)


def test_planner_misuse_is_a_model_error() -> None:
    p = GreedyPlanner()
    p.add_buffer(10, 0, 0)
    with pytest.raises(ModelError, match="out of range"):
        p.offset(1)
    with pytest.raises(ModelError, match="cannot tie"):
        p.tie(0, 0)
    with pytest.raises(ModelError, match="alignment"):
        GreedyPlanner(alignment=0)


# ----------------------------------------------------------------------------- order search
def _random_flow(rng: random.Random, n: int) -> Dataflow:
    """A random DAG: each operator reads one or two earlier tensors and writes one."""
    sizes = [rng.randint(1, 200)]
    ins, outs = [], []
    for i in range(n):
        avail = list(range(len(sizes)))
        k = rng.choice([1, 1, 2])
        ins.append(tuple(rng.sample(avail, min(k, len(avail)))))
        sizes.append(rng.randint(1, 200))
        outs.append((len(sizes) - 1,))
    read = {t for x in ins for t in x}
    graph_out = tuple(t for t in range(1, len(sizes)) if t not in read) or (len(sizes) - 1,)
    return Dataflow(tuple(sizes), tuple(ins), tuple(outs), (0,), graph_out,
                    tuple(rng.choice([0, 0, 32]) for _ in range(n)))


def _live_from_lifetimes(flow: Dataflow, order: tuple[int, ...]) -> list[int]:
    spans = lifetimes(flow, order)
    return [sum(flow.sizes[t] for t, (a, b) in spans.items() if a <= s <= b)
            + flow.scratch[order[s]] for s in range(len(order))]


def _topological_orders(flow: Dataflow) -> list[tuple[int, ...]]:
    prod = flow.producers()
    out = []
    for perm in itertools.permutations(range(flow.num_ops)):
        pos = {op: s for s, op in enumerate(perm)}
        if all(pos[prod[t]] < pos[op] for op in perm for t in flow.op_inputs[op] if t in prod):
            out.append(perm)
    return out


def test_order_search_is_exact_against_brute_force() -> None:
    rng = random.Random(7)
    for _ in range(60):
        flow = _random_flow(rng, rng.randint(1, 6))
        res = min_peak_order(flow)
        brute = min(max(_live_from_lifetimes(flow, o)) for o in _topological_orders(flow))
        assert res.exact
        assert res.peak == brute
        assert max(_live_from_lifetimes(flow, res.order)) == res.peak
        assert live_bytes_in_order(flow, res.order) == _live_from_lifetimes(flow, res.order)


def test_order_search_falls_back_past_its_budget() -> None:
    rng = random.Random(3)
    flow = _random_flow(rng, 9)
    exact = min_peak_order(flow)
    cheap = min_peak_order(flow, max_states=3)
    assert not cheap.exact and exact.exact
    assert sorted(cheap.order) == list(range(9))
    assert cheap.peak >= exact.peak
    assert cheap.peak <= max(_live_from_lifetimes(flow, tuple(range(9))))


def test_reorder_hand_computed_offsets() -> None:
    g, t = _two_branches()
    greedy = plan_graph(g, "greedy", alignment=1).check_overlaps()
    assert greedy.order == (0, 1, 2, 3, 4)
    assert greedy.peak_live_bytes == 210 and greedy.arena_bytes == 210
    assert [greedy.offset(t[k]) for k in ("x", "a1", "b1", "a2", "b2", "out")] == \
        [200, 0, 100, 200, 0, 10]
    re = plan_graph(g, "reorder", alignment=1).check_overlaps()
    assert re.order == (0, 2, 1, 3, 4)  # a1, a2, b1, b2, add
    assert re.live_bytes == (110, 120, 120, 120, 30)
    assert [re.offset(t[k]) for k in ("x", "a1", "b1", "a2", "b2", "out")] == \
        [100, 0, 0, 110, 100, 0]
    assert re.arena_bytes == 120
    assert plan_graph(g, "linear", alignment=1).arena_bytes == 240
    assert plan_graph(g, "best", alignment=1).arena_bytes == 120


# ----------------------------------------------------------------------------- in place
@pytest.mark.parametrize("in_hw, out_hw, stride, pad, safe", [
    ((8, 8), (4, 4), (2, 2), (0, 0), True),     # 2x2/2 pooling
    ((7, 5), (1, 1), (1, 1), (0, 0), True),     # global pooling
    ((6, 6), (4, 4), (1, 1), (0, 0), True),     # 3x3 VALID
    ((6, 6), (6, 6), (1, 1), (1, 1), False),    # 3x3 SAME stride 1: pixel 1 reads pixel 0
    ((8, 8), (4, 4), (2, 2), (1, 1), True),     # 3x3 SAME stride 2: output 4x smaller
    ((8, 8), (8, 8), (1, 1), (0, 1), False),    # left padding only: pixel 1 reads 0
])
def test_window_in_place_rule(in_hw: tuple, out_hw: tuple, stride: tuple, pad: tuple,
                              safe: bool) -> None:
    assert window_in_place_safe(in_hw, out_hw, stride, pad) is safe


def test_inplace_options_name_what_is_missing() -> None:
    g = _G()
    x = g.act((1, 6, 6, 8))
    d_same = g.dwconv(x)                       # SAME 3x3: needs a channel-by-channel kernel
    d_valid = g.dwconv(d_same, pad=0)          # VALID: the raster order is safe
    p = g.pool(d_valid, "avgpool", k=4, stride=4)
    r = g.op("reshape", (p,), (1, 8))
    s = g.op("softmax", (r,), (1, 8))
    c = g.conv(x, 8)
    a = g.op("add", (c, d_same), (1, 6, 6, 8))
    graph = g.graph((x,), (s, a))
    by_op = {}
    for o in inplace_options(graph):
        by_op.setdefault(o.op, []).append(o)
    # SAME 3x3 stride 1 on 6x6x8: interior pixel k reads from pixel k - 7 and writes up to
    # pixel k + 1: the output starts (W + 2) * C = 64 B below the input.
    assert [(o.applicable, o.shift, o.saved) for o in by_op[0]] == [(True, -64, 224)]
    assert "channel-by-channel" in by_op[0][0].reason
    assert [(o.applicable, o.shift) for o in by_op[1]] == [(True, 0)]   # VALID
    assert [(o.applicable, o.shift) for o in by_op[2]] == [(True, 0)]   # global pool
    assert [(o.applicable, o.shift) for o in by_op[3]] == [(True, 0)]   # reshape
    assert [(o.applicable, o.shift) for o in by_op[4]] == [(True, 0)]   # softmax
    # 1x1 8 -> 8: a pair of pixels is read while its 16 output bytes are written
    assert [(o.tensor, o.applicable, o.shift) for o in by_op[5]] == [(x, True, -16)]
    assert [(o.tensor, o.applicable) for o in by_op[6]] == [(c, True), (d_same, True)]


def test_inplace_takes_only_dying_inputs() -> None:
    g = _G()
    x = g.act((1, 8, 8, 4))
    y = g.pool(x)                      # x dies here: y over x
    z = g.op("add", (y, y), (1, 4, 4, 4))  # y dies here: z over y
    w = g.conv(z, 4)                   # z still needed below: w gets its own bytes
    v = g.op("add", (w, z), (1, 4, 4, 4))  # w (first input) dies here: v over w
    graph = g.graph((x,), (v,))
    plan = plan_graph(graph, "inplace", alignment=1).check_overlaps()
    assert plan.in_place == (0, 1, 3)
    assert plan.offset(y) == plan.offset(x) and plan.offset(z) == plan.offset(y)
    assert plan.offset(w) != plan.offset(z)
    assert plan.offset(v) == plan.offset(w)
    # x (256 B) then the 64 B chain: conv needs z and w together
    assert plan.arena_bytes == 256
    assert plan_graph(graph, "greedy", alignment=1).arena_bytes == 320


def test_overlapping_outputs_hand_computed() -> None:
    """x (6x6x8, 288 B) -> SAME 3x3 depthwise -> y -> 1x1 conv 8 -> 8 -> z: y may start 64 B
    below x (the window of pixel k starts at pixel k - 7), z 16 B below y (a pixel pair is
    read while its outputs are written)."""
    g = _G()
    x = g.act((1, 6, 6, 8))
    y = g.dwconv(x)
    z = g.conv(y, 8)
    graph = g.graph((x,), (z,))
    plan = plan_graph(graph, "inplace").check_overlaps()
    assert plan.in_place == (0, 1)
    assert [plan.offset(t) for t in (x, y, z)] == [80, 16, 0]
    assert plan.arena_bytes == 368
    assert plan.live_bytes == (352, 304)
    assert plan_graph(graph, "greedy").arena_bytes == 576
    assert plan_graph(graph, "best").arena_bytes == 368


# ---- the in-place rule against the kernels: output pointer == input pointer, emulated
@pytest.fixture(scope="module")
def machines() -> dict:
    from mcusim.boards import get_board
    from mcusim.kernels.firmware import build_family
    from mcusim.machine import Machine

    out = {b: Machine(get_board(b), build_family(get_board(b), "s8")) for b in BOARDS}
    # the plain-C paths have the same loop structure; one board checks them
    out["plain-c"] = Machine(get_board(BOARDS[0]), build_family(get_board(BOARDS[0]), "s8",
                                                                plain_c=True))
    return out


def _run_overlapped(m, kind: str, x: np.ndarray, args, shift: int  # type: ignore[no-untyped-def]
                    ) -> tuple[np.ndarray, np.ndarray]:
    """Run one s8 kernel with its output at ``input + shift`` inside one RAM block (``shift``
    0: exactly in place); return (output, reference)."""
    from mcusim.kernels.s8 import (avg_pool_s8_ref, conv_s8_ref, depthwise_conv_s8_ref,
                                   max_pool_s8_ref, place_struct)

    m.free_all()
    h, w, c = x.shape
    if kind in ("maxpool", "avgpool"):
        pp = args
        oh, ow = pp.out_hw(h, w)
        co = c
        want = (max_pool_s8_ref if kind == "maxpool" else avg_pool_s8_ref)(x, pp)
    else:
        wt, bias, cp = args
        kh, kw = (wt.shape[1], wt.shape[2]) if kind == "conv" else (wt.shape[0], wt.shape[1])
        oh, ow = cp.out_hw(h, w, kh, kw)
        co = wt.shape[0] if kind == "conv" else c
        want = (conv_s8_ref if kind == "conv" else depthwise_conv_s8_ref)(x, wt, bias, cp)
    n_in, n_out = x.size, oh * ow * co
    lo = min(0, shift)
    block = int(m.alloc(max(n_in, shift + n_out) - lo, "ram", align=16))
    xa = block - lo
    ya = xa + shift
    m.write(xa, np.ascontiguousarray(x, dtype=np.int8))
    in_dims, o_dims = place_struct(m, [1, h, w, c]), place_struct(m, [1, oh, ow, co])
    if kind in ("maxpool", "avgpool"):
        pa = place_struct(m, args.struct())
        if kind == "maxpool":
            r = m.call("mnn_max_pool_s8", pa, in_dims, xa, o_dims, ya)
        else:
            need = m.call("mnn_avg_pool_s8_get_buffer_size", o_dims).return_value
            buf = int(m.alloc(need, "ram")) if need else 0
            r = m.call("mnn_avg_pool_s8", place_struct(m, [buf, need]), pa, in_dims, xa,
                       o_dims, ya)
    else:
        f_dims = place_struct(m, [co, kh, kw, c] if kind == "conv" else [1, kh, kw, c])
        params = place_struct(m, cp.conv_struct())
        wa = int(m.place(np.ascontiguousarray(wt, dtype=np.int8), "flash"))
        ba = int(m.place(np.ascontiguousarray(bias, dtype=np.int32), "flash"))
        qa = place_struct(m, [int(m.place(cp.multipliers, "flash")),
                              int(m.place(cp.shifts, "flash"))])
        ctx = place_struct(m, [0, 0])
        symbol = "mnn_depthwise_conv_wrapper_s8"
        if kind == "conv":
            symbol = "mnn_convolve_wrapper_s8"
            need = m.call("mnn_convolve_wrapper_s8_get_buffer_size", params, in_dims,
                          f_dims).return_value
            if need:
                ctx = place_struct(m, [int(m.alloc(need, "ram")), need])
        r = m.call(symbol, ctx, params, qa, in_dims, xa, f_dims, wa, ba, o_dims, ya)
    assert r.return_value == 0
    return m.read(ya, n_out, np.int8).reshape(oh, ow, co), want


def _kernel_case(case: tuple):  # type: ignore[no-untyped-def]
    """(kind, x, kernel args, shift from the planner's rule, unaligned)."""
    from mcusim.kernels.layers import Layer
    from mcusim.kernels.s8 import PoolParams, make_problem
    from mcusim.model.plan.inplace import conv_shift, window_shift

    kind, h, w, c, co, k, stride, pad = case
    rng = np.random.default_rng(sum(case[1:]))
    oh, ow = (h + 2 * pad - k) // stride + 1, (w + 2 * pad - k) // stride + 1
    if kind == "conv":
        x, wt, bias, cp = make_problem(Layer("ip", "conv", h, w, c, co, k, k, stride, pad), rng)
        shift = conv_shift((1, h, w, c), (1, oh, ow, co), (k, k), (stride, stride), (pad,) * 4)
        return kind, x, (wt, bias, cp), shift
    shift = window_shift((h, w), (oh, ow), (stride, stride), (pad, pad), c)
    if kind == "dwconv":
        x, wt, bias, cp = make_problem(Layer("ip", "dwconv", h, w, c, c, k, k, stride, pad), rng)
        return kind, x, (wt, bias, cp), shift
    x = rng.integers(-128, 128, (h, w, c)).astype(np.int8)
    return kind, x, PoolParams(k, stride, pad), shift


# (kind, H, W, C, C_OUT, K, stride, pad): every kernel path, exact and overlapping placements
KERNEL_CASES = [
    ("maxpool", 8, 8, 6, 6, 2, 2, 0), ("maxpool", 7, 5, 8, 8, 3, 1, 0),     # exact
    ("avgpool", 5, 7, 12, 12, 5, 5, 0), ("maxpool", 9, 9, 4, 4, 3, 2, 1),   # exact
    ("dwconv", 7, 6, 8, 8, 3, 1, 0), ("dwconv", 8, 8, 5, 5, 3, 2, 1),       # exact
    ("maxpool", 6, 6, 4, 4, 3, 1, 1), ("avgpool", 6, 7, 5, 5, 3, 1, 1),     # overlapping
    ("dwconv", 6, 5, 8, 8, 3, 1, 1), ("dwconv", 7, 7, 6, 6, 5, 1, 2),       # 3x3 / generic
    ("conv", 6, 6, 8, 8, 3, 1, 1), ("conv", 7, 5, 4, 12, 3, 1, 1),          # im2col
    ("conv", 6, 6, 12, 5, 3, 2, 1), ("conv", 5, 5, 3, 16, 3, 1, 1),
    ("conv", 5, 5, 8, 8, 1, 1, 0), ("conv", 5, 3, 6, 14, 1, 1, 0),          # 1x1
    ("conv", 6, 6, 16, 6, 1, 1, 0), ("conv", 7, 7, 8, 8, 1, 2, 0),          # 1x1 strided
]


@pytest.mark.parametrize("board_name", BOARDS + ("plain-c",))
@pytest.mark.parametrize("case", KERNEL_CASES, ids=lambda c: "-".join(map(str, c)))
def test_kernels_with_output_over_input(machines: dict, board_name: str, case: tuple) -> None:
    kind, x, args, shift = _kernel_case(case)
    got, want = _run_overlapped(machines[board_name], kind, x, args, shift)
    assert (got == want).all()


@pytest.mark.parametrize("case", [KERNEL_CASES[i] for i in (6, 8, 10, 14)],
                         ids=lambda c: "-".join(map(str, c)))
def test_more_overlap_than_the_rule_breaks_the_kernels(machines: dict, case: tuple) -> None:
    """The bound is tight: two output pixels more overlap than the rule allows give a
    wrong output (so the test above can fail)."""
    kind, x, args, shift = _kernel_case(case)
    got, want = _run_overlapped(machines[BOARDS[0]], kind, x, args, shift + 2 * case[4])
    assert not (got == want).all()


def test_add_in_place_under_emulation(machines: dict) -> None:
    from mcusim.kernels.quant import QParams
    from mcusim.kernels.s8 import AddParams, add_s8_ref, place_struct

    p = AddParams.from_qparams(QParams(0.05, 3), QParams(0.03, -7), QParams(0.07, 1))
    rng = np.random.default_rng(5)
    a = rng.integers(-128, 128, 37).astype(np.int8)
    b = rng.integers(-128, 128, 37).astype(np.int8)
    for name in BOARDS:
        m = machines[name]
        m.free_all()
        aa = int(m.place(a, "ram"))
        ba = int(m.place(b, "ram"))
        r = m.call("mnn_elementwise_add_s8", place_struct(m, p.struct()), aa, ba, ba, a.size)
        assert r.return_value == 0
        assert (m.read(ba, a.size, np.int8) == add_s8_ref(a, b, p)).all()


def test_softmax_in_place_under_emulation(machines: dict) -> None:
    from mcusim.kernels.s8 import SoftmaxParams, place_struct, softmax_s8_ref

    p = SoftmaxParams.from_scale(0.11)
    rng = np.random.default_rng(11)
    x = rng.integers(-128, 128, (3, 10)).astype(np.int8)
    for name in BOARDS:
        m = machines[name]
        m.free_all()
        xa = int(m.place(x, "ram"))
        r = m.call("mnn_softmax_s8", place_struct(m, p.struct()), xa, 3, 10, xa)
        assert r.return_value == 0
        assert (m.read(xa, x.size, np.int8).reshape(3, 10) == softmax_s8_ref(x, p)).all()


# ----------------------------------------------------------------------------- graph level
def _random_graph(rng: random.Random) -> Graph:
    g = _G()
    c = rng.choice([4, 8])
    x = g.act((1, rng.choice([4, 8]), rng.choice([4, 8]), c))
    live = [x]
    for _ in range(rng.randint(1, 9)):
        src = rng.choice(live)
        n, h, w, ch = g.tensors[src].shape
        kind = rng.choice(["conv", "conv3", "dwconv", "maxpool", "avgpool", "add"])
        if kind == "conv":
            y = g.conv(src, rng.choice([4, 8, 16]))
        elif kind == "conv3":
            y = g.conv(src, rng.choice([4, 8]), k=3, pad=1)
        elif kind == "dwconv":
            y = g.dwconv(src, pad=rng.choice([0, 1]) if min(h, w) >= 3 else 1)
        elif kind in ("maxpool", "avgpool") and min(h, w) >= 2:
            y = g.pool(src, kind)
        else:
            same = [t for t in live if g.tensors[t].shape == g.tensors[src].shape]
            y = g.op("add", (src, rng.choice(same)), g.tensors[src].shape)
        live.append(y)
    last = live[-1]
    flat = g.op("reshape", (last,), (1, g.tensors[last].num_elements))
    read = {t for op in g.ops for t in op.inputs}
    outs = tuple(t for t in live if t not in read) + (flat,)
    return g.graph((x,), tuple(dict.fromkeys(outs)))


def test_random_graphs_plan_without_overlaps() -> None:
    rng = random.Random(99)
    for _ in range(40):
        graph = _random_graph(rng)
        arenas = {}
        for s in STRATEGIES:
            p = plan_graph(graph, s).check_overlaps()
            assert p.arena_bytes >= p.peak_live_bytes
            assert sorted(p.order) == list(range(graph.num_operators))
            arenas[s] = p.arena_bytes
        assert arenas["best"] <= min(arenas["greedy"], arenas["reorder"], arenas["inplace"])
        assert arenas["greedy"] <= arenas["linear"]


def test_plan_fields_and_debug_views(tmp_path: Path) -> None:
    g, t = _two_branches()
    p = plan_graph(g, "best")
    assert p.planner == "best" and p.alignment == 16 and p.dsp
    assert [s.tensor for s in p.tensors] == sorted(t.values())   # constants not planned
    assert len(p.scratch) == g.num_operators
    assert all(s.nbytes == 0 for s in p.scratch)                 # 1x1 convs, add
    df = p.to_dataframe()
    assert list(df["kind"]) == ["tensor"] * 6
    assert (df["end"] <= p.arena_bytes).all()
    text = p.timeline()
    assert "arena" in text and "04_add" in text and "!" not in text.split("\n", 1)[1]
    png = p.plot_live_bytes(tmp_path / "live.png")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_scratch_is_live_only_during_its_operator() -> None:
    g = _G()
    x = g.act((1, 6, 6, 4))
    y = g.conv(x, 8, k=3, pad=1)        # im2col: 2 * 4 * 9 * 2 = 144 B with DSP
    z = g.pool(y, "avgpool", k=6, stride=6)  # int32 sums: 4 * 8 = 32 B with DSP
    graph = g.graph((x,), (z,))
    assert [scratch_bytes(graph, i, dsp=True) for i in range(2)] == [144, 32]
    assert [scratch_bytes(graph, i, dsp=False) for i in range(2)] == [72, 0]
    p = plan_graph(graph, "greedy", alignment=1).check_overlaps()
    assert [(s.nbytes, s.step) for s in p.scratch] == [(144, 0), (32, 1)]
    assert p.live_bytes == (144 + 288 + 144, 288 + 8 + 32)
    assert plan_graph(graph, "greedy", scratch=False, alignment=1).live_bytes == (432, 296)
    assert plan_graph(graph, "greedy", scratch={1: 100}, alignment=1).live_bytes == (432, 396)


def test_scratch_of_other_families_and_bad_requests() -> None:
    from mcusim.kernels.layers import Layer
    from mcusim.kernels.packed import conv_buffer_size
    from mcusim.model.graph import KernelChoice

    g = _G()
    x = g.act((1, 6, 6, 4))
    y = g.conv(x, 8, k=3, pad=1)
    z = g.pool(y)
    graph = g.graph((x,), (z,))
    packed = graph.with_kernels({0: KernelChoice("packed", 4, 4)})
    want = conv_buffer_size(Layer("c", "conv", 6, 6, 4, 8, 3, 3, 1, 1), 4, 4)
    assert scratch_bytes(packed, 0, dsp=True) == want > 0
    with pytest.raises(ModelError, match="out of range"):
        scratch_bytes(graph, 2, dsp=True)
    with pytest.raises(ModelError, match="no scratch-size mirror"):
        scratch_bytes(graph.with_kernels({1: KernelChoice("packed", 4, 4)}), 1, dsp=True)


@pytest.mark.parametrize("board_name", BOARDS)
def test_both_boards_have_dsp(board_name: str) -> None:
    from mcusim.boards import get_board

    assert board_has_dsp(get_board(board_name))


def test_failures_are_model_errors() -> None:
    g, _ = _two_branches()
    with pytest.raises(ModelError, match="does not fit") as err:
        plan_graph(g, "greedy", limit=200)
    assert err.value.details["overflow"] == plan_graph(g, "greedy").arena_bytes - 200
    with pytest.raises(ModelError, match="unknown planner"):
        plan_graph(g, "magic")
    with pytest.raises(ModelError, match="operator 9"):
        plan_graph(g, scratch={9: 10})
    with pytest.raises(ModelError, match=">= 0"):
        plan_graph(g, scratch={0: -1})
    flow = Dataflow.from_graph(g, [0] * g.num_operators)
    with pytest.raises(ModelError, match="before its producer"):
        plan_in_order(g, flow, (2, 0, 1, 3, 4), inplace=False)
    with pytest.raises(ModelError, match="permutation"):
        plan_in_order(g, flow, (0, 1, 2), inplace=False)
    with pytest.raises(ModelError, match="not an activation"):
        plan_graph(g).offset(1)  # the first conv's weights: in Flash


def test_plan_summary_compares_every_strategy() -> None:
    g, _ = _two_branches()
    df = plan_summary(g)
    assert list(df["planner"]) == list(STRATEGIES)
    arena = dict(zip(df["planner"], df["arena_bytes"]))
    assert arena["best"] <= arena["greedy"] <= arena["linear"]
    assert set(df.columns) >= {"arena_bytes", "arena_bytes_no_scratch", "peak_live_bytes",
                               "in_place_ops", "exact_order"}


@pytest.mark.parametrize("module", ["mcusim.model.plan", "mcusim.model.plan.linear",
                                    "mcusim.model.plan.greedy", "mcusim.model.plan.graph_plan",
                                    "mcusim.model.scratch"])
def test_module_examples(module: str) -> None:
    import doctest
    import importlib

    failures, tried = doctest.testmod(importlib.import_module(module))
    assert tried > 0 and failures == 0


# ----------------------------------------------------------------------------- real models
def _tflm_trace(path: Path) -> list[tuple[int, int, int]]:
    """The buffers TFLM's allocator gives its planner for a .tflite, read with the ``tflite``
    parser: non-constant tensors, lifetimes as ``micro_allocation_info.cc`` marks them
    (graph inputs/outputs created at scope 0, operator i at scope i + 1, outputs kept to
    the end)."""
    tflite = pytest.importorskip("tflite")
    m = tflite.Model.GetRootAsModel(path.read_bytes(), 0)
    sg = m.Subgraphs(0)
    elem = {tflite.TensorType.INT8: 1, tflite.TensorType.UINT8: 1, tflite.TensorType.INT16: 2,
            tflite.TensorType.INT32: 4, tflite.TensorType.FLOAT32: 4}
    first: dict[int, int] = {}
    last: dict[int, int] = {}
    for t in list(sg.InputsAsNumpy()) + list(sg.OutputsAsNumpy()):
        first[t] = last[t] = 0
    n = sg.OperatorsLength()
    for i in range(n):
        op = sg.Operators(i)
        for t in op.OutputsAsNumpy():
            first[t] = last[t] = i + 1
        for t in op.InputsAsNumpy():
            if t >= 0:
                last[t] = i + 1
    for t in sg.OutputsAsNumpy():
        last[t] = n
    out = []
    for t in range(sg.TensorsLength()):
        tt = sg.Tensors(t)
        if m.Buffers(tt.Buffer()).DataLength() or t not in first:
            continue
        out.append((int(np.prod(tt.ShapeAsNumpy())) * elem[tt.Type()], first[t], last[t]))
    return out


@pytest.mark.parametrize("name", sorted(TFLM_HEAD))
def test_tflm_trace_of_the_real_models(name: str) -> None:
    path = shared_model(name)
    p = GreedyPlanner()
    for b in _tflm_trace(path):
        p.add_buffer(*b)
    p.check_overlaps()
    assert p.arena_size == TFLM_HEAD[name]


@pytest.mark.parametrize("name", sorted(TFLM_HEAD))
def test_real_models_best_is_below_tflm(name: str) -> None:
    from mcusim.model.tflite_io import read_tflite

    graph = read_tflite(shared_model(name))
    head = TFLM_HEAD[name]
    # TFLM's reference kernels request no scratch for these operators: same buffers, same plan.
    assert plan_graph(graph, "greedy", scratch=False).arena_bytes == head
    for s in STRATEGIES[1:]:
        assert plan_graph(graph, s, scratch=False).check_overlaps().arena_bytes <= head
    # With the s8 kernels' scratch, TFLM's greedy needs more than the head (im2col scratch
    # where three full tensors are live, ResNet) or the same (KWS); in-place and
    # overlapping outputs bring the best plan below the head.
    greedy = plan_graph(graph, "greedy").check_overlaps()
    best = plan_graph(graph, "best").check_overlaps()
    assert head <= greedy.arena_bytes <= head + max(s.nbytes for s in greedy.scratch)
    assert best.peak_live_bytes <= best.arena_bytes < head
    assert best.in_place
