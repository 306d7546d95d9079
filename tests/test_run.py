"""One inference on the emulated board: bit-exact outputs, cycles per operator, memory."""

from __future__ import annotations

import numpy as np
import pytest

from mcusim.errors import ModelError
from mcusim.machine import Machine
from mcusim.model import codegen
from mcusim.model.run import default_input, run_model, section_sizes

from tests.runner_graphs import reference_outputs, tiny_graph


@pytest.fixture(scope="module")
def graph():
    return tiny_graph()


@pytest.fixture(scope="module")
def runs(graph):
    return {}


@pytest.fixture
def run(graph, runs, board):
    if board.name not in runs:
        runs[board.name] = run_model(graph, board)
    return runs[board.name]


def test_output_bit_exact_with_reference(graph, run):
    expected = reference_outputs(graph, default_input(graph))
    assert len(run.outputs) == len(expected) == 1
    assert run.outputs[0].shape == expected[0].shape
    np.testing.assert_array_equal(run.outputs[0], expected[0])


def test_other_input_other_output(graph, board):
    x = default_input(graph, seed=7)
    out = run_model(graph, board, x).outputs[0]
    np.testing.assert_array_equal(out, reference_outputs(graph, x)[0])


def test_cycles_per_operator_add_up(graph, run):
    assert [o.index for o in run.ops] == list(run.placement.order)
    assert all(o.cycles > 0 for o in run.ops if o.kind != "reshape")
    assert run.cycles == sum(o.cycles for o in run.ops)
    assert run.latency_ms == pytest.approx(run.cycles / run.board.clock_hz * 1e3)
    kernels = {o.kind: o.kernel for o in run.ops}
    assert kernels["fc"] == "mnn_fully_connected_s8"
    for o in run.ops:
        assert o.functions[0] != o.symbol or o.kind == "reshape"
        assert o.kernel in o.functions or o.kind == "reshape"   # the kernel that was called ran


def test_peak_sram_measured_equals_predicted(run):
    assert run.arena_high_water == run.arena_used <= run.arena_bytes
    for op in run.ops:
        assert op.stack_measured == op.stack_predicted, op
        assert 0 <= op.stack_painted <= op.stack_measured
        assert op.stack_painted > 0 or op.kind == "reshape"
    assert run.peak_sram_measured == run.peak_sram_predicted
    assert run.peak_sram_predicted == run.sections["data"] + run.sections["bss"] + \
        run.stack_predicted


def test_sections_and_regions_from_the_elf(run):
    m = Machine(run.board, run.elf, counting=False)
    assert section_sizes(m.image) == run.sections
    assert run.sections["rodata"] >= run.graph.weight_bytes()
    assert run.sections["bss"] >= run.arena_used
    flash = [r for r in run.regions if r.kind == "flash"]
    assert run.flash_bytes == sum(r.used for r in flash) > run.sections["rodata"]


def test_invoke_matches_the_operator_sequence(graph, run):
    m = Machine(run.board, run.elf)
    arena = m.image.symbol(codegen.ARENA_SYMBOL)
    m.write(arena.address + run.placement.tensor_offsets[graph.inputs[0]],
            default_input(graph).reshape(-1))
    res = m.call(codegen.INVOKE_SYMBOL)
    assert res.return_value == 0
    out_t = graph.outputs[0]
    got = m.read(arena.address + run.placement.tensor_offsets[out_t],
                 graph.tensors[out_t].num_elements, np.int8)
    np.testing.assert_array_equal(got, run.outputs[0].reshape(-1))


def test_bad_input_is_a_model_error(graph, board):
    with pytest.raises(ModelError, match="int8 with 192 elements"):
        run_model(graph, board, np.zeros((1, 4, 4, 3), np.int8))
    with pytest.raises(ModelError, match="int8"):
        run_model(graph, board, np.zeros((1, 8, 8, 3), np.float32))


def test_invoke_overhead_is_reported(graph, board):
    run = run_model(graph, board, invoke=True)
    assert run.extra["invoke_cycles"] == run.cycles + run.extra["runner_overhead_cycles"]
    assert run.extra["invoke_stack"] >= run.stack_painted   # plus the invoke frame


ZOO = ("tiny", "cifarnet", "squeezenet", "zfnet")
REAL = ("kws_ref_model.tflite", "pretrainedResnet_quant.tflite")


@pytest.mark.parametrize("spec", [f"zoo:{n}" for n in ZOO] + [f"real:{f}" for f in REAL])
def test_every_model_bit_exact_and_peak_sram_exact(spec, board, tmp_path):
    """Every built-in and both real models: the emulated output equals the numpy reference
    and TFLite Micro's interpreter on the same input; peak SRAM measured == predicted."""
    kind, name = spec.split(":")
    pytest.importorskip("mcusim.model.zoo", reason="the model zoo is not on this branch")
    helpers = pytest.importorskip("tests.model_util", reason="model test helpers absent")
    from mcusim.model import load_model
    from mcusim.model.reference import run_reference
    from mcusim.model.tflite_io import write_tflite

    path = helpers.shared_model(name) if kind == "real" else None
    graph = load_model(str(path) if path else name)
    if path is None:
        path = write_tflite(graph, tmp_path / f"{name}.tflite")
    x = default_input(graph)
    run = run_model(graph, board, x)
    np.testing.assert_array_equal(run.outputs[0], run_reference(graph, x)[0])
    tflm = helpers.tflm_invoke(path, x)
    np.testing.assert_array_equal(run.outputs[0].reshape(-1), np.asarray(tflm).reshape(-1))
    assert run.arena_high_water == run.arena_used
    assert run.stack_measured == run.stack_predicted
    assert run.peak_sram_measured == run.peak_sram_predicted
