"""`charrnn train`: train a new model, resume a run, or fine-tune from a checkpoint. Options
are parsed here and passed to `charrnn.train` (only those given: the library owns the
defaults); its events become the progress display; signals become a request to stop."""

from __future__ import annotations

import math
import signal
import sys
import time
from pathlib import Path

import click

from ..durations import format_duration
from ..model.config import CELLS, KERNELS, PRECISIONS
from ..text.units import UNITS
from ..training.config import OPTIMIZERS, SCHEDULES
from ..training.options import DEFAULT_EPOCHS, ENGINES, MODEL_OPTIONS, RUN_OPTIONS, TRAIN_OPTIONS
from .common import SectionedCommand, complete_runs, errors_option, notice, stderr_is_terminal, write_json

LOG_EVERY_SECONDS = 10.0
# the click parameters whose library option has another name
_OPTION_NAMES = {"cell": "model", "seconds": "time", "resume_from": "resume"}
_CLI_ONLY = ("files", "dry_run", "quiet", "json_")
# train --help, option by option under its heading
SECTIONS = {
    "Data": ("unit", "min_count", "separator", "errors", "val_frac"),
    "Model": ("cell", "hidden", "layers", "embed", "dropout", "locked_dropout", "embed_dropout", "weight_drop",
              "zoneout_cell", "zoneout_hidden"),
    "Training": ("batch", "seq", "lr", "optimizer", "clip", "schedule", "min_lr_frac", "warmup", "weight_decay", "ema",
                 "decay_every", "decay_rate", "seed", "eval_every"),
    "Budget (the first to end stops the run)": ("steps", "epochs", "seconds"),
    "Run folder and output": ("name", "out", "overwrite", "resume_from", "init_from", "save_every", "keep",
                              "sample_every", "sample_length", "sample_temperature", "sample_prime", "dry_run",
                              "quiet", "json_", "help"),
    "Engine": ("threads", "precision", "engine", "device"),
}


def _default(name: str):
    return {**MODEL_OPTIONS, **TRAIN_OPTIONS, **RUN_OPTIONS}[name]


@click.command(name="train", cls=SectionedCommand, sections=SECTIONS,
               short_help="Train a model on text files, a directory or standard input.")
@click.argument("files", nargs=-1, type=click.Path(allow_dash=True))
@click.option("--model", "cell", type=click.Choice(CELLS), default=_default("model"), show_default=True,
              help="Cell type.")
@click.option("--hidden", type=int, default=_default("hidden"), show_default=True,
              help="Hidden units per layer (H); with --time alone, the budget chooses.")
@click.option("--layers", type=int, default=_default("layers"), show_default=True,
              help="Stacked recurrent layers (L); with --time alone, the budget chooses.")
@click.option("--embed", type=int, default=_default("embed"), help="Embedding size (E); default: the hidden size.")
@click.option("--dropout", type=float, default=_default("dropout"), show_default=True,
              help="Dropout after each layer, drawn at every step, in [0, 1).")
@click.option("--locked-dropout", type=float, default=_default("locked_dropout"), show_default=True,
              help="Variational dropout after each layer: one mask per stream for a whole window, in [0, 1).")
@click.option("--embed-dropout", type=float, default=_default("embed_dropout"), show_default=True,
              help="Variational dropout of the embedding's output (one mask per stream per window), in [0, 1).")
@click.option("--weight-drop", type=float, default=_default("weight_drop"), show_default=True,
              help="DropConnect on the recurrent weights, one mask per window (AWD-LSTM's), in [0, 1).")
@click.option("--zoneout-cell", type=float, default=_default("zoneout_cell"), show_default=True,
              help="Zoneout of the LSTM's cell state: the fraction of units that keep their previous value, a new "
                   "mask every step; scoring and sampling keep that fraction of every unit. In [0, 1).")
