"""Linear head and softmax cross-entropy (the loss is exact: no approximated exp or log here)."""

import math

import numpy as np

from .jit import kernel


@kernel
def head_forward_backward(dlogits, logits, h, w, b, targets, weight):
    """Mean cross-entropy of the head's predictions, and its gradient with respect to the logits.

    Writes logits and dlogits (N, V); returns the summed negative log-likelihood (nats).
    Reads h (N, H), w (V, H), b (V,), targets (N,) integer; `weight` scales the gradient
    (1/N for a mean over the window).
    """
    N, V = logits.shape
    np.dot(h, w.T, logits)
    total = 0.0
    for r in range(N):
        row, drow = logits[r], dlogits[r]
        top = -np.inf
        for k in range(V):
            row[k] += b[k]
            top = max(top, row[k])
        norm = 0.0
        for k in range(V):
            e = math.exp(row[k] - top)
            drow[k] = e
            norm += e
        total += math.log(norm) + top - row[targets[r]]
        scale = weight / norm
        for k in range(V):
            drow[k] *= scale
        drow[targets[r]] -= weight
    return total


@kernel
def head_backward(dh, dw, db, dlogits, h, w):
    """Write dh (N, H), dw (V, H) and db (V,) from dlogits (N, V), h (N, H) and w (V, H)."""
    N, V = dlogits.shape
    np.dot(dlogits, w, dh)
    np.dot(dlogits.T, h, dw)
    db[:] = 0
    for r in range(N):
        for k in range(V):
            db[k] += dlogits[r, k]


@kernel
def head_loss(logits, h, w, b, targets):
    """Summed negative log-likelihood (nats) of targets (N,) under the head; logits (N, V) is scratch."""
    N, V = logits.shape
    np.dot(h, w.T, logits)
    total = 0.0
    for r in range(N):
        row = logits[r]
        top = -np.inf
        for k in range(V):
            row[k] += b[k]
            top = max(top, row[k])
        norm = 0.0
        for k in range(V):
            norm += math.exp(row[k] - top)
        total += math.log(norm) + top - row[targets[r]]
    return total
