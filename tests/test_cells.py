"""Each cell kernel against the naive reference, its backward against finite differences
with a random upstream gradient, and chunked runs against whole ones."""

import numpy as np
import pytest

import naive
from gradcheck import numeric_gradient, relative_error
from charrnn.model.config import GATES
from charrnn.kernels.gru import gru_backward, gru_forward, gru_step
from charrnn.kernels.gemm import packed_size, scratch_size
from charrnn.kernels.lstm import lstm_backward, lstm_forward, lstm_step
from charrnn.kernels.projection import input_backward, input_forward
from charrnn.kernels.rnn import rnn_backward, rnn_forward, rnn_step

CELLS = ("rnn", "lstm", "gru")
T, B, N_IN, H = 5, 3, 4, 6


def make_inputs(cell, dtype, seed=0, T=T):
    rng = np.random.default_rng(seed)
    G = GATES[cell]
    u = lambda *shape: rng.uniform(-0.8, 0.8, shape).astype(dtype)  # noqa: E731
    return dict(x=u(T, B, N_IN), wx=u(G * H, N_IN), wh=u(G * H, H), bx=u(G * H), bh=u(G * H),
                h0=u(B, H), c0=u(B, H))


def forward(cell, a):
    """Run the input projection and the cell kernel; return (outputs (T, B, H), final h,
    final c or None, saved activations)."""
    T_, dtype, G = a["x"].shape[0], a["x"].dtype, GATES[cell]
    hs = np.zeros((T_ + 1, B, H), dtype)
    acts = np.zeros((T_, B, G * H), dtype)
    n_in = a["x"].shape[2]
    input_forward(acts, a["x"], a["wx"], np.zeros(scratch_size(T_ * B, G * H, n_in, dtype), dtype))
    scratch = (np.zeros((B, G * H), dtype), np.zeros(packed_size(B, G * H, H, dtype), dtype))
    args = (a["wh"], a["bx"], a["bh"], a["h0"])
    if cell == "lstm":
        cs = np.zeros((T_ + 1, B, H), dtype)
        lstm_forward(hs, cs, acts, *scratch, *args, a["c0"])
        return hs[1:], hs[T_], cs[T_], dict(hs=hs, cs=cs, acts=acts)
    if cell == "gru":
        hn = np.zeros((T_, B, H), dtype)
        gru_forward(hs, acts, hn, *scratch, *args)
        return hs[1:], hs[T_], None, dict(hs=hs, acts=acts, hn=hn)
    rnn_forward(hs, acts, *scratch, *args)
    return hs[1:], hs[T_], None, dict(hs=hs, acts=acts)


def backward(cell, a, saved, dhs, dhT, dcT, lstm_kernel=lstm_backward):
    """Return the gradients of sum(outputs * dhs) + sum(hT * dhT) (+ sum(cT * dcT)), with
    `lstm_kernel` as the LSTM's backward."""
    dtype, G, T_ = a["x"].dtype, GATES[cell], a["x"].shape[0]
    g = {k: np.zeros_like(a[k]) for k in ("x", "wx", "wh", "bx", "bh", "h0", "c0")}
    dacts = np.zeros((T_, B, G * H), dtype)
    n_in = a["x"].shape[2]
    size = max(packed_size(B, H, G * H, dtype), scratch_size(G * H, H, T_ * B, dtype),
               scratch_size(G * H, n_in, T_ * B, dtype), scratch_size(T_ * B, n_in, G * H, dtype))
    scratch = (np.zeros(size, dtype),)
    outs = (g["wh"], g["bx"], g["bh"], g["h0"])
    ins = (a["wh"], saved["hs"])
    if cell == "lstm":
        lstm_kernel(*outs, g["c0"], dacts, *scratch, dhs, dhT, dcT, *ins, saved["cs"], saved["acts"])
    elif cell == "gru":
        gru_backward(*outs, dacts, np.zeros_like(dacts), np.zeros((B, H), dtype), *scratch, dhs, dhT, *ins,
                     saved["acts"], saved["hn"])
    else:
        rnn_backward(*outs, dacts, *scratch, dhs, dhT, *ins)
    input_backward(g["x"], g["wx"], dacts, a["x"], a["wx"], scratch[0])
    if cell != "lstm":
        del g["c0"]
    return g


