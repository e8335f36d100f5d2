"""Durations as options take them ("90s", "10m", "1h30m", or seconds) and as progress lines
show them; a cadence of steps or of time."""

from __future__ import annotations

import re

from .errors import option_error

_DURATION = re.compile(r"^\s*(?:(\d+(?:\.\d*)?)h)?\s*(?:(\d+(?:\.\d*)?)m(?!s))?\s*(?:(\d+(?:\.\d*)?)s?)?\s*$")


def parse_duration(text: str) -> float:
    """'90', '90s', '10m', '1h30m', '1.5h' -> seconds."""
    match = _DURATION.match(text)
    if not text.strip() or not match or not any(match.groups()):
        raise ValueError(f"not a duration: {text!r} (use e.g. 90s, 10m, 1h30m)")
    hours, minutes, seconds = (float(g) if g else 0.0 for g in match.groups())
    return hours * 3600 + minutes * 60 + seconds


def duration(option: str, value) -> float:
    """Seconds from a number or a duration string; ConfigError naming `option` otherwise."""
    if type(value) in (int, float):
        seconds = float(value)
    elif isinstance(value, str):
        try:
            seconds = parse_duration(value)
        except ValueError as exc:
            raise option_error(option, f"is {exc}") from None
    else:
        raise option_error(option, f"must be a duration (seconds, or a text like 90s or 10m), got {value!r}")
    if not 0 < seconds < 1e15:
        raise option_error(option, f"must be longer than zero, got {value!r}")
    return seconds


def steps_or_duration(option: str, value) -> tuple[str, float]:
    """('steps', n) from a whole number or its text ('500'); ('seconds', s) from a duration
    ('10m', or a float of seconds). A pair ('steps', n) or ('seconds', s) is checked as such."""
    if isinstance(value, tuple) and len(value) == 2 and value[0] in ("steps", "seconds"):
        kind, value = value
        if kind == "seconds":
            return ("seconds", duration(option, value))
        if type(value) is not int:
            raise option_error(option, f"must be a whole number of steps, got {value!r}")
    if type(value) is int or (isinstance(value, str) and value.strip().isdigit()):
        steps = int(value)
        if steps < 1:
            raise option_error(option, f"must be at least 1, got {steps}")
        return ("steps", steps)
    return ("seconds", duration(option, value))


def format_duration(seconds: float) -> str:
    """42s, 3m05s, 1h02m: short enough for a progress line."""
    seconds = max(0, round(seconds))
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"
