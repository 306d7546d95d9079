"""TREC convolution: C kernels under emulation vs the numpy fixed-point model, scratch sizes,
the float model, and the image inputs."""

from __future__ import annotations

import functools

import numpy as np
import pytest

from mcusim.kernels import trec
from mcusim.kernels.layers import Layer, get_layer
from mcusim.kernels.trec import TrecConfig, make_hash_matrix, make_problem
from mcusim.kernels.trec_data import INPUT_SOURCES, get_images, layer_input, to_int8

BOARDS = ("stm32f469i", "stm32f746zg")

# Small emulated shapes: padding, stride, L not dividing K, odd channel counts.
SHAPES = {
    "pad3x3": Layer("t.pad3x3", "conv", 8, 8, 3, 8, 3, 3, 1, 1),
    "stride2": Layer("t.stride2", "conv", 9, 9, 5, 6, 3, 3, 2, 0),
    "c16": Layer("t.c16", "conv", 6, 6, 16, 12, 3, 3, 1, 1),
}
# (shape, L, H, max_clusters, tile_rows): the last two fill the stack (overflow path).
CASES = [
    ("pad3x3", 9, 4, 32, 24),
    ("pad3x3", 5, 6, 64, 64),
    ("stride2", 7, 3, 16, 7),
    ("c16", 16, 8, 36, 36),
    ("c16", 6, 5, 3, 20),
    ("pad3x3", 27, 8, 2, 64),
]


@functools.cache
def _machine_factory(board: str, plain_c: bool = False):
    from mcusim.boards import get_board

    b = get_board(board)
    return b, trec.build_trec(b, plain_c=plain_c)


def _machine(board: str, plain_c: bool = False):
    from mcusim.machine import Machine

    b, elf = _machine_factory(board, plain_c)
    return Machine(b, elf)


def _problem(shape: str, seed: int, source: str = "noise") -> trec.TrecProblem:
    layer = SHAPES[shape]
    rng = np.random.default_rng(seed)
    x = None
    if source != "noise":   # smooth, natural-looking input: a downscaled photo crop
        img = to_int8(get_images("photo", 1, seed=seed)[0])
        x = np.resize(img, (layer.in_h, layer.in_w, layer.in_c))
    return make_problem(layer, rng, x)


# --------------------------------------------------------------------------- emulation

@pytest.mark.parametrize("board", BOARDS)
@pytest.mark.parametrize("shape,sub,bits,cap,tile", CASES)
def test_space_efficient_bit_exact(board, shape, sub, bits, cap, tile):
    p = _problem(shape, seed=sub * 31 + bits)
    cfg = TrecConfig(sub, bits, cap, tile)
    want, want_stats = trec.trec_conv_ref(p, cfg)
    run = trec.run_trec_conv(_machine(board), p, cfg)
    np.testing.assert_array_equal(run.output, want)
    assert run.stats == want_stats
    assert run.scratch_bytes == trec.get_buffer_size(p.layer, cfg)
    if cap <= 3:    # these cases must overflow the stack
        assert run.stats.overflow > 0 and run.stats.peak_clusters == cap


@pytest.mark.parametrize("board", BOARDS)
@pytest.mark.parametrize("shape,sub,bits,tile", [("pad3x3", 9, 4, 24), ("stride2", 7, 5, 10)])
def test_original_layout_bit_exact(board, shape, sub, bits, tile):
    p = _problem(shape, seed=bits)
    cfg = TrecConfig(sub, bits, 0, tile)
    hm = make_hash_matrix(bits, p.layer.k, seed=3)
    want, want_stats = trec.trec_orig_conv_ref(p, cfg, hm)
    run = trec.run_trec_conv(_machine(board), p, cfg, "orig", hash_matrix=hm)
    np.testing.assert_array_equal(run.output, want)
    assert run.stats == want_stats
    # the original layout zeroes its fixed 2^H arrays: the whole scratch is touched
    assert run.scratch_used == run.scratch_bytes == trec.get_buffer_size(p.layer, cfg, "orig")


