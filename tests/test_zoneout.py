"""Zoneout (Krueger et al., 2016): the cell kernels with the kept fractions of h (and c)
against a naive reference and finite differences, the model's gradients with zoneout alone
and with every other regulariser, masks drawn in training and the expectation everywhere
else (scoring, one step, generation), the options, checkpoints, resume, export."""

import json

import numpy as np
import pytest

import naive
from gradcheck import numeric_gradient, relative_error
from test_cells import B, H, T, backward, forward, make_inputs
from test_model import make_data, make_model, view_offset
from charrnn.model.config import ModelConfig
from charrnn.errors import ConfigError
from charrnn.kernels import gru as gru_kernels
from charrnn.kernels import lstm as lstm_kernels
from charrnn.model.network import Model
from charrnn.model.noise import Noise

ZONED = ("lstm", "gru")


# ---- a naive reference, one step and one formula at a time ----------------------------------------

def naive_lstm(x, wx, wh, bx, bh, h0, c0, keep_h, keep_c):
    """The paper's LSTM zoneout: c_t = kc c_{t-1} + (1 - kc) c~, h_t = kh h_{t-1} + (1 - kh) o tanh(c~)."""
    h, c, out = h0.copy(), c0.copy(), []
    for t, xt in enumerate(x):
        step_out, _, c_new = naive.lstm_forward(xt[None], wx, wh, bx, bh, h, c)
        h_new = step_out[0]
        c = keep_c[t] * c + (1 - keep_c[t]) * c_new
        h = keep_h[t] * h + (1 - keep_h[t]) * h_new
        out.append(h)
    return np.stack(out), h, c


def naive_gru(x, wx, wh, bx, bh, h0, keep_h):
    h, out = h0.copy(), []
    for t, xt in enumerate(x):
        _, h_new = naive.gru_forward(xt[None], wx, wh, bx, bh, h)
        h = keep_h[t] * h + (1 - keep_h[t]) * h_new
        out.append(h)
    return np.stack(out), h


def keeps(cell, kind, dtype=np.float64, seed=5, T=T):
    """What the kernels take: masks of 0 and 1 (training) or fractions (evaluation), for h and
    (the LSTM's) c."""
    rng = np.random.default_rng(seed)
    n = 2 if cell == "lstm" else 1
    if kind == "masks":
        return tuple((rng.random((T, B, H)) < 0.4).astype(dtype) for _ in range(n))
    return tuple(np.full((T, B, H), rate, dtype) for rate in (0.3, 0.15)[:n])


def zoned_forward(cell, a, keep):
    """forward() of test_cells with the kept fractions `keep` handed to the cell kernel."""
    original = {"lstm": lstm_kernels.lstm_forward, "gru": gru_kernels.gru_forward}[cell]
    import test_cells

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(test_cells, f"{cell}_forward", lambda *args: original(*args, *keep))
        return forward(cell, a)


def zoned_backward(cell, a, saved, dhs, dhT, dcT, keep):
    import test_cells

    original = {"lstm": lstm_kernels.lstm_backward, "gru": gru_kernels.gru_backward}[cell]
    if cell == "lstm":
        return backward(cell, a, saved, dhs, dhT, dcT, lstm_kernel=lambda *args: original(*args, *keep))
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(test_cells, "gru_backward", lambda *args: original(*args, *keep))
        return backward(cell, a, saved, dhs, dhT, dcT)


# ---- the kernels ----------------------------------------------------------------------------------