def reference(cell, a):
    args = (a["x"], a["wx"], a["wh"], a["bx"], a["bh"], a["h0"])
    if cell == "lstm":
        return naive.lstm_forward(*args, a["c0"])
    out, h = getattr(naive, f"{cell}_forward")(*args)
    return out, h, None


@pytest.mark.parametrize("cell", CELLS)
def test_forward_matches_naive_reference_float64(cell):
    a = make_inputs(cell, np.float64)
    out, h, c, _ = forward(cell, a)
    ref_out, ref_h, ref_c = reference(cell, a)
    np.testing.assert_allclose(out, ref_out, rtol=0, atol=1e-13)
    np.testing.assert_allclose(h, ref_h, rtol=0, atol=1e-13)
    if cell == "lstm":
        np.testing.assert_allclose(c, ref_c, rtol=0, atol=1e-13)


@pytest.mark.parametrize("cell", CELLS)
def test_forward_matches_naive_reference_float32(cell):
    """float32 uses the rational tanh; it must stay within float32 noise of the exact model."""
    a = make_inputs(cell, np.float32)
    out, _, _, _ = forward(cell, a)
    ref_out, _, _ = reference(cell, {k: v.astype(np.float64) for k, v in a.items()})
    assert out.dtype == np.float32
    np.testing.assert_allclose(out, ref_out, rtol=0, atol=5e-6)


@pytest.mark.parametrize("cell", CELLS)
def test_step_matches_window_forward(cell):
    a = make_inputs(cell, np.float64)
    out, h_final, c_final, _ = forward(cell, a)
    h, c = a["h0"].copy(), a["c0"].copy()
    for t in range(T):
        gx = a["x"][t] @ a["wx"].T + a["bx"]
        gh = h @ a["wh"].T + a["bh"]
        if cell == "lstm":
            lstm_step(h, c, gx, gh)
        elif cell == "gru":
            gru_step(h, gx, gh)
        else:
            rnn_step(h, gx, gh)
        np.testing.assert_allclose(h, out[t], rtol=0, atol=1e-14)
    if cell == "lstm":
        np.testing.assert_allclose(c, c_final, rtol=0, atol=1e-14)


@pytest.mark.parametrize("cell", CELLS)
def test_backward_matches_finite_differences(cell):
    """Every input of the window API: x, weights, biases, h0 (and c0), with random upstream
    gradients on every output and on the final state."""
    a = make_inputs(cell, np.float64, seed=1)
    rng = np.random.default_rng(2)
    dhs, dhT, dcT = rng.standard_normal((T, B, H)), rng.standard_normal((B, H)), rng.standard_normal((B, H))

    def objective():
        out, h, c, _ = forward(cell, a)
        total = np.sum(out * dhs) + np.sum(h * dhT)
        return total + (np.sum(c * dcT) if cell == "lstm" else 0.0)

    _, _, _, saved = forward(cell, a)
    analytic = backward(cell, a, saved, dhs, dhT, dcT)
    for name, grad in analytic.items():
        numeric = numeric_gradient(objective, a[name])
        assert relative_error(grad, numeric) < 1e-6, name


def broken_lstm_backward():
    """lstm_backward compiled from its own source with the output gate's sigmoid derivative
    dropped (da_o = dh * tanh(c) * o, not dh * tanh(c) * o * (1 - o)): the mistake a
    hand-written backward can make."""
    import inspect

    import numba

    from charrnn.kernels import jit, lstm

    source = inspect.getsource(lstm.lstm_backward.py_func)
    right = "da_o[j] = dh[j] * tc * o[j] * (1 - o[j])"
    assert source.count(right) == 1
    namespace = dict(vars(lstm))
    exec(source.replace(right, "da_o[j] = dh[j] * tc * o[j]").replace("@kernel\n", ""), namespace)  # noqa: S102
    return numba.njit(fastmath=jit.FASTMATH, error_model="numpy")(namespace["lstm_backward"])


