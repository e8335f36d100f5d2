"""Settings: the model, how to train it, how a run is set up, and the options `train` takes.

Dimension letters used throughout charrnn: B batch, T time steps, V vocabulary,
E embedding, H hidden, L layers, G gates per cell (rnn 1, gru 3, lstm 4).

Options are named as the Python API spells them (`hidden`, `init_from`); the command line
spells them as flags (`--hidden`, `--init-from`). Errors name them the API's way and list them
(see errors.py), so the command line can show its own spelling.
"""

from __future__ import annotations

import math
import re
from dataclasses import asdict, dataclass, fields

from .errors import ConfigError

CELLS = ("rnn", "lstm", "gru")
UNITS = ("char", "byte")  # what one id stands for: a Unicode code point, or a byte of UTF-8
GATES = {"rnn": 1, "gru": 3, "lstm": 4}
# besides dropout (see model.Noise); zoneout's rates also set what evaluation runs (their expectation)
REGULARISERS = ("locked_dropout", "embed_dropout", "weight_drop", "zoneout_cell", "zoneout_hidden")
ZONEOUT_CELLS = ("lstm", "gru")  # zoneout_cell is the LSTM's alone
OPTIMIZERS = ("adam", "rmsprop", "sgd")
SCHEDULES = ("constant", "cosine", "step")
ERRORS = ("strict", "replace")
ENGINES = ("charrnn", "torch")  # charrnn's own kernels, or PyTorch (the optional torch extra)
PRECISIONS = ("fp32", "bf16", "auto")  # of the matrix products (see model.choose_kernel)
SAMPLE_PRECISIONS = ("fp32", "bf16", "int8", "auto")  # of generation's stored weights (sample.stored)
KERNELS = {"fp32": "fp32 register tile", "amx": "bf16 AMX tiles", "avx512bf16": "bf16 AVX512-BF16 tile"}
MAX_TEMPERATURE = 1e6  # above this, sampling is uniform in effect (and 1/T would underflow float32)


def _fail(option: str, message: str) -> ConfigError:
    return ConfigError(f"{option} {message}", options=(option,))


@dataclass(frozen=True)
class ModelConfig:
    """The shape of a model. Weights follow PyTorch's nn.RNN/LSTM/GRU formulation."""

    cell: str
    vocab_size: int
    hidden: int
    layers: int = 1
    embed: int = 0  # 0 means "same as hidden"
    dropout: float = 0.0
    # REGULARISERS: like dropout, drawn only in training
    locked_dropout: float = 0.0
    embed_dropout: float = 0.0
    weight_drop: float = 0.0
    zoneout_cell: float = 0.0  # the fraction of an LSTM's cell units that keep their previous value, per step
    zoneout_hidden: float = 0.0  # the same for the hidden state h (LSTM and GRU)

    def __post_init__(self):
        _check_types(self, ints=("vocab_size", "hidden", "layers", "embed"),
                     numbers=("dropout", *REGULARISERS))
        if self.cell not in CELLS:
            raise _fail("model", f"must be one of {', '.join(CELLS)}, not {self.cell!r}")
        if self.vocab_size < 1:
            raise ConfigError(f"the vocabulary size must be at least 1, got {self.vocab_size}")
        for name in ("hidden", "layers"):
            if getattr(self, name) < 1:
                raise _fail(name, f"must be at least 1, got {getattr(self, name)}")
        if self.embed < 0:
            raise _fail("embed", f"must be at least 1 (or 0: the hidden size), got {self.embed}")
        if self.embed == 0:
            object.__setattr__(self, "embed", self.hidden)
        for name in ("dropout", *REGULARISERS):
            if not 0.0 <= getattr(self, name) < 1.0:
                raise _fail(name, f"must be in [0, 1), got {getattr(self, name)}")
        if self.zoneout_hidden and self.cell not in ZONEOUT_CELLS:
            raise _fail("zoneout_hidden", f"is for the {' and '.join(ZONEOUT_CELLS)} cells, not {self.cell}")
        if self.zoneout_cell and self.cell != "lstm":
            raise _fail("zoneout_cell", f"is for the lstm's cell state; a {self.cell} has none")

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
        return sum(math.prod(shape) for shape in self.param_shapes().values())

    @property
    def zoneout(self) -> bool:
        return bool(self.zoneout_cell or self.zoneout_hidden)

    @property
    def n_states(self) -> int:
        """Arrays of recurrent state per layer: h, plus c for the LSTM."""
        return 2 if self.cell == "lstm" else 1

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "ModelConfig":
        try:
            regularisers = {k: data[k] for k in REGULARISERS if k in data}  # older checkpoints have none
            return cls(**{k: data[k] for k in ("cell", "vocab_size", "hidden", "layers", "embed", "dropout")},
                       **regularisers)
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
            option = {"seconds": "time", "vocab_size": "the vocabulary size"}.get(name, name)
            raise ConfigError(f"{option} must be {kind}, got {str(value)[:40]}", options=(option,))


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
    weight_decay: float = 0.0  # decoupled (AdamW-style), on the weight matrices
    ema: float = 0.0  # decay of the weights' moving average (0: none)

    def __post_init__(self):
        _check_types(self, ints=("batch", "seq", "warmup", "decay_every", "steps", "eval_every", "seed"),
                     numbers=("lr", "clip", "decay_rate", "min_lr_frac", "epochs", "seconds", "val_frac",
                              "weight_decay", "ema"))
        for name in ("batch", "seq", "eval_every", "decay_every"):
            if getattr(self, name) < 1:
                raise _fail(name, f"must be at least 1, got {getattr(self, name)}")
        if not self.lr > 0:
            raise _fail("lr", f"must be positive, got {self.lr}")
        if self.optimizer not in OPTIMIZERS:
            raise _fail("optimizer", f"must be one of {', '.join(OPTIMIZERS)}, not {self.optimizer!r}")
        if self.schedule not in SCHEDULES:
            raise _fail("schedule", f"must be one of {', '.join(SCHEDULES)}, not {self.schedule!r}")
        if not self.clip >= 0:
            raise _fail("clip", f"must be 0 (off) or positive, got {self.clip}")
        if self.warmup < 0:
            raise _fail("warmup", f"must be 0 or more, got {self.warmup}")
        if not 0 < self.decay_rate <= 1:
            raise _fail("decay_rate", f"must be in (0, 1], got {self.decay_rate}")
        if not 0 <= self.min_lr_frac <= 1:
            raise _fail("min_lr_frac", f"must be in [0, 1], got {self.min_lr_frac}")
        if not 0 <= self.val_frac < 1:
            raise _fail("val_frac", f"must be in [0, 1), got {self.val_frac}")
        if self.seed < 0:
            raise _fail("seed", f"must be 0 or more, got {self.seed}")
        if self.steps is not None and self.steps < 0:
            raise _fail("steps", f"must be 0 or more, got {self.steps}")
        if self.epochs is not None and not self.epochs > 0:
            raise _fail("epochs", f"must be positive, got {self.epochs}")
        if self.seconds is not None and not self.seconds > 0:
            raise _fail("time", f"must be positive, got {self.seconds}")
        if not 0 <= self.weight_decay < 1:
            raise _fail("weight_decay", f"must be in [0, 1), got {self.weight_decay}")
        if not 0 <= self.ema < 1:
            raise _fail("ema", f"must be 0 (none) or in (0, 1), got {self.ema}")

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "TrainConfig":
        try:
            return cls(**data)
        except TypeError as exc:
            raise ConfigError(f"training config is malformed: {exc}") from None


