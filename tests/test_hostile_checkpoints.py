"""Checkpoint files written by strangers (issue 23): metadata that contradicts the tensors, weights
that are not finite or absurdly large, sizes that would eat the machine, a vocabulary no text can
hold, an export given where a checkpoint goes; export to standard output, and `checkpoints show`
leaving nothing out. Each case through the command line and, where it applies, the Python API.

Most checkpoints here are made by hand (random weights, a valid checksum): what matters is what
charrnn does with the file, not how well it predicts."""

import json
import os
import re
import subprocess
import sys
import tracemalloc
import warnings
from dataclasses import fields
from pathlib import Path

import numpy as np
import pytest
import safetensors.numpy

import charrnn
from charrnn.model.config import REGULARISERS, ModelConfig
from charrnn.runs import checkpoint
from charrnn.training.config import TrainConfig
from support import plays, write_plays
from test_cli import assert_one_line_error, invoke, ok

TEXT = plays(3000)
VOCAB = sorted(set(TEXT))


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    return write_plays(tmp_path_factory.mktemp("corpus") / "plays.txt", 20_000)


def hand_made(path: Path, cell: str = "lstm", layers: int = 1, hidden: int = 8, edit=None, **meta_items) -> Path:
    """A checkpoint of a model with random weights; `edit(tensors, meta)` changes it before it is
    saved (so its checksum is valid)."""
    cfg = ModelConfig(cell=cell, vocab_size=len(VOCAB), hidden=hidden, layers=layers)
    rng = np.random.default_rng(0)
    tensors = {f"param/{name}": (0.3 * rng.standard_normal(shape)).astype(np.float32)
               for name, shape in cfg.param_shapes().items()}
    meta = dict(model=cfg.to_dict(), vocab=VOCAB, unit="char", step=0, **meta_items)
    if edit is not None:
        edit(tensors, meta)
    checkpoint.save(path, tensors, meta)
    return path


def strict_json(text: str):
    """JSON as the standard has it: NaN and Infinity are not JSON."""
    def refuse(constant):
        raise AssertionError(f"{constant} in JSON output: {text}")
    return json.loads(text, parse_constant=refuse)


def exported(tmp_path: Path, cell: str = "lstm", edit_meta=None, edit_tensors=None, name="e.safetensors") -> Path:
    """`checkpoints export` of a hand-made checkpoint, its metadata and tensors then changed
    as a stranger would (the file stays valid: its checksum is recomputed)."""
    source = hand_made(tmp_path / f"{cell}.safetensors", cell=cell)
    path = tmp_path / name
    ok("checkpoints", "export", source, "-o", path)
    if edit_meta is not None or edit_tensors is not None:
        loaded = checkpoint.load_foreign(path)
        tensors, meta = dict(loaded.tensors), dict(loaded.meta)
        if edit_meta is not None:
            edit_meta(meta)
        if edit_tensors is not None:
            edit_tensors(tensors)
        checkpoint.save(path, tensors, meta)
    return path


# ---- item 3: import refuses metadata that contradicts the tensors, and variants charrnn lacks ----

@pytest.mark.parametrize("key, value", [
    ("module", "torch.nn.GRU"), ("num_layers", 5), ("num_layers", 10**7), ("hidden_size", 9), ("input_size", 3),
    ("model.cell", "gru"), ("model.layers", 5), ("model.hidden", 9),
])
def test_import_refuses_metadata_that_contradicts_the_tensors(tmp_path, key, value):
    def edit(meta):
        if key.startswith("model."):
            meta["model"] = dict(meta["model"], **{key.split(".")[1]: value})
        else:
            meta[key] = value

    source = exported(tmp_path, edit_meta=edit)
    result = invoke("checkpoints", "import", source, "-o", tmp_path / "i.safetensors")
    assert_one_line_error(result, 4)
    assert f"cannot import {source}: its metadata contradicts its tensors: {key} {value!r}" in result.stderr
    assert not (tmp_path / "i.safetensors").exists()


