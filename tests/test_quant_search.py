"""Mixed-precision models and the budget enforcement of the bit-width search (no TensorFlow).

Bit-exactness of the generated mixed-precision runner against the numpy reference on both
boards, the policy rules (layers without a low-bit kernel stay 8-bit, with the reason), the
HAQ-style enforcement (never over budget; a clear error with the closest policy when no
policy fits) and the cost model's predictions against the deployed run.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from mcusim.errors import McusimError, ModelError
from mcusim.model import load_model
from mcusim.model.lower_packed import low_bit_support, run_reference_mixed
from mcusim.model.run import default_input, run_model
from mcusim.search.quant.budget import Budget, BudgetError, enforce
from mcusim.search.quant.cost import CostModel, PolicyCost
from mcusim.search.quant.data import digits_cnn
from mcusim.search.quant.mixed import requantize_graph
from mcusim.search.quant.policy import quantisable, resolve, uniform

BOARDS = ("stm32f469i", "stm32f746zg")


@pytest.fixture(scope="module")
def cnn():
    return digits_cnn()


@pytest.mark.parametrize("board", BOARDS)
@pytest.mark.parametrize("request_, kernels", [
    ({0: (8, 8), 1: (4, 4), 2: (2, 4), 3: (4, 2), 5: (2, 2)},
     {0: "smlad", 1: "mul", 2: "smlad", 3: "mul", 5: "smlad"}),
    ({0: (2, 8), 1: (8, 2), 2: (8, 8), 3: (8, 4), 5: (4, 8)},
     {0: "mul", 1: "smlad", 2: "s8", 3: "mul", 5: "smlad"}),
])
def test_mixed_precision_runner_is_bit_exact(cnn, board, request_, kernels):
    pol = resolve(cnn, request_)
    g = requantize_graph(cnn, pol, kernels)
    for seed in (0, 1):
        x = default_input(g, seed)
        ref = run_reference_mixed(g, x)[0]
        run = run_model(g, board, x)
        assert np.array_equal(run.outputs[0], ref), (board, seed)
    # packed tensors take their packed size in the plan
    low = [t for t, b in pol.tensor_bits.items() if b < 8]
    assert low and all(g.tensors[t].nbytes == -(-g.tensors[t].num_elements * g.tensors[t].bits
                                                // 8) for t in low)
    kinds = {o.index: o.kernel for o in run.ops}
    assert kinds[1] in ("mnn_convolve_packed_lb", "mnn_convolve_smlad_lb")


def test_layer_without_low_bit_kernel_stays_8_bit_with_reason():
    g = load_model("tiny")
    pol = resolve(g, {i: (2, 2) for i in range(g.num_operators)})
    assert pol.bits[1] == (8, 8) and "depthwise" in pol.notes[1]
    assert pol.bits[0] == (2, 8) and "graph input" in pol.notes[0]
    assert pol.bits[2] == (2, 8) and "without a low-bit kernel" in pol.notes[2]
    assert all(b == 8 for b in pol.tensor_bits.values())
    assert low_bit_support("conv", (0, 0, 1, 1)).startswith("asymmetric padding")
    with pytest.raises(ModelError, match="bits w3a8"):
        resolve(g, {0: (3, 8)})


def test_resolve_gives_consistent_tensor_bits(cnn):
    layers, _ = quantisable(cnn)
    for combo in itertools.islice(itertools.product((2, 4, 8), repeat=len(layers)), 0, 243, 7):
        pol = resolve(cnn, {i: (8, b) for i, b in zip(layers, combo)})
        for i in layers:
            assert pol.bits[i][1] == pol.tensor_bits[cnn.operators[i].inputs[0]]
        assert pol.tensor_bits[cnn.inputs[0]] == 8 and pol.tensor_bits[cnn.outputs[0]] == 8


def _fake_price(layers):
    """Latency falls with bits except w4a4 (slower, as on the boards); memory by bits."""
    def price(req):
        lat = sum({8: 1.0, 4: 0.7, 2: 0.5}[w] + {8: 0.5, 4: 0.6, 2: 0.3}[a]
                  for w, a in (req[i] for i in layers))
        mem = sum(w * 100 + a * 10 for w, a in (req[i] for i in layers))
        return PolicyCost(lat, int(lat * 1e6), mem, mem * 2, mem, {}, {})
    return price


@pytest.mark.parametrize("seed", range(6))
def test_enforcement_never_returns_an_over_budget_policy(seed):
    rng = np.random.default_rng(seed)
    layers = list(range(5))
    price = _fake_price(layers)
    for _ in range(20):
        req = {i: (int(rng.choice([2, 4, 8])), int(rng.choice([2, 4, 8]))) for i in layers}
        budget = Budget(float(rng.uniform(3.0, 8.0)), int(rng.uniform(800, 4500)), None)
        try:
            out, cost, _ = enforce(req, layers, price, budget)
        except BudgetError as err:
            assert err.closest and "closest" in str(err)
            assert not budget.check(err.closest_cost)
            continue
        assert budget.check(cost) and budget.check(price(out))
        assert all(out[i][0] <= req[i][0] and out[i][1] <= req[i][1] for i in layers)


def test_impossible_budget_names_the_closest_policy(cnn):
    cm = CostModel(cnn, "stm32f469i")
    layers, _ = quantisable(cnn)

    def price(req):
        return cm.price(resolve(cnn, req))

    with pytest.raises(BudgetError) as err:
        enforce({i: (8, 8) for i in layers}, layers, price, Budget(max_latency_ms=0.01))
    msg = str(err.value)
    assert "no policy meets the budget" in msg and "latency" in msg and "closest" in msg
    assert isinstance(err.value, McusimError)


@pytest.mark.parametrize("board", BOARDS)
def test_predicted_cost_matches_the_deployed_run(cnn, board):
    cm = CostModel(cnn, board)
    for pol in (uniform(cnn, 8, 8), resolve(cnn, {0: (4, 8), 1: (2, 4), 2: (2, 2), 3: (4, 2),
                                                  5: (2, 2)})):
        c = cm.price(pol)
        g = requantize_graph(cnn, pol, c.kernels)
        run = run_model(g, board)
        assert abs(run.latency_ms / c.latency_ms - 1) < 0.05
        # constants exact; the linked share of the packed family's code varies by kernels
        assert abs(run.flash_bytes - c.flash_bytes) <= 0.01 * run.flash_bytes
        # the arena is the planner's; static data and stack are calibrated estimates
        assert run.placement.arena_bytes == c.arena_bytes
        assert abs(run.peak_sram_predicted - c.peak_sram_bytes) <= 0.02 * run.peak_sram_predicted


def test_start_model_from_tflite_zoo_or_builtin(cnn, tmp_path):
    from mcusim.model.tflite_io import write_tflite
    from mcusim.search.quant.run import load_start_model

    tiny = load_model("tiny")
    g = load_start_model(str(write_tflite(tiny, tmp_path / "tiny.tflite")))
    assert g == tiny
    assert load_start_model("tiny").num_operators == 9
    assert load_start_model("digits_cnn").name == "digits_cnn"
    with pytest.raises(ModelError, match="digits_cnn"):
        load_start_model("no_such_model")
    mixed = requantize_graph(tiny, uniform(tiny, 4, 4), {})
    write_tflite(mixed, tmp_path / "mixed.tflite")
    with pytest.raises(ModelError, match="must be int8"):
        load_start_model(str(tmp_path / "mixed.tflite"))
