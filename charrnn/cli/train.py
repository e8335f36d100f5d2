"""`charrnn train`: train a new model, resume a run, or fine-tune from a checkpoint."""

from __future__ import annotations

import math
import shutil
import signal
import sys
import tempfile
import time
from pathlib import Path

import click

from .. import __version__
from ..config import CELLS, OPTIMIZERS, SCHEDULES, UNITS
from ..errors import CharrnnError, CheckpointError, ConfigError, InputError, OutputError, TrainingError
from .common import (ERRORS, Duration, StepsOrDuration, errors_option, format_duration, load_core, notice,
                     notice_compiling, stderr_is_terminal, stdin_bytes, write_json)
from .dryrun import dry_run as dry_run_report
from .dryrun import echo_dry_run
from .watch import LiveSamples, check_sample_options, default_prime

WARMUP_STEPS = 3  # steps left out of chars/s: the first ones include compilation and page faults
LOG_EVERY_SECONDS = 10.0
DEFAULT_EPOCHS = 10


@click.command(name="train")
@click.argument("files", nargs=-1, type=click.Path(allow_dash=True))
@click.option("--model", "cell", type=click.Choice(CELLS), default="lstm", show_default=True, help="Cell type.")
@click.option("--hidden", type=int, default=256, show_default=True, help="Hidden units per layer (H).")
@click.option("--layers", type=int, default=2, show_default=True, help="Stacked recurrent layers (L).")
@click.option("--embed", type=int, default=0, help="Embedding size (E); default: the hidden size.")
@click.option("--dropout", type=float, default=0.0, show_default=True,
              help="Dropout after each layer, in [0, 1).")
@click.option("--batch", type=int, default=32, show_default=True, help="Parallel text streams per step (B).")
@click.option("--seq", type=int, default=64, show_default=True,
              help="Characters per stream per step: the truncated-BPTT window (T).")
@click.option("--lr", type=float, default=2e-3, show_default=True, help="Learning rate.")
@click.option("--optimizer", type=click.Choice(OPTIMIZERS), default="adam", show_default=True, help="Optimiser.")
@click.option("--clip", type=float, default=5.0, show_default=True,
              help="Clip the gradient's global L2 norm to this (0: off).")
@click.option("--schedule", type=click.Choice(SCHEDULES), default="constant", show_default=True,
              help="Learning-rate schedule: constant, cosine (to 0 at --steps) or step decay.")
@click.option("--warmup", type=int, default=0, show_default=True, help="Steps of linear learning-rate warmup.")
@click.option("--decay-every", type=int, default=1000, show_default=True,
              help="With --schedule step: decay the learning rate every this many steps.")
@click.option("--decay-rate", type=float, default=0.5, show_default=True,
              help="With --schedule step: multiply the learning rate by this.")
@click.option("--steps", type=int, help="Stop after this many steps (counted from the start of the run).")
@click.option("--epochs", type=float, help=f"Stop after this many passes over the text (default {DEFAULT_EPOCHS} "
              "when no budget is given).")
@click.option("--time", "seconds", type=Duration(), help="Stop after this much training time, e.g. 90s, 10m, 2h.")
@click.option("--val-frac", type=float, default=0.1, show_default=True,
              help="Fraction of the text, at its end, held out for validation.")
@click.option("--eval-every", type=int, default=500, show_default=True, help="Validate every this many steps.")
@click.option("--seed", type=click.IntRange(min=0), default=0, show_default=True, help="Seed for weights and dropout.")
@click.option("--threads", type=int, envvar="CHARRNN_THREADS",
              help="CPU threads (default: all cores; env CHARRNN_THREADS).")
@click.option("--out", type=click.Path(file_okay=False), help="Run directory (default: checkpoints/<name>).")
@click.option("--name", help="Run name (default: <model>-<layers>x<hidden>-<date>-<time>).")
@click.option("--save-every", type=StepsOrDuration(), default="10m", show_default=True,
              help="Checkpoint every N steps or every duration (e.g. 1000 or 10m).")
@click.option("--keep", type=int, default=3, show_default=True,
              help="Periodic checkpoints to keep besides latest and best.")