@click.option("--zoneout-hidden", type=float, default=_default("zoneout_hidden"), show_default=True,
              help="Zoneout of the hidden state h (LSTM and GRU), as --zoneout-cell does the cell's. In [0, 1).")
@click.option("--batch", type=int, default=_default("batch"), show_default=True,
              help="Parallel text streams per step (B).")
@click.option("--seq", type=int, default=_default("seq"), show_default=True,
              help="Characters per stream per step: the truncated-BPTT window (T).")
@click.option("--lr", type=float, default=_default("lr"), show_default=True, help="Learning rate.")
@click.option("--optimizer", type=click.Choice(OPTIMIZERS), default=_default("optimizer"), show_default=True,
              help="Optimiser.")
@click.option("--clip", type=float, default=_default("clip"), show_default=True,
              help="Clip the gradient's global L2 norm to this (0: off).")
@click.option("--schedule", type=click.Choice(SCHEDULES), default=_default("schedule"), show_default=True,
              help="Learning-rate schedule: constant, cosine (to --min-lr-frac of --lr at the end of the budget: "
                   "--steps, --epochs or --time, whichever ends first) or step decay.")
@click.option("--min-lr-frac", type=float, default=_default("min_lr_frac"), show_default=True,
              help="Where the cosine schedule ends, as a fraction of --lr.")
@click.option("--warmup", type=int, default=_default("warmup"), show_default=True,
              help="Steps of linear learning-rate warmup.")
@click.option("--weight-decay", type=float, default=_default("weight_decay"), show_default=True,
              help="Decoupled weight decay (AdamW's) of the weight matrices, per step times the learning rate.")
@click.option("--ema", type=float, default=_default("ema"), show_default=True,
              help="Keep a moving average of the weights with this decay (e.g. 0.999): it is what is validated, "
                   "saved as best, sampled and exported (0: none).")
@click.option("--decay-every", type=int, default=_default("decay_every"), show_default=True,
              help="With --schedule step: decay the learning rate every this many steps.")
@click.option("--decay-rate", type=float, default=_default("decay_rate"), show_default=True,
              help="With --schedule step: multiply the learning rate by this.")
@click.option("--steps", type=int, help="Stop after this many steps (counted from the start of the run).")
@click.option("--epochs", type=float, help=f"Stop after this many passes over the text (default {DEFAULT_EPOCHS} "
              "when no budget is given).")
@click.option("--time", "seconds", metavar="DURATION",
              help="Stop after this much training time, e.g. 90s, 2min, 1h30m, 1.5h or 00:02:00. Without --hidden, "
                   "--layers, --steps or --epochs it also chooses the size, dropout, schedule and weight averaging "
                   "that this machine trains best in that time (timing a few steps of each size), and says what it "
                   "chose.")
@click.option("--val-frac", type=float, default=_default("val_frac"), show_default=True,
              help="Fraction of the text, at its end, held out for validation.")
@click.option("--eval-every", type=int,
              help="Validate every this many steps (default: about 15 times over the budget; a --time budget "
                   "every fifteenth of it). The run always ends with a validation.")
@click.option("--seed", type=click.IntRange(min=0), default=_default("seed"), show_default=True,
              help="Seed for weights and dropout.")
@click.option("--threads", type=int, envvar="CHARRNN_THREADS",
              help="CPU threads (default: all cores; env CHARRNN_THREADS).")
@click.option("--out", type=click.Path(file_okay=False), help="Run directory (default: checkpoints/<name>).")
@click.option("--name", help="Run name (default: <model>-<layers>x<hidden>-<date>-<time>).")
@click.option("--overwrite", is_flag=True, help="Replace the run already in the run directory (its checkpoints go "
              "once this run has saved its first one).")
@click.option("--save-every", metavar="STEPS|DURATION", default="10m", show_default=True,
              help="Checkpoint every N steps or every duration (e.g. 1000 or 10m).")
@click.option("--keep", type=int, default=_default("keep"), show_default=True,
              help="Periodic checkpoints to keep besides latest and best.")
