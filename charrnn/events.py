"""What a training run reports as it goes: `charrnn.train(..., on_event=callback)` calls
`callback(event)` with one of these, in this order: Reading (while the text is encoded),
Started, then per step Step, with Evaluated, Saved, Sampled and Recovered when they happen,
and Notice for anything else worth saying. Raise StopTraining from the callback, at any event,
to stop: the run finishes the step in progress (its evaluation and checkpoints), saves its
latest checkpoint and `train` returns. Events are plain frozen records; nothing in them is live.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


class StopTraining(Exception):
    """Raised from an `on_event` callback: finish the step, save the latest checkpoint and return the Run."""


@dataclass(frozen=True)
class Reading:
    """The text is being read and encoded: `bytes` more were read."""

    bytes: int


@dataclass(frozen=True, kw_only=True)
class Started:
    """Training starts (or resumes) at `step`.

    `total_steps` is where the steps or epochs budget ends (None with a time budget alone).
    The data: `chars` ids in `ids_path` (`reused` when the cache was valid already), `symbols`
    in the vocabulary, `unknown` when one of them is the unknown symbol. The products run in
    `precision` ("fp32", "bf16") on `kernel` (a key of model.config.KERNELS, or the torch engine's),
    compiled for `isa` (the level of kernels/cpu.py, $CHARRNN_ISA; None with the torch engine)."""

    run_dir: Path
    run: str
    step: int
    resumed: bool
    total_steps: int | None
    time_budget: float | None
    unit: str
    chars: int
    symbols: int
    unknown: bool
    ids_path: Path
    reused: bool
    threads: int
    engine: str
    precision: str
    kernel: str
    isa: str | None = None


@dataclass(frozen=True, kw_only=True)
class Step:
    """A training step was made. `loss` is this step's (nats per symbol, NaN when skipped),
    `train_loss` the mean of the last 100 finite ones; `chars_per_sec` counts after the first
    steps (None before); `seconds_left` is the training time the budget leaves, at this speed."""

    step: int
    epoch: float
    loss: float
    train_loss: float | None
    lr: float
    skipped: bool
    train_seconds: float
    chars_per_sec: float | None
    seconds_left: float | None


@dataclass(frozen=True)
class Evaluated:
    """The held-out text was scored: `val_loss` nats per symbol; `improved` when it is the best so far."""

    step: int
    val_loss: float
    improved: bool


@dataclass(frozen=True)
class Saved:
    """Checkpoints were written at `step`: `path` is latest; `best` and `periodic` say which others."""

    step: int
    path: Path
    best: bool
    periodic: bool


@dataclass(frozen=True)
class Sampled:
    """A sample while training (sample_every): the prime and what the model wrote after it."""

    step: int
    text: str


@dataclass(frozen=True, kw_only=True)
class Recovered:
    """The loss or gradient was not finite for `bad_steps` steps in a row at `step`: training
    went back to step `back_to` (its last checkpoint) and now runs at `lr_scale` times lr."""

    step: int
    back_to: int
    bad_steps: int
    lr_scale: float
    recoveries: int
    max_recoveries: int


@dataclass(frozen=True)
class Notice:
    """Something worth telling the user (an option changed on resume, say)."""

    message: str
