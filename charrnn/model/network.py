"""The model: embedding -> L stacked cells (inverted dropout after each) -> linear head.

In training, regularisers add noise (Noise): dropout of each layer's output, fresh at every
step; locked ("variational") dropout, one mask per stream for the whole window, of the
embedding's output and of each layer's output; weight drop (DropConnect), one mask per
window over each layer's recurrent weights; and zoneout, a mask per step of the units whose
state (h, and the LSTM's c) keeps its previous value. None of them is drawn to score or to
generate; zoneout is then its expectation, each unit keeping that fraction of its state.

Parameters live in one flat buffer with named views (so clipping, the optimiser step and
saving are one pass each); gradients in a second buffer with the same views. The recurrent
state of a batch is one array (L, S, B, H), S = 1 (h) or 2 (h, c for the LSTM).

With threads > 1 a window is cut into shards of the batch: streams never interact, so each
thread runs the whole forward and backward of its shard (kernels release the GIL and are
single-threaded) and the shards' gradients are summed once. Per-step products are too small
to split well between threads; whole shards keep both cores busy without a barrier per time
step.

The cells differ only in the arrays their kernels take: CELLS says, per cell, how a layer's
forward and backward call them.

Precision: in "fp32" every product multiplies float32; in "bf16" the products take their
inputs rounded to bf16 and sum in float32 (kernels/gemm_bf16.py: AMX tiles, or AVX512-BF16),
which the kernels do when handed a uint16 scratch. Everything else (weights, gradients, the
optimiser, gates, softmax and loss) stays float32 either way.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np

from ..errors import CheckpointError, ConfigError
from ..kernels import cpu
from ..kernels.embedding import embedding_backward, embedding_forward
from ..kernels.gemm import packed_size, scratch_size
from ..kernels.gemm_bf16 import aligned_zeros, available_paths, set_path
from ..kernels.gru import gru_backward, gru_forward
from ..kernels.head import head_backward, head_forward_backward, head_log_softmax, head_loss
from ..kernels.lstm import lstm_backward, lstm_forward
from ..kernels.projection import input_backward, input_forward, table_backward, table_forward, table_gather
from ..kernels.rnn import rnn_backward, rnn_forward
from .config import PRECISIONS, ModelConfig
from .noise import NO_NOISE, Noise


@dataclass(frozen=True)
class Cell:
    """How a layer of one cell runs: forward(ws, layer, wh, bx, bh, state, keep) runs the
    window from the layer's pre-activations and state (S, B, H), leaving the final state in
    it; backward(ws, layer, grads, dstate, dtop, wh, keep) writes the layer's gradients (wh,
    bx, bh), the initial state's (S, B, H) and the pre-activations' (ws.dacts). `keep` is
    the zoneout of h (and c) as the kernels take it, (T, B, H) each, or () without zoneout.
    `kernel` is the
    forward kernel, whose compiled state says whether the cell's kernels are cached;
    `arrays` the workspace arrays only this cell needs (cell states cs, the GRU's candidate
    part hn and its gradient dgh)."""

    forward: Callable
    backward: Callable
    kernel: Callable
    arrays: tuple[str, ...]


def _lstm_forward(ws, layer, wh, bx, bh, state, keep):
    lstm_forward(ws.hs[layer], ws.cs[layer], ws.acts[layer], ws.gh, ws.scratch, wh, bx, bh, state[0], state[1],
                 *keep)
    state[1] = ws.cs[layer][-1]


def _lstm_backward(ws, layer, grads, dstate, dtop, wh, keep):
    lstm_backward(*grads, dstate[0], dstate[1], ws.dacts, ws.scratch, dtop, ws.zero_state[0], ws.zero_state[1], wh,
                  ws.hs[layer], ws.cs[layer], ws.acts[layer], *keep)


def _gru_forward(ws, layer, wh, bx, bh, state, keep):
    gru_forward(ws.hs[layer], ws.acts[layer], ws.hn[layer], ws.gh, ws.scratch, wh, bx, bh, state[0], *keep)


def _gru_backward(ws, layer, grads, dstate, dtop, wh, keep):
    gru_backward(*grads, dstate[0], ws.dacts, ws.dgh, ws.dhz, ws.scratch, dtop, ws.zero_state[0], wh,
                 ws.hs[layer], ws.acts[layer], ws.hn[layer], *keep)


def _rnn_forward(ws, layer, wh, bx, bh, state, keep):
    rnn_forward(ws.hs[layer], ws.acts[layer], ws.gh, ws.scratch, wh, bx, bh, state[0])


def _rnn_backward(ws, layer, grads, dstate, dtop, wh, keep):
    rnn_backward(*grads, dstate[0], ws.dacts, ws.scratch, dtop, ws.zero_state[0], wh, ws.hs[layer])


CELLS = {
    "lstm": Cell(_lstm_forward, _lstm_backward, lstm_forward, ("cs",)),
    "gru": Cell(_gru_forward, _gru_backward, gru_forward, ("hn", "dgh")),
    "rnn": Cell(_rnn_forward, _rnn_backward, rnn_forward, ()),
}


def checked_tensor(tensors: dict[str, np.ndarray], name: str, shape: tuple) -> np.ndarray:
    """tensors[name], which must have `shape`; CheckpointError otherwise."""
    arr = tensors.get(name)
    if arr is None or arr.shape != tuple(shape):
        found = "missing" if arr is None else f"shape {arr.shape}"
        raise CheckpointError(f"checkpoint tensor {name} is {found}, expected shape {tuple(shape)}")
    return arr


def views(flat: np.ndarray, shapes: dict[str, tuple[int, ...]]) -> dict[str, np.ndarray]:
    """Named views (name -> shape, in order) of a flat buffer."""
    named, offset = {}, 0
    for name, shape in shapes.items():
        size = math.prod(shape)
        named[name] = flat[offset:offset + size].reshape(shape)
        offset += size
    return named


def _scratch_elements(cfg: ModelConfig, T: int, B: int, dtype) -> int:
    """The most scratch any product of a window (T, B) needs (see kernels/gemm.py)."""
    V, E, H, GH, N = cfg.vocab_size, cfg.embed, cfg.hidden, cfg.gates * cfg.hidden, T * B
    products = [(N, V, H), (N, H, V), (V, H, N), (GH, H, N), (V, E, GH), (GH, E, V)]
    for n_in in {E, H}:
        products += [(N, GH, n_in), (GH, n_in, N), (N, n_in, GH)]
    return max([scratch_size(*mnk, dtype) for mnk in products]
               + [packed_size(B, GH, H, dtype), packed_size(B, H, GH, dtype)])




def choose_kernel(precision: str) -> str:
    """The products' kernel for a precision: "fp32"; for "bf16" the fastest bf16 path this
    process can run at its level ($CHARRNN_ISA, kernels/cpu.py): "amx", else "avx512bf16"
    (ConfigError with neither); for "auto",
    AMX where the CPU has it and Linux grants it, else fp32 (AVX512-BF16 alone runs at half
    the rate of float32 FMAs on the Intel CPUs measured, so it is never chosen for you)."""
    if precision not in PRECISIONS:
        raise ConfigError(f"precision must be one of {', '.join(PRECISIONS)}, not {precision!r}",
                          options=("precision",))
    paths = available_paths()
    if precision == "bf16":
        if not paths:
            lowered = cpu.level() not in ("amx", "avx512bf16") and cpu.bf16_path(cpu.host_features(), True)
            why = f"{cpu.ISA_VARIABLE}={cpu.level()} leaves them out" if lowered else "this one has neither"
            raise ConfigError(f"precision bf16 needs a CPU with AVX512-BF16 or AMX; {why}", options=("precision",))
        return paths[0]
    return "amx" if precision == "auto" and "amx" in paths else "fp32"


def scratch_dtype(kernel: str, dtype) -> np.dtype:
    """The products' scratch for a kernel: bf16 bits (uint16) for the bf16 kernels."""
    return np.dtype(np.uint16) if kernel in ("amx", "avx512bf16") else np.dtype(dtype)


