"""Training a model from text, as a library call: `train` plans a run (plan.py: its folder,
its text, its model), runs it (loop.py: trains it, saves it, reports what happens as events)
and returns the Run; `dry_run` says what a run would cost without writing anything.

The rules that keep what is on disk safe hold here: one writer per run directory (the plan
locks it), a finished run never overwritten unless asked, a failed start leaving nothing
behind.
"""

from __future__ import annotations

import inspect
import shutil
import sys
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path

from .. import events, runtime
from ..arguments import check_callback, check_type
from .loop import Loop, Run, StopRequests
from .options import OPTIONS
from .plan import Planner

__all__ = ["train", "dry_run", "Run"]


def train(sources: str | Sequence[str] | None = None, *, text: str | None = None,
          on_event: Callable[[object], None] | None = None, progress: bool = True, **options) -> Run:
    """Train a model on `sources` (a path, or a list of paths: files, directories of text
    files, "-" for standard input) or on `text` (a str), and return the Run.

    Options are those of `charrnn train`, spelled with underscores: the model (`model` "lstm",
    "gru" or "rnn"; `hidden`, `layers`, `embed`, `dropout`), the optimisation (`batch`, `seq`,
    `lr`, `optimizer`, `clip`, `schedule`, `warmup`, `decay_every`, `decay_rate`, `val_frac`,
    `eval_every`, by default about 15 times over the budget; `seed`), the budget (`steps`,
    `epochs`, `time` as seconds or "90s"/"10m"; 10 epochs when none is given), the run
    (`name`, `out`, `overwrite`, `resume`, `init_from`, `save_every`, `keep`, `threads`) and
    the text (`unit`, `min_count`, `separator`, `errors`), with the same defaults;
    `sample_every`, `sample_length`, `sample_temperature` and `sample_prime` report samples as
    events. Invalid options raise ConfigError.

    `on_event(event)` is called with each of charrnn.events' records as training goes; raise
    charrnn.StopTraining there, from any event, to stop once the step in progress is evaluated,
    saved and reported (raised while the run is set up: before its first step, its initial
    state saved). KeyboardInterrupt stops at once (before the first step, leaving nothing
    behind). Either way the latest state is saved and the Run returned, with `stopped` set.
    `progress` shows a progress bar (tqdm.auto: in a notebook too); no signal handler is
    installed.
    """
    planner = Planner(sources, text, options, dry=False, keywords=("sources", "text", "on_event", "progress"))
    check_callback("on_event", on_event)
    check_type("progress", progress, bool, "True or False")
    notify = _with_progress_bar(on_event) if progress else (on_event or (lambda event: None))
    try:
        return _run(planner, notify)
    finally:
        close = getattr(notify, "close", None)
        if close is not None:
            close()


def dry_run(sources: str | Sequence[str] | None = None, *, text: str | None = None,
            on_event: Callable[[object], None] | None = None, **options) -> dict:
    """What `train` with these arguments would be: the model's size, the memory it needs, its
    speed from a few timed steps, and what the budget comes to. Writes nothing."""
    planner = Planner(sources, text, options, dry=True, keywords=("sources", "text", "on_event"))
    check_callback("on_event", on_event)
    return _estimate(planner, on_event or (lambda event: None))


def _list_options(function):
    """`function`, which takes the options of `charrnn train` as **options, with a signature
    that lists them, keyword-only, with their defaults: what help() and completion show.
    (Passing one as None is leaving it out.)"""
    signature = inspect.signature(function)
    fixed = [p for p in signature.parameters.values() if p.kind is not inspect.Parameter.VAR_KEYWORD]
    listed = [inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=default)
              for name, default in OPTIONS.items()]
    function.__signature__ = signature.replace(parameters=fixed + listed)
    return function


train = _list_options(train)
dry_run = _list_options(dry_run)


def _estimate(planner: Planner, notify) -> dict:
    with tempfile.TemporaryDirectory(prefix="charrnn-") as scratch:
        plan = planner.plan(notify, Path(scratch))
        from ..model.network import CELLS  # the numeric core: imported once the plan has prepared it
        from . import estimate

        runtime.notice_compiling(CELLS[plan.trainer.model.config.cell].kernel, notify)
        return dict(estimate.dry_run(plan.trainer, plan.threads), recipe=plan.recipe)


def _run(planner: Planner, notify) -> Run | None:
    loop = None
    requests = StopRequests(notify)
    with planner.held:
        try:
            plan = planner.plan(requests if planner.rank == 0 else (lambda event: None), None)
            if planner.rank != 0:  # a distributed run's other process: steps as rank 0 says
                plan.trainer.follow()
                return None
            loop = Loop(plan, requests)
            try:
                return loop.run()
            finally:
                getattr(plan.trainer, "finish", lambda: None)()
        except BaseException:
            if loop is None or not loop.saved:  # a run that saved nothing leaves nothing behind
                for path in reversed(planner.created):
                    _remove(path)
            raise


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


def _with_progress_bar(on_event):
    """A callback that shows a tqdm.auto bar (a widget in a notebook) and the samples, then
    passes each event on to `on_event`."""
    from tqdm.auto import tqdm  # imported by the first run that shows a bar, not by `import charrnn`

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
