"""Training a model from text, as a library call: `train` sets a run up (its folder, its text,
its model), trains it, saves it, reports what happens as events (events.py) and returns the
Run; `dry_run` says what a run would cost without writing anything.

What a run does around the Trainer's steps lives here: the budget, validation every
`eval_every` steps, checkpoints (latest, best, periodic) and the restore point each one sets,
metrics.jsonl, samples while training, stopping on request (StopTraining from a callback, or
KeyboardInterrupt) with the latest state saved, and the rules that keep what is on disk safe:
one writer per run directory, a finished run never overwritten unless asked, a failed start
leaving nothing behind.
"""

from __future__ import annotations

import contextlib
import math
import shutil
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

from . import __version__, events
from .config import (DEFAULT_EPOCHS, FROM_CHECKPOINT, MODEL_OPTIONS, OPTIONS, REGULARISERS, RESUMABLE, TRAIN_OPTIONS,
                     ModelConfig, RunOptions, TrainConfig, duration, format_duration, steps_or_duration)
from .errors import CheckpointError, ConfigError, InputError, OutputError, ProcessLostError, TrainingError

WARMUP_STEPS = 3  # steps left out of chars/s: the first ones include page faults


@dataclass
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
    kernel: str = "fp32"  # which ran them (a key of config.KERNELS)
    recipe: str | None = None  # what the time budget chose (recipe.py), where it chose

    @property
    def metrics(self) -> list[dict]:
        """The run's evaluation records (metrics.jsonl), one per evaluated step."""
        from .rundir import RunDir

        return RunDir(self.path).metrics()[0]

    def load(self, threads: int | None = None):
        """The run's best model (its latest when it has no best) as a LanguageModel."""
        from .language_model import load

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


def train(sources: str | Sequence[str] | None = None, *, text: str | None = None,
          on_event: Callable[[object], None] | None = None, progress: bool = True, **options) -> Run:
    """Train a model on `sources` (a path, or a list of paths: files, directories of text
    files, "-" for standard input) or on `text` (a str), and return the Run.

    Options are those of `charrnn train`, spelled with underscores: the model (`model` "lstm",
    "gru" or "rnn"; `hidden`, `layers`, `embed`, `dropout`), the optimisation (`batch`, `seq`,
    `lr`, `optimizer`, `clip`, `schedule`, `warmup`, `decay_every`, `decay_rate`, `val_frac`,
    `eval_every`, `seed`), the budget (`steps`, `epochs`, `time` as seconds or "90s"/"10m";
    10 epochs when none is given), the run (`name`, `out`, `overwrite`, `resume`, `init_from`,
    `save_every`, `keep`, `threads`) and the text (`unit`, `min_count`, `separator`, `errors`),
    with the same defaults; `sample_every`, `sample_length`, `sample_temperature` and
    `sample_prime` report samples as events. Invalid options raise ConfigError.

    `on_event(event)` is called with each of charrnn.events' records as training goes; raise
    charrnn.StopTraining there to stop. KeyboardInterrupt stops too. Either way the latest
    state is saved and the Run returned, with `stopped` set. `progress` shows a progress bar
    (tqdm.auto: in a notebook too); no signal handler is installed.
    """
    session = _Session(sources, text, options, dry=False)
    notify = _with_progress_bar(on_event) if progress else (on_event or (lambda event: None))
    try:
        return session.run(notify)
    finally:
        close = getattr(notify, "close", None)
        if close is not None:
            close()


def dry_run(sources: str | Sequence[str] | None = None, *, text: str | None = None,
            on_event: Callable[[object], None] | None = None, **options) -> dict:
    """What `train` with these arguments would be: the model's size, the memory it needs, its
    speed from a few timed steps, and what the budget comes to. Writes nothing."""
    return _Session(sources, text, options, dry=True).estimate(on_event or (lambda event: None))


@dataclass
class _Source:
    """The checkpoint a run resumes or fine-tunes from."""

    file: object  # checkpoint.ModelFile
    resume: bool


