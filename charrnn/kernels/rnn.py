"""Vanilla RNN cell, PyTorch's nn.RNN with tanh: h_t = tanh(x wx^T + bx + h_{t-1} wh^T + bh)."""

import numpy as np

from .jit import WEIGHT_LEFT_MIN, kernel, tanh, transpose_into


@kernel
def rnn_forward(hs, acts, gh, ght, ht, wh, bx, bh, h0):
    """Run T steps.

    acts (T, B, H) holds the input part of the pre-activations, x wx^T (see projection.py).
    Writes hs (T+1, B, H) with hs[0] = h0 and hs[t+1] = h_t; gh (B, H), ght and ht (H, B)
    are scratch (see lstm_forward). Reads wh (H, H), bx and bh (H,), h0 (B, H).
    """
    T, B = acts.shape[0], acts.shape[1]
    H = h0.shape[1]
    hs[0] = h0
    for t in range(T):
        if wh.size >= WEIGHT_LEFT_MIN:
            transpose_into(ht, hs[t])
            np.dot(wh, ht, ght)
            transpose_into(gh, ght)
        else:
            np.dot(hs[t], wh.T, gh)
        a, h_out = acts[t], hs[t + 1]
        for b in range(B):
            for j in range(H):
                h_out[b, j] = tanh(a[b, j] + gh[b, j] + bx[j] + bh[j])


@kernel
def rnn_backward(dwh, dbx, dbh, dh0, dacts, wht, dat, dht, dhs, dhT, wh, hs):
    """Backpropagate through the T steps of rnn_forward.

    Writes dwh (H, H), dbx and dbh (H,), dh0 (B, H), and dacts (T, B, H), the gradients of
    the pre-activations (projection.py takes the input's and wx's from them); wht (H, H), dat
    and dht (H, B) are scratch. Reads dhs (T, B, H), the loss gradient with respect to each
    h_t; dhT (B, H), with respect to the final state; wh and hs as rnn_forward left them.
    """
    T, B, H = dhs.shape
    dh0[:] = dhT
    weight_left = wh.size >= WEIGHT_LEFT_MIN
    if weight_left:
        transpose_into(wht, wh)
    for t in range(T - 1, -1, -1):
        da, h_now, dh_out = dacts[t], hs[t + 1], dhs[t]
        for b in range(B):
            for j in range(H):
                h = h_now[b, j]
                da[b, j] = (dh0[b, j] + dh_out[b, j]) * (1 - h * h)
        if weight_left:
            transpose_into(dat, da)
            np.dot(wht, dat, dht)
            transpose_into(dh0, dht)
        else:
            np.dot(da, wh, dh0)
    da_all = dacts.reshape(T * B, H)
    np.dot(da_all.T, hs[:T].reshape(T * B, H), dwh)
    dbx[:] = 0
    for r in range(T * B):
        for k in range(H):
            dbx[k] += da_all[r, k]
    dbh[:] = dbx


@kernel
def rnn_step(h, gx, gh):
    """One step for sampling: update h (B, H) in place from the pre-activation's input part
    gx (B, H) (x wx^T + bx) and recurrent part gh (B, H) (h wh^T + bh)."""
    B, H = h.shape
    for b in range(B):
        xa, ha, hb = gx[b], gh[b], h[b]
        for j in range(H):
            hb[j] = tanh(xa[j] + ha[j])