@click.option("--resume", "resume_from", metavar="CKPT", shell_complete=complete_runs,
              help="Continue a run exactly where this checkpoint left it (same text, in its run directory).")
@click.option("--init-from", metavar="CKPT", shell_complete=complete_runs,
              help="Start from this checkpoint's weights and vocabulary (fine-tune on new text).")
@click.option("--sample-every", metavar="STEPS|DURATION",
              help="Print a short sample on stderr every N steps or every duration (e.g. 500 or 30s).")
@click.option("--sample-length", type=int, default=_default("sample_length"), show_default=True,
              help="Characters generated per --sample-every sample.")
@click.option("--sample-temperature", type=float, default=_default("sample_temperature"), show_default=True,
              help="Temperature of --sample-every samples.")
@click.option("--sample-prime", help="Text --sample-every samples start from (default: a newline, or the "
              "text's first character when it has none).")
@click.option("--engine", type=click.Choice(ENGINES), default=_default("engine"), show_default=True,
              help="charrnn (its own CPU kernels) or torch (PyTorch: a GPU, or many under torchrun; pip install "
                   "'charrnn[torch]').")
@click.option("--device", help="With --engine torch: cpu, cuda, cuda:N or mps (default: this process's GPU, else "
              "the CPU).")
@click.option("--precision", type=click.Choice(PRECISIONS),
              help="Of the matrix products: fp32, bf16 (inputs rounded to bf16, sums in float32; AMX or AVX512-BF16) "
                   "or auto (the default, or a resumed run's own: bf16 where the CPU has AMX, else fp32; with "
                   "--engine torch, bf16 autocast on a CUDA GPU that has it, else fp32). The kernels use the CPU's "
                   "best vector instructions, or the lower level env CHARRNN_ISA names (amx, avx512bf16, avx512, "
                   "avx2, sse).")
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
def train_command(**params):
    """Train a model on FILES (text files, directories of them, or - for standard input).

    The text is read as UTF-8 (with --unit byte, as bytes) and encoded once into the run
    directory's cache/ folder, which training memory-maps, so the text may be larger than
    memory; the cache is reused while the files stay the same. Its last --val-frac is held
    out for validation. Checkpoints go to the run directory: latest, best (by validation
    loss) and --keep periodic ones, with metrics.jsonl. A run directory that holds a run is
    not written over (see --resume and --overwrite), and one run writes in it at a time.
    Ctrl-C (or SIGTERM, SIGHUP) saves and stops; a second Ctrl-C aborts. Non-finite steps
    are skipped; five in a row send training back to the last checkpoint with half the
    learning rate, at most three times. With --resume, only the budget, --lr, --eval-every,
    --save-every, --keep, --threads, --precision, --engine, --device and the sample options
    may change (and are recorded).
    """
    from ..training import session

    ctx = click.get_current_context()
    given = {_OPTION_NAMES.get(name, name): value for name, value in params.items()
             if name not in _CLI_ONLY and ctx.get_parameter_source(name) != click.core.ParameterSource.DEFAULT}
    files, quiet = params["files"], params["quiet"]
    if params["dry_run"]:
        report = session.dry_run(files, on_event=_Display(quiet, None), **given)
        if params["json_"]:
            write_json(report)
        else:
            from .dryrun import echo_dry_run

            echo_dry_run(report)
        return
    signals = _Signals()
    display = _Display(quiet, signals)
    with signals:
        try:
            run = session.train(files, on_event=display, progress=False, **given)
            if run is None:  # a distributed run's process other than rank 0: rank 0 reports
                return
        except _Interrupted as stop:
            display.close()
            notice("interrupted before training started; nothing was saved", quiet)
            raise click.exceptions.Exit(128 + stop.signum) from None
        except _Abort:  # the second Ctrl-C: a save in progress was abandoned, its file removed
            display.close()
            notice(f"aborted at step {display.step}; {display.kept()}")
            raise click.exceptions.Exit(128 + signal.SIGINT) from None
        finally:
            display.close()
    signum = signals.signum if run.stopped else None
    if signum is not None:
        notice(f"stopped at step {run.steps}; saved {run.latest}", quiet)
    else:
        notice(f"done: {run.steps} steps; saved {run.latest}{_validation(run)}", quiet)
    if params["json_"]:
        write_json(dict(run.summary(), exit_code=128 + signum if signum is not None else 0))
    if signum is not None:
        raise click.exceptions.Exit(128 + signum)


