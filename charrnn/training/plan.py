"""The planning of a training run: everything decided before its first step. A Planner
checks the options `train` was given, finds the checkpoint a run resumes or fine-tunes from,
builds the model and training configs, picks the run folder (and refuses one that holds
another run), claims and locks it, encodes the text (or, in a distributed run's other
processes, follows process 0's), lets a time budget choose the model, and builds the
Trainer: a Plan, which loop.py runs.

`import charrnn` imports this module, so the numeric core (NumPy, Numba) and what imports it
are imported inside the methods that need it, after runtime.prepare_core.
"""

from __future__ import annotations

import contextlib
import os
import sys
import tempfile
from dataclasses import dataclass, field, replace
from pathlib import Path

from .. import events, runtime
from ..arguments import check_type, paths, unknown_option
from ..durations import duration, format_duration, steps_or_duration
from ..errors import CheckpointError, ConfigError, InputError
from ..model.config import REGULARISERS, ModelConfig
from .config import TrainConfig
from .options import DEFAULT_EPOCHS, FROM_CHECKPOINT, MODEL_OPTIONS, OPTIONS, RESUMABLE, TRAIN_OPTIONS, RunOptions
from .samples import Samples


@dataclass
class Source:
    """The checkpoint a run resumes or fine-tunes from."""

    file: object  # model_file.ModelFile
    resume: bool


@dataclass(kw_only=True)
class Plan:
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
    samples: object = None  # samples.Samples
    recipe: str | None = None  # what the time budget chose, described



