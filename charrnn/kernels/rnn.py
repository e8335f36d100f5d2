"""Vanilla RNN cell, PyTorch's nn.RNN with tanh: h_t = tanh(x wx^T + bx + h_{t-1} wh^T + bh)."""

from .gemm import matmul, matmul_packed, pack_rows, pack_weight, packed_views
from .jit import kernel, tanh


@kernel
def rnn_forward(hs, acts, gh, scratch, wh, bx, bh, h0):
    """Run T steps.

    acts (T, B, H) holds the input part of the pre-activations, x wx^T (see projection.py).
    Writes hs (T+1, B, H) with hs[0] = h0 and hs[t+1] = h_t; gh (B, H) and scratch
    (packed_size(B, H, H) elements) are scratch. Reads wh (H, H), bx and bh (H,), h0 (B, H).
    """
    T, B = acts.shape[0], acts.shape[1]
    H = h0.shape[1]
    hs[0] = h0
    ap, wp, edge = packed_views(scratch, B, H, H)
    pack_weight(wp, wh, False)
    for t in range(T):
        pack_rows(ap, hs[t], False)
        matmul_packed(gh, ap, wp, edge, False)
        a, h_out = acts[t], hs[t + 1]
        for b in range(B):
            for j in range(H):
                h_out[b, j] = tanh(a[b, j] + gh[b, j] + bx[j] + bh[j])


@kernel
def rnn_backward(dwh, dbx, dbh, dh0, dacts, scratch, dhs, dhT, wh, hs):
    """Backpropagate through the T steps of rnn_forward.

    Writes dwh (H, H), dbx and dbh (H,), dh0 (B, H), and dacts (T, B, H), the gradients of
    the pre-activations (projection.py takes the input's and wx's from them); scratch (the
    larger of packed_size(B, H, H) and scratch_size(H, H, T*B) elements) is scratch. Reads
    dhs (T, B, H), the loss gradient with respect to each h_t; dhT (B, H), with respect to
    the final state; wh and hs as rnn_forward left them.
    """
    T, B, H = dhs.shape
    dh0[:] = dhT
    ap, wp, edge = packed_views(scratch, B, H, H)
    pack_weight(wp, wh, True)
    for t in range(T - 1, -1, -1):
        da, h_now, dh_out = dacts[t], hs[t + 1], dhs[t]
        for b in range(B):
            for j in range(H):
                h = h_now[b, j]
                da[b, j] = (dh0[b, j] + dh_out[b, j]) * (1 - h * h)
        pack_rows(ap, da, False)
        matmul_packed(dh0, ap, wp, edge, False)
    da_all = dacts.reshape(T * B, H)
    matmul(dwh, da_all, hs[:T].reshape(T * B, H), True, True, scratch)
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
