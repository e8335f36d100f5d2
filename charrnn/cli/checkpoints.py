"""`charrnn checkpoints ...`: list, show, prune, remove, export and import checkpoints."""

from __future__ import annotations

import contextlib
import math
from pathlib import Path

import click

from ..errors import CheckpointError, ConfigError, OutputError
from .common import notice, write_json

SPARK = "▁▂▃▄▅▆▇█"
SPARK_WIDTH = 60


@click.group(name="checkpoints")
def checkpoints_group():
    """Inspect and manage runs and their checkpoints; export them to PyTorch and import them back."""


def _summary(path: Path) -> dict:
    """A checkpoint's row; values of the wrong type (a checkpoint made by hand) become None."""
    from ..runs import checkpoint

    meta = checkpoint.read_meta(path)
    model = meta.get("model") if isinstance(meta.get("model"), dict) else {}
    best_val = _number(meta.get("best_val"))
    step = meta.get("step")
    return dict(
        path=str(path), run=meta.get("run"), cell=model.get("cell"), layers=model.get("layers"),
        hidden=model.get("hidden"), vocab=model.get("vocab_size"), step=step if type(step) is int else None,
        val_loss=best_val, val_bpc=best_val / math.log(2) if best_val is not None else None,
        train_loss=_number(meta.get("train_loss")), bytes=path.stat().st_size,
        created=meta.get("created") if isinstance(meta.get("created"), str) else None)


def _number(value) -> float | None:
    from ..model.config import is_finite_number

    return value if is_finite_number(value) else None


@checkpoints_group.command(name="list")
@click.argument("directory", required=False, type=click.Path(file_okay=False))
@click.option("--json", "json_", is_flag=True, help="One JSON array of checkpoints.")
def checkpoints_list(directory, json_):
    """List runs under DIRECTORY (default: checkpoints/, or $CHARRNN_HOME), the most recently
    written first; the best checkpoint of all (lowest validation bits/char) is marked with *."""
    from ..runs import rundir

    root = Path(directory) if directory else rundir.home()
    rows = []
    for run in rundir.runs(root):
        for path in run.checkpoints():
            try:
                rows.append(_summary(path))
            except (CheckpointError, OSError) as exc:  # damaged, or gone since it was listed
                reason = str(exc) if isinstance(exc, CheckpointError) else f"cannot read {path}: {exc.strerror or exc}"
                rows.append(dict(path=str(path), run=run.path.name, error=reason))
    if json_:
        write_json(rows)
        return
    if not rows:
        notice(f"no checkpoints under {root}")
        return
    # a row's val bpc is its run's best so far, which latest and periodic checkpoints only
    # inherit; best.safetensors is the one checkpoint whose own weights scored it
    scored = [r for r in rows if r.get("val_bpc") is not None and Path(r["path"]).name == rundir.BEST]
    best = min(scored, key=lambda r: r["val_bpc"])["path"] if scored else None
    header = f"  {'checkpoint':<48} {'model':<12} {'step':>7} {'val bpc':>8} {'size':>9}  created"
    click.echo(header)
    for r in rows:
        if "error" in r:
            click.echo(f"  {r['path']:<48} unreadable: {r['error']}")
            continue
        mark = "*" if r["path"] == best else " "
        model = f"{r['cell']} {r['layers']}x{r['hidden']}"
        bpc = f"{r['val_bpc']:.3f}" if r["val_bpc"] is not None else "-"
        step = r["step"] if r["step"] is not None else "-"
        click.echo(f"{mark} {_short(r['path'], 48):<48} {model:<12} {step:>7} {bpc:>8} "
                   f"{_size(r['bytes']):>9}  {(r['created'] or '')[:19]}")
    if best:
        click.echo(f"* best: {best}")


