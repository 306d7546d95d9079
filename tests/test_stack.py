"""Static stack depth: compiler frames along the linked call graph."""

from __future__ import annotations

import pytest

from mcusim.errors import McusimError
from mcusim.model.stack import StackAnalysis, analyse_stack
from mcusim.model import codegen
from mcusim.model.run import make_plan

from tests.runner_graphs import tiny_graph


def test_depth_is_frames_along_the_deepest_path():
    sa = StackAnalysis({"a": 8, "b": 16, "c": 40, "d": 4}, {}, {"a": frozenset({"b", "c"}),
                       "b": frozenset({"d"})}, {"c": frozenset({"d"})})
    assert sa.depth("a") == 48 and sa.path("a") == ["a", "c"]
    assert sa.depth("b") == 20
    assert sa.depth("a", executed={("a", "b"): 1, ("b", "d"): 3}, ran={"a", "b", "d"}) == 28


def test_recursion_and_missing_frames_are_errors():
    sa = StackAnalysis({"a": 8, "b": 8}, {}, {"a": frozenset({"b"}), "b": frozenset({"a"})}, {})
    with pytest.raises(McusimError, match="recursion"):
        sa.depth("a")
    with pytest.raises(McusimError, match="no frame size"):
        StackAnalysis({"a": 8}, {}, {"a": frozenset({"x"})}, {}).depth("a")


def test_frames_come_from_the_compiler(board):
    g = tiny_graph()
    gen = codegen.generate(g, make_plan(g, board))
    sa = analyse_stack(codegen.build_model(gen, board).elf)
    assert sa.frame_source["mcusim_op_0"] == "su"
    assert sa.frame_source["memset"] == "prologue"
    assert "mnn_convolve_s8" in sa.calls["mcusim_op_0"]
    assert sa.depth("mcusim_model_invoke") >= max(sa.depth(f"mcusim_op_{i}")
                                                  for i in range(g.num_operators))