# ---- the options of train() ---------------------------------------------------------------------

DEFAULT_EPOCHS = 10  # the budget when none is given

MODEL_OPTIONS = {"model": "lstm", "hidden": 256, "layers": 2, "embed": 0, "dropout": 0.0,
                 **{name: 0.0 for name in REGULARISERS}}
# TrainConfig's fields are options too, `time` standing for `seconds`
TRAIN_OPTIONS = {("time" if f.name == "seconds" else f.name): f.default for f in fields(TrainConfig)}


@dataclass(frozen=True)
class RunOptions:
    """How a run is set up, saved and watched: what `train` takes besides the model and the
    optimisation. save_every and sample_every are ("steps", n) or ("seconds", s)."""

    out: str | None = None
    name: str | None = None
    overwrite: bool = False
    resume: str | None = None
    init_from: str | None = None
    save_every: tuple[str, float] = ("seconds", 600.0)
    keep: int = 3
    threads: int | None = None
    unit: str | None = None
    min_count: int | None = None
    separator: str | None = None
    errors: str | None = None
    sample_every: tuple[str, float] | None = None
    sample_length: int = 200
    sample_temperature: float = 0.8
    sample_prime: str | None = None
    engine: str = "charrnn"
    device: str | None = None
    precision: str | None = None  # None: "auto" for a new run, a resumed run's own

    def __post_init__(self):
        if self.resume is not None and self.init_from is not None:
            raise ConfigError("resume and init_from exclude each other", options=("resume", "init_from"))
        if type(self.keep) is not int or self.keep < 0:
            raise _fail("keep", f"must be 0 or more, got {self.keep}")
        if self.threads is not None and (type(self.threads) is not int or self.threads < 1):
            raise _fail("threads", f"must be at least 1, got {self.threads}")
        if self.unit is not None and self.unit not in UNITS:
            raise _fail("unit", f"must be one of {', '.join(UNITS)}, not {self.unit!r}")
        if self.min_count is not None and (type(self.min_count) is not int or self.min_count < 1):
            raise _fail("min_count", f"must be at least 1, got {self.min_count}")
        if self.errors is not None and self.errors not in ERRORS:
            raise _fail("errors", f"must be one of {', '.join(ERRORS)}, not {self.errors!r}")
        if self.precision is not None and self.precision not in PRECISIONS:
            raise _fail("precision", f"must be one of {', '.join(PRECISIONS)}, not {self.precision!r}")
        if self.engine not in ENGINES:
            raise _fail("engine", f"must be one of {', '.join(ENGINES)}, not {self.engine!r}")
        if self.device is not None and self.engine != "torch":
            raise ConfigError("device is for engine torch (charrnn's own engine runs on the CPU)",
                              options=("device", "engine"))
        if self.name is not None and (not self.name or "/" in self.name or self.name in (".", "..")):
            raise _fail("name", f"must be a folder name, not {self.name!r}")
        if self.sample_every is not None:
            if type(self.sample_length) is not int or self.sample_length < 1:
                raise _fail("sample_length", f"must be at least 1, got {self.sample_length}")
            if not 0 <= self.sample_temperature <= MAX_TEMPERATURE:
                raise _fail("sample_temperature", f"must be 0 (argmax) to {MAX_TEMPERATURE:g}, "
                                                  f"got {self.sample_temperature}")
            if self.sample_prime == "":
                raise _fail("sample_prime", "needs some text")


