"""Model settings and the parameter layout they imply.

Dimension letters used throughout charrnn: B batch, T time steps, V vocabulary,
E embedding, H hidden, L layers, G gates per cell (rnn 1, gru 3, lstm 4).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from .errors import ConfigError

CELLS = ("rnn", "lstm", "gru")
UNITS = ("char", "byte")  # what one id stands for: a Unicode code point, or a byte of UTF-8
GATES = {"rnn": 1, "gru": 3, "lstm": 4}


@dataclass(frozen=True)
class ModelConfig:
    """The shape of a model. Weights follow PyTorch's nn.RNN/LSTM/GRU formulation."""

    cell: str
    vocab_size: int
    hidden: int
    layers: int = 1
    embed: int = 0  # 0 means "same as hidden"
    dropout: float = 0.0

    def __post_init__(self):
        _check_types(self, ints=("vocab_size", "hidden", "layers", "embed"), numbers=("dropout",))
        if self.cell not in CELLS:
            raise ConfigError(f"--model must be one of {', '.join(CELLS)}, not {self.cell!r}")
        for name, option in (("vocab_size", "the vocabulary size"), ("hidden", "--hidden"), ("layers", "--layers")):
            if getattr(self, name) < 1:
                raise ConfigError(f"{option} must be at least 1, got {getattr(self, name)}")
        if self.embed < 0:
            raise ConfigError(f"--embed must be at least 1 (or 0: the hidden size), got {self.embed}")
        if self.embed == 0:
            object.__setattr__(self, "embed", self.hidden)
        if not 0.0 <= self.dropout < 1.0:
            raise ConfigError(f"--dropout must be in [0, 1), got {self.dropout}")

    @property
    def gates(self) -> int:
        return GATES[self.cell]

    def param_shapes(self) -> dict[str, tuple[int, ...]]:
        """Name -> shape of every parameter, in the order of the flat buffer.

        Layer weights use PyTorch's layout: wx (G*H, In), wh (G*H, H), bx and bh (G*H,),
        gates stacked as i, f, g, o (lstm) or r, z, n (gru). The head is (V, H) and (V,).
        """
        V, E, H, G = self.vocab_size, self.embed, self.hidden, self.gates
        shapes = {"embed": (V, E)}
        for layer in range(self.layers):
            n_in = E if layer == 0 else H
            shapes[f"layer{layer}.wx"] = (G * H, n_in)
            shapes[f"layer{layer}.wh"] = (G * H, H)
            shapes[f"layer{layer}.bx"] = (G * H,)
            shapes[f"layer{layer}.bh"] = (G * H,)
        shapes["head.w"] = (V, H)
        shapes["head.b"] = (V,)
        return shapes

    def n_params(self) -> int:
        total = 0
        for shape in self.param_shapes().values():
            size = 1
            for dim in shape:
                size *= dim
            total += size
        return total

    @property
    def n_states(self) -> int:
        """Arrays of recurrent state per layer: h, plus c for the LSTM."""
        return 2 if self.cell == "lstm" else 1

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "ModelConfig":
        try:
            return cls(**{k: data[k] for k in ("cell", "vocab_size", "hidden", "layers", "embed", "dropout")})
        except (KeyError, TypeError) as exc:
            raise ConfigError(f"model config is incomplete or malformed: {exc}") from None


def _check_types(config, ints: tuple[str, ...], numbers: tuple[str, ...]) -> None:
    """Whole numbers where counts go, finite numbers elsewhere (None where a budget is off):
    the options ensure it, a config read from a checkpoint made by hand may not."""
    for name in ints + numbers:
        value = getattr(config, name)
        if value is None and name in ("steps", "epochs", "seconds"):
            continue
        if name in ints:
            valid, kind = type(value) is int, "a whole number"
        else:  # NaN passes here and fails the range checks, which say what range
            valid = type(value) in (int, float) and (value != value or -1e308 < value < 1e308)
            kind = "a finite number"
        if not valid:
            option = {"seconds": "--time", "min_lr_frac": "min_lr_frac", "vocab_size": "the vocabulary size"}.get(
                name, f"--{name.replace('_', '-')}")
            raise ConfigError(f"{option} must be {kind}, got {str(value)[:40]}")


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
    eval_every: int = 500
    seed: int = 0

    def __post_init__(self):
        _check_types(self, ints=("batch", "seq", "warmup", "decay_every", "steps", "eval_every", "seed"),
                     numbers=("lr", "clip", "decay_rate", "min_lr_frac", "epochs", "seconds", "val_frac"))
        for name in ("batch", "seq", "eval_every", "decay_every"):
            if getattr(self, name) < 1:
                raise ConfigError(f"--{name.replace('_', '-')} must be at least 1, got {getattr(self, name)}")
        if not self.lr > 0:
            raise ConfigError(f"--lr must be positive, got {self.lr}")
        if self.optimizer not in OPTIMIZERS:
            raise ConfigError(f"--optimizer must be one of {', '.join(OPTIMIZERS)}, not {self.optimizer!r}")
        if self.schedule not in SCHEDULES:
            raise ConfigError(f"--schedule must be one of {', '.join(SCHEDULES)}, not {self.schedule!r}")
        if not self.clip >= 0:
            raise ConfigError(f"--clip must be 0 (off) or positive, got {self.clip}")
        if self.warmup < 0:
            raise ConfigError(f"--warmup must be 0 or more, got {self.warmup}")
        if not 0 < self.decay_rate <= 1:
            raise ConfigError(f"--decay-rate must be in (0, 1], got {self.decay_rate}")
        if not 0 <= self.min_lr_frac <= 1:
            raise ConfigError(f"min_lr_frac must be in [0, 1], got {self.min_lr_frac}")
        if not 0 <= self.val_frac < 1:
            raise ConfigError(f"--val-frac must be in [0, 1), got {self.val_frac}")
        if self.steps is not None and self.steps < 0:
            raise ConfigError(f"--steps must be 0 or more, got {self.steps}")
        if self.epochs is not None and not self.epochs > 0:
            raise ConfigError(f"--epochs must be positive, got {self.epochs}")
        if self.seconds is not None and not self.seconds > 0:
            raise ConfigError(f"--time must be positive, got {self.seconds}")
        if self.schedule == "cosine" and self.steps is None:
            raise ConfigError("--schedule cosine needs --steps (the length of the cosine)")

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "TrainConfig":
        try:
            return cls(**data)
        except TypeError as exc:
            raise ConfigError(f"training config is malformed: {exc}") from None


def check_sampling_options(temperature: float, top_k: int, top_p: float) -> None:
    if not temperature >= 0:
        raise ConfigError(f"--temperature must be 0 (argmax) or more, got {temperature}")
    if top_k < 0:
        raise ConfigError(f"--top-k must be 0 (off) or more, got {top_k}")
    if not 0 < top_p <= 1:
        raise ConfigError(f"--top-p must be in (0, 1], got {top_p}")
