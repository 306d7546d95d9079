"""Training with Keras and full-integer quantisation with the TFLite converter.

TensorFlow is an optional extra (``pip install -e ".[search]"``); it is imported on first
use, with one intra-op and one inter-op thread per process (workers run in parallel) and
deterministic ops.  :func:`train_candidate` trains the float model of an architecture and
converts it with TFLite's reference int8 quantiser: ``Optimize.DEFAULT``, a representative
data set of training images, ``TFLITE_BUILTINS_INT8`` only, int8 input and output.  The
converted model is built with batch 1 (a fixed shape, so ``Flatten`` becomes one
``RESHAPE`` rather than a dynamic shape computation) and the trained weights.
"""

from __future__ import annotations

import contextlib
import os
import sys
from dataclasses import dataclass
from typing import Any

import numpy as np

from mcusim._optional import require
from mcusim.search.nas.data import Dataset
from mcusim.search.nas.space import Architecture, SearchSpace

__all__ = ["TrainConfig", "keras_model", "tensorflow", "train_candidate"]


@dataclass(frozen=True)
class TrainConfig:
    """Training of one candidate (kept to seconds on digits).

    Parameters
    ----------
    epochs, batch_size, learning_rate
        Adam on the sparse categorical cross-entropy of the logits.
    representative
        Training images the converter calibrates the activations on.
    """

    epochs: int = 8
    batch_size: int = 32
    learning_rate: float = 0.005
    representative: int = 100


_TF: Any = None


def tensorflow() -> Any:
    """TensorFlow, imported once per process with one thread and deterministic ops."""
    global _TF
    if _TF is None:
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
        tf = require("tensorflow", "search", purpose="training candidates of the search")
        try:
            tf.config.threading.set_intra_op_parallelism_threads(1)
            tf.config.threading.set_inter_op_parallelism_threads(1)
        except RuntimeError:           # already initialised by the caller: keep its setting
            pass
        tf.get_logger().setLevel("ERROR")
        _TF = tf
    return _TF


@contextlib.contextmanager
def _quiet() -> Any:
    """Silence the converter's prints and native log lines (file descriptors 1 and 2)."""
    sys.stdout.flush()
    sys.stderr.flush()
    saved = [os.dup(1), os.dup(2)]
    null = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(null, 1)
        os.dup2(null, 2)
        with contextlib.redirect_stdout(open(os.devnull, "w")):
            yield
    finally:
        sys.stdout.flush()
        os.dup2(saved[0], 1)
        os.dup2(saved[1], 2)
        for fd in saved + [null]:
            os.close(fd)


def keras_model(arch: Architecture, space: SearchSpace, *, batch_size: int | None = None) -> Any:
    """The float Keras model of ``arch`` (logits out)."""
    tf = tensorflow()
    L = tf.keras.layers
    space.check(arch)
    layers: list[Any] = [tf.keras.Input(space.input_shape, batch_size=batch_size)]
    for block in arch.blocks:
        for lay in block.layers:
            act = "relu" if lay.relu else None
            if lay.kind == "dwconv":
                layers.append(L.DepthwiseConv2D(lay.kernel, strides=lay.stride, padding="same",
                                                activation=act))
            else:
                layers.append(L.Conv2D(lay.channels, lay.kernel, strides=lay.stride,
                                       padding="same", activation=act))
        if block.pool == "max":
            layers.append(L.MaxPooling2D(2))
        elif block.pool == "avg":
            layers.append(L.AveragePooling2D(2))
    layers.append(L.Flatten())
    layers += [L.Dense(u, activation="relu") for u in arch.dense]
    layers.append(L.Dense(space.num_classes))
    return tf.keras.Sequential(layers)


def train_candidate(arch: Architecture, space: SearchSpace, data: Dataset,
                    config: TrainConfig = TrainConfig(), *, seed: int = 0) -> bytes:
    """Train ``arch`` on ``data`` and return its int8 ``.tflite`` flatbuffer.

    Deterministic in ``seed`` (Keras' global seeds, one thread, deterministic ops).
    """
    tf = tensorflow()
    tf.keras.utils.set_random_seed(int(seed) % (2 ** 31))
    model = keras_model(arch, space)
    model.compile(optimizer=tf.keras.optimizers.Adam(config.learning_rate),
                  loss=tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    model.fit(data.x_train, data.y_train, epochs=config.epochs, batch_size=config.batch_size,
              shuffle=True, verbose=0)
    fixed = keras_model(arch, space, batch_size=1)
    fixed.set_weights(model.get_weights())
    rep = data.x_train[:config.representative]

    def representative() -> Any:
        for i in range(len(rep)):
            yield [rep[i:i + 1]]

    conv = tf.lite.TFLiteConverter.from_keras_model(fixed)
    conv.optimizations = [tf.lite.Optimize.DEFAULT]
    conv.representative_dataset = representative
    conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    conv.inference_input_type = tf.int8
    conv.inference_output_type = tf.int8
    with _quiet():
        out = conv.convert()
    tf.keras.backend.clear_session()
    return bytes(out)
