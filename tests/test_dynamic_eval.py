"""Dynamic evaluation (`charrnn eval --dynamic`, `model.score(text, dynamic=True)`): a copy of
the model learns from the text as it scores it, each window scored before it is learned from;
the model and its checkpoint never change, and the score repeats exactly."""

import json

import numpy as np
import pytest

import charrnn
from charrnn.model.scoring import DYNAMIC_CHUNK, DYNAMIC_LR
from support import plays
from test_cli import assert_one_line_error, invoke, ok


@pytest.fixture(scope="module", params=[{}, dict(zoneout_cell=0.1, zoneout_hidden=0.1)],
                ids=["plain", "zoneout"])
def trained(request, tmp_path_factory):
    out = tmp_path_factory.mktemp("dynamic") / "run"
    run = charrnn.train(text=plays(30_000), hidden=32, layers=1, batch=8, seq=32, steps=60, threads=1, seed=1,
                        out=str(out), progress=False, **request.param)
    return run.latest


def repetitive(length=1_200, seed=0):
    """A stretch of 60 characters the model has never seen in that order, over and over."""
    rng = np.random.default_rng(seed)
    stretch = "".join(rng.choice(list("abcdefghijklmnopqrstuvwxyz ,.\n"), 60))
    return (stretch * (length // 60 + 1))[:length]


def test_dynamic_evaluation_learns_a_repetitive_text(trained):
    model = charrnn.load(trained)
    text = repetitive()
    static, dynamic = model.score(text), model.score(text, dynamic=True)
    assert dynamic["dynamic_lr"] == DYNAMIC_LR and static["dynamic_lr"] is None
    assert dynamic["chars"] == static["chars"] == len(text) - 1
    assert dynamic["nats_per_char"] < static["nats_per_char"] - 0.3


def test_the_first_window_scores_as_static_scoring_does(trained):
    """Nothing is learned before the first window is scored: a text of one window scores
    exactly as without dynamic evaluation (the windows after it do not)."""
    model = charrnn.load(trained)
    text = repetitive()
    window = text[:DYNAMIC_CHUNK + 1]
    assert model.score(window, dynamic=True)["nats_per_char"] == model.score(window)["nats_per_char"]
    longer = text[:2 * DYNAMIC_CHUNK + 1]
    assert model.score(longer, dynamic=True)["nats_per_char"] != model.score(longer)["nats_per_char"]


def test_dynamic_evaluation_repeats_exactly_and_leaves_the_model_alone(trained):
    model = charrnn.load(trained)
    text = repetitive(seed=1)
    static = model.score(text)
    first = model.score(text, dynamic=True, dynamic_lr=0.05)
    assert model.score(text, dynamic=True, dynamic_lr=0.05) == first
    assert charrnn.load(trained).score(text, dynamic=True, dynamic_lr=0.05) == first
    assert model.score(text) == static  # the model it adapted was a copy
    assert model.score(text, dynamic=True, dynamic_lr=0.2) != first


def test_files_read_in_chunks_score_as_the_whole_text(trained, tmp_path):
    model = charrnn.load(trained)
    text = repetitive(3_000, seed=2)
    path = tmp_path / "text.txt"
    path.write_text(text, encoding="utf-8")
    assert model.score_files([str(path)], dynamic=True) == model.score(text, dynamic=True)


def test_eval_dynamic_never_changes_the_checkpoint(trained, tmp_path):
    path = tmp_path / "text.txt"
    path.write_text(repetitive(), encoding="utf-8")
    before = trained.read_bytes()
    static = json.loads(ok("eval", trained, path, "--json").stdout)
    dynamic = json.loads(ok("eval", trained, path, "--dynamic", "--dynamic-lr", "0.05", "--json").stdout)
    assert trained.read_bytes() == before
    assert dynamic["dynamic_lr"] == 0.05 and dynamic["nats_per_char"] < static["nats_per_char"]
    assert dynamic == charrnn.load(trained).score(repetitive(), dynamic=True, dynamic_lr=0.05)
    text = ok("eval", trained, path, "--dynamic").stdout
    assert f"dynamic        SGD, learning rate {DYNAMIC_LR:g}" in text


@pytest.mark.parametrize("args,message", [
    (["--dynamic", "--dynamic-lr", "0"], "--dynamic-lr must be a positive number, got 0.0"),
    (["--dynamic", "--dynamic-lr", "nan"], "--dynamic-lr must be a positive number, got nan"),
    (["--dynamic-lr", "0.1"], "--dynamic-lr needs --dynamic"),
    (["--dynamic", "--precision", "bf16"], "--dynamic needs --precision fp32: it adapts the float32 weights"),
])
def test_bad_dynamic_options_are_one_line(trained, tmp_path, args, message):
    path = tmp_path / "text.txt"
    path.write_text(repetitive(), encoding="utf-8")
    result = invoke("eval", trained, path, *args)
    assert_one_line_error(result, 2)
    assert result.stderr == f"charrnn: {message}\n"


@pytest.mark.parametrize("options", [dict(dynamic="yes"), dict(dynamic=True, dynamic_lr="0.1"),
                                     dict(dynamic=True, dynamic_lr=-1.0), dict(dynamic_lr=0.1)])
def test_bad_dynamic_arguments_in_python_are_config_errors(trained, options):
    with pytest.raises(charrnn.ConfigError):
        charrnn.load(trained).score("abc abc", **options)