@click.option("--resume", "resume_from", metavar="CKPT",
              help="Continue a run exactly where this checkpoint left it (same text).")
@click.option("--init-from", metavar="CKPT", help="Start from this checkpoint's weights and vocabulary "
              "(fine-tune on new text).")
@click.option("--sample-every", type=StepsOrDuration(),
              help="Print a short sample on stderr every N steps or every duration (e.g. 500 or 30s).")
@click.option("--sample-length", type=int, default=200, show_default=True,
              help="Characters generated per --sample-every sample.")
@click.option("--sample-temperature", type=float, default=0.8, show_default=True,
              help="Temperature of --sample-every samples.")
@click.option("--sample-prime", help="Text --sample-every samples start from (default: a newline, or the "
              "text's first character when it has none).")
@click.option("--dry-run", is_flag=True, help="Print the model's size, memory and time per epoch from a few "
              "timed steps, then exit without writing anything.")
@click.option("--unit", type=click.Choice(UNITS),
              help="What the model reads and writes: char (Unicode code points, the default) or byte (UTF-8 "
                   "bytes: at most 256 symbols, any file).")
@click.option("--min-count", type=int,
              help="Map characters seen fewer than N times to one unknown symbol, which is never generated "
                   "(default 1: keep all).")
@click.option("--separator", help="Put between input files (default: a newline).")
@errors_option
@click.option("-q", "--quiet", is_flag=True, help="No progress or notices on stderr (errors still).")
@click.option("--json", "json_", is_flag=True, help="Print a JSON summary on stdout at the end (with --dry-run, "
              "the estimates).")
