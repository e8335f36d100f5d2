"""Loss curves of one or several runs as a PNG or SVG picture. matplotlib is an optional
extra (`pip install 'charrnn[plot]'`), imported only here and only when a plot is made."""

from __future__ import annotations

import io
import math

from ..errors import CharrnnError, CheckpointError

FORMATS = ("png", "svg")
SIZE_INCHES = (12.0, 4.5)
DPI = 100  # a PNG is SIZE_INCHES * DPI pixels: 1200 x 450


def loss_plot(curves: list[tuple[str, list[dict]]], fmt: str) -> bytes:
    """Training and validation loss in bits/char against steps (left) and training time
    (right), one colour per run. `curves` holds (run name, evaluation records) pairs, records
    as in metrics.jsonl; `fmt` is 'png' or 'svg'. Returns the file's bytes."""
    try:
        import matplotlib
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError:
        raise CharrnnError("plotting needs matplotlib: pip install 'charrnn[plot]'") from None
    for name, records in curves:
        if not any(r.get("val_loss") is not None or r.get("train_loss") is not None for r in records):
            raise CheckpointError(f"run {name} has no evaluations to plot yet")

    longest = max((r.get("seconds") or 0 for _, records in curves for r in records), default=0)
    unit, per = next((u, n) for u, n in (("h", 3600), ("min", 60), ("s", 1)) if longest >= 10 * n or n == 1)
    fig = Figure(figsize=SIZE_INCHES, dpi=DPI, layout="constrained")
    FigureCanvasAgg(fig)  # Agg, not pyplot: no window, no global state
    by_step, by_time = fig.subplots(1, 2, sharey=True)
    for index, (name, records) in enumerate(curves):
        colour = f"C{index % 10}"
        for key, style, label in (("val_loss", "-", "validation"), ("train_loss", "--", "training")):
            points = [(r["step"], r.get("seconds"), r[key] / math.log(2)) for r in records
                      if r.get(key) is not None]
            if not points:
                continue
            steps, seconds, bits = zip(*points)
            by_step.plot(steps, bits, style, color=colour, label=f"{name} {label}",
                         marker="o" if len(points) < 30 and key == "val_loss" else None, markersize=3)
            if all(s is not None for s in seconds):
                by_time.plot([t / per for t in seconds], bits, style, color=colour,
                             marker="o" if len(points) < 30 and key == "val_loss" else None, markersize=3)
    by_step.set_xlabel("step")
    by_time.set_xlabel(f"training time ({unit})")
    by_step.set_ylabel("loss (bits/char)")
    for axes in (by_step, by_time):
        axes.grid(True, alpha=0.3)
    by_step.legend(fontsize="small")
    buffer = io.BytesIO()
    with matplotlib.rc_context({"svg.fonttype": "none"}):  # SVG text stays text: searchable, editable
        fig.savefig(buffer, format=fmt)
    return buffer.getvalue()