RUN_OPTIONS = {f.name: f.default for f in fields(RunOptions)}
OPTIONS = {**MODEL_OPTIONS, **TRAIN_OPTIONS, **RUN_OPTIONS}
# options a resumed run may change (recorded in its checkpoints); any other is an error, since
# the run's model, data and optimiser are what they were
RESUMABLE = ("steps", "epochs", "time", "lr", "eval_every", "save_every", "keep", "threads", "out", "overwrite",
             "sample_every", "sample_length", "sample_temperature", "sample_prime", "errors", "engine", "device",
             "precision")
# options a fine-tuning run takes from its checkpoint: the model's shape and its vocabulary (it
# chooses its own dropout and regularisers)
FROM_CHECKPOINT = ("model", "hidden", "layers", "embed", "unit", "min_count")


_DURATION = re.compile(r"^\s*(?:(\d+(?:\.\d*)?)h)?\s*(?:(\d+(?:\.\d*)?)m(?!s))?\s*(?:(\d+(?:\.\d*)?)s?)?\s*$")


def parse_duration(text: str) -> float:
    """'90', '90s', '10m', '1h30m', '1.5h' -> seconds."""
    match = _DURATION.match(text)
    if not text.strip() or not match or not any(match.groups()):
        raise ValueError(f"not a duration: {text!r} (use e.g. 90s, 10m, 1h30m)")
    hours, minutes, seconds = (float(g) if g else 0.0 for g in match.groups())
    return hours * 3600 + minutes * 60 + seconds


def duration(option: str, value) -> float:
    """Seconds from a number or a duration string; ConfigError naming `option` otherwise."""
    if type(value) in (int, float):
        seconds = float(value)
    elif isinstance(value, str):
        try:
            seconds = parse_duration(value)
        except ValueError as exc:
            raise _fail(option, f"is {exc}") from None
    else:
        raise _fail(option, f"must be a duration (seconds, or a text like 90s or 10m), got {value!r}")
    if not 0 < seconds < 1e15:
        raise _fail(option, f"must be longer than zero, got {value!r}")
    return seconds


def steps_or_duration(option: str, value) -> tuple[str, float]:
    """('steps', n) from a whole number or its text ('500'); ('seconds', s) from a duration
    ('10m', or a float of seconds). A pair ('steps', n) or ('seconds', s) is checked as such."""
    if isinstance(value, tuple) and len(value) == 2 and value[0] in ("steps", "seconds"):
        kind, value = value
        if kind == "seconds":
            return ("seconds", duration(option, value))
        if type(value) is not int:
            raise _fail(option, f"must be a whole number of steps, got {value!r}")
    if type(value) is int or (isinstance(value, str) and value.strip().isdigit()):
        steps = int(value)
        if steps < 1:
            raise _fail(option, f"must be at least 1, got {steps}")
        return ("steps", steps)
    return ("seconds", duration(option, value))


def format_duration(seconds: float) -> str:
    """42s, 3m05s, 1h02m: short enough for a progress line."""
    seconds = max(0, round(seconds))
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"


def check_sampling_options(temperature: float, top_k: int | None, top_p: float | None) -> None:
    """ConfigError for a temperature that is negative, not finite or beyond MAX_TEMPERATURE
    (1/T would underflow to 0, which means argmax), or top-k/top-p out of range."""
    if not 0 <= temperature <= MAX_TEMPERATURE:
        raise _fail("temperature", f"must be 0 (argmax) to {MAX_TEMPERATURE:g}, got {temperature}")
    if top_k is not None and (type(top_k) is not int or top_k < 0):
        raise _fail("top_k", f"must be 0 (off) or more, got {top_k}")
    if top_p is not None and not 0 < top_p <= 1:
        raise _fail("top_p", f"must be in (0, 1], got {top_p}")


def is_weight_matrix(name: str) -> bool:
    """Whether the parameter `name` (of ModelConfig.param_shapes) is one of the weight matrices:
    a layer's wx or wh, or the head's w (not the embedding, not a bias)."""
    return name.endswith((".wx", ".wh")) or name == "head.w"
