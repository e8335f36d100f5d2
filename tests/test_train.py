"""The training loop: it learns, it repeats exactly, it resumes exactly, it skips non-finite
steps, recovers from runs of them and gives up when they persist, and its schedules do what
they say."""

import math

import numpy as np
import pytest

from charrnn.runs import model_file
from charrnn.model.config import ModelConfig
from charrnn.training import record
from charrnn.training.config import TrainConfig
from charrnn.data.batches import split
from charrnn.errors import CheckpointError, ConfigError, TrainingError
from charrnn.training.optim import learning_rate
from charrnn.training.trainer import MAX_BAD_STEPS, MAX_RECOVERIES, Trainer
from charrnn.text.vocab import Vocab
from support import plays



@pytest.fixture(scope="module")
def data():
    text = plays(300_000)
    vocab = Vocab.from_text(text)
    return vocab, *split(vocab.encode(text), 0.1)


def make_trainer(data, cell="lstm", steps=40, threads=1, **train):
    vocab, train_ids, val_ids = data
    model_cfg = ModelConfig(cell=cell, vocab_size=len(vocab), hidden=32, layers=2, dropout=0.1)
    cfg = TrainConfig(batch=8, seq=32, steps=steps, eval_every=1000, **train)
    return Trainer.new(model_cfg, cfg, train_ids, val_ids, threads=threads)


def test_it_learns_the_shipped_plays(data):
    """A short run: the loss falls from ln(74) = 4.3 nats to well under 2.6 in 300 steps."""
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


def inject_nan(trainer, bad) -> list[int]:
    """Make the loss of the trainer's k-th loss_and_grad call (from 0) NaN when bad(k); the
    real computation still runs, so data and dropout draws stay where they would be."""
    real, calls = trainer.model.loss_and_grad, []

    def loss_and_grad(*args, **kwargs):
        loss = real(*args, **kwargs)
        calls.append(len(calls))
        return math.nan if bad(calls[-1]) else loss

    trainer.model.loss_and_grad = loss_and_grad
    return calls


def run_to(trainer, step):
    while trainer.step < step:
        trainer.train_step()


def test_non_finite_steps_are_skipped_and_counted(data):
    trainer = make_trainer(data)
    trainer.train_step()
    before = trainer.model.flat.copy()
    trainer.model.params["head.b"][0] = np.inf
    kept = trainer.model.flat.copy()
    report = trainer.train_step()
    assert report.skipped and trainer.skipped == 1 and trainer.bad_in_a_row == 1
    np.testing.assert_array_equal(trainer.model.flat, kept)
    assert not np.array_equal(before, kept)
    assert not trainer.healthy() and not trainer.set_restore_point()


def test_a_run_of_bad_steps_goes_back_to_the_restore_point_at_half_the_learning_rate(data):
    trainer = make_trainer(data, lr=1e-3)
    run_to(trainer, 3)
    assert trainer.set_restore_point()
    point = {k: v.copy() for k, v in trainer.snapshot()[0].items()}, trainer.snapshot()[1]
    run_to(trainer, 6)
    inject_nan(trainer, lambda k: True)
    reports = [trainer.train_step() for _ in range(MAX_BAD_STEPS)]
    assert [r.skipped for r in reports] == [True] * MAX_BAD_STEPS
    assert [r.recovered_to for r in reports] == [None] * (MAX_BAD_STEPS - 1) + [3]
    assert reports[-1].step == 6 + MAX_BAD_STEPS and trainer.step == 3
    assert trainer.lr_scale == 0.5 and trainer.recoveries == 1 and trainer.skipped == MAX_BAD_STEPS
    tensors, meta = trainer.snapshot()
    for name, tensor in point[0].items():  # weights, optimiser moments, carried state
        np.testing.assert_array_equal(tensors[name], tensor, err_msg=name)
    for key in ("step", "optimizer_steps", "batches", "dropout_rng", "recent_losses"):
        assert meta[key] == point[1][key], key
    # and carries on from there as a trainer resumed at step 3 with half the learning rate would
    del trainer.model.loss_and_grad
    _, train_ids, val_ids = data
    reference = Trainer.restore(point[0], {**point[1], "lr_scale": 0.5}, train_ids, val_ids)
    for _ in range(3):
        assert trainer.train_step().lr == reference.train_step().lr == 5e-4
    np.testing.assert_array_equal(trainer.model.flat, reference.model.flat)


