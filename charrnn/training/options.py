"""The options `train` takes: the model's, the optimisation's (TrainConfig's fields) and the
run's (RunOptions), with their defaults; which a resumed run may change, which a fine-tuning
run takes from its checkpoint."""

from __future__ import annotations

from dataclasses import dataclass, fields

from ..arguments import check_number, check_path, check_threads, check_type
from ..errors import ConfigError, option_error
from ..generate.options import SAMPLE_TEMPERATURE, check_temperature
from ..model.config import PRECISIONS, REGULARISERS
from ..text.units import ERRORS, UNITS
from .config import TrainConfig

ENGINES = ("charrnn", "torch")  # charrnn's own kernels, or PyTorch (the optional torch extra)

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
    sample_temperature: float = SAMPLE_TEMPERATURE
    sample_prime: str | None = None
    engine: str = "charrnn"
    device: str | None = None
    precision: str | None = None  # None: "auto" for a new run, a resumed run's own

    def __post_init__(self):
        for name in ("out", "resume", "init_from"):
            check_path(name, getattr(self, name))
        for name in ("name", "separator", "sample_prime", "device"):
            check_type(name, getattr(self, name), str, "a str", optional=True)
        check_type("overwrite", self.overwrite, bool, "True or False")
        check_type("sample_length", self.sample_length, int, "a whole number")
        check_number("sample_temperature", self.sample_temperature)
        if self.resume is not None and self.init_from is not None:
            raise ConfigError("resume and init_from exclude each other", options=("resume", "init_from"))
        if type(self.keep) is not int or self.keep < 0:
            raise option_error("keep", f"must be 0 or more, got {self.keep}")
        check_threads(self.threads)
        if self.unit is not None and self.unit not in UNITS:
            raise option_error("unit", f"must be one of {', '.join(UNITS)}, not {self.unit!r}")
        if self.min_count is not None and (type(self.min_count) is not int or self.min_count < 1):
            raise option_error("min_count", f"must be at least 1, got {self.min_count}")
        if self.errors is not None and self.errors not in ERRORS:
            raise option_error("errors", f"must be one of {', '.join(ERRORS)}, not {self.errors!r}")
        if self.precision is not None and self.precision not in PRECISIONS:
            raise option_error("precision", f"must be one of {', '.join(PRECISIONS)}, not {self.precision!r}")
        if self.engine not in ENGINES:
            raise option_error("engine", f"must be one of {', '.join(ENGINES)}, not {self.engine!r}")
        if self.device is not None and self.engine != "torch":
            raise ConfigError("device is for engine torch (charrnn's own engine runs on the CPU)",
                              options=("device", "engine"))
        if self.name is not None and (not self.name or "/" in self.name or self.name in (".", "..")):
            raise option_error("name", f"must be a folder name, not {self.name!r}")
        if self.sample_every is not None:
            if type(self.sample_length) is not int or self.sample_length < 1:
                raise option_error("sample_length", f"must be at least 1, got {self.sample_length}")
            check_temperature(self.sample_temperature, "sample_temperature")
            if self.sample_prime == "":
                raise option_error("sample_prime", "needs some text")


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