def test_import_reads_the_gru_the_tensors_hold_whatever_the_module_says_to_the_contrary(tmp_path):
    """The issue's case: metadata saying GRU with 5 layers over 1-layer LSTM tensors."""
    source = exported(tmp_path, edit_meta=lambda meta: meta.update(module="torch.nn.GRU", num_layers=5))
    result = invoke("checkpoints", "import", source, "-o", tmp_path / "i.safetensors")
    assert_one_line_error(result, 4)
    assert "module 'torch.nn.GRU' where the tensors hold 'torch.nn.LSTM'; num_layers 5 where the tensors hold 1" \
        in result.stderr


@pytest.mark.parametrize("key, value, why", [
    ("nonlinearity", "relu", "tanh"), ("bias", False, "biases"), ("bidirectional", True, "forwards"),
    ("proj_size", 4, "projection"),
])
def test_import_refuses_a_variant_charrnn_lacks(tmp_path, key, value, why):
    source = exported(tmp_path, cell="rnn", edit_meta=lambda meta: meta.update({key: value}))
    result = invoke("checkpoints", "import", source, "-o", tmp_path / "i.safetensors")
    assert_one_line_error(result, 4)
    assert f"its metadata says {key} {value!r}, which charrnn cannot import" in result.stderr
    assert why in result.stderr
    assert not (tmp_path / "i.safetensors").exists()


def test_an_untouched_rnn_export_imports_back_exactly(tmp_path):
    source = exported(tmp_path, cell="rnn")
    ok("checkpoints", "import", source, "-o", tmp_path / "i.safetensors")
    original, back = checkpoint.load(tmp_path / "rnn.safetensors"), checkpoint.load(tmp_path / "i.safetensors")
    assert back.meta["model"]["cell"] == "rnn"
    for name, tensor in original.tensors.items():
        np.testing.assert_array_equal(back.tensors[name], tensor)


def test_import_refuses_a_charrnn_checkpoint_naming_what_it_is(tmp_path):
    source = hand_made(tmp_path / "m.safetensors")
    result = invoke("checkpoints", "import", source, "-o", tmp_path / "i.safetensors")
    assert_one_line_error(result, 4)
    assert "is a charrnn checkpoint already" in result.stderr


# ---- item 4: weights must be finite; huge finite weights score what they score -------------------

def test_import_refuses_weights_that_are_not_finite(tmp_path):
    def nan(tensors):
        tensors["head.bias"] = tensors["head.bias"].copy()
        tensors["head.bias"][0] = np.nan

    source = exported(tmp_path, edit_tensors=nan)
    result = invoke("checkpoints", "import", source, "-o", tmp_path / "i.safetensors")
    assert_one_line_error(result, 4)
    assert "tensor 'head.bias' holds 1 value that is not a finite number" in result.stderr
    assert not (tmp_path / "i.safetensors").exists()


def test_import_refuses_float64_weights_beyond_float32s_range(tmp_path):
    def huge(tensors):
        tensors["emb.weight"] = tensors["emb.weight"].astype(np.float64)
        tensors["emb.weight"][1, 2] = 1e300

    result = invoke("checkpoints", "import", exported(tmp_path, edit_tensors=huge), "-o", tmp_path / "i.safetensors")
    assert_one_line_error(result, 4)
    assert "tensor 'emb.weight' holds 1 value that is not a finite number (NaN or infinity) in float32" \
        in result.stderr
    assert "RuntimeWarning" not in result.stderr


def poison(value):
    def edit(tensors, meta):
        tensors["param/head.b"][3] = value
    return edit


@pytest.mark.parametrize("value", [np.nan, np.inf, -np.inf])
@pytest.mark.parametrize("command", ["sample", "eval", "export", "init-from"])
def test_every_command_refuses_weights_that_are_not_finite(tmp_path, corpus, value, command):
    bad = hand_made(tmp_path / "bad.safetensors", edit=poison(value))
    args = {"sample": ["sample", bad, "-n", 5], "eval": ["eval", bad, corpus, "--json"],
            "export": ["checkpoints", "export", bad, "-o", tmp_path / "e.safetensors"],
            "init-from": ["train", corpus, "--init-from", bad, "--steps", 1, "--out", tmp_path / "run"]}[command]
    result = invoke(*args)
    assert_one_line_error(result, 4)
    assert result.stderr == (f"charrnn: {bad} is not a usable model: tensor 'param/head.b' holds 1 value that is not "
                             "a finite number (NaN or infinity)\n")
    assert not (tmp_path / "e.safetensors").exists() and not (tmp_path / "run").exists()


