"""The model: embedding -> L stacked cells (inverted dropout after each) -> linear head.

Parameters live in one flat buffer with named views (so clipping, the optimiser step and
saving are one pass each); gradients in a second buffer with the same views. The recurrent
state of a batch is one array (L, S, B, H), S = 1 (h) or 2 (h, c for the LSTM).

With threads > 1 a window is cut into shards of the batch: streams never interact, so each
thread runs the whole forward and backward of its shard (kernels release the GIL, BLAS runs
single-threaded inside each) and the shards' gradients are summed once. Per-step GEMMs are
too small to split well inside BLAS; whole shards keep both cores busy without a barrier
per time step.
"""

from __future__ import annotations

import math
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from .config import ModelConfig
from .kernels.embedding import embedding_backward, embedding_forward
from .kernels.gru import gru_backward, gru_forward, gru_step
from .kernels.head import head_backward, head_forward_backward, head_loss
from .kernels.lstm import lstm_backward, lstm_forward, lstm_step
from .kernels.rnn import rnn_backward, rnn_forward, rnn_step


def _views(flat: np.ndarray, shapes: dict[str, tuple[int, ...]]) -> dict[str, np.ndarray]:
    views, offset = {}, 0
    for name, shape in shapes.items():
        size = math.prod(shape)
        views[name] = flat[offset:offset + size].reshape(shape)
        offset += size
    return views


class _Workspace:
    """Activations and scratch for one window shape (T, B); reused from step to step."""

    def __init__(self, cfg: ModelConfig, T: int, B: int, dtype):
        H, G, L = cfg.hidden, cfg.gates, cfg.layers
        z = lambda *shape: np.zeros(shape, dtype)  # noqa: E731
        self.emb = z(T, B, cfg.embed)
        self.hs = [z(T + 1, B, H) for _ in range(L)]
        self.cs = [z(T + 1, B, H) for _ in range(L)] if cfg.cell == "lstm" else None
        self.hn = [z(T, B, H) for _ in range(L)] if cfg.cell == "gru" else None
        self.acts = [z(T, B, G * H) for _ in range(L)]
        self.dropped = [z(T, B, H) for _ in range(L)] if cfg.dropout > 0 else None
        self.gh = z(B, G * H)
        self.ght = z(G * H, B)
        self.ht = z(H, B)
        self.wht = z(H, G * H)
        self.dat = z(G * H, B)
        self.dht = z(H, B)
        self.logits = z(T * B, cfg.vocab_size)
        self.dlogits = z(T * B, cfg.vocab_size)
        self.dacts = z(T, B, G * H)
        self.dgh = z(T, B, G * H) if cfg.cell == "gru" else None
        self.dtop = z(T, B, H)
        self.dinput = [z(T, B, cfg.embed if layer == 0 else H) for layer in range(L)]
        self.zero_state = z(cfg.n_states, B, H)
        self.dhz = z(B, H)
        self.inputs: list[np.ndarray] = []
        self.masks: list[np.ndarray] | None = None


def workspace_bytes(config: ModelConfig, T: int, B: int, dtype=np.float32) -> int:
    """Bytes of the activations and scratch that a window of shape (T, B) keeps. Counted on
    a real workspace: np.zeros leaves large arrays' pages untouched, so this costs no memory."""
    ws = _Workspace(config, T, B, dtype)
    arrays = [a for value in vars(ws).values() for a in (value if isinstance(value, list) else [value])]
    return sum(a.nbytes for a in arrays if isinstance(a, np.ndarray))


