"""Generation: every layer, the head and the choice of the next character in one compiled
loop, so a character costs no Python, and no BLAS: the products are passes over weights stored
transposed (matvec.add_weights), which run at the speed the weights stream from cache, so
weights stored in bf16 or int8 make a character cheaper.

The loop can run as P parts on P threads (run_part): part q owns a slice of every layer's
hidden units (all gates of those units, so the cell update stays within the part) and a
slice of the vocabulary's logits. Each part streams only its slice of the weights, so P
cores bring P times the cache bandwidth to one character; the parts meet at a barrier after
each layer, after the head, and after part 0 chooses the next character.

The full hidden state is in hfull (2, L, B, H), twice: a layer reads the old h of every
unit while the parts write the new one, so the two copies take turns (`parity`). Each part
also keeps its own units' h and c (h_own, c_own (L, B, Hq)) contiguous for the cell update.

The arguments are grouped in named tuples of arrays (Numba types each field, so a misplaced
array is a typing error, not wrong text): Layout (how the work is cut), Rules (how a
character is chosen), Shared (what the parts read and write together), Draws (this call's
input and output), and each part's Weights and Scratch. Per-layer weights are tuples of
arrays (all of one dtype and rank, so Numba types them uniformly).
"""

from typing import NamedTuple

import numpy as np

from .cells import cell_step
from .jit import exp_neg, kernel
from .matvec import add_weights
from .sync import barrier


class Layout(NamedTuple):
    """cell: the cell's code (kernels/cells.py); units (P+1,) and vocab_cols (P+1,) bound the
    parts' slices of the hidden units and of the vocabulary; keep_h and keep_c, the zoneout
    rates of h and c, in the state's float type."""

    cell: int
    units: np.ndarray
    vocab_cols: np.ndarray
    keep_h: np.floating
    keep_c: np.floating


class Rules(NamedTuple):
    """How each next character is chosen. inv_temperature 0 means argmax; top_k 0 and top_p 1
    mean no truncation; `banned` is an id never generated (the unknown symbol), or -1.
    For a byte model, allowed (S, V) says which ids may follow in each UTF-8 state,
    next_state (S, 256) the state after each byte, byte_of_id (V,) each id's byte; for a
    character model allowed has no rows."""

    inv_temperature: np.floating
    top_k: int
    top_p: float
    banned: int
    allowed: np.ndarray
    next_state: np.ndarray
    byte_of_id: np.ndarray


class Shared(NamedTuple):
    """What every part reads and writes. flags (P * FLAG_STRIDE,) int64, zero at the start of
    a call; logits (B, V), the distribution after the last character, advanced in place;
    order (V,) and ids (B,) scratch; hfull (2, L, B, H) and parity (1,), see above;
    utf8_state (B,) each stream's UTF-8 state (byte models)."""

    flags: np.ndarray
    logits: np.ndarray
    order: np.ndarray
    ids: np.ndarray
    hfull: np.ndarray
    parity: np.ndarray
    utf8_state: np.ndarray


class Draws(NamedTuple):
    """One call: feed_ids (n_feed,) go to every stream first; then out.shape[0] characters per
    stream are generated into out (n, B) with the uniform draws uniforms (n, B)."""

    feed_ids: np.ndarray
    out: np.ndarray
    uniforms: np.ndarray


class Weights(NamedTuple):
    """A part's weights, transposed: embed (V, E); table (V, G*Hq), layer 0's input part per
    character (embed wx^T + bx), or no rows to take the embedding rows through wxts[0];
    wxts[l] (In, G*Hq), whts[l] (H, G*Hq), bxs[l] and bhs[l] (G*Hq,) for its units; head_wt
    (H, Vq) and head_b (Vq,) for its logits. The matrices wxts, whts and head_wt are float32,
    bf16 bits (uint16) or int8 (matvec.add_weights), the last with a float32 scale per
    column in wx_scales[l] (G*Hq,), wh_scales[l] and head_scale (Vq,) (no elements
    otherwise)."""

    embed: np.ndarray
    table: np.ndarray
    wxts: tuple
    whts: tuple
    bxs: tuple
    bhs: tuple
    head_wt: np.ndarray
    head_b: np.ndarray
    wx_scales: tuple
    wh_scales: tuple
    head_scale: np.ndarray


