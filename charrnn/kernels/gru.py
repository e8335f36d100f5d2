"""GRU cell, PyTorch's nn.GRU formulation, gates stacked r, z, n:

    r = sigmoid(x wx_r^T + bx_r + h wh_r^T + bh_r)
    z = sigmoid(x wx_z^T + bx_z + h wh_z^T + bh_z)
    n = tanh(x wx_n^T + bx_n + r * (h wh_n^T + bh_n))
    h_t = (1 - z) * n + z * h_{t-1}
"""

import numpy as np

from .jit import kernel, sigmoid, tanh


@kernel
def gru_forward(hs, acts, hn, gh, x, wx, wh, bx, bh, h0):
    """Run T steps.

    Writes hs (T+1, B, H) with hs[0] = h0 and hs[t+1] = h_t; acts (T, B, 3H), the gate
    activations r, z, n; hn (T, B, H), the recurrent part of n before the reset gate
    (h wh_n^T + bh_n). gh (B, 3H) is scratch. Reads x (T, B, In), wx (3H, In), wh (3H, H),
    bx and bh (3H,), h0 (B, H).
    """
    T, B, n_in = x.shape
    H = h0.shape[1]
    np.dot(x.reshape(T * B, n_in), wx.T, acts.reshape(T * B, 3 * H))
    hs[0] = h0
    for t in range(T):
        np.dot(hs[t], wh.T, gh)
        a, h_prev, h_out, hn_t = acts[t], hs[t], hs[t + 1], hn[t]
        for b in range(B):
            for j in range(H):
                r = sigmoid(a[b, j] + bx[j] + gh[b, j] + bh[j])
                z = sigmoid(a[b, H + j] + bx[H + j] + gh[b, H + j] + bh[H + j])
                u = gh[b, 2 * H + j] + bh[2 * H + j]
                n = tanh(a[b, 2 * H + j] + bx[2 * H + j] + r * u)
                a[b, j] = r
                a[b, H + j] = z
                a[b, 2 * H + j] = n
                hn_t[b, j] = u
                h_out[b, j] = (1 - z) * n + z * h_prev[b, j]


@kernel
def gru_backward(dx, dwx, dwh, dbx, dbh, dh0, dacts, dgh, dhz, dhs, dhT, x, wx, wh, hs, acts, hn):
    """Backpropagate through the T steps of gru_forward.

    Writes dx (T, B, In), dwx (3H, In), dwh (3H, H), dbx and dbh (3H,), dh0 (B, H).
    dacts (T, B, 3H) and dgh (T, B, 3H) are scratch: gradients of the input and of the
    recurrent pre-activations (they differ in the n block, where the reset gate sits);
    dhz (B, H) is scratch too.
    Reads dhs (T, B, H), the loss gradient with respect to each h_t; dhT (B, H), with respect
    to the final state; x, wx, wh, hs, acts, hn as gru_forward left them.
    """
    T, B, n_in = x.shape
    H = dh0.shape[1]
    dh0[:] = dhT
    for t in range(T - 1, -1, -1):
        a, da, dr_h, h_prev, dh_out, hn_t = acts[t], dacts[t], dgh[t], hs[t], dhs[t], hn[t]
        for b in range(B):
            for j in range(H):
                r = a[b, j]
                z = a[b, H + j]
                n = a[b, 2 * H + j]
                dh = dh0[b, j] + dh_out[b, j]
                dn = dh * (1 - z) * (1 - n * n)
                dr = dn * hn_t[b, j] * r * (1 - r)
                dz = dh * (h_prev[b, j] - n) * z * (1 - z)
                da[b, j] = dr
                da[b, H + j] = dz
                da[b, 2 * H + j] = dn
                dr_h[b, j] = dr
                dr_h[b, H + j] = dz
                dr_h[b, 2 * H + j] = dn * r
                dhz[b, j] = dh * z
        np.dot(dr_h, wh, dh0)
        dh0 += dhz
    da_all = dacts.reshape(T * B, 3 * H)
    dgh_all = dgh.reshape(T * B, 3 * H)
    np.dot(dgh_all.T, hs[:T].reshape(T * B, H), dwh)
    np.dot(da_all.T, x.reshape(T * B, n_in), dwx)
    np.dot(da_all, wx, dx.reshape(T * B, n_in))
    dbx[:] = 0
    dbh[:] = 0
    for r in range(T * B):
        for k in range(3 * H):
            dbx[k] += da_all[r, k]
            dbh[k] += dgh_all[r, k]


@kernel
def gru_step(h, gx, gh, x, wx, wh, bx, bh):
    """One step for sampling: update h (B, H) in place from x (B, In); gx and gh (B, 3H) are scratch."""
    B, H = h.shape
    np.dot(x, wx.T, gx)
    np.dot(h, wh.T, gh)
    for b in range(B):
        for j in range(H):
            r = sigmoid(gx[b, j] + bx[j] + gh[b, j] + bh[j])
            z = sigmoid(gx[b, H + j] + bx[H + j] + gh[b, H + j] + bh[H + j])
            n = tanh(gx[b, 2 * H + j] + bx[2 * H + j] + r * (gh[b, 2 * H + j] + bh[2 * H + j]))
            h[b, j] = (1 - z) * n + z * h[b, j]
