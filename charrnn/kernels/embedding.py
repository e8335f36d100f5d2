"""Embedding: a row gather forward, a scatter-add backward."""

from .jit import kernel


@kernel
def embedding_forward(out, ids, table):
    """out (T, B, E) = table[ids]; ids (T, B) integer; table (V, E)."""
    T, B = ids.shape
    for t in range(T):
        for b in range(B):
            out[t, b] = table[ids[t, b]]


@kernel
def embedding_backward(dtable, dout, ids):
    """Write dtable (V, E): the sum of dout (T, B, E) rows over the positions of each id."""
    T, B = ids.shape
    dtable[:] = 0
    for t in range(T):
        for b in range(B):
            dtable[ids[t, b]] += dout[t, b]
