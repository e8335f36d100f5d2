"""The whole model: loss against the naive reference, every gradient (embedding, each layer,
head, initial states) against finite differences, and state carry across windows."""

import numpy as np
import pytest

import naive
from gradcheck import numeric_gradient, relative_error
from charrnn.model.config import ModelConfig
from charrnn.model.network import Model

V, E, H, T, B = 7, 5, 6, 4, 3


@pytest.fixture(params=["table", "embedding"])
def input_route(request, monkeypatch):
    """Layer 0's input through the per-character table (V <= T*B, as here) or through the
    embedding rows and a GEMM (forced): both must give the model's exact function."""
    if request.param == "embedding":
        monkeypatch.setattr(Model, "_input_table", lambda self, T, B, noise: None)
    return request.param


def make_model(cell, layers, dtype=np.float64, seed=0, **noise):
    model = Model(ModelConfig(cell=cell, vocab_size=V, hidden=H, layers=layers, embed=E, **noise), dtype)
    model.init_weights(np.random.default_rng(seed))
    return model


def make_data(model, seed=1, T=T):
    rng = np.random.default_rng(seed)
    x = rng.integers(0, V, (T, B)).astype(np.int32)
    y = rng.integers(0, V, (T, B)).astype(np.int32)
    state = rng.uniform(-0.5, 0.5, model.zero_state(B).shape).astype(model.dtype)
    return x, y, state


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
@pytest.mark.parametrize("layers", [1, 2])
def test_loss_matches_naive_reference(cell, layers, input_route):
    model = make_model(cell, layers)
    x, y, state = make_data(model)
    expected = naive.model_loss(model.params, cell, layers, x, y, state)
    assert model.loss(x, y, state.copy()) == pytest.approx(expected, rel=1e-12)
    assert model.loss_and_grad(x, y, state.copy()) == pytest.approx(expected / (T * B), rel=1e-12)


REGULARISED = [dict(), dict(dropout=0.3), dict(locked_dropout=0.3), dict(embed_dropout=0.3),
               dict(weight_drop=0.3), dict(dropout=0.2, locked_dropout=0.2, embed_dropout=0.2, weight_drop=0.2)]


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
@pytest.mark.parametrize("layers,noise", [(1, {}), *((2, n) for n in REGULARISED)],
                         ids=lambda v: ",".join(f"{k}={x}" for k, x in v.items()) if isinstance(v, dict) else str(v))
def test_gradients_match_finite_differences(cell, layers, noise, input_route):
    """Every parameter and the initial state, with each regulariser and all of them at once:
    each evaluation draws the same masks (the same generator state), so the loss is a fixed
    function of the parameters, whose gradient must be exact."""
    model = make_model(cell, layers, **noise)
    x, y, state = make_data(model)

    def loss():
        rng = np.random.default_rng(7) if noise else None
        return model.loss_and_grad(x, y, state.copy(), dropout_rng=rng)

    dstate = np.zeros_like(state)
    rng = np.random.default_rng(7) if noise else None
    model.loss_and_grad(x, y, state.copy(), dropout_rng=rng, dstate=dstate)
    analytic = {name: g.copy() for name, g in model.grads.items()}
    numeric_flat = numeric_gradient(loss, model.flat)
    numeric = {name: numeric_flat[view_offset(model, name)].reshape(g.shape) for name, g in analytic.items()}
    errors = {name: relative_error(analytic[name], numeric[name]) for name in analytic}
    errors["state"] = relative_error(dstate, numeric_gradient(loss, state))
    assert max(errors.values()) < 1e-6, errors
    assert set(errors) == set(model.shapes) | {"state"}


def view_offset(model, name):
    start = model.params[name].__array_interface__["data"][0] - model.flat.__array_interface__["data"][0]
    start //= model.dtype.itemsize
    return slice(start, start + model.params[name].size)


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
def test_state_carry_across_windows_equals_one_window(cell, input_route):
    model = make_model(cell, 2)
    x, y, state = make_data(model, T=12)
    whole_state = state.copy()
    whole = model.loss(x, y, whole_state)
    chunk_state, chunks = state.copy(), 0.0
    for start, size in ((0, 5), (5, 3), (8, 4)):
        chunks += model.loss(np.ascontiguousarray(x[start:start + size]),
                             np.ascontiguousarray(y[start:start + size]), chunk_state)
    np.testing.assert_array_equal(chunk_state, whole_state)
    assert chunks == pytest.approx(whole, rel=1e-13)


def test_initialisation_follows_pytorch():
    """N(0, 1) embedding; every other parameter U(+-1/sqrt(H)), LSTM forget gates included."""
    model = Model(ModelConfig(cell="lstm", vocab_size=200, hidden=64, layers=2, embed=E), np.float64)
    model.init_weights(np.random.default_rng(0))
    bound = 1 / np.sqrt(64)
    for name, view in model.params.items():
        if name == "embed":
            assert abs(view.mean()) < 0.3 and 0.7 < view.std() < 1.3
        else:
            assert np.abs(view).max() <= bound and np.abs(view).max() > 0.9 * bound, name
            assert abs(view.std() - bound / np.sqrt(3)) < 0.2 * bound, name


def test_same_seed_same_weights_and_float32_kernels_compile():
    a, b = make_model("gru", 2, dtype=np.float32, seed=3), make_model("gru", 2, dtype=np.float32, seed=3)
    np.testing.assert_array_equal(a.flat, b.flat)
    x, y, state = make_data(a)
    loss = a.loss_and_grad(x, y, state)
    assert np.isfinite(loss) and a.grad_flat.dtype == np.float32 and np.any(a.grad_flat != 0)


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_batch_shards_on_threads_give_the_same_window(cell, input_route):
    """Two threads split the batch; loss, gradients, final and initial-state gradients
    equal the one-thread run up to float64 rounding (the gradient sum changes order)."""
    one, two = make_model(cell, 2, dropout=0.3), make_model(cell, 2, dropout=0.3)
    two.threads = 2
    x, y, state = make_data(one, T=6)
    results = []
    for model in (one, two):
        st, ds = state.copy(), np.zeros_like(state)
        loss = model.loss_and_grad(x, y, st, dropout_rng=np.random.default_rng(5), dstate=ds)
        results.append((loss, model.grad_flat.copy(), st, ds, model.loss(x, y, state.copy())))
    for a, b in zip(*results):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-15)