@dataclass
class _Plan:
    """A run, set up: everything decided before the first step."""

    run: object  # rundir.RunDir
    label: str
    run_id: str
    trainer: object  # trainer.Trainer
    data: object  # idcache.EncodedText
    threads: int
    save_every: tuple[str, float]
    keep: int
    replaces: bool  # a run written over another: the old checkpoints go at the first save
    engine: str
    changes: list[dict] = field(default_factory=list)
    samples: object = None  # _Samples
    recipe: str | None = None  # what the time budget chose, described


class _Session:
    """One call of `train` or `dry_run`."""

    def __init__(self, sources, text, options: dict, dry: bool):
        unknown = sorted(set(options) - set(OPTIONS))
        if unknown:
            raise ConfigError(f"unknown option {unknown[0]!r} (the options are those of charrnn train)")
        if text is not None:
            if sources:
                raise ConfigError("give sources or text, not both")
            if not isinstance(text, str):
                raise ConfigError(f"text must be a str, not {type(text).__name__}")
        elif isinstance(sources, (str, Path)):
            sources = [str(sources)]
        self.sources = [str(s) for s in sources or ()]
        self.text = text
        self.given = {k: v for k, v in options.items() if v is not None}  # None is the default
        self.dry = dry
        self._held = contextlib.ExitStack()  # the run directory's lock, while the run lasts
        self.rank = 0  # of a distributed run's processes (engine torch under torchrun)
        self.created: list[Path] = []  # what the run created, to go should it not start
        run_options = {k: v for k, v in options.items() if k in RunOptions.__dataclass_fields__}
        for name in ("save_every", "sample_every"):
            if run_options.get(name) is not None:
                run_options[name] = steps_or_duration(name, run_options[name])
        self.options = RunOptions(**run_options)

    # ---- set-up ---------------------------------------------------------------------------------
    def _source(self) -> _Source | None:
        from . import checkpoint, rundir

        opts = self.options
        if opts.resume is None and opts.init_from is None:
            return None
        if opts.min_count is not None:
            raise ConfigError("min_count makes a new vocabulary; a run from a checkpoint keeps its vocabulary",
                              options=("min_count",))
        # a run directory means its best weights to fine-tune, but its latest state to resume
        path = rundir.resolve(opts.resume or opts.init_from, latest=opts.resume is not None)
        return _Source(checkpoint.read_model(path), resume=opts.resume is not None)

    def _configs(self, source: _Source | None) -> tuple[ModelConfig, TrainConfig]:
        """The model (its vocabulary size a placeholder for a new one) and training settings;
        ConfigError for options a checkpoint fixes that were given otherwise."""
        from . import checkpoint

        given = self.given
        if source is not None:
            base = source.file.config
            fixed = dict(model=base.cell, hidden=base.hidden, layers=base.layers, embed=base.embed,
                         unit=source.file.vocab.unit)
            if given.get("embed") == 0:  # 0 is the hidden size
                given = dict(given, embed=given.get("hidden", base.hidden))
            if source.resume:
                _, recorded = checkpoint.recorded_data(source.file)
                fixed.update(dropout=base.dropout, **{k: getattr(base, k) for k in REGULARISERS},
                             **{k: v for k, v in recorded.to_dict().items()
                                                      if k in TRAIN_OPTIONS and k not in RESUMABLE})
                fixed.update(separator=source.file.meta.get("data", {}).get("separator", "\n"),
                             name=source.file.meta.get("run"))
                names = [k for k in given if k not in RESUMABLE and k != "resume"
                         and not (k in fixed and _same(k, given[k], fixed[k]))]
                if names:
                    changeable = ("steps", "epochs", "time", "lr", "eval_every", "save_every", "keep", "threads",
                                  "precision", "engine", "device")
                    raise ConfigError(f"resume continues the run as it was set up: {_values(names, given, fixed)} "
                                      f"cannot change (what can: {', '.join(changeable)} and the sample options)",
                                      options=("resume", *names, *changeable))
                cfg = TrainConfig.from_dict({**recorded.to_dict(), **self._budget_and_rate()})
                return base, cfg
            names = [k for k in given if k in FROM_CHECKPOINT and not (k in fixed and _same(k, given[k], fixed[k]))]
            if names:
                raise ConfigError(f"init_from takes the model's shape and vocabulary from its checkpoint: "
                                  f"{_values(names, given, fixed)} cannot be given", options=("init_from", *names))
            model = replace(base, **{k: given.get(k, MODEL_OPTIONS[k]) for k in ("dropout", *REGULARISERS)})
        else:
            model = ModelConfig(cell=given.get("model", MODEL_OPTIONS["model"]), vocab_size=1,
                                **{k: given.get(k, MODEL_OPTIONS[k]) for k in ("hidden", "layers", "embed", "dropout",
                                                                               *REGULARISERS)})
        train = {k: given.get(k, TRAIN_OPTIONS[k]) for k in TRAIN_OPTIONS if k != "time"}
        train["seconds"] = duration("time", given["time"]) if given.get("time") is not None else None
        if train["steps"] is None and train["epochs"] is None and train["seconds"] is None:
            train["epochs"] = DEFAULT_EPOCHS
        return model, TrainConfig(**train)

    def _budget_and_rate(self) -> dict:
        """What a resumed run takes from the options given: budgets, learning rate, cadence."""
        given, changed = self.given, {}
        for name in ("steps", "epochs", "lr", "eval_every"):
            if given.get(name) is not None:
                changed[name] = given[name]
        if given.get("time") is not None:
            changed["seconds"] = duration("time", given["time"])
        return changed

    def _run_dir(self, source: _Source | None, record: dict | None, model: ModelConfig, chooses: bool):
        """(the run directory, its label, its run id, whether it takes over another run's folder);
        `chooses`: the budget chooses the model's size (after the text is read)."""
        from . import rundir

        opts = self.options
        if source is not None and source.resume:
            parent = rundir.RunDir(source.file.path.parent)
            own = parent if rundir.is_run_folder(parent.path) and parent.owns(source.file.meta) else None
            if opts.out is None and own is None:
                raise ConfigError(f"{source.file.path} is not in its run's folder; name the folder to continue the "
                                  "run in with out", options=("out",))
            run = rundir.RunDir(Path(opts.out)) if opts.out is not None else own
            label = record["run"] or run.path.name
            run_id = record["run_id"] or rundir.new_run_id()
            elsewhere = own is None or run.path.resolve() != own.path.resolve()
            return run, label, run_id, elsewhere
        label = opts.name or (Path(opts.out).name if opts.out is not None else
                              rundir.run_name(model.cell, "auto" if chooses else f"{model.layers}x{model.hidden}"))
        run = rundir.RunDir(Path(opts.out) if opts.out is not None else rundir.home() / label)
        return run, label, rundir.new_run_id(), True

    def _refuse_overwrite(self, run, takes_over: bool) -> bool:
        """Whether the run goes in a folder that holds another run's checkpoints (then only with
        overwrite; ConfigError otherwise, naming that run and the ways forward)."""
        from . import checkpoint

        existing = run.checkpoints() if run.path.is_dir() else []
        if not takes_over or not existing:
            return False
        if self.options.overwrite:
            return True
        try:
            meta = checkpoint.read_meta(existing[0])
            what = f"run {meta.get('run') or run.path.name} at step {meta.get('step')}"
        except CheckpointError:
            what = f"{len(existing)} checkpoint{'s' if len(existing) != 1 else ''}"
        raise ConfigError(f"{run.path} already holds a trained {what}; continue it with resume, choose another "
                          "name, or replace it with overwrite", options=("resume", "name", "overwrite"))

    def _encode(self, source: _Source | None, cache: Path, notify):
        from . import idcache

        opts = self.options
        vocab = source.file.vocab if source is not None else None
        files, separator, errors = self.sources, opts.separator, opts.errors
        recorded = None
        if source is not None and source.resume:
            fingerprint, _ = _recorded(source)
            if not files and self.text is None:  # the text the run recorded, or its cache when it was a stream
                files, recorded = list(fingerprint["sources"]), fingerprint
            separator = fingerprint.get("separator", "\n") if separator is None else separator
            errors = errors or fingerprint.get("errors", "strict")  # the text is read as it was
        unit = vocab.unit if vocab is not None else (opts.unit or "char")
        if (errors or "strict") != "strict" and unit == "byte":
            raise ConfigError("errors is for text read as characters; unit byte reads any bytes as they are",
                              options=("errors", "unit"))
        stdin = None
        if self.text is not None:
            import io

            files, stdin = ["-"], io.BytesIO(self.text.encode("utf-8", "surrogatepass"))
        elif "-" in files:
            import sys

            stdin = sys.stdin.buffer if sys.stdin is not None else None
        if not files:
            raise ConfigError("name the text to train on: files, a directory, or - for standard input")
        try:
            return idcache.encode_sources(files, cache, unit=unit, min_count=opts.min_count or 1,
                                          separator="\n" if separator is None else separator,
                                          errors=errors or "strict", vocab=vocab, stdin=stdin,
                                          progress=lambda n: notify(events.Reading(n)), recorded=recorded)
        except InputError as exc:
            if recorded is not None and recorded.get("streamed") and str(exc).startswith("no such file: "):
                raise InputError(f"this run was trained on a stream ({str(exc).removeprefix('no such file: ')}) that "
                                 f"is gone, and its id cache {cache} no longer holds the text; give the text again "
                                 "(as files, or - for standard input)") from None
            # symbols the checkpoint's vocabulary lacks (Vocab.describe_missing)
            if source is not None and source.resume and str(exc).startswith("text has "):
                raise InputError(f"the text differs from the one this run was trained on: it "
                                 f"{str(exc).removeprefix('text ')}; resume needs the same text",
                                 options=("resume",)) from None
            raise

    def _follow_data(self, source: _Source | None, fingerprint: dict, vocab_meta: dict, cache: str):
        """A distributed run's other process: the ids process 0 encoded, from its cache when
        this process can read it (the same machine, or a shared file system), else encoded
        again here into a temporary folder and checked to be the same."""
        from . import idcache
        from .vocab import Vocab

        found = idcache.cached(Path(cache), fingerprint, Vocab.from_meta(vocab_meta))
        if found is not None:
            return found
        scratch = self._held.enter_context(tempfile.TemporaryDirectory(prefix="charrnn-"))
        data = self._encode(source, Path(scratch), lambda event: None)
        if data.fingerprint["ids_sha256"] != fingerprint["ids_sha256"]:
            raise InputError(f"process {self.rank} reads other text than process 0 ({data.ids.size} symbols, "
                             f"{fingerprint['chars']} there); give every process the same files")
        return data

    def _plan(self, notify, cache: Path | None) -> _Plan:
        """Set the run up: checks, the run folder (claimed and locked unless a dry run), the
        text, the model. What it creates is listed in `created`, to be removed should the run
        not start."""
        _prepare_runtime(notify)
        from . import checkpoint, estimate, runtime
        from .batches import split
        from .idcache import same_data
        from .trainer import MAX_BAD_STEPS, MAX_RECOVERIES, Trainer

        opts = self.options
        source = self._source()
        record = checkpoint.run_record(source.file.meta) if source is not None and source.resume else None
        model_cfg, train_cfg = self._configs(source)
        # a resumed run keeps its thread count and precision unless told otherwise: the
        # batch's shards and the products, and so the float sums, follow them
        recorded_threads = record["threads"] if record is not None else None
        threads = runtime.thread_count(opts.threads or recorded_threads)
        engine = dict(precision=opts.precision or (record["precision"] if record is not None else "auto"))
        trainer_class = Trainer
        if opts.engine == "torch":
            from . import torch_engine

            torch_engine.check_batch(train_cfg.batch)
            trainer_class = torch_engine.TorchTrainer
            engine["device"] = torch_engine.start(opts.device, opts.threads)
            self.rank = torch_engine.world()[0]
        estimate.check_fits(model_cfg, train_cfg, threads, val_chars=0)
        chooses = self._budget_chooses(source, train_cfg)
        run, label, run_id, takes_over = self._run_dir(source, record, model_cfg, chooses)
        writes = not self.dry and self.rank == 0  # the other processes of a distributed run write nothing
        if writes:
            self.created += run.claim(label, run_id)
            self._held.enter_context(run.lock("charrnn train"))
        replaces = self._refuse_overwrite(run, takes_over) if self.rank == 0 else False
        if writes:
            run.prepare()
            if not run.cache.exists():
                self.created.append(run.cache)
        if self.rank == 0:
            data = self._encode(source, cache or run.cache, notify)
            if opts.engine == "torch":
                torch_engine.share_data(data)
        else:
            data = self._follow_data(source, *torch_engine.share_data(None))
        vocab = data.vocab
        samples = None
        if opts.sample_every is not None:
            samples = _Samples(opts, vocab, data.ids, train_cfg.seed)
        changes, chosen = [], None
        if source is not None and source.resume:
            recorded, recorded_cfg = _recorded(source)
            train_ids, val_ids = split(data.ids, recorded_cfg.val_frac)
            if not same_data(recorded, data):
                kind = "characters" if vocab.unit == "char" else "bytes"
                size = (f"{data.ids.size} {kind}, {recorded['chars']} then" if data.ids.size != recorded["chars"]
                        else "same length, other characters")
                raise InputError(f"the text differs from the one this run was trained on ({size}); use init_from "
                                 "to fine-tune on new text", options=("init_from",))
            state = checkpoint.training_state(source.file.meta, MAX_BAD_STEPS, MAX_RECOVERIES)
            estimate.check_fits(model_cfg, train_cfg, threads, len(val_ids))
            trainer = trainer_class.restore(source.file.checkpoint.tensors, state, train_ids, val_ids, train_cfg,
                                            threads, **engine)
            changes = record["changes"] + self._changes(source, trainer, threads, notify)
        else:
            train_ids, val_ids = split(data.ids, train_cfg.val_frac)
            model_cfg = replace(model_cfg, vocab_size=len(vocab))
            if chooses:
                model_cfg, train_cfg, chosen = self._choose(model_cfg, train_cfg, train_ids, threads, engine, notify)
            estimate.check_fits(model_cfg, train_cfg, threads, len(val_ids))
            trainer = trainer_class.new(model_cfg, train_cfg, train_ids, val_ids, threads=threads, **engine)
            if source is not None:
                trainer.load_params(source.file.weights)
        saving = record["saving"] if record is not None else {}
        save_every = opts.save_every if "save_every" in self.given or not saving.get("every") else saving["every"]
        keep = opts.keep if "keep" in self.given or saving.get("keep") is None else saving["keep"]
        return _Plan(run, label, run_id, trainer, data, threads, save_every, keep, replaces, opts.engine, changes,
                     samples, chosen)

    def _budget_chooses(self, source: _Source | None, train_cfg: TrainConfig) -> bool:
        """Whether the time budget chooses the model and its training (recipe.py): a run from
        scratch on charrnn's engine, budgeted by time alone, its size not given."""
        from . import recipe

        return (source is None and train_cfg.seconds is not None and train_cfg.steps is None
                and train_cfg.epochs is None and self.options.engine == "charrnn"
                and not set(recipe.SIZE) & set(self.given))

    def _choose(self, model_cfg: ModelConfig, train_cfg: TrainConfig, train_ids, threads: int, engine: dict,
                notify) -> tuple[ModelConfig, TrainConfig, str]:
        """The configs with the recipe the budget buys on this machine filled in (a probe of
        a few timed steps per size; given options stay), and the choice described (and said)."""
        from . import estimate, recipe
        from .trainer import Trainer

        def speed(layers: int, hidden: int) -> float:
            """Training chars/s of this size, with dropout's masks and the average's updates
            (which cost a step up to a quarter of its time) as the recipe will likely have them."""
            size = replace(model_cfg, layers=layers, hidden=hidden, embed=self.given.get("embed") or hidden,
                           dropout=self.given.get("dropout", recipe.PROBE_DROPOUT))
            probe_cfg = replace(train_cfg, ema=self.given.get("ema", recipe.EMA))
            probe = Trainer.new(size, probe_cfg, train_ids, train_ids[:0], threads=threads, **engine)
            seconds, _ = estimate.time_steps(probe, recipe.PROBE_STEPS)
            return train_cfg.batch * train_cfg.seq / seconds

        _notice_compiling(model_cfg.cell, notify)
        notify(events.Notice("the time budget chooses the model: timing a few steps of each size"))
        given = {k: v for k, v in self.given.items() if k in (*recipe.CHOSEN, "batch", "seq")}
        chosen = recipe.choose(train_cfg.seconds, len(train_ids), speed, given, model_cfg.cell)
        o = chosen.options
        described = f"for {format_duration(train_cfg.seconds)}: {chosen.describe()}"
        notify(events.Notice(f"{described} (give a size to choose it yourself)"))
        model_cfg = replace(model_cfg, layers=o["layers"], hidden=o["hidden"], dropout=o["dropout"],
                            embed=self.given.get("embed") or o["hidden"])
        train_cfg = replace(train_cfg, **{k: o[k] for k in ("schedule", "warmup", "min_lr_frac", "ema")})
        return model_cfg, train_cfg, described

    def _changes(self, source: _Source, trainer, threads: int, notify) -> list[dict]:
        """The options a resumed run changes, recorded (and said, with what it means for exactness)."""
        meta, step = source.file.meta, trainer.step
        before = dict(TrainConfig.from_dict(meta["train"]).to_dict(), threads=meta.get("threads"),
                      precision=meta.get("precision", "fp32"), engine=meta.get("engine", "charrnn"))
        now = dict(trainer.cfg.to_dict(), threads=threads, precision=trainer.precision, engine=self.options.engine)
        changes, said = [], []
        for name in ("steps", "epochs", "seconds", "lr", "eval_every", "threads", "precision", "engine"):
            old, new = before.get(name), now[name]
            if old == new or (name == "threads" and old is None):
                continue
            changes.append({"step": step, "option": "time" if name == "seconds" else name, "from": old, "to": new})
            if name in ("threads", "precision", "engine"):
                before_it = {"threads": f"on {old}", "precision": f"in {old}", "engine": f"with {old}"}[name]
                said.append(f"{name} {new} (was {old}: the run goes on, but not bit for bit as it would have "
                            f"{before_it})")
            elif name == "lr":
                said.append(f"lr {new:g} (was {old:g})")
        if said:
            notify(events.Notice(f"resuming at step {step} with " + "; ".join(said)))
        return changes

    # ---- the run --------------------------------------------------------------------------------
    def estimate(self, notify) -> dict:
        from . import estimate

        with tempfile.TemporaryDirectory(prefix="charrnn-") as scratch:
            plan = self._plan(notify, Path(scratch))
            _notice_compiling(plan.trainer.model.config.cell, notify)
            return dict(estimate.dry_run(plan.trainer, plan.threads), recipe=plan.recipe)

    def run(self, notify) -> Run | None:
        loop = None
        with self._held:
            try:
                plan = self._plan(notify if self.rank == 0 else (lambda event: None), None)
                if self.rank != 0:  # a distributed run's other process: steps as rank 0 says
                    plan.trainer.follow()
                    return None
                loop = _Loop(plan, notify)
                try:
                    return loop.run()
                finally:
                    getattr(plan.trainer, "finish", lambda: None)()
            except BaseException:
                if loop is None or not loop.saved:  # a run that saved nothing leaves nothing behind
                    for path in reversed(self.created):
                        _remove(path)
                raise


