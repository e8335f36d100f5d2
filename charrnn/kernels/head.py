"""Linear head and softmax cross-entropy.

Scoring (head_loss: validation and `charrnn eval`) uses the exact exponential. Training
(head_forward_backward) uses exp_neg, a vectorised float32 exponential with 2.3e-7 relative
error, under the float32 rounding of the logits themselves (6e-8 of a logit near 10 is 6e-7
of its exponential): the V exponentials per character are most of the head's cost with large
vocabularies, and libm's are scalar calls.
"""

import math

import numpy as np

from .gemm import matmul
from .jit import exp_neg, kernel


@kernel
def head_forward_backward(dlogits, logits, h, w, b, targets, weight, scratch):
    """Mean cross-entropy of the head's predictions, and its gradient with respect to the logits.

    Writes logits and dlogits (N, V); returns the summed negative log-likelihood (nats).
    Reads h (N, H), w (V, H), b (V,), targets (N,) integer; `weight` scales the gradient
    (1/N for a mean over the window). scratch: gemm.scratch_size(N, V, H) elements.
    """
    N, V = logits.shape
    matmul(logits, h, w, False, False, scratch)
    total = 0.0
    for r in range(N):
        row, drow = logits[r], dlogits[r]
        for k in range(V):
            row[k] += b[k]
        top = row[0]
        for k in range(1, V):
            top = max(top, row[k])
        norm = 0.0
        for k in range(V):
            e = exp_neg(row[k] - top)
            drow[k] = e
            norm += e
        total += math.log(norm) + top - row[targets[r]]
        scale = weight / norm
        for k in range(V):
            drow[k] *= scale
        drow[targets[r]] -= weight
    return total


@kernel
def head_backward(dh, dw, db, dlogits, h, w, scratch):
    """Write dh (N, H), dw (V, H) and db (V,) from dlogits (N, V), h (N, H) and w (V, H);
    scratch holds the larger of gemm.scratch_size(N, H, V) and (V, H, N) elements."""
    N, V = dlogits.shape
    matmul(dh, dlogits, w, False, True, scratch)
    matmul(dw, dlogits, h, True, True, scratch)
    db[:] = 0
    for r in range(N):
        for k in range(V):
            db[k] += dlogits[r, k]


@kernel
def head_loss(logits, h, w, b, targets, scratch):
    """Summed negative log-likelihood (nats) of targets (N,) under the head; logits (N, V) and
    scratch (gemm.scratch_size(N, V, H) elements) are scratch."""
    N, V = logits.shape
    matmul(logits, h, w, False, False, scratch)
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


@kernel
def head_log_softmax(logits, h, w, b, scratch):
    """logits (N, V) = the head's log-probabilities for h (N, H) (exact exponential, as
    head_loss); scratch: gemm.scratch_size(N, V, H) elements."""
    N, V = logits.shape
    matmul(logits, h, w, False, False, scratch)
    for r in range(N):
        row = logits[r]
        top = -np.inf
        for k in range(V):
            row[k] += b[k]
            top = max(top, row[k])
        norm = 0.0
        for k in range(V):
            norm += math.exp(row[k] - top)
        shift = top + math.log(norm)
        for k in range(V):
            row[k] -= shift
