"""The running of a planned training run (plan.py's Plan): the Trainer's steps, validation
every `eval_every` steps (or about EVALUATIONS times over the budget), checkpoints (latest,
best, periodic) and the restore point each one sets, metrics.jsonl, samples while training,
stopping on request (StopTraining from a callback, or KeyboardInterrupt) with the latest state
saved; and its outcome, the Run.

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
from ..errors import OutputError, ProcessLostError, TrainingError

if TYPE_CHECKING:
    from .plan import Plan

WARMUP_STEPS = 3  # steps left out of chars/s: the first ones include page faults
EVALUATIONS = 15  # validations over a budget when eval_every is not given


@dataclass(kw_only=True)
class Run:
    """A training run's outcome: where it is, what it reached, and its model (`load()`).

    `val_loss` is the last validation (at `val_step`, the run's last step unless it was
    stopped) and `train_loss` the training loss at that same step; `best_val_loss` is the
    lowest validation, at `best_step`, the one best.safetensors holds. Losses in nats per
    symbol (character or byte); None where there was no validation text."""

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
    stopped: bool = False  # by StopTraining or KeyboardInterrupt (at the end of the budget, perhaps)
    engine: str = "charrnn"
    precision: str = "fp32"  # of the matrix products
    kernel: str = "fp32"  # which ran them (a key of model.config.KERNELS)
    recipe: str | None = None  # what the time budget chose (recipe.py), where it chose
    isa: str | None = None  # the level the kernels were compiled for (kernels/cpu.py; None: torch engine)
    val_step: int | None = None
    best_val_loss: float | None = None
    best_step: int | None = None

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
        return dict(run_dir=str(self.path), best=str(self.best), latest=str(self.latest), steps=self.steps,
                    chars=self.chars, chars_per_sec=self.chars_per_sec, val_step=self.val_step,
                    train_loss=self.train_loss, val_loss=self.val_loss, val_bpc=bits(self.val_loss),
                    best_step=self.best_step, best_val_loss=self.best_val_loss, best_val_bpc=bits(self.best_val_loss),
                    unit=self.unit, skipped_steps=self.skipped_steps, recoveries=self.recoveries,
                    lr_scale=self.lr_scale, interrupted=self.stopped, engine=self.engine, precision=self.precision,
                    kernel=self.kernel, isa=self.isa, recipe=self.recipe)


def bits(nats: float | None) -> float | None:
    """Nats per symbol in bits per symbol."""
    return nats / math.log(2) if nats is not None else None


class StopRequests:
    """The run's callback, with a StopTraining raised from it held back as a request that the
    loop honours where the run can stop whole: after the step in progress is evaluated, saved
    (best included) and reported; before the first step when raised while the run is set up."""

    def __init__(self, notify):
        self.notify = notify
        self.requested = False

    def __call__(self, event) -> None:
        try:
            self.notify(event)
        except events.StopTraining:
            self.requested = True


class Loop:
    """The steps of a planned run, with validation, checkpoints, metrics and samples."""

    def __init__(self, plan: Plan, notify: StopRequests):
        self.plan = plan
        self.notify = notify
        self.trainer = plan.trainer
        self.start_step = self.trainer.step
        self.timed_steps, self.timed_seconds = 0, 0.0
        self.last_periodic = time.monotonic()
        self.saved = False
        self.next_validation: float | None = None  # of a time budget without eval_every: training seconds
        self.best_unsaved = False  # an evaluation improved on the best, and no save has kept it yet
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
                              precision=trainer.precision, kernel=trainer.kernel, isa=trainer.isa))
        runtime.notice_compiling(CELLS[trainer.model.config.cell].kernel, notify)
        trainer.warm_up()
        interrupted = False
        try:
            try:
                while not trainer.finished() and not notify.requested:
                    self._step()
            except KeyboardInterrupt:
                if trainer.step == self.start_step:
                    raise  # interrupted before its first step: nothing to save
                interrupted = True
            improved = False
            if not (interrupted or notify.requested) and not (trainer.history
                                                              and trainer.history[-1]["step"] == trainer.step):
                improved = self._evaluate()
            best_missing = not run.best.exists() and trainer.val_ids.size < 2
            latest = self._save(best=improved or self.best_unsaved or best_missing, periodic=False)
        except ProcessLostError as exc:  # what is saved is whole: resume from the last checkpoint
            raise ProcessLostError(f"{exc} at step {trainer.step}; {run.kept('latest', plan.run_id)}") from None
        except TrainingError as exc:
            raise TrainingError(f"{exc}; {run.kept('best', plan.run_id)}", options=exc.options) from None
        except OutputError as exc:
            kept = run.kept("latest", plan.run_id)
            raise OutputError(f"{exc}; training stopped at step {trainer.step}, {kept}") from None
        except MemoryError:
            raise TrainingError(f"out of memory at step {trainer.step}; {run.kept('latest', plan.run_id)}") from None
        best = run.best if run.best.exists() else latest
        last = next((h for h in reversed(trainer.history) if h.get("val_loss") is not None), None)
        return Run(path=run.path, latest=latest, best=best, steps=trainer.step,
                   chars=trainer.step * cfg.batch * cfg.seq, chars_per_sec=self.chars_per_sec,
                   train_loss=last["train_loss"] if last is not None else trainer.train_loss,
                   val_loss=last["val_loss"] if last is not None else None,
                   val_step=last["step"] if last is not None else None, best_val_loss=trainer.best_val,
                   best_step=trainer.best_step, unit=data.vocab.unit,
                   skipped_steps=trainer.skipped, recoveries=trainer.recoveries, lr_scale=trainer.lr_scale,
                   stopped=interrupted or notify.requested, engine=plan.engine, precision=trainer.precision,
                   kernel=trainer.kernel, isa=trainer.isa, recipe=plan.recipe)

    def _step(self) -> None:
        from .trainer import MAX_BAD_STEPS, MAX_RECOVERIES

        trainer, notify = self.trainer, self.notify
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
        improved = self._validation_due() and self._evaluate()
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

    def _validation_due(self) -> bool:
        """Whether this step is validated: every eval_every steps, or where it was not given,
        about EVALUATIONS times over the budget: a budget of steps or epochs every so many
        steps, one of time every EVALUATIONS-th of it by the training clock (which follows
        the speed, however it changes as the run goes on)."""
        trainer, cfg = self.trainer, self.trainer.cfg
        interval = eval_interval(trainer)
        due = interval is not None and trainer.step % interval == 0
        if cfg.eval_every is None and cfg.seconds is not None:
            period = cfg.seconds / EVALUATIONS
            crossed = self.next_validation is not None and trainer.train_seconds >= self.next_validation
            if crossed or self.next_validation is None:
                self.next_validation = (trainer.train_seconds // period + 1) * period
            due = due or crossed
        return due

    def _evaluate(self) -> bool:
        trainer = self.trainer
        previous_best = trainer.best_val
        val = trainer.evaluate()
        self._record(dict(step=trainer.step, seconds=round(trainer.train_seconds, 3), train_loss=trainer.train_loss,
                          val_loss=val, chars_per_sec=self.chars_per_sec))
        improved = val is not None and math.isfinite(val) and (previous_best is None or val < previous_best)
        self.best_unsaved = self.best_unsaved or improved
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
                               kernel=trainer.kernel, isa=trainer.isa, engine=plan.engine,
                               save_every=plan.save_every, keep=plan.keep, changes=plan.changes)
        run = plan.run
        try:
            path = run.save(tensors, meta, best=best, periodic_step=trainer.step if periodic else None,
                            keep=plan.keep)
        except OutputError:
            # latest is written first: a save that failed after it (the disk full at best) kept the run
            self.saved = self.saved or run.written_by(run.latest, plan.run_id)
            raise
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
        self.best_unsaved = self.best_unsaved and not best
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


def eval_interval(trainer) -> int | None:
    """Steps between validations: the config's eval_every, or the steps of a budget of steps
    or epochs (whichever ends first) over EVALUATIONS; None for a budget of time alone, which
    is validated by the clock (see Loop._validation_due)."""
    cfg = trainer.cfg
    if cfg.eval_every is not None:
        return cfg.eval_every
    total = budget_steps(trainer)
    return max(1, math.ceil(total / EVALUATIONS)) if total is not None else None


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