class Scratch(NamedTuple):
    """A part's own state and scratch: h_own and c_own (L, B, Hq), the state of its units;
    own_ids (B,), inp (B, E), gx and gh (B, G*Hq), own_logits (B, Vq); sums (B, G*Hq) and
    logit_sums (B, Vq) where int8 weights' products add up (no elements otherwise)."""

    h_own: np.ndarray
    c_own: np.ndarray
    own_ids: np.ndarray
    inp: np.ndarray
    gx: np.ndarray
    gh: np.ndarray
    own_logits: np.ndarray
    sums: np.ndarray
    logit_sums: np.ndarray


@kernel
def _layers_and_head(part, count, layout, shared, parity, own, w):
    """This part's share of feeding own.own_ids (B,) through every layer and the head; returns
    the barrier count reached. Writes the part's units into hfull[1 - parity] and its logits
    into the shared logits (B, V)."""
    ids, hfull, flags = own.own_ids, shared.hfull, shared.flags
    B = ids.shape[0]
    u0, u1 = layout.units[part], layout.units[part + 1]
    n_layers = own.h_own.shape[0]
    for layer in range(n_layers):
        if layer == 0 and w.table.shape[0] > 0:
            for b in range(B):
                own.gx[b] = w.table[ids[b]]
        else:
            for b in range(B):
                own.gx[b] = w.bxs[layer]
            if layer == 0:
                for b in range(B):
                    own.inp[b] = w.embed[ids[b]]
                add_weights(own.gx, own.inp, w.wxts[0], w.wx_scales[0], own.sums)
            else:
                add_weights(own.gx, hfull[1 - parity, layer - 1], w.wxts[layer], w.wx_scales[layer], own.sums)
        for b in range(B):
            own.gh[b] = w.bhs[layer]
        add_weights(own.gh, hfull[parity, layer], w.whts[layer], w.wh_scales[layer], own.sums)
        h = own.h_own[layer]
        cell_step(layout.cell, h, own.c_own[layer], own.gx, own.gh, layout.keep_h, layout.keep_c)
        new = hfull[1 - parity, layer]
        for b in range(B):
            for j in range(u1 - u0):
                new[b, u0 + j] = h[b, j]
        count += 1
        barrier(flags, part, count)
    v0 = layout.vocab_cols[part]
    for b in range(B):
        own.own_logits[b] = w.head_b
    add_weights(own.own_logits, hfull[1 - parity, n_layers - 1], w.head_wt, w.head_scale, own.logit_sums)
    for b in range(B):
        for k in range(own.own_logits.shape[1]):
            shared.logits[b, v0 + k] = own.own_logits[b, k]
    count += 1
    barrier(flags, part, count)
    return count


@kernel
def _choose_all(shared, rules, uniforms):
    """Part 0's turn: the next id of every stream from its logits, under the rules; writes ids."""
    logits, ids = shared.logits, shared.ids
    V = logits.shape[1]
    constrained = rules.allowed.shape[0] > 0
    for b in range(ids.shape[0]):
        row = logits[b]
        if rules.banned >= 0:
            row[rules.banned] = -np.inf
        if constrained:
            allowed = rules.allowed[shared.utf8_state[b]]
            for k in range(V):
                if not allowed[k]:
                    row[k] = -np.inf
        ids[b] = choose(row, shared.order, uniforms[b], rules.inv_temperature, rules.top_k, rules.top_p)
        if constrained:
            shared.utf8_state[b] = rules.next_state[shared.utf8_state[b], rules.byte_of_id[ids[b]]]


@kernel
def run_part(part, layout, rules, shared, draws, own, w):
    """Part `part` of feeding draws.feed_ids to every stream, then generating
    draws.out.shape[0] characters per stream; every part runs this at once with the same
    layout, rules, shared and draws, and its own scratch and weights."""
    count = 0
    p = shared.parity[0]
    for i in range(draws.feed_ids.shape[0]):
        own.own_ids[:] = draws.feed_ids[i]
        count = _layers_and_head(part, count, layout, shared, p, own, w)
        p = 1 - p
    for t in range(draws.out.shape[0]):
        if part == 0:
            _choose_all(shared, rules, draws.uniforms[t])
            for b in range(shared.ids.shape[0]):
                draws.out[t, b] = shared.ids[b]
        count += 1
        barrier(shared.flags, part, count)
        own.own_ids[:] = shared.ids
        count = _layers_and_head(part, count, layout, shared, p, own, w)
        p = 1 - p
    if part == 0:
        shared.parity[0] = p


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
