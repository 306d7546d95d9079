"""Search strategies: aging evolution (μNAS) and random search, deterministic in a seed.

A strategy proposes the architecture of trial ``index`` from the trials before it.  Every
draw of trial ``index`` comes from ``numpy.random.default_rng([seed, index])``, so the same
seed gives the same trials, in one process or many, and a resumed search continues exactly
where it stopped.

:class:`AgingEvolution` follows μNAS (eliberis/uNAS, ``search_algorithms/aging_evolution.py``):
the first ``population`` trials are random architectures; after that each trial samples
``sample`` members (with replacement) of the population -- the ``population`` most recent
trials -- draws new fitness weights ``lambda ~ U(0, 1)``, takes the fittest member
(:func:`mcusim.search.nas.fitness.fitness`) as parent and applies one random morphism.
With ``batch > 1`` the trials ``P + k*batch ... P + (k+1)*batch - 1`` are proposed from the
same population (the trials before ``P + k*batch``), so they can be evaluated in parallel
and the result does not depend on which worker finishes first.

Examples
--------
>>> from mcusim.search.nas.space import SearchSpace
>>> ae = AgingEvolution(SearchSpace((8, 8, 1), 10), population=4, sample=2)
>>> a = ae.propose(0, [], seed=7)
>>> a == ae.propose(0, [], seed=7)
True
>>> ae.ready(4, done=4), ae.ready(5, done=4)
(True, False)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping, Sequence

import numpy as np

from mcusim.search import SearchError
from mcusim.search.nas.fitness import draw_lambdas, fitness
from mcusim.search.nas.space import Architecture, SearchSpace

__all__ = ["AgingEvolution", "RandomSearch", "Trial"]

#: A finished trial as the strategy sees it: ``architecture`` (JSON), ``status`` and the
#: objective values by name.
Trial = Mapping[str, Any]


def _rng(seed: int, index: int) -> np.random.Generator:
    return np.random.default_rng([int(seed), int(index)])


@dataclass(frozen=True)
class RandomSearch:
    """Every trial a random architecture (the baseline)."""

    space: SearchSpace

    def ready(self, index: int, done: int) -> bool:
        return True

    def propose(self, index: int, history: Sequence[Trial], *, seed: int,
                bounds: Mapping[str, float | None] | None = None) -> Architecture:
        return self.space.random_architecture(_rng(seed, index))

    def params(self) -> dict[str, Any]:
        return {"strategy": "random"}


@dataclass(frozen=True)
class AgingEvolution:
    """μNAS's aging evolution.

    Parameters
    ----------
    space
        The search space.
    population
        Size of the population (and of the random initial population).
    sample
        Members sampled (with replacement) to pick a parent.
    batch
        Trials proposed from the same population (see the module docstring).
    """

    space: SearchSpace
    population: int = 100
    sample: int = 25
    batch: int = 1

    def __post_init__(self) -> None:
        if self.population < 1 or self.sample < 1 or self.batch < 1:
            raise SearchError("population, sample and batch must be >= 1",
                              population=self.population, sample=self.sample,
                              batch=self.batch)

    def params(self) -> dict[str, Any]:
        return {"strategy": "aging", "population": self.population, "sample": self.sample,
                "batch": self.batch}

    def _start(self, index: int) -> int:
        """Index of the first trial of ``index``'s batch (0 for the initial population)."""
        if index < self.population:
            return 0
        return self.population + (index - self.population) // self.batch * self.batch

    def ready(self, index: int, done: int) -> bool:
        """Whether trial ``index`` can be proposed when trials ``0 .. done-1`` are finished."""
        return self._start(index) <= done

    def propose(self, index: int, history: Sequence[Trial], *, seed: int,
                bounds: Mapping[str, float | None] | None = None) -> Architecture:
        """The architecture of trial ``index``; ``history`` holds at least trials ``< start``.

        ``bounds`` names the objectives of the fitness and their bounds.
        """
        rng = _rng(seed, index)
        if index < self.population:
            return self.space.random_architecture(rng)
        start = self._start(index)
        if len(history) < start:
            raise SearchError("trial proposed before its population finished",
                              trial=index, needs=start, finished=len(history))
        pop = list(history[max(0, start - self.population):start])
        picks = rng.integers(0, len(pop), size=self.sample)
        bounded = {k: v for k, v in (bounds or {}).items() if v is not None}
        lambdas = draw_lambdas(sorted(bounded), rng)
        best, best_fit = None, -np.inf
        for p in picks:
            member = pop[int(p)]
            fit = _member_fitness(member, bounded, lambdas)
            if best is None or fit > best_fit:
                best, best_fit = member, fit
        assert best is not None
        parent = Architecture.from_json(str(best["architecture"]))
        return self.space.mutate(parent, rng)


def _member_fitness(member: Trial, bounds: Mapping[str, float], lambdas: Mapping[str, float]
                    ) -> float:
    if member.get("status") != "ok" or not bounds:
        return -np.inf if member.get("status") != "ok" else 0.0
    values = {k: float(member[k]) for k in bounds}
    if any(np.isnan(v) for v in values.values()):
        return -np.inf
    return fitness(values, bounds, lambdas)