def train_command(files, cell, hidden, layers, embed, dropout, batch, seq, lr, optimizer, clip, schedule,
                  warmup, decay_every, decay_rate, steps, epochs, seconds, val_frac, eval_every, seed, threads,
                  out, name, save_every, keep, resume_from, init_from, sample_every, sample_length,
                  sample_temperature, sample_prime, dry_run, unit, min_count, separator, errors, quiet, json_):
    """Train a model on FILES (text files, directories of them, or - for standard input).

    The text is read as UTF-8 (with --unit byte, as bytes) and encoded once into the run
    directory's cache/ folder, which training memory-maps, so the text may be larger than
    memory; the cache is reused while the files stay the same. Its last --val-frac is held
    out for validation. Checkpoints go to the run directory: latest, best (by validation
    loss) and --keep periodic ones, with metrics.jsonl. Ctrl-C saves and stops; a second
    Ctrl-C aborts. Non-finite steps are skipped; five in a row send training back to the
    last checkpoint with half the learning rate, at most three times.
    """
    from ..config import ModelConfig, TrainConfig

    if resume_from and init_from:
        raise ConfigError("--resume and --init-from exclude each other")
    if keep < 0:
        raise ConfigError(f"--keep must be 0 or more, got {keep}")
    if sample_every is not None:
        check_sample_options(sample_length, sample_temperature, sample_prime)
    if steps is None and epochs is None and seconds is None and not resume_from:
        epochs = DEFAULT_EPOCHS
    train_cfg = TrainConfig(batch=batch, seq=seq, lr=lr, optimizer=optimizer, clip=clip, schedule=schedule,
                            warmup=warmup, decay_every=decay_every, decay_rate=decay_rate, steps=steps,
                            epochs=epochs, seconds=seconds, val_frac=val_frac, eval_every=eval_every, seed=seed)
    ModelConfig(cell=cell, vocab_size=1, hidden=hidden, layers=layers, embed=embed, dropout=dropout)
    threads = load_core(threads, quiet)

    from .. import rundir
    from ..corpus import same_data, split
    from ..train import Trainer, load_params

    source = base = None
    if resume_from or init_from:
        # a run directory means its best weights to fine-tune, but its latest state to resume
        source, base = _load_source(rundir.resolve(resume_from or init_from, latest=bool(resume_from)))
        if min_count is not None:
            raise ConfigError("--min-count makes a new vocabulary; a run from a checkpoint keeps its vocabulary")
    if resume_from:
        recorded, recorded_cfg = _recorded_run(source)
        files = files or tuple(recorded["sources"])
        run = rundir.RunDir(Path(out) if out else source.path.parent)
        run_label = source.meta.get("run", run.path.name)
        if separator is None:
            separator = recorded.get("separator", "\n")
        errors = errors or recorded.get("errors", "strict")  # the text is read as it was
    else:
        run_label = name or rundir.run_name(*((base.cell, base.layers, base.hidden) if base else (cell, layers, hidden)))
        run = rundir.RunDir(Path(out) if out else rundir.home() / run_label)
    if not files:
        raise ConfigError("name the text to train on: FILE..., a directory, or - for standard input")

    new_folder = not run.path.exists()
    # a dry run writes nothing: its ids go to a temporary folder
    scratch = tempfile.TemporaryDirectory(prefix="charrnn-") if dry_run else None
    try:
        if not dry_run:
            run.prepare()
        changed = "the text differs from the one this run was trained on"
        try:
            data = _encode(files, Path(scratch.name) if scratch else run.cache, source, unit, min_count, separator,
                           errors or "strict", quiet)
        except InputError as exc:  # symbols the checkpoint's vocabulary lacks (Vocab.describe_missing)
            if resume_from and str(exc).startswith("text has "):
                raise InputError(f"{changed}: it {str(exc).removeprefix('text ')}; --resume needs the same text") \
                    from None
            raise
        vocab = data.vocab
        train_ids, val_ids = split(data.ids, recorded_cfg.val_frac if resume_from else val_frac)
        if resume_from:
            if not same_data(recorded, data):
                kind = "characters" if vocab.unit == "char" else "bytes"
                size = (f"{data.ids.size} {kind}, {recorded['chars']} then" if data.ids.size != recorded["chars"]
                        else "same length, other characters")
                raise InputError(f"{changed} ({size}); use --init-from to fine-tune on new text")
            resumed_cfg = TrainConfig.from_dict({**recorded_cfg.to_dict(), **_budget(steps, epochs, seconds)})
            trainer = Trainer.restore(source.tensors, source.meta, train_ids, val_ids, resumed_cfg, threads)
        else:
            if init_from:
                model_cfg = ModelConfig(cell=base.cell, vocab_size=base.vocab_size, hidden=base.hidden,
                                        layers=base.layers, embed=base.embed, dropout=dropout)
            else:
                model_cfg = ModelConfig(cell=cell, vocab_size=len(vocab), hidden=hidden, layers=layers, embed=embed,
                                        dropout=dropout)
            trainer = Trainer.new(model_cfg, train_cfg, train_ids, val_ids, threads=threads)
            if init_from:
                load_params(trainer.model, source.tensors)
        if dry_run:
            _notice_compiling(trainer.model.config.cell, quiet)
            report = dry_run_report(trainer, threads)
            if json_:
                write_json(report)
            else:
                echo_dry_run(report)
            return
        live = None
        if sample_every is not None and not quiet:
            live = LiveSamples(sample_every, sample_length, sample_temperature,
                               sample_prime or default_prime(vocab, data.ids), vocab, trainer.cfg.seed)
    except CharrnnError:
        if new_folder:  # a run that never started leaves no folder behind, only the error
            shutil.rmtree(run.path, ignore_errors=True)
        raise
    finally:
        if scratch is not None:
            scratch.cleanup()

    _notice_data(data, quiet)
    extra_meta = dict(**vocab.to_meta(), data=data.fingerprint, run=run_label, charrnn_version=__version__,
                      threads=threads)
    summary = _train_loop(trainer, run, extra_meta, save_every, keep, quiet, live)
    if json_:
        write_json(summary)
    if summary["interrupted"]:
        raise click.exceptions.Exit(summary["exit_code"])