def workspace_shapes(cfg: ModelConfig, T: int, B: int, dtype=np.float32, kernel: str = "fp32"
                     ) -> dict[str, list[tuple[int, ...]]]:
    """The arrays a window of shape (T, B) keeps, by name: a list of shapes each (one per layer
    for the per-layer ones, none when the cell or the settings do not need them)."""
    H, G, L, E, V = cfg.hidden, cfg.gates, cfg.layers, cfg.embed, cfg.vocab_size
    own = CELLS[cfg.cell].arrays
    per_layer = lambda *shape: [shape] * L  # noqa: E731
    return dict(
        emb=[(T, B, E)],
        hs=per_layer(T + 1, B, H),
        cs=per_layer(T + 1, B, H) if "cs" in own else [],
        hn=per_layer(T, B, H) if "hn" in own else [],
        acts=per_layer(T, B, G * H),
        dropped=per_layer(T, B, H) if cfg.dropout > 0 or cfg.locked_dropout > 0 else [],
        gh=[(B, G * H)],
        scratch=[(_scratch_elements(cfg, T, B, scratch_dtype(kernel, dtype)),)],
        logits=[(T * B, V)],
        dlogits=[(T * B, V)],
        dacts=[(T, B, G * H)],
        dgh=[(T, B, G * H)] if "dgh" in own else [],
        dtop=[(T, B, H)],
        dinput=[(T, B, E if layer == 0 else H) for layer in range(L)],
        dtable=[(V, G * H)],
        zero_state=[(cfg.n_states, B, H)],
        dhz=[(B, H)],
        keep_mean=[(T, B, H)] * cfg.n_states if cfg.zoneout else [],
    )