def test_plain_c_build_bit_exact():
    p = _problem("c16", seed=5, source="photo")
    cfg = TrecConfig(6, 5, 8, 20)
    want, stats = trec.trec_conv_ref(p, cfg)
    run = trec.run_trec_conv(_machine("stm32f469i", plain_c=True), p, cfg)
    np.testing.assert_array_equal(run.output, want)
    assert run.stats == stats


@pytest.mark.parametrize("board", BOARDS)
def test_worst_case_scratch_measured_equals_buffer_size(board):
    # noise, small stack: the last slot is used and written over max(L, C_out - H) words
    p = _problem("pad3x3", seed=11)
    for cfg in (TrecConfig(9, 6, 4, 32), TrecConfig(27, 7, 5, 64)):
        run = trec.run_trec_conv(_machine(board), p, cfg)
        assert run.stats.peak_clusters == cfg.max_clusters
        assert run.scratch_used == run.scratch_bytes == trec.get_buffer_size(p.layer, cfg)


def test_no_reuse_stack_gives_exact_convolution_on_target():
    p = _problem("stride2", seed=2)
    run = trec.run_trec_conv(_machine("stm32f746zg"), p, TrecConfig(7, 3, 0, 16))
    np.testing.assert_array_equal(run.output, trec.exact_conv_ref(p))
    assert run.stats.overflow == run.stats.vectors


def test_kernel_reuse_channels_are_exact_on_target():
    p = _problem("c16", seed=9, source="photo")
    cfg = TrecConfig(8, 6, 16, 36)
    run = trec.run_trec_conv(_machine("stm32f469i"), p, cfg)
    exact = trec.exact_conv_ref(p)
    np.testing.assert_array_equal(run.output[..., :6], exact[..., :6])
    assert run.stats.clusters < run.stats.vectors
    assert (run.output[..., 6:] != exact[..., 6:]).any()   # the rest really is approximated


@pytest.mark.parametrize("cfg,status", [
    (TrecConfig(9, 9, 8, 16), -1),     # H > C_out: kernel reuse impossible
    (TrecConfig(0, 4, 8, 16), -1),     # L < 1
    (TrecConfig(9, 4, 8, 0), -1),      # no tile rows
])
def test_bad_parameters_rejected(cfg, status):
    m = _machine("stm32f469i")
    p = _problem("pad3x3", seed=1)
    conv = m.place(p.conv_words(), region="ram")
    assert m.call("mnn_trec_conv_s8_get_buffer_size", conv, m.place(cfg.words())).return_value == 0
    with pytest.raises(RuntimeError, match=f"status {status}"):
        trec.run_trec_conv(m, p, cfg)


def test_small_scratch_rejected():
    m = _machine("stm32f746zg")
    p = _problem("pad3x3", seed=1)
    cfg = TrecConfig(9, 4, 8, 16)
    conv, tp = m.place(p.conv_words()), m.place(cfg.words())
    size = trec.get_buffer_size(p.layer, cfg)
    scratch = m.alloc(size, fill=0)
    ctx = m.place(np.array([scratch, size - 4], dtype=np.uint32).view(np.int32))
    z = m.place(np.zeros(4096, np.int8))
    qp = m.place(np.array([z, z], dtype=np.uint32).view(np.int32))
    assert m.call("mnn_trec_conv_s8", ctx, conv, tp, qp, z, z, 0, z, 0).return_value == -2
    ok = m.place(np.array([scratch, size], dtype=np.uint32).view(np.int32))
    assert m.call("mnn_trec_conv_s8", ok, conv, tp, qp, z, z, 0, z, 0).return_value == 0


# ------------------------------------------------------------------------- numpy models

def test_model_without_stack_is_exact_and_matches_int8_family():
    p = _problem("stride2", seed=4)
    out, stats = trec.trec_conv_ref(p, TrecConfig(7, 3, 0, 16))
    np.testing.assert_array_equal(out, trec.exact_conv_ref(p))
    assert stats.overflow == stats.vectors and stats.clusters == 0
    np.testing.assert_array_equal(out, trec.s8_reference(p))


