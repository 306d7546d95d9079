"""Sweep a configuration table over a board: cached, resumable, on any executor.

:func:`run_batch` is the pure part: a batch of configuration rows in, result rows out (it
keeps one built machine per (family, board) in the worker process, see
:class:`mcusim.lut.runners.MachineCache`).  :func:`sweep` validates the table, serves what
the disk cache (:class:`mcusim.lut.cache.ResultCache`) already holds, cuts the rest into
batches, hands them to an executor chosen by the caller and writes every finished batch to
the cache at once, so an interrupted sweep resumes where it stopped.

Executors (chosen at the edge): :class:`InProcess`, :class:`ProcessPool` (all cores by
default) and :class:`DaskExecutor` (a ``distributed`` client: a ``LocalCluster`` or the
address of a running scheduler).  Dask's scheduler costs about 1 ms per task, hence batches
of 10-100 configurations.

Examples
--------
>>> configs = spaces.get_space("default", seed=0)                       # doctest: +SKIP
>>> res = sweep(configs, "stm32f469i", executor=ProcessPool())         # doctest: +SKIP
>>> res.table[["op", "cycles", "latency_ms"]].head()                    # doctest: +SKIP
"""

from __future__ import annotations

import functools
import os
import sys
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator, Protocol, Sequence

import multiprocessing as mp
import pandas as pd

from mcusim.errors import McusimError
from mcusim.lut.cache import ResultCache
from mcusim.lut.runners import (
    DATA_VERSION, RESULT_COLUMNS, MachineCache, firmware_hash, run_config,
)
from mcusim.lut.table import OnInvalid, config_key, iter_chunks, rows_of, validate

__all__ = ["DaskExecutor", "InProcess", "ProcessPool", "SweepResult", "make_executor",
           "run_batch", "sweep"]

BatchFn = Callable[[str, list[dict[str, Any]]], list[dict[str, Any]]]


@functools.cache
def _worker_machines() -> MachineCache:
    """The machines of this worker process (built on first use, kept for later batches)."""
    return MachineCache()