def test_training_stops_after_three_recoveries(data):
    trainer = make_trainer(data, steps=1000)
    run_to(trainer, 4)
    trainer.set_restore_point()
    calls = inject_nan(trainer, lambda k: True)
    with pytest.raises(TrainingError) as failure:
        run_to(trainer, 1000)
    assert len(calls) == MAX_BAD_STEPS * (MAX_RECOVERIES + 1)
    assert trainer.recoveries == MAX_RECOVERIES and trainer.lr_scale == 0.5 ** MAX_RECOVERIES
    message = str(failure.value)
    assert message.startswith(f"the loss or gradient was not finite for {MAX_BAD_STEPS} steps in a row (at step 9)")
    assert f"after {MAX_RECOVERIES} recoveries" in message and "0.125 x lr" in message and "\n" not in message


def test_no_finite_state_to_go_back_to_is_a_training_error(data):
    trainer = make_trainer(data)
    trainer.model.params["head.w"][0, 0] = np.nan  # before the first step: no restore point
    with pytest.raises(TrainingError, match="no earlier state had finite weights"):
        run_to(trainer, 40)
    assert trainer.skipped == MAX_BAD_STEPS and trainer.recoveries == 0


def test_recovery_state_is_in_snapshots_and_resumes_exactly(data):
    _, train_ids, val_ids = data
    straight = make_trainer(data, steps=30)
    run_to(straight, 10)
    straight.set_restore_point()
    calls = inject_nan(straight, lambda k: k < MAX_BAD_STEPS)
    run_to(straight, 20)
    assert straight.recoveries == 1 and len(calls) == MAX_BAD_STEPS + 10
    tensors, meta = straight.snapshot()
    assert (meta["lr_scale"], meta["recoveries"], meta["bad_in_a_row"]) == (0.5, 1, 0)
    resumed = Trainer.restore({k: v.copy() for k, v in tensors.items()}, meta, train_ids, val_ids)
    assert (resumed.lr_scale, resumed.recoveries) == (0.5, 1)
    run_to(straight, 30)
    run_to(resumed, 30)
    np.testing.assert_array_equal(resumed.model.flat, straight.model.flat)
    for bad in ({"lr_scale": 0.0}, {"lr_scale": 2.0}, {"recoveries": MAX_RECOVERIES + 1}, {"bad_in_a_row": -1},
                {"recoveries": "1"}):
        with pytest.raises(CheckpointError, match="recovery state is malformed"):
            record.training_state({**meta, **bad}, MAX_BAD_STEPS, MAX_RECOVERIES)
    older = {k: v for k, v in meta.items() if k not in ("lr_scale", "recoveries", "bad_in_a_row")}
    checked = record.training_state(older, MAX_BAD_STEPS, MAX_RECOVERIES)  # checkpoints before these keys
    assert Trainer.restore(tensors, checked, train_ids, val_ids).lr_scale == 1.0


def test_a_non_finite_validation_loss_is_never_the_best(data):
    trainer = make_trainer(data)
    trainer.model.params["head.b"][0] = np.nan
    assert math.isnan(trainer.evaluate())
    assert trainer.best_val is None


def test_schedules():
    warm = TrainConfig(lr=1.0, warmup=4, schedule="cosine", steps=104, min_lr_frac=0.1)
    assert [learning_rate(warm, s) for s in range(4)] == [0.25, 0.5, 0.75, 1.0]
    assert learning_rate(warm, 54) == pytest.approx(0.55)
    assert learning_rate(warm, 104) == pytest.approx(0.1)
    step = TrainConfig(lr=1.0, schedule="step", decay_every=10, decay_rate=0.5)
    assert [learning_rate(step, s) for s in (0, 9, 10, 25)] == [1.0, 1.0, 0.5, 0.25]
    by_time = TrainConfig(lr=1.0, schedule="cosine", seconds=100.0)
    assert learning_rate(by_time, 10, train_seconds=50.0) == pytest.approx(0.5)
    assert learning_rate(by_time, 10, train_seconds=100.0) == pytest.approx(0.0, abs=1e-12)
    by_epochs = TrainConfig(lr=1.0, schedule="cosine", epochs=2.0)
    assert learning_rate(by_epochs, 100, steps_per_epoch=100) == pytest.approx(0.5)
    both = TrainConfig(lr=1.0, schedule="cosine", steps=1000, seconds=100.0)  # whichever is nearer its end
    assert learning_rate(both, 500, train_seconds=90.0) == pytest.approx(0.5 * (1 + math.cos(math.pi * 0.9)))
    with pytest.raises(ConfigError, match="^ema must be 0"):
        TrainConfig(ema=1.0)


