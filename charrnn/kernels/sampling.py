"""Generation: every layer, the head and the choice of the next character in one compiled
loop, so a character costs no Python, and no BLAS: the products are add_matmul's passes over
weights stored transposed, which run at the speed the weights stream from cache.

The loop can run as P parts on P threads (run_part): part q owns a slice of every layer's
hidden units (all gates of those units, so the cell update stays within the part) and a
slice of the vocabulary's logits. Each part streams only its slice of the weights, so P
cores bring P times the cache bandwidth to one character; the parts meet at a barrier after
each layer, after the head, and after part 0 chooses the next character.

The full hidden state is in hfull (2, L, B, H), twice: a layer reads the old h of every
unit while the parts write the new one, so the two copies take turns (`parity`). Each part
also keeps its own units' h and c (h_own, c_own (L, B, Hq)) contiguous for the cell update.
Cells are chosen by CELL_CODES; per-layer weights come as tuples of arrays (all of one dtype
and rank, so Numba types them uniformly)."""

import numpy as np

from .gru import gru_step
from .jit import exp_neg, kernel
from .lstm import lstm_step
from .matvec import add_matmul
from .rnn import rnn_step
from .sync import barrier

CELL_CODES = {"rnn": 0, "lstm": 1, "gru": 2}


@kernel
def _layers_and_head(part, flags, count, ids, hfull, parity, h_own, c_own, inp, gx, gh, own_logits, logits, cell,
                     embed, table, wxts, whts, bxs, bhs, head_wt, head_b, units, vocab_cols):
    """This part's share of feeding ids (B,) through every layer and the head; returns the
    barrier count reached. Writes the part's units into hfull[1 - parity] and its logits into
    logits (B, V)."""
    B = ids.shape[0]
    u0, u1 = units[part], units[part + 1]
    for layer in range(h_own.shape[0]):
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
                add_matmul(gx, hfull[1 - parity, layer - 1], wxts[layer])
        for b in range(B):
            gh[b] = bhs[layer]
        add_matmul(gh, hfull[parity, layer], whts[layer])
        h = h_own[layer]
        if cell == 1:
            lstm_step(h, c_own[layer], gx, gh)
        elif cell == 2:
            gru_step(h, gx, gh)
        else:
            rnn_step(h, gx, gh)
        new = hfull[1 - parity, layer]
        for b in range(B):
            for j in range(u1 - u0):
                new[b, u0 + j] = h[b, j]
        count += 1
        barrier(flags, part, count)
    v0 = vocab_cols[part]
    for b in range(B):
        own_logits[b] = head_b
    add_matmul(own_logits, hfull[1 - parity, h_own.shape[0] - 1], head_wt)
    for b in range(B):
        for k in range(own_logits.shape[1]):
            logits[b, v0 + k] = own_logits[b, k]
    count += 1
    barrier(flags, part, count)
    return count


@kernel
def run_part(part, flags, feed_ids, out, uniforms, logits, order, ids, hfull, parity, h_own, c_own, own_ids, inp,
             gx, gh, own_logits, cell, embed, table, wxts, whts, bxs, bhs, head_wt, head_b, units, vocab_cols,
             inv_temperature, top_k, top_p, banned):
    """Part `part` of feeding feed_ids (n_feed,) to every stream, then generating out.shape[0]
    characters per stream; every part runs this at once with the same shared arguments.

    Shared: flags (P * FLAG_STRIDE,) int64, zero at the start; out (n, B) receives the ids;
    uniforms (n, B) are the draws; logits (B, V) holds the distribution after the last
    character and is advanced in place; order (V,) and ids (B,) are scratch; hfull and parity
    (1,) as in the module's docstring. The part's own: h_own and c_own (L, B, Hq); own_ids
    (B,), inp (B, E), gx and gh (B, G*Hq) and own_logits (B, Vq) are scratch; table (V, G*Hq),
    layer 0's input part per character (embed wx^T + bx), or no rows to take the embedding
    rows through wxts[0]; wxts[l] (In, G*Hq), whts[l] (H, G*Hq), bxs[l] and bhs[l] (G*Hq,) the
    weights of its units, transposed; head_wt (H, Vq) and head_b (Vq,) those of its logits.
    units (P+1,) and vocab_cols (P+1,) bound the parts' slices. `banned` is an id never
    generated (the unknown symbol), or -1.
    """
    count = 0
    p = parity[0]
    for i in range(feed_ids.shape[0]):
        own_ids[:] = feed_ids[i]
        count = _layers_and_head(part, flags, count, own_ids, hfull, p, h_own, c_own, inp, gx, gh, own_logits, logits,
                                 cell, embed, table, wxts, whts, bxs, bhs, head_wt, head_b, units, vocab_cols)
        p = 1 - p
    for t in range(out.shape[0]):
        if part == 0:
            for b in range(ids.shape[0]):
                if banned >= 0:
                    logits[b, banned] = -np.inf
                ids[b] = choose(logits[b], order, uniforms[t, b], inv_temperature, top_k, top_p)
                out[t, b] = ids[b]
        count += 1
        barrier(flags, part, count)
        own_ids[:] = ids
        count = _layers_and_head(part, flags, count, own_ids, hfull, p, h_own, c_own, inp, gx, gh, own_logits, logits,
                                 cell, embed, table, wxts, whts, bxs, bhs, head_wt, head_b, units, vocab_cols)
        p = 1 - p
    if part == 0:
        parity[0] = p


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