class _Workspace:
    """Activations and scratch for one window shape (T, B); reused from step to step. With a
    bf16 kernel, the scratch holds bf16 bits and says which path the products take, and the
    step products' outputs start on cache lines (AMX then stores its tiles in place)."""

    _SINGLE = ("emb", "gh", "scratch", "logits", "dlogits", "dacts", "dgh", "dtop", "dtable", "zero_state", "dhz")

    def __init__(self, cfg: ModelConfig, T: int, B: int, dtype, kernel: str = "fp32"):
        for name, shapes in workspace_shapes(cfg, T, B, dtype, kernel).items():
            kind = scratch_dtype(kernel, dtype) if name == "scratch" else dtype
            arrays = [aligned_zeros(shape, kind) for shape in shapes]
            setattr(self, name, (arrays[0] if arrays else None) if name in self._SINGLE else (arrays or None))
        if kernel != "fp32":
            set_path(self.scratch, kernel)
        if self.keep_mean:  # zoneout's expectation, what scoring runs: the rates of h (and c)
            for keep, rate in zip(self.keep_mean, (cfg.zoneout_hidden, cfg.zoneout_cell)):
                keep.fill(rate)
        self.inputs: list[np.ndarray] = []

    def keep(self, noise: "Noise", layer: int) -> tuple[np.ndarray, ...]:
        """The zoneout a layer runs with, as the cell kernels take it: the window's masks in
        training, the expectation otherwise, nothing without zoneout."""
        if noise.zoneout is not None:
            return noise.zoneout[layer]
        return tuple(self.keep_mean) if self.keep_mean else ()


def workspace_bytes(config: ModelConfig, T: int, B: int, dtype=np.float32, kernel: str = "fp32") -> int:
    """Bytes of the activations and scratch that a window of shape (T, B) keeps (computed,
    not allocated)."""
    return sum(math.prod(shape) * (scratch_dtype(kernel, dtype) if name == "scratch" else np.dtype(dtype)).itemsize
               for name, shapes in workspace_shapes(config, T, B, dtype, kernel).items() for shape in shapes)


