"""The training loop: it learns, it repeats exactly, it resumes exactly, it refuses to train
through non-finite numbers, and its schedules do what they say."""

from pathlib import Path

import numpy as np
import pytest

from charrnn.config import ModelConfig, TrainConfig
from charrnn.corpus import read_text, split
from charrnn.errors import ConfigError, TrainingError
from charrnn.optim import learning_rate
from charrnn.train import Trainer
from charrnn.vocab import Vocab

SHAKESPEARE = Path(__file__).resolve().parents[2] / "shared" / "corpora" / "tinyshakespeare.txt"


@pytest.fixture(scope="module")
def data():
    text = read_text([str(SHAKESPEARE)])[:300_000]
    vocab = Vocab.from_text(text)
    return vocab, *split(vocab.encode(text), 0.1)


def make_trainer(data, cell="lstm", steps=40, threads=1, **train):
    vocab, train_ids, val_ids = data
    model_cfg = ModelConfig(cell=cell, vocab_size=len(vocab), hidden=32, layers=2, dropout=0.1)
    cfg = TrainConfig(batch=8, seq=32, steps=steps, eval_every=1000, **train)
    return Trainer.new(model_cfg, cfg, train_ids, val_ids, threads=threads)


def test_it_learns_tinyshakespeare(data):
    """A short run: the loss falls from ln(65) = 4.17 nats to well under 2.6 in 300 steps."""
    vocab, train_ids, val_ids = data
    model_cfg = ModelConfig(cell="lstm", vocab_size=len(vocab), hidden=64, layers=2)
    trainer = Trainer.new(model_cfg, TrainConfig(batch=16, seq=64, steps=300), train_ids, val_ids, threads=2)
    first = trainer.train_step().loss
    while not trainer.finished():
        trainer.train_step()
    val = trainer.evaluate()
    assert first > 4.0
    assert trainer.train_loss < 2.6 and val < 2.6


@pytest.mark.parametrize("threads", [1, 2])
def test_same_seed_same_weights(data, threads):
    a, b = make_trainer(data, threads=threads), make_trainer(data, threads=threads)
    for trainer in (a, b):
        while not trainer.finished():
            trainer.train_step()
    np.testing.assert_array_equal(a.model.flat, b.model.flat)
    assert not np.array_equal(a.model.flat, make_trainer(data, seed=1).model.flat)


@pytest.mark.parametrize("optimizer", ["adam", "rmsprop", "sgd"])
def test_snapshot_restore_continues_exactly(data, optimizer):
    straight = make_trainer(data, steps=30, optimizer=optimizer, lr=1e-2 if optimizer == "sgd" else 2e-3)
    while not straight.finished():
        straight.train_step()
    half = make_trainer(data, steps=30, optimizer=optimizer, lr=1e-2 if optimizer == "sgd" else 2e-3)
    for _ in range(13):
        half.train_step()
    tensors, meta = half.snapshot()
    tensors = {k: v.copy() for k, v in tensors.items()}
    _, train_ids, val_ids = data
    resumed = Trainer.restore(tensors, meta, train_ids, val_ids)
    while not resumed.finished():
        resumed.train_step()
    np.testing.assert_array_equal(resumed.model.flat, straight.model.flat)
    assert resumed.step == straight.step == 30


def test_non_finite_steps_are_skipped_then_training_stops(data):
    trainer = make_trainer(data)
    trainer.train_step()
    before = trainer.model.flat.copy()
    trainer.model.params["head.b"][0] = np.inf
    kept = trainer.model.flat.copy()
    report = trainer.train_step()
    assert report.skipped and trainer.skipped == 1
    np.testing.assert_array_equal(trainer.model.flat, kept)
    assert not np.array_equal(before, kept)
    with pytest.raises(TrainingError, match="not finite for 5 steps in a row"):
        for _ in range(10):
            trainer.train_step()


def test_schedules():
    warm = TrainConfig(lr=1.0, warmup=4, schedule="cosine", steps=104, min_lr_frac=0.1)
    assert [learning_rate(warm, s) for s in range(4)] == [0.25, 0.5, 0.75, 1.0]
    assert learning_rate(warm, 54) == pytest.approx(0.55)
    assert learning_rate(warm, 104) == pytest.approx(0.1)
    step = TrainConfig(lr=1.0, schedule="step", decay_every=10, decay_rate=0.5)
    assert [learning_rate(step, s) for s in (0, 9, 10, 25)] == [1.0, 1.0, 0.5, 0.25]
    with pytest.raises(ConfigError, match="cosine needs --steps"):
        TrainConfig(schedule="cosine")


def test_clipping_bounds_the_update(data):
    """With clip 1e-3 and SGD without momentum effects on the first step, the parameter
    change is lr times a gradient of norm at most 1e-3."""
    trainer = make_trainer(data, optimizer="sgd", lr=1.0, clip=1e-3)
    before = trainer.model.flat.copy()
    trainer.train_step()
    assert np.linalg.norm(trainer.model.flat - before) <= 1e-3 * 1.0001
