"""Generation as an iterator of id chunks, streaming-friendly and reproducible: the same
model, prime, seed and options give the same ids however the output is chunked.

A byte model writes valid UTF-8 by construction: before each draw, every byte that would not
keep the stream a valid UTF-8 prefix gets probability zero (a lead byte where a character
starts, exactly the continuation bytes it calls for, no overlong forms, no surrogates,
nothing above U+10FFFF, and no lead byte whose character the vocabulary cannot complete).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from ..errors import CheckpointError
from ..kernels.cells import CELL_CODES
from ..kernels.sampling import Draws, Layout, Rules, Scratch, Shared, Weights, run_part
from ..kernels.sync import FLAG_STRIDE
from ..model.config import is_weight_matrix
from ..model.network import Model

# Layer 0's input part is precomputed for every character (a (V, G*H) table) unless the table
# would exceed this many elements (256 MB in float32): then the embedding row goes through wx.
PROJECTED_TABLE_MAX = 64 * 1024 * 1024

# Models with less than this in generation weights run faster on one thread: their share of a
# character is too short for the barriers between threads to pay for themselves.
SPLIT_MIN_BYTES = 1 << 20

# Many samples are generated in groups: the first sample alone, so that it streams at once, then
# up to SAMPLE_GROUP at a time, which share each read of the weights. Each group's first sample
# streams as it is made; the others are held until their turn, at most HELD_TEXT_MAX bytes of
# text (or an eighth of the machine's memory) in all, at HELD_BYTES_PER_SYMBOL (a str of 16-symbol
# pieces, up to 4 bytes a character).
SAMPLE_GROUP = 64
HELD_TEXT_MAX = 256 << 20
HELD_BYTES_PER_SYMBOL = 10

# How generation stores its weight matrices (the embedding, the projected table and the
# biases stay float32): as they are, as bf16 (half the bytes read per character) or as int8
# with a float32 scale per output unit (a quarter). See `stored`.
WEIGHT_FORMATS = ("fp32", "bf16", "int8")

# The UTF-8 states a byte stream can be in: 0 at a character's start; 1-3 expecting 1-3 more
# continuation bytes (80-BF); 4-7 expecting the first continuation of a lead byte that narrows
# it: E0 (A0-BF: no overlong forms), ED (80-9F: no surrogates), F0 (90-BF), F4 (80-8F: nothing
# above U+10FFFF).
UTF8_STATES = 8


def _utf8_next_state() -> np.ndarray:
    """(UTF8_STATES, 256): the state after each byte in each state; -1 where it is invalid."""
    nxt = np.full((UTF8_STATES, 256), -1, np.int64)
    nxt[0, 0x00:0x80] = 0
    nxt[0, 0xC2:0xE0] = 1
    nxt[0, 0xE0] = 4
    nxt[0, 0xE1:0xED] = 2
    nxt[0, 0xED] = 5
    nxt[0, 0xEE:0xF0] = 2
    nxt[0, 0xF0] = 6
    nxt[0, 0xF1:0xF4] = 3
    nxt[0, 0xF4] = 7
    for state, (low, high, then) in {1: (0x80, 0xC0, 0), 2: (0x80, 0xC0, 1), 3: (0x80, 0xC0, 2),
                                     4: (0xA0, 0xC0, 1), 5: (0x80, 0xA0, 1), 6: (0x90, 0xC0, 2),
                                     7: (0x80, 0x90, 2)}.items():
        nxt[state, low:high] = then
    return nxt


UTF8_NEXT = _utf8_next_state()


def utf8_rules(byte_of_id: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(allowed (UTF8_STATES, V) bool, next_state) for a vocabulary whose ids stand for the
    bytes byte_of_id (V,) (-1: the unknown symbol, never allowed). An id is allowed in a state
    when its byte is valid there and leads to a state from which the vocabulary's bytes can
    finish the character. CheckpointError when they cannot even make one character."""
    known = byte_of_id[byte_of_id >= 0]
    finishable = np.zeros(UTF8_STATES, bool)
    finishable[0] = True
    while True:  # a state is finishable when one of the vocabulary's bytes leads to a finishable one
        reach = UTF8_NEXT[:, known]
        now = finishable | ((reach >= 0) & finishable[np.maximum(reach, 0)]).any(axis=1)
        if (now == finishable).all():
            break
        finishable = now
    nxt = UTF8_NEXT[:, np.maximum(byte_of_id, 0)]
    allowed = (nxt >= 0) & finishable[np.maximum(nxt, 0)] & (byte_of_id >= 0)
    if not allowed[0].any():
        raise CheckpointError("this byte model's vocabulary cannot make one whole UTF-8 character")
    return allowed, UTF8_NEXT


