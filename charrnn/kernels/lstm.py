"""LSTM cell, PyTorch's formulation, gates stacked i, f, g, o:

    i, f, o = sigmoid(a_i), sigmoid(a_f), sigmoid(a_o);  g = tanh(a_g)
    a = x wx^T + bx + h_{t-1} wh^T + bh
    c_t = f * c_{t-1} + i * g;  h_t = o * tanh(c_t)
"""

from .gemm import matmul, matmul_packed, pack_rows, pack_weight, packed_views
from .jit import activate, kernel, sigmoid, tanh


@kernel
def lstm_forward(hs, cs, acts, gh, scratch, wh, bx, bh, h0, c0):
    """Run T steps.

    acts (T, B, 4H) holds on entry the input part of the pre-activations, x wx^T (see
    projection.py), and on return the gate activations i, f, g, o. Writes hs (T+1, B, H) and
    cs (T+1, B, H) with hs[0] = h0, cs[0] = c0 and hs[t+1] = h_t. gh (B, 4H) and scratch
    (packed_size(B, 4H, H) elements) are scratch. Reads wh (4H, H), bx and bh (4H,), h0 and
    c0 (B, H).
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


@kernel
def lstm_backward(dwh, dbx, dbh, dh0, dc0, dacts, scratch, dhs, dhT, dcT, wh, hs, cs, acts):
    """Backpropagate through the T steps of lstm_forward.

    Writes dwh (4H, H), dbx and dbh (4H,), dh0 and dc0 (B, H), and dacts (T, B, 4H), the
    gradients of the gate pre-activations, from which projection.py takes the input's and
    wx's. scratch holds the larger of packed_size(B, H, 4H) and scratch_size(4H, H, T*B)
    elements. Reads dhs (T, B, H), the loss gradient with respect to each h_t; dhT and dcT
    (B, H), with respect to the final state; and wh, hs, cs, acts as lstm_forward left them.
    """
    T, B, H = dhs.shape
    dh0[:] = dhT
    dc0[:] = dcT
    ap, wp, edge = packed_views(scratch, B, H, 4 * H)
    pack_weight(wp, wh, True)
    for t in range(T - 1, -1, -1):
        for b in range(B):
            a, da = acts[t, b], dacts[t, b]
            i, f, g, o = a[:H], a[H:2 * H], a[2 * H:3 * H], a[3 * H:]
            da_i, da_f, da_g, da_o = da[:H], da[H:2 * H], da[2 * H:3 * H], da[3 * H:]
            dh, dc, dh_out, c_now, c_prev = dh0[b], dc0[b], dhs[t, b], cs[t + 1, b], cs[t, b]
            for j in range(H):
                dh[j] += dh_out[j]
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
        pack_rows(ap, dacts[t], False)
        matmul_packed(dh0, ap, wp, edge, False)
    da_all = dacts.reshape(T * B, 4 * H)
    matmul(dwh, da_all, hs[:T].reshape(T * B, H), True, True, scratch)
    dbx[:] = 0
    for r in range(T * B):
        row = da_all[r]
        for k in range(4 * H):
            dbx[k] += row[k]
    dbh[:] = dbx


@kernel
def lstm_step(h, c, gx, gh):
    """One step for sampling: update h and c (B, H) in place from the gate pre-activations,
    gx (B, 4H) the input part (x wx^T + bx) and gh (B, 4H) the recurrent part (h wh^T + bh)."""
    B, H = h.shape
    for b in range(B):
        xa, ha, hb, cb = gx[b], gh[b], h[b], c[b]
        for j in range(H):
            i = sigmoid(xa[j] + ha[j])
            f = sigmoid(xa[H + j] + ha[H + j])
            g = tanh(xa[2 * H + j] + ha[2 * H + j])
            o = sigmoid(xa[3 * H + j] + ha[3 * H + j])
            cn = f * cb[j] + i * g
            cb[j] = cn
            hb[j] = o * tanh(cn)