def _encode(files, cache: Path, source, unit, min_count, separator, errors: str, quiet: bool):
    """The ids of FILES from the id cache folder `cache` (encoding them into it when needed),
    with the vocabulary of `source` (a checkpoint) or a new one."""
    from ..corpus import encode_sources
    from ..vocab import Vocab

    vocab = Vocab.from_meta(source.meta) if source else None
    if vocab is not None and unit is not None and unit != vocab.unit:
        raise ConfigError(f"--unit {unit} does not fit the checkpoint, whose unit is the {vocab.unit}")
    if errors != "strict" and (vocab.unit if vocab is not None else unit) == "byte":
        raise ConfigError("--errors is for text read as characters; --unit byte reads any bytes as they are")
    bar = None
    if not quiet and stderr_is_terminal():
        from tqdm import tqdm

        bar = tqdm(unit="B", unit_scale=True, desc="charrnn: reading", leave=False, dynamic_ncols=True)
    try:
        data = encode_sources(files, cache, unit=unit or "char", min_count=min_count or 1,
                              separator="\n" if separator is None else separator, errors=errors, vocab=vocab,
                              stdin=stdin_bytes(), progress=bar.update if bar is not None else None)
    finally:
        if bar is not None:
            bar.close()
    return data


def _notice_data(data, quiet: bool) -> None:
    """Where the run's ids are, once the run is set to start (an error before that is one line)."""
    kind = "characters" if data.vocab.unit == "char" else "bytes"
    unknown = " and an unknown symbol" if data.vocab.unknown is not None else ""
    notice(f"{'reusing' if data.reused else 'encoded'} {data.ids.size:,} {kind} in {data.path} "
           f"({len(data.vocab) - bool(unknown)} symbols{unknown})", quiet)


def _budget(steps, epochs, seconds) -> dict:
    """Budget options given on the command line, which override a resumed run's."""
    given = dict(steps=steps, epochs=epochs, seconds=seconds)
    return {k: v for k, v in given.items() if v is not None}


def _load_source(path: Path):
    """The checkpoint to resume or fine-tune from and its model, checked: (checkpoint, ModelConfig)."""
    from .. import checkpoint
    from .loading import model_description

    cfg, _ = model_description(path, checkpoint.read_meta(path))
    source = checkpoint.load(path, expected_shapes={f"param/{k}": v for k, v in cfg.param_shapes().items()})
    cfg, _ = model_description(path, source.meta)
    return source, cfg


def _recorded_run(source):
    """What a checkpoint records of its run's text and training settings, checked:
    (data fingerprint, TrainConfig)."""
    from ..config import TrainConfig

    data = source.meta.get("data")
    try:
        if not (isinstance(data, dict) and isinstance(data.get("sources"), list) and data["sources"]
                and all(isinstance(f, str) for f in data["sources"]) and type(data.get("chars")) is int
                and isinstance(data.get("separator", ""), str) and data.get("errors", "strict") in ERRORS):
            raise ConfigError(f"the text it was trained on is described as {str(data)[:60]}")
        return data, TrainConfig.from_dict(source.meta["train"])
    except (KeyError, TypeError, ConfigError) as exc:
        raise CheckpointError(f"{source.path} cannot be resumed: {exc}") from None


class _Stop:
    """First SIGINT/SIGTERM asks the loop to save and stop; a second SIGINT aborts."""

    def __init__(self):
        self.signum = None
        self._previous = {}

    def __enter__(self):
        for signum in (signal.SIGINT, signal.SIGTERM):
            self._previous[signum] = signal.signal(signum, self._handle)
        return self

    def _handle(self, signum, frame):
        if self.signum is not None and signum == signal.SIGINT:
            raise KeyboardInterrupt
        self.signum = signum

    def __exit__(self, *exc):
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)


