"""`charrnn sample`: generate text from a checkpoint, streamed to stdout as it is made."""

from __future__ import annotations

import sys

import click

from ..errors import ConfigError
from .common import load_core, notice


@click.command(name="sample")
@click.argument("ckpt", required=False)
@click.option("-p", "--prime", help="Text to start from (it is echoed unless --no-prime).")
@click.option("--prime-file", type=click.File("rb"), help="Read the prime from a file (- for standard input).")
@click.option("-n", "--length", type=int, default=500, show_default=True, help="Characters to generate per sample.")
@click.option("-t", "--temperature", type=float, default=1.0, show_default=True,
              help="Sampling temperature; 0 always takes the most likely character.")
@click.option("--top-k", type=int, default=0, help="Sample only among the K most likely characters (0: off).")
@click.option("--top-p", type=float, default=1.0, show_default=True,
              help="Sample only among the most likely characters whose probability adds up to P.")
@click.option("--seed", type=click.IntRange(min=0), help="Seed for repeatable output (default: random).")
@click.option("--num-samples", type=int, default=1, show_default=True, help="Independent samples to write.")
@click.option("--separator", default="\n\n", show_default=repr("\n\n"), help="Written between samples.")
@click.option("--stop", "stop_at", help="End a sample right after the first occurrence of this text.")
@click.option("--no-prime", is_flag=True, help="Do not echo the prime.")
def sample_command(ckpt, prime, prime_file, length, temperature, top_k, top_p, seed, num_samples, separator,
                   stop_at, no_prime):
    """Generate text from CKPT: a checkpoint file, a run directory (its best checkpoint) or a
    run name under checkpoints/. Without CKPT, the most recently written run."""
    if length < 0:
        raise ConfigError(f"--length must be 0 or more, got {length}")
    if num_samples < 1:
        raise ConfigError(f"--num-samples must be at least 1, got {num_samples}")
    if prime is not None and prime_file is not None:
        raise ConfigError("--prime and --prime-file exclude each other")
    if stop_at == "":
        raise ConfigError("--stop needs some text")
    from ..config import check_sampling_options

    check_sampling_options(temperature, top_k, top_p)
    if prime_file is not None:
        from ..corpus import decode_utf8

        prime = decode_utf8(prime_file.read(), prime_file.name)
    load_core(1)

    import numpy as np

    from ..sample import Sampler
    from .loading import load_model

    model, vocab, _ = load_model(ckpt)
    if prime:
        prime_ids = vocab.encode(prime)
    else:
        start = "\n" if "\n" in vocab.chars else vocab.chars[0]
        prime_ids, prime, no_prime = vocab.encode(start), start, True
    rng = np.random.default_rng(seed)
    out = sys.stdout  # under `charrnn`, UTF-8 whatever the locale (see common.Stdout)
    for index in range(num_samples):
        if index:
            _write(out, separator)
        if not no_prime:
            _write(out, prime)
        sampler = Sampler(model)
        sampler.feed(prime_ids)
        written = ""
        for chunk in sampler.generate(length, rng, temperature, top_k, top_p):
            text = vocab.decode(chunk[:, 0])
            if stop_at is not None:
                written += text
                cut = written.find(stop_at)
                if cut >= 0:
                    _write(out, text[:len(text) - (len(written) - cut - len(stop_at))])
                    break
                written = written[-len(stop_at):]
            _write(out, text)
    if out.isatty():
        _write(out, "\n")
    if seed is None:
        notice("no --seed given: this output will not repeat", quiet=not sys.stderr.isatty())


def _write(stream, text: str) -> None:
    stream.write(text)
    stream.flush()
