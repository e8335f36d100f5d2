"""Scoring a text: the model reads it as one stream, state carried from a zero start, and
every symbol after the first is predicted. The text streams through in windows, so the
memory it takes does not grow with its length."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .network import Model

EVAL_CHUNK = 512


@dataclass(frozen=True)
class Score:
    chars: int
    nats_per_char: float

    @property
    def bits_per_char(self) -> float:
        return self.nats_per_char / math.log(2)

    @property
    def perplexity(self) -> float:
        return math.exp(self.nats_per_char)


class StreamScorer:
    """Scores ids given chunk by chunk as one stream: the windows, and so every float sum, are
    those of the whole text cut into EVAL_CHUNK-symbol windows from its start, whatever the
    chunks were."""

    def __init__(self, model: Model):
        self.model = model
        self.state = model.zero_state(1)
        self.total, self.count = 0.0, 0
        self._pending = np.zeros(0, np.int32)  # ids not scored yet, after the last one scored

    def add(self, ids: np.ndarray) -> None:
        pending = np.concatenate([self._pending, np.asarray(ids, np.int32)])
        start = 0
        while pending.size - start > EVAL_CHUNK:  # a full window and the target after it
            self._window(pending[start:start + EVAL_CHUNK + 1])
            start += EVAL_CHUNK
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


def score_text(model: Model, ids: np.ndarray) -> Score:
    """Mean loss over `ids` (1-D) read as one stream; the first id is only context."""
    scorer = StreamScorer(model)
    scorer.add(ids)
    return scorer.score()
