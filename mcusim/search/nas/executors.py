"""Where evaluations run, chosen at the edge: in process, local processes, or Dask.

Every executor has ``submit(fn, *args) -> future``, ``wait_any(futures) -> (done,
pending)`` and ``close()``; futures have ``result()``.  :func:`make_executor` picks one from
the command line's ``--jobs`` / ``--cluster``.

- :class:`InProcess` runs each job at submission (no parallelism; tests, debugging).
- :class:`LocalProcesses` is a ``concurrent.futures`` process pool (``spawn``: TensorFlow
  does not survive ``fork``), one TensorFlow thread per worker.
- :class:`DaskExecutor` submits to a ``distributed`` client: a ``LocalCluster`` of
  ``jobs`` single-threaded workers, or the scheduler at ``address``.

Examples
--------
>>> ex = InProcess()
>>> f = ex.submit(divmod, 7, 2)
>>> ex.wait_any([f])[0][0].result()
(3, 1)
"""

from __future__ import annotations

import concurrent.futures as cf
import multiprocessing as mp
import os
from typing import Any, Callable, Sequence

from mcusim._optional import require
from mcusim.search import SearchError

__all__ = ["DaskExecutor", "InProcess", "LocalProcesses", "make_executor"]


def _worker_init() -> None:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    for var in ("OMP_NUM_THREADS", "TF_NUM_INTRAOP_THREADS", "TF_NUM_INTEROP_THREADS"):
        os.environ[var] = "1"


class InProcess:
    """Run every job immediately in this process."""

    jobs = 1

    def submit(self, fn: Callable[..., Any], *args: Any) -> cf.Future:
        fut: cf.Future = cf.Future()
        try:
            fut.set_result(fn(*args))
        except BaseException as exc:  # delivered through result(), as the pools do
            fut.set_exception(exc)
        return fut

    def wait_any(self, futures: Sequence[Any]) -> tuple[list[Any], list[Any]]:
        return list(futures), []

    def close(self) -> None:
        pass


class LocalProcesses:
    """A pool of ``jobs`` local worker processes."""

    def __init__(self, jobs: int) -> None:
        self.jobs = max(1, int(jobs))
        self._pool = cf.ProcessPoolExecutor(self.jobs, mp_context=mp.get_context("spawn"),
                                            initializer=_worker_init)

    def submit(self, fn: Callable[..., Any], *args: Any) -> cf.Future:
        return self._pool.submit(fn, *args)

    def wait_any(self, futures: Sequence[Any]) -> tuple[list[Any], list[Any]]:
        done, pending = cf.wait(futures, return_when=cf.FIRST_COMPLETED)
        return [f for f in futures if f in done], [f for f in futures if f in pending]

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)


class DaskExecutor:
    """Jobs on a Dask ``distributed`` cluster (a ``LocalCluster`` when ``address`` is None)."""

    def __init__(self, address: str | None = None, *, jobs: int = 2) -> None:
        distributed = require("distributed", "search", purpose="Dask evaluation")
        self._distributed = distributed
        self._cluster = None
        try:
            if address is None:
                self._cluster = distributed.LocalCluster(
                    n_workers=max(1, jobs), threads_per_worker=1, processes=True,
                    dashboard_address=None)
                self._client = distributed.Client(self._cluster)
            else:
                self._client = distributed.Client(address, timeout="10s")
        except (OSError, TimeoutError) as exc:
            raise SearchError(f"cannot reach the Dask scheduler: {exc}", address=address) from None
        self._client.run(_worker_init)
        self.jobs = max(1, len(self._client.scheduler_info().get("workers", {})) or jobs)

    def submit(self, fn: Callable[..., Any], *args: Any) -> Any:
        return self._client.submit(fn, *args, pure=False)

    def wait_any(self, futures: Sequence[Any]) -> tuple[list[Any], list[Any]]:
        res = self._distributed.wait(list(futures), return_when="FIRST_COMPLETED")
        return [f for f in futures if f in res.done], [f for f in futures if f in res.not_done]

    def close(self) -> None:
        self._client.close()
        if self._cluster is not None:
            self._cluster.close()


def make_executor(jobs: int | None = 1, cluster: str | None = None) -> Any:
    """``cluster``: ``"local"`` (a Dask LocalCluster) or a scheduler address; else ``jobs``
    local processes (1: in process)."""
    if cluster:
        return DaskExecutor(None if cluster == "local" else cluster, jobs=jobs or 2)
    if jobs is None or jobs <= 1:
        return InProcess()
    return LocalProcesses(jobs)
