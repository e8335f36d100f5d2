"""`charrnn plot`: loss curves of runs as a PNG or SVG file."""

from __future__ import annotations

from pathlib import Path

import click

from ..errors import ConfigError
from .common import complete_runs, notice


@click.command(name="plot", short_help="Plot runs' training and validation loss to a PNG or SVG file.")
@click.argument("runs", nargs=-1, shell_complete=complete_runs)
@click.option("-o", "--output", type=click.Path(dir_okay=False), default="loss.png", show_default=True,
              help="File to write; .png or .svg chooses the format.")
@click.option("--force", is_flag=True, help="Replace OUTPUT if it exists.")
def plot_command(runs, output, force):
    """Plot the training and validation loss (bits/char) of RUNS against steps and against
    training time, several runs overlaid. A RUN is a run directory, a run name under
    checkpoints/ or a checkpoint file (its curve up to its step); without RUNS, the most
    recent run. Needs matplotlib: pip install 'charrnn[plot]'."""
    from ..files import atomic_write
    from ..runs import checkpoint, rundir
    from ..runs.plot import FORMATS, loss_plot
    from ..runs.rundir import check_new_file

    fmt = Path(output).suffix.lower().lstrip(".")
    if fmt not in FORMATS:
        raise ConfigError(f"-o must name a .png or .svg file, not {output!r}")
    check_new_file(Path(output), force)
    curves = []
    for arg in runs or (None,):
        path = rundir.resolve(arg, latest=True)
        meta = checkpoint.read_meta(path)
        if arg is not None and Path(arg).is_file():  # a checkpoint: its curve, named as its run
            name, upto = meta.get("run") if isinstance(meta.get("run"), str) else path.stem, meta.get("step")
        else:
            name, upto = path.parent.name, None
        records, bad = rundir.history(rundir.RunDir(path.parent), meta, upto if type(upto) is int else None)
        if bad:
            notice(f"left out {bad} malformed record{'s' if bad != 1 else ''} of {path.parent / rundir.METRICS}")
        curves.append((name, records))
    written = atomic_write(Path(output), loss_plot(curves, fmt))
    notice(f"wrote {written}")
