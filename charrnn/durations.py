"""Durations as options take them ("90s", "2min", "1h30m", "1.5h", "00:02:00", or seconds) and
as progress lines show them; a cadence of steps or of time."""

from __future__ import annotations

import math
import re

from .errors import option_error

_SECONDS_IN = {**dict.fromkeys(("h", "hr", "hrs", "hour", "hours"), 3600),
               **dict.fromkeys(("m", "min", "mins", "minute", "minutes"), 60),
               **dict.fromkeys(("s", "sec", "secs", "second", "seconds"), 1)}
_NUMBER = r"(\d+(?:\.\d*)?|\.\d+)"
_PART = re.compile(rf"\s*{_NUMBER}\s*([a-z]+)", re.IGNORECASE)
_CLOCK = re.compile(r"^\s*(?:(\d+):)?(\d+):(\d\d(?:\.\d*)?)\s*$")  # [h:]mm:ss


def parse_duration(text: str) -> float:
    """Seconds from '90' (seconds), '90s', '2m', '2min', '2 minutes', '1h30m', '1.5h', or a
    clock's '00:02:00' or '2:00'. ValueError for anything else (a unit given twice, or out
    of order, included)."""
    failure = ValueError(f"not a duration: {text!r} (use e.g. 90s, 2min, 1h30m, 1.5h or 00:02:00)")
    if re.fullmatch(rf"\s*{_NUMBER}\s*", text):
        return float(text)
    clock = _CLOCK.match(text)
    if clock:
        hours, minutes, seconds = (float(g) if g else 0.0 for g in clock.groups())
        if (clock.group(1) and minutes >= 60) or seconds >= 60:
            raise failure
        return hours * 3600 + minutes * 60 + seconds
    total, position, last_unit = 0.0, 0, math.inf
    while position < len(text.rstrip()):
        part = _PART.match(text, position)
        unit = _SECONDS_IN.get(part.group(2).lower()) if part else None
        if unit is None or unit >= last_unit:
            raise failure
        total += float(part.group(1)) * unit
        position, last_unit = part.end(), unit
    if last_unit == math.inf:
        raise failure
    return total


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
