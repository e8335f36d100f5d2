"""`charrnn checkpoints ...`: list, show, prune, remove, export and import checkpoints."""

from __future__ import annotations

import contextlib
import math
import sys
import textwrap
from pathlib import Path

import click

from ..errors import CheckpointError, ConfigError, OutputError
from .common import complete_runs, notice, write_json

SPARK = "▁▂▃▄▅▆▇█"
SPARK_WIDTH = 60
SHOW_WIDTH = 110
SHAPE = ("cell", "vocab_size", "hidden", "layers", "embed")  # the model's, on the model line
MAIN_SETTINGS = ("batch", "seq", "optimizer", "lr", "schedule")  # the training's, on the training line


@click.group(name="checkpoints", short_help="List, inspect, prune, remove, export and import runs.")
def checkpoints_group():
    """Inspect and manage runs and their checkpoints; export them to PyTorch and import them back."""


def _run_row(run) -> dict:
    """One run's row: its model, text, steps and validation (last and best), from its latest
    checkpoint (its best, or newest periodic one, when that is missing); values of the wrong
    type (a checkpoint made by hand) become None. CheckpointError or OSError when it has no
    readable checkpoint."""
    from ..runs import checkpoint, rundir
    from ..training.record import best_step

    path = rundir.resolve(str(run.path), latest=True)
    meta = checkpoint.read_meta(path)
    model = meta.get("model") if isinstance(meta.get("model"), dict) else {}
    data = meta.get("data") if isinstance(meta.get("data"), dict) else {}
    sources = data.get("sources")
    sources = sources if isinstance(sources, list) and all(isinstance(x, str) for x in sources) else None
    last = _last_validation(meta)
    best_val = _number(meta.get("best_val"))
    step = meta.get("step")
    best_at = best_step(meta) if best_val is not None else None
    on_disk = 0
    for ckpt in run.checkpoints():
        with contextlib.suppress(OSError):
            on_disk += ckpt.stat().st_size
    return dict(
        run=run.path.name, run_dir=str(run.path), latest=str(run.latest) if run.latest.is_file() else None,
        best=str(run.best) if run.best.is_file() else None, cell=model.get("cell"), layers=model.get("layers"),
        hidden=model.get("hidden"), vocab=model.get("vocab_size"), text=sources,
        text_sha256=data.get("ids_sha256") if isinstance(data.get("ids_sha256"), str) else None,
        chars=data.get("chars") if type(data.get("chars")) is int else None,
        steps=step if type(step) is int else None, train_seconds=_number(meta.get("train_seconds")),
        val_step=last[0], train_loss=last[1], val_loss=last[2], val_bpc=_bits(last[2]),
        best_step=best_at, best_val_loss=best_val, best_val_bpc=_bits(best_val), bytes=on_disk,
        created=meta.get("created") if isinstance(meta.get("created"), str) else None)


def _last_validation(meta: dict) -> tuple[int | None, float | None, float | None]:
    """(step, train_loss, val_loss) of a checkpoint's last validation record."""
    history = meta.get("history") if isinstance(meta.get("history"), list) else []
    for record in reversed(history):
        if isinstance(record, dict) and type(record.get("step")) is int and _number(record.get("val_loss")) is not None:
            return record["step"], _number(record.get("train_loss")), record["val_loss"]
    return None, None, None


def _number(value) -> float | None:
    from ..model.config import is_finite_number

    return value if is_finite_number(value) else None


def _bits(nats: float | None) -> float | None:
    return nats / math.log(2) if nats is not None else None


def _same_text(row: dict):
    """What tells runs on the same text apart from others: the ids' hash, else the sources."""
    return row.get("text_sha256") or tuple(row.get("text") or ())


