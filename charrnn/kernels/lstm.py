"""LSTM cell, PyTorch's formulation, gates stacked i, f, g, o:

    i, f, o = sigmoid(a_i), sigmoid(a_f), sigmoid(a_o);  g = tanh(a_g)
    a = x wx^T + bx + h_{t-1} wh^T + bh
    c_t = f * c_{t-1} + i * g;  h_t = o * tanh(c_t)

With zoneout (Krueger et al., 2016), each unit keeps a fraction of its previous state:

    c~ = f * c_{t-1} + i * g;  c_t = kc * c_{t-1} + (1 - kc) * c~
    h_t = kh * h_{t-1} + (1 - kh) * o * tanh(c~)

kc and kh (T, B, H) are the zoneout masks (0 or 1) in training and the rates (their
expectation) at evaluation. Without them (None, the default) the kernels compile without the
zoneout code (Numba prunes the branch), so the plain cell runs as it always did.
"""

import numpy as np

from .gemm import matmul, matmul_packed, pack_rows, pack_weight, packed_views
from .jit import activate, kernel, sigmoid, tanh


@kernel
def lstm_forward(hs, cs, acts, gh, scratch, wh, bx, bh, h0, c0, keep_h=None, keep_c=None):
    """Run T steps.

    acts (T, B, 4H) holds on entry the input part of the pre-activations, x wx^T (see
    projection.py), and on return the gate activations i, f, g, o. Writes hs (T+1, B, H) and
    cs (T+1, B, H) with hs[0] = h0, cs[0] = c0 and hs[t+1] = h_t. gh (B, 4H) and scratch
    (packed_size(B, 4H, H) elements) are scratch. Reads wh (4H, H), bx and bh (4H,), h0 and
    c0 (B, H), and with zoneout keep_h and keep_c (T, B, H), both or neither.
    """
    T, B = acts.shape[0], acts.shape[1]
    H = h0.shape[1]
    bias = bx + bh
    hs[0] = h0
    cs[0] = c0
    ap, wp, edge = packed_views(scratch, B, 4 * H, H)
    pack_weight(wp, wh, False)
    for t in range(T):
        pack_rows(ap, hs[t], False)
        matmul_packed(gh, ap, wp, edge, False)
        for b in range(B):
            a, g_rec = acts[t, b], gh[b]
            activate(a[:2 * H], g_rec[:2 * H], bias[:2 * H], True)
            activate(a[2 * H:3 * H], g_rec[2 * H:3 * H], bias[2 * H:3 * H], False)
            activate(a[3 * H:], g_rec[3 * H:], bias[3 * H:], True)
            i, f, g, o = a[:H], a[H:2 * H], a[2 * H:3 * H], a[3 * H:]
            c_prev, c_out, h_out = cs[t, b], cs[t + 1, b], hs[t + 1, b]
            for j in range(H):
                c_out[j] = f[j] * c_prev[j] + i[j] * g[j]
            for j in range(H):
                h_out[j] = o[j] * tanh(c_out[j])
            if keep_h is not None:
                kh, kc, h_prev = keep_h[t, b], keep_c[t, b], hs[t, b]
                for j in range(H):
                    c_out[j] = kc[j] * c_prev[j] + (1 - kc[j]) * c_out[j]
                for j in range(H):
                    h_out[j] = kh[j] * h_prev[j] + (1 - kh[j]) * h_out[j]