@pytest.mark.parametrize("kind", ["masks", "rates"])
@pytest.mark.parametrize("cell", ZONED)
def test_forward_with_zoneout_matches_the_naive_reference(cell, kind):
    a, keep = make_inputs(cell, np.float64), keeps(cell, kind)
    out, h, c, _ = zoned_forward(cell, a, keep)
    args = (a["x"], a["wx"], a["wh"], a["bx"], a["bh"], a["h0"])
    if cell == "lstm":
        ref_out, ref_h, ref_c = naive_lstm(*args, a["c0"], *keep)
        np.testing.assert_allclose(c, ref_c, rtol=0, atol=1e-13)
    else:
        ref_out, ref_h = naive_gru(*args, *keep)
    np.testing.assert_allclose(out, ref_out, rtol=0, atol=1e-13)
    np.testing.assert_allclose(h, ref_h, rtol=0, atol=1e-13)
    plain_out = forward(cell, a)[0]
    assert np.abs(out - plain_out).max() > 1e-3  # zoneout changed what the cell computes


@pytest.mark.parametrize("cell", ZONED)
def test_zoneout_of_nothing_is_the_plain_cell_exactly(cell):
    a = make_inputs(cell, np.float32)
    nothing = tuple(np.zeros((T, B, H), np.float32) for _ in keeps(cell, "rates"))
    for zoned, plain in zip(zoned_forward(cell, a, nothing)[:3], forward(cell, a)[:3]):
        if plain is not None:
            np.testing.assert_array_equal(zoned, plain)


@pytest.mark.parametrize("kind", ["masks", "rates"])
@pytest.mark.parametrize("cell", ZONED)
def test_backward_with_zoneout_matches_finite_differences(cell, kind):
    a, keep = make_inputs(cell, np.float64, seed=1), keeps(cell, kind)
    rng = np.random.default_rng(2)
    dhs, dhT, dcT = rng.standard_normal((T, B, H)), rng.standard_normal((B, H)), rng.standard_normal((B, H))

    def objective():
        out, h, c, _ = zoned_forward(cell, a, keep)
        return np.sum(out * dhs) + np.sum(h * dhT) + (np.sum(c * dcT) if cell == "lstm" else 0.0)

    _, _, _, saved = zoned_forward(cell, a, keep)
    analytic = zoned_backward(cell, a, saved, dhs, dhT, dcT, keep)
    plain = backward(cell, a, forward(cell, a)[3], dhs, dhT, dcT)
    for name, grad in analytic.items():
        numeric = numeric_gradient(objective, a[name])
        assert relative_error(grad, numeric) < 1e-6, name
        assert relative_error(plain[name], numeric) > 1e-3, name  # the check sees zoneout's gradient


@pytest.mark.parametrize("cell", ZONED)
def test_one_step_with_the_rates_is_the_window_with_the_expectation(cell):
    """Generation's step (the rates as scalars) runs what scoring runs (the rates as arrays)."""
    a, keep = make_inputs(cell, np.float64), keeps(cell, "rates")
    out, _, c_final, _ = zoned_forward(cell, a, keep)
    rates = [k[0, 0, 0] for k in keep]
    h, c = a["h0"].copy(), a["c0"].copy()
    for t in range(T):
        gx = a["x"][t] @ a["wx"].T + a["bx"]
        gh = h @ a["wh"].T + a["bh"]
        if cell == "lstm":
            lstm_kernels.lstm_step(h, c, gx, gh, *rates)
        else:
            gru_kernels.gru_step(h, gx, gh, *rates)
        np.testing.assert_allclose(h, out[t], rtol=0, atol=1e-14)
    if cell == "lstm":
        np.testing.assert_allclose(c, c_final, rtol=0, atol=1e-14)


# ---- the model ------------------------------------------------------------------------------------

ZONEOUTS = {"lstm": [dict(zoneout_cell=0.3), dict(zoneout_hidden=0.3), dict(zoneout_cell=0.2, zoneout_hidden=0.3)],
            "gru": [dict(zoneout_hidden=0.3)]}
EVERYTHING = dict(dropout=0.2, locked_dropout=0.2, embed_dropout=0.2, weight_drop=0.2)


@pytest.mark.parametrize("cell,noise", [(cell, dict(z, **others)) for cell, zs in ZONEOUTS.items() for z in zs
                                        for others in ({}, EVERYTHING)],
                         ids=lambda v: ",".join(f"{k}={x}" for k, x in v.items()) if isinstance(v, dict) else v)
