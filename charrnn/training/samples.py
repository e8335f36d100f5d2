"""Samples while training: a sample every N steps or every duration, from the model's current
weights (RunOptions' sample_every, sample_length, sample_temperature, sample_prime)."""

from __future__ import annotations

import time

from .options import RunOptions


class Samples:
    """A sample of `sample_length` symbols every N steps or every duration, from the model's
    current weights after the prime. Sampling only reads the weights, and its generator is
    seeded from the run's seed and the step: a run ends with the same weights with or
    without samples, and shows the same sample at the same step (resumed or not)."""

    def __init__(self, opts: RunOptions, vocab, ids, seed: int):
        self.kind, self.interval = opts.sample_every
        self.length = opts.sample_length
        self.temperature = opts.sample_temperature
        self.prime = opts.sample_prime or default_prime(vocab, ids)
        self.prime_ids = vocab.encode(self.prime)
        self.vocab = vocab
        self.seed = seed
        self.last = time.monotonic()

    def due(self, step: int) -> bool:
        if self.kind == "steps":
            return step % self.interval == 0
        return time.monotonic() - self.last >= self.interval

    def sample(self, model, step: int) -> str:
        """The prime and the symbols generated after it, as text."""
        import numpy as np

        from ..generate.sampler import Sampler  # NumPy and Numba: imported where sampling starts

        sampler = Sampler(model, banned=self.vocab.unknown, byte_values=self.vocab.byte_values())
        sampler.feed(self.prime_ids)
        rng = np.random.default_rng([self.seed, step])
        chunks = [chunk[:, 0] for chunk in sampler.generate(self.length, rng, self.temperature)]
        self.last = time.monotonic()
        return self.prime + self.vocab.decode(np.concatenate(chunks))


def default_prime(vocab, ids) -> str:
    """A newline when the vocabulary has one (samples then start like a paragraph), else
    the first character of the text whose ids start with `ids`."""
    return "\n" if not vocab.count_missing("\n") else vocab.decode(ids[:4])[:1]
