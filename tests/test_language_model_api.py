"""What a notebook user of a language model looks for: one string per sample, pieces that say
which sample they belong to, the next-character distribution, per-character log-probabilities,
encode and decode; and a prime with characters the model lacks says what to do."""

import math

import numpy as np
import pytest
from click.testing import CliRunner

import charrnn
from charrnn.cli import cli
from support import write_plays

TINY = dict(hidden=16, layers=1, batch=4, seq=16, eval_every=10, threads=1, steps=10, seed=4, progress=False)
PRIME = "LADY"


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    folder = tmp_path_factory.mktemp("api")
    corpus = write_plays(folder / "plays.txt", 30_000)
    return charrnn.load(charrnn.train(corpus, **TINY, out=str(folder / "run")).best, threads=1)


def test_complete_gives_one_string_per_sample(model):
    one = model.complete(PRIME, 60, seed=3)
    assert isinstance(one, str) and one.startswith(PRIME) and len(one) == len(PRIME) + 60
    three = model.complete(PRIME, 60, num_samples=3, seed=3)
    assert isinstance(three, list) and len(three) == 3 and len(set(three)) == 3
    assert three[0] == one  # sample i is the same whatever the number of samples
    assert model.complete(PRIME, 60, num_samples=1, seed=3) == [one]
    assert all(s.startswith(PRIME) and len(s) == len(PRIME) + 60 for s in three)
    bare = model.complete(PRIME, 60, num_samples=3, seed=3, echo_prime=False)
    assert bare == [s[len(PRIME):] for s in three]


def test_generate_says_which_sample_a_piece_belongs_to(model):
    pieces = list(model.generate(PRIME, 100, num_samples=3, seed=5))
    assert all(isinstance(sample, int) and isinstance(text, str) for sample, text in pieces)
    numbers = [sample for sample, _ in pieces]
    assert pieces[0] == (0, PRIME) and numbers == sorted(numbers) and set(numbers) == {0, 1, 2}  # in order
    by_sample = ["".join(text for sample, text in pieces if sample == i) for i in range(3)]
    assert all(text.startswith(PRIME) for text in by_sample) and len(set(by_sample)) == 3
    assert by_sample == model.complete(PRIME, 100, num_samples=3, seed=5)
    assert all(isinstance(piece, str) for piece in model.generate(PRIME, 20, seed=5))  # one sample: str pieces


def test_each_sample_stops_at_its_own_stop(model):
    full = model.complete(PRIME, 200, num_samples=3, seed=4, echo_prime=False)
    stopped = model.complete(PRIME, 200, num_samples=3, seed=4, echo_prime=False, stop="e")
    assert stopped == [f[:f.index("e") + 1] for f in full]


def test_next_char_distribution(model):
    dist = model.next_char_distribution("ROMEO:")
    assert list(dist) == sorted(dist, key=dist.get, reverse=True)  # most likely first
    assert set(dist) == set(model.vocab.chars)
    assert sum(dist.values()) == pytest.approx(1.0, abs=1e-6) and all(p > 0 for p in dist.values())
    text = "ROMEO: good"
    for cut in (3, 7, len(text) - 1):
        after = model.next_char_distribution(text[:cut])
        assert math.log(after[text[cut]]) == pytest.approx(model.log_probs(text)[cut - 1], abs=1e-5)
    start = model.next_char_distribution("")  # where generation starts without a prime: after a newline
    assert start == pytest.approx(model.next_char_distribution("\n"))


def test_log_probs_of_a_text(model):
    text = "ROMEO: good morrow to you, sir.\n" * 30  # more than one window
    log_probs = model.log_probs(text)
    assert log_probs.shape == (len(text) - 1,) and (log_probs < 0).all()
    score = model.score(text)
    assert -log_probs.sum() == pytest.approx(score["nats_per_char"] * score["chars"], rel=1e-5)
    assert model.log_probs("R").shape == (0,)


def test_encode_and_decode(model):
    ids = model.encode("ROMEO: good")
    assert isinstance(ids, list) and all(isinstance(i, int) for i in ids)
    assert [model.vocab.chars[i] for i in ids] == list("ROMEO: good")
    assert model.decode(ids) == "ROMEO: good"
    assert model.decode(np.array(ids)) == "ROMEO: good" and model.decode([]) == ""


@pytest.mark.parametrize("call, name", [
    (lambda m: m.decode([0, 10_000]), "ids"),
    (lambda m: m.decode([-1]), "ids"),
    (lambda m: m.decode(["a"]), "ids"),
    (lambda m: m.decode(5), "ids"),
    (lambda m: m.encode(b"bytes"), "text"),
    (lambda m: m.encode(None), "text"),
    (lambda m: m.next_char_distribution(3), "text"),
    (lambda m: m.log_probs(["a"]), "text"),
    (lambda m: m.complete(PRIME, 5, num_samples=0), "num_samples"),
    (lambda m: list(m.generate(PRIME, 5, num_samples="2")), "num_samples"),
])
def test_wrong_arguments_are_config_errors_naming_them(model, call, name):
    with pytest.raises(charrnn.ConfigError) as caught:
        call(model)
    assert name in caught.value.options


def test_characters_the_model_lacks_say_what_to_do(model):
    for call in (lambda: model.encode("π r"), lambda: model.log_probs("π r"), lambda: model.complete("π r", 5)):
        with pytest.raises(charrnn.InputError, match=r"'π' \(U\+03C0\).*leave them out") as caught:
            call()
        assert "min_count" in str(caught.value)
    result = CliRunner().invoke(cli, ["sample", str(model.path), "--prime", "π r", "-n", "5"], prog_name="charrnn")
    assert result.exit_code == 3 and "--min-count" in result.stderr and len(result.stderr.splitlines()) == 1
