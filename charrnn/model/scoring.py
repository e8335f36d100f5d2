"""Scoring a text: the model reads it as one stream, state carried from a zero start, and
every symbol after the first is predicted. The text streams through in windows, so the
memory it takes does not grow with its length. A model whose weights are so large that
float32 sums could overflow is scored in float64 (see scoring_model), so that it scores what
it scores (large), never infinity, NaN or a false 0.

Dynamic evaluation (Krause et al., 2018, their plain SGD rule) adapts the model to the text
as it scores it: each window is scored first, then the model takes one SGD step on that
window's mean loss (from the state the window started in), so what it learned there helps it
on the text that follows. It costs a forward and a backward pass per window more than static
scoring, and changes the model it is given: hand it a copy."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .network import Model

EVAL_CHUNK = 512
# Dynamic evaluation learns after every window of this many symbols: shorter windows adapt
# sooner (Krause et al. learnt every 20-50); 64 keeps the Python work per window small.
DYNAMIC_CHUNK = 64
# The best of 0.03, 0.1, 0.2, 0.3 for a 2x128 LSTM trained 800 and 3,000 steps on the first
# 400k characters of corpora/plays.txt, scored on 20k characters after 600k (1.94 bits/char
# static, 1.52 dynamic at 3,000 steps); 1.0 made it worse than static.
DYNAMIC_LR = 0.1
# Sums a float32 model may form while scoring (a preactivation, a logit) are kept far below
# float32's largest value (3.4e38), so that no order of summation or bf16 rounding overflows.
FLOAT32_SAFE = 1e30


@dataclass(frozen=True)
class Score:
    chars: int
    nats_per_char: float

    @property
    def bits_per_char(self) -> float:
        return self.nats_per_char / math.log(2)

    @property
    def perplexity(self) -> float:
        """e to the nats per character; infinity where that overflows a float."""
        try:
            return math.exp(self.nats_per_char)
        except OverflowError:
            return math.inf


def largest_sum(model: Model) -> float:
    """A bound on the magnitude of every preactivation and logit `model` computes: each is a
    sum of weights times inputs, the first layer's inputs bounded by the embedding and the
    others' (and the head's) by 1, as tanh, sigmoid and their products are."""
    cfg, p = model.config, model.params
    inputs, bound = float(np.abs(p["embed"]).max(initial=0.0)), 0.0
    for layer in range(cfg.layers):
        wx, wh = (np.abs(p[f"layer{layer}.{name}"]).sum(axis=1, dtype=np.float64) for name in ("wx", "wh"))
        sums = wx * inputs + wh + np.abs(p[f"layer{layer}.bx"]) + np.abs(p[f"layer{layer}.bh"])
        bound, inputs = max(bound, float(sums.max(initial=0.0)), inputs), 1.0
    head = np.abs(p["head.w"]).sum(axis=1, dtype=np.float64) + np.abs(p["head.b"])
    return max(bound, float(head.max(initial=0.0)))


def scoring_model(model: Model) -> Model:
    """`model`, or a float64 copy of it where its sums could overflow float32 (FLOAT32_SAFE):
    finite float32 weights never overflow float64's sums, so it scores what it scores."""
    if model.dtype != np.float32 or largest_sum(model) <= FLOAT32_SAFE:
        return model
    wide = Model(model.config, np.float64, model.threads)
    wide.flat[...] = model.flat
    return wide


class StreamScorer:
    """Scores ids given chunk by chunk as one stream: the windows, and so every float sum, are
    those of the whole text cut into `chunk`-symbol windows from its start, whatever the
    chunks were."""

    chunk = EVAL_CHUNK

    def __init__(self, model: Model):
        self.model = model
        self.state = model.zero_state(1)
        self.total, self.count = 0.0, 0
        self._pending = np.zeros(0, np.int32)  # ids not scored yet, after the last one scored

    def add(self, ids: np.ndarray) -> None:
        pending = np.concatenate([self._pending, np.asarray(ids, np.int32)])
        start = 0
        while pending.size - start > self.chunk:  # a full window and the target after it
            self._window(pending[start:start + self.chunk + 1])
            start += self.chunk
        self._pending = pending[start:]

    def score(self) -> Score:
        """The score of everything added (the last, shorter window included)."""
        if self._pending.size >= 2:
            self._window(self._pending)
            self._pending = self._pending[-1:]
        return Score(self.count, self.total / self.count if self.count else float("nan"))

    def _window(self, ids: np.ndarray) -> None:
        x, y = ids[:-1].reshape(-1, 1), ids[1:].reshape(-1, 1)
        self.total += self.model.loss(np.ascontiguousarray(x), np.ascontiguousarray(y), self.state)
        self.count += x.size


class DynamicScorer(StreamScorer):
    """A StreamScorer that adapts `model` (in place) to what it has scored by SGD with the
    learning rate `lr`, after every DYNAMIC_CHUNK symbols (see the module's note)."""

    chunk = DYNAMIC_CHUNK

    def __init__(self, model: Model, lr: float = DYNAMIC_LR):
        super().__init__(model)
        self.lr = lr

    def _window(self, ids: np.ndarray) -> None:
        x, y = np.ascontiguousarray(ids[:-1].reshape(-1, 1)), np.ascontiguousarray(ids[1:].reshape(-1, 1))
        start = self.state.copy()
        self.total += self.model.loss(x, y, self.state)  # scored before it is learned from
        self.count += x.size
        self.model.loss_and_grad(x, y, start)
        self.model.flat -= self.model.dtype.type(self.lr) * self.model.grad_flat


def score_text(model: Model, ids: np.ndarray) -> Score:
    """Mean loss over `ids` (1-D) read as one stream; the first id is only context."""
    scorer = StreamScorer(model)
    scorer.add(ids)
    return scorer.score()
