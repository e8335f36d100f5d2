"""`charrnn train --sample-every`: short samples while training, to watch the model learn."""

from __future__ import annotations

import time

from ..errors import ConfigError


def check_sample_options(length: int, temperature: float, prime: str | None) -> None:
    if length < 1:
        raise ConfigError(f"--sample-length must be at least 1, got {length}")
    if not temperature >= 0:
        raise ConfigError(f"--sample-temperature must be 0 (argmax) or more, got {temperature}")
    if prime == "":
        raise ConfigError("--sample-prime needs some text")


class LiveSamples:
    """A sample of `length` characters every N steps or every duration (`every`, as given by
    StepsOrDuration), generated from the model's current weights after `prime`.

    Sampling only reads the weights: the Sampler keeps its own state and scratch, and its
    generator is seeded from the run's seed and the step, not drawn from anything training
    uses. So a run ends with the same weights with or without samples, and the same run
    shows the same sample at the same step (a resumed one too).
    """

    def __init__(self, every: tuple[str, float], length: int, temperature: float, prime: str, vocab, seed: int):
        self.kind, self.interval = every
        self.length = length
        self.temperature = temperature
        self.prime = prime
        self.prime_ids = vocab.encode(prime)
        self.vocab = vocab
        self.seed = seed
        self.last = time.monotonic()

    def due(self, step: int) -> bool:
        if self.kind == "steps":
            return step % self.interval == 0
        return time.monotonic() - self.last >= self.interval

    def sample(self, model, step: int) -> str:
        """The prime and the characters generated after it."""
        import numpy as np

        from ..sample import Sampler

        sampler = Sampler(model, banned=self.vocab.unknown)
        sampler.feed(self.prime_ids)
        rng = np.random.default_rng([self.seed, step])
        chunks = [chunk[:, 0] for chunk in sampler.generate(self.length, rng, self.temperature)]
        self.last = time.monotonic()
        return self.prime + self.vocab.decode(np.concatenate(chunks))

    def message(self, model, step: int) -> str:
        """The sample under a heading, for stderr."""
        return f"charrnn: sample at step {step}:\n{self.sample(model, step).strip(chr(10))}"


def default_prime(vocab, ids) -> str:
    """A newline when the vocabulary has one (samples then start like a paragraph), else
    the first character of the text whose ids start with `ids`."""
    return "\n" if not vocab.count_missing("\n") else vocab.decode(ids[:4])[:1]
