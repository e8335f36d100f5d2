"""The PyTorch engine (`--engine torch`) and import from PyTorch. Tests that need PyTorch carry
the `torch` marker: the README's test command leaves them out (torch is an optional extra),
and CI installs the extra and runs them as a step of their own (`pytest -m torch`)."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import charrnn
from charrnn.runs import checkpoint, model_file
from charrnn.training import record
from charrnn import events
from support import write_plays
from test_cli import assert_one_line_error, invoke, ok

TINY = dict(hidden=16, layers=2, batch=8, seq=16, threads=1, seed=3)
needs_torch = pytest.mark.torch


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    return write_plays(tmp_path_factory.mktemp("corpus") / "plays.txt", 30_000)


# ---- without PyTorch ----------------------------------------------------------------------------

def test_engine_torch_without_pytorch_is_one_line(corpus, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "torch", None)  # import torch now fails, as where it is not installed
    result = invoke("train", corpus, "--engine", "torch", "--steps", 2, "--out", tmp_path / "r")
    assert_one_line_error(result, 2)
    assert result.stderr == "charrnn: --engine torch needs PyTorch: pip install 'charrnn[torch]'\n"
    assert not (tmp_path / "r").exists()


def test_a_batch_that_does_not_divide_between_the_processes_is_one_line(corpus, tmp_path, monkeypatch):
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("RANK", "0")
    result = invoke("train", corpus, "--engine", "torch", "--batch", 5, "--steps", 2, "--out", tmp_path / "r")
    assert_one_line_error(result, 2)
    assert result.stderr == "charrnn: --batch 5 does not divide between 2 processes; make it a multiple of 2\n"


def test_device_is_for_the_torch_engine(corpus, tmp_path):
    result = invoke("train", corpus, "--device", "cuda", "--steps", 2, "--out", tmp_path / "r")
    assert_one_line_error(result, 2)
    assert "--device is for --engine torch" in result.stderr


def test_export_and_import_round_trip_exactly(corpus, tmp_path):
    run = charrnn.train(corpus, **TINY, model="gru", steps=5, out=str(tmp_path / "g"), progress=False)
    exported, imported, again = tmp_path / "e.safetensors", tmp_path / "i.safetensors", tmp_path / "e2.safetensors"
    ok("checkpoints", "export", run.best, "-o", exported)
    ok("checkpoints", "import", exported, "-o", imported)
    ok("checkpoints", "export", imported, "-o", again)
    original, back = checkpoint.load(run.best), checkpoint.load(imported)
    for name, tensor in back.tensors.items():
        np.testing.assert_array_equal(tensor, original.tensors[name])
    first, second = checkpoint.load_foreign(exported), checkpoint.load_foreign(again)
    assert first.tensors.keys() == second.tensors.keys()
    for name in first.tensors:
        np.testing.assert_array_equal(first.tensors[name], second.tensors[name])
    assert ok("sample", imported, "-n", 40, "--seed", 2).stdout == ok("sample", run.best, "-n", 40, "--seed", 2).stdout


def test_import_a_bare_state_dict_with_a_vocabulary(corpus, tmp_path):
    """A state dict saved by PyTorch code (no charrnn metadata): the shape is read from the
    tensors, the vocabulary from --vocab."""
    from safetensors.numpy import save_file

    run = charrnn.train(corpus, **TINY, steps=5, out=str(tmp_path / "l"), progress=False)
    ok("checkpoints", "export", run.best, "-o", tmp_path / "e.safetensors")
    bare = tmp_path / "bare.safetensors"
    save_file(dict(checkpoint.load_foreign(tmp_path / "e.safetensors").tensors), bare)
    vocab = tmp_path / "vocab.json"
    vocab.write_text(json.dumps(checkpoint.read_meta(run.best)["vocab"]), encoding="utf-8")
    assert_one_line_error(invoke("checkpoints", "import", bare, "-o", tmp_path / "x.safetensors"), 4)
    ok("checkpoints", "import", bare, "--vocab", vocab, "-o", tmp_path / "x.safetensors")
    model = charrnn.load(tmp_path / "x.safetensors")
    assert (model.config.cell, model.config.layers, model.config.hidden) == ("lstm", 2, 16)
    assert model.score("LADY GISÈLE:\n") == charrnn.load(run.best).score("LADY GISÈLE:\n")


# ---- with PyTorch -------------------------------------------------------------------------------

LOSSES = """import json, sys, charrnn
from charrnn import events
losses = []
charrnn.train(sys.argv[1], hidden=16, layers=2, batch=8, seq=16, steps=20, seed=3, eval_every=1000,
              engine="torch", device="cpu", threads=1, out=sys.argv[2], progress=False,
              on_event=lambda e: losses.append(e.loss) if isinstance(e, events.Step) else None)
