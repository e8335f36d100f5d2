"""Generation as an iterator of id chunks, streaming-friendly and reproducible: the same
model, prime, seed and options give the same ids however the output is chunked."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np

from .config import check_sampling_options
from .kernels.sampling import CELL_CODES, advance, generate
from .model import Model


# Layer 0's input part is precomputed for every character (a (V, G*H) table) unless the table
# would exceed this many elements (256 MB in float32): then the embedding row goes through wx.
PROJECTED_TABLE_MAX = 64 * 1024 * 1024


class Sampler:
    """Runs `model` one character at a time for `batch` independent streams, on a copy of its
    weights laid out for generation (transposed, layer 0's input projected per character):
    later changes to the model do not reach a Sampler already made. The id `banned` (a
    vocabulary's unknown symbol) is never generated."""

    def __init__(self, model: Model, batch: int = 1, banned: int | None = None):
        cfg, p = model.config, model.params
        self.model = model
        self.batch = batch
        dtype = model.dtype
        G, H, V = cfg.gates, cfg.hidden, cfg.vocab_size
        self.state = model.zero_state(batch)
        self.logits = np.zeros((batch, V), dtype)
        self._order = np.zeros(V, np.int64)
        self._inp = np.zeros((batch, cfg.embed), dtype)
        self._gx = np.zeros((batch, G * H), dtype)
        self._gh = np.zeros((batch, G * H), dtype)
        self._ids = np.zeros(batch, np.int64)
        layers = range(cfg.layers)
        wxts = [np.ascontiguousarray(p[f"layer{layer}.wx"].T) for layer in layers]
        if V * G * H <= PROJECTED_TABLE_MAX:
            table = p["embed"] @ wxts[0] + p["layer0.bx"]
            wxts[0] = np.zeros((0, G * H), dtype)
        else:
            table = np.zeros((0, G * H), dtype)
        self._weights = (
            CELL_CODES[cfg.cell], p["embed"].copy(), np.ascontiguousarray(table, dtype), tuple(wxts),
            tuple(np.ascontiguousarray(p[f"layer{layer}.wh"].T) for layer in layers),
            tuple(p[f"layer{layer}.bx"].copy() for layer in layers),
            tuple(p[f"layer{layer}.bh"].copy() for layer in layers),
            np.ascontiguousarray(p["head.w"].T), p["head.b"].copy(),
        )
        self.projected = table.shape[0] > 0
        self.banned = -1 if banned is None else int(banned)
        self.fed = False

    def feed(self, ids: Sequence[int]) -> None:
        """Run the prime through the model (every stream gets the same characters)."""
        for char_id in ids:
            self._ids[:] = char_id
            advance(self.logits, self.state, self._inp, self._gx, self._gh, self._ids, *self._weights)
            self.fed = True

    def generate(self, length: int, rng: np.random.Generator | Sequence[np.random.Generator],
                 temperature: float = 1.0, top_k: int = 0, top_p: float = 1.0, chunk: int = 16) -> Iterator[np.ndarray]:
        """Yield chunks of generated ids, (k, batch) each, `length` per stream in all.
        feed() must have run first: generation continues from the last fed character.
        `rng` is one generator for all streams, or one per stream (a stream's text then does
        not depend on how many streams run beside it)."""
        check_sampling_options(temperature, top_k, top_p)
        if not self.fed:
            raise ValueError("feed() the sampler at least one character before generating")
        # in the model's dtype, so that float32 probabilities take the vectorised exponential
        inv_temperature = self.logits.dtype.type(0.0 if temperature == 0 else 1.0 / temperature)
        done = 0
        while done < length:
            n = min(chunk, length - done)
            if isinstance(rng, np.random.Generator):
                uniforms = rng.random((n, self.batch))
            else:
                uniforms = np.stack([stream_rng.random(n) for stream_rng in rng], axis=1)
            out = np.zeros((n, self.batch), np.int64)
            generate(out, uniforms, self.logits, self._order, self.state, self._inp, self._gx, self._gh,
                     self._ids, *self._weights, inv_temperature, top_k, top_p, self.banned)
            done += n
            yield out