@checkpoints_group.command(name="list", short_help="List the runs: model, text, steps, last and best validation.")
@click.argument("directory", required=False, type=click.Path(file_okay=False))
@click.option("--json", "json_", is_flag=True, help="One JSON array, an object per run.")
def checkpoints_list(directory, json_):
    """List the runs under DIRECTORY (default: checkpoints/, or $CHARRNN_HOME), the most
    recently written first, one line each: its model, the text it was trained on, its steps,
    its last validation bits/char and its best (with the step). Among runs on the same text,
    the one with the lowest best validation is marked with *."""
    from ..runs import rundir

    root = Path(directory) if directory else rundir.home()
    rows = []
    for run in rundir.runs(root):
        try:
            rows.append(_run_row(run))
        except (CheckpointError, OSError) as exc:  # damaged, or gone since it was listed
            reason = str(exc) if isinstance(exc, CheckpointError) else f"cannot read {run.path}: {exc.strerror or exc}"
            rows.append(dict(run=run.path.name, run_dir=str(run.path), error=reason))
    by_text: dict = {}
    for row in rows:
        if row.get("best_val_bpc") is not None:
            by_text.setdefault(_same_text(row), []).append(row)
    for group in by_text.values():
        best = min(group, key=lambda r: r["best_val_bpc"])
        for row in group:
            row["best_on_text"] = len(group) > 1 and row is best
    if json_:
        write_json(rows)
        return
    if not rows:
        notice(f"no checkpoints under {root}")
        return
    width = max(len(r["run"]) for r in rows)
    click.echo(f"runs in {root}, the most recent first:")
    columns = f"{'model':<12} {'steps':>7} {'val bpc':>8} {'best bpc (step)':>17} {'on disk':>9}"
    click.echo(f"  {'run':<{width}}  {columns}  text")
    for r in rows:
        if "error" in r:
            click.echo(f"  {r['run']:<{width}}  unreadable: {r['error']}")
            continue
        mark = "*" if r.get("best_on_text") else " "
        model = f"{r['cell']} {r['layers']}x{r['hidden']}"
        last = f"{r['val_bpc']:.3f}" if r["val_bpc"] is not None else "-"
        best = f"{r['best_val_bpc']:.3f} ({r['best_step']})" if r["best_val_bpc"] is not None else "-"
        steps = r["steps"] if r["steps"] is not None else "-"
        text = ", ".join(r["text"]) if r["text"] else "-"
        columns = f"{model:<12} {steps:>7} {last:>8} {best:>17} {_size(r['bytes']):>9}"
        click.echo(f"{mark} {r['run']:<{width}}  {columns}  {text}")
    if any(r.get("best_on_text") for r in rows):
        click.echo("* the lowest best validation among the runs on the same text")


@checkpoints_group.command(name="show", short_help="A checkpoint's model, text, training and validation curve.")
@click.argument("ckpt", required=False, shell_complete=complete_runs)
@click.option("--json", "json_", is_flag=True, help="The whole metadata as JSON.")
def checkpoints_show(ckpt, json_):
    """Everything in CKPT: model, vocabulary, training state and the loss history."""
    from ..runs import checkpoint, rundir

    path = rundir.resolve(ckpt)
    meta = checkpoint.read_meta(path)
    if json_:
        write_json({"path": str(path), **{k: v for k, v in meta.items() if k != "path"}})
        return
    try:
        lines = _show(path, meta)
    except (TypeError, ValueError, AttributeError, OverflowError) as exc:  # a checkpoint made by hand
        raise CheckpointError(f"{path} has malformed metadata ({exc})") from None
    for line in lines:
        click.echo(line)