def test_model_gradients_with_zoneout_match_finite_differences(cell, noise):
    """With zoneout alone and with every other regulariser: each evaluation draws the same
    masks, so the loss is a fixed function of the parameters and the initial state."""
    model = make_model(cell, 2, **noise)
    x, y, state = make_data(model)

    def loss():
        return model.loss_and_grad(x, y, state.copy(), dropout_rng=np.random.default_rng(7))

    dstate = np.zeros_like(state)
    model.loss_and_grad(x, y, state.copy(), dropout_rng=np.random.default_rng(7), dstate=dstate)
    analytic = {name: g.copy() for name, g in model.grads.items()}
    numeric_flat = numeric_gradient(loss, model.flat)
    errors = {name: relative_error(g, numeric_flat[view_offset(model, name)].reshape(g.shape))
              for name, g in analytic.items()}
    errors["state"] = relative_error(dstate, numeric_gradient(loss, state))
    assert max(errors.values()) < 1e-6, errors


@pytest.mark.parametrize("cell", ZONED)
def test_scoring_runs_the_expectation(cell):
    """Without masks (scoring, validation) each unit keeps the rate's fraction of its state."""
    zoneout = dict(zoneout_hidden=0.3, zoneout_cell=0.2 if cell == "lstm" else 0.0)
    model = make_model(cell, 1, **zoneout)
    x, y, state = make_data(model)
    p = model.params
    args = (p["embed"][x], p["layer0.wx"], p["layer0.wh"], p["layer0.bx"], p["layer0.bh"], state[0, 0])
    kh = np.full((T, B, H), zoneout["zoneout_hidden"])
    if cell == "lstm":
        out, _, _ = naive_lstm(*args, state[0, 1], kh, np.full((T, B, H), zoneout["zoneout_cell"]))
    else:
        out, _ = naive_gru(*args, kh)
    logits = out @ p["head.w"].T + p["head.b"]
    logp = logits - np.log(np.exp(logits).sum(axis=-1, keepdims=True))
    expected = -np.take_along_axis(logp, y[..., None], axis=-1).sum()
    assert model.loss(x, y, state.copy()) == pytest.approx(expected, rel=1e-12)
    assert make_model(cell, 1).loss(x, y, state.copy()) != pytest.approx(expected, rel=1e-3)


def test_masks_keep_units_at_the_rates_drawn_after_the_other_regularisers():
    cfg = ModelConfig(cell="lstm", vocab_size=5, hidden=64, layers=2, dropout=0.1, zoneout_cell=0.1,
                      zoneout_hidden=0.4)
    noise = Noise.allocate(cfg, 50, 8, np.float32)
    rng = np.random.default_rng(0)
    noise.draw(cfg, rng, {})
    for h_mask, c_mask in noise.zoneout:
        assert set(np.unique(h_mask)) == {0.0, 1.0} and set(np.unique(c_mask)) == {0.0, 1.0}
        assert abs(h_mask.mean() - 0.4) < 0.02 and abs(c_mask.mean() - 0.1) < 0.02
        assert (h_mask[0] != h_mask[1]).any()  # a new mask at every step
    # the dropout masks come first, so a run without zoneout keeps its random stream
    plain = ModelConfig(cell="lstm", vocab_size=5, hidden=64, layers=2, dropout=0.1)
    plain_noise = Noise.allocate(plain, 50, 8, np.float32)
    plain_noise.draw(plain, np.random.default_rng(0), {})
    for zoned, unzoned in zip(noise.layers, plain_noise.layers):
        np.testing.assert_array_equal(zoned, unzoned)
    gru = ModelConfig(cell="gru", vocab_size=5, hidden=64, zoneout_hidden=0.2)
    gru_noise = Noise.allocate(gru, 50, 8, np.float32)
    gru_noise.draw(gru, np.random.default_rng(0), {})
    assert len(gru_noise.zoneout[0]) == 1 and abs(gru_noise.zoneout[0][0].mean() - 0.2) < 0.02


