"""Fused generation against the model's own step, and the sampling distribution's rules."""

import numpy as np
import pytest

from charrnn.model.config import ModelConfig
from charrnn.kernels.sampling import choose
from charrnn.model.network import Model
from charrnn.generate import sampler as sampler_module
from charrnn.generate.sampler import Sampler

V = 11


def make_model(cell, dtype=np.float64):
    model = Model(ModelConfig(cell=cell, vocab_size=V, hidden=8, layers=2, embed=5), dtype)
    model.init_weights(np.random.default_rng(0))
    return model


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
@pytest.mark.parametrize("projected", [True, False], ids=["projected-table", "embedding-rows"])
def test_greedy_generation_follows_the_models_own_steps(cell, projected, monkeypatch):
    """The generation kernels (transposed weights, layer 0 from a projected table or from the
    embedding) against the training forward run one step at a time."""
    if not projected:
        monkeypatch.setattr(sampler_module, "PROJECTED_TABLE_MAX", 0)
    model = make_model(cell)
    sampler = Sampler(model, batch=1)
    assert sampler.projected == projected
    sampler.feed([3, 1, 4])
    got = np.concatenate(list(sampler.generate(20, np.random.default_rng(0), temperature=0, chunk=7)))[:, 0]

    state, logits = model.zero_state(1), np.zeros((1, V))
    for char_id in (3, 1, 4):
        model.step(np.array([char_id]), state, logits)
    expected = []
    for _ in range(20):
        expected.append(int(np.argmax(logits[0])))
        model.step(np.array([expected[-1]]), state, logits)
    assert got.tolist() == expected
    np.testing.assert_allclose(sampler.state, state, rtol=0, atol=1e-13)


def test_same_seed_same_text_whatever_the_chunking():
    model = make_model("lstm", np.float32)
    runs = []
    for chunk in (1, 5, 64):
        sampler = Sampler(model, batch=2)
        sampler.feed([0])
        runs.append(np.concatenate(list(sampler.generate(40, np.random.default_rng(9), chunk=chunk))))
    np.testing.assert_array_equal(runs[0], runs[1])
    np.testing.assert_array_equal(runs[0], runs[2])
    assert len(set(runs[0][:, 0].tolist())) > 1


def draw(logits, n, temperature=1.0, top_k=0, top_p=1.0):
    rng = np.random.default_rng(1)
    order = np.zeros(len(logits), np.int64)
    counts = np.zeros(len(logits))
    for u in rng.random(n):
        counts[choose(logits.copy(), order, u, 1.0 / temperature, top_k, top_p)] += 1
    return counts / n


def test_choose_samples_the_softmax_distribution():
    logits = np.array([0.0, 1.0, 2.0, -1.0, 0.5])
    expected = np.exp(logits / 0.7) / np.exp(logits / 0.7).sum()
    freq = draw(logits, 40000, temperature=0.7)
    np.testing.assert_allclose(freq, expected, atol=0.01)


def test_top_k_and_top_p_restrict_the_support():
    logits = np.log(np.array([0.05, 0.4, 0.3, 0.15, 0.1]))
    freq = draw(logits, 20000, top_k=2)
    assert set(np.nonzero(freq)[0]) == {1, 2}
    np.testing.assert_allclose(freq[[1, 2]], [0.4 / 0.7, 0.3 / 0.7], atol=0.015)
    freq = draw(logits, 20000, top_p=0.8)  # 0.4 + 0.3 + 0.15 is the smallest set reaching 0.8
    assert set(np.nonzero(freq)[0]) == {1, 2, 3}


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
@pytest.mark.parametrize("threads", [2, 3])
@pytest.mark.parametrize("projected", [True, False], ids=["projected-table", "embedding-rows"])
def test_threads_split_each_character_and_give_the_same_text(cell, threads, projected, monkeypatch):
    """Each thread computes its slice of the units and of the logits; the ids, the final
    state and the last distribution equal one thread's (up to float64 rounding)."""
    if not projected:
        monkeypatch.setattr(sampler_module, "PROJECTED_TABLE_MAX", 0)
    model = make_model(cell)
    runs = []
    for n_threads in (1, threads):
        sampler = Sampler(model, batch=2, threads=n_threads)
        assert sampler.parts == n_threads and sampler.projected == projected
        sampler.feed([3, 1, 4])
        ids = np.concatenate(list(sampler.generate(30, np.random.default_rng(5), chunk=7)))
        runs.append((ids, sampler.state, sampler.logits.copy()))
    np.testing.assert_array_equal(runs[0][0], runs[1][0])
    np.testing.assert_allclose(runs[1][1], runs[0][1], rtol=0, atol=1e-13)
    np.testing.assert_allclose(runs[1][2], runs[0][2], rtol=0, atol=1e-13)
    assert len(set(runs[0][0].ravel().tolist())) > 2


def test_byte_generation_is_a_valid_utf8_prefix_whatever_the_weights():
    """Random weights over all 256 bytes, sampled hot: each stream's bytes are always a valid
    UTF-8 prefix (the last character may still be open), and every state can be finished."""
    import codecs

    from charrnn.generate.sampler import UTF8_NEXT, utf8_rules

    model = Model(ModelConfig(cell="gru", vocab_size=256, hidden=16, layers=1), np.float32)
    model.init_weights(np.random.default_rng(3))
    model.params["head.w"][...] *= 20  # sharp, arbitrary preferences, including for invalid bytes
    byte_values = np.arange(256)
    sampler = Sampler(model, batch=4, byte_values=byte_values)
    sampler.feed([0x41])
    out = np.concatenate(list(sampler.generate(4000, np.random.default_rng(0), temperature=3.0)))
    for stream in range(4):
        data = bytes(byte_values[out[:, stream]].astype(np.uint8))
        codecs.getincrementaldecoder("utf-8")("strict").decode(data, final=False)
    allowed, _ = utf8_rules(byte_values)
    assert not allowed[0, 0x80:0xC2].any() and not allowed[0, 0xF5:].any()  # no stray continuation, no 0xF5+
    assert allowed[4].nonzero()[0].tolist() == list(range(0xA0, 0xC0))  # after E0: no overlong form
    assert allowed[5].nonzero()[0].tolist() == list(range(0x80, 0xA0))  # after ED: no surrogate
    assert (UTF8_NEXT[7, 0x90:] == -1).all()  # after F4 8x: nothing above U+10FFFF


@pytest.mark.parametrize("weights", ["bf16", "int8"])
@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_stored_weights_give_the_logits_of_the_model_they_stand_for(weights, cell):
    """Generation from bf16 or int8 weights computes what the float32 model with those
    weights (generation_model, which eval --precision scores) computes, up to float32 sums;
    and it is a different model from the original, by about the rounding."""
    from charrnn.generate.sampler import generation_model

    model = make_model(cell, np.float32)
    rounded = generation_model(model, weights)
    sampler = Sampler(model, batch=1, weights=weights)
    prime = [3, 1, 4, 1, 5, 9, 2, 6]
    sampler.feed(prime)
    state, logits, exact = rounded.zero_state(1), np.zeros((1, V), np.float32), np.zeros((1, V), np.float32)
    state0 = model.zero_state(1)
    for char_id in prime:
        rounded.step(np.array([char_id]), state, logits)
        model.step(np.array([char_id]), state0, exact)
    np.testing.assert_allclose(sampler.logits, logits, rtol=0, atol=2e-5)
    assert 1e-6 < np.abs(logits - exact).max() < (0.05 if weights == "int8" else 0.02)