def test_the_python_api_refuses_weights_that_are_not_finite(tmp_path, corpus):
    bad = hand_made(tmp_path / "bad.safetensors", edit=poison(np.nan))
    with pytest.raises(charrnn.CheckpointError, match="not a finite number"):
        charrnn.load(bad)
    with pytest.raises(charrnn.CheckpointError, match="not a finite number"):
        charrnn.train(corpus, init_from=str(bad), steps=1, out=str(tmp_path / "run"), progress=False)
    assert not (tmp_path / "run").exists()


@pytest.fixture(scope="module")
def trained(tmp_path_factory, corpus) -> Path:
    run = tmp_path_factory.mktemp("runs") / "base"
    charrnn.train(corpus, hidden=8, batch=4, seq=16, steps=3, eval_every=3, threads=1, out=str(run), progress=False)
    return run


def test_resume_refuses_a_checkpoint_whose_optimizer_state_is_not_finite(trained, tmp_path, corpus):
    """Every number of the checkpoint is checked, not only the weights: a NaN moment would
    poison the first step after the resume."""
    import shutil

    run = Path(shutil.copytree(trained, tmp_path / "run", ignore=shutil.ignore_patterns("*.lock")))
    latest = checkpoint.load(run / "latest.safetensors")
    tensors = dict(latest.tensors)
    slot = next(name for name in tensors if name.startswith("optim/"))
    tensors[slot] = tensors[slot].copy()
    tensors[slot].flat[0] = np.nan
    checkpoint.save(run / "latest.safetensors", tensors, latest.meta)
    result = invoke("train", corpus, "--resume", run, "--steps", 5)
    assert_one_line_error(result, 4)
    assert f"tensor {slot!r} holds 1 value that is not a finite number" in result.stderr
    with pytest.raises(charrnn.CheckpointError, match="not a finite number"):
        charrnn.train(corpus, resume=str(run), steps=5, progress=False)
    assert checkpoint.read_meta(run / "latest.safetensors")["step"] == 3


def huge_head(tensors, meta):
    """Head rows of +-3e38, different for every symbol: a float32 logit overflows to +-inf."""
    signs = np.where(np.random.default_rng(1).random(tensors["param/head.w"].shape) < 0.5, -1.0, 1.0)
    tensors["param/head.w"][...] = (3e38 * signs).astype(np.float32)


def scaled(factor):
    def edit(tensors, meta):
        for name in tensors:
            tensors[name] *= np.float32(factor)
    return edit


def head_times(factor):
    def edit(tensors, meta):
        tensors["param/head.w"] *= np.float32(factor)
    return edit


@pytest.mark.parametrize("edit, least", [(huge_head, 1e30), (scaled(1e30), 1e20), (head_times(1e4), 10)],
                         ids=["head-3e38", "all-1e30", "head-1e4"])
def test_huge_finite_weights_score_large_never_nan_zero_or_a_traceback(tmp_path, edit, least):
    path = hand_made(tmp_path / "huge.safetensors", edit=edit)
    text = tmp_path / "t.txt"
    text.write_text(TEXT, encoding="utf-8")
    result = ok("eval", path, text, "--json")
    score = strict_json(result.stdout)
    assert least < score["nats_per_char"] < 1e300
    assert score["perplexity"] is None  # e^nats overflows a float
    lines = ok("eval", path, text).stdout.splitlines()
    assert lines[-1] == "perplexity     inf"
    api = charrnn.load(path).score(TEXT)
    assert least < api["nats_per_char"] < 1e300 and api["perplexity"] == float("inf")
    for precision in ("bf16", "int8"):
        assert least / 10 < charrnn.load(path).score(TEXT, precision=precision)["nats_per_char"] < 1e300
    for precision in ("fp32", "auto"):
        records = list(charrnn.load(path).score_records([TEXT[:500], TEXT[500:900]], precision=precision))
        assert all(least < record["nats"] / record["chars"] < 1e300 for record in records)