def stored(wt: np.ndarray, weights: str) -> tuple[np.ndarray, np.ndarray]:
    """A transposed weight (K, N) as generation reads it in the format `weights`, and its
    scale per column (no elements but for int8)."""
    from ..kernels.bf16 import to_bf16
    from ..kernels.matvec import quantize_int8

    if weights == "int8":
        wt_q, scale = quantize_int8(wt)
        return np.ascontiguousarray(wt_q), scale
    empty = np.zeros(0, np.float32)
    if weights == "bf16":
        return np.ascontiguousarray(to_bf16(np.asarray(wt, np.float32))), empty
    return np.ascontiguousarray(wt), empty


def as_read(wt: np.ndarray, weights: str) -> np.ndarray:
    """What generation multiplies by when it stores `wt` (K, N) as `weights`: the weight with
    the rounding of bf16 or int8 applied, in float32 (to score a model as it samples)."""
    from ..kernels.bf16 import from_bf16

    array, scale = stored(wt, weights)
    if weights == "int8":
        return array.astype(np.float32) * scale
    return from_bf16(array) if weights == "bf16" else array


def projected(model: Model) -> bool:
    """Whether generation takes layer 0's input part from a per-character table (computed in
    float32 from the embedding and wx) rather than through wx."""
    cfg = model.config
    return cfg.vocab_size * cfg.gates * cfg.hidden <= PROJECTED_TABLE_MAX


def generation_model(model: Model, weights: str) -> Model:
    """A copy of `model` whose weight matrices are those generation reads when it stores them
    as `weights`: scoring it gives the bits per character of the text sampled so."""
    copy = Model(model.config, model.dtype, model.threads)
    copy.flat[...] = model.flat
    for name, view in copy.params.items():
        if is_weight_matrix(name) and not (name == "layer0.wx" and projected(model)):
            view[...] = as_read(np.ascontiguousarray(view.T), weights).T
    return copy


def sampling_threads(model: Model, cores: int) -> int:
    """The threads to generate with by default: `cores` for models of SPLIT_MIN_BYTES of
    weights or more, else one."""
    return cores if model.flat.nbytes >= SPLIT_MIN_BYTES else 1