class Model:
    """A character-level language model of the shape `config`, in float32 or float64, whose
    windows run on up to `threads` threads with their products in `precision` (see
    choose_kernel; bf16 needs float32)."""

    def __init__(self, config: ModelConfig, dtype=np.float32, threads: int = 1, precision: str = "fp32"):
        self.config = config
        self.dtype = np.dtype(dtype)
        self.kernel = choose_kernel(precision)
        self.precision = "fp32" if self.kernel == "fp32" else "bf16"
        if self.precision == "bf16" and self.dtype != np.float32:
            raise ConfigError("precision bf16 computes in float32 between the products", options=("precision",))
        self.shapes = config.param_shapes()
        n = config.n_params()
        self.flat = np.zeros(n, self.dtype)
        self.grad_flat = np.zeros(n, self.dtype)
        self.params = views(self.flat, self.shapes)
        self.grads = views(self.grad_flat, self.shapes)
        self.threads = max(1, int(threads))
        self._workspaces: dict[tuple[int, int, int], _Workspace] = {}
        self._noise: dict[tuple[int, int], Noise] = {}
        self._shard_grads: dict[int, tuple[np.ndarray, dict[str, np.ndarray]]] = {}
        self._pool: ThreadPoolExecutor | None = None
        self._table: np.ndarray | None = None
        self._table_scratch: np.ndarray | None = None

    # ---- set-up -------------------------------------------------------------------------
    def init_weights(self, rng: np.random.Generator) -> None:
        """PyTorch's defaults: N(0, 1) embedding, U(+-1/sqrt(H)) for every cell weight and bias
        and for the head. (An LSTM forget-gate bias of 1, often recommended, made training on
        tinyshakespeare slower: 1.444 against 1.410 nats/char over steps 800-1000 of a 2x256
        LSTM, B32 T100, which PyTorch's initialisation reaches, 1.406.)"""
        bound = 1.0 / math.sqrt(self.config.hidden)
        for name, view in self.params.items():
            if name == "embed":
                view[...] = rng.standard_normal(view.shape)
            else:
                view[...] = rng.uniform(-bound, bound, view.shape)

    def load_params(self, tensors: dict[str, np.ndarray]) -> None:
        """Copy the `param/<name>` tensors of a checkpoint or a snapshot into the parameters."""
        for name, view in self.params.items():
            view[...] = checked_tensor(tensors, f"param/{name}", view.shape)

    def zero_state(self, batch: int) -> np.ndarray:
        """A zero recurrent state (L, S, B, H)."""
        cfg = self.config
        return np.zeros((cfg.layers, cfg.n_states, batch, cfg.hidden), self.dtype)

    def _workspace(self, T: int, B: int, shard: int = 0) -> _Workspace:
        key = (T, B, shard)
        ws = self._workspaces.get(key)
        if ws is None:
            ws = self._workspaces[key] = _Workspace(self.config, T, B, self.dtype, self.kernel)
        return ws

    def _shards(self, B: int) -> list[tuple[int, int]]:
        bounds = np.linspace(0, B, min(self.threads, B) + 1).round().astype(int)
        return list(zip(bounds[:-1].tolist(), bounds[1:].tolist()))

    def _run(self, jobs: list) -> list:
        """Run callables, the first on this thread and the rest on the pool; their results."""
        if len(jobs) == 1:
            return [jobs[0]()]
        if self._pool is None:
            self._pool = ThreadPoolExecutor(max_workers=self.threads - 1, thread_name_prefix="charrnn")
        futures = [self._pool.submit(job) for job in jobs[1:]]
        first = jobs[0]()
        return [first] + [f.result() for f in futures]

    def _draw_noise(self, T: int, B: int, rng: np.random.Generator | None) -> "Noise":
        """The window's regularisation masks (Noise), drawn for the whole batch in one order
        so the random stream does not depend on the thread count; no noise without `rng`."""
        cfg = self.config
        if rng is None:
            return NO_NOISE
        noise = self._noise.get((T, B))
        if noise is None:
            noise = self._noise[(T, B)] = Noise.allocate(cfg, T, B, self.dtype)
        noise.draw(cfg, rng, self.params)
        return noise

    # ---- forward --------------------------------------------------------------------------
    def _forward(self, ws: _Workspace, x: np.ndarray, state: np.ndarray, noise: "Noise",
                 table: np.ndarray | None) -> np.ndarray:
        """Run the embedding and the cells over x (T, B); return the head's input (T, B, H).

        Writes the final state into `state` (L, S, B, H). `noise` holds the training masks of
        this shard (NO_NOISE to score). `table` (V, G*H), when given, is layer 0's input
        projection per character (see _input_table).
        """
        cfg, p = self.config, self.params
        cell = CELLS[cfg.cell]
        T, B = x.shape
        inp = None
        if table is None:
            embedding_forward(ws.emb, x, p["embed"])
            if noise.embed is not None:
                ws.emb *= noise.embed
            inp = ws.emb
        ws.inputs = []
        for layer in range(cfg.layers):
            ws.inputs.append(inp)
            wx = p[f"layer{layer}.wx"]
            wh = noise.wh_dropped[layer] if noise.wh_dropped is not None else p[f"layer{layer}.wh"]
            bx, bh = p[f"layer{layer}.bx"], p[f"layer{layer}.bh"]
            hs, acts = ws.hs[layer], ws.acts[layer]
            if inp is None:
                table_gather(acts, x, table)
            else:
                input_forward(acts, inp, wx, ws.scratch)
            cell.forward(ws, layer, wh, bx, bh, state[layer], ws.keep(noise, layer))
            state[layer, 0] = hs[T]
            out = hs[1:]
            if noise.layers is not None:
                np.multiply(out, noise.layers[layer], out=ws.dropped[layer])
                out = ws.dropped[layer]
            inp = out
        return inp

    def _input_table(self, T: int, B: int, noise: "Noise") -> np.ndarray | None:
        """Layer 0's input projection per character, embed wx^T (V, G*H), when that is cheaper
        than projecting the window's T*B inputs (see kernels/projection.py) and no dropout
        falls between the embedding and wx; else None. Computed once per window, before the
        batch shards read it."""
        shard_B = -(-B // min(self.threads, B))
        if self.config.vocab_size > T * shard_B or noise.embed is not None:
            return None
        cfg = self.config
        if self._table is None:
            self._table = np.zeros((cfg.vocab_size, cfg.gates * cfg.hidden), self.dtype)
            kind = scratch_dtype(self.kernel, self.dtype)
            self._table_scratch = np.zeros(scratch_size(cfg.vocab_size, cfg.gates * cfg.hidden, cfg.embed, kind), kind)
            if self.kernel != "fp32":
                set_path(self._table_scratch, self.kernel)
        table_forward(self._table, self.params["embed"], self.params["layer0.wx"], self._table_scratch)
        return self._table

    def loss(self, x: np.ndarray, y: np.ndarray, state: np.ndarray) -> float:
        """Summed negative log-likelihood (nats) of targets y (T, B) given inputs x (T, B),
        without dropout; carries `state` (L, S, B, H) forward in place."""
        T, B = x.shape
        p = self.params
        table = self._input_table(T, B, NO_NOISE)

        def shard_loss(k, xs, ys, st):
            ws = self._workspace(T, xs.shape[1], k)
            top = self._forward(ws, xs, st, NO_NOISE, table)
            return head_loss(ws.logits, top.reshape(-1, top.shape[2]), p["head.w"], p["head.b"], ys.reshape(-1),
                             ws.scratch)

        return sum(self._over_shards(x, y, state, shard_loss))

    def log_probs(self, x: np.ndarray, state: np.ndarray) -> np.ndarray:
        """The log-probabilities (T, B, V) of the next symbol after each input of x (T, B),
        without dropout (as `loss` computes them); carries `state` (L, S, B, H) forward in place."""
        T, B = x.shape
        p = self.params
        table = self._input_table(T, B, NO_NOISE)
        out = np.empty((T, B, self.config.vocab_size), self.dtype)

        def shard_log_probs(k, xs, _, st):
            ws = self._workspace(T, xs.shape[1], k)
            top = self._forward(ws, xs, st, NO_NOISE, table)
            head_log_softmax(ws.logits, top.reshape(-1, top.shape[2]), p["head.w"], p["head.b"], ws.scratch)
            return ws.logits.reshape(T, xs.shape[1], -1)

        shards = self._shards(B)
        for (b0, b1), part in zip(shards, self._over_shards(x, x, state, shard_log_probs)):
            out[:, b0:b1] = part
        return out

    def _over_shards(self, x, y, state, fn, *per_shard) -> list:
        """Apply fn(k, x, y, state, *extra) to each batch shard (contiguous copies when there
        are several), write the shards' final states back, and return fn's results."""
        shards = self._shards(x.shape[1])
        if len(shards) == 1:
            return [fn(0, x, y, state, *(extra[0] for extra in per_shard))]
        states = [np.ascontiguousarray(state[:, :, b0:b1]) for b0, b1 in shards]
        jobs = [(lambda k=k, b0=b0, b1=b1: fn(k, np.ascontiguousarray(x[:, b0:b1]), np.ascontiguousarray(y[:, b0:b1]),
                                               states[k], *(extra[k] for extra in per_shard)))
                for k, (b0, b1) in enumerate(shards)]
        results = self._run(jobs)
        for (b0, b1), st in zip(shards, states):
            state[:, :, b0:b1] = st
        return results

    # ---- forward and backward -------------------------------------------------------------
    def loss_and_grad(self, x: np.ndarray, y: np.ndarray, state: np.ndarray,
                      dropout_rng: np.random.Generator | None = None,
                      dstate: np.ndarray | None = None) -> float:
        """Mean cross-entropy (nats/char) over the window x, y (T, B); writes every gradient
        into `grads` and the final state into `state` (L, S, B, H). No gradient flows from
        the final state (truncated BPTT). If `dstate` (L, S, B, H) is given, the gradient
        with respect to the initial state is written there.
        """
        T, B = x.shape
        weight = 1.0 / (T * B)
        noise = self._draw_noise(T, B, dropout_rng)
        shards = self._shards(B)
        shard_noise = [noise.shard(b0, b1) if len(shards) > 1 else noise for b0, b1 in shards]
        shard_dstates = [aligned_zeros(state[:, :, b0:b1].shape, self.dtype) for b0, b1 in shards]
        grads = [self.grads] + [self._extra_grads(k)[1] for k in range(1, len(shards))]
        table = self._input_table(T, B, noise)

        def shard_grad(k, xs, ys, st, ns, ds, gs):
            return self._shard_loss_and_grad(self._workspace(T, xs.shape[1], k), xs, ys, st, ns, gs, ds, weight,
                                             table)

        totals = self._over_shards(x, y, state, shard_grad, shard_noise, shard_dstates, grads)
        for k in range(1, len(shards)):
            self.grad_flat += self._extra_grads(k)[0]
        if noise.wh is not None:  # the gradient of wh through the dropped weights wh * mask
            for layer, mask in enumerate(noise.wh):
                self.grads[f"layer{layer}.wh"] *= mask
        if dstate is not None:
            for (b0, b1), ds in zip(shards, shard_dstates):
                dstate[:, :, b0:b1] = ds
        return sum(totals) * weight

    def _extra_grads(self, shard: int) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        """Gradient buffer (flat, views) of shard > 0; shard 0 writes into `grads`."""
        if shard not in self._shard_grads:
            flat = np.zeros_like(self.grad_flat)
            self._shard_grads[shard] = (flat, views(flat, self.shapes))
        return self._shard_grads[shard]

    def _shard_loss_and_grad(self, ws: _Workspace, x, y, state, noise, g, dstate, weight, table) -> float:
        """Summed NLL of one shard; writes its gradients (scaled by `weight`) into the views
        `g` and the initial-state gradient into dstate. A weight-dropped wh's gradient is that
        of the dropped weights (loss_and_grad applies the mask)."""
        cfg, p = self.config, self.params
        T, B = x.shape
        N = T * B
        top = self._forward(ws, x, state, noise, table)
        total = head_forward_backward(ws.dlogits, ws.logits, top.reshape(N, -1), p["head.w"], p["head.b"],
                                      y.reshape(N), weight, ws.scratch)
        head_backward(ws.dtop.reshape(N, -1), g["head.w"], g["head.b"], ws.dlogits, top.reshape(N, -1), p["head.w"],
                      ws.scratch)
        dtop = ws.dtop
        for layer in range(cfg.layers - 1, -1, -1):
            if noise.layers is not None:
                dtop *= noise.layers[layer]
            wh = noise.wh_dropped[layer] if noise.wh_dropped is not None else p[f"layer{layer}.wh"]
            grads = (g[f"layer{layer}.wh"], g[f"layer{layer}.bx"], g[f"layer{layer}.bh"])
            CELLS[cfg.cell].backward(ws, layer, grads, dstate[layer], dtop, wh, ws.keep(noise, layer))
            inp, wx, dwx = ws.inputs[layer], p[f"layer{layer}.wx"], g[f"layer{layer}.wx"]
            if inp is None:
                table_backward(g["embed"], dwx, ws.dtable, ws.dacts, x, p["embed"], wx, ws.scratch)
            else:
                input_backward(ws.dinput[layer], dwx, ws.dacts, inp, wx, ws.scratch)
                dtop = ws.dinput[layer]
        if table is None:
            if noise.embed is not None:
                dtop *= noise.embed
            embedding_backward(g["embed"], dtop, x)
        return total

    # ---- one step ---------------------------------------------------------------------------
    def step(self, ids: np.ndarray, state: np.ndarray, logits: np.ndarray) -> None:
        """Advance `state` (L, S, B, H) by one character per stream, ids (B,), and write the
        next-character logits (B, V): the window forward with T = 1 (generation itself runs in
        kernels/sampling.py; this is the reference it is tested against)."""
        p = self.params
        B = ids.shape[0]
        top = self._forward(self._workspace(1, B), ids.reshape(1, B), state, NO_NOISE, None)
        np.dot(top[0], p["head.w"].T, out=logits)
        logits += p["head.b"]
