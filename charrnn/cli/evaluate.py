"""`charrnn eval`: bits per character (or per byte) of a text under a model
(`charrnn.load(...).score_files(...)`, printed)."""

from __future__ import annotations

import sys

import click

from ..errors import ConfigError
from ..generate.options import SAMPLE_PRECISIONS
from .common import complete_runs, errors_option, stdin_bytes, write_json


@click.command(name="eval", short_help="Score text under a model: bits per character and perplexity.")
@click.argument("ckpt", shell_complete=complete_runs)
@click.argument("files", nargs=-1)
@click.option("--skip-unknown/--no-skip-unknown", default=True, show_default=True,
              help="Leave out characters the model does not know, counted (skipped chars) and named in a notice on "
                   "stderr, as `charrnn score` does; --no-skip-unknown makes them an error. A model with an unknown "
                   "symbol (--min-count) reads them as it instead, and counts them as unknown.")
@click.option("--threads", type=int, envvar="CHARRNN_THREADS", help="CPU threads (default: all cores).")
@errors_option
@click.option("--precision", type=click.Choice(SAMPLE_PRECISIONS), default="fp32", show_default=True,
              help="Score the model with its weights stored as `charrnn sample --precision` stores them (auto: as "
                   "sample's default, bf16): what sampling so costs in bits per character.")
@click.option("--dynamic", is_flag=True,
              help="Dynamic evaluation (Krause et al., 2018): a copy of the model learns from the text as it scores "
                   "it, each 64-character window scored, then one plain SGD step on it (a forward and a backward "
                   "pass more per window). The checkpoint never changes.")
@click.option("--dynamic-lr", type=float, help="Dynamic evaluation's SGD learning rate (default 0.1).")
@click.option("--json", "json_", is_flag=True, help="Print one JSON object instead of text.")
def eval_command(ckpt, files, skip_unknown, threads, errors, precision, dynamic, dynamic_lr, json_):
    """Score FILES (or standard input) under CKPT: nats and bits per character and perplexity,
    every character after the first predicted with the state carried through the text. The
    text is read in chunks, so its size does not matter.

    A byte model scores the UTF-8 bytes of any file, in bits per byte; --json then names
    its fields per byte (bytes, nats_per_byte, bits_per_byte, ...) and "unit" says which."""
    if not files:
        if sys.stdin is None or sys.stdin.isatty():
            raise ConfigError("name the text to score: FILE... or - for standard input")
        files = ("-",)
    if threads is not None and threads < 1:
        raise ConfigError(f"--threads must be at least 1, got {threads}")
    from ..generate.language_model import load

    model = load(ckpt, threads=threads)
    result = model.score_files(files, errors=errors or "strict", skip_unknown=skip_unknown, stdin=stdin_bytes(),
                               precision=precision, dynamic=dynamic, dynamic_lr=dynamic_lr)
    if json_:
        write_json(result)
        return
    unit = result["unit"]
    click.echo(f"{unit}s scored   {result[f'{unit}s']}")
    click.echo(f"nats/{unit}      {_number(result[f'nats_per_{unit}'], 4)}")
    click.echo(f"bits/{unit}      {_number(result[f'bits_per_{unit}'], 4)}")
    click.echo(f"perplexity     {_number(result['perplexity'], 3)}")
    if result["dynamic_lr"] is not None:
        click.echo(f"dynamic        SGD, learning rate {result['dynamic_lr']:g}")
    if result[f"skipped_{unit}s"]:
        click.echo(f"skipped {unit}s  {result[f'skipped_{unit}s']} (not in the model's vocabulary)")
    if result[f"unknown_{unit}s"]:
        click.echo(f"unknown {unit}s  {result[f'unknown_{unit}s']} (scored as the model's unknown symbol)")


def _number(value: float, decimals: int) -> str:
    """`decimals` places; in scientific notation past a billion (absurd weights score so), inf past a float."""
    return f"{value:.{decimals}f}" if abs(value) < 1e9 else f"{value:.{decimals}e}"
