"""Every script of benchmarks/ runs, on a tiny setting: a few steps of a tiny model on a text the
test writes, nothing from outside the repository, no waiting for a quiet machine, results into tmp_path. No
figure is checked (timings are not for tests), only that each script ends well and says what
it measured, so none can rot unnoticed. The scripts that need PyTorch carry the torch marker."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from charrnn.kernels.gemm_bf16 import available_paths
from support import write_plays

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "benchmarks"


def bench(*argv, cwd=None, timeout=300):
    """Run a benchmark (python arguments) from the repository's root; its stdout."""
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    done = subprocess.run([sys.executable, *map(str, argv)], cwd=cwd or ROOT, env=env, capture_output=True,
                          text=True, timeout=timeout)
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


@pytest.fixture
def text(tmp_path):
    return write_plays(tmp_path / "text.txt", 20_000)


def json_lines(out):
    return [json.loads(line) for line in out.splitlines() if line.startswith("{")]


def test_charrnn_bench_trains_samples_and_saves_a_loadable_checkpoint(text, tmp_path):
    import charrnn

    saved = tmp_path / "bench.safetensors"
    [result] = json_lines(bench(BENCH / "charrnn_bench.py", "--data", text, "--hidden", 8, "--batch", 4, "--seq", 16,
                                "--iters", 5, "--sample", 20, "--save", saved))
    assert result["iters"] == 5 and result["sample_chars"] == 20 and result["val_bpc"] > 0
    assert result["isa"] and result["kernel"]
    model = charrnn.load(saved)
    assert (model.meta["kernel"], model.meta["isa"]) == (result["kernel"], result["isa"])


def test_run_py_runs_each_suite_on_charrnn(text, tmp_path):
    """One case of each suite (train, sample, cold, memory, quality), charrnn's side only. The
    training budget leaves room for the 3 warm-up steps (kernels loading in the first) on a busy
    machine, so that the train line has its chars/s."""
    results = tmp_path / "results"
    out = bench(BENCH / "run.py", "--suites", "train,sample,cold,memory,quality", "--impls", "charrnn", "--reps", 1,
                "--threads", 1, "--seconds", 4, "--quality-seconds", 1, "--coretype", "asis", "--quiet-wait", 0,
                "--only", "train (a),sample LSTM 2x256 B1,cold,memory (b),quality", "--data", text,
                "--models", tmp_path / "models", "--results", results)
    [path] = results.iterdir()
    records = [r for r in map(json.loads, path.read_text().splitlines()) if r.get("kind") != "machine"]
    assert sorted(r["suite"] for r in records) == ["cold", "memory", "quality", "sample", "train"]
    failed = [(r["line"], r["rc"], r["value"], r.get("stderr_tail")) for r in records
              if r["rc"] != 0 or r["value"] is None]
    assert not failed
    assert "| train chars/s |" in out and "| wall s |" in out


@pytest.mark.skipif(not available_paths(), reason="bf16_peak.py measures bf16; this CPU has no bf16 products")
def test_bf16_peak(tmp_path):
    out = bench(BENCH / "bf16_peak.py", "--reps", 1, "--hidden", 16)
    assert "(a) bare-register peak" in out and "(c) training step" in out and "| 2x16 int8 |" in out


def test_bf16_peak_says_when_there_is_nothing_to_measure(monkeypatch):
    if available_paths():
        pytest.skip("this CPU has bf16 products: test_bf16_peak measures them")
    assert "nothing to measure" in bench(BENCH / "bf16_peak.py", "--reps", 1, "--hidden", 16)


def test_weight_bandwidth():
    out = bench(BENCH / "weight_bandwidth.py", "--reps", 1, "--products", 2, "--sizes", "64x128,32x48")
    assert len(out.splitlines()) == 3 and out.splitlines()[2].split()[:3] == ["32", "x", "48"]


def test_vocab_size():
    rows = json_lines(bench(BENCH / "vocab_size.py", "--vocab", "20,40", "--hidden", 8, "--layers", 1, "--batch", 4,
                            "--seq", 8, "--steps", 2, "--warmup", 1, "--sample", 20, "--chars", 5000, "--reps", 1,
                            "--threads", 1, "--json"))
    assert [row["V"] for row in rows] == [20, 40]


def test_precision_quality(text):
    precisions = ["fp32"] + (["bf16"] if available_paths() else [])
    rows = json_lines(bench(BENCH / "precision_quality.py", "--data", text, "--hidden", 8, "--layers", 1,
                            "--batch", 4, "--seq", 16, "--steps", 3, "--threads", 1,
                            "--precisions", ",".join(precisions)))
    assert [row.get("precision") for row in rows[:len(precisions)]] == precisions


def test_memory_large(tmp_path):
    out = bench(BENCH / "memory_large.py", "--size-gb", 0.0005, "--dir", tmp_path, "--steps", 2, "--hidden", 8,
                "--layers", 1, "--val-frac", 0.05)
    assert "cache reused" in out and "id cache:" in out
    assert list(tmp_path.iterdir()) == []  # the text and the runs are removed


def test_quality_on_charrnn(text, tmp_path):
    results = tmp_path / "results"
    out = bench(BENCH / "quality.py", "--corpora", text, "--budgets", 1, "--seeds", 0, "--impls", "charrnn",
                "--threads", 1, "--work", tmp_path / "work", "--results", results, "--quiet-wait", 0)
    [path] = results.iterdir()
    [record] = [r for r in map(json.loads, path.read_text().splitlines()) if r.get("kind") != "machine"]
    assert record["rc"] == 0 and record["value"] is not None
    assert "| corpus | budget |" in out


@pytest.mark.torch
def test_charrnn_bench_on_the_torch_engine(text):
    [result] = json_lines(bench(BENCH / "charrnn_bench.py", "--data", text, "--hidden", 8, "--batch", 4, "--seq", 16,
                                "--iters", 5, "--no-val", "--engine", "torch"))
    assert result["engine"] == "torch" and result["isa"] is None and result["iters"] == 5


@pytest.mark.torch
def test_torch_awd(text):
    [result] = json_lines(bench(BENCH / "torch_awd.py", "--data", text, "--hidden", 8, "--layers", 1, "--batch", 4,
                                "--seq", 16, "--iters", 3, "--threads", 1, "--warmup", 1))
    assert result["iters"] == 3


@pytest.mark.torch
def test_torch_export_check(text, tmp_path):
    saved = tmp_path / "bench.safetensors"
    bench(BENCH / "charrnn_bench.py", "--data", text, "--hidden", 8, "--batch", 4, "--seq", 16, "--iters", 3,
          "--no-val", "--save", saved)
    [result] = json_lines(bench(BENCH / "torch_export_check.py", saved, "--torch-python", sys.executable,
                                "--text", "ROMEO:\nWhat, ho!"))
    assert result["relative_difference"] < 1e-5


@pytest.mark.skipif(shutil.which("bash") is None, reason="no bash")
def test_torch_engine_gpu_script_parses():
    """benchmarks/torch_engine_gpu.sh needs a CUDA GPU and minutes; here only bash's syntax check
    (bash -n) runs on it."""
    done = subprocess.run(["bash", "-n", str(BENCH / "torch_engine_gpu.sh")], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
