"""What a run needs before it starts: memory, computed from the shapes alone (so a model far
too large is refused before anything is allocated), and speed, from a few timed steps (the
dry run)."""

from __future__ import annotations

import math
import statistics

import numpy as np

from ..errors import ConfigError
from ..model.config import ModelConfig
from ..runtime import machine_memory
from .config import TrainConfig

WARMUP_STEPS = 2  # not timed: the first steps include page faults
TIMED_STEPS = 5
TIMED_SECONDS = 5.0  # fewer timed steps when they are this slow
_OPTIMIZER_SLOTS = {"adam": 2, "rmsprop": 1, "sgd": 1}


def shard_sizes(batch: int, threads: int) -> list[int]:
    """Streams per thread, as Model cuts a batch: as even as whole streams allow."""
    n = max(1, min(threads, batch))
    return [(batch * (k + 1)) // n - (batch * k) // n for k in range(n)]


def memory(model_cfg: ModelConfig, cfg: TrainConfig, threads: int, val_chars: int, dtype=np.float32,
           kernel: str = "fp32") -> dict:
    """Bytes a training run holds at most, by part (and their `total`): parameters, one
    gradient buffer per thread, the optimiser's moments, the activations of a window (and
    its dropout masks), the validation windows', and the text windows (the text itself is
    memory-mapped). Computed, not allocated."""
    from ..model.network import workspace_bytes
    from .trainer import VAL_CHUNK, VAL_STREAMS

    itemsize = np.dtype(dtype).itemsize
    n_params = model_cfg.n_params()
    shards = shard_sizes(cfg.batch, threads)
    activations = sum(workspace_bytes(model_cfg, cfg.seq, b, dtype, kernel) for b in shards)
    if model_cfg.dropout > 0:
        activations += model_cfg.layers * cfg.seq * cfg.batch * model_cfg.hidden * itemsize
    activations += 2 * model_cfg.vocab_size * model_cfg.gates * model_cfg.hidden * itemsize  # the input table
    validation = 0
    if val_chars >= 2:
        streams = min(VAL_STREAMS, val_chars - 1)
        columns = (val_chars - 1) // streams
        validation = sum(workspace_bytes(model_cfg, min(VAL_CHUNK, columns), b, dtype, kernel)
                         for b in shard_sizes(streams, threads))
    parts = dict(parameters=n_params * itemsize, gradients=n_params * itemsize * len(shards),
                 optimizer=n_params * itemsize * _OPTIMIZER_SLOTS[cfg.optimizer], activations=activations,
                 validation=validation, text=2 * cfg.batch * cfg.seq * 4)
    parts["total"] = sum(parts.values())
    return parts


def check_fits(model_cfg: ModelConfig, cfg: TrainConfig, threads: int, val_chars: int) -> dict:
    """The memory estimate; ConfigError when it exceeds the machine's memory."""
    need = memory(model_cfg, cfg, threads, val_chars)
    have = machine_memory()
    if have is not None and need["total"] > have:
        largest = max((k for k in need if k != "total"), key=need.get)
        raise ConfigError(f"a {model_cfg.cell} {model_cfg.layers}x{model_cfg.hidden} model (embedding "
                          f"{model_cfg.embed}) needs about {gigabytes(need['total'])} to train, most of it "
                          f"{largest}, and this machine has {gigabytes(have)}; lower hidden, layers or embed "
                          "(or batch and seq)", options=("hidden", "layers", "embed", "batch", "seq"))
    return need


def gigabytes(n: int) -> str:
    return f"{n / 1e9:,.1f} GB" if n >= 1e8 else f"{n / 1e6:,.0f} MB"


def time_steps(trainer, timed_steps: int = TIMED_STEPS) -> tuple[float, int]:
    """(the median seconds of a training step, the steps timed): `trainer` takes a few steps,
    so its weights move and it must be thrown away afterwards."""
    trainer.warm_up()
    for _ in range(WARMUP_STEPS):
        trainer.train_step()
    timed: list[float] = []
    while len(timed) < timed_steps and sum(timed) < TIMED_SECONDS:
        timed.append(trainer.train_step().seconds)
    return statistics.median(timed), len(timed)


def dry_run(trainer, threads: int) -> dict:
    """The model's size, memory and speed. Runs a few steps on `trainer`, which must be
    thrown away afterwards (its weights have moved)."""
    cfg, model_cfg = trainer.cfg, trainer.model.config
    batches = trainer.batches
    memory_bytes = memory(model_cfg, cfg, threads, len(trainer.val_ids), trainer.model.dtype, trainer.kernel)
    start, start_seconds = trainer.step, trainer.train_seconds
    seconds_per_step, timed_steps = time_steps(trainer)

    budget = [cfg.steps] if cfg.steps is not None else []
    if cfg.epochs is not None:
        budget.append(math.ceil(cfg.epochs * batches.steps_per_epoch))
    steps_left = max(0, min(budget) - start) if budget else None
    if cfg.seconds is not None:
        by_time = max(0, math.floor((cfg.seconds - start_seconds) / seconds_per_step))
        steps_left = by_time if steps_left is None else min(steps_left, by_time)
    return dict(
        cell=model_cfg.cell, layers=model_cfg.layers, hidden=model_cfg.hidden, embed=model_cfg.embed,
        precision=trainer.precision, kernel=trainer.kernel, isa=trainer.isa,
        params=model_cfg.n_params(), vocab_size=model_cfg.vocab_size, train_chars=batches.batch * batches.n_col,
        val_chars=len(trainer.val_ids), batch=cfg.batch, seq=cfg.seq, threads=threads,
        steps_per_epoch=batches.steps_per_epoch, memory_bytes=memory_bytes, timed_steps=timed_steps,
        seconds_per_step=seconds_per_step, seconds_per_epoch=seconds_per_step * batches.steps_per_epoch,
        start_step=start, steps_left=steps_left,
        seconds_left=steps_left * seconds_per_step if steps_left is not None else None)
