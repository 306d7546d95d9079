"""Realistic random quantised problems for the ``s8`` kernels (and for the families that
compare against them).

A problem is built the way a TFLite converter would quantise a float layer: float weights
``N(0, 1/sqrt(K))`` quantised symmetrically per output channel, float bias quantised to
int32 with ``input_scale * weight_scale``, an int8 input around a random zero point, and the
output scale and zero point calibrated on the layer's own accumulators.
"""

from __future__ import annotations

import numpy as np

from mcusim.kernels.layers import Layer
from mcusim.kernels.quant import (
    QParams, activation_range, choose_qparams, output_multipliers, quantize_bias,
    quantize_weights_per_channel,
)
from mcusim.kernels.s8_params import ConvParams

__all__ = ["make_problem"]


def _acc(layer: Layer, x: np.ndarray, w: np.ndarray, bias: np.ndarray,
         p: ConvParams) -> np.ndarray:
    from mcusim.kernels.s8_ref import conv_acc

    if layer.kind == "fc":
        return x.astype(np.int64) @ w.astype(np.int64).T + p.input_offset * w.astype(
            np.int64).sum(axis=1) + bias
    if layer.kind == "dwconv":
        # a depthwise layer is a grouped conv: evaluate channel by channel
        accs = [conv_acc(x[:, :, c:c + 1], w[None, :, :, c:c + 1], bias[c:c + 1], p)
                for c in range(x.shape[2])]
        return np.concatenate(accs, axis=2)
    return conv_acc(x, w, bias, p)


def make_problem(layer: Layer, rng: np.random.Generator, *, activation: str = "relu"
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray, ConvParams]:
    """Build a random quantised problem for ``layer``.

    Parameters
    ----------
    layer
        A :class:`mcusim.kernels.layers.Layer` of kind ``conv``, ``dwconv`` or ``fc``.
    rng
        Random generator (the problem is a pure function of its state).
    activation
        Fused activation: ``"none"``, ``"relu"`` or ``"relu6"``.

    Returns
    -------
    tuple
        ``(x, w, bias, params)``: ``x`` int8 ``[H, W, C]`` (``[K]`` for fc); ``w`` int8
        ``[C_OUT, KH, KW, C_IN]`` (conv), ``[KH, KW, C]`` (dwconv) or ``[C_OUT, K]`` (fc);
        ``bias`` int32 ``[C_OUT]``; ``params`` a :class:`ConvParams` with calibrated
        multipliers and shifts.
    """
    in_qp = QParams(float(0.02 * rng.uniform(0.5, 2.0)), int(rng.integers(-40, 40)))
    k = layer.k
    if layer.kind == "fc":
        x_shape: tuple[int, ...] = (layer.in_h * layer.in_w * layer.in_c,)
        w_shape: tuple[int, ...] = (layer.out_c, k)
    elif layer.kind == "dwconv":
        if layer.out_c != layer.in_c:
            raise ValueError(f"{layer.name}: depthwise needs out_c == in_c (multiplier 1)")
        x_shape = (layer.in_h, layer.in_w, layer.in_c)
        w_shape = (layer.in_c, layer.kh, layer.kw)          # channel first for quantising
    elif layer.kind == "conv":
        x_shape = (layer.in_h, layer.in_w, layer.in_c)
        w_shape = (layer.out_c, layer.kh, layer.kw, layer.in_c)
    else:
        raise ValueError(f"{layer.name}: unknown layer kind {layer.kind!r}")

    x = np.clip(np.round(rng.normal(in_qp.zero_point, 45.0, x_shape)), -128, 127).astype(np.int8)
    w, w_scales = quantize_weights_per_channel(rng.normal(0.0, 1.0 / np.sqrt(k), w_shape))
    if layer.kind == "dwconv":
        w = np.ascontiguousarray(w.transpose(1, 2, 0))
    bias = quantize_bias(rng.normal(0.0, 0.1, layer.out_c), in_qp.scale, w_scales)

    ones = np.ones(layer.out_c, dtype=np.int32)
    p = ConvParams(layer.stride, layer.pad, -in_qp.zero_point, 0, -128, 127, ones, ones)
    real = _acc(layer, x, w, bias, p) * (in_qp.scale * w_scales)
    out_qp = choose_qparams(float(real.min()), float(real.max()))
    mult, shift = output_multipliers(in_qp.scale, w_scales, out_qp.scale)
    lo, hi = activation_range(activation, out_qp)
    params = ConvParams(layer.stride, layer.pad, -in_qp.zero_point, out_qp.zero_point, lo, hi,
                        mult, shift)
    return x, w, bias, params
