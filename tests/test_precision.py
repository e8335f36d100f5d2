"""bf16 products in training: chosen from the CPU and the options, as good as fp32 step for
step, exact on resume within one precision, and said where they ran. The kernels themselves
are tested in test_gemm_bf16.py; the gradient checks (float64) are precision-free."""

import json

import numpy as np
import pytest

import charrnn
from charrnn.runs import checkpoint
from charrnn.model import network
from charrnn.data.batches import split
from charrnn.model.config import ModelConfig
from charrnn.training.config import TrainConfig
from charrnn.errors import ConfigError
from charrnn.kernels.gemm_bf16 import available_paths
from charrnn.training.trainer import Trainer
from charrnn.text.vocab import Vocab
from support import plays, write_plays
from test_cli import assert_one_line_error, invoke, ok

bf16 = pytest.mark.skipif(not available_paths(), reason="this CPU has neither AVX512-BF16 nor AMX")
TINY = dict(hidden=32, layers=2, batch=8, seq=32, threads=1, seed=5)


@pytest.fixture(scope="module")
def data():
    text = plays(200_000)
    vocab = Vocab.from_text(text)
    return vocab, *split(vocab.encode(text), 0.1)


def test_auto_takes_amx_and_otherwise_fp32(monkeypatch):
    monkeypatch.setattr(network, "available_paths", lambda: ["amx", "avx512bf16"])
    assert network.choose_kernel("auto") == "amx" and network.choose_kernel("bf16") == "amx"
    monkeypatch.setattr(network, "available_paths", lambda: ["avx512bf16"])
    assert network.choose_kernel("auto") == "fp32" and network.choose_kernel("bf16") == "avx512bf16"
    monkeypatch.setattr(network, "available_paths", lambda: [])
    assert network.choose_kernel("auto") == "fp32" and network.choose_kernel("fp32") == "fp32"
    with pytest.raises(ConfigError, match="^precision bf16 needs a CPU with AVX512-BF16 or AMX"):
        network.choose_kernel("bf16")


def test_bf16_where_the_cpu_cannot_is_one_line(tmp_path, monkeypatch):
    monkeypatch.setattr(network, "available_paths", lambda: [])
    monkeypatch.setattr(network.cpu, "bf16_path", lambda *args: None)  # the host lacks bf16 too, whatever CHARRNN_ISA
    corpus = write_plays(tmp_path / "p.txt", 20_000)
    result = invoke("train", corpus, "--precision", "bf16", "--steps", 2, "--out", tmp_path / "r")
    assert_one_line_error(result, 2)
    assert result.stderr == "charrnn: --precision bf16 needs a CPU with AVX512-BF16 or AMX; this one has neither\n"
    assert not (tmp_path / "r").exists()


@bf16
@pytest.mark.parametrize("cell", ["lstm", "gru", "rnn"])
def test_a_bf16_step_is_an_fp32_step_up_to_bf16_rounding(data, cell):
    """The same window from the same weights: the loss agrees to 1e-3 and the gradient's
    direction to a cosine of 0.999 (bf16 keeps 8 bits of each product's inputs)."""
    vocab, train_ids, val_ids = data
    cfg = ModelConfig(cell, len(vocab), 48, 2)
    results = []
    for precision in ("fp32", "bf16"):
        trainer = Trainer.new(cfg, TrainConfig(batch=8, seq=32, steps=1), train_ids, val_ids, precision=precision)
        window = trainer.batches.next()
        loss = trainer.model.loss_and_grad(window.x, window.y, trainer.model.zero_state(8))
        results.append((loss, trainer.model.grad_flat.copy()))
    (loss32, g32), (loss16, g16) = results
    assert loss16 == pytest.approx(loss32, rel=1e-3)
    assert g16 @ g32 / np.linalg.norm(g16) / np.linalg.norm(g32) > 0.999


@bf16
def test_bf16_learns_as_fp32_does(data):
    """300 steps on the shipped plays: the validation loss within 0.02 nats/char of fp32's."""
    vocab, train_ids, val_ids = data
    cfg = ModelConfig("lstm", len(vocab), 64, 2)
    vals = []
    for precision in ("fp32", "bf16"):
        trainer = Trainer.new(cfg, TrainConfig(batch=16, seq=64, steps=300), train_ids, val_ids, threads=1,
                              precision=precision)
        while not trainer.finished():
            trainer.train_step()
        vals.append(trainer.evaluate())
    assert vals[0] < 2.6
    assert abs(vals[1] - vals[0]) < 0.02, vals


@bf16
def test_resume_in_bf16_continues_bit_for_bit(tmp_path):
    corpus = write_plays(tmp_path / "p.txt", 40_000)
    straight = charrnn.train(corpus, **TINY, steps=24, dropout=0.1, precision="bf16", out=str(tmp_path / "s"),
                             progress=False)
    half = charrnn.train(corpus, **TINY, steps=12, dropout=0.1, precision="bf16", out=str(tmp_path / "h"),
                         progress=False)
    resumed = charrnn.train(resume=str(half.path), steps=24, progress=False)
    assert straight.precision == resumed.precision == "bf16" and resumed.kernel == straight.kernel
    a, b = checkpoint.load(straight.latest), checkpoint.load(resumed.latest)
    for name, tensor in a.tensors.items():
        np.testing.assert_array_equal(tensor, b.tensors[name], err_msg=name)


@bf16
def test_the_precision_is_said_recorded_and_kept_on_resume(tmp_path):
    corpus = write_plays(tmp_path / "p.txt", 40_000)
    run = tmp_path / "r"
    result = ok("train", corpus, "--hidden", 16, "--layers", 1, "--batch", 4, "--seq", 16, "--steps", 6,
                "--precision", "bf16", "--out", run, "--json")
    summary = json.loads(result.stdout)
    assert summary["precision"] == "bf16" and summary["kernel"] == available_paths()[0]
    assert "the matrix products on bf16" in result.stderr
    meta = checkpoint.read_meta(run / "latest.safetensors")
    assert (meta["precision"], meta["kernel"]) == ("bf16", available_paths()[0])
    again = ok("train", "--resume", run, "--steps", 8, "--json")  # no --precision: the run's own
    assert json.loads(again.stdout)["precision"] == "bf16" and "resuming" not in again.stderr
    changed = ok("train", "--resume", run, "--steps", 10, "--precision", "fp32")
    assert "precision fp32 (was bf16: the run goes on, but not bit for bit as it would have in bf16)" in \
        changed.stderr
    changes = checkpoint.read_meta(run / "latest.safetensors")["changes"]
    assert {"step": 8, "option": "precision", "from": "bf16", "to": "fp32"} in changes