@pytest.mark.parametrize("edit", [huge_head, scaled(1e30)], ids=["head-3e38", "all-1e30"])
@pytest.mark.parametrize("precision", ["int8", "fp32"])
def test_sampling_huge_finite_weights_writes_text_and_nothing_else(tmp_path, edit, precision):
    """In a process of its own, so that a warning of numpy's would reach stderr as it does for a user."""
    path = hand_made(tmp_path / "huge.safetensors", edit=edit)
    done = subprocess.run([sys.executable, "-m", "charrnn", "sample", str(path), "-n", "30", "--seed", "1",
                           "--precision", precision], capture_output=True, timeout=120)
    assert done.returncode == 0, done.stderr
    # nothing but the notice of a first run on a machine, when the kernels compile
    assert set(done.stderr.decode().splitlines()) <= {"charrnn: compiling kernels (first run only; cached afterwards)"}
    assert len(done.stdout.decode("utf-8")) == 30


def test_generating_from_huge_finite_weights_warns_of_nothing(tmp_path):
    model = charrnn.load(hand_made(tmp_path / "huge.safetensors", edit=scaled(1e30)))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for precision in ("int8", "bf16", "fp32"):
            assert len(model.complete(length=20, seed=1, precision=precision)) == 20


def test_no_json_output_holds_nan_or_infinity(tmp_path, home):
    """Metadata of a checkpoint made by hand may hold NaN (Python's json writes and reads it)."""
    run = home / "nan"
    hand_made(run / "best.safetensors", best_val=float("nan"), train_loss=float("inf"), history=[
        {"step": 1, "val_loss": float("-inf")}])
    shown = strict_json(ok("checkpoints", "show", run / "best.safetensors", "--json").stdout)
    assert shown["best_val"] is None and shown["train_loss"] is None and shown["history"][0]["val_loss"] is None
    listed = strict_json(ok("checkpoints", "list", home, "--json").stdout)
    assert listed[0]["val_loss"] is None


# ---- item 5: declared sizes are checked against the tensors and the machine before allocating -----