def run_batch(board: str, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Run a batch of validated configuration rows on ``board``.

    A row that fails under emulation comes back as ``{"row": ..., "error": reason}`` instead
    of stopping the batch.

    Returns
    -------
    list of dict
        One result per row (the configuration plus
        :data:`mcusim.lut.runners.RESULT_COLUMNS`, and the ``row`` number).
    """
    machines = _worker_machines()
    out = []
    for row in rows:
        try:
            res = run_config(machines, board, row)
        except (McusimError, RuntimeError, ValueError) as exc:
            res = {"error": f"{type(exc).__name__}: {exc}"}
        res["row"] = row["row"]
        out.append(res)
    return out


class Executor(Protocol):
    """Runs batches and yields their results as they finish."""

    def map_batches(self, fn: BatchFn, board: str,
                    batches: Sequence[list[dict[str, Any]]]) -> Iterator[list[dict[str, Any]]]:
        ...  # pragma: no cover


class InProcess:
    """Run the batches one after the other in this process."""

    def map_batches(self, fn: BatchFn, board: str,
                    batches: Sequence[list[dict[str, Any]]]) -> Iterator[list[dict[str, Any]]]:
        for batch in batches:
            yield fn(board, batch)


def _context() -> Any:
    methods = mp.get_all_start_methods()
    return mp.get_context("fork" if "fork" in methods else "spawn")


class ProcessPool:
    """A pool of worker processes (``jobs`` of them, default: all cores).

    Workers are forked where the OS can (no re-import, and scripts need no ``__main__``
    guard; the parent builds no machine, so no emulator state crosses the fork), else
    spawned; each builds its machines once and keeps them for all its batches.
    """

    def __init__(self, jobs: int | None = None) -> None:
        self.jobs = jobs or os.cpu_count() or 1

    def map_batches(self, fn: BatchFn, board: str,
                    batches: Sequence[list[dict[str, Any]]]) -> Iterator[list[dict[str, Any]]]:
        with ProcessPoolExecutor(self.jobs, mp_context=_context()) as pool:
            futures = [pool.submit(fn, board, b) for b in batches]
            try:
                for fut in as_completed(futures):
                    yield fut.result()
            finally:
                for fut in futures:
                    fut.cancel()


class DaskExecutor:
    """Dask ``distributed``: batches are tasks, each worker keeps its own machines.

    Parameters
    ----------
    client
        A ``distributed.Client``, or the address of a running scheduler
        (``tcp://host:8786``) to connect to.
    timeout
        Seconds to wait for the scheduler.
    """

    def __init__(self, client: Any, *, timeout: float = 20.0) -> None:
        try:
            from distributed import Client
        except ImportError:
            raise McusimError("Dask is not installed",
                              hint="pip install 'mcusim[cluster]' (dask[distributed])") from None
        if isinstance(client, str):
            try:
                client = Client(client, timeout=timeout)
            except (OSError, TimeoutError) as exc:
                raise McusimError(f"cannot reach the Dask scheduler: {exc}",
                                  address=client) from None
        self.client = client

    def map_batches(self, fn: BatchFn, board: str,
                    batches: Sequence[list[dict[str, Any]]]) -> Iterator[list[dict[str, Any]]]:
        from distributed import as_completed as dask_completed

        futures = [self.client.submit(fn, board, b, pure=False) for b in batches]
        try:
            for fut in dask_completed(futures):
                yield fut.result()
        finally:
            self.client.cancel(futures)


def make_executor(jobs: int | None = None, cluster: str | None = None) -> Executor:
    """The executor for ``--jobs``/``--cluster``: Dask when an address is given, else a
    process pool (``jobs`` > 1 or None = all cores) or in-process (``jobs == 1``)."""
    if cluster:
        return DaskExecutor(cluster)
    if jobs == 1:
        return InProcess()
    return ProcessPool(jobs)


@dataclass
class SweepResult:
    """What a sweep returns.

    Attributes
    ----------
    table
        One row per valid configuration that ran (input order): the input columns plus
        :data:`mcusim.lut.runners.RESULT_COLUMNS`.
    invalid
        Rows rejected by validation or failed under emulation, with ``reason``.
    ran, cached
        How many rows were simulated now / served from the cache.
    """

    table: pd.DataFrame
    invalid: pd.DataFrame
    ran: int = 0
    cached: int = 0
    hashes: dict[str, str] = field(default_factory=dict)


def _progress(total: int, enabled: bool | None, board: str) -> Any:
    from tqdm import tqdm

    disable = (not sys.stderr.isatty()) if enabled is None else not enabled
    return tqdm(total=total, unit="cfg", desc=f"sweep {board}", disable=disable,
                dynamic_ncols=True)


def sweep(configs: pd.DataFrame, board: str, *, executor: Executor | None = None,
          cache: ResultCache | None | bool = True, batch_size: int = 25,
          on_invalid: OnInvalid = "skip", progress: bool | None = None,
          batch_fn: BatchFn = run_batch, source: str | None = None) -> SweepResult:
    """Measure every configuration of ``configs`` on ``board``.

    Parameters
    ----------
    configs
        A configuration table (:mod:`mcusim.lut.table`); extra columns are carried through.
    board
        Board name or profile path.
    executor
        Where batches run (default :class:`InProcess`).
    cache
        A :class:`ResultCache`, True for the default one, False/None for none.
    batch_size
        Configurations per task (10-100 suits Dask).
    on_invalid
        ``"skip"`` invalid rows (returned in ``invalid``) or ``"reject"`` the table.
    progress
        Show a progress bar with rate and ETA (default: when stderr is a terminal).
    batch_fn
        The batch function (tests substitute one that fails midway).
    source
        File name for error messages.

    Returns
    -------
    SweepResult
    """
    from mcusim.boards import get_board

    board_name = get_board(board).name
    valid, invalid = validate(configs, on_invalid, source=source)
    store = ResultCache() if cache is True else (cache or None)
    rows = rows_of(valid)
    hashes = {fam: firmware_hash(board, fam) for fam in sorted(valid["family"].unique())}
    keys = [f"{config_key(r)}-d{DATA_VERSION}" for r in rows]
    done: dict[int, dict[str, Any]] = {}
    todo: list[dict[str, Any]] = []
    for r, key in zip(rows, keys):
        hit = store.get(board_name, hashes[r["family"]]).get(key) if store else None
        if hit is not None:
            done[r["row"]] = hit
        else:
            todo.append(r)
    cached = len(done)
    todo.sort(key=lambda r: (r["family"], r["row"]))
    batches = list(iter_chunks(todo, max(1, batch_size)))
    errors: list[dict[str, Any]] = []
    by_row = {r["row"]: (r, k) for r, k in zip(rows, keys)}
    bar = _progress(len(todo), progress, board_name)
    try:
        for results in (executor or InProcess()).map_batches(batch_fn, board, batches):
            good = []
            for res in results:
                row, key = by_row[res["row"]]
                if "error" in res:
                    errors.append({**row, "reason": res["error"]})
                    continue
                res = {k: v for k, v in res.items() if k != "row"}
                done[row["row"]] = res
                good.append((key, res))
            if store and good:
                for fam in {by_row[r["row"]][0]["family"] for r in results}:
                    store.put(board_name, hashes[fam],
                              [(k, v) for k, v in good if v["family"] == fam])
            bar.update(len(results))
    finally:
        bar.close()
    table = _assemble(rows, done)
    if errors:
        invalid = pd.concat([invalid, pd.DataFrame(errors)], ignore_index=True)
    return SweepResult(table, invalid, ran=len(done) - cached, cached=cached, hashes=hashes)


def _assemble(rows: list[dict[str, Any]], done: dict[int, dict[str, Any]]) -> pd.DataFrame:
    out = []
    for r in rows:
        res = done.get(r["row"])
        if res is None:
            continue
        merged = {k: v for k, v in r.items() if k != "row"}
        merged.update({c: res[c] for c in RESULT_COLUMNS})
        out.append(merged)
    frame = pd.DataFrame(out)
    return frame