def _validation(run) -> str:
    """'; validation 1.166 nats/char, 1.682 bits/char (best 1.156, 1.667 at step 4500)' for the
    last line of a run: its last validation (and its step where that was not the last step)."""
    if run.val_loss is None:
        return "; no validation (no held-out text)"
    unit = run.unit
    at = f" at step {run.val_step}" if run.val_step != run.steps else ""
    text = f"; validation{at} {run.val_loss:.3f} nats/{unit}, {run.val_loss / math.log(2):.3f} bits/{unit}"
    if run.best_step is not None and run.best_step != run.val_step:
        text += f" (best {run.best_val_loss:.3f}, {run.best_val_loss / math.log(2):.3f} at step {run.best_step})"
    return text


class _Interrupted(BaseException):
    """A signal before the first step: the run stops at once, leaving nothing behind."""

    def __init__(self, signum: int):
        super().__init__(signum)
        self.signum = signum


class _Abort(BaseException):
    """A second Ctrl-C: stop now, without saving."""


class _Signals:
    """SIGINT, SIGTERM and SIGHUP (a closed terminal) while `charrnn train` runs. Before the
    first step, any of them stops the run at once (it removes what it created). After, the
    first asks the run to save and stop after the step in progress; a second SIGINT aborts."""

    def __init__(self):
        self.signum = None
        self.training = False
        self._previous = {}

    def __enter__(self):
        for name in ("SIGINT", "SIGTERM", "SIGHUP"):
            if hasattr(signal, name):
                signum = getattr(signal, name)
                self._previous[signum] = signal.signal(signum, self._handle)
        return self

    def _handle(self, signum, frame):
        if not self.training:
            raise _Interrupted(signum)
        if self.signum is not None and signum == signal.SIGINT:
            raise _Abort
        self.signum = self.signum or signum

    def __exit__(self, *exc):
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)