def _prepare_runtime(notify) -> None:
    """runtime.prepare(), which must come before anything imports numba."""
    from . import runtime

    message = runtime.prepare()
    if message:
        notify(events.Notice(message))


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


def _values(names: list[str], given: dict, fixed: dict) -> str:
    """'hidden 512 (the checkpoint's: 256), model gru (the checkpoint's: lstm)' for a message."""
    return ", ".join(f"{name} {given[name]}" + (f" (the checkpoint's: {fixed[name]})" if name in fixed else "")
                     for name in names)


def _same(name: str, given, fixed) -> bool:
    """Whether an option given equals the value a checkpoint fixed."""
    if name == "time" and given is not None:
        given = duration("time", given)
    return given == fixed


def _recorded(source: _Source):
    from . import checkpoint

    return checkpoint.recorded_data(source.file)


def _notice_compiling(cell: str, notify) -> None:
    from .model import CELLS
    from .runtime import kernels_cached

    if not kernels_cached(CELLS[cell].kernel):
        notify(events.Notice("compiling kernels (first run only; cached afterwards)"))


class _Loop:
    """The steps of a planned run, with validation, checkpoints, metrics and samples."""

    def __init__(self, plan: _Plan, notify):
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
        plan, trainer, notify = self.plan, self.trainer, self.notify
        cfg = trainer.cfg
        run = plan.run
        data = plan.data
        if self.start_step > 0:  # a resumed run: records of the steps it does again go
            self._drop_metrics_after(self.start_step)
        notify(events.Started(run.path, plan.label, trainer.step, self.start_step > 0, budget_steps(self.trainer),
                              cfg.seconds, data.vocab.unit, int(data.ids.size), len(data.vocab),
                              data.vocab.unknown is not None, data.path, data.reused, plan.threads, plan.engine,
                              trainer.precision, trainer.kernel))
        _notice_compiling(trainer.model.config.cell, notify)
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
        except ProcessLostError as exc:  # what is saved is whole: resume from the last checkpoint
            raise ProcessLostError(f"{exc} at step {trainer.step}; {_kept(run, 'latest')}") from None
        except TrainingError as exc:
            raise TrainingError(f"{exc}; {_kept(run, 'best')}", options=exc.options) from None
        except OutputError as exc:
            raise OutputError(f"{exc}; training stopped at step {trainer.step}, {_kept(run, 'latest')}") from None
        except MemoryError:
            raise TrainingError(f"out of memory at step {trainer.step}; {_kept(run, 'latest')}") from None
        best = run.best if run.best.exists() else latest
        return Run(run.path, latest, best, trainer.step, trainer.step * cfg.batch * cfg.seq, self.chars_per_sec,
                   trainer.train_loss, trainer.best_val, data.vocab.unit, trainer.skipped, trainer.recoveries,
                   trainer.lr_scale, stopped, plan.engine, trainer.precision, trainer.kernel, plan.recipe)

    def _step(self) -> None:
        from .trainer import MAX_BAD_STEPS, MAX_RECOVERIES

        trainer, notify, cfg = self.trainer, self.notify, self.trainer.cfg
        report = trainer.train_step()
        if trainer.step - self.start_step > WARMUP_STEPS:
            self.timed_steps += 1
            self.timed_seconds += report.seconds
        if report.recovered_to is not None:
            self._drop_metrics_after(report.recovered_to)
            notify(events.Recovered(report.step, report.recovered_to, MAX_BAD_STEPS, trainer.lr_scale,
                                    trainer.recoveries, MAX_RECOVERIES))
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
        notify(events.Step(trainer.step, trainer.epoch, report.loss, trainer.train_loss, report.lr, report.skipped,
                           trainer.train_seconds, speed, seconds_left(trainer, speed)))
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
        from . import checkpoint

        plan, trainer = self.plan, self.trainer
        tensors, meta = trainer.snapshot()
        kind, interval = plan.save_every
        meta = checkpoint.run_meta(meta, vocab=plan.data.vocab, data=plan.data.fingerprint, run=plan.label,
                                   run_id=plan.run_id, version=__version__, threads=plan.threads,
                                   precision=plan.trainer.precision, kernel=plan.trainer.kernel)
        meta["engine"] = plan.engine
        meta.update(saving=dict(every=[kind, interval], keep=plan.keep), changes=plan.changes)
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


