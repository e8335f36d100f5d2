"""GRU cell, PyTorch's nn.GRU formulation, gates stacked r, z, n:

    r = sigmoid(x wx_r^T + bx_r + h wh_r^T + bh_r)
    z = sigmoid(x wx_z^T + bx_z + h wh_z^T + bh_z)
    n = tanh(x wx_n^T + bx_n + r * (h wh_n^T + bh_n))
    h_t = (1 - z) * n + z * h_{t-1}
"""

import numpy as np

from .jit import WEIGHT_LEFT_MIN, kernel, sigmoid, tanh, transpose_into


@kernel
def gru_forward(hs, acts, hn, gh, ght, ht, wh, bx, bh, h0):
    """Run T steps.

    acts (T, B, 3H) holds on entry the input part of the pre-activations, x wx^T (see
    projection.py), and on return the gate activations r, z, n. Writes hs (T+1, B, H) with
    hs[0] = h0 and hs[t+1] = h_t; hn (T, B, H), the recurrent part of n before the reset gate
    (h wh_n^T + bh_n). gh (B, 3H), ght (3H, B) and ht (H, B) are scratch (see lstm_forward).
    Reads wh (3H, H), bx and bh (3H,), h0 (B, H).
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
        for b in range(B):
            # One simple loop per gate: few pointers per loop, so LLVM vectorises each.
            a, g_rec, u = acts[t, b], gh[b], hn[t, b]
            for k in range(2 * H):
                a[k] = sigmoid(a[k] + bx[k] + g_rec[k] + bh[k])
            r, z, n = a[:H], a[H:2 * H], a[2 * H:]
            for j in range(H):
                u[j] = g_rec[2 * H + j] + bh[2 * H + j]
            for j in range(H):
                n[j] = tanh(n[j] + bx[2 * H + j] + r[j] * u[j])
            h_prev, h_out = hs[t, b], hs[t + 1, b]
            for j in range(H):
                h_out[j] = (1 - z[j]) * n[j] + z[j] * h_prev[j]


@kernel
def gru_backward(dwh, dbx, dbh, dh0, dacts, dgh, dhz, wht, dat, dht, dhs, dhT, wh, hs, acts, hn):
    """Backpropagate through the T steps of gru_forward.

    Writes dwh (3H, H), dbx and dbh (3H,), dh0 (B, H), and dacts (T, B, 3H), the gradients
    of the input part of the pre-activations (projection.py takes the input's and wx's from
    them). dgh (T, B, 3H) is scratch: the gradients of the recurrent part (they differ from
    dacts in the n block, where the reset gate sits); dhz (B, H), wht (H, 3H), dat (3H, B) and
    dht (H, B) are scratch too. Reads dhs (T, B, H), the loss gradient with respect to each
    h_t; dhT (B, H), with respect to the final state; wh, hs, acts, hn as gru_forward left them.
    """
    T, B, H = dhs.shape
    dh0[:] = dhT
    weight_left = wh.size >= WEIGHT_LEFT_MIN
    if weight_left:
        transpose_into(wht, wh)
    for t in range(T - 1, -1, -1):
        for b in range(B):
            a, da, drh = acts[t, b], dacts[t, b], dgh[t, b]
            r, z, n = a[:H], a[H:2 * H], a[2 * H:]
            da_r, da_z, da_n = da[:H], da[H:2 * H], da[2 * H:]
            drh_r, drh_z, drh_n = drh[:H], drh[H:2 * H], drh[2 * H:]
            dh, dh_out, h_prev, u, dh_direct = dh0[b], dhs[t, b], hs[t, b], hn[t, b], dhz[b]
            for j in range(H):
                dh[j] += dh_out[j]
            for j in range(H):
                dn = dh[j] * (1 - z[j]) * (1 - n[j] * n[j])
                da_n[j] = dn
                drh_n[j] = dn * r[j]
            for j in range(H):
                da_r[j] = da_n[j] * u[j] * r[j] * (1 - r[j])
                drh_r[j] = da_r[j]
            for j in range(H):
                da_z[j] = dh[j] * (h_prev[j] - n[j]) * z[j] * (1 - z[j])
                drh_z[j] = da_z[j]
                dh_direct[j] = dh[j] * z[j]
        if weight_left:
            transpose_into(dat, dgh[t])
            np.dot(wht, dat, dht)
            transpose_into(dh0, dht)
        else:
            np.dot(dgh[t], wh, dh0)
        dh0 += dhz
    da_all = dacts.reshape(T * B, 3 * H)
    dgh_all = dgh.reshape(T * B, 3 * H)
    np.dot(dgh_all.T, hs[:T].reshape(T * B, H), dwh)
    dbx[:] = 0
    dbh[:] = 0
    for row in range(T * B):
        for k in range(3 * H):
            dbx[k] += da_all[row, k]
            dbh[k] += dgh_all[row, k]


@kernel
def gru_step(h, gx, gh):
    """One step for sampling: update h (B, H) in place from the gate pre-activations, gx
    (B, 3H) the input part (x wx^T + bx) and gh (B, 3H) the recurrent part (h wh^T + bh)."""
    B, H = h.shape
    for b in range(B):
        xa, ha, hb = gx[b], gh[b], h[b]
        for j in range(H):
            r = sigmoid(xa[j] + ha[j])
            z = sigmoid(xa[H + j] + ha[H + j])
            n = tanh(xa[2 * H + j] + r * ha[2 * H + j])
            hb[j] = (1 - z) * n + z * hb[j]
