"""`charrnn eval`: bits per character (or per byte) of a text under a model."""

from __future__ import annotations

import sys

import click

from ..errors import ConfigError, InputError
from .common import errors_option, load_core, stdin_bytes, write_json


@click.command(name="eval")
@click.argument("ckpt")
@click.argument("files", nargs=-1)
@click.option("--skip-unknown", is_flag=True,
              help="Leave out characters the model does not know (counted) instead of failing. A model with an "
                   "unknown symbol (--min-count) maps them to it instead, and counts them as unknown.")
@click.option("--threads", type=int, envvar="CHARRNN_THREADS", help="CPU threads (default: all cores).")
@errors_option
@click.option("--json", "json_", is_flag=True, help="Print one JSON object instead of text.")
def eval_command(ckpt, files, skip_unknown, threads, errors, json_):
    """Score FILES (or standard input) under CKPT: nats and bits per character and perplexity,
    every character after the first predicted with the state carried through the text.

    A byte model scores the UTF-8 bytes of any file, in bits per byte; --json then names
    its fields per byte (bytes, nats_per_byte, bits_per_byte, ...) and "unit" says which."""
    if not files:
        if sys.stdin is None or sys.stdin.isatty():
            raise ConfigError("name the text to score: FILE... or - for standard input")
        files = ("-",)
    threads = load_core(threads)

    from ..corpus import read_bytes, read_text
    from ..evaluate import score_text
    from .loading import load_model

    model, vocab, _ = load_model(ckpt, threads)
    if vocab.unit == "char":
        text = read_text(list(files), stdin=stdin_bytes(), errors=errors or "strict")
    else:
        text = read_bytes(list(files), stdin=stdin_bytes())
    ids = vocab.encode(text, skip_unknown=skip_unknown)
    unit = vocab.unit
    unknown = vocab.count_missing(text) if vocab.unknown is not None else 0
    skipped = len(text) - len(ids)
    if len(ids) < 2:
        raise InputError(f"the text to score has {len(ids)} {unit}{'s' if len(ids) != 1 else ''}; "
                         "it needs 2 or more (the first is only context)")
    score = score_text(model, ids)
    result = {"unit": unit, f"{unit}s": score.chars, f"nats_per_{unit}": score.nats_per_char,
              f"bits_per_{unit}": score.bits_per_char, "perplexity": score.perplexity,
              f"skipped_{unit}s": skipped, f"unknown_{unit}s": unknown}
    if json_:
        write_json(result)
    else:
        click.echo(f"{unit}s scored   {score.chars}")
        click.echo(f"nats/{unit}      {score.nats_per_char:.4f}")
        click.echo(f"bits/{unit}      {score.bits_per_char:.4f}")
        click.echo(f"perplexity     {score.perplexity:.3f}")
        if skipped:
            click.echo(f"skipped {unit}s  {skipped} (not in the model's vocabulary)")
        if unknown:
            click.echo(f"unknown {unit}s  {unknown} (scored as the model's unknown symbol)")