if losses:
    json.dump(losses, open(sys.argv[3], "w"))
"""


@needs_torch
def test_two_processes_take_the_steps_of_one(corpus, tmp_path):
    """gloo on the CPU: a 2-process run over B streams, each owning B/2 of them, has the
    losses of a 1-process run over the same B streams, up to the order of float sums."""
    pytest.importorskip("torch")
    script = tmp_path / "losses.py"
    script.write_text(LOSSES)
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    one = subprocess.run([sys.executable, script, corpus, tmp_path / "one", tmp_path / "one.json"], env=env,
                         capture_output=True, timeout=300)
    assert one.returncode == 0, one.stderr.decode()[-2000:]
    two = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2",
                          script, corpus, tmp_path / "two", tmp_path / "two.json"], env=env, capture_output=True,
                         timeout=300)
    assert two.returncode == 0, two.stderr.decode()[-2000:]
    a = np.array(json.loads((tmp_path / "one.json").read_text()))
    b = np.array(json.loads((tmp_path / "two.json").read_text()))
    assert len(a) == len(b) == 20
    np.testing.assert_allclose(b, a, rtol=1e-6, atol=0)  # measured: 2.3e-7 at most
    assert not (tmp_path / "two" / "cache" / "input-0.spool").exists()
    assert checkpoint.read_meta(tmp_path / "two" / "latest.safetensors")["step"] == 20


@needs_torch
def test_a_torch_checkpoint_scores_in_charrnn_as_in_pytorch(corpus, tmp_path):
    torch = pytest.importorskip("torch")
    run = charrnn.train(corpus, **TINY, steps=30, engine="torch", device="cpu", out=str(tmp_path / "t"),
                        progress=False)
    text = corpus.read_text(encoding="utf-8")[-2000:]
    ours = charrnn.load(run.best).score(text)
    exported = tmp_path / "e.safetensors"
    ok("checkpoints", "export", run.best, "-o", exported)
    from safetensors.torch import load_file

    tensors, info = load_file(exported), checkpoint.read_meta(exported)
    emb = torch.nn.Embedding(len(info["vocab"]), info["input_size"]).double()
    rnn = torch.nn.LSTM(info["input_size"], info["hidden_size"], info["num_layers"]).double()
    head = torch.nn.Linear(info["hidden_size"], len(info["vocab"])).double()
    for name, module in (("emb", emb), ("rnn", rnn), ("head", head)):
        module.load_state_dict({k.split(".", 1)[1]: v.double() for k, v in tensors.items() if k.startswith(name + ".")})
    ids = torch.tensor(charrnn.load(run.best).vocab.encode(text), dtype=torch.long).reshape(-1, 1)
    with torch.no_grad():
        logp = torch.log_softmax(head(rnn(emb(ids[:-1]))[0])[:, 0, :], -1)
    theirs = -logp[torch.arange(len(ids) - 1), ids[1:, 0]].mean().item()
    assert ours["nats_per_char"] == pytest.approx(theirs, rel=1e-6)


@needs_torch
def test_resume_moves_between_engines(corpus, tmp_path):
    """charrnn's engine -> torch -> charrnn's: after each switch, the first step's loss is
    what the other engine computes from the same weights, state and window."""
    pytest.importorskip("torch")
    from charrnn.data.batches import split
    from charrnn.training.trainer import Trainer
    from charrnn.text.vocab import Vocab

    run = tmp_path / "moving"
    charrnn.train(corpus, **TINY, steps=10, precision="fp32", out=str(run), progress=False)

    def first_loss(engine: str, steps: int) -> float:
        losses = []
        charrnn.train(resume=str(run), steps=steps, engine=engine, progress=False,
                      on_event=lambda e: losses.append(e.loss) if isinstance(e, events.Step) else None)
        return losses[0]

    def next_loss_from(other: str, path: Path) -> float:
        """The loss the next step has, computed by the engine `other` from the checkpoint."""
        loaded = checkpoint.load(path)
        vocab = Vocab.from_meta(loaded.meta)
        ids = vocab.encode(corpus.read_text(encoding="utf-8"))
        train_ids, val_ids = split(ids, 0.1)
        trainer_class = Trainer
        engine = {}
        if other == "torch":
            from charrnn.training.torch_engine import TorchTrainer

            trainer_class, engine = TorchTrainer, dict(device="cpu")
        trainer = trainer_class.restore(loaded.tensors, record.training_state(loaded.meta, 5, 3), train_ids,
                                        val_ids, threads=1, **engine)
        return trainer.train_step().loss

    expected = next_loss_from("charrnn", run / "latest.safetensors")
    assert first_loss("torch", 20) == pytest.approx(expected, rel=1e-5)
    assert checkpoint.read_meta(run / "latest.safetensors")["step"] == 20
    expected = next_loss_from("torch", run / "latest.safetensors")
    assert first_loss("charrnn", 30) == pytest.approx(expected, rel=1e-5)
    history = [r["step"] for r in charrnn.Run(path=run, latest=run / "latest.safetensors",
                                                best=run / "best.safetensors", steps=30, chars=0, chars_per_sec=None,
                                                train_loss=None, val_loss=None, unit="char").metrics]
    assert history == sorted(set(history))  # the loss curve continues, one record per step


@needs_torch
def test_a_cuda_device_where_there_is_none_is_one_line(corpus, tmp_path):
    torch = pytest.importorskip("torch")
    if torch.cuda.is_available():
        pytest.skip("this machine has a CUDA GPU")
    result = invoke("train", corpus, "--engine", "torch", "--device", "cuda", "--steps", 2, "--out", tmp_path / "r")
    assert_one_line_error(result, 2)
    assert result.stderr == "charrnn: --device cuda: PyTorch finds no CUDA GPU here\n"
    assert not (tmp_path / "r").exists()


@needs_torch
def test_the_torch_engine_trains_with_charrnns_regularisers(corpus, tmp_path):
    regularisers = dict(dropout=0.1, locked_dropout=0.2, embed_dropout=0.1, weight_drop=0.3)
    run = charrnn.train(corpus, **TINY, **regularisers, steps=40, eval_every=20, engine="torch", device="cpu",
                        out=str(tmp_path / "t"), progress=False)
    config = model_file.read_model(run.latest).config
    assert {name: getattr(config, name) for name in regularisers} == regularisers
    first, last = (record["val_loss"] for record in (run.metrics[0], run.metrics[-1]))
    assert last < first


@needs_torch
def test_weight_drop_in_the_torch_engine_drops_one_mask_per_window_and_only_in_training():
    torch = pytest.importorskip("torch")
    from charrnn.model.config import ModelConfig
    from charrnn.training.torch_engine import _Network

    torch.manual_seed(0)
    net = _Network(ModelConfig(cell="lstm", vocab_size=11, hidden=32, layers=2, weight_drop=0.5,
                               locked_dropout=0.3, embed_dropout=0.2))
    x = torch.randint(0, 11, (6, 4))
    net.train()
    logits, _ = net(x, None)
    logits.sum().backward()
    for layer in net.rnns:
        dropped = layer.weight_hh_l0.grad == 0
        assert 0.4 < dropped.float().mean().item() < 0.6  # a mask on the matrix, not on a step
    net.eval()
    with torch.no_grad():
        plain = _Network(ModelConfig(cell="lstm", vocab_size=11, hidden=32, layers=2))
        plain.load_state_dict(net.state_dict())
        plain.eval()
        assert torch.equal(net(x, None)[0], plain(x, None)[0])
