"""What a run's checkpoint records of its run, built and checked here alone.

A run's checkpoint holds the tensors `param/<name>` (the weights the optimiser moves),
`average/<name>` (their moving average, when the run keeps one: then that is the model that
is sampled, scored and exported), `optim/<slot>` and `state` (the optimiser's moments and the
carried state), and metadata (`run_meta`): the model and training config, the training
progress (Trainer.snapshot), the vocabulary (`vocab`, `unit`), the data it was trained on
(`data`), the run's name and identity (`run`, `run_id`), the charrnn version, how its products
were computed (`threads`, `precision`, `kernel`, `engine`), its save cadence (`saving`) and
the options changed on resume (`changes`). `recorded_data`, `training_state`, `best_step` and
`run_record` read and check it before a run is resumed from it; runs/model_file.py reads the model.
"""

from __future__ import annotations

from .._version import __version__
from ..durations import steps_or_duration
from ..errors import CheckpointError, ConfigError
from ..model.config import is_finite_number
from ..runs.model_file import ModelFile
from ..text.units import ERRORS
from ..text.vocab import Vocab
from .config import TrainConfig
from .options import ENGINES


def run_meta(training: dict, *, vocab: Vocab, data: dict, run: str, run_id: str, threads: int, precision: str,
             kernel: str, isa: str | None, engine: str, save_every: tuple[str, float], keep: int,
             changes: list[dict]) -> dict:
    """The metadata of a run's checkpoint: the trainer's snapshot (`training`), the
    vocabulary, the data fingerprint, the run's name and identity, this charrnn's version,
    how its products were computed (`isa`: the kernels' level, kernels/cpu.py; None for the
    torch engine), its save cadence and the options changed on resume."""
    return dict(training, **vocab.to_meta(), data=data, run=run, run_id=run_id, charrnn_version=__version__,
                threads=threads, precision=precision, kernel=kernel, isa=isa, engine=engine,
                saving=dict(every=list(save_every), keep=keep), changes=changes)


def recorded_data(model_file: ModelFile) -> tuple[dict, TrainConfig]:
    """What a checkpoint records of its run's text and training settings, checked: (data
    fingerprint, TrainConfig). CheckpointError when the run cannot be resumed from it."""
    meta, path = model_file.meta, model_file.path
    data = meta.get("data")
    if "imported_from" in meta and data is None:
        raise CheckpointError(f"{path} cannot be resumed: it was imported (charrnn checkpoints import), so it holds "
                              "weights but no training to continue; start a run from its weights with init_from",
                              options=("init_from",))
    try:
        if not (isinstance(data, dict) and isinstance(data.get("sources"), list) and data["sources"]
                and all(isinstance(f, str) for f in data["sources"]) and type(data.get("chars")) is int
                and isinstance(data.get("separator", ""), str) and data.get("errors", "strict") in ERRORS):
            raise ConfigError(f"the text it was trained on is described as {str(data)[:60]}")
        return data, TrainConfig.from_dict(meta["train"])
    except (KeyError, TypeError, ConfigError) as exc:
        raise CheckpointError(f"{path} cannot be resumed: {exc}") from None


def training_state(meta: dict, max_bad_steps: int, max_recoveries: int) -> dict:
    """The training progress in a checkpoint's metadata (Trainer.snapshot's), checked:
    CheckpointError unless the counters, clock, records and recovery state have the types
    and ranges a trainer writes (a checksum shows a file is intact, not that it is sane)."""

    def number(value, allow_none=False) -> bool:
        return (value is None and allow_none) or is_finite_number(value)

    checks = {
        "step": lambda v: type(v) is int and v >= 0,
        "optimizer_steps": lambda v: type(v) is int and v >= 0,
        "skipped": lambda v: type(v) is int and v >= 0,
        "train_seconds": lambda v: number(v) and v >= 0,
        "best_val": lambda v: number(v, allow_none=True),
        "history": lambda v: isinstance(v, list) and all(
            isinstance(h, dict) and type(h.get("step")) is int and number(h.get("val_loss"), allow_none=True)
            for h in v),
        "recent_losses": lambda v: isinstance(v, list) and all(number(x) for x in v),
    }
    for name, valid in checks.items():
        if name not in meta or not valid(meta[name]):
            found = "missing" if name not in meta else repr(meta[name])[:40]
            raise CheckpointError(f"the checkpoint's {name} is malformed ({found})")
    # older checkpoints lack the recovery state
    bad, scale, recoveries = meta.get("bad_in_a_row", 0), meta.get("lr_scale", 1.0), meta.get("recoveries", 0)
    if not (type(bad) is int and 0 <= bad < max_bad_steps and type(scale) in (int, float) and 0 < scale <= 1
            and type(recoveries) is int and 0 <= recoveries <= max_recoveries):
        raise CheckpointError(f"the checkpoint's recovery state is malformed (bad_in_a_row {bad!r}, "
                              f"lr_scale {scale!r}, recoveries {recoveries!r})")
    return dict(meta, bad_in_a_row=bad, lr_scale=float(scale), recoveries=recoveries)


def best_step(meta: dict) -> int | None:
    """The step a checkpoint's best validation loss was scored at: recorded, or (a checkpoint
    from before it was) the step of the history's record with that loss."""
    step, best = meta.get("best_step"), meta.get("best_val")
    if type(step) is int and step >= 0:
        return step
    if best is None or not isinstance(meta.get("history"), list):
        return None
    return next((h["step"] for h in meta["history"]
                 if isinstance(h, dict) and type(h.get("step")) is int and h.get("val_loss") == best), None)


def run_record(meta: dict) -> dict:
    """What a checkpoint records of its run besides the training state, checked: `run` (its
    name) and `run_id` (None in older checkpoints), `saving` (the save cadence `every`, as
    ("steps", n) or ("seconds", s), and `keep`; None each where not recorded), `changes`
    (the options changed on resume), `threads`, `precision` and `engine`. CheckpointError for anything
    malformed."""
    def bad(name: str) -> CheckpointError:
        return CheckpointError(f"the checkpoint's {name} is malformed ({repr(meta.get(name))[:40]})")

    run, run_id = meta.get("run"), meta.get("run_id")
    if run is not None and not isinstance(run, str):
        raise bad("run")
    if run_id is not None and not (isinstance(run_id, str) and len(run_id) == 16
                                   and all(c in "0123456789abcdef" for c in run_id)):
        raise bad("run_id")
    saving = meta.get("saving", {})
    if not isinstance(saving, dict):
        raise bad("saving")
    every, keep = saving.get("every"), saving.get("keep")
    try:
        if every is not None:
            if not (isinstance(every, list) and len(every) == 2):
                raise ConfigError("not a pair")
            every = steps_or_duration("save_every", tuple(every))
    except ConfigError:
        raise bad("saving") from None
    if keep is not None and not (type(keep) is int and keep >= 0):
        raise bad("saving")
    changes = meta.get("changes", [])
    if not (isinstance(changes, list) and all(isinstance(c, dict) for c in changes)):
        raise bad("changes")
    threads = meta.get("threads")
    if threads is not None and not (type(threads) is int and 1 <= threads <= 4096):
        raise bad("threads")
    precision = meta.get("precision", "fp32")  # older checkpoints: float32 products
    if precision not in ("fp32", "bf16"):
        raise bad("precision")
    engine = meta.get("engine", "charrnn")  # older checkpoints: charrnn's own
    if engine not in ENGINES:
        raise bad("engine")
    return dict(run=run, run_id=run_id, saving=dict(every=every, keep=keep), changes=changes, threads=threads,
                precision=precision, engine=engine)
