"""Generation: every layer, the head and the choice of the next character in one compiled
loop, so a character costs no Python, and no BLAS: the products are add_matmul's passes over
weights stored transposed. Cells are chosen by CELL_CODES; per-layer weights come as tuples of
arrays (all of one dtype and rank, so Numba types them uniformly)."""

import math

import numpy as np

from .gru import gru_step
from .jit import exp_neg, kernel
from .lstm import lstm_step
from .matvec import add_matmul
from .rnn import rnn_step

CELL_CODES = {"rnn": 0, "lstm": 1, "gru": 2}


@kernel
def advance(logits, state, inp, gx, gh, ids, cell, embed, table, wxts, whts, bxs, bhs, head_wt, head_b):
    """Feed one character per stream, ids (B,), through every layer; write logits (B, V).

    state (L, S, B, H) is updated in place; inp (B, E), gx and gh (B, G*H) are scratch.
    table (V, G*H), when it has rows, is layer 0's input part for every character
    (embed wx^T + bx), so layer 0 reads one row instead of its input weights. wxts[l] (In, G*H)
    and whts[l] (H, G*H) are the layers' weights transposed; bxs[l], bhs[l] (G*H,) their
    biases; head_wt (H, V) and head_b (V,) the head's.
    """
    B = ids.shape[0]
    for layer in range(state.shape[0]):
        if layer == 0 and table.shape[0] > 0:
            for b in range(B):
                gx[b] = table[ids[b]]
        else:
            for b in range(B):
                gx[b] = bxs[layer]
            if layer == 0:
                for b in range(B):
                    inp[b] = embed[ids[b]]
                add_matmul(gx, inp, wxts[0])
            else:
                add_matmul(gx, state[layer - 1, 0], wxts[layer])
        h = state[layer, 0]
        for b in range(B):
            gh[b] = bhs[layer]
        add_matmul(gh, h, whts[layer])
        if cell == 1:
            lstm_step(h, state[layer, 1], gx, gh)
        elif cell == 2:
            gru_step(h, gx, gh)
        else:
            rnn_step(h, gx, gh)
    for b in range(B):
        logits[b] = head_b
    add_matmul(logits, state[state.shape[0] - 1, 0], head_wt)


@kernel
def _sift_down(order, probs, root, size):
    """Restore the max-heap property of order[:size] (keyed by probs) below `root`."""
    while True:
        child = 2 * root + 1
        if child >= size:
            return
        if child + 1 < size and probs[order[child + 1]] > probs[order[child]]:
            child += 1
        if probs[order[child]] <= probs[order[root]]:
            return
        order[root], order[child] = order[child], order[root]
        root = child


@kernel
def _truncate(probs, order, total, top_k, top_p):
    """Zero every probability outside the top_k largest (top_k > 0) and beyond the smallest
    set of largest ones whose mass reaches top_p * total; return the mass kept. Takes the
    largest one at a time from a heap in `order` (V,), so the cost is V plus log V per kept
    symbol, with nothing allocated."""
    V = probs.shape[0]
    for k in range(V):
        order[k] = k
    for root in range(V // 2 - 1, -1, -1):
        _sift_down(order, probs, root, V)
    keep = V if top_k <= 0 else min(top_k, V)
    size, mass = V, 0.0
    for _ in range(keep):
        mass += probs[order[0]]
        size -= 1
        order[0], order[size] = order[size], order[0]
        _sift_down(order, probs, 0, size)
        if mass >= top_p * total:
            break
    for rank in range(size):  # what is left in the heap is dropped
        probs[order[rank]] = 0.0
    return mass


@kernel
def choose(logits, order, u, inv_temperature, top_k, top_p):
    """Pick an index from logits (V,) given a uniform draw u in [0, 1).

    inv_temperature 0 means argmax. top_k > 0 keeps the k most likely, top_p < 1 the
    smallest set whose probability reaches top_p. A logit of -inf is never chosen. logits is
    overwritten with probabilities; order (V,) is scratch. Nothing is allocated; without
    top-k/top-p it is two passes that vectorise (the maximum; the exponentials and their
    sum, in float32 by exp_neg when logits and inv_temperature are float32) and a scan that
    stops at the chosen index.
    """
    V = logits.shape[0]
    if inv_temperature == 0.0:
        top, best = -np.inf, 0
        for k in range(V):
            if logits[k] > top:
                top, best = logits[k], k
        return best
    top = logits[0]
    for k in range(V):
        top = max(top, logits[k])
    total = 0.0
    for k in range(V):
        p = exp_neg((logits[k] - top) * inv_temperature)
        logits[k] = p
        total += p
    if top_k > 0 or top_p < 1.0:
        total = _truncate(logits, order, total, top_k, top_p)
    target = u * total
    acc = 0.0
    last = 0
    for k in range(V):
        if logits[k] > 0.0:
            acc += logits[k]
            last = k
            if acc > target:
                return k
    return last


@kernel
def generate(out, uniforms, logits, order, state, inp, gx, gh, ids, cell, embed, table, wxts, whts, bxs, bhs,
             head_wt, head_b, inv_temperature, top_k, top_p, banned):
    """Generate out.shape[0] characters per stream. out (n, B) receives the ids; uniforms
    (n, B) are the draws; logits (B, V) holds the distribution after the last fed character
    and is advanced in place; ids (B,) is scratch; `banned` is an id never generated (the
    unknown symbol), or -1. Other arguments as in advance and choose."""
    n, B = out.shape
    for t in range(n):
        for b in range(B):
            if banned >= 0:
                logits[b, banned] = -np.inf
            ids[b] = choose(logits[b], order, uniforms[t, b], inv_temperature, top_k, top_p)
            out[t, b] = ids[b]
        advance(logits, state, inp, gx, gh, ids, cell, embed, table, wxts, whts, bxs, bhs, head_wt, head_b)