def sample_groups(num_samples: int, length: int, memory: int | None) -> Iterator[int]:
    """The sizes of the groups that `num_samples` samples of `length` symbols are generated in,
    in order (see SAMPLE_GROUP); `memory` is the machine's in bytes (None: unknown). Nothing
    here grows with num_samples: a group holds at most HELD_TEXT_MAX of text, and a sample too
    long to hold has a group of its own (it streams)."""
    budget = HELD_TEXT_MAX if memory is None else min(HELD_TEXT_MAX, memory // 8)
    held = budget // max(1, length * HELD_BYTES_PER_SYMBOL)
    size = max(1, min(SAMPLE_GROUP, 1 + held))
    done = 0
    while done < num_samples:
        group = 1 if done == 0 else min(size, num_samples - done)
        yield group
        done += group


def _bounds(n: int, parts: int) -> np.ndarray:
    """parts + 1 boundaries cutting range(n) into nearly equal slices."""
    return np.array([(n * q) // parts for q in range(parts + 1)], np.int64)


class Sampler:
    """Runs `model` one character at a time for `batch` independent streams, on a copy of its
    weights laid out for generation (transposed, layer 0's input projected per character):
    later changes to the model do not reach a Sampler already made. The id `banned` (a
    vocabulary's unknown symbol) is never generated. With `byte_values` (V,), the byte each id
    stands for (-1 for the unknown symbol), the model is a byte model and writes valid UTF-8.

    With `threads` > 1 every character's work is split between that many threads, each
    streaming its own slice of the weights (see kernels/sampling.py); the text is the same
    as with one thread up to the order of float sums, which can change a rare draw."""

    def __init__(self, model: Model, batch: int = 1, banned: int | None = None, threads: int = 1,
                 byte_values: np.ndarray | None = None, weights: str = "fp32"):
        cfg, p = model.config, model.params
        dtype = model.dtype
        H, V, L = cfg.hidden, cfg.vocab_size, cfg.layers
        self.model = model
        self.batch = batch
        self.parts = max(1, min(int(threads), H, V))
        self.banned = -1 if banned is None else int(banned)
        if byte_values is not None:
            self._byte_of_id = np.asarray(byte_values, np.int64)
            self._allowed, self._next_state = utf8_rules(self._byte_of_id)
        else:
            self._byte_of_id = np.zeros(V, np.int64)
            self._allowed, self._next_state = np.zeros((0, V), bool), np.zeros((0, 256), np.int64)
        if weights not in WEIGHT_FORMATS:
            raise ValueError(f"weights must be one of {WEIGHT_FORMATS}, not {weights!r}")
        self.weights = weights
        self.projected = projected(model)
        self._layout = Layout(CELL_CODES[cfg.cell], _bounds(H, self.parts), _bounds(V, self.parts),
                              dtype.type(cfg.zoneout_hidden), dtype.type(cfg.zoneout_cell))
        with np.errstate(over="ignore", invalid="ignore"):  # absurd weights overflow, as in the kernels
            table = p["embed"] @ p["layer0.wx"].T + p["layer0.bx"] if self.projected else None
        self._weights: list[Weights] = []
        for q in range(self.parts):
            cols = self._columns(q)
            v0, v1 = self._layout.vocab_cols[q], self._layout.vocab_cols[q + 1]
            wx = [stored(p[f"layer{layer}.wx"][cols].T, weights) for layer in range(L)]
            if self.projected:
                wx[0] = stored(np.zeros((0, cols.size), dtype), weights)
            wh = [stored(p[f"layer{layer}.wh"][cols].T, weights) for layer in range(L)]
            head = stored(p["head.w"][v0:v1].T, weights)
            self._weights.append(Weights(
                embed=p["embed"].copy(),
                table=np.ascontiguousarray(table[:, cols] if self.projected else np.zeros((0, cols.size)), dtype),
                wxts=tuple(w for w, _ in wx), whts=tuple(w for w, _ in wh),
                bxs=tuple(p[f"layer{layer}.bx"][cols].copy() for layer in range(L)),
                bhs=tuple(p[f"layer{layer}.bh"][cols].copy() for layer in range(L)),
                head_wt=head[0], head_b=p["head.b"][v0:v1].copy(),
                wx_scales=tuple(s for _, s in wx), wh_scales=tuple(s for _, s in wh), head_scale=head[1]))
        self.restart(batch)
        self._pool: ThreadPoolExecutor | None = None

    def _columns(self, q: int) -> np.ndarray:
        """The gate columns of part q: its slice of the units, in every gate."""
        cfg = self.model.config
        u0, u1 = self._layout.units[q], self._layout.units[q + 1]
        return np.concatenate([np.arange(g * cfg.hidden + u0, g * cfg.hidden + u1) for g in range(cfg.gates)])

    def restart(self, batch: int) -> None:
        """Begin `batch` new streams from the zero state, on the same weights (feed() them
        next): samples after the first run without copying the weights again."""
        cfg, dtype = self.model.config, self.model.dtype
        L, H, V = cfg.layers, cfg.hidden, cfg.vocab_size
        self.batch = batch
        self.logits = np.zeros((batch, V), dtype)
        self._shared = Shared(flags=np.zeros(self.parts * FLAG_STRIDE, np.int64), logits=self.logits,
                              order=np.zeros(V, np.int64), ids=np.zeros(batch, np.int64),
                              hfull=np.zeros((2, L, batch, H), dtype), parity=np.zeros(1, np.int64),
                              utf8_state=np.zeros(batch, np.int64))
        sums = self.weights == "int8"
        self._parts: list[tuple[Scratch, Weights]] = []
        for q, part in enumerate(self._weights):
            units = self._layout.units[q + 1] - self._layout.units[q]
            cols = self._columns(q).size
            own_vocab = self._layout.vocab_cols[q + 1] - self._layout.vocab_cols[q]
            own = Scratch(h_own=np.zeros((L, batch, units), dtype), c_own=np.zeros((L, batch, units), dtype),
                          own_ids=np.zeros(batch, np.int64), inp=np.zeros((batch, cfg.embed), dtype),
                          gx=np.zeros((batch, cols), dtype), gh=np.zeros((batch, cols), dtype),
                          own_logits=np.zeros((batch, own_vocab), dtype),
                          sums=np.zeros((batch, cols) if sums else (0, 0), dtype),
                          logit_sums=np.zeros((batch, own_vocab) if sums else (0, 0), dtype))
            self._parts.append((own, part))
        self.fed = False

    @property
    def state(self) -> np.ndarray:
        """The recurrent state (L, S, B, H), as Model.zero_state lays it out (a copy)."""
        state = self.model.zero_state(self.batch)
        state[:, 0] = self._shared.hfull[self._shared.parity[0]]
        if state.shape[1] > 1:  # the LSTM's cell state, which each part keeps for its units
            for q, (own, _) in enumerate(self._parts):
                state[:, 1, :, self._layout.units[q]:self._layout.units[q + 1]] = own.c_own
        return state

    @property
    def mid_character(self) -> np.ndarray:
        """(B,) bool: for a byte model, the streams whose last byte left a character unfinished."""
        return self._shared.utf8_state != 0

    def _run(self, draws: Draws, rules: Rules) -> None:
        self._shared.flags[:] = 0
        jobs = [(q, self._layout, rules, self._shared, draws, own, weights)
                for q, (own, weights) in enumerate(self._parts)]
        if self.parts == 1:
            run_part(*jobs[0])
            return
        if self._pool is None:
            self._pool = ThreadPoolExecutor(max_workers=self.parts - 1, thread_name_prefix="charrnn-sample")
        futures = [self._pool.submit(run_part, *job) for job in jobs[1:]]
        run_part(*jobs[0])
        for future in futures:
            future.result()

    def _rules(self, inv_temperature, top_k: int = 0, top_p: float = 1.0) -> Rules:
        return Rules(self.logits.dtype.type(inv_temperature), int(top_k), float(top_p), self.banned, self._allowed,
                     self._next_state, self._byte_of_id)

    def feed(self, ids: Sequence[int]) -> None:
        """Run the prime through the model (every stream gets the same characters). A byte
        model's prime is taken as given; its UTF-8 state follows it (a byte that is not UTF-8,
        or a character the vocabulary cannot finish, ends where the prime does)."""
        ids = np.asarray(ids, np.int64).reshape(-1)
        no_draws = Draws(ids, np.zeros((0, self.batch), np.int64), np.zeros((0, self.batch)))
        self._run(no_draws, self._rules(1.0))
        if self._allowed.shape[0]:
            state = self._shared.utf8_state
            for byte in self._byte_of_id[ids]:
                after = self._next_state[state, byte] if byte >= 0 else np.zeros_like(state)
                state[:] = np.where(after >= 0, after, 0)  # a prime's invalid byte ends its character
            # so does a character the prime begins that the vocabulary's bytes cannot finish
            state[~self._allowed[state].any(axis=1)] = 0
        self.fed = self.fed or ids.size > 0

    def generate(self, length: int, rng: np.random.Generator | Sequence[np.random.Generator],
                 temperature: float = 1.0, top_k: int = 0, top_p: float = 1.0, chunk: int = 16) -> Iterator[np.ndarray]:
        """Yield chunks of generated ids, (k, batch) each, `length` per stream in all.
        feed() must have run first: generation continues from the last fed character.
        `rng` is one generator for all streams, or one per stream (a stream's text then does
        not depend on how many streams run beside it). The options are checked by the caller
        (generate/options.py: LanguageModel.generate, RunOptions)."""
        if not self.fed:
            raise ValueError("feed() the sampler at least one character before generating")
        # in the model's dtype, so that float32 probabilities take the vectorised exponential
        # (MAX_TEMPERATURE keeps 1/T far from underflowing to 0, which would mean argmax)
        rules = self._rules(0.0 if temperature == 0 else 1.0 / temperature, top_k, top_p)
        no_feed = np.zeros(0, np.int64)
        done = 0
        while done < length:
            n = min(chunk, length - done)
            if isinstance(rng, np.random.Generator):
                uniforms = rng.random((n, self.batch))
            else:
                uniforms = np.stack([stream_rng.random(n) for stream_rng in rng], axis=1)
            out = np.zeros((n, self.batch), np.int64)
            self._run(Draws(no_feed, out, uniforms), rules)
            done += n
            yield out
