"""`charrnn score`: a score per record (line, NUL-terminated string, paragraph), one output
line per record as soon as it is scored (`charrnn.load(...).score_records(...)`, written)."""

from __future__ import annotations

import os
import stat
import sys

import click

from ..model.config import PRECISIONS
from ..errors import ConfigError
from .common import errors_option, stdin_bytes, write_json


@click.command(name="score", short_help="Score each line (record) of a text, one line out per record in, as a stream.")
@click.argument("model_name", metavar="MODEL")
@click.argument("files", nargs=-1)
@click.option("--records", "kind", type=click.Choice(("line", "nul", "blank")), default="line", show_default=True,
              help="What a record is: a line, a string ended by a NUL byte, or a paragraph (records separated by "
                   "one or more empty lines). The separator is not scored.")
@click.option("--context", type=click.Choice(("reset", "carry")), default="reset", show_default=True,
              help="reset: each record is read from the model's start state (its score is `charrnn eval` of the "
                   "record alone); carry: the state runs on across records, as eval reads a text.")
@click.option("--json", "json_", is_flag=True,
              help="One JSON object per record: record (from 1), bits_per_char, nats, chars, unknown, text "
                   "(a byte model: bits_per_byte, bytes).")
@click.option("--no-text", is_flag=True, help="Leave the record's text out of the output.")
@errors_option
@click.option("--precision", type=click.Choice(PRECISIONS), default="auto", show_default=True,
              help="The products: auto (bf16 where the CPU has AMX, else fp32), fp32 or bf16.")
@click.option("--threads", type=int, envvar="CHARRNN_THREADS", help="CPU threads (default: all cores).")
def score_command(model_name, files, kind, context, json_, no_text, errors, precision, threads):
    """Score each record of FILES (or standard input, also `-`) under MODEL (a checkpoint, a run
    directory or a run name): one line per record, in order, written as soon as the record is
    scored, `BITS_PER_CHAR<TAB>TEXT` (a record with nothing to predict shows `-`).

    \b
    A record predicts every character after its first, as `charrnn eval` does. Characters
    the model does not know are left out and counted (`unknown` in --json), with a notice on
    stderr. A byte model scores bytes. The oddest lines of a log:
        charrnn score MODEL app.log | sort -rn | head"""
    if threads is not None and threads < 1:
        raise ConfigError(f"--threads must be at least 1, got {threads}")
    from ..generate.language_model import load
    from ..text.records import SEPARATORS, read_records

    model = load(model_name, threads=threads)
    if errors == "replace" and model.unit == "byte":
        raise ConfigError("--errors is for text read as characters; a byte model reads any bytes as they are")
    records = read_records(files, kind, model.unit, errors or "strict", stdin_bytes())
    out = sys.stdout  # under `charrnn`, UTF-8 whatever the locale (see common.Stdout)
    end = "\n" if json_ or no_text else SEPARATORS[kind]
    flush = _interactive(out)
    unit = model.unit
    for result in model.score_records(records, context, separator=SEPARATORS[kind], precision=precision):
        if no_text:
            del result["text"]
        if json_:
            write_json(result)
        else:
            bits = result[f"bits_per_{unit}"]
            shown = "-" if bits is None else f"{bits:.4f}"
            out.write(shown + end if no_text else f"{shown}\t{result['text']}{end}")
        if flush:
            out.flush()


def _interactive(stream) -> bool:
    """Whether each line must go out at once: standard output is a pipe, a socket or a
    terminal (a file is written in blocks)."""
    try:
        mode = os.fstat(stream.fileno()).st_mode
    except (AttributeError, OSError, ValueError):
        return True
    return not stat.S_ISREG(mode)