def test_clipping_bounds_the_update(data):
    """With clip 1e-3 and SGD without momentum effects on the first step, the parameter
    change is lr times a gradient of norm at most 1e-3."""
    trainer = make_trainer(data, optimizer="sgd", lr=1.0, clip=1e-3)
    before = trainer.model.flat.copy()
    trainer.train_step()
    assert np.linalg.norm(trainer.model.flat - before) <= 1e-3 * 1.0001


def test_validation_loss_does_not_depend_on_the_window_length(data, monkeypatch):
    """Validation carries the state from window to window, so cutting the streams into short
    windows (which keeps its workspaces small) scores what one long window would, up to the
    order of float32 sums."""
    import charrnn.training.trainer as train_module
    from charrnn.model.network import Model

    _, _, val_ids = data
    model = Model(ModelConfig(cell="lstm", vocab_size=int(val_ids.max()) + 1, hidden=32, layers=2), threads=2)
    model.init_weights(np.random.default_rng(0))
    streams_len = (len(val_ids) - 1) // train_module.VAL_STREAMS
    assert streams_len > 2 * train_module.VAL_CHUNK  # several windows and a shorter last one
    short_total, short_count = train_module.evaluate_ids(model, val_ids)
    assert max(T for T, _, _ in model._workspaces) == train_module.VAL_CHUNK
    monkeypatch.setattr(train_module, "VAL_CHUNK", streams_len)
    long_total, long_count = train_module.evaluate_ids(model, val_ids)
    assert short_count == long_count == train_module.VAL_STREAMS * streams_len
    assert short_total == pytest.approx(long_total, rel=1e-5)


def test_the_moving_average_is_what_is_validated_saved_and_resumed(data):
    from charrnn.training.trainer import evaluate_ids

    vocab, train_ids, val_ids = data
    straight = make_trainer(data, steps=30, ema=0.9)
    run_to(straight, 15)
    assert not np.array_equal(straight.average, straight.model.flat)
    average_model = straight.sampling_model()
    np.testing.assert_array_equal(average_model.flat, straight.average)
    total, count = evaluate_ids(average_model, val_ids)
    before = straight.model.flat.copy()
    assert straight.evaluate() == pytest.approx(total / count, rel=1e-12)
    np.testing.assert_array_equal(straight.model.flat, before)  # validation put the weights back
    tensors, meta = straight.snapshot()
    assert set(n for n in tensors if n.startswith("average/")) == {f"average/{n}" for n in straight.model.params}
    resumed = Trainer.restore({k: v.copy() for k, v in tensors.items()}, meta, train_ids, val_ids)
    run_to(straight, 30)
    run_to(resumed, 30)
    np.testing.assert_array_equal(resumed.model.flat, straight.model.flat)
    np.testing.assert_array_equal(resumed.average, straight.average)
    weights = model_file.model_weights(tensors)
    assert all(weights[f"param/{n}"] is tensors[f"average/{n}"] for n in straight.model.params)


def test_weight_decay_shrinks_the_weight_matrices_only(data):
    plain, decayed = (make_trainer(data, optimizer="sgd", lr=0.1, weight_decay=0.01) if wd else
                      make_trainer(data, optimizer="sgd", lr=0.1) for wd in (0, 1))
    before = {name: view.copy() for name, view in plain.model.params.items()}
    plain.train_step()
    decayed.train_step()
    for name, view in decayed.model.params.items():
        shrink = 0.1 * 0.01 * before[name] if name.endswith((".wx", ".wh", "head.w")) else 0.0
        np.testing.assert_allclose(plain.model.params[name] - view, shrink, rtol=1e-3, atol=3e-8, err_msg=name)
