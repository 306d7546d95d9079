"""Quantisation-aware training with learned step sizes (LSQ, Esser et al. 2020) in
TensorFlow/Keras, and the export of the trained model to a mixed-precision graph.

A graph (its structure and de-quantised weights as the starting point) becomes a Keras
model in which

- every conv / depthwise / fc layer quantises its weights per output channel,
  ``w_q = s clip(round(w / s), -2^(b-1), 2^(b-1) - 1)``, with a trained step ``s`` per
  channel;
- every activation tensor written by a conv / depthwise / fc / add is quantised with a
  trained step: unsigned ``[0, 2^b - 1]`` after a ReLU, signed ``[-2^(b-1), 2^(b-1) - 1]``
  otherwise (zero point 0 in the real domain either way);
- rounding has the straight-through estimator, the step's gradient is scaled by
  ``1 / sqrt(N Q_p)`` (LSQ), and the steps are re-initialised to ``2 mean|x| / sqrt(Q_p)``
  whenever the bits change;
- bit widths are ``tf.Variable`` s, so one compiled model serves every policy of a search.

The export (:meth:`QatModel.export`) writes the integers the firmware computes with: int8
or low-bit symmetric weights ``round(w / s)``, int32 biases ``round(b / (s_in s_w))``, and
tensor quantisations ``(s, zp)`` (8 bits: TFLite int8, ``zp = -128`` after a ReLU, else 0;
2/4 bits: unsigned, ``zp = 0`` after a ReLU, else ``2^(b-1)``), so the exported graph's
integer inference (:func:`mcusim.model.lower_packed.run_reference_mixed`) is what the
emulated board computes, bit for bit; it differs from the Keras fake-quantised model only
by the requantisation's fixed-point rounding and the bias rounding.

Requires the optional extra ``search`` (tensorflow-cpu); :func:`require_tf` raises a clear
:class:`~mcusim.errors.McusimError` without it.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any, Mapping

import numpy as np

from mcusim.errors import McusimError, ModelError
from mcusim.model.graph import Graph, Quant
from mcusim.search.quant.policy import Policy

__all__ = ["QatModel", "require_tf"]


def require_tf() -> Any:
    """Import TensorFlow (quietly), or raise McusimError naming the extra to install."""
    import os

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    try:
        import tensorflow as tf
    except ImportError:
        raise McusimError("the bit-width search needs TensorFlow: pip install 'mcusim[search]'"
                          ) from None
    tf.get_logger().setLevel("ERROR")
    return tf


def _layers(tf: Any) -> dict[str, Any]:
    """The custom Keras layers (defined once TensorFlow is imported)."""
    keras = tf.keras

    def ste_round(x: Any) -> Any:
        return x + tf.stop_gradient(tf.round(x) - x)

    def grad_scale(s: Any, g: Any) -> Any:
        return tf.stop_gradient(s - s * g) + s * g

    def fake_quant(x: Any, step: Any, qn: Any, qp: Any, n: Any) -> Any:
        g = 1.0 / tf.sqrt(n * qp)
        s = grad_scale(tf.abs(step) + 1e-8, g)
        return ste_round(tf.clip_by_value(x / s, qn, qp)) * s

    class ActQuant(keras.layers.Layer):
        """LSQ activation quantiser (unsigned after a ReLU, else signed)."""

        def __init__(self, unsigned: bool, **kw: Any) -> None:
            super().__init__(**kw)
            self.unsigned = unsigned

        def build(self, shape: Any) -> None:
            self.step = self.add_weight(name="step", shape=(), initializer="ones")
            self.bits = self.add_weight(name="bits", shape=(), trainable=False,
                                        initializer=keras.initializers.Constant(8.0))
            self.enabled = self.add_weight(name="enabled", shape=(), trainable=False,
                                           initializer="zeros")
            self.n = float(np.prod([d for d in shape[1:]]))

        def bounds(self) -> tuple[Any, Any]:
            if self.unsigned:
                return tf.zeros(()), tf.pow(2.0, self.bits) - 1.0
            half = tf.pow(2.0, self.bits - 1.0)
            return -half, half - 1.0

        def call(self, x: Any) -> Any:
            qn, qp = self.bounds()
            q = fake_quant(x, self.step, qn, qp, self.n)
            return self.enabled * q + (1.0 - self.enabled) * x

    class QLayer(keras.layers.Layer):
        """conv / depthwise / fc with LSQ per-channel weight quantisation."""

        def __init__(self, kind: str, w0: np.ndarray, b0: np.ndarray, stride: int, **kw: Any):
            super().__init__(**kw)
            self.kind, self.w0, self.b0, self.stride_ = kind, w0, b0, stride

        def build(self, shape: Any) -> None:
            self.kernel = self.add_weight(name="kernel", shape=self.w0.shape,
                                          initializer=keras.initializers.Constant(self.w0))
            self.bias = self.add_weight(name="bias", shape=self.b0.shape,
                                        initializer=keras.initializers.Constant(self.b0))
            ch = self.w0.shape[-1] if self.kind != "dwconv" else self.w0.shape[2]
            self.step = self.add_weight(name="step", shape=(ch,), initializer="ones")
            self.bits = self.add_weight(name="bits", shape=(), trainable=False,
                                        initializer=keras.initializers.Constant(8.0))
            self.enabled = self.add_weight(name="enabled", shape=(), trainable=False,
                                           initializer="zeros")
            self.n = float(np.prod(self.w0.shape)) / ch

        def qweights(self) -> Any:
            half = tf.pow(2.0, self.bits - 1.0)
            step = self.step if self.kind != "dwconv" else tf.reshape(self.step, (-1, 1))
            q = fake_quant(self.kernel, step, -half, half - 1.0, self.n)
            return self.enabled * q + (1.0 - self.enabled) * self.kernel

        def call(self, x: Any) -> Any:
            w = self.qweights()
            s = self.stride_
            if self.kind == "conv":
                y = tf.nn.conv2d(x, w, (1, s, s, 1), "VALID")
            elif self.kind == "dwconv":
                y = tf.nn.depthwise_conv2d(x, w, (1, s, s, 1), "VALID")
            else:
                y = tf.matmul(x, w)
            return y + self.bias

    return {"ActQuant": ActQuant, "QLayer": QLayer}


class QatModel:
    """A Keras LSQ model built from a graph (see the module docstring).

    Parameters
    ----------
    graph
        The int8 graph (structure; de-quantised weights as the starting point).
    seed
        TensorFlow's random seed.
    """

    def __init__(self, graph: Graph, *, seed: int = 0) -> None:
        tf = require_tf()
        self.tf = tf
        tf.keras.utils.set_random_seed(seed)
        self.graph = graph
        L = _layers(tf)
        keras = tf.keras
        t_in = graph.tensors[graph.inputs[0]]
        inp = keras.Input(shape=t_in.shape[1:], name="input")
        vals: dict[int, Any] = {graph.inputs[0]: inp}
        self.qlayers: dict[int, Any] = {}
        self.aquant: dict[int, Any] = {}     # tensor index -> ActQuant
        self.logits_tensor = None
        for i, op in enumerate(graph.operators):
            x = vals[op.inputs[0]]
            p = op.params
            y_t = graph.tensors[op.outputs[0]]
            where = {"model": graph.source or graph.name, "operator": f"{i} ({op.name})"}
            if op.kind in ("conv", "dwconv", "fc"):
                w = graph.tensors[op.inputs[1]]
                b = graph.tensors[op.inputs[2]]
                wr = _dequant(w)
                br = np.asarray(b.data, np.float64) * _scales(b, b.num_elements)
                if op.kind == "conv":
                    w0 = np.transpose(wr, (1, 2, 3, 0))           # OHWI -> HWIO
                elif op.kind == "dwconv":
                    w0 = np.transpose(wr[0], (0, 1, 2))[..., None]  # 1HWC -> HWC1
                else:
                    w0 = wr.reshape(wr.shape[0], -1).T
                    x = keras.layers.Flatten()(x) if len(x.shape) > 2 else x
                if op.kind != "fc" and any(p.padding):
                    t, l, bo, r = p.padding
                    x = keras.layers.ZeroPadding2D(((t, bo), (l, r)))(x)
                ql = L["QLayer"](op.kind, w0.astype(np.float32), br.astype(np.float32),
                                 p.stride[0], name=f"q{i}")
                y = ql(x)
                self.qlayers[i] = ql
                y = _activation(tf, y, p.activation)
                aq = L["ActQuant"](p.activation != "none", name=f"a{op.outputs[0]}")
                y = aq(y)
                self.aquant[op.outputs[0]] = aq
            elif op.kind == "add":
                y = keras.layers.Add()([x, vals[op.inputs[1]]])
                y = _activation(tf, y, p.activation)
                aq = L["ActQuant"](p.activation != "none", name=f"a{op.outputs[0]}")
                y = aq(y)
                self.aquant[op.outputs[0]] = aq
            elif op.kind in ("maxpool", "avgpool"):
                if any(p.padding):
                    if op.kind == "avgpool":
                        raise ModelError("padded average pooling is not supported by the QAT "
                                         "model", **where)
                    t, l, bo, r = p.padding
                    x = keras.layers.ZeroPadding2D(((t, bo), (l, r)))(x)
                pool = keras.layers.MaxPooling2D if op.kind == "maxpool" else \
                    keras.layers.AveragePooling2D
                y = pool(p.filter, p.stride, "valid")(x)
            elif op.kind == "reshape":
                y = keras.layers.Reshape(y_t.shape[1:])(x)
            elif op.kind == "softmax":
                y = x  # trained on logits; the export keeps the graph's softmax
                self.logits_tensor = op.inputs[0]
            else:
                raise ModelError(f"no QAT layer for {op.kind!r}", **where)
            vals[op.outputs[0]] = y
        out = vals[graph.outputs[0]]
        if len(out.shape) > 2:
            out = keras.layers.Flatten()(out)
        self.model = keras.Model(inp, out)
        self._float_weights = None
        self._compiled_lr: float | None = None

    # ------------------------------------------------------------------ training
    def _compile(self, lr: float) -> None:
        if self._compiled_lr != lr:
            keras = self.tf.keras
            self.model.compile(optimizer=keras.optimizers.Adam(lr),
                               loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                               metrics=["accuracy"])
            self._compiled_lr = lr

    def set_quant(self, enabled: bool) -> None:
        """Switch fake quantisation on or off (off: the float model)."""
        for layer in list(self.qlayers.values()) + list(self.aquant.values()):
            layer.enabled.assign(1.0 if enabled else 0.0)

    def pretrain(self, x: np.ndarray, y: np.ndarray, *, epochs: int, lr: float = 3e-3,
                 batch: int = 64) -> float:
        """Train the float model (quantisation off); keeps the result as the start of every
        fine-tune.  Returns the last epoch's training accuracy."""
        self.set_quant(False)
        self._compile(lr)
        h = self.model.fit(x, y, epochs=epochs, batch_size=batch, verbose=0, shuffle=True)
        self._float_weights = [w.copy() for w in self.model.get_weights()]
        return float(h.history["accuracy"][-1]) if epochs else float("nan")

    def apply(self, policy: Policy, x_calib: np.ndarray) -> None:
        """Restore the pre-trained weights, set the bits of ``policy`` and initialise the
        steps (LSQ) from the weights and from the float activations of ``x_calib``."""
        if self._float_weights is None:
            self._float_weights = [w.copy() for w in self.model.get_weights()]
        self.model.set_weights(self._float_weights)
        self.set_quant(False)
        for i, ql in self.qlayers.items():
            ql.bits.assign(float(policy.bits[i][0]))
            w = ql.kernel.numpy()
            qp = 2.0 ** (policy.bits[i][0] - 1) - 1.0
            axes = tuple(range(w.ndim - 1)) if ql.kind != "dwconv" else (0, 1, 3)
            ql.step.assign(np.maximum(2 * np.abs(w).mean(axis=axes) / np.sqrt(qp), 1e-8)
                           .astype(np.float32))
        probe = self.tf.keras.Model(self.model.input,
                                    [aq.output for aq in self.aquant.values()])
        outs = probe(x_calib, training=False)
        outs = outs if isinstance(outs, (list, tuple)) else [outs]
        for (t, aq), o in zip(self.aquant.items(), outs):
            b = policy.tensor_bits.get(t, 8)
            aq.bits.assign(float(b))
            qp = 2.0 ** b - 1.0 if aq.unsigned else 2.0 ** (b - 1) - 1.0
            aq.step.assign(max(2 * float(np.abs(np.asarray(o)).mean()) / np.sqrt(qp), 1e-6))
        self.set_quant(True)

    def finetune(self, x: np.ndarray, y: np.ndarray, *, epochs: int, lr: float = 1e-3,
                 batch: int = 64) -> None:
        """QAT: train weights and steps with quantisation on."""
        self.set_quant(True)
        self._compile(lr)
        if epochs:
            self.model.fit(x, y, epochs=epochs, batch_size=batch, verbose=0, shuffle=True)

    def accuracy(self, x: np.ndarray, y: np.ndarray) -> float:
        """Top-1 accuracy of the (fake-quantised) Keras model."""
        logits = self.model.predict(x, verbose=0, batch_size=256)
        return float((np.argmax(logits, axis=1) == y).mean())

    # ------------------------------------------------------------------ export
    def export(self, policy: Policy, kernels: Mapping[int, str]) -> Graph:
        """The trained model as a mixed-precision graph (see the module docstring)."""
        from mcusim.search.quant.mixed import set_kernels

        g = self.graph
        tensors = list(g.tensors)
        qof: dict[int, Quant] = {g.inputs[0]: g.tensors[g.inputs[0]].quant}  # type: ignore[dict-item]
        for i, op in enumerate(g.operators):
            t = op.outputs[0]
            if t in self.aquant:
                aq = self.aquant[t]
                b = policy.tensor_bits.get(t, 8)
                s = float(np.float32(abs(float(aq.step.numpy())) + 1e-8))
                if b == 8:
                    zp = -128 if aq.unsigned else 0
                else:
                    zp = 0 if aq.unsigned else 1 << (b - 1)
                qof[t] = Quant((s,), (zp,))
            elif op.kind in ("maxpool", "avgpool", "reshape"):
                qof[t] = qof[op.inputs[0]]
            else:  # softmax keeps the graph's
                qof[t] = g.tensors[t].quant  # type: ignore[assignment]
            tensors[t] = replace(tensors[t], quant=qof[t], bits=policy.tensor_bits.get(t, 8))
            if i in self.qlayers:
                ql = self.qlayers[i]
                wb = policy.bits[i][0]
                half = 1 << (wb - 1)
                steps = (np.abs(np.asarray(ql.step.numpy(), np.float32)) + np.float32(1e-8)).astype(np.float64)
                k = ql.kernel.numpy().astype(np.float64)
                if ql.kind == "conv":
                    wr = np.transpose(k, (3, 0, 1, 2))        # HWIO -> OHWI
                    q = np.clip(np.round(wr / steps[:, None, None, None]), -half, half - 1)
                elif ql.kind == "dwconv":
                    wr = k[..., 0][None]                      # HWC1 -> 1HWC
                    q = np.clip(np.round(wr / steps[None, None, None, :]), -half, half - 1)
                else:
                    wr = k.T
                    q = np.clip(np.round(wr / steps[:, None]), -half, half - 1)
                wt = g.tensors[op.inputs[1]]
                tensors[op.inputs[1]] = replace(
                    wt, data=q.astype(np.int8).reshape(wt.shape), bits=wb,
                    quant=Quant(tuple(float(s) for s in steps), (0,) * steps.size,
                                0 if ql.kind != "dwconv" else 3))
                s_in = qof[op.inputs[0]].scalar[0]
                bq = np.round(ql.bias.numpy().astype(np.float64) / (s_in * steps))
                bt = g.tensors[op.inputs[2]]
                tensors[op.inputs[2]] = replace(
                    bt, data=np.clip(bq, -(1 << 31), (1 << 31) - 1).astype(np.int32),
                    quant=Quant(tuple(float(s_in * s) for s in steps), (0,) * steps.size, 0))
        out = replace(g, tensors=tuple(tensors))
        return set_kernels(out, policy, kernels)


def _activation(tf: Any, y: Any, kind: str) -> Any:
    if kind == "relu":
        return tf.keras.layers.ReLU()(y)
    if kind == "relu6":
        return tf.keras.layers.ReLU(max_value=6.0)(y)
    return y


def _scales(t: Any, n: int) -> np.ndarray:
    s = np.asarray(t.quant.scale, np.float64)
    return np.full(n, s[0]) if s.size == 1 else s


def _dequant(t: Any) -> np.ndarray:
    q = np.asarray(t.data, np.float64).reshape(t.shape)
    s = np.asarray(t.quant.scale, np.float64)
    if s.size == 1:
        return q * s[0]
    shape = [1] * q.ndim
    shape[t.quant.axis if t.quant.axis is not None else 0] = s.size
    return q * s.reshape(shape)
