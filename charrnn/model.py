"""The model: embedding -> L stacked cells (inverted dropout after each) -> linear head.

Parameters live in one flat buffer with named views (so clipping, the optimiser step and
saving are one pass each); gradients in a second buffer with the same views. The recurrent
state of a batch is one array (L, S, B, H), S = 1 (h) or 2 (h, c for the LSTM).
"""

from __future__ import annotations

import math

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
        self.masks = [z(T, B, H) for _ in range(L)] if cfg.dropout > 0 else None
        self.gh = z(B, G * H)
        self.logits = z(T * B, cfg.vocab_size)
        self.dlogits = z(T * B, cfg.vocab_size)
        self.dacts = z(T, B, G * H)
        self.dgh = z(T, B, G * H) if cfg.cell == "gru" else None
        self.dtop = z(T, B, H)
        self.dinput = [z(T, B, cfg.embed if layer == 0 else H) for layer in range(L)]
        self.dstate = z(L, cfg.n_states, B, H)
        self.zero_state = z(cfg.n_states, B, H)
        self.dhz = z(B, H)
        self.inputs: list[np.ndarray] = []
        self.dropout_applied = False


class Model:
    """A character-level language model of the shape `config`, in float32 or float64."""

    def __init__(self, config: ModelConfig, dtype=np.float32):
        self.config = config
        self.dtype = np.dtype(dtype)
        self.shapes = config.param_shapes()
        n = config.n_params()
        self.flat = np.zeros(n, self.dtype)
        self.grad_flat = np.zeros(n, self.dtype)
        self.params = _views(self.flat, self.shapes)
        self.grads = _views(self.grad_flat, self.shapes)
        self._workspaces: dict[tuple[int, int], _Workspace] = {}

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

    def _workspace(self, T: int, B: int) -> _Workspace:
        ws = self._workspaces.get((T, B))
        if ws is None:
            ws = self._workspaces[(T, B)] = _Workspace(self.config, T, B, self.dtype)
        return ws

    # ---- forward --------------------------------------------------------------------------
    def _forward(self, ws: _Workspace, x: np.ndarray, state: np.ndarray,
                 dropout_rng: np.random.Generator | None) -> np.ndarray:
        """Run the embedding and the cells over x (T, B); return the head's input (T, B, H).

        Writes the final state into `state` (L, S, B, H). Dropout is applied only when a
        generator is given (training).
        """
        cfg, p = self.config, self.params
        T, B = x.shape
        embedding_forward(ws.emb, x, p["embed"])
        inp = ws.emb
        keep = 1.0 - cfg.dropout
        ws.dropout_applied = dropout_rng is not None and cfg.dropout > 0
        ws.inputs = []
        for layer in range(cfg.layers):
            ws.inputs.append(inp)
            wx, wh = p[f"layer{layer}.wx"], p[f"layer{layer}.wh"]
            bx, bh = p[f"layer{layer}.bx"], p[f"layer{layer}.bh"]
            hs, h0 = ws.hs[layer], state[layer, 0]
            if cfg.cell == "lstm":
                cs = ws.cs[layer]
                lstm_forward(hs, cs, ws.acts[layer], ws.gh, inp, wx, wh, bx, bh, h0, state[layer, 1])
                state[layer, 1] = cs[T]
            elif cfg.cell == "gru":
                gru_forward(hs, ws.acts[layer], ws.hn[layer], ws.gh, inp, wx, wh, bx, bh, h0)
            else:
                rnn_forward(hs, ws.acts[layer], ws.gh, inp, wx, wh, bx, bh, h0)
            state[layer, 0] = hs[T]
            out = hs[1:]
            if ws.dropout_applied:
                mask = ws.masks[layer]
                dropout_rng.random(out.shape, dtype=self.dtype, out=mask)
                np.greater_equal(mask, cfg.dropout, out=mask)
                mask *= 1.0 / keep
                np.multiply(out, mask, out=ws.dropped[layer])
                out = ws.dropped[layer]
            inp = out
        return inp

    def loss(self, x: np.ndarray, y: np.ndarray, state: np.ndarray) -> float:
        """Summed negative log-likelihood (nats) of targets y (T, B) given inputs x (T, B),
        without dropout; carries `state` (L, S, B, H) forward in place."""
        T, B = x.shape
        ws = self._workspace(T, B)
        top = self._forward(ws, x, state, None)
        p = self.params
        return head_loss(ws.logits, top.reshape(T * B, -1), p["head.w"], p["head.b"], y.reshape(T * B))

    # ---- forward and backward -------------------------------------------------------------
    def loss_and_grad(self, x: np.ndarray, y: np.ndarray, state: np.ndarray,
                      dropout_rng: np.random.Generator | None = None,
                      dstate: np.ndarray | None = None) -> float:
        """Mean cross-entropy (nats/char) over the window x, y (T, B); writes every gradient
        into `grads` and the final state into `state` (L, S, B, H). No gradient flows from
        the final state (truncated BPTT). If `dstate` (L, S, B, H) is given, the gradient
        with respect to the initial state is written there.
        """
        cfg, p, g = self.config, self.params, self.grads
        T, B = x.shape
        N = T * B
        ws = self._workspace(T, B)
        top = self._forward(ws, x, state, dropout_rng)
        total = head_forward_backward(ws.dlogits, ws.logits, top.reshape(N, -1), p["head.w"], p["head.b"],
                                      y.reshape(N), 1.0 / N)
        head_backward(ws.dtop.reshape(N, -1), g["head.w"], g["head.b"], ws.dlogits, top.reshape(N, -1), p["head.w"])
        dtop = ws.dtop
        zero = ws.zero_state
        for layer in range(cfg.layers - 1, -1, -1):
            if ws.dropout_applied:
                dtop *= ws.masks[layer]
            inp = ws.inputs[layer]
            wx, wh = p[f"layer{layer}.wx"], p[f"layer{layer}.wh"]
            grads = (g[f"layer{layer}.wx"], g[f"layer{layer}.wh"], g[f"layer{layer}.bx"], g[f"layer{layer}.bh"])
            dx, ds = ws.dinput[layer], ws.dstate[layer]
            if cfg.cell == "lstm":
                lstm_backward(dx, *grads, ds[0], ds[1], ws.dacts, dtop, zero[0], zero[1], inp, wx, wh,
                              ws.hs[layer], ws.cs[layer], ws.acts[layer])
            elif cfg.cell == "gru":
                gru_backward(dx, *grads, ds[0], ws.dacts, ws.dgh, ws.dhz, dtop, zero[0], inp, wx, wh,
                             ws.hs[layer], ws.acts[layer], ws.hn[layer])
            else:
                rnn_backward(dx, *grads, ds[0], ws.dacts, dtop, zero[0], inp, wx, wh, ws.hs[layer])
            dtop = dx
        embedding_backward(g["embed"], dtop, x)
        if dstate is not None:
            dstate[...] = ws.dstate
        return total / N

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