def _kept(run, which: str) -> str:
    """Which checkpoint the user still has, for a message after a failure."""
    for path in ((run.best, run.latest) if which == "best" else (run.latest, run.best)):
        if path.is_file():
            return f"the {'best' if path == run.best else 'last'} checkpoint is {path}"
    return "no checkpoint was written"


class _Samples:
    """A sample of `sample_length` symbols every N steps or every duration, from the model's
    current weights after the prime. Sampling only reads the weights, and its generator is
    seeded from the run's seed and the step: a run ends with the same weights with or
    without samples, and shows the same sample at the same step (resumed or not)."""

    def __init__(self, opts: RunOptions, vocab, ids, seed: int):
        self.kind, self.interval = opts.sample_every
        self.length = opts.sample_length
        self.temperature = opts.sample_temperature
        self.prime = opts.sample_prime or default_prime(vocab, ids)
        self.prime_ids = vocab.encode(self.prime)
        self.vocab = vocab
        self.seed = seed
        self.last = time.monotonic()

    def due(self, step: int) -> bool:
        if self.kind == "steps":
            return step % self.interval == 0
        return time.monotonic() - self.last >= self.interval

    def sample(self, model, step: int) -> str:
        """The prime and the symbols generated after it, as text."""
        import numpy as np

        from .sample import Sampler

        sampler = Sampler(model, banned=self.vocab.unknown, byte_values=self.vocab.byte_values())
        sampler.feed(self.prime_ids)
        rng = np.random.default_rng([self.seed, step])
        chunks = [chunk[:, 0] for chunk in sampler.generate(self.length, rng, self.temperature)]
        self.last = time.monotonic()
        return self.prime + self.vocab.decode(np.concatenate(chunks))


