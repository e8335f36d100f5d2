"""What several commands share: option types, loading the core, reading inputs, notices."""

from __future__ import annotations

import re
import sys

import click

from ..errors import ConfigError

_DURATION = re.compile(r"^\s*(?:(\d+(?:\.\d*)?)h)?\s*(?:(\d+(?:\.\d*)?)m(?!s))?\s*(?:(\d+(?:\.\d*)?)s?)?\s*$")


def parse_duration(text: str) -> float:
    """'90', '90s', '10m', '1h30m', '1.5h' -> seconds."""
    match = _DURATION.match(text)
    if not text.strip() or not match or not any(match.groups()):
        raise ValueError(f"not a duration: {text!r} (use e.g. 90s, 10m, 1h30m)")
    hours, minutes, seconds = (float(g) if g else 0.0 for g in match.groups())
    return hours * 3600 + minutes * 60 + seconds


class Duration(click.ParamType):
    name = "DURATION"

    def convert(self, value, param, ctx):
        if isinstance(value, (int, float)):
            return float(value)
        try:
            seconds = parse_duration(value)
        except ValueError as exc:
            self.fail(str(exc), param, ctx)
        if seconds <= 0:
            self.fail("must be longer than zero", param, ctx)
        return seconds


class StepsOrDuration(click.ParamType):
    """A whole number of steps ('500') or a duration ('10m'): returns ('steps', n) or ('seconds', s)."""

    name = "STEPS|DURATION"

    def convert(self, value, param, ctx):
        if isinstance(value, tuple):
            return value
        text = str(value).strip()
        if text.isdigit():
            if int(text) < 1:
                self.fail("must be at least 1", param, ctx)
            return ("steps", int(text))
        return ("seconds", Duration().convert(text, param, ctx))


def format_duration(seconds: float) -> str:
    """42s, 3m05s, 1h02m: short enough for a progress line."""
    seconds = max(0, round(seconds))
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"


def notice(message: str, quiet: bool = False) -> None:
    """A message for the user, on stderr."""
    if not quiet:
        click.echo(f"charrnn: {message}", err=True)


def stderr_is_terminal() -> bool:
    try:
        return sys.stderr.isatty()
    except (AttributeError, ValueError):
        return False


def load_core(threads: int | None = None, quiet: bool = False) -> int:
    """Prepare the Numba cache; call before importing the core. Returns the number of
    threads the model should run on."""
    from .. import runtime

    message = runtime.prepare()
    if message:
        notice(message, quiet)
    if threads is not None and threads < 1:
        raise ConfigError(f"--threads must be at least 1, got {threads}")
    return runtime.thread_count(threads)


def write_json(obj) -> None:
    import json

    click.echo(json.dumps(obj, ensure_ascii=False))
