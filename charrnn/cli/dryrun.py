"""`charrnn train --dry-run`: what a run would be and cost, from a few timed steps; writes nothing."""

from __future__ import annotations

import math
import statistics

import click

from .common import format_duration

WARMUP_STEPS = 2  # not timed: the first steps include compilation and page faults
TIMED_STEPS = 5
TIMED_SECONDS = 5.0  # fewer timed steps when they are this slow


def dry_run(trainer, threads: int) -> dict:
    """The model's size, memory and speed. Runs a few steps on `trainer`, which must be
    thrown away afterwards (its weights have moved)."""
    from ..model import workspace_bytes
    from ..train import VAL_CHUNK, VAL_STREAMS

    cfg, model_cfg = trainer.cfg, trainer.model.config
    itemsize = trainer.model.dtype.itemsize
    n_params = model_cfg.n_params()
    shards = _shard_sizes(cfg.batch, threads)
    activations = sum(workspace_bytes(model_cfg, cfg.seq, b) for b in shards)
    if model_cfg.dropout > 0:
        activations += model_cfg.layers * cfg.seq * cfg.batch * model_cfg.hidden * itemsize
    n_val = len(trainer.val_ids)
    validation = 0
    if n_val >= 2:
        streams = min(VAL_STREAMS, n_val - 1)
        columns = (n_val - 1) // streams
        validation = sum(workspace_bytes(model_cfg, min(VAL_CHUNK, columns), b)
                         for b in _shard_sizes(streams, threads))
    batches = trainer.batches
    memory = dict(parameters=n_params * itemsize, gradients=n_params * itemsize * len(shards),
                  optimizer=sum(arr.nbytes for arr in trainer.optimizer.state.values()),
                  activations=activations, validation=validation,
                  text=2 * batches.batch * batches.seq * 4)  # a window's x and y: the ids are memory-mapped
    memory["total"] = sum(memory.values())

    start, start_seconds = trainer.step, trainer.train_seconds
    for _ in range(WARMUP_STEPS):
        trainer.train_step()
    timed: list[float] = []
    while len(timed) < TIMED_STEPS and sum(timed) < TIMED_SECONDS:
        timed.append(trainer.train_step().seconds)
    seconds_per_step = statistics.median(timed)

    budget = [cfg.steps] if cfg.steps is not None else []
    if cfg.epochs is not None:
        budget.append(math.ceil(cfg.epochs * batches.steps_per_epoch))
    steps_left = max(0, min(budget) - start) if budget else None
    if cfg.seconds is not None:
        by_time = max(0, math.floor((cfg.seconds - start_seconds) / seconds_per_step))
        steps_left = by_time if steps_left is None else min(steps_left, by_time)
    return dict(
        cell=model_cfg.cell, layers=model_cfg.layers, hidden=model_cfg.hidden, embed=model_cfg.embed,
        params=n_params, vocab_size=model_cfg.vocab_size, train_chars=batches.batch * batches.n_col,
        val_chars=n_val, batch=cfg.batch, seq=cfg.seq, threads=threads, steps_per_epoch=batches.steps_per_epoch,
        memory_bytes=memory, timed_steps=len(timed), seconds_per_step=seconds_per_step,
        seconds_per_epoch=seconds_per_step * batches.steps_per_epoch, start_step=start, steps_left=steps_left,
        seconds_left=steps_left * seconds_per_step if steps_left is not None else None)


def _shard_sizes(batch: int, threads: int) -> list[int]:
    """Streams per thread, as Model cuts a batch: as even as whole streams allow."""
    n = max(1, min(threads, batch))
    return [(batch * (k + 1)) // n - (batch * k) // n for k in range(n)]


def echo_dry_run(report: dict) -> None:
    memory = report["memory_bytes"]
    click.echo(f"model          {report['cell']} {report['layers']}x{report['hidden']}, embedding {report['embed']}: "
               f"{report['params']:,} parameters")
    click.echo(f"vocabulary     {report['vocab_size']} characters")
    click.echo(f"text           {report['train_chars']:,} training and {report['val_chars']:,} validation characters")
    click.echo(f"steps/epoch    {report['steps_per_epoch']:,} (batch {report['batch']} x seq {report['seq']} = "
               f"{report['batch'] * report['seq']:,} characters a step)")
    labels = dict(parameters="parameters", gradients="gradients", optimizer="optimiser moments",
                  activations=f"activations (B {report['batch']} x T {report['seq']})", validation="validation",
                  text="text windows")
    parts = ", ".join(f"{label} {_megabytes(memory[name])}" for name, label in labels.items())
    click.echo(f"memory         up to {_megabytes(memory['total'])}: {parts}")
    click.echo(f"speed          {report['seconds_per_step']:.3g} s/step (median of {report['timed_steps']} timed "
               f"steps on {report['threads']} thread{'s' if report['threads'] != 1 else ''}): "
               f"{format_duration(report['seconds_per_epoch'])} per epoch")
    if report["steps_left"] is not None:
        click.echo(f"budget         {report['steps_left']:,} steps from step {report['start_step']:,}, about "
                   f"{format_duration(report['seconds_left'])} of training (validation and saving not counted)")


def _megabytes(n: int) -> str:
    return f"{n / 1e6:.1f} MB"