def _show(path: Path, meta: dict) -> list[str]:
    from ..runs import rundir
    from ..training.record import best_step

    model, train = meta.get("model", {}), meta.get("train", {})
    # every option the run was trained with is shown: the shape and the main settings on their
    # lines, all the others by name, so an option added later is shown without a change here
    regularisers = "".join(f", {name} {_value(value)}" for name, value in model.items() if name not in SHAPE)
    options = [f"{'time' if name == 'seconds' else name} {_value(value)}" for name, value in train.items()
               if name not in MAIN_SETTINGS]
    lines = [
        f"checkpoint   {path} ({_size(path.stat().st_size)})",
        f"run          {meta.get('run')}   created {meta.get('created')}   charrnn {meta.get('charrnn_version')}",
        f"model        {model.get('cell')} {model.get('layers')}x{model.get('hidden')}, embedding "
        f"{model.get('embed')}{regularisers}",
        f"vocabulary   {_vocabulary(meta)}",
        f"training     step {meta.get('step')}, {meta.get('train_seconds', 0):.0f} s, batch {train.get('batch')}"
        f" x seq {train.get('seq')}, {train.get('optimizer')} lr {train.get('lr')} ({train.get('schedule')})",
        *textwrap.wrap(", ".join(options), SHOW_WIDTH, initial_indent="options      ", subsequent_indent=" " * 13,
                       break_on_hyphens=False),
    ]
    run_with = [f"{name} {_value(meta[name])}" for name in ("engine", "precision", "kernel", "threads")
                if name in meta]
    saving = meta.get("saving") or {}
    every = saving.get("every")
    if every:
        unit, amount = every
        run_with.append(f"save_every {amount:g} {'s' if unit == 'seconds' else 'steps'}")
    if "keep" in saving:
        run_with.append(f"keep {_value(saving['keep'])}")
    if run_with:
        lines.append(f"run with     {', '.join(run_with)}")
    data = meta.get("data", {})
    kind = "bytes" if meta.get("unit") == "byte" else "characters"
    read_as = "".join(f", {name} {_value(data[name])}" for name in ("separator", "errors") if name in data)
    lines.append(f"data         {data.get('chars')} {kind} from {', '.join(data.get('sources', []))}{read_as}")
    for change in meta.get("changes", []):
        lines.append(f"resumed      at step {change.get('step')}: {change.get('option')} {_value(change.get('from'))} "
                     f"-> {_value(change.get('to'))}")
    unit = "byte" if meta.get("unit") == "byte" else "char"
    step_of_last, train_loss, last = _last_validation(meta)
    if last is not None:
        beside = f", training loss {train_loss:.4f}" if train_loss is not None else ""
        lines.append(f"last val     {last:.4f} nats/{unit} = {last / math.log(2):.4f} bits/{unit} at step "
                     f"{step_of_last}{beside}")
    best = _number(meta.get("best_val"))
    if best is not None:
        at = best_step(meta)
        lines.append(f"best val     {best:.4f} nats/{unit} = {best / math.log(2):.4f} bits/{unit}"
                     + (f" at step {at}" if at is not None else ""))
    # metrics.jsonl fills in what the checkpoint's own history lacks (a short or missing one)
    step = meta.get("step")
    records, bad = rundir.history(rundir.RunDir(path.parent), meta, upto=step if type(step) is int else None)
    if bad:
        notice(f"left out {bad} malformed record{'s' if bad != 1 else ''} of {path.parent / rundir.METRICS}")
    history = [h for h in records if h.get("val_loss") is not None]
    if history:
        lines.append(f"val loss     {_sparkline([h['val_loss'] for h in history])}  "
                     f"(steps {history[0]['step']}..{history[-1]['step']}, "
                     f"{history[0]['val_loss']:.3f} -> {history[-1]['val_loss']:.3f})")
    return lines


@checkpoints_group.command(name="prune", short_help="Remove old periodic checkpoints.")
@click.argument("run", required=False, shell_complete=complete_runs)
@click.option("--keep", type=int, required=True,
              help="Periodic checkpoints to keep per run (best and latest always stay).")
@click.option("--dry-run", is_flag=True, help="Only say what would be removed.")
def checkpoints_prune(run, keep, dry_run):
    """Remove old periodic checkpoints of RUN (a run directory or a run name), or of every run
    in a folder of runs (default: checkpoints/, or $CHARRNN_HOME). Only files read as that
    run's checkpoints are removed, the oldest steps first; a run that is training is left
    alone (its own --keep prunes it)."""
    from ..runs import rundir

    if keep < 0:
        raise ConfigError(f"--keep must be 0 or more, got {keep}")
    target = rundir.resolve_run(run) if run is not None else None
    if target is not None and rundir.is_run_folder(target.path):
        targets = [target]
    else:
        targets = rundir.runs(target.path if target is not None else rundir.home())
    removed = []
    for one in targets:
        try:
            with one.lock("charrnn checkpoints prune"):
                removed += one.prune(keep, dry_run=dry_run)
        except rundir.RunInUse as busy:
            if len(targets) == 1 and target is not None:  # the run asked for
                raise
            notice(f"{busy}: left alone")
    for path in removed:
        click.echo(f"{'would remove' if dry_run else 'removed'} {path}")
    if not removed:
        notice("nothing to remove")


@checkpoints_group.command(name="rm", short_help="Remove one checkpoint file.")
@click.argument("ckpt", type=click.Path(exists=True, dir_okay=False))
def checkpoints_rm(ckpt):
    """Remove the checkpoint file CKPT (it is checked to be one first). A checkpoint of a run
    that is training is not removed."""
    from ..files import reason
    from ..runs import checkpoint, rundir

    path = Path(ckpt)
    checkpoint.read_meta(path)
    run = rundir.RunDir(path.parent)
    with run.lock("charrnn checkpoints rm") if rundir.is_run_folder(run.path) else contextlib.nullcontext():
        try:
            path.unlink()
        except OSError as exc:
            raise OutputError(f"cannot remove {path}: {reason(exc)}") from None
    notice(f"removed {ckpt}")


@checkpoints_group.command(name="export", short_help="Write a checkpoint's weights for PyTorch.")
@click.argument("ckpt", required=False, shell_complete=complete_runs)
@click.option("-o", "--output", type=click.Path(dir_okay=False), required=True,
              help="File to write; - writes it to standard output, which must then not be a terminal (redirect it "
                   "to a file or a pipe).")
