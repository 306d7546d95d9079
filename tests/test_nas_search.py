"""Aging evolution, μNAS fitness, the study's checkpoint and the bad-input paths (train-free:
the real evaluator on untrained graphs, priced by the planner, Flash estimate and MACs)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from mcusim.cli import main
from mcusim.search import SearchError
from mcusim.search.nas.compare import mac_comparison, spearman
from mcusim.search.nas.data import make_dataset
from mcusim.search.nas.evaluate import Evaluator
from mcusim.search.nas.evolution import AgingEvolution, RandomSearch
from mcusim.search.nas.executors import DaskExecutor, LocalProcesses
from mcusim.search.nas.fitness import CAP, draw_lambdas, fitness, pareto_mask
from mcusim.search.nas.run import minimal_needs, run_nas
from mcusim.search.nas.space import SearchSpace
from mcusim.search.nas.study import Bounds, Study

SPACE = SearchSpace((8, 8, 1), 10, max_blocks=2, max_layers=2, max_channels=24,
                    init_channels=12, max_dense=2, max_units=32, init_units=16)
BOUNDS = Bounds(peak_sram=4096, flash_bytes=40_000, latency_ms=0.2)
COLS = ["trial", "architecture", "peak_sram", "flash_bytes", "latency_ms", "macs", "feasible"]


def _study(seed=0, directory=None, population=4, sample=3, batch=1, board="stm32f746zg"):
    return Study(Evaluator(SPACE, board), AgingEvolution(SPACE, population, sample, batch),
                 BOUNDS, seed=seed, directory=directory)


# ---------------------------------------------------------------- fitness (hand-computed)
@pytest.mark.parametrize("objs, lambdas, expected", [
    # error 0.05/0.1 = 0.5, /0.5 -> 1.0 ; sram 16384/32768 = 0.5, /0.25 -> 2.0 : -max = -2
    ({"error": 0.05, "sram": 16384}, {"error": 0.5, "sram": 0.25}, -2.0),
    # over the bound: 0.3/0.1 = 3 (/1) beats 0.5/0.9
    ({"error": 0.3, "sram": 16384}, {"error": 1.0, "sram": 0.9}, -3.0),
    # capped at 10 before the weight: min(100, 10) / 0.5 = 20
    ({"error": 10.0, "sram": 0.0}, {"error": 0.5, "sram": 0.5}, -20.0),
    ({"error": 0.0, "sram": 0.0}, {"error": 0.3, "sram": 0.7}, -0.0),
])
def test_fitness_follows_the_unas_formula(objs, lambdas, expected):
    assert fitness(objs, {"error": 0.1, "sram": 32768}, lambdas) == pytest.approx(expected)


def test_fitness_ignores_unbounded_objectives_and_rejects_bad_bounds():
    assert fitness({"a": 1.0, "b": 1e9}, {"a": 2.0, "b": None}, {"a": 0.5, "b": 0.1}) == -1.0
    with pytest.raises(SearchError, match="positive"):
        fitness({"a": 1.0}, {"a": 0.0}, {"a": 0.5})
    with pytest.raises(SearchError, match="at least one"):
        fitness({"a": 1.0}, {"a": None}, {"a": 0.5})
    assert CAP == 10.0


def test_lambdas_are_uniform_and_seeded():
    a = draw_lambdas(["x", "y"], np.random.default_rng(1))
    assert a == draw_lambdas(["x", "y"], np.random.default_rng(1))
    assert all(0 < v < 1 for v in a.values())


def test_pareto_mask_hand_case():
    v = np.array([[1, 5], [2, 2], [5, 1], [3, 3], [2, 2]])
    assert pareto_mask(v).tolist() == [True, True, True, False, True]


# ---------------------------------------------------------------- aging evolution
def test_aging_evolution_is_deterministic_with_a_seed():
    a = _study(seed=5).optimize(10, progress=False)
    b = _study(seed=5).optimize(10, progress=False)
    c = _study(seed=6).optimize(10, progress=False)
    pd.testing.assert_frame_equal(a[COLS], b[COLS])
    assert a["architecture"].tolist() != c["architecture"].tolist()
    assert (a["status"] == "ok").all()
    # after the random population every architecture is one morphism of a population member
    assert len(set(a["architecture"])) > 4


def test_parents_come_from_the_aging_population():
    """With sample = population the parent is the fittest member for the drawn weights:
    re-deriving it from the rows gives the child (the strategy reads only the history)."""
    ae = AgingEvolution(SPACE, population=3, sample=3)
    study = Study(Evaluator(SPACE, "stm32f746zg"), ae, BOUNDS, seed=2)
    df = study.optimize(6, progress=False)
    hist = [study.trials[i] for i in range(6)]
    for i in range(3, 6):
        again = ae.propose(i, hist[:i], seed=2, bounds=BOUNDS.fitness_bounds(False))
        assert again.to_json() == df.loc[i, "architecture"]


def test_infeasible_candidates_are_marked_not_dropped():
    tight = Bounds(peak_sram=400, flash_bytes=40_000, latency_ms=0.2)
    study = Study(Evaluator(SPACE, "stm32f469i"), RandomSearch(SPACE), tight, seed=1)
    df = study.optimize(6, progress=False)
    assert len(df) == 6
    bad = df[~df["feasible"]]
    assert len(bad) and bad["violations"].str.contains("peak_sram").all()
    assert (df.loc[df["feasible"], "peak_sram"] <= 400).all()


def test_study_resumes_from_its_checkpoint(tmp_path):
    full = _study(seed=3).optimize(8, progress=False)
    first = _study(seed=3, directory=tmp_path).optimize(5, progress=False)
    assert len(first) == 5
    lines = (tmp_path / "trials.jsonl").read_text().splitlines()
    assert [json.loads(x)["trial"] for x in lines] == list(range(5))
    with (tmp_path / "trials.jsonl").open("a") as fh:       # an interrupted write
        fh.write('{"trial": 5, "archi')
    resumed = _study(seed=3, directory=tmp_path)
    assert sorted(resumed.trials) == list(range(5))
    df = resumed.optimize(8, progress=False)
    pd.testing.assert_frame_equal(df[COLS], full[COLS])
    assert sorted(_study(seed=3, directory=tmp_path).trials) == list(range(8))


def test_checkpoint_of_another_search_is_refused(tmp_path):
    _study(seed=3, directory=tmp_path).optimize(2, progress=False)
    with pytest.raises(SearchError, match="different search") as exc:
        _study(seed=4, directory=tmp_path)
    assert "seed" in str(exc.value)


def test_parallel_batches_give_the_same_trials():
    one = _study(seed=9, batch=2).optimize(8, progress=False)
    ex = LocalProcesses(2)
    try:
        two = _study(seed=9, batch=2).optimize(8, executor=ex, progress=False)
    finally:
        ex.close()
    pd.testing.assert_frame_equal(one[COLS], two[COLS])


def test_dask_local_cluster_runs_the_same_trials():
    pytest.importorskip("distributed")
    one = _study(seed=4, batch=2).optimize(6, progress=False)
    ex = DaskExecutor(None, jobs=2)
    try:
        two = _study(seed=4, batch=2).optimize(6, executor=ex, progress=False)
    finally:
        ex.close()
    pd.testing.assert_frame_equal(one[COLS], two[COLS])


# ---------------------------------------------------------------- bad input
def test_impossible_bounds_give_a_message_and_an_empty_front(tmp_path):
    res = run_nas(board="stm32f746zg", dataset=None, space=SPACE, rounds=5,
                  bounds=Bounds(peak_sram=16, flash_bytes=100, latency_ms=0.2),
                  out=tmp_path, latency="macs", progress=False)
    assert res.message.startswith("impossible bounds: peak_sram <= 16 but the smallest")
    assert "flash_bytes <= 100" in res.message and res.front.empty
    assert res.summary["front"] == [] and res.study is None
    assert (tmp_path / "candidates.csv").exists() and (tmp_path / "summary.json").exists()


def test_bounds_nobody_meets_give_an_empty_front():
    needs = minimal_needs(SPACE, Evaluator(SPACE, "stm32f746zg"))
    res = run_nas(board="stm32f746zg", dataset=None, space=SPACE, rounds=4, population=2,
                  sample=2, bounds=Bounds(latency_ms=needs["latency_ms"] * 1.01),
                  latency="macs", progress=False)
    assert res.front.empty and len(res.candidates) == 4
    assert "none of the 4 candidates" in res.message


@pytest.mark.parametrize("X, y, match", [
    (np.zeros((10, 8)), np.zeros(10, int), r"images \[N, H, W\]"),
    (np.zeros((10, 8, 8)), np.zeros(9, int), "one label per image"),
    (np.full((10, 8, 8), np.nan), np.arange(10) % 2, "finite"),
    (np.zeros((10, 8, 8)), np.zeros(10, int), "at least 2 classes"),
    (np.zeros((10, 8, 8)), np.linspace(0, 1, 10), "integer class labels"),
    (np.zeros((2, 8, 8)), np.array([0, 1]), "too few samples"),
])
def test_bad_datasets_are_clear_errors(X, y, match):
    with pytest.raises(SearchError, match=match):
        make_dataset(X, y)


def test_dataset_that_does_not_match_the_space():
    ds = make_dataset(np.random.default_rng(0).random((40, 6, 6)), np.arange(40) % 3)
    with pytest.raises(SearchError, match="does not match the search space"):
        run_nas(board="stm32f746zg", dataset=ds, space=SPACE, rounds=1, latency="macs")


def test_bad_bounds():
    with pytest.raises(SearchError, match="positive number"):
        Bounds(peak_sram=-1)


# ---------------------------------------------------------------- MAC proxy comparison
def test_mac_comparison_counts_disagreements():
    df = pd.DataFrame({"macs": [100, 200, 300, 400, 500], "status": ["ok"] * 5,
                       "latency_ms": [1.0, 4.0, 2.0, 3.0, 5.0]})
    r = mac_comparison(df, latency_bound_ms=2.5)
    # MACs per ms: 100, 50, 150, 133.3, 100 -> median 100 -> MAC bound 250
    assert r["mac_bound"] == pytest.approx(250.0)
    assert (r["proxy_only"], r["latency_only"], r["both"]) == (1, 1, 1)
    assert r["spearman"] == pytest.approx(spearman(df["macs"], df["latency_ms"]))
    assert spearman(np.arange(5), np.arange(5) ** 2) == pytest.approx(1.0)


def test_cli_impossible_bounds(tmp_path, capsys):
    pytest.importorskip("sklearn", reason="scikit-learn (the digits data set) is not installed")
    code = main(["search", "nas", "-b", "stm32f746zg", "--rounds", "2", "--max-sram", "10",
                 "--out", str(tmp_path), "--latency", "macs"])
    err = capsys.readouterr().err
    assert code == 3 and "impossible bounds: peak_sram <= 10" in err


def test_cli_search_without_subcommand_prints_help(capsys):
    assert main(["search"]) == 2
    assert "nas" in capsys.readouterr().out


def test_a_trained_search_without_tensorflow_fails_at_once(monkeypatch):
    import importlib.util

    from mcusim.errors import MissingDependencyError

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "tensorflow" else real(name, *a))
    ds = make_dataset(np.random.default_rng(0).random((40, 8, 8)), np.arange(40) % 10)
    with pytest.raises(MissingDependencyError, match="tensorflow"):
        run_nas(board="stm32f746zg", dataset=ds, rounds=1, latency="macs")
