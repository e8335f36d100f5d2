"""`charrnn corpus ...`: list and download well-known public corpora, checked by SHA-256."""

from __future__ import annotations

from pathlib import Path

import click

from ..errors import ConfigError, OutputError
from .common import notice


@click.group(name="corpus", short_help="List and download public corpora.")
def corpus_group():
    """Public corpora that charrnn can download (they are not shipped; see corpora/README.md)."""


@corpus_group.command(name="list", short_help="The corpora fetch knows, with sizes and sources.")
def corpus_list():
    """The corpora `charrnn corpus fetch` knows, with their sizes and sources."""
    from ..text.corpora import KNOWN_CORPORA

    for corpus in KNOWN_CORPORA.values():
        click.echo(f"{corpus.name:<18} {corpus.size:>11,} bytes  {corpus.about}\n{'':<18} {corpus.url}")


@corpus_group.command(name="fetch", short_help="Download a corpus and check its SHA-256.")
@click.argument("name")
@click.option("-o", "--output", type=click.Path(dir_okay=False), help="File to write (default: NAME.txt).")
@click.option("--url", help="Download from this address instead (a mirror); the SHA-256 is still checked.")
@click.option("--deadline", metavar="DURATION", default="10m", show_default=True,
              help="Give up when the whole download takes longer than this (each read also gives up after 60 s "
              "without data); nothing is written then.")
def corpus_fetch(name, output, url, deadline):
    """Download the corpus NAME and check its SHA-256; the file is written only if it matches."""
    from ..durations import duration
    from ..text.corpora import KNOWN_CORPORA, fetch, file_sha256

    deadline = duration("deadline", deadline)  # the library's reading of a duration, before any work
    corpus = KNOWN_CORPORA.get(name)
    if corpus is None:
        raise ConfigError(f"no corpus named {name!r}; known: {', '.join(KNOWN_CORPORA)}")
    dest = Path(output or f"{name}.txt")
    existing = file_sha256(dest)
    if existing == corpus.sha256:
        notice(f"{dest} is already {name}")
        return
    if existing is not None:
        raise OutputError(f"{dest} exists and is not {name}; remove it or choose another file with -o")
    notice(f"downloading {name} ({corpus.size:,} bytes) from {url or corpus.url}")
    fetch(corpus, dest, url, deadline=deadline)
    notice(f"wrote {dest} (SHA-256 checked)")
