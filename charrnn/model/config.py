"""The shape of a model (ModelConfig), its cells, precisions and kernels.

Dimension letters used throughout charrnn: B batch, T time steps, V vocabulary,
E embedding, H hidden, L layers, G gates per cell (rnn 1, gru 3, lstm 4).

Options are named as the Python API spells them (`hidden`, `init_from`); the command line
spells them as flags (`--hidden`, `--init-from`). Errors name them the API's way and list them
(see errors.py), so the command line can show its own spelling. How to train is
training/config.py; the options `train` takes, training/options.py.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

from ..errors import ConfigError, option_error

CELLS = ("rnn", "lstm", "gru")
GATES = {"rnn": 1, "gru": 3, "lstm": 4}
# besides dropout (see model/noise.py); zoneout's rates also set what evaluation runs (their expectation)
REGULARISERS = ("locked_dropout", "embed_dropout", "weight_drop", "zoneout_cell", "zoneout_hidden")
ZONEOUT_CELLS = ("lstm", "gru")  # zoneout_cell is the LSTM's alone
PRECISIONS = ("fp32", "bf16", "auto")  # of the matrix products (see network.choose_kernel)
KERNELS = {"fp32": "fp32 register tile", "amx": "bf16 AMX tiles", "avx512bf16": "bf16 AVX512-BF16 tile"}


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
        check_types(self, ints=("vocab_size", "hidden", "layers", "embed"),
                     numbers=("dropout", *REGULARISERS))
        if self.cell not in CELLS:
            raise option_error("model", f"must be one of {', '.join(CELLS)}, not {self.cell!r}")
        if self.vocab_size < 1:
            raise ConfigError(f"the vocabulary size must be at least 1, got {self.vocab_size}")
        for name in ("hidden", "layers"):
            if getattr(self, name) < 1:
                raise option_error(name, f"must be at least 1, got {getattr(self, name)}")
        if self.embed < 0:
            raise option_error("embed", f"must be at least 1 (or 0: the hidden size), got {self.embed}")
        if self.embed == 0:
            object.__setattr__(self, "embed", self.hidden)
        for name in ("dropout", *REGULARISERS):
            if not 0.0 <= getattr(self, name) < 1.0:
                raise option_error(name, f"must be in [0, 1), got {getattr(self, name)}")
        if self.zoneout_hidden and self.cell not in ZONEOUT_CELLS:
            raise option_error("zoneout_hidden", f"is for the {' and '.join(ZONEOUT_CELLS)} cells, not {self.cell}")
        if self.zoneout_cell and self.cell != "lstm":
            raise option_error("zoneout_cell", f"is for the lstm's cell state; a {self.cell} has none")

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


def check_types(config, ints: tuple[str, ...], numbers: tuple[str, ...]) -> None:
    """Whole numbers where counts go, finite numbers elsewhere (None where a budget is off):
    the options ensure it, a config read from a checkpoint made by hand may not."""
    for name in ints + numbers:
        value = getattr(config, name)
        if value is None and name in ("steps", "epochs", "seconds", "eval_every"):
            continue
        if name in ints:
            valid, kind = type(value) is int, "a whole number"
        else:  # NaN passes here and fails the range checks, which say what range
            valid = is_finite_number(value) or (type(value) is float and value != value)
            kind = "a finite number"
        if not valid:
            option = {"seconds": "time", "vocab_size": "the vocabulary size"}.get(name, name)
            raise ConfigError(f"{option} must be {kind}, got {str(value)[:40]}", options=(option,))


def is_weight_matrix(name: str) -> bool:
    """Whether the parameter `name` (of ModelConfig.param_shapes) is one of the weight matrices:
    a layer's wx or wh, or the head's w (not the embedding, not a bias)."""
    return name.endswith((".wx", ".wh")) or name == "head.w"


def is_finite_number(value) -> bool:
    """Whether `value` is an int or a float (not a bool, not a str) and finite, checked without
    float() overflowing on a huge int: what a number read from JSON written by hand must be."""
    return type(value) in (int, float) and -1e308 < value < 1e308
