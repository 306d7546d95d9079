"""Helpers of the model tests: where the shared real models are, and TFLite Micro as oracle."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

#: The MLPerf Tiny int8 reference models (see their README).
SHARED_MODEL_FILES = ("kws_ref_model.tflite", "pretrainedResnet_quant.tflite")


def shared_models_dir() -> Path | None:
    """The shared models folder (:func:`mcusim._paths.shared_models_dir`) when it holds both
    models, else ``None``."""
    from mcusim._paths import shared_models_dir as find

    folder = find()
    return folder.resolve() if all((folder / f).is_file() for f in SHARED_MODEL_FILES) else None


def shared_model(name: str) -> Path:
    """Path of a shared model, or skip the test saying where it was looked for."""
    d = shared_models_dir()
    if d is None:
        pytest.skip("the shared real models are absent: set MCUSIM_SHARED_MODELS or put "
                    f"{', '.join(SHARED_MODEL_FILES)} in ../shared/models next to the repository")
    return d / name


def tflm_invoke(path: Path, x: np.ndarray) -> np.ndarray:
    """One inference of TFLite Micro's own interpreter (PyPI ``tflite-micro``)."""
    runtime = pytest.importorskip("tflite_micro.python.tflite_micro.runtime",
                                  reason="tflite-micro (test extra) is not installed")
    interp = runtime.Interpreter.from_file(str(path))
    interp.set_input(x, 0)
    interp.invoke()
    return interp.get_output(0)


def random_input(shape: tuple[int, ...], seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(-128, 128, size=shape).astype(np.int8)
