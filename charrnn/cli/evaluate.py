"""`charrnn eval`: bits per character of a text under a model."""

from __future__ import annotations

import sys

import click

from ..errors import ConfigError, InputError
from .common import encoding_options, load_core, read_sources, write_json


@click.command(name="eval")
@click.argument("ckpt")
@click.argument("files", nargs=-1)
@click.option("--skip-unknown", is_flag=True,
              help="Leave out characters the model does not know (counted) instead of failing.")
@click.option("--threads", type=int, envvar="CHARRNN_THREADS", help="CPU threads (default: all cores).")
@encoding_options
@click.option("--json", "json_", is_flag=True, help="Print one JSON object instead of text.")
def eval_command(ckpt, files, skip_unknown, threads, encoding, errors, json_):
    """Score FILES (or standard input) under CKPT: nats and bits per character and perplexity,
    every character after the first predicted with the state carried through the text."""
    if not files:
        if sys.stdin is None or sys.stdin.isatty():
            raise ConfigError("name the text to score: FILE... or - for standard input")
        files = ("-",)
    threads = load_core(threads)

    from ..evaluate import score_text
    from .loading import load_model

    model, vocab, _ = load_model(ckpt, threads)
    text = read_sources(files, encoding, errors)
    unknown = vocab.missing(text)
    skipped = 0
    if unknown and skip_unknown:
        kept = "".join(ch for ch in text if ch not in set(unknown))
        skipped = len(text) - len(kept)
        text = kept
    if len(text) < 2:
        raise InputError(f"the text to score has {len(text)} character{'s' if len(text) != 1 else ''}; "
                         "it needs 2 or more (the first is only context)")
    score = score_text(model, vocab.encode(text))
    result = dict(chars=score.chars, nats_per_char=score.nats_per_char, bits_per_char=score.bits_per_char,
                  perplexity=score.perplexity, skipped_chars=skipped)
    if json_:
        write_json(result)
    else:
        click.echo(f"chars scored   {score.chars}")
        click.echo(f"nats/char      {score.nats_per_char:.4f}")
        click.echo(f"bits/char      {score.bits_per_char:.4f}")
        click.echo(f"perplexity     {score.perplexity:.3f}")
        if skipped:
            click.echo(f"skipped chars  {skipped} (not in the model's vocabulary)")