def test_float_model_clusters_match_fixed_point():
    p = _problem("c16", seed=3, source="photo")
    cfg = TrecConfig(6, 5, 8, 20)
    _, fixed = trec.trec_conv_ref(p, cfg)
    acc, flt = trec.trec_conv_float(trec.im2col(p).astype(float), p.w2d.astype(float), cfg)
    assert flt == fixed     # integer inputs: identical projections, IDs and stack order
    exact = trec.exact_conv_acc(p).astype(float)
    np.testing.assert_allclose(acc[:, :5], exact[:, :5])      # kernel-reuse channels exact
    # fixed-point centroids differ from exact means by at most 1/2 per element
    fixed_acc, _ = trec.trec_conv_acc(p, cfg)
    bound = 0.5 * np.abs(p.w2d).sum(axis=1)
    assert (np.abs(fixed_acc - acc) <= bound + 1e-9).all()


def test_float_model_on_repeated_rows_is_exact():
    rng = np.random.default_rng(0)
    distinct = rng.normal(size=(8, 12))
    cols = distinct[rng.permutation(np.repeat(np.arange(8), 5))]
    w = rng.normal(size=(6, 12))
    hm = rng.normal(size=(15, 12))
    acc, st = trec.trec_conv_float(cols, w, TrecConfig(12, 15, 0, 40), hash_matrix=hm)
    assert st.clusters == 8 and st.redundancy_removed == pytest.approx(1 - 8 / 40)
    np.testing.assert_allclose(acc, cols @ w.T)


def test_buffer_size_space_efficient_smaller_than_original():
    for name in ("cifarnet.conv1", "cifarnet.conv2", "squeezenet.fire2.expand3x3"):
        layer = get_layer(name)
        for sub, bits in ((5, 8), (16, 8), (16, 12)):
            cfg = TrecConfig(sub, bits, 64, 112)
            assert trec.get_buffer_size(layer, cfg) < trec.get_buffer_size(layer, cfg, "orig")


# ------------------------------------------------------------------------------- data

@pytest.mark.parametrize("source", INPUT_SOURCES)
def test_images(source):
    imgs = get_images(source, 3, seed=1)
    assert imgs.shape == (3, 32, 32, 3) and imgs.dtype == np.uint8
    assert len({im.tobytes() for im in imgs}) == 3
    assert imgs.std() > 10


def test_layer_inputs_are_real_layer_outputs():
    for name in ("cifarnet.conv1", "cifarnet.conv2", "squeezenet.fire2.expand3x3"):
        layer = get_layer(name)
        x = layer_input(layer, "photo", seed=0)
        assert x.shape == (layer.in_h, layer.in_w, layer.in_c) and x.dtype == np.int8
        assert len(np.unique(x)) > 20


def test_photos_are_more_redundant_than_noise():
    layer = get_layer("cifarnet.conv1")
    cfg = TrecConfig(15, 8, 64, 112)
    removed = {}
    for source in ("photo", "noise"):
        p = make_problem(layer, np.random.default_rng(0), layer_input(layer, source, seed=0))
        removed[source] = trec.trec_conv_ref(p, cfg)[1].redundancy_removed
    assert removed["photo"] > removed["noise"] + 0.05


# ------------------------------------------------------------------------------ bench

def test_bench_module_contract_and_speedup():
    from mcusim.boards import get_board
    from mcusim.kernels import trec_bench
    from mcusim.kernels.registry import REQUIRED_COLUMNS, get_family

    assert get_family("trec") is trec_bench
    names = {k.name for k in trec_bench.list_kernels()}
    assert {"trec_L32_H8", "trec_orig_L32_H8"} <= names
    layers = (get_layer("cifarnet.conv2"), get_layer("cifarnet.fc1"))   # fc is skipped
    rows = trec_bench.bench(get_board("stm32f469i"), layers, sources=("photo",),
                            configs=((64, 8),))
    assert len(rows) == 2 and {r["layout"] for r in rows} == {"space", "orig"}
    for row in rows:
        assert set(REQUIRED_COLUMNS) <= set(row)
    space = next(r for r in rows if r["layout"] == "space")
    assert space["speedup_vs_s8"] > 1.5 and space["redundancy_removed"] > 0.9
    assert 0 < space["scratch_used_bytes"] <= space["scratch_bytes"]
    assert space["sram_overhead_space_bytes"] < space["sram_overhead_orig_bytes"]
