"""Generated C runner: readable source, one function per operator, caching, Flash/SRAM placement."""

from __future__ import annotations

import re
from dataclasses import replace

import pytest

from mcusim.errors import ModelError
from mcusim.loader import load_elf
from mcusim.model import codegen
from mcusim.model.graph import KernelChoice
from mcusim.model.run import make_plan

from tests.runner_graphs import tiny_graph


@pytest.fixture(scope="module")
def graph():
    return tiny_graph()


@pytest.fixture(scope="module")
def generated(graph):
    return codegen.generate(graph, make_plan(graph, "stm32f469i"))


def test_source_is_readable_one_call_per_operator(graph, generated):
    src = (generated.directory / "model.c").read_text()
    placement = generated.placement
    for i in placement.order:
        op = graph.operators[i]
        m = re.search(rf"/\* op {i}: {re.escape(op.name)} \({op.kind}[^\n]*\*/\n"
                      rf"__attribute__\(\(noinline\)\) mnn_status mcusim_op_{i}\(void\)\n\{{\n"
                      rf"(?P<body>.*?)\n\}}", src, re.S)
        assert m, f"operator {i} has no commented, non-inlined function"
        if op.kind != "reshape":
            assert m.group("body").count("\n") == 0, "one kernel call on one line"
            assert m.group("body").strip().startswith("return mnn_")
    invoke = src[src.index("mnn_status mcusim_model_invoke(void)"):]
    calls = re.findall(r"if \(\(s = mcusim_op_(\d+)\(\)\) != MNN_OK\) return s;", invoke)
    assert [int(c) for c in calls] == list(placement.order)
    assert f"mcusim_arena[MCUSIM_ARENA_BYTES]" in src
    header = (generated.directory / "model.h").read_text()
    assert f"#define MCUSIM_ARENA_BYTES {placement.used_bytes}" in header
    assert placement.used_bytes <= placement.arena_bytes
    data = (generated.directory / "model_data.c").read_text()
    assert "const int8_t op0_filter[216]" in data


def test_generation_and_build_are_cached(graph, generated, board):
    again = codegen.generate(graph, generated.placement)
    assert again.cached and again.key == generated.key
    first = codegen.build_model(again, board)
    second = codegen.build_model(again, board)
    assert second.cached and second.elf == first.elf
    other = replace(graph.tensors[2], data=graph.tensors[2].data + 1)   # a changed weight
    changed = replace(graph, tensors=graph.tensors[:2] + (other,) + graph.tensors[3:])
    assert codegen.generate(changed, generated.placement).key != generated.key


def test_constants_in_flash_arena_in_sram(generated, board):
    elf = codegen.build_model(generated, board).elf
    image = load_elf(elf)
    arena = image.symbol(codegen.ARENA_SYMBOL)
    assert arena.size == generated.arena_bytes
    assert arena.address % codegen.ARENA_ALIGN == 0
    assert board.region_at(arena.address).kind == "ram"
    for name in ("op0_filter", "op0_bias", "op0_multiplier", "op0_shift", "op0_params"):
        assert board.region_at(image.symbol(name).address).kind == "flash", name
    for i in generated.placement.order:
        assert image.symbol(codegen.op_symbol(i)).kind == "func"


def test_kernel_choice_mirrors_the_wrappers():
    words = [0, 0, 1, 1, 0, 0, 1, 1, -128, 127]
    assert codegen.kernel_for("conv", words, (8, 1, 1, 4)) == "mnn_convolve_1x1_s8"
    assert codegen.kernel_for("conv", words[:4] + [1, 1] + words[6:], (8, 1, 1, 4)) == \
        "mnn_convolve_s8"
    assert codegen.kernel_for("dwconv", words[:4] + [1, 1] + words[6:], (1, 3, 3, 4)) == \
        "mnn_depthwise_conv_3x3_s8"
    assert codegen.kernel_for("dwconv", words[:4] + [2, 2] + words[6:], (1, 5, 5, 4)) == \
        "mnn_depthwise_conv_s8"


def test_unsupported_family_is_a_model_error(graph, generated):
    packed = graph.with_kernels({0: KernelChoice("trec", trec_l=8, trec_h=6)})
    with pytest.raises(ModelError, match="s8 kernel family only.*trec") as err:
        codegen.generate(packed, generated.placement)
    assert "conv1" in str(err.value)


def test_plan_must_cover_every_operator(graph, generated):
    bad = replace(generated.placement, order=generated.placement.order[:-1])
    with pytest.raises(ModelError, match="permutation"):
        codegen.generate(graph, bad)
