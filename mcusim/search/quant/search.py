"""The bit-width search (MCUQ's RLQuant): agent, budgets, QAT, baselines, deployment.

:class:`QuantSearch` holds one search: the int8 graph, the data set, the board's cost model
(:mod:`mcusim.search.quant.cost`), the LSQ model (:mod:`mcusim.search.quant.qat`, pre-trained
once in float from the graph's de-quantised weights) and the agent
(:mod:`mcusim.search.quant.agent`).  :meth:`QuantSearch.run` plays the episodes -- ask,
enforce the budgets (:mod:`mcusim.search.quant.budget`), fine-tune, reward = validation
accuracy, update -- and records one trace row per episode; :meth:`QuantSearch.evaluate`
fine-tunes a policy longer, exports it, measures its integer (firmware) accuracy on the test
split and runs it on the emulated board; :meth:`QuantSearch.baselines` does the same for
uniform 8/8, 4/4, 2/2 and the memory-driven rule (:func:`memory_rule`).

Example
-------
>>> s = QuantSearch(graph, "stm32f469i", budget=Budget(max_latency_ms=4.5))  # doctest: +SKIP
>>> result = s.run(episodes=20)                                              # doctest: +SKIP
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Mapping

import numpy as np

from mcusim.boards import Board, get_board
from mcusim.model.graph import Graph
from mcusim.search.quant.budget import Budget, enforce
from mcusim.search.quant.cost import CostModel, PolicyCost
from mcusim.search.quant.data import Dataset, load_dataset, to_int8
from mcusim.search.quant.policy import Policy, quantisable, resolve

__all__ = ["Evaluation", "QuantSearch", "SearchResult", "memory_rule"]


@dataclass
class Evaluation:
    """A policy fine-tuned, exported and measured."""

    name: str
    policy: Policy
    graph: Graph
    cost: PolicyCost
    accuracy: float
    keras_accuracy: float
    measured_latency_ms: float | None = None
    measured_peak_sram: int | None = None
    measured_flash: int | None = None
    bit_exact: bool | None = None
    within_budget: bool = True
    report: Any = None

    def row(self, layers: list[int]) -> dict[str, Any]:
        """Plain data of the evaluation."""
        return {
            "name": self.name,
            "bits": {self.graph.operators[i].name: list(self.policy.bits[i]) for i in layers},
            "kernels": {self.graph.operators[i].name: self.cost.kernels.get(i, "s8")
                        for i in layers},
            "accuracy": self.accuracy, "keras_accuracy": self.keras_accuracy,
            "latency_ms": self.cost.latency_ms, "measured_latency_ms": self.measured_latency_ms,
            "peak_sram_bytes": self.cost.peak_sram_bytes,
            "measured_peak_sram_bytes": self.measured_peak_sram,
            "flash_bytes": self.cost.flash_bytes, "measured_flash_bytes": self.measured_flash,
            "bit_exact": self.bit_exact, "within_budget": self.within_budget,
        }


@dataclass
class SearchResult:
    """What :meth:`QuantSearch.run` found."""

    best: dict[int, tuple[int, int]]
    best_reward: float
    trace: list[dict[str, Any]] = field(default_factory=list)


def memory_rule(layers: list[int], graph: Graph, price: Any, budget: Budget
                ) -> dict[int, tuple[int, int]]:
    """CMix-NN-style rule: lower the bits of the largest layers first (weights for Flash,
    then activations for SRAM: 8 -> 4 -> 2) until the memory budgets hold; latency is not
    looked at.  Returns the request (possibly still over the memory budget when even 2/2
    everywhere does not fit)."""
    mem = Budget(None, budget.max_sram, budget.max_flash)
    cur = {i: (8, 8) for i in layers}
    by_w = sorted(layers, key=lambda i: -graph.tensors[graph.operators[i].inputs[1]].num_elements)
    by_a = sorted(layers, key=lambda i: -graph.tensors[graph.operators[i].inputs[0]].num_elements)
    for target in (4, 2):
        for i in by_w:
            if mem.check(price(cur)):
                return cur
            cur[i] = (min(cur[i][0], target), cur[i][1])
        for i in by_a:
            if mem.check(price(cur)):
                return cur
            cur[i] = (cur[i][0], min(cur[i][1], target))
    return cur


class QuantSearch:
    """One bit-width search (see the module docstring).

    Parameters
    ----------
    graph
        The int8 starting model.
    board
        Board profile or name.
    dataset
        A data set name (``"digits"``) or a :class:`Dataset`.
    budget
        Hard limits.
    epochs
        Fine-tune epochs per episode.
    pretrain_epochs
        Float pre-training epochs of the starting model.
    seed
        Seed of the agent, TensorFlow and the validation split.
    progress
        Called with one line per step.
    """

    def __init__(self, graph: Graph, board: Board | str, *, dataset: str | Dataset = "digits",
                 budget: Budget = Budget(), epochs: int = 1, pretrain_epochs: int = 20,
                 seed: int = 0, progress: Any = None) -> None:
        from mcusim.search.quant.qat import QatModel

        self.graph = graph
        self.board = get_board(board)
        self.budget = budget
        self.epochs = epochs
        self.seed = seed
        self.progress = progress or (lambda msg: None)
        self.data = load_dataset(dataset, seed=seed) if isinstance(dataset, str) else dataset
        n_val = max(1, len(self.data.x_train) // 5)
        self.x_fit, self.y_fit = self.data.x_train[n_val:], self.data.y_train[n_val:]
        self.x_val, self.y_val = self.data.x_train[:n_val], self.data.y_train[:n_val]
        self.layers, self.fixed = quantisable(graph)
        self.cost = CostModel(graph, self.board)
        self._prices: dict[tuple, PolicyCost] = {}
        self.check_budget()  # before any training
        t0 = time.perf_counter()
        self.qat = QatModel(graph, seed=seed)
        acc = self.qat.pretrain(self.x_fit, self.y_fit, epochs=pretrain_epochs)
        self.progress(f"pre-trained {graph.name} in float for {pretrain_epochs} epochs "
                      f"(train accuracy {acc:.3f}, {time.perf_counter() - t0:.1f} s)")

    # ------------------------------------------------------------------ pricing
    def policy(self, request: Mapping[int, tuple[int, int]]) -> Policy:
        return resolve(self.graph, request)

    def price(self, request: Mapping[int, tuple[int, int]]) -> PolicyCost:
        """Predicted cost of a request (cached per consistent policy)."""
        pol = self.policy(request)
        key = tuple(sorted(pol.bits.items()))
        if key not in self._prices:
            self._prices[key] = self.cost.price(pol)
        return self._prices[key]

    def check_budget(self) -> None:
        """Raise :class:`~mcusim.search.quant.budget.BudgetError` (naming the closest policy)
        when no policy reachable from 8/8 meets the budget."""
        enforce({i: (8, 8) for i in self.layers}, self.layers, self.price, self.budget)

    # ------------------------------------------------------------------ episodes
    def reward(self, policy: Policy, epochs: int | None = None) -> float:
        """Validation accuracy of ``policy`` after a short QAT fine-tune."""
        self.qat.apply(policy, self.x_fit[:256])
        self.qat.finetune(self.x_fit, self.y_fit, epochs=self.epochs if epochs is None else epochs)
        return self.qat.accuracy(self.x_val, self.y_val)

    def run(self, episodes: int) -> SearchResult:
        """Play ``episodes`` episodes (see the module docstring).

        Raises
        ------
        BudgetError
            When no policy meets the budget (the closest one named).
        """
        from mcusim.search.quant.agent import ReinforceAgent, layer_features

        self.check_budget()
        static = layer_features(self.graph, self.layers)
        agent = ReinforceAgent(num_features=static.shape[1] + 2, seed=self.seed)
        best: tuple[float, dict[int, tuple[int, int]]] = (-1.0, {})
        trace = []
        for ep in range(episodes):
            t0 = time.perf_counter()
            asked, _ = agent.act(static)
            request = dict(zip(self.layers, asked))
            enforced, cost, steps = enforce(request, self.layers, self.price, self.budget)
            pol = self.policy(enforced)
            acc = self.reward(pol)
            adv = agent.update(static, [pol.bits[i] for i in self.layers], acc)
            if acc > best[0]:
                best = (acc, {i: pol.bits[i] for i in self.layers})
            row = {"episode": ep, "reward": acc, "accuracy": acc, "advantage": adv,
                   "latency_ms": cost.latency_ms, "peak_sram_bytes": cost.peak_sram_bytes,
                   "flash_bytes": cost.flash_bytes, "reductions": steps,
                   "bits": " ".join(f"w{w}a{a}" for w, a in (pol.bits[i] for i in self.layers)),
                   "asked": " ".join(f"w{w}a{a}" for w, a in asked),
                   "seconds": time.perf_counter() - t0}
            trace.append(row)
            self.progress(f"episode {ep}: {row['bits']} accuracy {acc:.3f} latency "
                          f"{cost.latency_ms:.3f} ms SRAM {cost.peak_sram_bytes:,} B Flash "
                          f"{cost.flash_bytes:,} B")
        return SearchResult(best[1], best[0], trace)

    # ------------------------------------------------------------------ evaluation
    def evaluate(self, name: str, request: Mapping[int, tuple[int, int]], *, epochs: int = 3,
                 deploy: bool = True) -> Evaluation:
        """Fine-tune ``request`` for ``epochs``, export it, measure its integer accuracy on
        the test split and (``deploy``) run it on the board (bit-exactness against numpy
        checked on one test image)."""
        from mcusim.model.lower_packed import run_reference_mixed

        pol = self.policy(request)
        cost = self.price(request)
        self.reward(pol, epochs=epochs)
        keras_acc = self.qat.accuracy(self.data.x_test, self.data.y_test)
        g = self.qat.export(pol, cost.kernels)
        xi = to_int8(self.data.x_test)
        preds = np.array([int(np.argmax(run_reference_mixed(g, xi[k:k + 1])[0]))
                          for k in range(len(xi))])
        acc = float((preds == self.data.y_test).mean())
        ev = Evaluation(name, pol, g, cost, acc, keras_acc,
                        within_budget=self.budget.check(cost))
        if deploy:
            from mcusim.model.report import fit

            rep = fit(g, self.board, x=xi[:1])
            ev.report = rep
            if rep.run is not None:
                ev.measured_latency_ms = rep.run.latency_ms
                ev.measured_peak_sram = rep.run.peak_sram_predicted
                ev.measured_flash = rep.run.flash_bytes
                ev.bit_exact = bool(np.array_equal(rep.run.outputs[0].reshape(-1),
                                                   run_reference_mixed(g, xi[:1])[0].reshape(-1)))
        self.progress(f"{name}: accuracy {acc:.3f} (keras {keras_acc:.3f}), latency "
                      f"{cost.latency_ms:.3f} ms predicted / {ev.measured_latency_ms} measured")
        return ev

    def baselines(self, *, epochs: int = 3, deploy: bool = True,
                  memory: Budget | None = None) -> list[Evaluation]:
        """Uniform 8/8, 4/4, 2/2 and the memory-driven rule, evaluated like the result.

        ``memory``: the SRAM/Flash budget of the memory rule (default: the search's)."""
        out = []
        for b in (8, 4, 2):
            out.append(self.evaluate(f"uniform {b}/{b}", {i: (b, b) for i in self.layers},
                                     epochs=epochs, deploy=deploy))
        rule = memory_rule(self.layers, self.graph, self.price, memory or self.budget)
        out.append(self.evaluate("memory rule (CMix-NN)", rule, epochs=epochs, deploy=deploy))
        return out
