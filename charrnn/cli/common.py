"""What several commands share: standard streams, JSON, notices, the --errors option. Durations
(--time, --save-every, --sample-every) are read by the library (durations.py), not here."""

from __future__ import annotations

import codecs
import errno
import logging
import math
import os
import sys

import click

from ..errors import OutputError
from ..text.units import ERRORS


class SectionedCommand(click.Command):
    """A command whose --help lists its options under headings: `sections` maps each heading
    to the names of its options ("help" for -h/--help), in the order shown (click has no
    option groups)."""

    def __init__(self, *args, sections: dict[str, tuple[str, ...]], **kwargs):
        super().__init__(*args, **kwargs)
        self.sections = sections

    def format_options(self, ctx, formatter) -> None:
        records = {}
        help_option = self.get_help_option(ctx)
        for param in self.get_params(ctx):
            record = param.get_help_record(ctx) if isinstance(param, click.Option) else None
            if record is not None:
                records["help" if param is help_option else param.name] = record
        placed = {name for names in self.sections.values() for name in names}
        other = tuple(name for name in records if name not in placed)
        for heading, names in {**self.sections, "Other options": other}.items():
            rows = [records[name] for name in names if name in records]
            if rows:
                with formatter.section(heading):
                    formatter.write_dl(rows)


def complete_runs(ctx, param, incomplete: str):
    """Shell completion of a CKPT or RUN argument: the names of the runs in $CHARRNN_HOME
    (or ./checkpoints), and file names."""
    from click.shell_completion import CompletionItem

    from ..runs.rundir import home, runs

    names = sorted(run.path.name for run in runs(home()) if run.path.name.startswith(incomplete))
    return [CompletionItem(incomplete, type="file"), *(CompletionItem(name) for name in names)]


def notice(message: str, quiet: bool = False) -> None:
    """A message for the user, on stderr."""
    if not quiet:
        click.echo(f"charrnn: {message}", err=True)


def stderr_is_terminal() -> bool:
    try:
        return sys.stderr.isatty()
    except (AttributeError, ValueError):
        return False


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
    """One JSON object on a line. A number that is not finite (a perplexity that overflows, a
    value from a checkpoint made by hand) is null, as JSON has no NaN or Infinity. Text that
    is not valid Unicode (a file name with a byte that is not UTF-8) is escaped, so the line is
    always valid UTF-8."""
    import json

    obj = _finite(obj)
    line = json.dumps(obj, ensure_ascii=False, allow_nan=False)
    if any("\ud800" <= ch <= "\udfff" for ch in line):
        line = json.dumps(obj, allow_nan=False)
    click.echo(line)


def _finite(obj):
    """A copy of `obj` with every float that is not finite replaced by None, in lists and dicts
    too (without recursion: metadata may be nested as deeply as JSON allows)."""
    root = [obj]
    pending = [(root, 0)]
    while pending:
        holder, key = pending.pop()
        value = holder[key]
        if isinstance(value, float) and not math.isfinite(value):
            holder[key] = None
        elif isinstance(value, dict):
            holder[key] = value = dict(value)
            pending.extend((value, k) for k in value)
        elif isinstance(value, (list, tuple)):
            holder[key] = value = list(value)
            pending.extend((value, i) for i in range(len(value)))
    return root[0]


class Stdout:
    """Standard output for the commands: text goes out as UTF-8 whatever the locale says,
    and a write that fails (standard output closed, a full disk) is an OutputError, one line
    on stderr. A closed pipe stays BrokenPipeError, which click ends quietly (`| head`)."""

    def __init__(self, stream):
        if stream is None:  # started with descriptor 1 closed: writes fail with EBADF
            stream = open(os.open(os.devnull, os.O_RDONLY), "w", encoding="utf-8")
        elif hasattr(stream, "reconfigure") and (codecs.lookup(stream.encoding).name != "utf-8"
                                                 or stream.errors != "surrogateescape"):
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


class NoticeHandler(logging.Handler):
    """The library's notices (the `charrnn` logger) as `charrnn: message` lines on stderr."""

    def emit(self, record: logging.LogRecord) -> None:
        notice(record.getMessage())


def show_library_notices() -> None:
    logger = logging.getLogger("charrnn")
    if not any(isinstance(h, NoticeHandler) for h in logger.handlers):
        logger.addHandler(NoticeHandler())
        logger.setLevel(logging.INFO)
        logger.propagate = False
