"""The RLQuant agent: REINFORCE with a moving-average baseline, a small TensorFlow policy
network over HAQ's per-layer state.

State of layer ``i`` (HAQ, Wang et al. 2019, eq. 1, normalised to [0, 1] over the network):
index, kind (conv / fc), depthwise flag, channels in and out, kernel size, stride, MACs,
weights, input size, and the previous layer's action ``(w_bits, a_bits) / 8``.  The
action is one of the nine ``(w_bits, a_bits)`` pairs in {2, 4, 8}^2.  An episode asks for a
bit pair for every layer in order; the budget is enforced afterwards
(:mod:`mcusim.search.quant.budget`) and the reward is the accuracy after a short
fine-tune.  The update is ``-sum_i log pi(a_i | s_i) (R - b)`` with ``b`` an exponential
moving average of the rewards (Williams 1992), minimised by Adam through TensorFlow's
automatic differentiation, where ``a_i`` are the *enforced* actions (as HAQ stores them).

Examples
--------
>>> agent = ReinforceAgent(num_features=13, seed=0)            # doctest: +SKIP
>>> acts = agent.act(states)                                   # doctest: +SKIP
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from mcusim.kernels.packed import PAIRS
from mcusim.model.graph import Graph

__all__ = ["ReinforceAgent", "layer_features"]


def layer_features(graph: Graph, layers: Sequence[int]) -> np.ndarray:
    """HAQ's static features of ``layers`` (without the previous action), ``[L, 11]``,
    each column divided by its maximum over the layers."""
    rows = []
    for pos, i in enumerate(layers):
        op = graph.operators[i]
        x = graph.tensors[op.inputs[0]]
        y = graph.tensors[op.outputs[0]]
        w = graph.tensors[op.inputs[1]]
        k = w.shape[1] if op.kind in ("conv", "dwconv") else 1
        rows.append([pos, op.kind == "conv", op.kind == "dwconv",
                     x.shape[-1] if op.kind != "fc" else x.num_elements, y.shape[-1], k,
                     op.params.stride[0] if op.kind != "fc" else 1, graph.macs(i),
                     w.num_elements, x.num_elements, op.kind == "fc"])
    f = np.asarray(rows, np.float64)
    top = np.abs(f).max(axis=0)
    return (f / np.where(top > 0, top, 1.0)).astype(np.float32)


class ReinforceAgent:
    """REINFORCE policy over the nine bit pairs (see the module docstring).

    Parameters
    ----------
    num_features
        State size (static features + 2 for the previous action).
    hidden
        Units of the two hidden layers.
    lr
        Adam learning rate.
    baseline_decay
        Decay of the reward's moving average.
    seed
        Seed of the network's initial weights and of the sampling.
    """

    def __init__(self, *, num_features: int, hidden: int = 32, lr: float = 0.02,
                 baseline_decay: float = 0.8, seed: int = 0) -> None:
        from mcusim.search.quant.qat import require_tf

        tf = require_tf()
        self.tf = tf
        init = tf.keras.initializers.GlorotUniform(seed=seed)
        self.net = tf.keras.Sequential([
            tf.keras.Input(shape=(num_features,)),
            tf.keras.layers.Dense(hidden, activation="tanh", kernel_initializer=init),
            tf.keras.layers.Dense(hidden, activation="tanh", kernel_initializer=init),
            tf.keras.layers.Dense(len(PAIRS), kernel_initializer="zeros"),
        ])
        self.opt = tf.keras.optimizers.Adam(lr)
        self.decay = baseline_decay
        self.baseline: float | None = None
        self.rng = np.random.default_rng(seed)

    def probabilities(self, state: np.ndarray) -> np.ndarray:
        """Action probabilities of one state."""
        logits = self.net(state[None].astype(np.float32), training=False).numpy()[0]
        p = np.exp(logits - logits.max())
        return p / p.sum()

    def act(self, static: np.ndarray, *, greedy: bool = False) -> tuple[list[tuple[int, int]],
                                                                         np.ndarray]:
        """Sample one episode's actions layer by layer; returns the pairs and the states."""
        prev = np.array([1.0, 1.0], np.float32)
        pairs, states = [], []
        for row in static:
            s = np.concatenate([row, prev]).astype(np.float32)
            p = self.probabilities(s)
            k = int(np.argmax(p)) if greedy else int(self.rng.choice(len(PAIRS), p=p))
            pairs.append(PAIRS[k])
            states.append(s)
            prev = np.array(PAIRS[k], np.float32) / 8.0
        return pairs, np.asarray(states)

    def update(self, static: np.ndarray, pairs: Sequence[tuple[int, int]], reward: float
               ) -> float:
        """One REINFORCE step on an episode's (enforced) actions; returns the advantage."""
        tf = self.tf
        prev = [np.array([1.0, 1.0], np.float32)] + [np.array(p, np.float32) / 8.0
                                                      for p in pairs[:-1]]
        states = np.stack([np.concatenate([r, q]) for r, q in zip(static, prev)]).astype(np.float32)
        actions = np.array([PAIRS.index(tuple(p)) for p in pairs], np.int32)
        adv = 0.0 if self.baseline is None else reward - self.baseline
        self.baseline = reward if self.baseline is None else (
            self.decay * self.baseline + (1 - self.decay) * reward)
        if adv == 0.0:
            return adv
        with tf.GradientTape() as tape:
            logp = tf.nn.log_softmax(self.net(states, training=True))
            chosen = tf.gather(logp, actions, axis=1, batch_dims=1)
            loss = -tf.reduce_sum(chosen) * adv
        grads = tape.gradient(loss, self.net.trainable_variables)
        self.opt.apply_gradients(zip(grads, self.net.trainable_variables))
        return float(adv)