class Planner:
    """The planning of one call of `train` or `dry_run`: its options checked, then (`plan`) the run set up."""

    def __init__(self, sources, text, options: dict, dry: bool, keywords: tuple[str, ...]):
        """`keywords`: the arguments the function takes besides the options (suggested for a misspelt one)."""
        unknown = sorted(set(options) - set(OPTIONS))
        if unknown:
            raise unknown_option(unknown[0], [*keywords, *OPTIONS])
        self.sources = paths("sources", sources)
        check_type("text", text, str, "a str", optional=True)
        if text is not None and self.sources:
            raise ConfigError("give sources or text, not both")
        self.text = text
        self.given = {k: v for k, v in options.items() if v is not None}  # None is the default
        self.dry = dry
        self.held = contextlib.ExitStack()  # the run directory's lock, while the run lasts
        self.rank = 0  # of a distributed run's processes (engine torch under torchrun)
        self.created: list[Path] = []  # what the run created, to go should it not start
        run_options = {k: v for k, v in options.items() if k in RunOptions.__dataclass_fields__}
        for name in ("save_every", "sample_every"):
            if run_options.get(name) is not None:
                run_options[name] = steps_or_duration(name, run_options[name])
        self.options = RunOptions(**run_options)

    def _source(self) -> Source | None:
        from ..runs import model_file, rundir

        opts = self.options
        if opts.resume is None and opts.init_from is None:
            return None
        if opts.min_count is not None:
            raise ConfigError("min_count makes a new vocabulary; a run from a checkpoint keeps its vocabulary",
                              options=("min_count",))
        # a run directory means its best weights to fine-tune, but its latest state to resume
        path = rundir.resolve(opts.resume or opts.init_from, latest=opts.resume is not None)
        return Source(model_file.read_model(path), resume=opts.resume is not None)

    def _configs(self, source: Source | None) -> tuple[ModelConfig, TrainConfig]:
        """The model (its vocabulary size a placeholder for a new one) and training settings;
        ConfigError for options a checkpoint fixes that were given otherwise."""
        from . import record

        given = self.given
        if source is not None:
            base = source.file.config
            fixed = dict(model=base.cell, hidden=base.hidden, layers=base.layers, embed=base.embed,
                         unit=source.file.vocab.unit)
            if given.get("embed") == 0:  # 0 is the hidden size
                given = dict(given, embed=given.get("hidden", base.hidden))
            if source.resume:
                _, recorded = record.recorded_data(source.file)
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

    def _run_dir(self, source: Source | None, earlier: dict | None, model: ModelConfig, chooses: bool):
        """(the run directory, its label, its run id, whether it takes over another run's folder);
        `chooses`: the budget chooses the model's size (after the text is read)."""
        from ..runs import rundir

        opts = self.options
        if source is not None and source.resume:
            parent = rundir.RunDir(source.file.path.parent)
            own = parent if rundir.is_run_folder(parent.path) and parent.owns(source.file.meta) else None
            if opts.out is None and own is None:
                raise ConfigError(f"{source.file.path} is not in its run's folder; name the folder to continue the "
                                  "run in with out", options=("out",))
            run = rundir.RunDir(Path(opts.out)) if opts.out is not None else own
            label = earlier["run"] or run.path.name
            run_id = earlier["run_id"] or rundir.new_run_id()
            elsewhere = own is None or run.path.resolve() != own.path.resolve()
            return run, label, run_id, elsewhere
        label = opts.name or (Path(opts.out).name if opts.out is not None else
                              rundir.run_name(model.cell, "auto" if chooses else f"{model.layers}x{model.hidden}"))
        run = rundir.RunDir(Path(opts.out) if opts.out is not None else rundir.home() / label)
        return run, label, rundir.new_run_id(), True

    def _refuse_overwrite(self, run, takes_over: bool) -> bool:
        """Whether the run goes in a folder that holds another run's checkpoints (then only with
        overwrite; ConfigError otherwise, naming that run and the ways forward)."""
        from ..runs import checkpoint

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

    def _encode(self, source: Source | None, cache: Path, notify):
        from ..data import idcache
        from ..text.sources import text_stream

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
            files, stdin = ["-"], text_stream(self.text, unit, errors or "strict")
        elif "-" in files:
            stdin = sys.stdin.buffer if sys.stdin is not None else None
        if not files:
            raise ConfigError("name the text to train on: files, a directory, or - for standard input")
        try:
            return idcache.encode_sources(files, cache, unit=unit, min_count=opts.min_count or 1,
                                          separator="\n" if separator is None else separator,
                                          errors=errors or "strict", vocab=vocab, stdin=stdin,
                                          progress=lambda n: notify(events.Reading(n)), recorded=recorded,
                                          on_directory=lambda message: notify(events.Notice(message)))
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

    def _follow_data(self, source: Source | None, fingerprint: dict, vocab_meta: dict, cache: str):
        """A distributed run's other process: the ids process 0 encoded, from its cache when
        this process can read it (the same machine, or a shared file system), else encoded
        again here into a temporary folder and checked to be the same."""
        from ..data import idcache
        from ..text.vocab import Vocab

        found = idcache.cached(Path(cache), fingerprint, Vocab.from_meta(vocab_meta))
        if found is not None:
            return found
        scratch = self.held.enter_context(tempfile.TemporaryDirectory(prefix="charrnn-"))
        data = self._encode(source, Path(scratch), lambda event: None)
        if data.fingerprint["ids_sha256"] != fingerprint["ids_sha256"]:
            raise InputError(f"process {self.rank} reads other text than process 0 ({data.ids.size} symbols, "
                             f"{fingerprint['chars']} there); give every process the same files")
        return data

    def plan(self, notify, cache: Path | None) -> Plan:
        """Set the run up: checks, the run folder (claimed and locked unless a dry run), the
        text, the model. What it creates is listed in `created`, to be removed should the run
        not start."""
        runtime.prepare_core(notify)
        from ..data.batches import split
        from ..data.idcache import same_data
        from . import estimate, record
        from .trainer import MAX_BAD_STEPS, MAX_RECOVERIES, Trainer

        opts = self.options
        source = self._source()
        earlier = record.run_record(source.file.meta) if source is not None and source.resume else None
        model_cfg, train_cfg = self._configs(source)
        # a resumed run keeps its thread count and precision unless told otherwise: the
        # batch's shards and the products, and so the float sums, follow them
        recorded_threads = earlier["threads"] if earlier is not None else None
        threads = runtime.thread_count(opts.threads or recorded_threads)
        engine = dict(precision=opts.precision or (earlier["precision"] if earlier is not None else "auto"))
        trainer_class = Trainer
        if opts.engine == "torch":
            from . import torch_engine

            torch_engine.check_batch(train_cfg.batch)
            trainer_class = torch_engine.TorchTrainer
            engine["device"] = torch_engine.start(opts.device, opts.threads)
            self.rank = torch_engine.world()[0]
        estimate.check_fits(model_cfg, train_cfg, threads, val_chars=0)
        chooses = self._budget_chooses(source, train_cfg)
        run, label, run_id, takes_over = self._run_dir(source, earlier, model_cfg, chooses)
        writes = not self.dry and self.rank == 0  # the other processes of a distributed run write nothing
        if writes:
            self.created += self.held.enter_context(run.take(label, run_id, "charrnn train"))
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
            samples = Samples(opts, vocab, data.ids, train_cfg.seed)
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
            state = record.training_state(source.file.meta, MAX_BAD_STEPS, MAX_RECOVERIES)
            estimate.check_fits(model_cfg, train_cfg, threads, len(val_ids))
            trainer = trainer_class.restore(source.file.checkpoint.tensors, state, train_ids, val_ids, train_cfg,
                                            threads, **engine)
            if trainer.finished():
                spent = format_duration(trainer.train_seconds)
                raise ConfigError(f"{label} is at step {trainer.step} after {spent} of training, already past its "
                                  f"budget ({_budget(train_cfg)}, counted from the start of the run); give a "
                                  "larger one to train it further", options=("steps", "epochs", "time"))
            changes = earlier["changes"] + self._changes(earlier, recorded_cfg, trainer, threads, notify)
        else:
            train_ids, val_ids = split(data.ids, train_cfg.val_frac)
            model_cfg = replace(model_cfg, vocab_size=len(vocab))
            if chooses:
                model_cfg, train_cfg, chosen = self._choose(model_cfg, train_cfg, train_ids, threads, engine, notify)
                if writes and opts.name is None and opts.out is None:
                    run, label, data = self._name_by_size(run, label, run_id, model_cfg, data)
            estimate.check_fits(model_cfg, train_cfg, threads, len(val_ids))
            trainer = trainer_class.new(model_cfg, train_cfg, train_ids, val_ids, threads=threads, **engine)
            if source is not None:
                trainer.load_params(source.file.weights)
        saving = earlier["saving"] if earlier is not None else {}
        save_every = opts.save_every if "save_every" in self.given or not saving.get("every") else saving["every"]
        keep = opts.keep if "keep" in self.given or saving.get("keep") is None else saving["keep"]
        return Plan(run=run, label=label, run_id=run_id, trainer=trainer, data=data, threads=threads,
                    save_every=save_every, keep=keep, replaces=replaces, engine=opts.engine, changes=changes,
                    samples=samples, recipe=chosen)

    def _name_by_size(self, run, label: str, run_id: str, model: ModelConfig, data):
        """A run whose size the budget chose, named by that size: its folder, claimed as
        <cell>-auto-<time> before the choice, becomes <cell>-<layers>x<hidden>-<time> (it keeps
        the provisional name should that one be taken). The lock goes with the folder."""
        from ..runs import rundir

        new = run.path.with_name(label.replace("-auto-", f"-{model.layers}x{model.hidden}-", 1))
        if os.path.lexists(new):
            return run, label, data
        try:
            os.rename(run.path, new)
        except OSError:
            return run, label, data
        self.created = [new / p.relative_to(run.path) if p == run.path or run.path in p.parents else p
                        for p in self.created]
        moved = rundir.RunDir(new)
        moved.set_marker(new.name, run_id)
        return moved, new.name, replace(data, path=new / data.path.relative_to(run.path))

    def _budget_chooses(self, source: Source | None, train_cfg: TrainConfig) -> bool:
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
        from ..model.network import CELLS
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

        def params(layers: int, hidden: int) -> int:
            return replace(model_cfg, layers=layers, hidden=hidden, embed=self.given.get("embed") or hidden).n_params()

        runtime.notice_compiling(CELLS[model_cfg.cell].kernel, notify)
        notify(events.Notice("the time budget chooses the model: timing a few steps of each size"))
        given = {k: v for k, v in self.given.items() if k in (*recipe.CHOSEN, "batch", "seq")}
        chosen = recipe.choose(train_cfg.seconds, len(train_ids), speed, params, given, model_cfg.cell)
        o = chosen.options
        described = f"for {format_duration(train_cfg.seconds)}: {chosen.describe()}"
        notify(events.Notice(f"{described} (give a size to choose it yourself)"))
        model_cfg = replace(model_cfg, layers=o["layers"], hidden=o["hidden"], dropout=o["dropout"],
                            embed=self.given.get("embed") or o["hidden"])
        train_cfg = replace(train_cfg, **{k: o[k] for k in ("schedule", "warmup", "min_lr_frac", "ema")})
        return model_cfg, train_cfg, described

    def _changes(self, earlier: dict, recorded_cfg: TrainConfig, trainer, threads: int, notify) -> list[dict]:
        """The options a resumed run changes from what its checkpoint recorded (`earlier`, as
        record.run_record checked it, and its TrainConfig), recorded (and said, with what it
        means for exactness)."""
        step = trainer.step
        before = dict(recorded_cfg.to_dict(), threads=earlier["threads"], precision=earlier["precision"],
                      engine=earlier["engine"])
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


def _budget(cfg: TrainConfig) -> str:
    """'time 5s', 'steps 40 or epochs 2': a run's budget, for a message."""
    parts = [f"steps {cfg.steps}" if cfg.steps is not None else None,
             f"epochs {cfg.epochs:g}" if cfg.epochs is not None else None,
             f"time {format_duration(cfg.seconds)}" if cfg.seconds is not None else None]
    return " or ".join(p for p in parts if p)


def _values(names: list[str], given: dict, fixed: dict) -> str:
    """'hidden 512 (the checkpoint's: 256), model gru (the checkpoint's: lstm)' for a message."""
    return ", ".join(f"{name} {given[name]}" + (f" (the checkpoint's: {fixed[name]})" if name in fixed else "")
                     for name in names)


def _same(name: str, given, fixed) -> bool:
    """Whether an option given equals the value a checkpoint fixed."""
    if name == "time" and given is not None:
        given = duration("time", given)
    return given == fixed


def _recorded(source: Source):
    from . import record

    return record.recorded_data(source.file)
