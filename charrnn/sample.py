"""Generation as an iterator of id chunks, streaming-friendly and reproducible: the same
model, prime, seed and options give the same ids however the output is chunked."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from .config import check_sampling_options
from .kernels.sampling import CELL_CODES, run_part
from .kernels.sync import FLAG_STRIDE
from .model import Model


# Layer 0's input part is precomputed for every character (a (V, G*H) table) unless the table
# would exceed this many elements (256 MB in float32): then the embedding row goes through wx.
PROJECTED_TABLE_MAX = 64 * 1024 * 1024


# Models with less than this in generation weights run faster on one thread: their share of a
# character is too short for the barriers between threads to pay for themselves.
SPLIT_MIN_BYTES = 1 << 20


def sampling_threads(model: Model, cores: int) -> int:
    """The threads to generate with by default: `cores` for models of SPLIT_MIN_BYTES of
    weights or more, else one."""
    return cores if model.flat.nbytes >= SPLIT_MIN_BYTES else 1


def _bounds(n: int, parts: int) -> np.ndarray:
    """parts + 1 boundaries cutting range(n) into nearly equal slices."""
    return np.array([(n * q) // parts for q in range(parts + 1)], np.int64)


class Sampler:
    """Runs `model` one character at a time for `batch` independent streams, on a copy of its
    weights laid out for generation (transposed, layer 0's input projected per character):
    later changes to the model do not reach a Sampler already made. The id `banned` (a
    vocabulary's unknown symbol) is never generated.

    With `threads` > 1 every character's work is split between that many threads, each
    streaming its own slice of the weights (see kernels/sampling.py); the text is the same
    as with one thread up to the order of float sums, which can change a rare draw."""

    def __init__(self, model: Model, batch: int = 1, banned: int | None = None, threads: int = 1):
        cfg, p = model.config, model.params
        dtype = model.dtype
        G, H, V, L = cfg.gates, cfg.hidden, cfg.vocab_size, cfg.layers
        self.model = model
        self.batch = batch
        self.parts = max(1, min(int(threads), H, V))
        self.banned = -1 if banned is None else int(banned)
        self.logits = np.zeros((batch, V), dtype)
        self._order = np.zeros(V, np.int64)
        self._ids = np.zeros(batch, np.int64)
        self._hfull = np.zeros((2, L, batch, H), dtype)
        self._parity = np.zeros(1, np.int64)
        self._flags = np.zeros(self.parts * FLAG_STRIDE, np.int64)
        self._units = _bounds(H, self.parts)
        self._vocab_cols = _bounds(V, self.parts)
        self.projected = V * G * H <= PROJECTED_TABLE_MAX
        table = p["embed"] @ p["layer0.wx"].T + p["layer0.bx"] if self.projected else None
        self._parts = []
        for q in range(self.parts):
            u0, u1 = self._units[q], self._units[q + 1]
            v0, v1 = self._vocab_cols[q], self._vocab_cols[q + 1]
            cols = np.concatenate([np.arange(g * H + u0, g * H + u1) for g in range(G)])
            wxts = [np.ascontiguousarray(p[f"layer{layer}.wx"][cols].T) for layer in range(L)]
            if self.projected:
                wxts[0] = np.zeros((0, cols.size), dtype)
            own = (
                np.zeros((L, batch, u1 - u0), dtype), np.zeros((L, batch, u1 - u0), dtype),  # h_own, c_own
                np.zeros(batch, np.int64), np.zeros((batch, cfg.embed), dtype),  # own_ids, inp
                np.zeros((batch, cols.size), dtype), np.zeros((batch, cols.size), dtype),  # gx, gh
                np.zeros((batch, v1 - v0), dtype),  # own_logits
                CELL_CODES[cfg.cell], p["embed"].copy(),
                np.ascontiguousarray(table[:, cols] if self.projected else np.zeros((0, cols.size)), dtype),
                tuple(wxts),
                tuple(np.ascontiguousarray(p[f"layer{layer}.wh"][cols].T) for layer in range(L)),
                tuple(p[f"layer{layer}.bx"][cols].copy() for layer in range(L)),
                tuple(p[f"layer{layer}.bh"][cols].copy() for layer in range(L)),
                np.ascontiguousarray(p["head.w"][v0:v1].T), p["head.b"][v0:v1].copy(),
            )
            self._parts.append(own)
        self._pool: ThreadPoolExecutor | None = None
        self.fed = False

    @property
    def state(self) -> np.ndarray:
        """The recurrent state (L, S, B, H), as Model.zero_state lays it out (a copy)."""
        cfg = self.model.config
        state = self.model.zero_state(self.batch)
        state[:, 0] = self._hfull[self._parity[0]]
        if cfg.cell == "lstm":
            for q, own in enumerate(self._parts):
                state[:, 1, :, self._units[q]:self._units[q + 1]] = own[1]
        return state

    def _run(self, feed_ids: np.ndarray, out: np.ndarray, uniforms: np.ndarray, inv_temperature, top_k: int,
             top_p: float) -> None:
        self._flags[:] = 0
        shared = (self._flags, feed_ids, out, uniforms, self.logits, self._order, self._ids, self._hfull, self._parity)
        options = (self._units, self._vocab_cols, inv_temperature, top_k, top_p, self.banned)
        jobs = [(q, *shared, *own, *options) for q, own in enumerate(self._parts)]
        if self.parts == 1:
            run_part(*jobs[0])
            return
        if self._pool is None:
            self._pool = ThreadPoolExecutor(max_workers=self.parts - 1, thread_name_prefix="charrnn-sample")
        futures = [self._pool.submit(run_part, *job) for job in jobs[1:]]
        run_part(*jobs[0])
        for future in futures:
            future.result()

    def feed(self, ids: Sequence[int]) -> None:
        """Run the prime through the model (every stream gets the same characters)."""
        ids = np.asarray(ids, np.int64).reshape(-1)
        no_draws = np.zeros((0, self.batch))
        self._run(ids, np.zeros((0, self.batch), np.int64), no_draws, self.logits.dtype.type(1.0), 0, 1.0)
        self.fed = self.fed or ids.size > 0

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
        no_feed = np.zeros(0, np.int64)
        done = 0
        while done < length:
            n = min(chunk, length - done)
            if isinstance(rng, np.random.Generator):
                uniforms = rng.random((n, self.batch))
            else:
                uniforms = np.stack([stream_rng.random(n) for stream_rng in rng], axis=1)
            out = np.zeros((n, self.batch), np.int64)
            self._run(no_feed, out, uniforms, inv_temperature, top_k, top_p)
            done += n
            yield out
