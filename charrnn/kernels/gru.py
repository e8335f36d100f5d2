"""GRU cell, PyTorch's nn.GRU formulation, gates stacked r, z, n:

    r = sigmoid(x wx_r^T + bx_r + h wh_r^T + bh_r)
    z = sigmoid(x wx_z^T + bx_z + h wh_z^T + bh_z)
    n = tanh(x wx_n^T + bx_n + r * (h wh_n^T + bh_n))
    h_t = (1 - z) * n + z * h_{t-1}

With zoneout (Krueger et al., 2016) each unit keeps a fraction kh (T, B, H) of its previous
state: h_t = kh * h_{t-1} + (1 - kh) * ((1 - z) * n + z * h_{t-1}); kh is the zoneout mask
(0 or 1) in training and the rate (its expectation) at evaluation. Without it (None, the
default) the kernels compile without the zoneout code, so the plain cell runs as it always did.
"""

import numpy as np

from .gemm import matmul, matmul_packed, pack_rows, pack_weight, packed_views
from .jit import kernel, sigmoid, tanh


@kernel
def gru_forward(hs, acts, hn, gh, scratch, wh, bx, bh, h0, keep_h=None):
    """Run T steps.

    acts (T, B, 3H) holds on entry the input part of the pre-activations, x wx^T (see
    projection.py), and on return the gate activations r, z, n. Writes hs (T+1, B, H) with
    hs[0] = h0 and hs[t+1] = h_t; hn (T, B, H), the recurrent part of n before the reset gate
    (h wh_n^T + bh_n). gh (B, 3H) and scratch (packed_size(B, 3H, H) elements) are scratch.
    Reads wh (3H, H), bx and bh (3H,), h0 (B, H), and with zoneout keep_h (T, B, H).
    """
    T, B = acts.shape[0], acts.shape[1]
    H = h0.shape[1]
    hs[0] = h0
    ap, wp, edge = packed_views(scratch, B, 3 * H, H)
    pack_weight(wp, wh, False)
    for t in range(T):
        pack_rows(ap, hs[t], False)
        matmul_packed(gh, ap, wp, edge, False)
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
            if keep_h is not None:
                kh = keep_h[t, b]
                for j in range(H):
                    h_out[j] = kh[j] * h_prev[j] + (1 - kh[j]) * h_out[j]


@kernel
def gru_backward(dwh, dbx, dbh, dh0, dacts, dgh, dhz, scratch, dhs, dhT, wh, hs, acts, hn, keep_h=None):
    """Backpropagate through the T steps of gru_forward.

    Writes dwh (3H, H), dbx and dbh (3H,), dh0 (B, H), and dacts (T, B, 3H), the gradients
    of the input part of the pre-activations (projection.py takes the input's and wx's from
    them). dgh (T, B, 3H) is scratch: the gradients of the recurrent part (they differ from
    dacts in the n block, where the reset gate sits); dhz (B, H) and scratch (the larger of
    packed_size(B, H, 3H) and scratch_size(3H, H, T*B) elements) are scratch too. Reads dhs
    (T, B, H), the loss gradient with respect to each h_t; dhT (B, H), with respect to the
    final state; wh, hs, acts, hn (and keep_h) as gru_forward left them.
    """
    T, B, H = dhs.shape
    dh0[:] = dhT
    ap, wp, edge = packed_views(scratch, B, H, 3 * H)
    pack_weight(wp, wh, True)
    if keep_h is not None:  # what h_{t-1} gets directly, through the kept fraction
        kept_dh = np.empty((B, H), dhs.dtype)
    for t in range(T - 1, -1, -1):
        for b in range(B):
            a, da, drh = acts[t, b], dacts[t, b], dgh[t, b]
            r, z, n = a[:H], a[H:2 * H], a[2 * H:]
            da_r, da_z, da_n = da[:H], da[H:2 * H], da[2 * H:]
            drh_r, drh_z, drh_n = drh[:H], drh[H:2 * H], drh[2 * H:]
            dh, dh_out, h_prev, u, dh_direct = dh0[b], dhs[t, b], hs[t, b], hn[t, b], dhz[b]
            for j in range(H):
                dh[j] += dh_out[j]
            if keep_h is not None:  # from here on dh is that of the candidate
                kh = keep_h[t, b]
                for j in range(H):
                    kept_dh[b, j] = kh[j] * dh[j]
                    dh[j] *= 1 - kh[j]
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
        pack_rows(ap, dgh[t], False)
        matmul_packed(dh0, ap, wp, edge, False)
        dh0 += dhz
        if keep_h is not None:
            dh0 += kept_dh
    da_all = dacts.reshape(T * B, 3 * H)
    dgh_all = dgh.reshape(T * B, 3 * H)
    matmul(dwh, dgh_all, hs[:T].reshape(T * B, H), True, True, scratch)
    dbx[:] = 0
    dbh[:] = 0
    for row in range(T * B):
        for k in range(3 * H):
            dbx[k] += da_all[row, k]
            dbh[k] += dgh_all[row, k]


@kernel
def gru_step(h, gx, gh, keep_h=0.0):
    """One step for sampling: update h (B, H) in place from the gate pre-activations, gx
    (B, 3H) the input part (x wx^T + bx) and gh (B, 3H) the recurrent part (h wh^T + bh);
    keep_h is the zoneout rate (its expectation is what evaluation runs)."""
    B, H = h.shape
    new_h = 1 - keep_h  # blended without a branch, so the loop stays vectorised
    for b in range(B):
        xa, ha, hb = gx[b], gh[b], h[b]
        for j in range(H):
            r = sigmoid(xa[j] + ha[j])
            z = sigmoid(xa[H + j] + ha[H + j])
            n = tanh(xa[2 * H + j] + r * ha[2 * H + j])
            hn = (1 - z) * n + z * hb[j]
            hb[j] = keep_h * hb[j] + new_h * hn