@pytest.mark.parametrize("cell", ZONED)
def test_batch_shards_on_threads_give_the_same_window_with_zoneout(cell):
    one, two = (make_model(cell, 2, zoneout_hidden=0.3, dropout=0.1) for _ in range(2))
    two.threads = 2
    x, y, state = make_data(one, T=6)
    results = []
    for model in (one, two):
        st, ds = state.copy(), np.zeros_like(state)
        loss = model.loss_and_grad(x, y, st, dropout_rng=np.random.default_rng(5), dstate=ds)
        results.append((loss, model.grad_flat.copy(), st, ds, model.loss(x, y, state.copy())))
    for a, b in zip(*results):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("cell", ZONED)
def test_generation_runs_the_expectation_as_scoring_does(cell):
    """The sampler's logits after a prime are Model.step's, which is the scored window's."""
    from charrnn.generate.sampler import Sampler

    zoneout = dict(zoneout_hidden=0.4, zoneout_cell=0.25 if cell == "lstm" else 0.0)
    model = Model(ModelConfig(cell=cell, vocab_size=9, hidden=16, layers=2, **zoneout), np.float32)
    model.init_weights(np.random.default_rng(1))
    ids = np.random.default_rng(2).integers(0, 9, 12)
    sampler = Sampler(model)
    sampler.feed(ids)
    state, logits = model.zero_state(1), np.zeros((1, 9), np.float32)
    for i in ids:
        model.step(np.array([i], np.int32), state, logits)
    np.testing.assert_allclose(sampler.logits, logits, rtol=0, atol=2e-5)
    plain = Model(ModelConfig(cell=cell, vocab_size=9, hidden=16, layers=2), np.float32)
    plain.flat[...] = model.flat
    plain_sampler = Sampler(plain)
    plain_sampler.feed(ids)
    assert np.abs(plain_sampler.logits - logits).max() > 1e-3


@pytest.mark.parametrize("cell", ZONED)
def test_zoneout_in_bf16_is_the_float32_model_within_bf16_rounding(cell):
    """The bf16 path runs the same cell kernels (with bf16 products): zoneout included."""
    from charrnn.kernels.gemm_bf16 import available_paths

    if not available_paths():
        pytest.skip("this CPU has no bf16 path (AMX or AVX512-BF16)")
    cfg = ModelConfig(cell=cell, vocab_size=9, hidden=32, layers=2, zoneout_hidden=0.3,
                      zoneout_cell=0.2 if cell == "lstm" else 0.0)
    fp32, bf16 = Model(cfg, np.float32), Model(cfg, np.float32, precision="bf16")
    fp32.init_weights(np.random.default_rng(0))
    bf16.flat[...] = fp32.flat
    rng = np.random.default_rng(1)
    x, y = (rng.integers(0, 9, (16, 4)).astype(np.int32) for _ in range(2))
    losses = [m.loss_and_grad(x, y, m.zero_state(4), dropout_rng=np.random.default_rng(3)) for m in (fp32, bf16)]
    assert losses[1] == pytest.approx(losses[0], rel=1e-2)
    cos = fp32.grad_flat @ bf16.grad_flat / np.linalg.norm(fp32.grad_flat) / np.linalg.norm(bf16.grad_flat)
    assert cos > 0.99
    plain = Model(ModelConfig(cell=cell, vocab_size=9, hidden=32, layers=2), np.float32, precision="bf16")
    plain.flat[...] = fp32.flat
    ends = [m.zero_state(4) for m in (fp32, bf16, plain)]
    for model, end in zip((fp32, bf16, plain), ends):
        model.loss(x, y, end)
    assert np.abs(ends[1] - ends[0]).max() < 0.02  # scoring runs the expectation in bf16 too
    assert np.abs(ends[2] - ends[0]).max() > 0.05


