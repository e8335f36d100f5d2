"""What several commands share: option types, loading the core, reading inputs, notices."""

from __future__ import annotations

import codecs
import errno
import os
import re
import sys

import click

from ..errors import ConfigError, OutputError

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


def notice_compiling(kernel, quiet: bool = False) -> None:
    """Say, before the first call of `kernel` (a Numba dispatcher), that it will compile."""
    from ..runtime import kernels_cached

    if not kernels_cached(kernel):
        notice("compiling kernels (first run only; cached afterwards)", quiet)


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


ERRORS = ("strict", "replace")


def errors_option(command):
    """--errors: what to do with bytes that are not UTF-8. Default None, so that a resumed
    run can tell 'not given' (read the text as the run did) from a choice."""
    return click.option("--errors", type=click.Choice(ERRORS),
                        help="Bytes that are not UTF-8: strict (an error naming the file and the byte offset; the "
                             "default) or replace (with U+FFFD, a character like any other).")(command)


def stdin_bytes():
    """Standard input as a binary stream; None when the process has none (closed)."""
    return sys.stdin.buffer if sys.stdin is not None else None


def write_json(obj) -> None:
    import json

    click.echo(json.dumps(obj, ensure_ascii=False))


class Stdout:
    """Standard output for the commands: text goes out as UTF-8 whatever the locale says,
    and a write that fails (standard output closed, a full disk) is an OutputError, one line
    on stderr. A closed pipe stays BrokenPipeError, which click ends quietly (`| head`)."""

    def __init__(self, stream):
        if stream is None:  # started with descriptor 1 closed: writes fail with EBADF
            stream = open(os.open(os.devnull, os.O_RDONLY), "w", encoding="utf-8")
        elif hasattr(stream, "reconfigure") and codecs.lookup(stream.encoding).name != "utf-8":
            stream.reconfigure(encoding="utf-8", errors="surrogateescape")  # file names come back as given
        self._stream = stream
        self.failed = False

    def write(self, text: str) -> int:
        if text == "":  # click probes streams with empty writes; they must not fail
            return 0
        return self._guarded(self._stream.write, text)

    def flush(self) -> None:
        self._guarded(self._stream.flush)

    def _guarded(self, call, *args):
        try:
            return call(*args)
        except BrokenPipeError:
            raise
        except OSError as exc:
            self.failed = True
            reason = exc.strerror or os.strerror(exc.errno or errno.EIO)
            raise OutputError(f"cannot write to standard output: {reason}") from None

    def discard(self) -> None:
        """After a failure: point the descriptor at /dev/null, so that what is still
        buffered goes there when Python flushes at exit, instead of failing again."""
        try:
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, self._stream.fileno())
            os.close(devnull)
        except (OSError, ValueError):
            pass

    def __getattr__(self, name):
        return getattr(self._stream, name)
