"""LSTM cell, PyTorch's formulation, gates stacked i, f, g, o:

    i, f, o = sigmoid(a_i), sigmoid(a_f), sigmoid(a_o);  g = tanh(a_g)
    a = x wx^T + bx + h_{t-1} wh^T + bh
    c_t = f * c_{t-1} + i * g;  h_t = o * tanh(c_t)
"""

import numpy as np

from .jit import kernel, sigmoid, tanh


@kernel
def lstm_forward(hs, cs, acts, gh, x, wx, wh, bx, bh, h0, c0):
    """Run T steps.

    Writes hs (T+1, B, H) and cs (T+1, B, H) with hs[0] = h0, cs[0] = c0 and hs[t+1] = h_t;
    acts (T, B, 4H), the gate activations i, f, g, o; gh (B, 4H) is scratch.
    Reads x (T, B, In), wx (4H, In), wh (4H, H), bx and bh (4H,), h0 and c0 (B, H).
    """
    T, B, n_in = x.shape
    H = h0.shape[1]
    pre = acts.reshape(T * B, 4 * H)
    np.dot(x.reshape(T * B, n_in), wx.T, pre)
    hs[0] = h0
    cs[0] = c0
    for t in range(T):
        np.dot(hs[t], wh.T, gh)
        a, c_prev, c_out, h_out = acts[t], cs[t], cs[t + 1], hs[t + 1]
        for b in range(B):
            for j in range(H):
                i = sigmoid(a[b, j] + gh[b, j] + bx[j] + bh[j])
                f = sigmoid(a[b, H + j] + gh[b, H + j] + bx[H + j] + bh[H + j])
                g = tanh(a[b, 2 * H + j] + gh[b, 2 * H + j] + bx[2 * H + j] + bh[2 * H + j])
                o = sigmoid(a[b, 3 * H + j] + gh[b, 3 * H + j] + bx[3 * H + j] + bh[3 * H + j])
                a[b, j] = i
                a[b, H + j] = f
                a[b, 2 * H + j] = g
                a[b, 3 * H + j] = o
                c = f * c_prev[b, j] + i * g
                c_out[b, j] = c
                h_out[b, j] = o * tanh(c)


@kernel
def lstm_backward(dx, dwx, dwh, dbx, dbh, dh0, dc0, dacts, dhs, dhT, dcT, x, wx, wh, hs, cs, acts):
    """Backpropagate through the T steps of lstm_forward.

    Writes dx (T, B, In), dwx (4H, In), dwh (4H, H), dbx and dbh (4H,), dh0 and dc0 (B, H);
    dacts (T, B, 4H) is scratch (gradients of the gate pre-activations).
    Reads dhs (T, B, H), the loss gradient with respect to each h_t; dhT and dcT (B, H), with
    respect to the final state; and x, wx, wh, hs, cs, acts as lstm_forward left them.
    """
    T, B, n_in = x.shape
    H = dh0.shape[1]
    dh0[:] = dhT
    dc0[:] = dcT
    for t in range(T - 1, -1, -1):
        a, da, c_prev, c_now, dh_out = acts[t], dacts[t], cs[t], cs[t + 1], dhs[t]
        for b in range(B):
            for j in range(H):
                i = a[b, j]
                f = a[b, H + j]
                g = a[b, 2 * H + j]
                o = a[b, 3 * H + j]
                tc = tanh(c_now[b, j])
                dh = dh0[b, j] + dh_out[b, j]
                dc = dc0[b, j] + dh * o * (1 - tc * tc)
                da[b, j] = dc * g * i * (1 - i)
                da[b, H + j] = dc * c_prev[b, j] * f * (1 - f)
                da[b, 2 * H + j] = dc * i * (1 - g * g)
                da[b, 3 * H + j] = dh * tc * o * (1 - o)
                dc0[b, j] = dc * f
        np.dot(da, wh, dh0)
    da_all = dacts.reshape(T * B, 4 * H)
    np.dot(da_all.T, hs[:T].reshape(T * B, H), dwh)
    np.dot(da_all.T, x.reshape(T * B, n_in), dwx)
    np.dot(da_all, wx, dx.reshape(T * B, n_in))
    dbx[:] = 0
    for r in range(T * B):
        for k in range(4 * H):
            dbx[k] += da_all[r, k]
    dbh[:] = dbx


@kernel
def lstm_step(h, c, gates, gh, x, wx, wh, bx, bh):
    """One step for sampling: update h and c (B, H) in place from x (B, In).

    gates and gh (B, 4H) are scratch.
    """
    B, H = h.shape
    np.dot(x, wx.T, gates)
    np.dot(h, wh.T, gh)
    for b in range(B):
        for j in range(H):
            i = sigmoid(gates[b, j] + gh[b, j] + bx[j] + bh[j])
            f = sigmoid(gates[b, H + j] + gh[b, H + j] + bx[H + j] + bh[H + j])
            g = tanh(gates[b, 2 * H + j] + gh[b, 2 * H + j] + bx[2 * H + j] + bh[2 * H + j])
            o = sigmoid(gates[b, 3 * H + j] + gh[b, 3 * H + j] + bx[3 * H + j] + bh[3 * H + j])
            cn = f * c[b, j] + i * g
            c[b, j] = cn
            h[b, j] = o * tanh(cn)
