"""The running of a planned training run (plan.py's Plan): the Trainer's steps, validation
every `eval_every` steps, checkpoints (latest, best, periodic) and the restore point each one
sets, metrics.jsonl, samples while training, stopping on request (StopTraining from a
callback, or KeyboardInterrupt) with the latest state saved; and its outcome, the Run.

`import charrnn` imports this module (for Run), so what imports the numeric core is imported
inside the methods that need it.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from .. import events, runtime
from ..errors import OutputError, TrainingError

if TYPE_CHECKING:
    from .plan import Plan

WARMUP_STEPS = 3  # steps left out of chars/s: the first ones include page faults


@dataclass(kw_only=True)
class Run:
    """A training run's outcome: where it is, what it reached, and its model (`load()`)."""

    path: Path
    latest: Path
    best: Path
    steps: int
    chars: int
    chars_per_sec: float | None
    train_loss: float | None
    val_loss: float | None
    unit: str
    skipped_steps: int = 0
    recoveries: int = 0
    lr_scale: float = 1.0
    stopped: bool = False  # by StopTraining or KeyboardInterrupt, before the budget ended
    engine: str = "charrnn"
    precision: str = "fp32"  # of the matrix products
    kernel: str = "fp32"  # which ran them (a key of model.config.KERNELS)
    recipe: str | None = None  # what the time budget chose (recipe.py), where it chose

    @property
    def metrics(self) -> list[dict]:
        """The run's evaluation records (metrics.jsonl), one per evaluated step."""
        from ..runs.rundir import RunDir

        return RunDir(self.path).metrics()[0]

    def load(self, threads: int | None = None):
        """The run's best model (its latest when it has no best) as a LanguageModel."""
        from ..generate.language_model import load

        return load(self.best, threads=threads)

    def summary(self) -> dict:
        """What `charrnn train --json` prints."""
        val = self.val_loss
        return dict(run_dir=str(self.path), best=str(self.best), latest=str(self.latest), steps=self.steps,
                    chars=self.chars, chars_per_sec=self.chars_per_sec, train_loss=self.train_loss, val_loss=val,
                    val_bpc=val / math.log(2) if val is not None else None, unit=self.unit,
                    skipped_steps=self.skipped_steps, recoveries=self.recoveries, lr_scale=self.lr_scale,
                    interrupted=self.stopped, engine=self.engine, precision=self.precision, kernel=self.kernel,
                    recipe=self.recipe)