class _Progress:
    """A tqdm bar on a terminal, otherwise a plain line every LOG_EVERY_SECONDS and at every
    save; nothing when quiet. Both show the step, epoch, training loss, the last validation
    loss, speed, the time left and the last checkpoint written."""

    def __init__(self, trainer, quiet: bool, unit: str):
        self.quiet = quiet
        self.bits_per = "bpc" if unit == "char" else "bits/byte"
        self.bar = None
        self.last_log = time.monotonic()
        self.val = None
        self.saved_step = None
        self.total = _budget_steps(trainer)
        if not quiet and stderr_is_terminal():
            from tqdm import tqdm

            bar_format = ("{percentage:3.0f}%|{bar}| {n_fmt}/{total_fmt} [{elapsed}{postfix}]" if self.total
                          else "step {n_fmt} [{elapsed}{postfix}]")
            self.bar = tqdm(total=self.total, initial=trainer.step, unit="step", dynamic_ncols=True, leave=True,
                            bar_format=bar_format)

    def update(self, trainer, chars_per_sec: float | None, saved: Path | None = None) -> None:
        if self.quiet:
            return
        if saved is not None:
            self.saved_step = trainer.step
        loss = trainer.train_loss
        fields = [f"epoch {trainer.epoch:.2f}", f"loss {loss:.3f}" if loss is not None else "loss -"]
        if self.val is not None:
            fields.append(f"val {self.val:.3f} ({self.val / math.log(2):.3f} {self.bits_per})")
        if chars_per_sec:
            fields.append(f"{chars_per_sec / 1000:.1f}k chars/s")
            left = _time_left(trainer, self.total, trainer.cfg.batch * trainer.cfg.seq / chars_per_sec)
            if left is not None:
                fields.append(f"{format_duration(left)} left")
        if self.bar is not None:
            self.bar.update(trainer.step - self.bar.n)
            if self.saved_step is not None:
                fields.append(f"saved at step {self.saved_step}")
            self.bar.set_postfix_str(", ".join(fields), refresh=False)
            if saved is not None:
                self.write(f"charrnn: saved {saved} at step {trainer.step}")
        elif saved is not None or time.monotonic() - self.last_log >= LOG_EVERY_SECONDS:
            self.last_log = time.monotonic()
            if saved is not None:
                fields.append(f"saved {saved}")
            elif self.saved_step is not None:
                fields.append(f"last saved at step {self.saved_step}")
            notice(f"step {trainer.step} " + " ".join(fields))

    def write(self, message: str) -> None:
        """A message between progress updates (above the bar on a terminal). tqdm.write
        defaults to stdout, which carries only data."""
        if self.bar is not None:
            self.bar.write(message, file=sys.stderr)
        else:
            click.echo(message, err=True)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None


def _budget_steps(trainer) -> int | None:
    """The step the run stops at by --steps or --epochs (whichever is sooner); None for --time alone."""
    cfg = trainer.cfg
    limits = [cfg.steps] if cfg.steps is not None else []
    if cfg.epochs is not None:
        limits.append(math.ceil(cfg.epochs * trainer.batches.steps_per_epoch))
    return min(limits) if limits else None


def _time_left(trainer, total: int | None, seconds_per_step: float) -> float | None:
    """Training time left by the budget (steps, epochs or --time, whichever ends first)."""
    left = []
    if total is not None:
        left.append(max(0, total - trainer.step) * seconds_per_step)
    if trainer.cfg.seconds is not None:
        left.append(max(0.0, trainer.cfg.seconds - trainer.train_seconds))
    return min(left) if left else None


def _notice_compiling(cell: str, quiet: bool) -> None:
    from ..kernels.gru import gru_forward
    from ..kernels.lstm import lstm_forward
    from ..kernels.rnn import rnn_forward

    notice_compiling({"lstm": lstm_forward, "gru": gru_forward, "rnn": rnn_forward}[cell], quiet)


