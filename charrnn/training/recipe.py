"""The model and training a time budget buys: what `charrnn train FILE --time T` trains when
no size (hidden, layers) is given.

The rule (measured on tinyshakespeare, corpora/plays.txt and Python's standard library; the
figures are in docs/recipe.md):
1. Size. The LSTMs of SIZES (one layer of 128, then two layers of 128 up) are probed smallest
   first: a few timed steps each on this machine, in this precision. The largest whose budget
   still buys MIN_STEPS optimiser steps is chosen: past that, a larger model is better per
   step, but it gets too few of them. The smallest, 1x128, is taken whatever it buys: on a slow
   CPU a short budget buys a 2x256 too few steps to learn anything. Nor is a size taken whose
   weights outnumber PARAMS_PER_CHAR times the training text's characters: a small text is
   learnt by heart by a large model long before the budget ends, whatever the dropout.
2. Dropout, from the passes over the text the budget allows (epochs). Text seen once cannot
   be memorised: up to one epoch nothing is dropped. Past it, dropout of the layers' outputs
   rises with the log of the passes, to MAX_DROPOUT at 8 passes and beyond.
3. Schedule. Linear warmup over WARMUP steps, then cosine decay to MIN_LR_FRAC of the rate
   at the end of the budget; from MIN_EMA_STEPS steps on, the weights' moving average (EMA)
   is what is validated, kept as best and sampled.

The options the rule chooses that were given explicitly stay as given (a given --dropout,
say, is the dropout whatever the size).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

# (layers, hidden), smallest first. Where a budget buys a 2x256 its MIN_STEPS, it beats a 2x128 with
# twice the steps (2 minutes on a 2-core Xeon: tinyshakespeare 1.568 against 1.504 nats/char); where
# it does not, fewer weights learn more (60 s on one AVX2 core, 48 KB of Python: 2x256 in 176 steps
# 2.095 nats/char, 2x128 in 599 steps 1.868, 1x128 in 1,500 steps 1.818).
SIZES = ((1, 128), (2, 128), (2, 256), (2, 384), (2, 512), (2, 768), (2, 1024))
BATCH, SEQ = 32, 64  # the defaults of charrnn train
PROBE_STEPS = 5  # timed steps per size (after two untimed)
PROBE_DROPOUT = 0.1  # the probe draws dropout masks (their cost does not depend on the rate)
MIN_STEPS = 3000
# At most this many weights per training character. 43.5k characters of Python (json's package),
# 60 s on one core of a Xeon, same dropout and schedule: 1x128 (3.2 weights a character) 1.809
# nats/char, 2x128 (6.6) 1.833; on one AVX2 core the same order (1.818 against 1.868). A 1M-character
# text keeps what the budget buys up to 2x512 (4.3).
PARAMS_PER_CHAR = 5
WARMUP = 100
MIN_LR_FRAC = 0.02
EMA = 0.999
MAX_DROPOUT = 0.3
MIN_EMA_STEPS = 2000  # fewer steps: no averaging (it lags behind weights that still move fast)

# what the rule chooses; any of them given explicitly stays as given
CHOSEN = ("hidden", "layers", "dropout", "schedule", "warmup", "min_lr_frac", "ema")
SIZE = ("hidden", "layers")  # either given: the rule does not run


@dataclass(frozen=True)
class Recipe:
    options: dict  # CHOSEN's options (the given ones as given)
    cell: str
    steps: int  # the optimiser steps the budget buys at the probed speed
    epochs: float
    chars_per_sec: float

    def describe(self) -> str:
        o = self.options
        dropout = f"dropout {o['dropout']:g}" if o["dropout"] else "no dropout"
        average = f", weights averaged (EMA {o['ema']:g})" if o["ema"] else ""
        return (f"{self.cell.upper()} {o['layers']}x{o['hidden']}, {dropout}, {o['schedule']} schedule{average}: "
                f"about {self.steps} steps ({self.epochs:.1f} epochs) at the {self.chars_per_sec:,.0f} chars/s "
                "measured here")


def dropout_for(epochs: float) -> float:
    """The dropout for this many passes over the text: none up to one pass, then rising with
    the log of the passes to MAX_DROPOUT at 8 passes and beyond."""
    if epochs <= 1:
        return 0.0
    return round(min(MAX_DROPOUT, MAX_DROPOUT * math.log2(epochs) / 3), 2)


def choose(seconds: float, train_chars: int, speed: Callable[[int, int], float], params: Callable[[int, int], int],
           given: dict, cell: str = "lstm") -> Recipe:
    """The recipe for `seconds` of training on `train_chars` characters; `speed(layers,
    hidden)` is the training chars/s of that size here (a probe), called smallest first and
    no further than needed; `params(layers, hidden)` its number of weights; `given` holds the
    options given explicitly (batch and seq count too), which stay."""
    chosen = None
    for layers, hidden in SIZES:
        if chosen is not None and params(layers, hidden) > PARAMS_PER_CHAR * train_chars:
            break
        rate = speed(layers, hidden)
        steps = int(rate * seconds / (given.get("batch", BATCH) * given.get("seq", SEQ)))
        if chosen is not None and steps < MIN_STEPS:
            break
        chosen = (layers, hidden, rate, steps)
    layers, hidden, rate, steps = chosen
    epochs = rate * seconds / train_chars
    options = dict(hidden=hidden, layers=layers, dropout=dropout_for(epochs), schedule="cosine",
                   warmup=min(WARMUP, steps // 10), min_lr_frac=MIN_LR_FRAC,
                   ema=EMA if steps >= MIN_EMA_STEPS else 0.0)
    options.update({k: v for k, v in given.items() if k in CHOSEN})
    return Recipe(options, cell, steps, epochs, rate)