@checkpoints_group.command(name="show")
@click.argument("ckpt", required=False)
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

    model, train = meta.get("model", {}), meta.get("train", {})
    lines = [
        f"checkpoint   {path} ({_size(path.stat().st_size)})",
        f"run          {meta.get('run')}   created {meta.get('created')}   charrnn {meta.get('charrnn_version')}",
        f"model        {model.get('cell')} {model.get('layers')}x{model.get('hidden')}, embedding "
        f"{model.get('embed')}, dropout {model.get('dropout')}",
        f"vocabulary   {_vocabulary(meta)}",
        f"training     step {meta.get('step')}, {meta.get('train_seconds', 0):.0f} s, batch {train.get('batch')}"
        f" x seq {train.get('seq')}, {train.get('optimizer')} lr {train.get('lr')} ({train.get('schedule')})",
    ]
    data = meta.get("data", {})
    kind = "bytes" if meta.get("unit") == "byte" else "characters"
    lines.append(f"data         {data.get('chars')} {kind} from {', '.join(data.get('sources', []))}")
    best = meta.get("best_val")
    if best is not None:
        lines.append(f"best val     {best:.4f} nats/char = {best / math.log(2):.4f} bits/char")
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


@checkpoints_group.command(name="prune")
@click.argument("run", required=False)
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


@checkpoints_group.command(name="rm")
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


@checkpoints_group.command(name="export")
@click.argument("ckpt", required=False)
@click.option("-o", "--output", type=click.Path(dir_okay=False), required=True, help="File to write.")
@click.option("--format", "format_", type=click.Choice(["torch"]), default="torch", show_default=True,
              help="torch: safetensors named for torch.nn.Embedding, nn.RNN/LSTM/GRU and nn.Linear.")
@click.option("--force", is_flag=True, help="Replace OUTPUT if it exists (never a run's checkpoint).")
def checkpoints_export(ckpt, output, format_, force):
    """Write CKPT's weights for use elsewhere (see the README for loading them in PyTorch)."""
    from ..runs import checkpoint, model_file, rundir
    from ..runs.export import torch_tensors
    from ..runs.rundir import check_new_file

    check_new_file(Path(output), force)
    path = rundir.resolve(ckpt)
    loaded = checkpoint.load(path)
    tensors, meta = torch_tensors(model_file.model_weights(loaded.tensors), loaded.meta)
    checkpoint.save(output, tensors, meta)
    notice(f"wrote {output}")


@checkpoints_group.command(name="import")
@click.argument("source", type=click.Path(exists=True, dir_okay=False))
@click.option("-o", "--output", type=click.Path(dir_okay=False), required=True, help="Checkpoint file to write.")
@click.option("--vocab", "vocab_file", type=click.File("r", encoding="utf-8"),
              help="The vocabulary as JSON: a list of symbols in id order, or an object with `vocab` and `unit` "
                   "(default: the file's own, as an export carries it).")
@click.option("--force", is_flag=True, help="Replace OUTPUT if it exists (never a run's checkpoint).")
def checkpoints_import(source, output, vocab_file, force):
    """Turn SOURCE, a PyTorch state dict saved as safetensors in the export's layout (emb.weight,
    rnn.weight_ih_l0, ..., head.bias), into a charrnn checkpoint that sample, eval, export and
    train --init-from take. An export imports back exactly."""
    from .._version import __version__
    from ..runs import checkpoint
    from ..runs.export import from_torch
    from ..runs.rundir import check_new_file
    from ..text.vocab import Vocab

    check_new_file(Path(output), force)
    loaded = checkpoint.load_foreign(source)
    vocab = Vocab.from_json(vocab_file.read()) if vocab_file is not None else None
    cfg, vocab, tensors = from_torch(loaded.tensors, loaded.meta, vocab)
    step = loaded.meta.get("step") if type(loaded.meta.get("step")) is int else 0
    meta = dict(model=cfg.to_dict(), **vocab.to_meta(), step=step, run=Path(source).stem, imported_from=str(source),
                charrnn_version=__version__)
    checkpoint.save(output, tensors, meta)
    notice(f"wrote {output}")


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


def _short(path: str, width: int) -> str:
    return path if len(path) <= width else "..." + path[-(width - 3):]