def test_gradient_check_fails_on_a_broken_backward():
    """The check above can fail: with a wrong gate derivative in the kernel itself, every
    gradient that flows through the output gate is off, far beyond the threshold."""
    a = make_inputs("lstm", np.float64, seed=1)
    rng = np.random.default_rng(2)
    dhs = rng.standard_normal((T, B, H))
    zero = np.zeros((B, H))
    _, _, _, saved = forward("lstm", a)
    right = backward("lstm", a, saved, dhs, zero, zero)
    wrong = backward("lstm", a, saved, dhs, zero, zero, lstm_kernel=broken_lstm_backward())
    for name in ("wh", "bx", "x", "h0"):
        numeric = numeric_gradient(lambda: np.sum(forward("lstm", a)[0] * dhs), a[name])
        assert relative_error(right[name], numeric) < 1e-6, name
        assert relative_error(wrong[name], numeric) > 1e-2, name


@pytest.mark.parametrize("cell", CELLS)
def test_chunked_run_equals_whole_run_exactly(cell):
    """Truncated BPTT's state carry: T steps at once equal the same steps in chunks of 4, 3, 5."""
    a = make_inputs(cell, np.float64, T=12)
    whole_out, whole_h, whole_c, _ = forward(cell, a)
    h, c, outs, start = a["h0"], a["c0"], [], 0
    for size in (4, 3, 5):
        chunk = dict(a, x=np.ascontiguousarray(a["x"][start:start + size]), h0=h.copy(), c0=c.copy())
        out, h, c_new, _ = forward(cell, chunk)
        c = c_new if c_new is not None else c
        outs.append(out.copy())
        start += size
    np.testing.assert_array_equal(np.concatenate(outs), whole_out)
    np.testing.assert_array_equal(h, whole_h)
    if cell == "lstm":
        np.testing.assert_array_equal(c, whole_c)


@pytest.mark.parametrize("cell,hidden", [("rnn", 300), ("lstm", 190), ("gru", 222)])
def test_large_hidden_sizes_match_directional_derivatives(cell, hidden):
    """Hidden sizes whose products span many weight panels and end in partial tiles. Too big
    for a full finite-difference check, so each input gets a directional one: <gradient, d>
    against the derivative of the objective along a random direction d."""
    global H
    saved_H, H = H, hidden
    try:
        a = make_inputs(cell, np.float64, seed=3)
        a["wh"] *= 2.0 / np.sqrt(hidden)
        rng = np.random.default_rng(4)
        dhs, dhT, dcT = rng.standard_normal((T, B, H)), rng.standard_normal((B, H)), rng.standard_normal((B, H))

        def objective():
            out, h, c, _ = forward(cell, a)
            return np.sum(out * dhs) + np.sum(h * dhT) + (np.sum(c * dcT) if cell == "lstm" else 0.0)

        _, _, _, saved = forward(cell, a)
        analytic = backward(cell, a, saved, dhs, dhT, dcT)
        ref_out, ref_h, _ = reference(cell, a)
        np.testing.assert_allclose(forward(cell, a)[0], ref_out, rtol=0, atol=1e-12)
        for name, grad in analytic.items():
            direction = rng.standard_normal(grad.shape)
            base = a[name].copy()
            along = lambda s: (a[name].__setitem__(..., base + s * direction), objective())[1]  # noqa: E731
            step = 1e-4  # the direction is long (|d| ~ H), so the step is short
            numeric = (-along(2 * step) + 8 * along(step) - 8 * along(-step) + along(-2 * step)) / (12 * step)
            a[name][...] = base
            assert relative_error(np.sum(grad * direction), numeric) < 1e-7, name
    finally:
        H = saved_H
