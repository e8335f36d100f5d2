"""Slow, obviously-correct NumPy references, written from PyTorch's documented equations,
one time step and one formula at a time. The fast kernels are compared against these."""

import numpy as np


def sigmoid(a):
    return 1.0 / (1.0 + np.exp(-a))


def rnn_forward(x, wx, wh, bx, bh, h0):
    """x (T, B, In) -> hs (T, B, H), final h."""
    h, out = h0.copy(), []
    for xt in x:
        h = np.tanh(xt @ wx.T + bx + h @ wh.T + bh)
        out.append(h)
    return np.stack(out), h


def lstm_forward(x, wx, wh, bx, bh, h0, c0):
    """x (T, B, In) -> hs (T, B, H), final h, final c. Gates i, f, g, o."""
    H = h0.shape[1]
    h, c, out = h0.copy(), c0.copy(), []
    for xt in x:
        a = xt @ wx.T + bx + h @ wh.T + bh
        i = sigmoid(a[:, 0:H])
        f = sigmoid(a[:, H:2 * H])
        g = np.tanh(a[:, 2 * H:3 * H])
        o = sigmoid(a[:, 3 * H:4 * H])
        c = f * c + i * g
        h = o * np.tanh(c)
        out.append(h)
    return np.stack(out), h, c


def gru_forward(x, wx, wh, bx, bh, h0):
    """x (T, B, In) -> hs (T, B, H), final h. Gates r, z, n; reset applied to (W_hn h + b_hn)."""
    H = h0.shape[1]
    h, out = h0.copy(), []
    for xt in x:
        gi = xt @ wx.T + bx
        gh = h @ wh.T + bh
        r = sigmoid(gi[:, 0:H] + gh[:, 0:H])
        z = sigmoid(gi[:, H:2 * H] + gh[:, H:2 * H])
        n = np.tanh(gi[:, 2 * H:] + r * gh[:, 2 * H:])
        h = (1 - z) * n + z * h
        out.append(h)
    return np.stack(out), h


def model_loss(params, cell, layers, x, y, state):
    """Summed cross-entropy (nats) of the whole model without dropout; state (L, S, B, H)."""
    inp = params["embed"][x]
    for layer in range(layers):
        args = [params[f"layer{layer}.{k}"] for k in ("wx", "wh", "bx", "bh")]
        if cell == "lstm":
            inp, _, _ = lstm_forward(inp, *args, state[layer, 0], state[layer, 1])
        elif cell == "gru":
            inp, _ = gru_forward(inp, *args, state[layer, 0])
        else:
            inp, _ = rnn_forward(inp, *args, state[layer, 0])
    logits = inp @ params["head.w"].T + params["head.b"]
    top = logits.max(axis=-1, keepdims=True)
    logp = logits - top - np.log(np.exp(logits - top).sum(axis=-1, keepdims=True))
    return -np.take_along_axis(logp, y[..., None], axis=-1).sum()