@click.option("--format", "format_", type=click.Choice(["torch"]), default="torch", show_default=True,
              help="torch: safetensors named for torch.nn.Embedding, nn.RNN/LSTM/GRU and nn.Linear.")
@click.option("--force", is_flag=True, help="Replace OUTPUT if it exists (never a run's checkpoint).")
def checkpoints_export(ckpt, output, format_, force):
    """Write CKPT's weights for use elsewhere (see the README for loading them in PyTorch)."""
    from ..runs import checkpoint, model_file, rundir
    from ..runs.export import torch_tensors
    from ..runs.rundir import check_new_file

    to_stdout = output == "-"
    if to_stdout:
        stream = sys.stdout.buffer
        if stream.isatty():
            raise ConfigError("output - would write a binary file to the terminal; redirect it to a file or a pipe, "
                              "or name a file", options=("output",))
    else:
        check_new_file(Path(output), force)
    tensors, meta = torch_tensors(model_file.read_model(rundir.resolve(ckpt)))
    if not to_stdout:
        checkpoint.save(output, tensors, meta)
        notice(f"wrote {output}")
        return
    try:
        checkpoint.write(stream, tensors, meta)
        stream.flush()
    except BrokenPipeError:
        raise
    except OSError as exc:
        from ..files import reason

        raise OutputError(f"cannot write to standard output: {reason(exc)}") from None
    notice("wrote the export to standard output")


@checkpoints_group.command(name="import", short_help="Make a checkpoint from PyTorch weights.")
@click.argument("source", type=click.Path(exists=True, dir_okay=False))
@click.option("-o", "--output", type=click.Path(dir_okay=False), required=True, help="Checkpoint file to write.")
@click.option("--vocab", "vocab_file", type=click.File("r", encoding="utf-8"),
              help="The vocabulary as JSON: a list of symbols in id order, or an object with `vocab` and `unit` "
                   "(default: the file's own, as an export carries it).")
@click.option("--force", is_flag=True, help="Replace OUTPUT if it exists (never a run's checkpoint).")
def checkpoints_import(source, output, vocab_file, force):
    """Turn SOURCE, a PyTorch state dict saved as safetensors in the export's layout (emb.weight,
    rnn.weight_ih_l0, ..., head.bias), into a charrnn checkpoint that sample, eval, export and
    train --init-from take. An export imports back exactly. The model's shape is read from the
    tensors; metadata that says otherwise, or names a variant charrnn lacks (a relu RNN, say), is
    refused, and so are weights that are not finite numbers."""
    from .._version import __version__
    from ..runs import checkpoint
    from ..runs.export import from_torch
    from ..runs.rundir import check_new_file
    from ..text.vocab import Vocab

    check_new_file(Path(output), force)
    loaded = checkpoint.load_foreign(source)
    vocab = Vocab.from_json(vocab_file.read()) if vocab_file is not None else None
    try:
        cfg, vocab, tensors = from_torch(loaded.tensors, loaded.meta, vocab)
    except CheckpointError as exc:
        raise CheckpointError(f"cannot import {source}: {exc}") from None
    step = loaded.meta.get("step") if type(loaded.meta.get("step")) is int else 0
    meta = dict(model=cfg.to_dict(), **vocab.to_meta(), step=step, run=Path(source).stem, imported_from=str(source),
                charrnn_version=__version__)
    checkpoint.save(output, tensors, meta)
    notice(f"wrote {output}")


def _value(value) -> str:
    """An option's value as `checkpoints show` writes it: text quoted where it is not a word."""
    if value is None:
        return "none"
    if isinstance(value, str) and not value.isidentifier():
        return repr(value)
    return str(value)


def _vocabulary(meta: dict) -> str:
    from ..text.vocab import Vocab

    try:
        vocab = Vocab.from_meta(meta)
    except CheckpointError as exc:
        return str(exc)
    kind = "characters" if vocab.unit == "char" else "byte values (unit: byte)"
    return f"{len(vocab)} {kind}: {vocab.shown()}"


def _sparkline(values: list[float], width: int = SPARK_WIDTH) -> str:
    """One block per value; a longer series is cut into `width` runs of values, each shown by its last."""
    if len(values) > width:
        values = [values[(k + 1) * len(values) // width - 1] for k in range(width)]
    low, high = min(values), max(values)
    span = (high - low) or 1.0
    return "".join(SPARK[min(len(SPARK) - 1, int((v - low) / span * len(SPARK)))] for v in values)


def _size(n: int) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} GB"
