"""The command line: a thin layer over the library (`import charrnn`). It parses options,
renders the library's events and notices on stderr, writes data on stdout, and turns the
project's exceptions into one-line errors and exit statuses."""

from __future__ import annotations

import sys

import click

from .._version import __version__
from ..errors import CharrnnError

CONTEXT_SETTINGS = {"help_option_names": ["-h", "--help"], "max_content_width": 100}


class CharrnnGroup(click.Group):
    """Maps CharrnnError to `charrnn: message` on stderr (options named as flags) and the
    error's exit status, and Ctrl-C to one line and status 130."""

    def invoke(self, ctx):
        from .common import show_library_notices

        show_library_notices()
        try:
            return super().invoke(ctx)
        except CharrnnError as exc:
            click.echo(f"charrnn: {exc.for_command_line()}", err=True)
            ctx.exit(exc.exit_code)
        except KeyboardInterrupt:
            click.echo("charrnn: interrupted", err=True)
            ctx.exit(130)


@click.group(cls=CharrnnGroup, context_settings=CONTEXT_SETTINGS)
@click.version_option(__version__, "-V", "--version", prog_name="charrnn")
def cli():
    """Character-level language models (RNN, LSTM, GRU) on the CPU.

    Train on any text, then sample new text one character at a time:

    \b
        charrnn train corpora/plays.txt --time 2m
        charrnn sample --prime "DUKE:" -n 300
    """


def main() -> None:
    from .common import Stdout

    stdout = sys.stdout = Stdout(sys.stdout)
    try:
        cli.main(prog_name="charrnn")
    finally:
        if stdout.failed:
            stdout.discard()


def _register() -> None:
    from .checkpoints import checkpoints_group
    from .corpus import corpus_group
    from .evaluate import eval_command
    from .generate import sample_command
    from .plot import plot_command
    from .score import score_command
    from .train import train_command

    for command in (train_command, sample_command, eval_command, score_command, plot_command, checkpoints_group,
                    corpus_group):
        cli.add_command(command)


_register()
