"""Save and load a fitted predictor together with what it was trained on.

A saved predictor records the board, the families, the firmware hash of each family (see
:func:`mcusim.lut.runners.firmware_hash`) and the mcusim version; :meth:`BoundPredictor.check`
refuses another board or a changed firmware / board profile / core table unless forced.
The file is a pickle (as scikit-learn models are saved): load only files you trust.
"""

from __future__ import annotations

import pickle
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from mcusim import __version__
from mcusim.predict.analytical import PredictorError

__all__ = ["BoundPredictor", "fit_lut", "load_predictor"]

FORMAT = "mcusim-predictor/1"


@dataclass
class BoundPredictor:
    """A fitted estimator bound to the board and firmware of its training table.

    Attributes
    ----------
    estimator
        A fitted :class:`mcusim.predict.AnalyticalPredictor` or
        :class:`mcusim.predict.LearnedPredictor`.
    board
        Board name of the training table.
    hashes
        Family -> firmware hash of the training table.
    version
        mcusim version that fitted it.
    """

    estimator: Any
    board: str
    hashes: dict[str, str]
    version: str = __version__
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def families(self) -> list[str]:
        """Families the predictor was trained on."""
        return sorted(self.hashes)

    def check(self, board: str | None = None, *, force: bool = False) -> list[str]:
        """Problems with using this predictor for ``board`` now (empty when none).

        Raises
        ------
        PredictorError
            A problem was found and ``force`` is False.
        """
        from mcusim.boards import get_board
        from mcusim.lut.runners import firmware_hash

        problems = []
        name = get_board(board).name if board is not None else self.board
        if name != self.board:
            problems.append(f"trained on board {self.board}, asked for {name}")
        else:
            for fam, h in self.hashes.items():
                now = firmware_hash(name, fam)
                if now != h:
                    problems.append(f"firmware/board/core table of {fam!r} changed "
                                    f"(hash {h} at training, {now} now)")
        if problems and not force:
            raise PredictorError("predictor does not match: " + "; ".join(problems),
                                 hint="re-run the sweep and fit, or force it")
        return problems

    def predict(self, X: pd.DataFrame, *, board: str | None = None,
                force: bool = False) -> np.ndarray:
        """Check the board/firmware, then predict the cycles of every row of ``X``."""
        self.check(board, force=force)
        fams = set(pd.Series(X.get("family", pd.Series(["s8"] * len(X)))).fillna("s8"))
        unknown = sorted(fams - set(self.hashes))
        if unknown:
            raise PredictorError("family not in the training table", family=unknown[0],
                                 known=", ".join(self.families))
        return self.estimator.predict(X)

    def save(self, path: str | Path) -> Path:
        """Write the predictor (pickle) to ``path``."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("wb") as fh:
            pickle.dump({"format": FORMAT, "predictor": self}, fh)
        return path


def load_predictor(path: str | Path) -> BoundPredictor:
    """Read a predictor written by :meth:`BoundPredictor.save`.

    Raises
    ------
    PredictorError
        The file is missing or is not an mcusim predictor.
    """
    path = Path(path)
    try:
        with path.open("rb") as fh:
            data = pickle.load(fh)
    except FileNotFoundError:
        raise PredictorError("predictor file not found", file=str(path)) from None
    except (pickle.UnpicklingError, EOFError, AttributeError, ImportError) as exc:
        raise PredictorError(f"not a predictor file: {exc}", file=str(path)) from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise PredictorError("not an mcusim predictor file", file=str(path))
    return data["predictor"]


def fit_lut(lut: pd.DataFrame, estimator: Any) -> BoundPredictor:
    """Fit ``estimator`` on a sweep table (one board) and bind it to its board and hashes.

    Raises
    ------
    PredictorError
        The table is empty, holds several boards, or lacks ``cycles``/``hash``.
    """
    for col in ("board", "cycles", "hash", "family"):
        if col not in lut.columns:
            raise PredictorError(f"the table has no {col!r} column (is it a sweep result?)")
    if lut.empty:
        raise PredictorError("the table is empty")
    boards = sorted(lut["board"].unique())
    if len(boards) != 1:
        raise PredictorError("the table holds several boards; fit one per board",
                             boards=", ".join(boards))
    hashes: dict[str, str] = {}
    for fam, part in lut.groupby("family"):
        hs = sorted(part["hash"].unique())
        if len(hs) != 1:
            raise PredictorError("rows of one family come from different firmware",
                                 family=fam, hashes=", ".join(hs))
        hashes[str(fam)] = str(hs[0])
    estimator.fit(lut, lut["cycles"].to_numpy(float))
    return BoundPredictor(estimator, boards[0], hashes, meta={"rows": int(len(lut))})