# ---- options, checkpoints, training ---------------------------------------------------------------

@pytest.mark.parametrize("options,message", [
    (dict(cell="rnn", zoneout_hidden=0.1), "zoneout_hidden is for the lstm and gru cells, not rnn"),
    (dict(cell="gru", zoneout_cell=0.1), "zoneout_cell is for the lstm's cell state; a gru has none"),
    (dict(cell="lstm", zoneout_cell=1.0), "zoneout_cell must be in [0, 1), got 1.0"),
    (dict(cell="lstm", zoneout_hidden=-0.1), "zoneout_hidden must be in [0, 1), got -0.1"),
    (dict(cell="lstm", zoneout_hidden="0.1"), "zoneout_hidden must be a finite number, got 0.1"),
])
def test_zoneout_options_out_of_range_are_config_errors(options, message):
    with pytest.raises(ConfigError) as info:
        ModelConfig(vocab_size=5, hidden=4, **options)
    assert str(info.value) == message


def test_a_model_config_without_zoneout_loads_with_none():
    old = dict(cell="lstm", vocab_size=5, hidden=4, layers=1, embed=4, dropout=0.1, locked_dropout=0.0,
               embed_dropout=0.0, weight_drop=0.0)
    cfg = ModelConfig.from_dict(old)
    assert (cfg.zoneout_cell, cfg.zoneout_hidden, cfg.zoneout) == (0.0, 0.0, False)
    zoned = ModelConfig.from_dict(dict(old, zoneout_cell=0.1, zoneout_hidden=0.05))
    assert (zoned.zoneout_cell, zoned.zoneout_hidden) == (0.1, 0.05)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    from support import write_plays

    return write_plays(tmp_path_factory.mktemp("zoneout") / "plays.txt", 20_000)


TINY = ["--hidden", "16", "--layers", "2", "--batch", "4", "--seq", "16", "--threads", "1", "--seed", "3"]


def test_training_with_zoneout_stores_it_resumes_exactly_and_scores_with_it(corpus, tmp_path):
    from charrnn.runs import checkpoint, model_file
    from test_cli import ok

    zoneout = ["--zoneout-cell", "0.15", "--zoneout-hidden", "0.05", "--dropout", "0.1"]
    straight, split = tmp_path / "straight", tmp_path / "split"
    ok("train", corpus, *TINY, *zoneout, "--steps", "12", "--eval-every", "4", "--out", straight)
    ok("train", corpus, *TINY, *zoneout, "--steps", "6", "--eval-every", "4", "--out", split)
    ok("train", "--resume", split, "--steps", "12")
    ends = [checkpoint.load(run / "latest.safetensors") for run in (straight, split)]
    assert ends[0].meta["model"]["zoneout_cell"] == 0.15 and ends[0].meta["model"]["zoneout_hidden"] == 0.05
    assert ends[0].meta["step"] == ends[1].meta["step"] == 12
    for name, tensor in ends[0].tensors.items():
        np.testing.assert_array_equal(ends[1].tensors[name], tensor, err_msg=name)
    # the masks made a difference: the same run without zoneout ends elsewhere
    plain = tmp_path / "plain"
    ok("train", corpus, *TINY, "--dropout", "0.1", "--steps", "12", "--eval-every", "4", "--out", plain)
    assert not np.array_equal(checkpoint.load(plain / "latest.safetensors").tensors["param/head.w"],
                              ends[0].tensors["param/head.w"])
    # eval scores the model with zoneout's expectation: what validation measured
    model = model_file.read_model(straight / "latest.safetensors")
    assert model.config.zoneout
    result = json.loads(ok("eval", straight / "latest.safetensors", corpus, "--json").stdout)
    assert np.isfinite(result["nats_per_char"])