def _train_loop(trainer, run, extra_meta: dict, save_every, keep: int, quiet: bool, live=None) -> dict:
    from ..train import MAX_BAD_STEPS, MAX_RECOVERIES

    cfg = trainer.cfg
    _notice_compiling(trainer.model.config.cell, quiet)
    save_kind, save_interval = save_every
    last_periodic = time.monotonic()
    start_step, timed_steps, timed_seconds = trainer.step, 0, 0.0
    progress = _Progress(trainer, quiet, extra_meta["unit"])

    def save(best: bool, periodic: bool) -> Path:
        nonlocal last_periodic
        tensors, meta = trainer.snapshot()
        meta.update(extra_meta)
        path = run.save(tensors, meta, best=best, periodic_step=trainer.step if periodic else None, keep=keep)
        if periodic:
            last_periodic = time.monotonic()
        trainer.set_restore_point()
        return path

    def evaluate() -> bool:
        previous_best = trainer.best_val
        val = trainer.evaluate()
        progress.val = val
        run.append_metrics(dict(step=trainer.step, seconds=round(trainer.train_seconds, 3),
                                train_loss=trainer.train_loss, val_loss=val,
                                chars_per_sec=round(timed_chars() / timed_seconds, 1) if timed_seconds else None))
        return val is not None and (previous_best is None or val < previous_best)

    def timed_chars() -> int:
        return timed_steps * cfg.batch * cfg.seq

    interrupted = None
    try:
        with _Stop() as stop:
            while not trainer.finished() and stop.signum is None:
                report = trainer.train_step()
                if trainer.step - start_step > WARMUP_STEPS:
                    timed_steps += 1
                    timed_seconds += report.seconds
                if report.recovered_to is not None:
                    if not quiet:
                        progress.write(f"charrnn: the loss or gradient was not finite for {MAX_BAD_STEPS} steps in "
                                       f"a row at step {report.step}; went back to step {report.recovered_to} and "
                                       f"halved the learning rate (recovery {trainer.recoveries} of {MAX_RECOVERIES})")
                    continue  # the state it went back to was evaluated and saved already
                improved = trainer.step % cfg.eval_every == 0 and evaluate()
                # periodic saves keep their own beat, whatever best saves happen in between: by steps
                # at multiples of N (a resumed run saves where the uninterrupted one would); but
                # none within a run of non-finite steps, which the last good checkpoint may undo
                due = (trainer.step % save_interval == 0 if save_kind == "steps"
                       else time.monotonic() - last_periodic >= save_interval)
                periodic = due and not trainer.finished() and trainer.healthy()
                saved = save(best=improved, periodic=periodic) if improved or periodic else None
                progress.update(trainer, timed_chars() / timed_seconds if timed_seconds else None, saved)
                if live is not None and live.due(trainer.step):
                    progress.write(live.message(trainer.model, trainer.step))
            interrupted = stop.signum
            if trainer.history and trainer.history[-1]["step"] == trainer.step:
                improved = False
            else:
                improved = evaluate() if interrupted is None else False
            best_missing = not run.best.exists() and trainer.val_ids.size < 2
            latest = save(best=improved or best_missing, periodic=False)
    except TrainingError as exc:
        raise TrainingError(f"{exc}; {_kept(run, 'best')}") from None
    except OutputError as exc:
        raise OutputError(f"{exc}; training stopped at step {trainer.step}, {_kept(run, 'latest')}") from None
    except KeyboardInterrupt:  # the second Ctrl-C: a save in progress was abandoned, its file removed
        progress.close()
        notice(f"aborted at step {trainer.step}; {_kept(run, 'latest')}")
        raise click.exceptions.Exit(128 + signal.SIGINT) from None
    finally:
        progress.close()
    if interrupted is not None:
        notice(f"stopped at step {trainer.step}; saved {latest}", quiet)
    else:
        notice(f"done: {trainer.step} steps; saved {latest}", quiet)
    best = run.best if run.best.exists() else latest
    val = trainer.best_val
    return dict(run_dir=str(run.path), best=str(best), latest=str(latest), steps=trainer.step,
                chars=trainer.step * cfg.batch * cfg.seq,
                chars_per_sec=round(timed_chars() / timed_seconds, 1) if timed_seconds else None,
                train_loss=trainer.train_loss, val_loss=val, val_bpc=val / math.log(2) if val is not None else None,
                unit=extra_meta["unit"], skipped_steps=trainer.skipped, recoveries=trainer.recoveries,
                lr_scale=trainer.lr_scale, interrupted=interrupted is not None,
                exit_code=128 + interrupted if interrupted is not None else 0)


def _kept(run, which: str) -> str:
    """Which checkpoint the user still has, for a message after a failure."""
    for path in ((run.best, run.latest) if which == "best" else (run.latest, run.best)):
        if path.is_file():
            return f"the {'best' if path == run.best else 'last'} checkpoint is {path}"
    return "no checkpoint was written"
