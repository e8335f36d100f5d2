"""The input part of a layer's pre-activations, x wx^T, and its gradients: one GEMM over the
whole window, or for layer 0 a lookup in a per-character table.

Layer 0's input is an embedding row, so its projection embed[id] wx^T is a row of the table
embed wx^T (V, G*H). When a window has more characters than the vocabulary (V < T*B), the
table is cheaper to compute than the window's GEMM, and its gradients reduce to summing the
pre-activation gradients per character: for an LSTM 2x256 with V = 65 and 32x64 windows that
removes a quarter of the training arithmetic. Both routes are the same function of the
parameters; only the order of the float sums differs.

`scratch` (1-D) in each holds at least gemm.scratch_size elements for its products.
"""

from .gemm import matmul
from .jit import kernel


@kernel
def input_forward(acts, x, wx, scratch):
    """acts (T, B, G*H) = x (T, B, In) wx^T, wx (G*H, In)."""
    T, B, n_in = x.shape
    matmul(acts.reshape(T * B, wx.shape[0]), x.reshape(T * B, n_in), wx, False, False, scratch)


@kernel
def input_backward(dx, dwx, dacts, x, wx, scratch):
    """Write dx (T, B, In) = dacts wx and dwx (G*H, In) = dacts^T x from dacts (T, B, G*H)."""
    T, B, n_in = x.shape
    da_all = dacts.reshape(T * B, wx.shape[0])
    matmul(dwx, da_all, x.reshape(T * B, n_in), True, True, scratch)
    matmul(dx.reshape(T * B, n_in), da_all, wx, False, True, scratch)


@kernel
def table_forward(table, embed, wx, scratch):
    """table (V, G*H) = embed (V, E) wx^T, wx (G*H, E)."""
    matmul(table, embed, wx, False, False, scratch)


@kernel
def table_gather(acts, ids, table):
    """acts (T, B, G*H) = table[ids], ids (T, B)."""
    T, B = ids.shape
    for t in range(T):
        for b in range(B):
            acts[t, b] = table[ids[t, b]]


@kernel
def table_backward(dembed, dwx, dtable, dacts, ids, embed, wx, scratch):
    """Write dembed (V, E) and dwx (G*H, E) from dacts (T, B, G*H), the gradients of the rows
    gathered at ids (T, B); dtable (V, G*H) is scratch (their sums per character)."""
    T, B = ids.shape
    dtable[:] = 0
    for t in range(T):
        for b in range(B):
            dtable[ids[t, b]] += dacts[t, b]
    matmul(dembed, dtable, wx, False, True, scratch)
    matmul(dwx, dtable, embed, True, True, scratch)