class _Display:
    """Renders a run's events on stderr: a tqdm bar on a terminal, otherwise a plain line every
    LOG_EVERY_SECONDS and at every save; nothing when quiet (samples included). Each shows the
    step, epoch, training loss, the last validation loss, speed, the time left and the last
    checkpoint written. With `signals`, a stop they asked for ends the run after a step."""

    def __init__(self, quiet: bool, signals: _Signals | None):
        self.quiet = quiet
        self.signals = signals
        self.bar = self.reading = None
        self.last_log = time.monotonic()
        self.val = self.saved_step = None
        self.step = 0
        self.run_dir: Path | None = None
        self.bits_per = "bpc"
        self.products = ""

    def __call__(self, event) -> None:
        from .. import events

        handler = getattr(self, f"_{type(event).__name__.lower()}", None)
        if handler is not None and not self.quiet:
            handler(event)
        if isinstance(event, events.Started):
            self.run_dir = event.run_dir
        if isinstance(event, events.Step):
            self.step = event.step
            if self.signals is not None:
                self.signals.training = True
                if self.signals.signum is not None:
                    raise events.StopTraining

    def _reading(self, event) -> None:
        if self.reading is None and stderr_is_terminal():
            from tqdm import tqdm

            self.reading = tqdm(unit="B", unit_scale=True, desc="charrnn: reading", leave=False, dynamic_ncols=True)
        if self.reading is not None:
            self.reading.update(event.bytes)

    def _started(self, event) -> None:
        if self.reading is not None:
            self.reading.close()
            self.reading = None
        self.bits_per = "bpc" if event.unit == "char" else "bits/byte"
        kind = "characters" if event.unit == "char" else "bytes"
        unknown = " and an unknown symbol" if event.unknown else ""
        notice(f"{'reusing' if event.reused else 'encoded'} {event.chars:,} {kind} in {event.ids_path} "
               f"({event.symbols - bool(unknown)} symbols{unknown})")
        self.products = KERNELS.get(event.kernel, event.kernel)
        notice(f"training on {event.threads} thread{'s' if event.threads != 1 else ''}, the matrix products on "
               f"{self.products}" + (f", kernels compiled for {event.isa}" if event.isa else ""))
        self.step = event.step
        if stderr_is_terminal():
            from tqdm import tqdm

            total = event.total_steps
            bar_format = ("{percentage:3.0f}%|{bar}| {n_fmt}/{total_fmt} [{elapsed}{postfix}]" if total
                          else "step {n_fmt} [{elapsed}{postfix}]")
            self.bar = tqdm(total=total, initial=event.step, unit="step", dynamic_ncols=True, leave=True,
                            bar_format=bar_format)

    def _step(self, event) -> None:
        fields = [f"epoch {event.epoch:.2f}", f"loss {event.train_loss:.3f}" if event.train_loss is not None
                  else "loss -"]
        if self.val is not None:
            fields.append(f"val {self.val:.3f} ({self.val / math.log(2):.3f} {self.bits_per})")
        if event.chars_per_sec:
            fields.append(f"{event.chars_per_sec / 1000:.1f}k chars/s ({self.products.removesuffix(' tiles')})")
            if event.seconds_left is not None:
                fields.append(f"{format_duration(event.seconds_left)} left")
        saved = self.saved_step == event.step
        if self.bar is not None:
            self.bar.update(event.step - self.bar.n)
            if self.saved_step is not None:
                fields.append(f"saved at step {self.saved_step}")
            self.bar.set_postfix_str(", ".join(fields), refresh=False)
        elif saved or time.monotonic() - self.last_log >= LOG_EVERY_SECONDS:
            self.last_log = time.monotonic()
            if saved:
                fields.append(f"saved {self.saved_path}")
            elif self.saved_step is not None:
                fields.append(f"last saved at step {self.saved_step}")
            notice(f"step {event.step} " + " ".join(fields))

    def _evaluated(self, event) -> None:
        self.val = event.val_loss

    def _saved(self, event) -> None:
        self.saved_step, self.saved_path = event.step, event.path
        if self.bar is not None:
            self.write(f"charrnn: saved {event.path} at step {event.step}")

    def _sampled(self, event) -> None:
        self.write(f"charrnn: sample at step {event.step}:\n{event.text.strip(chr(10))}")

    def _recovered(self, event) -> None:
        self.write(f"charrnn: the loss or gradient was not finite for {event.bad_steps} steps in a row at step "
                   f"{event.step}; went back to step {event.back_to} and halved the learning rate (recovery "
                   f"{event.recoveries} of {event.max_recoveries})")

    def _notice(self, event) -> None:
        self.write(f"charrnn: {event.message}")

    def write(self, message: str) -> None:
        """A message between progress updates (above the bar on a terminal). tqdm.write
        defaults to stdout, which carries only data."""
        if self.bar is not None:
            self.bar.write(message, file=sys.stderr)
        else:
            click.echo(message, err=True)

    def kept(self) -> str:
        """Which checkpoint the user still has, for a message after an abort."""
        from ..runs.rundir import RunDir

        return RunDir(self.run_dir).kept() if self.run_dir is not None else "no checkpoint was written"

    def close(self) -> None:
        for bar in (self.bar, self.reading):
            if bar is not None:
                bar.close()
        self.bar = self.reading = None