@pytest.mark.parametrize("key, value, said", [
    ("layers", 10**7, "layers 10000000 where its tensors have 1"), ("hidden", 10**6, "hidden 1000000 where"),
    ("embed", 10**9, "embedding 1000000000 where"),
])
def test_sizes_a_checkpoint_declares_are_checked_against_its_tensors_first(tmp_path, corpus, key, value, said):
    path = hand_made(tmp_path / "liar.safetensors",
                     edit=lambda tensors, meta: meta.update(model=dict(meta["model"], **{key: value})))
    assert path.stat().st_size < 200_000
    tracemalloc.start()
    try:
        with pytest.raises(charrnn.CheckpointError, match=f"is inconsistent: its metadata declares {said}"):
            charrnn.load(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 50_000_000
    for args in (["sample", path], ["eval", path, corpus], ["checkpoints", "export", path, "-o", tmp_path / "e"],
                 ["train", corpus, "--init-from", path, "--steps", 1, "--out", tmp_path / "run"]):
        result = invoke(*args)
        assert_one_line_error(result, 4)
        assert said in result.stderr
    assert ok("checkpoints", "show", path).stdout  # show reads the metadata alone, as it is


def test_a_model_larger_than_the_machines_memory_is_refused_before_loading(tmp_path, monkeypatch):
    path = hand_made(tmp_path / "m.safetensors")
    monkeypatch.setattr("charrnn.runs.model_file.machine_memory", lambda: 10_000)
    with pytest.raises(charrnn.CheckpointError, match=r"holds a lstm 1x8 model that needs about .* to load, and "
                                                      r"this machine has 0 MB"):
        charrnn.load(path)
    result = invoke("sample", path, "-n", 5)
    assert_one_line_error(result, 4)
    assert "to load, and this machine has" in result.stderr


# ---- item 8: a vocabulary entry that is a lone surrogate -------------------------------------------

def test_a_lone_surrogate_in_the_vocabulary_is_refused(tmp_path):
    def surrogate(tensors, meta):
        meta["vocab"] = [*VOCAB[:-1], "\ud800"]

    path = hand_made(tmp_path / "s.safetensors", edit=surrogate)
    with pytest.raises(charrnn.CheckpointError, match=r"not a lone surrogate \(U\+D800\)"):
        charrnn.load(path)
    for args in (["sample", path, "-n", 300, "--temperature", 5], ["eval", path, "-"]):
        result = invoke(*args, input="abc")
        assert_one_line_error(result, 4)
        assert "not a lone surrogate (U+D800)" in result.stderr
    vocab = tmp_path / "vocab.json"
    vocab.write_text(json.dumps([*VOCAB[:-1], "\udfff"]), encoding="utf-8")
    source = exported(tmp_path)
    result = invoke("checkpoints", "import", source, "--vocab", vocab, "-o", tmp_path / "i.safetensors")
    assert_one_line_error(result, 4)
    assert "not a lone surrogate (U+DFFF)" in result.stderr


# ---- item 13: an export where a checkpoint goes; resuming an imported checkpoint -------------------

@pytest.mark.parametrize("command", ["sample", "eval", "init-from", "resume"])
def test_an_export_given_where_a_checkpoint_goes_names_import(tmp_path, corpus, command):
    source = exported(tmp_path)
    args = {"sample": ["sample", source], "eval": ["eval", source, corpus],
            "init-from": ["train", corpus, "--init-from", source, "--steps", 1, "--out", tmp_path / "run"],
            "resume": ["train", corpus, "--resume", source, "--steps", 1, "--out", tmp_path / "run"]}[command]
    result = invoke(*args)
    assert_one_line_error(result, 4)
    assert result.stderr == (f"charrnn: {source} is a PyTorch export (from charrnn checkpoints export), not a "
                             f"checkpoint; turn it back into one with: charrnn checkpoints import {source} -o FILE\n")


def test_the_python_api_names_import_for_an_export(tmp_path, corpus):
    source = exported(tmp_path)
    with pytest.raises(charrnn.CheckpointError, match="charrnn checkpoints import"):
        charrnn.load(source)
    with pytest.raises(charrnn.CheckpointError, match="charrnn checkpoints import"):
        charrnn.train(corpus, init_from=str(source), steps=1, out=str(tmp_path / "run"), progress=False)


def test_resuming_an_imported_checkpoint_says_it_was_imported(tmp_path, corpus):
    ok("checkpoints", "import", exported(tmp_path), "-o", tmp_path / "i.safetensors")
    imported = tmp_path / "i.safetensors"
    result = invoke("train", corpus, "--resume", imported, "--steps", 5, "--out", tmp_path / "run")
    assert_one_line_error(result, 4)
    assert result.stderr == (f"charrnn: {imported} cannot be resumed: it was imported (charrnn checkpoints import), "
                             "so it holds weights but no training to continue; start a run from its weights with "
                             "--init-from\n")
    with pytest.raises(charrnn.CheckpointError, match="it was imported .* with init_from$"):
        charrnn.train(corpus, resume=str(imported), steps=5, out=str(tmp_path / "run"), progress=False)
    assert not (tmp_path / "run").exists()


# ---- item 15: export to standard output ---------------------------------------------------------------

def test_export_to_standard_output_writes_the_file_there(tmp_path, monkeypatch):
    source = hand_made(tmp_path / "m.safetensors")
    ok("checkpoints", "export", source, "-o", tmp_path / "e.safetensors")
    monkeypatch.chdir(tmp_path)
    result = ok("checkpoints", "export", source, "-o", "-")
    assert result.stderr == "charrnn: wrote the export to standard output\n"
    assert not (tmp_path / "-").exists()
    streamed, written = result.stdout_bytes, (tmp_path / "e.safetensors").read_bytes()
    assert len(streamed) == len(written)
    from_stdout, from_file = safetensors.numpy.load(streamed), safetensors.numpy.load(written)
    assert from_stdout.keys() == from_file.keys()
    for name in from_file:
        np.testing.assert_array_equal(from_stdout[name], from_file[name])
    (tmp_path / "s.safetensors").write_bytes(streamed)
    ok("checkpoints", "import", tmp_path / "s.safetensors", "-o", tmp_path / "i.safetensors")


def test_export_to_standard_output_refuses_a_terminal(tmp_path):
    source = hand_made(tmp_path / "m.safetensors")
    leader, follower = os.openpty()
    try:
        done = subprocess.run([sys.executable, "-m", "charrnn", "checkpoints", "export", str(source), "-o", "-"],
                              stdout=follower, stderr=subprocess.PIPE, cwd=tmp_path, timeout=60)
        os.set_blocking(leader, False)
        try:
            written = os.read(leader, 1 << 16)
        except BlockingIOError:
            written = b""
    finally:
        os.close(leader)
        os.close(follower)
    assert done.returncode == 2
    assert done.stderr.decode() == ("charrnn: --output - would write a binary file to the terminal; redirect it to a "
                                    "file or a pipe, or name a file\n")
    assert written == b""
    assert not (tmp_path / "-").exists()


def test_export_help_says_what_dash_does():
    help_text = " ".join(ok("checkpoints", "export", "--help").stdout.split())
    assert "- writes it to standard output, which must then not be a terminal" in help_text


# ---- item 16: show shows every option the run was trained with ---------------------------------------

def test_show_shows_every_option_the_run_was_trained_with(tmp_path):
    train = TrainConfig(batch=3, seq=7, lr=0.0031, optimizer="rmsprop", clip=2.5, schedule="cosine", warmup=11,
                        decay_every=13, decay_rate=0.25, min_lr_frac=0.125, steps=17, epochs=1.5, seconds=19.0,
                        val_frac=0.0625, eval_every=23, seed=29, weight_decay=0.03125, ema=0.9375)
    model = dict(dropout=0.1875, locked_dropout=0.21875, embed_dropout=0.34375, weight_drop=0.40625,
                 zoneout_cell=0.4375, zoneout_hidden=0.46875)
    assert set(model) == {"dropout", *REGULARISERS}

    def trained_with(tensors, meta):
        meta["model"].update(model)

    path = hand_made(tmp_path / "m.safetensors", edit=trained_with, train=train.to_dict(), engine="charrnn",
                     precision="bf16", kernel="amx", threads=3, saving={"every": ["steps", 37], "keep": 41},
                     data={"sources": ["a.txt"], "chars": 43, "separator": "\n--\n", "errors": "replace"})
    shown = " ".join(ok("checkpoints", "show", path).stdout.split())
    expected = {**{f.name: getattr(train, f.name) for f in fields(TrainConfig)}, **model}
    expected["time"] = expected.pop("seconds")
    for name, value in expected.items():
        if name in ("batch", "seq", "optimizer", "lr", "schedule"):
            continue  # on the training line, in words
        assert re.search(rf"(?<![\w.]){name} {re.escape(str(value))}(?![\w.])", shown), name
    assert "batch 3 x seq 7, rmsprop lr 0.0031 (cosine)" in shown
    for said in ("engine charrnn", "precision bf16", "kernel amx", "threads 3", "save_every 37 steps", "keep 41",
                 "separator '\\n--\\n'", "errors replace"):
        assert said in shown, said


def test_show_says_what_a_resume_changed(trained, tmp_path, corpus):
    import shutil

    run = Path(shutil.copytree(trained, tmp_path / "run", ignore=shutil.ignore_patterns("*.lock")))
    charrnn.train(corpus, resume=str(run), steps=4, lr=0.001, progress=False)
    shown = ok("checkpoints", "show", run / "latest.safetensors").stdout
    assert "resumed      at step 3: steps 3 -> 4" in shown
    assert "resumed      at step 3: lr 0.002 -> 0.001" in shown
