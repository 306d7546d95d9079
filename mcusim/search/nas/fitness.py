"""μNAS's scalarised multi-objective fitness and Pareto fronts.

Every objective ``f_i`` is divided by its bound ``b_i`` and capped at 10, then divided by a
weight ``lambda_i ~ U(0, 1)`` drawn afresh for each parent selection; the fitness is the
negated largest term (eliberis/uNAS, ``search_algorithms/aging_evolution.py``,
``get_mo_fitness_fn``)::

    fitness = -max_i( min(f_i / b_i, 10) / lambda_i )

An objective whose bound is ``None`` is ignored.  A value above its bound maps above 1 and
is what the selection pushes down first.

Examples
--------
>>> fitness({"error": 0.1, "sram": 16384}, {"error": 0.2, "sram": 32768},
...         {"error": 0.5, "sram": 0.25})
-2.0
>>> fitness({"error": 5.0}, {"error": 0.2}, {"error": 1.0})   # capped at 10
-10.0
"""

from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np

from mcusim.search import SearchError

__all__ = ["CAP", "draw_lambdas", "feasible", "fitness", "pareto_mask"]

#: Cap of a normalised objective.
CAP = 10.0


def fitness(objectives: Mapping[str, float], bounds: Mapping[str, float | None],
            lambdas: Mapping[str, float]) -> float:
    """μNAS's fitness of one candidate (higher is better).

    Raises
    ------
    SearchError
        When no objective has a bound, a bound is not positive, or a weight is not positive.
    """
    terms = []
    for name, bound in bounds.items():
        if bound is None:
            continue
        if bound <= 0:
            raise SearchError("every bound must be positive", objective=name, bound=bound)
        lam = float(lambdas[name])
        if lam <= 0:
            raise SearchError("fitness weights must be positive", objective=name, weight=lam)
        value = float(objectives[name])
        terms.append(min(value / float(bound), CAP) / lam)
    if not terms:
        raise SearchError("the fitness needs at least one bounded objective")
    return -max(terms)


def draw_lambdas(names: Sequence[str], rng: np.random.Generator) -> dict[str, float]:
    """One weight per objective from U(0, 1) (0 redrawn: it would divide by zero)."""
    out = {}
    for n in names:
        v = 0.0
        while v == 0.0:
            v = float(rng.uniform(0.0, 1.0))
        out[n] = v
    return out


def feasible(objectives: Mapping[str, float], limits: Mapping[str, float | None]) -> bool:
    """Whether every objective with a hard limit is within it."""
    return all(lim is None or float(objectives[k]) <= float(lim) for k, lim in limits.items())


def pareto_mask(values: np.ndarray) -> np.ndarray:
    """Rows of ``values`` (all minimised) not dominated by another row.

    Examples
    --------
    >>> pareto_mask(np.array([[1, 2], [2, 1], [2, 2], [1, 2]])).tolist()
    [True, True, False, True]
    """
    v = np.asarray(values, np.float64)
    n = len(v)
    mask = np.ones(n, bool)
    for i in range(n):
        others = np.delete(v, i, axis=0)
        dom = np.all(others <= v[i], axis=1) & np.any(others < v[i], axis=1)
        mask[i] = not dom.any()
    return mask
