"""Scoring a text: the model reads it as one stream, state carried from a zero start, and
every character after the first is predicted."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .batches import text_windows
from .model import Model

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


def score_text(model: Model, ids: np.ndarray) -> Score:
    """Mean loss over `ids` (1-D) read as one stream; the first id is only context."""
    state, total, count = model.zero_state(1), 0.0, 0
    for x, y in text_windows(ids, chunk=EVAL_CHUNK):
        total += model.loss(x, y, state)
        count += x.size
    return Score(count, total / count if count else float("nan"))