def test_resume_cannot_change_zoneout(corpus, tmp_path):
    from test_cli import assert_one_line_error, invoke, ok

    run = tmp_path / "r"
    ok("train", corpus, *TINY, "--zoneout-hidden", "0.1", "--steps", "2", "--out", run)
    result = invoke("train", "--resume", run, "--zoneout-hidden", "0.2", "--steps", "4")
    assert_one_line_error(result, 2)
    assert "zoneout" in result.stderr


def test_export_refuses_a_model_with_zoneout_in_one_line(corpus, tmp_path):
    """torch.nn.LSTM cannot interpolate the state as zoneout's expectation does, so an export
    would score differently in PyTorch: refused, and nothing is written."""
    from test_cli import assert_one_line_error, invoke, ok

    run = tmp_path / "r"
    ok("train", corpus, *TINY, "--zoneout-cell", "0.1", "--steps", "2", "--out", run)
    out = tmp_path / "export.safetensors"
    result = invoke("checkpoints", "export", run, "-o", out)
    assert_one_line_error(result, 2)
    assert "zoneout" in result.stderr and "nn.LSTM" in result.stderr
    assert not out.exists()


# ---- the torch engine -----------------------------------------------------------------------------

@pytest.mark.torch
@pytest.mark.parametrize("cell", ZONED)
def test_the_torch_engine_runs_zoneout_as_charrnn_does(cell):
    """Its network (a step loop for a layer with zoneout) scores as charrnn's kernels do with
    the expectation, and draws new masks in training."""
    torch = pytest.importorskip("torch")
    from charrnn.training.torch_engine import _Network, _torch_names

    cfg = ModelConfig(cell=cell, vocab_size=9, hidden=16, layers=2, zoneout_hidden=0.3,
                      zoneout_cell=0.2 if cell == "lstm" else 0.0, weight_drop=0.2)
    model = Model(cfg, np.float32)
    model.init_weights(np.random.default_rng(0))
    net = _Network(cfg)
    with torch.no_grad():
        for name, (ours, view) in zip(_torch_names(cfg), model.params.items()):
            dict(net.named_parameters())[name].copy_(torch.from_numpy(view.copy()))
    rng = np.random.default_rng(1)
    x, y = (rng.integers(0, 9, (12, 3)).astype(np.int32) for _ in range(2))
    net.eval()
    with torch.no_grad():
        logits, end = net(torch.from_numpy(x).long(), None)
        theirs = torch.nn.functional.cross_entropy(logits.reshape(-1, 9).double(), torch.from_numpy(y).long()
                                                   .reshape(-1), reduction="sum").item()
    end = torch.stack(end, 1) if cell == "lstm" else end[:, None]
    state = model.zero_state(3)
    assert theirs == pytest.approx(model.loss(x, y, state), rel=1e-5)
    np.testing.assert_allclose(end.numpy(), state, rtol=0, atol=1e-5)
    plain = Model(ModelConfig(cell=cell, vocab_size=9, hidden=16, layers=2), np.float32)
    plain.flat[...] = model.flat
    plain_state = plain.zero_state(3)
    plain.loss(x, y, plain_state)
    assert np.abs(plain_state - state).max() > 1e-2
    net.train()
    first, second = (net(torch.from_numpy(x).long(), None)[0] for _ in range(2))
    assert not torch.equal(first, second)


@pytest.mark.torch
def test_the_torch_engine_trains_with_zoneout(corpus, tmp_path):
    pytest.importorskip("torch")
    import charrnn
    from charrnn.runs import model_file

    run = charrnn.train(corpus, hidden=16, layers=1, batch=8, seq=16, threads=1, seed=3, zoneout_cell=0.1,
                        zoneout_hidden=0.05, steps=30, eval_every=15, engine="torch", device="cpu",
                        out=str(tmp_path / "t"), progress=False)
    config = model_file.read_model(run.latest).config
    assert (config.zoneout_cell, config.zoneout_hidden) == (0.1, 0.05)
    first, last = (record["val_loss"] for record in (run.metrics[0], run.metrics[-1]))
    assert last < first