class Model:
    """A character-level language model of the shape `config`, in float32 or float64, whose
    windows run on up to `threads` threads."""

    def __init__(self, config: ModelConfig, dtype=np.float32, threads: int = 1):
        self.config = config
        self.dtype = np.dtype(dtype)
        self.shapes = config.param_shapes()
        n = config.n_params()
        self.flat = np.zeros(n, self.dtype)
        self.grad_flat = np.zeros(n, self.dtype)
        self.params = _views(self.flat, self.shapes)
        self.grads = _views(self.grad_flat, self.shapes)
        self.threads = max(1, int(threads))
        self._workspaces: dict[tuple[int, int, int], _Workspace] = {}
        self._masks: dict[tuple[int, int], list[np.ndarray]] = {}
        self._shard_grads: dict[int, tuple[np.ndarray, dict[str, np.ndarray]]] = {}
        self._pool: ThreadPoolExecutor | None = None

    # ---- set-up -------------------------------------------------------------------------
    def init_weights(self, rng: np.random.Generator) -> None:
        """PyTorch's defaults (N(0, 1) embedding, U(+-1/sqrt(H)) cells, U(+-1/sqrt(H)) head),
        with the LSTM forget-gate bias set to 1 so early gradients flow through the cell."""
        cfg = self.config
        bound = 1.0 / math.sqrt(cfg.hidden)
        for name, view in self.params.items():
            if name == "embed":
                view[...] = rng.standard_normal(view.shape)
            else:
                view[...] = rng.uniform(-bound, bound, view.shape)
        if cfg.cell == "lstm":
            H = cfg.hidden
            for layer in range(cfg.layers):
                self.params[f"layer{layer}.bx"][H:2 * H] = 1.0
                self.params[f"layer{layer}.bh"][H:2 * H] = 0.0

    def zero_state(self, batch: int) -> np.ndarray:
        """A zero recurrent state (L, S, B, H)."""
        cfg = self.config
        return np.zeros((cfg.layers, cfg.n_states, batch, cfg.hidden), self.dtype)

    def _workspace(self, T: int, B: int, shard: int = 0) -> _Workspace:
        key = (T, B, shard)
        ws = self._workspaces.get(key)
        if ws is None:
            ws = self._workspaces[key] = _Workspace(self.config, T, B, self.dtype)
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

    def _draw_masks(self, T: int, B: int, rng: np.random.Generator | None) -> list[np.ndarray] | None:
        """Inverted-dropout masks (T, B, H) for every layer's output, drawn for the whole
        batch in one order so the random stream does not depend on the thread count."""
        cfg = self.config
        if rng is None or cfg.dropout == 0:
            return None
        masks = self._masks.get((T, B))
        if masks is None:
            masks = self._masks[(T, B)] = [np.zeros((T, B, cfg.hidden), self.dtype) for _ in range(cfg.layers)]
        for mask in masks:
            rng.random(mask.shape, dtype=self.dtype, out=mask)
            np.greater_equal(mask, cfg.dropout, out=mask)
            mask *= 1.0 / (1.0 - cfg.dropout)
        return masks

    # ---- forward --------------------------------------------------------------------------
    def _forward(self, ws: _Workspace, x: np.ndarray, state: np.ndarray,
                 masks: list[np.ndarray] | None) -> np.ndarray:
        """Run the embedding and the cells over x (T, B); return the head's input (T, B, H).

        Writes the final state into `state` (L, S, B, H). `masks` (T, B, H) per layer, when
        given, drop out each layer's output (training).
        """
        cfg, p = self.config, self.params
        T, B = x.shape
        embedding_forward(ws.emb, x, p["embed"])
        inp = ws.emb
        ws.masks = masks
        ws.inputs = []
        for layer in range(cfg.layers):
            ws.inputs.append(inp)
            wx, wh = p[f"layer{layer}.wx"], p[f"layer{layer}.wh"]
            bx, bh = p[f"layer{layer}.bx"], p[f"layer{layer}.bh"]
            hs, h0 = ws.hs[layer], state[layer, 0]
            if cfg.cell == "lstm":
                cs = ws.cs[layer]
                lstm_forward(hs, cs, ws.acts[layer], ws.gh, ws.ght, ws.ht, inp, wx, wh, bx, bh, h0, state[layer, 1])
                state[layer, 1] = cs[T]
            elif cfg.cell == "gru":
                gru_forward(hs, ws.acts[layer], ws.hn[layer], ws.gh, ws.ght, ws.ht, inp, wx, wh, bx, bh, h0)
            else:
                rnn_forward(hs, ws.acts[layer], ws.gh, ws.ght, ws.ht, inp, wx, wh, bx, bh, h0)
            state[layer, 0] = hs[T]
            out = hs[1:]
            if masks is not None:
                np.multiply(out, masks[layer], out=ws.dropped[layer])
                out = ws.dropped[layer]
            inp = out
        return inp

    def loss(self, x: np.ndarray, y: np.ndarray, state: np.ndarray) -> float:
        """Summed negative log-likelihood (nats) of targets y (T, B) given inputs x (T, B),
        without dropout; carries `state` (L, S, B, H) forward in place."""
        T, B = x.shape
        p = self.params

        def shard_loss(k, xs, ys, st):
            ws = self._workspace(T, xs.shape[1], k)
            top = self._forward(ws, xs, st, None)
            return head_loss(ws.logits, top.reshape(-1, top.shape[2]), p["head.w"], p["head.b"], ys.reshape(-1))

        return sum(self._over_shards(x, y, state, shard_loss))

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
        masks = self._draw_masks(T, B, dropout_rng)
        shards = self._shards(B)
        shard_masks = [None] * len(shards) if masks is None else \
            [[np.ascontiguousarray(m[:, b0:b1]) for m in masks] if len(shards) > 1 else masks for b0, b1 in shards]
        shard_dstates = [np.zeros_like(state[:, :, b0:b1]) for b0, b1 in shards]
        grads = [self.grads] + [self._extra_grads(k)[1] for k in range(1, len(shards))]

        def shard_grad(k, xs, ys, st, ms, ds, gs):
            return self._shard_loss_and_grad(self._workspace(T, xs.shape[1], k), xs, ys, st, ms, gs, ds, weight)

        totals = self._over_shards(x, y, state, shard_grad, shard_masks, shard_dstates, grads)
        for k in range(1, len(shards)):
            self.grad_flat += self._extra_grads(k)[0]
        if dstate is not None:
            for (b0, b1), ds in zip(shards, shard_dstates):
                dstate[:, :, b0:b1] = ds
        return sum(totals) * weight

    def _extra_grads(self, shard: int) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        """Gradient buffer (flat, views) of shard > 0; shard 0 writes into `grads`."""
        if shard not in self._shard_grads:
            flat = np.zeros_like(self.grad_flat)
            self._shard_grads[shard] = (flat, _views(flat, self.shapes))
        return self._shard_grads[shard]

    def _shard_loss_and_grad(self, ws: _Workspace, x, y, state, masks, g, dstate, weight) -> float:
        """Summed NLL of one shard; writes its gradients (scaled by `weight`) into the views
        `g` and the initial-state gradient into dstate."""
        cfg, p = self.config, self.params
        T, B = x.shape
        N = T * B
        top = self._forward(ws, x, state, masks)
        total = head_forward_backward(ws.dlogits, ws.logits, top.reshape(N, -1), p["head.w"], p["head.b"],
                                      y.reshape(N), weight)
        head_backward(ws.dtop.reshape(N, -1), g["head.w"], g["head.b"], ws.dlogits, top.reshape(N, -1), p["head.w"])
        dtop = ws.dtop
        zero = ws.zero_state
        for layer in range(cfg.layers - 1, -1, -1):
            if masks is not None:
                dtop *= masks[layer]
            inp = ws.inputs[layer]
            wx, wh = p[f"layer{layer}.wx"], p[f"layer{layer}.wh"]
            grads = (g[f"layer{layer}.wx"], g[f"layer{layer}.wh"], g[f"layer{layer}.bx"], g[f"layer{layer}.bh"])
            dx, ds = ws.dinput[layer], dstate[layer]
            if cfg.cell == "lstm":
                lstm_backward(dx, *grads, ds[0], ds[1], ws.dacts, ws.wht, ws.dat, ws.dht, dtop, zero[0], zero[1], inp, wx, wh,
                              ws.hs[layer], ws.cs[layer], ws.acts[layer])
            elif cfg.cell == "gru":
                gru_backward(dx, *grads, ds[0], ws.dacts, ws.dgh, ws.dhz, ws.wht, ws.dat, ws.dht, dtop, zero[0], inp, wx, wh,
                             ws.hs[layer], ws.acts[layer], ws.hn[layer])
            else:
                rnn_backward(dx, *grads, ds[0], ws.dacts, ws.wht, ws.dat, ws.dht, dtop, zero[0], inp, wx, wh, ws.hs[layer])
            dtop = dx
        embedding_backward(g["embed"], dtop, x)
        return total

    # ---- one step, for sampling -------------------------------------------------------------
    def step(self, ids: np.ndarray, state: np.ndarray, logits: np.ndarray) -> None:
        """Advance `state` (L, S, B, H) by one character per stream, ids (B,), and write the
        next-character logits (B, V)."""
        cfg, p = self.config, self.params
        B = ids.shape[0]
        ws = self._workspace(1, B)
        inp = p["embed"][ids]
        for layer in range(cfg.layers):
            wx, wh = p[f"layer{layer}.wx"], p[f"layer{layer}.wh"]
            bx, bh = p[f"layer{layer}.bx"], p[f"layer{layer}.bh"]
            h = state[layer, 0]
            if cfg.cell == "lstm":
                lstm_step(h, state[layer, 1], ws.acts[layer][0], ws.gh, inp, wx, wh, bx, bh)
            elif cfg.cell == "gru":
                gru_step(h, ws.acts[layer][0], ws.gh, inp, wx, wh, bx, bh)
            else:
                rnn_step(h, ws.acts[layer][0], ws.gh, inp, wx, wh, bx, bh)
            inp = h
        np.dot(inp, p["head.w"].T, out=logits)
        logits += p["head.b"]
