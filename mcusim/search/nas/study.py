"""A search with a clear lifetime: trials as plain rows, checkpointed as they finish.

A :class:`Study` runs a strategy (:mod:`.evolution`) with an evaluator (:mod:`.evaluate`)
on an executor (:mod:`.executors`) for a number of rounds (trials, the initial population
included, as μNAS counts them).  Each finished trial is one row -- ``trial``, ``seed``,
``architecture`` (JSON), ``description``, ``status``, the objectives, ``feasible``,
``violations``, ``started``/``finished``/``duration_s`` -- appended to
``<directory>/trials.jsonl`` at once (its ``.tflite`` in ``<directory>/models/``), so an
interrupted study resumes: :meth:`Study.optimize` skips the trials in the file and, since
every trial's draws depend only on the seed and its index, continues with the same trials
an uninterrupted run makes.  ``study.json`` records the configuration; resuming with another
one is refused.

Feasibility: the hard limits of :class:`Bounds` (peak SRAM, Flash, latency).  The error
bound only scales the fitness, as in μNAS.  Infeasible and failed trials stay in the table.

Examples
--------
>>> from mcusim.search.nas.evaluate import Evaluator
>>> from mcusim.search.nas.evolution import AgingEvolution
>>> from mcusim.search.nas.space import SearchSpace
>>> space = SearchSpace((8, 8, 1), 10, max_blocks=1, max_layers=1, init_channels=4)
>>> study = Study(Evaluator(space, "stm32f746zg"), AgingEvolution(space, population=2, sample=2),
...               Bounds(peak_sram=32768, flash_bytes=65536, latency_ms=5.0), seed=0)
>>> df = study.optimize(3, progress=False)
>>> len(df), df["trial"].tolist()
(3, [0, 1, 2])
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Iterable

import numpy as np
import pandas as pd

from mcusim.search import SearchError
from mcusim.search.nas.evaluate import Evaluator, evaluate_job
from mcusim.search.nas.executors import InProcess
from mcusim.search.nas.fitness import pareto_mask

__all__ = ["Bounds", "OBJECTIVES", "Study"]

#: Objectives (all minimised), in report order.
OBJECTIVES: tuple[str, ...] = ("error", "peak_sram", "flash_bytes", "latency_ms")
_LIMITS = ("peak_sram", "flash_bytes", "latency_ms")


@dataclass(frozen=True)
class Bounds:
    """Bounds of the objectives: hard limits on resources, a soft one on the error.

    Parameters
    ----------
    error
        Error bound that scales the fitness (μNAS: ``error_bound``); not a hard limit.
    peak_sram, flash_bytes, latency_ms
        Hard limits (``None``: unbounded and not an objective of the fitness).
    """

    error: float | None = 0.1
    peak_sram: float | None = None
    flash_bytes: float | None = None
    latency_ms: float | None = None

    def __post_init__(self) -> None:
        for k, v in asdict(self).items():
            if v is not None and not (isinstance(v, (int, float)) and math.isfinite(v) and v > 0):
                raise SearchError("every bound must be a positive number", bound=k, value=v)

    def fitness_bounds(self, trained: bool) -> dict[str, float | None]:
        d = asdict(self)
        if not trained:
            d["error"] = None
        return d

    def limits(self) -> dict[str, float | None]:
        return {k: getattr(self, k) for k in _LIMITS}

    def violations(self, row: dict[str, Any]) -> list[str]:
        out = []
        for k, lim in self.limits().items():
            v = row.get(k)
            if lim is not None and v is not None and not (float(v) <= float(lim)):
                out.append(f"{k} {v:.6g} > {lim:.6g}")
        return out


class Study:
    """An architecture search: configuration, the trials so far, their checkpoint.

    Parameters
    ----------
    evaluator
        Evaluates one architecture (:class:`~mcusim.search.nas.evaluate.Evaluator`).
    strategy
        :class:`~mcusim.search.nas.evolution.AgingEvolution` or ``RandomSearch``.
    bounds
        Objective bounds and hard limits.
    seed
        Seed of every draw.
    directory
        Where the checkpoint and the ``.tflite`` files go (``None``: in memory only).
    """

    def __init__(self, evaluator: Evaluator, strategy: Any, bounds: Bounds, *, seed: int = 0,
                 directory: str | Path | None = None) -> None:
        self.evaluator = evaluator
        self.strategy = strategy
        self.bounds = bounds
        self.seed = int(seed)
        self.directory = Path(directory) if directory is not None else None
        self.trials: dict[int, dict[str, Any]] = {}
        self.models: dict[int, bytes] = {}
        self._pending_arch: dict[int, Any] = {}
        if self.directory is not None:
            self._open()

    # ------------------------------------------------------------------ checkpoint
    def config(self) -> dict[str, Any]:
        """The configuration a checkpoint must match to be resumed."""
        ev = self.evaluator
        return {"format": "mcusim-nas/1", "seed": self.seed, "board": ev.board,
                "space": asdict(ev.space), "strategy": self.strategy.params(),
                "bounds": asdict(self.bounds), "latency": ev.latency.name,
                "dataset": ev.dataset.name if ev.dataset is not None else None,
                "train": asdict(ev.train) if ev.dataset is not None else None}

    @property
    def checkpoint(self) -> Path | None:
        return self.directory / "trials.jsonl" if self.directory is not None else None

    def _open(self) -> None:
        assert self.directory is not None
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise SearchError(f"cannot create the study directory: {exc}",
                              file=str(self.directory)) from None
        cfg_file = self.directory / "study.json"
        cfg = json.loads(json.dumps(self.config()))
        if cfg_file.exists():
            try:
                old = json.loads(cfg_file.read_text())
            except (OSError, json.JSONDecodeError) as exc:
                raise SearchError(f"unreadable study configuration: {exc}",
                                  file=str(cfg_file)) from None
            if old != cfg:
                diff = sorted(k for k in set(old) | set(cfg) if old.get(k) != cfg.get(k))
                raise SearchError("the directory holds a different search; use another --out "
                                  "or the same settings", file=str(cfg_file),
                                  differs=", ".join(diff))
        else:
            cfg_file.write_text(json.dumps(cfg, indent=1, sort_keys=True) + "\n")
        ck = self.checkpoint
        assert ck is not None
        if ck.exists():
            lines = ck.read_text().splitlines()
            for n, line in enumerate(lines, 1):
                if not line.strip():
                    continue
                try:
                    row = json.loads(line)
                    self.trials[int(row["trial"])] = row
                except (json.JSONDecodeError, KeyError, ValueError, TypeError):
                    if n == len(lines):                 # the last line, cut by an interrupt
                        ck.write_text("".join(x + "\n" for x in lines[:-1]))
                        continue
                    raise SearchError("corrupt checkpoint line", file=str(ck), line=n) from None

    def _record(self, row: dict[str, Any], tflite: bytes | None) -> None:
        idx = int(row["trial"])
        if tflite is not None:
            self.models[idx] = tflite
            if self.directory is not None:
                mdir = self.directory / "models"
                mdir.mkdir(exist_ok=True)
                path = mdir / f"trial_{idx:05d}.tflite"
                path.write_bytes(tflite)
                row["tflite_path"] = str(path)
        self.trials[idx] = row
        if self.checkpoint is not None:
            with self.checkpoint.open("a") as fh:
                fh.write(json.dumps(row, default=_jsonable) + "\n")

    # ------------------------------------------------------------------ running
    def _history(self) -> list[dict[str, Any]]:
        """The finished prefix ``0, 1, ..., k-1`` of the trials."""
        out = []
        while len(out) in self.trials:
            out.append(self.trials[len(out)])
        return out

    def optimize(self, rounds: int, *, executor: Any = None, progress: bool | None = None
                 ) -> pd.DataFrame:
        """Run until ``rounds`` trials are finished; return :meth:`dataframe`.

        Parameters
        ----------
        rounds
            Total trials (the initial population included).
        executor
            From :func:`~mcusim.search.nas.executors.make_executor` (default in process).
        progress
            Show a tqdm progress bar (``None``: when stderr is a terminal).
        """
        if rounds < 1:
            raise SearchError("rounds must be >= 1", rounds=rounds)
        ex = executor or InProcess()
        fit_bounds = self.bounds.fitness_bounds(self.evaluator.trained)
        bar = _progress(rounds, len([i for i in self.trials if i < rounds]), progress)
        running: dict[Any, tuple[int, float, float]] = {}
        try:
            while True:
                history = self._history()
                busy = {i for i, _s, _w in running.values()}
                todo = [i for i in range(rounds) if i not in self.trials and i not in busy]
                if not todo and not running:
                    break
                for i in todo:
                    if len(running) >= max(1, getattr(ex, "jobs", 1)):
                        break
                    if not self.strategy.ready(i, len(history)):
                        break
                    arch = self.strategy.propose(i, history, seed=self.seed, bounds=fit_bounds)
                    tseed = int(np.random.default_rng([self.seed, i, 1]).integers(2 ** 31))
                    started = time.time()
                    fut = ex.submit(evaluate_job, self.evaluator, arch.to_json(), tseed)
                    running[fut] = (i, started, tseed)
                    self._pending_arch[i] = arch
                if not running:
                    raise SearchError("the strategy proposes nothing although trials remain")
                done, _pending = ex.wait_any(list(running))
                for fut in done:
                    i, started, tseed = running.pop(fut)
                    arch = self._pending_arch.pop(i)
                    res = fut.result()
                    tflite = res.pop("tflite", None)
                    row = {"trial": i, "seed": tseed, "architecture": arch.to_json(),
                           "description": arch.describe(), **res}
                    viol = self.bounds.violations(row) if row["status"] == "ok" else ["failed"]
                    row.update(feasible=row["status"] == "ok" and not viol,
                               violations="; ".join(viol), started=started,
                               finished=time.time(), duration_s=time.time() - started)
                    self._record(row, tflite)
                    if bar is not None:
                        bar.update(1)
        finally:
            if bar is not None:
                bar.close()
        return self.dataframe()

    # ------------------------------------------------------------------ results
    def dataframe(self) -> pd.DataFrame:
        """All finished trials, one row each, by trial index."""
        rows = [self.trials[i] for i in sorted(self.trials)]
        return pd.DataFrame(rows)

    def pareto(self, objectives: Iterable[str] | None = None) -> pd.DataFrame:
        """The feasible trials no other feasible trial dominates (empty when none is feasible)."""
        df = self.dataframe()
        if df.empty or "feasible" not in df:
            return df.iloc[0:0]
        objs = list(objectives or [o for o in OBJECTIVES
                                   if o != "error" or self.evaluator.trained])
        ok = df[df["feasible"].astype(bool)]
        if ok.empty:
            return ok
        mask = pareto_mask(ok[objs].to_numpy(np.float64))
        front = ok[mask]
        return front.drop_duplicates(subset=objs).sort_values(objs[0]).reset_index(drop=True)

    def message(self) -> str:
        """One line on the outcome (what the CLI prints)."""
        df = self.dataframe()
        if df.empty:
            return "no trial has run"
        n_ok = int((df["status"] == "ok").sum())
        n_feas = int(df["feasible"].sum())
        if n_feas == 0:
            lim = ", ".join(f"{k} <= {v:g}" for k, v in self.bounds.limits().items() if v)
            return (f"none of the {len(df)} candidates ({n_ok} evaluated) meets the bounds "
                    f"({lim}): the Pareto front is empty")
        return f"{n_feas} of {len(df)} candidates meet the bounds; {len(self.pareto())} on the front"


def _jsonable(v: Any) -> Any:
    if isinstance(v, (np.integer,)):
        return int(v)
    if isinstance(v, (np.floating,)):
        return float(v)
    if isinstance(v, np.ndarray):
        return v.tolist()
    if isinstance(v, (np.bool_,)):
        return bool(v)
    return str(v)


def _progress(total: int, initial: int, enabled: bool | None) -> Any:
    import sys

    if enabled is None:
        enabled = sys.stderr.isatty()
    if not enabled:
        return None
    try:
        from tqdm import tqdm
    except ImportError:
        return None
    return tqdm(total=total, initial=initial, desc="nas", unit="trial")