class Loop:
    """The steps of a planned run, with validation, checkpoints, metrics and samples."""

    def __init__(self, plan: Plan, notify):
        self.plan = plan
        self.notify = notify
        self.trainer = plan.trainer
        self.start_step = self.trainer.step
        self.timed_steps, self.timed_seconds = 0, 0.0
        self.last_periodic = time.monotonic()
        self.saved = False
        # a new run's metrics records wait for its first checkpoint where the folder holds an
        # earlier run's records (replaced, or from a run that saved nothing)
        earlier = self.start_step == 0 and (plan.run.path / "metrics.jsonl").exists()
        self.pending: list[dict] | None = [] if plan.replaces or earlier else None

    @property
    def chars_per_sec(self) -> float | None:
        cfg = self.trainer.cfg
        return round(self.timed_steps * cfg.batch * cfg.seq / self.timed_seconds, 1) if self.timed_seconds else None

    def run(self) -> Run:
        from ..model.network import CELLS

        plan, trainer, notify = self.plan, self.trainer, self.notify
        cfg = trainer.cfg
        run = plan.run
        data = plan.data
        if self.start_step > 0:  # a resumed run: records of the steps it does again go
            self._drop_metrics_after(self.start_step)
        vocab = data.vocab
        notify(events.Started(run_dir=run.path, run=plan.label, step=trainer.step, resumed=self.start_step > 0,
                              total_steps=budget_steps(trainer), time_budget=cfg.seconds, unit=vocab.unit,
                              chars=int(data.ids.size), symbols=len(vocab), unknown=vocab.unknown is not None,
                              ids_path=data.path, reused=data.reused, threads=plan.threads, engine=plan.engine,
                              precision=trainer.precision, kernel=trainer.kernel))
        runtime.notice_compiling(CELLS[trainer.model.config.cell].kernel, notify)
        trainer.warm_up()
        stopped = False
        try:
            try:
                while not trainer.finished():
                    self._step()
            except (events.StopTraining, KeyboardInterrupt):
                if trainer.step == self.start_step:
                    raise  # stopped before its first step: nothing to save
                stopped = True
            improved = False
            if not stopped and not (trainer.history and trainer.history[-1]["step"] == trainer.step):
                improved = self._evaluate()
            best_missing = not run.best.exists() and trainer.val_ids.size < 2
            latest = self._save(best=improved or best_missing, periodic=False)
        except TrainingError as exc:
            raise TrainingError(f"{exc}; {run.kept('best')}", options=exc.options) from None
        except OutputError as exc:
            raise OutputError(f"{exc}; training stopped at step {trainer.step}, {run.kept('latest')}") from None
        except MemoryError:
            raise TrainingError(f"out of memory at step {trainer.step}; {run.kept('latest')}") from None
        best = run.best if run.best.exists() else latest
        return Run(path=run.path, latest=latest, best=best, steps=trainer.step,
                   chars=trainer.step * cfg.batch * cfg.seq, chars_per_sec=self.chars_per_sec,
                   train_loss=trainer.train_loss, val_loss=trainer.best_val, unit=data.vocab.unit,
                   skipped_steps=trainer.skipped, recoveries=trainer.recoveries, lr_scale=trainer.lr_scale,
                   stopped=stopped, engine=plan.engine, precision=trainer.precision, kernel=trainer.kernel,
                   recipe=plan.recipe)

    def _step(self) -> None:
        from .trainer import MAX_BAD_STEPS, MAX_RECOVERIES

        trainer, notify, cfg = self.trainer, self.notify, self.trainer.cfg
        report = trainer.train_step()
        if trainer.step - self.start_step > WARMUP_STEPS:
            self.timed_steps += 1
            self.timed_seconds += report.seconds
        if report.recovered_to is not None:
            self._drop_metrics_after(report.recovered_to)
            notify(events.Recovered(step=report.step, back_to=report.recovered_to, bad_steps=MAX_BAD_STEPS,
                                    lr_scale=trainer.lr_scale, recoveries=trainer.recoveries,
                                    max_recoveries=MAX_RECOVERIES))
            return  # the state it went back to was evaluated and saved already
        improved = trainer.step % cfg.eval_every == 0 and self._evaluate()
        # periodic saves keep their own beat, whatever best saves happen in between: by steps at
        # multiples of N (a resumed run saves where the uninterrupted one would); but none within
        # a run of non-finite steps, which the last good checkpoint may undo
        kind, interval = self.plan.save_every
        due = (trainer.step % interval == 0 if kind == "steps"
               else time.monotonic() - self.last_periodic >= interval)
        periodic = due and not trainer.finished() and trainer.healthy()
        if improved or periodic:
            self._save(best=improved, periodic=periodic)
        speed = self.chars_per_sec
        notify(events.Step(step=trainer.step, epoch=trainer.epoch, loss=report.loss, train_loss=trainer.train_loss,
                           lr=report.lr, skipped=report.skipped, train_seconds=trainer.train_seconds,
                           chars_per_sec=speed, seconds_left=seconds_left(trainer, speed)))
        samples = self.plan.samples
        if samples is not None and samples.due(trainer.step):
            notify(events.Sampled(trainer.step, samples.sample(trainer.sampling_model(), trainer.step)))

    def _evaluate(self) -> bool:
        trainer = self.trainer
        previous_best = trainer.best_val
        val = trainer.evaluate()
        self._record(dict(step=trainer.step, seconds=round(trainer.train_seconds, 3), train_loss=trainer.train_loss,
                          val_loss=val, chars_per_sec=self.chars_per_sec))
        improved = val is not None and (previous_best is None or val < previous_best)
        if val is not None:
            self.notify(events.Evaluated(trainer.step, val, improved))
        return improved

    def _record(self, record: dict) -> None:
        if self.pending is not None:  # a new run's records wait for its first checkpoint
            self.pending.append(record)
        else:
            self.plan.run.append_metrics(record)

    def _drop_metrics_after(self, step: int) -> None:
        if self.pending is not None:
            self.pending = [r for r in self.pending if r["step"] <= step]
            return
        records, bad = self.plan.run.metrics()
        if bad or any(r["step"] > step for r in records):
            self.plan.run.write_metrics([r for r in records if r["step"] <= step])

    def _save(self, best: bool, periodic: bool) -> Path:
        from . import record

        plan, trainer = self.plan, self.trainer
        tensors, meta = trainer.snapshot()
        meta = record.run_meta(meta, vocab=plan.data.vocab, data=plan.data.fingerprint, run=plan.label,
                               run_id=plan.run_id, threads=plan.threads, precision=trainer.precision,
                               kernel=trainer.kernel, engine=plan.engine, save_every=plan.save_every, keep=plan.keep,
                               changes=plan.changes)
        run = plan.run
        path = run.save(tensors, meta, best=best, periodic_step=trainer.step if periodic else None, keep=plan.keep)
        if periodic:
            self.last_periodic = time.monotonic()
        if self.pending is not None:  # the first checkpoint: what was there before goes, the records come
            written = {run.latest} | ({run.best} if best else set()) | (set(run.periodic()[-1:]) if periodic else set())
            if plan.replaces:
                run.remove_checkpoints(written)
                run.set_marker(plan.label, plan.run_id)
            run.write_metrics(self.pending)
            self.pending = None
        self.saved = True
        trainer.set_restore_point()
        self.notify(events.Saved(trainer.step, path, best, periodic))
        return path

def budget_steps(trainer) -> int | None:
    """The step a run stops at by steps or epochs (whichever is sooner); None for time alone."""
    cfg = trainer.cfg
    limits = [cfg.steps] if cfg.steps is not None else []
    if cfg.epochs is not None:
        limits.append(math.ceil(cfg.epochs * trainer.batches.steps_per_epoch))
    return min(limits) if limits else None


def seconds_left(trainer, chars_per_sec: float | None) -> float | None:
    """Training time left by the budget (steps, epochs or time, whichever ends first), at
    `chars_per_sec`; None before there is a speed, or without a budget."""
    if not chars_per_sec:
        return None
    cfg = trainer.cfg
    left = []
    total = budget_steps(trainer)
    if total is not None:
        left.append(max(0, total - trainer.step) * cfg.batch * cfg.seq / chars_per_sec)
    if cfg.seconds is not None:
        left.append(max(0.0, cfg.seconds - trainer.train_seconds))
    return min(left) if left else None