def default_prime(vocab, ids) -> str:
    """A newline when the vocabulary has one (samples then start like a paragraph), else
    the first character of the text whose ids start with `ids`."""
    return "\n" if not vocab.count_missing("\n") else vocab.decode(ids[:4])[:1]


def _with_progress_bar(on_event):
    """A callback that shows a tqdm.auto bar (a widget in a notebook) and the samples, then
    passes each event on to `on_event`."""
    import sys

    from tqdm.auto import tqdm

    state = {"bar": None}

    def notify(event) -> None:
        bar = state["bar"]
        if isinstance(event, events.Started):
            state["bar"] = tqdm(total=event.total_steps, initial=event.step, unit="step", desc="charrnn",
                                dynamic_ncols=True)
        elif isinstance(event, events.Step) and bar is not None:
            bar.update(event.step - bar.n)
            if event.train_loss is not None:
                bar.set_postfix(loss=f"{event.train_loss:.3f}", refresh=False)
        elif isinstance(event, events.Sampled) and bar is not None:
            bar.write(f"sample at step {event.step}:\n{event.text}")
        elif isinstance(event, events.Notice):
            tqdm.write(f"charrnn: {event.message}", file=sys.stderr)
        if on_event is not None:
            on_event(event)

    def close() -> None:
        if state["bar"] is not None:
            state["bar"].close()

    notify.close = close
    return notify
