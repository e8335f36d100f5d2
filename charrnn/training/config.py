"""How to train: the optimisation and the budget (TrainConfig), checked."""

from __future__ import annotations

from dataclasses import asdict, dataclass

from ..errors import ConfigError, option_error
from ..model.config import check_types

OPTIMIZERS = ("adam", "rmsprop", "sgd")
SCHEDULES = ("constant", "cosine", "step")


@dataclass(frozen=True)
class TrainConfig:
    """How to train. Budgets (steps, epochs, seconds) count from the start of the run, so a
    resumed run stops where the uninterrupted one would; None means no limit of that kind."""

    batch: int = 32
    seq: int = 64
    lr: float = 2e-3
    optimizer: str = "adam"
    clip: float = 5.0
    schedule: str = "constant"
    warmup: int = 0
    decay_every: int = 1000
    decay_rate: float = 0.5
    min_lr_frac: float = 0.0
    steps: int | None = None
    epochs: float | None = None
    seconds: float | None = None
    val_frac: float = 0.1
    eval_every: int | None = None  # None: about EVALUATIONS times over the budget (loop.eval_interval)
    seed: int = 0
    weight_decay: float = 0.0  # decoupled (AdamW-style), on the weight matrices
    ema: float = 0.0  # decay of the weights' moving average (0: none)

    def __post_init__(self):
        check_types(self, ints=("batch", "seq", "warmup", "decay_every", "steps", "eval_every", "seed"),
                     numbers=("lr", "clip", "decay_rate", "min_lr_frac", "epochs", "seconds", "val_frac",
                              "weight_decay", "ema"))
        for name in ("batch", "seq", "eval_every", "decay_every"):
            if getattr(self, name) is not None and getattr(self, name) < 1:
                raise option_error(name, f"must be at least 1, got {getattr(self, name)}")
        if not self.lr > 0:
            raise option_error("lr", f"must be positive, got {self.lr}")
        if self.optimizer not in OPTIMIZERS:
            raise option_error("optimizer", f"must be one of {', '.join(OPTIMIZERS)}, not {self.optimizer!r}")
        if self.schedule not in SCHEDULES:
            raise option_error("schedule", f"must be one of {', '.join(SCHEDULES)}, not {self.schedule!r}")
        if not self.clip >= 0:
            raise option_error("clip", f"must be 0 (off) or positive, got {self.clip}")
        if self.warmup < 0:
            raise option_error("warmup", f"must be 0 or more, got {self.warmup}")
        if not 0 < self.decay_rate <= 1:
            raise option_error("decay_rate", f"must be in (0, 1], got {self.decay_rate}")
        if not 0 <= self.min_lr_frac <= 1:
            raise option_error("min_lr_frac", f"must be in [0, 1], got {self.min_lr_frac}")
        if not 0 <= self.val_frac < 1:
            raise option_error("val_frac", f"must be in [0, 1), got {self.val_frac}")
        if self.seed < 0:
            raise option_error("seed", f"must be 0 or more, got {self.seed}")
        if self.steps is not None and self.steps < 0:
            raise option_error("steps", f"must be 0 or more, got {self.steps}")
        if self.epochs is not None and not self.epochs > 0:
            raise option_error("epochs", f"must be positive, got {self.epochs}")
        if self.seconds is not None and not self.seconds > 0:
            raise option_error("time", f"must be positive, got {self.seconds}")
        if not 0 <= self.weight_decay < 1:
            raise option_error("weight_decay", f"must be in [0, 1), got {self.weight_decay}")
        if not 0 <= self.ema < 1:
            raise option_error("ema", f"must be 0 (none) or in (0, 1), got {self.ema}")

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "TrainConfig":
        try:
            return cls(**data)
        except TypeError as exc:
            raise ConfigError(f"training config is malformed: {exc}") from None
