"""What the pricing changes: MACs as the latency proxy (μNAS) against mcusim's latency.

:func:`mac_comparison` takes evaluated candidates (with ``macs`` and ``latency_ms`` from a
simulated-latency model) and a latency bound, and reports the Spearman rank correlation
between MACs and latency, and the feasibility disagreements: a MAC proxy needs a MAC bound,
here the latency bound times the candidates' median MACs per millisecond (the best single
conversion factor a MAC-based search could use), so ``proxy_only`` counts candidates the MAC
proxy calls feasible that the simulated latency rejects, ``latency_only`` the reverse.

Examples
--------
>>> df = pd.DataFrame({"macs": [100, 200, 300, 400], "latency_ms": [1.0, 3.0, 2.0, 4.0],
...                    "status": ["ok"] * 4})
>>> r = mac_comparison(df, latency_bound_ms=2.5)
>>> r["spearman"], r["mac_bound"], r["proxy_only"], r["latency_only"]
(0.8, 250.0, 1, 1)
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from mcusim.search import SearchError

__all__ = ["mac_comparison", "spearman"]


def spearman(a: np.ndarray, b: np.ndarray) -> float:
    """Spearman's rank correlation (average ranks for ties)."""
    a = pd.Series(np.asarray(a, np.float64)).rank().to_numpy()
    b = pd.Series(np.asarray(b, np.float64)).rank().to_numpy()
    if len(a) < 2 or a.std() == 0 or b.std() == 0:
        return float("nan")
    return float(np.corrcoef(a, b)[0, 1])


def mac_comparison(df: pd.DataFrame, *, latency_bound_ms: float) -> dict[str, Any]:
    """Rank correlation and feasibility disagreement of MACs vs simulated latency.

    Raises
    ------
    SearchError
        Without ``macs``/``latency_ms`` columns or a positive bound.
    """
    if latency_bound_ms is None or not latency_bound_ms > 0:
        raise SearchError("the comparison needs a positive latency bound", bound=latency_bound_ms)
    for col in ("macs", "latency_ms"):
        if col not in df:
            raise SearchError(f"the candidates have no {col!r} column")
    ok = df[(df.get("status", "ok") == "ok") & df["macs"].notna() & df["latency_ms"].notna()]
    ok = ok[ok["latency_ms"] > 0]
    if ok.empty:
        return {"candidates": 0, "spearman": float("nan"), "macs_per_ms": float("nan"),
                "mac_bound": float("nan"), "proxy_only": 0, "latency_only": 0, "both": 0,
                "latency_bound_ms": float(latency_bound_ms)}
    macs = ok["macs"].to_numpy(np.float64)
    lat = ok["latency_ms"].to_numpy(np.float64)
    per_ms = float(np.median(macs / lat))
    mac_bound = per_ms * float(latency_bound_ms)
    by_macs = macs <= mac_bound
    by_lat = lat <= latency_bound_ms
    return {"candidates": int(len(ok)), "spearman": round(spearman(macs, lat), 6),
            "macs_per_ms": per_ms, "mac_bound": mac_bound,
            "proxy_only": int((by_macs & ~by_lat).sum()),
            "latency_only": int((~by_macs & by_lat).sum()),
            "both": int((by_macs & by_lat).sum()), "latency_bound_ms": float(latency_bound_ms)}
