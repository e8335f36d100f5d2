"""`charrnn sample`: generate text from a checkpoint, streamed to stdout as it is made
(`charrnn.load(...).generate(...)`, written as it comes)."""

from __future__ import annotations

import os
import sys

import click

from ..errors import ConfigError
from ..generate.options import SAMPLE_PRECISIONS, SAMPLE_TEMPERATURE, check_sampling_options
from .common import complete_runs, notice, write_json

PRIME_FILE_LIMIT = 1 << 20  # bytes: a prime is the start of a text, not a corpus


@click.command(name="sample", short_help="Generate text from a trained model.")
@click.argument("ckpt", required=False, shell_complete=complete_runs)
@click.option("-p", "--prime", help="Text to start from (it is echoed unless --no-prime). Characters the model "
              "does not know are an error, unless it has an unknown symbol (--min-count), which they then map to. "
              "A byte model takes the bytes as given; for a character model they must be UTF-8.")
@click.option("--prime-file", type=click.File("rb"),
              help=f"Read the prime from a file (- for standard input; at most {PRIME_FILE_LIMIT >> 20} MiB).")
@click.option("-n", "--length", type=int, default=500, show_default=True,
              help="Characters (bytes, for a byte model) to generate per sample.")
@click.option("-t", "--temperature", type=float, default=SAMPLE_TEMPERATURE, show_default=True,
              help="Sampling temperature; 0 always takes the most likely character (at most 1e6).")
@click.option("--top-k", type=int, default=0, help="Sample only among the K most likely characters (0: off).")
@click.option("--top-p", type=float, default=1.0, show_default=True,
              help="Sample only among the most likely characters whose probability adds up to P.")
@click.option("--seed", type=click.IntRange(min=0), help="Seed for repeatable output (default: random).")
@click.option("--num-samples", type=int, default=1, show_default=True,
              help="Independent samples, one after another, generated up to 64 at a time (the first of each "
              "group streams as it is made); with --seed, sample i is the same whatever the number of samples.")
@click.option("--separator", default="\n\n", help="Written between samples (default: a blank line).")
@click.option("--stop", "stop_at", help="End a sample right after the first occurrence of this text.")
@click.option("--no-prime", is_flag=True, help="Do not echo the prime.")
@click.option("--threads", type=int, envvar="CHARRNN_THREADS",
              help="Threads that share each character's work (default: all cores for models of 1 MB of weights "
              "or more, else one; env CHARRNN_THREADS).")
@click.option("--precision", type=click.Choice(SAMPLE_PRECISIONS), default="auto", show_default=True,
              help="How the weights are stored while generating: fp32, bf16 (half the bytes read per character: "
                   "about twice as fast), int8 (a quarter), auto (bf16). `charrnn eval --precision` says what each "
                   "costs in bits per character.")
@click.option("--json", "json_", is_flag=True, help="Print one JSON object when done instead of streaming text: "
              "the checkpoint, the prime, the options and `samples`, a list of texts (each with its prime unless "
              "--no-prime).")
def sample_command(ckpt, prime, prime_file, length, temperature, top_k, top_p, seed, num_samples, separator,
                   stop_at, no_prime, threads, precision, json_):
    """Generate text from CKPT: a checkpoint file, a run directory (its best checkpoint) or a
    run name under checkpoints/. Without CKPT, the most recently written run.

    A byte model writes valid UTF-8: it is never offered a byte that would break a character,
    and a sample that would end inside one ends after it."""
    if prime is not None and prime_file is not None:
        raise ConfigError("--prime and --prime-file exclude each other")
    if threads is not None and threads < 1:
        raise ConfigError(f"--threads must be at least 1, got {threads}")
    # the library's own check of generate's options, here before any work (loading the model)
    check_sampling_options(length=length, temperature=temperature, top_k=top_k, top_p=top_p, stop=stop_at,
                           num_samples=num_samples)
    from ..text.sources import decode_utf8, read_limited

    if prime_file is not None:
        name = "standard input" if prime_file.name == "<stdin>" else prime_file.name
        raw = read_limited(prime_file, PRIME_FILE_LIMIT, f"the prime file {name}")
    elif prime is not None:  # the bytes of the command line (click decodes them with surrogateescape)
        name, raw = "--prime", os.fsencode(prime)
    if json_:
        _check_json_fits(num_samples, length, len(raw) if prime is not None or prime_file is not None else 0)

    from ..generate.language_model import load

    model = load(ckpt, threads=threads)
    if prime is not None or prime_file is not None:  # a byte model reads the bytes as they are
        prime = raw if model.unit == "byte" else decode_utf8(raw, name)
    pieces = model.generate(prime or "", length=length, temperature=temperature, top_k=top_k, top_p=top_p, seed=seed,
                            stop=stop_at, num_samples=num_samples, threads=threads, echo_prime=not no_prime,
                            precision=precision)
    if json_:
        samples: list[list[str]] = [[] for _ in range(num_samples)]
        for sample, piece in pieces:
            samples[sample].append(piece)
        shown = prime.decode("utf-8", "replace") if isinstance(prime, bytes) else prime or ""
        write_json(dict(checkpoint=str(model.path), prime=shown, length=length, temperature=temperature,
                        top_k=top_k, top_p=top_p, seed=seed, precision=precision,
                        samples=["".join(sample) for sample in samples]))
        return
    out = sys.stdout  # under `charrnn`, UTF-8 whatever the locale (see common.Stdout)
    written = 0  # the sample being written; the library yields the samples in order
    for sample, piece in pieces:
        while written < sample:
            out.write(separator)
            written += 1
        out.write(piece)
        out.flush()
    out.write(separator * (num_samples - 1 - written))
    if out.isatty():
        out.write("\n")
    if seed is None:
        notice("no --seed given: this output will not repeat", quiet=not sys.stderr.isatty())


def _check_json_fits(num_samples: int, length: int, prime_bytes: int) -> None:
    """--json holds every sample until the end: refuse, before any work, what could not fit in
    a quarter of the machine's memory (a character takes up to 4 bytes in a str)."""
    from ..runtime import machine_memory

    needed, memory = num_samples * (length + 4 + prime_bytes) * 4, machine_memory()
    if memory is not None and needed > memory // 4:
        raise ConfigError(f"--json holds all {num_samples:,} samples until the end, up to {needed / 2**30:.1f} GiB, "
                          f"more than a quarter of this machine's memory; give fewer --num-samples or leave out --json "
                          "(the text then streams)", options=("num_samples", "json"))

