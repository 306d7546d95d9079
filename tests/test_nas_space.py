"""The μNAS search space: random architectures and morphisms keep graphs valid (no training)."""

from __future__ import annotations

import difflib

import numpy as np
import pytest

from mcusim.search import SearchError
from mcusim.search.nas.graphs import untrained_graph
from mcusim.search.nas.space import Architecture, ConvBlock, ConvLayer, SearchSpace

SPACES = [SearchSpace((8, 8, 1), 10), SearchSpace((5, 7, 3), 4, max_blocks=2, max_channels=16),
          SearchSpace((12, 12, 2), 3, max_layers=2, kernels=(3, 5))]


def _tokens(a: Architecture) -> list:
    out: list = []
    for blk in a.blocks:
        out += ["block", *blk.layers, f"pool:{blk.pool}"]
    return out + [f"dense:{u}" for u in a.dense]


def _edits(a: Architecture, b: Architecture) -> int:
    """Contiguous edits between the token sequences of two architectures."""
    sm = difflib.SequenceMatcher(a=_tokens(a), b=_tokens(b), autojunk=False)
    return sum(tag != "equal" for tag, *_ in sm.get_opcodes())


@pytest.mark.parametrize("space", SPACES, ids=lambda s: "x".join(map(str, s.input_shape)))
@pytest.mark.parametrize("seed", range(6))
def test_morphism_chains_keep_graphs_valid(space, seed):
    rng = np.random.default_rng(seed)
    arch = space.random_architecture(rng)
    for _step in range(6):
        assert space.problems(arch) == []
        g = untrained_graph(arch, space, seed=seed)            # validates the graph
        assert g.tensors[g.inputs[0]].shape == (1,) + tuple(space.input_shape)
        assert g.tensors[g.outputs[0]].shape == (1, space.num_classes)
        convs = [op for op in g.operators if op.kind in ("conv", "dwconv")]
        assert len(convs) == sum(len(b.layers) for b in arch.blocks)
        fcs = [op for op in g.operators if op.kind == "fc"]
        assert len(fcs) == len(arch.dense) + 1
        child = space.mutate(arch, rng)
        assert child != arch
        assert _edits(arch, child) == 1                         # one thing at a time
        arch = Architecture.from_json(child.to_json())


def test_every_morph_is_valid_and_in_bounds():
    space = SPACES[0]
    rng = np.random.default_rng(3)
    for _ in range(20):
        arch = space.random_architecture(rng)
        morphs = space.morphs(arch, rng)
        assert morphs and all(space.is_valid(m) for m in morphs)
        assert all(1 <= len(m.blocks) <= space.max_blocks for m in morphs)


def test_shapes_and_describe():
    space = SearchSpace((8, 8, 1), 10)
    arch = Architecture((ConvBlock((ConvLayer("conv", 3, 16, 2), ConvLayer("dwconv", 5, 99, 1)),
                                   "max"),), (32,))
    assert space.shapes(arch) == [(4, 4, 16), (4, 4, 16), (2, 2, 16)]
    assert space.flat_features(arch) == 64
    assert arch.describe() == "c3x16s2r,dw5s1r/max | fc32"
    g = untrained_graph(arch, space)
    assert [op.kind for op in g.operators] == ["conv", "dwconv", "maxpool", "reshape", "fc", "fc"]


def test_pooling_that_empties_the_map_is_outside_the_space():
    space = SearchSpace((2, 2, 1), 10)
    arch = Architecture((ConvBlock((ConvLayer("conv", 3, 4, 2),), "max"),))
    assert space.problems(arch) == ["a pooling reduces the feature map to nothing"]
    with pytest.raises(SearchError, match="outside the search space"):
        untrained_graph(arch, space)


def test_bad_architecture_json():
    with pytest.raises(SearchError, match="not an architecture"):
        Architecture.from_json('{"blocks": [{"layers": [{"kindx": 1}]}]}')
    with pytest.raises(SearchError, match="bad JSON"):
        Architecture.from_json("{")


def test_space_rejects_bad_input():
    with pytest.raises(SearchError, match="positive size"):
        SearchSpace((0, 8, 1), 10)