@kernel
def lstm_backward(dwh, dbx, dbh, dh0, dc0, dacts, scratch, dhs, dhT, dcT, wh, hs, cs, acts, keep_h=None, keep_c=None):
    """Backpropagate through the T steps of lstm_forward.

    Writes dwh (4H, H), dbx and dbh (4H,), dh0 and dc0 (B, H), and dacts (T, B, 4H), the
    gradients of the gate pre-activations, from which projection.py takes the input's and
    wx's. scratch holds the larger of packed_size(B, H, 4H) and scratch_size(4H, H, T*B)
    elements. Reads dhs (T, B, H), the loss gradient with respect to each h_t; dhT and dcT
    (B, H), with respect to the final state; and wh, hs, cs, acts (and keep_h, keep_c) as
    lstm_forward left them.
    """
    T, B, H = dhs.shape
    dh0[:] = dhT
    dc0[:] = dcT
    ap, wp, edge = packed_views(scratch, B, H, 4 * H)
    pack_weight(wp, wh, True)
    if keep_h is not None:  # what h_{t-1} and c_{t-1} get directly, through the kept fraction
        kept_dh, kept_dc, c_new = np.empty((B, H), dhs.dtype), np.empty(H, dhs.dtype), np.empty(H, dhs.dtype)
    for t in range(T - 1, -1, -1):
        for b in range(B):
            a, da = acts[t, b], dacts[t, b]
            i, f, g, o = a[:H], a[H:2 * H], a[2 * H:3 * H], a[3 * H:]
            da_i, da_f, da_g, da_o = da[:H], da[H:2 * H], da[2 * H:3 * H], da[3 * H:]
            dh, dc, dh_out, c_now, c_prev = dh0[b], dc0[b], dhs[t, b], cs[t + 1, b], cs[t, b]
            for j in range(H):
                dh[j] += dh_out[j]
            if keep_h is not None:  # from here on dh and dc are those of the candidates h~ and c~
                kh, kc = keep_h[t, b], keep_c[t, b]
                for j in range(H):
                    kept_dh[b, j] = kh[j] * dh[j]
                    dh[j] *= 1 - kh[j]
                for j in range(H):
                    kept_dc[j] = kc[j] * dc[j]
                    dc[j] *= 1 - kc[j]
                for j in range(H):
                    c_new[j] = f[j] * c_prev[j] + i[j] * g[j]
                c_now = c_new
            for j in range(H):
                tc = tanh(c_now[j])
                dc[j] += dh[j] * o[j] * (1 - tc * tc)
                da_o[j] = dh[j] * tc * o[j] * (1 - o[j])
            # one store a loop, so LLVM need not prove the arrays apart to vectorise it
            for j in range(H):
                da_i[j] = dc[j] * g[j] * i[j] * (1 - i[j])
            for j in range(H):
                da_g[j] = dc[j] * i[j] * (1 - g[j] * g[j])
            for j in range(H):
                da_f[j] = dc[j] * c_prev[j] * f[j] * (1 - f[j])
            for j in range(H):
                dc[j] *= f[j]
            if keep_h is not None:
                for j in range(H):
                    dc[j] += kept_dc[j]
        pack_rows(ap, dacts[t], False)
        matmul_packed(dh0, ap, wp, edge, False)
        if keep_h is not None:
            dh0 += kept_dh
    da_all = dacts.reshape(T * B, 4 * H)
    matmul(dwh, da_all, hs[:T].reshape(T * B, H), True, True, scratch)
    dbx[:] = 0
    for r in range(T * B):
        row = da_all[r]
        for k in range(4 * H):
            dbx[k] += row[k]
    dbh[:] = dbx


@kernel
def lstm_step(h, c, gx, gh, keep_h=0.0, keep_c=0.0):
    """One step for sampling: update h and c (B, H) in place from the gate pre-activations,
    gx (B, 4H) the input part (x wx^T + bx) and gh (B, 4H) the recurrent part (h wh^T + bh);
    keep_h and keep_c are the zoneout rates (their expectation is what evaluation runs)."""
    B, H = h.shape
    new_c, new_h = 1 - keep_c, 1 - keep_h  # blended without a branch, so the loop stays vectorised
    for b in range(B):
        xa, ha, hb, cb = gx[b], gh[b], h[b], c[b]
        for j in range(H):
            i = sigmoid(xa[j] + ha[j])
            f = sigmoid(xa[H + j] + ha[H + j])
            g = tanh(xa[2 * H + j] + ha[2 * H + j])
            o = sigmoid(xa[3 * H + j] + ha[3 * H + j])
            cn = f * cb[j] + i * g
            hn = o * tanh(cn)
            cb[j] = keep_c * cb[j] + new_c * cn
            hb[j] = keep_h * hb[j] + new_h * hn
