"""Watching a model learn: samples while training, the progress display, --dry-run, loss
plots, the loss sparkline, and downloading a known corpus."""

import dataclasses
import functools
import hashlib
import http.server
import json
import math
import re
import shutil
import struct
import sys
import threading
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from support import PLAYS, write_plays
from test_cli import assert_one_line_error, invoke, ok

from charrnn.runs import checkpoint, rundir
from charrnn.training import loop
from charrnn.training import samples as sampling
from charrnn.cli import train as train_cli
from charrnn.cli.checkpoints import _sparkline
from charrnn.model.config import ModelConfig
from charrnn.text.corpora import KNOWN_CORPORA

TINY = ["--hidden", "16", "--layers", "1", "--batch", "4", "--seq", "16", "--eval-every", "10"]
SAMPLED = re.compile(r"^charrnn: sample at step (\d+):\n(.*?)(?=^charrnn: )", re.M | re.S)



@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    return write_plays(tmp_path_factory.mktemp("corpus") / "plays.txt", 50_000)


def samples(stderr: str) -> dict[int, str]:
    return {int(step): text for step, text in SAMPLED.findall(stderr + "charrnn: ")}


# ---- --sample-every ---------------------------------------------------------------------------

DROPOUT_RUN = [*TINY, "--layers", "2", "--dropout", "0.25", "--seed", "5", "--steps", "30"]


def test_samples_do_not_change_training(corpus, tmp_path):
    """Dropout draws from the trainer's generator: had sampling touched it, or the weights,
    the state or the optimiser, the runs would part."""
    plain = ok("train", corpus, *DROPOUT_RUN, "-q", "--out", tmp_path / "plain")
    watched = ok("train", corpus, *DROPOUT_RUN, "--sample-every", 10, "--sample-length", 50,
                 "--sample-prime", "ROMEO:", "--out", tmp_path / "watched")
    assert plain.stderr == ""
    assert sorted(samples(watched.stderr)) == [10, 20, 30]
    a = checkpoint.load(tmp_path / "plain" / "latest.safetensors")
    b = checkpoint.load(tmp_path / "watched" / "latest.safetensors")
    params = [name for name in a.tensors if name.startswith("param/")]
    assert len(params) == 1 + 4 * 2 + 2  # embedding, two layers, head
    assert a.tensors.keys() == b.tensors.keys()
    for name in a.tensors:
        assert np.array_equal(a.tensors[name], b.tensors[name]), name
    assert a.meta["dropout_rng"] == b.meta["dropout_rng"]
    losses = lambda meta: [(h["step"], h["train_loss"], h["val_loss"]) for h in meta["history"]]  # noqa: E731
    assert losses(a.meta) == losses(b.meta)


def test_samples_start_with_the_prime_and_repeat_with_the_run(corpus, tmp_path):
    args = [*TINY, "--steps", 20, "--sample-every", 10, "--sample-length", 60, "--sample-prime", "ROMEO:"]
    first = ok("train", corpus, *args, "--out", tmp_path / "a")
    again = ok("train", corpus, *args, "--out", tmp_path / "b")
    other = ok("train", corpus, *args, "--seed", 9, "--out", tmp_path / "c")
    assert first.stdout == ""
    shown = samples(first.stderr)
    assert sorted(shown) == [10, 20]
    assert all(text.startswith("ROMEO:") for text in shown.values())
    assert samples(again.stderr) == shown
    assert samples(other.stderr) != shown
    assert shown[10] != shown[20]  # other weights, other seed


def test_sample_text_is_prime_plus_length(corpus, tmp_path, monkeypatch):
    """The samples themselves: the prime and exactly --sample-length characters of the vocabulary."""
    captured = []
    original = sampling.Samples.sample

    def spy(self, model, step):
        captured.append(original(self, model, step))
        return captured[-1]

    monkeypatch.setattr(sampling.Samples, "sample", spy)
    result = ok("train", corpus, *TINY, "--steps", 10, "--sample-every", 5, "--sample-length", 37,
                "--out", tmp_path / "run")
    vocab = set(checkpoint.read_meta(tmp_path / "run" / "latest.safetensors")["vocab"])
    assert len(captured) == 2
    for text in captured:
        assert text.startswith("\n")  # the default prime: a newline, which the text has
        assert len(text) == 1 + 37 and set(text) <= vocab
    assert "charrnn: sample at step 5:\n" + captured[0].strip("\n") in result.stderr


def test_sample_every_duration(corpus, tmp_path):
    result = ok("train", corpus, *TINY, "--steps", 20, "--sample-every", "0.001s", "--sample-length", 10,
                "--out", tmp_path / "run")
    assert samples(result.stderr) and set(samples(result.stderr)) <= set(range(1, 21))


def test_sample_due_by_steps_or_by_clock(monkeypatch):
    from charrnn.training.options import RunOptions
    from charrnn.text.vocab import Vocab

    clock = [100.0]
    monkeypatch.setattr(sampling.time, "monotonic", lambda: clock[0])
    ids = np.zeros(1, np.int64)
    by_steps = sampling.Samples(RunOptions(sample_every=("steps", 5), sample_prime="a"), Vocab("ab"), ids, 0)
    assert [step for step in range(1, 16) if by_steps.due(step)] == [5, 10, 15]
    by_clock = sampling.Samples(RunOptions(sample_every=("seconds", 30.0), sample_prime="a"), Vocab("ab"), ids, 0)
    assert not by_clock.due(1)
    clock[0] = 130.0
    assert by_clock.due(2)


def test_default_prime_is_a_newline_or_the_first_character():
    from charrnn.training.samples import default_prime
    from charrnn.text.vocab import Vocab

    assert default_prime(Vocab.from_text("ab\nba"), Vocab.from_text("ab\nba").encode("ab\nba")) == "\n"
    assert default_prime(Vocab.from_text("to be"), Vocab.from_text("to be").encode("to be")) == "t"
    korean = Vocab.from_text("한국어", unit="byte")
    assert default_prime(korean, korean.encode("한국어")) == "한"


def test_quiet_shows_no_samples(corpus, tmp_path):
    result = ok("train", corpus, *TINY, "--steps", 10, "--sample-every", 5, "-q", "--out", tmp_path / "run")
    assert result.stderr == ""


@pytest.mark.parametrize("args, status, mentions", [
    (["--sample-every", "0"], 2, "--sample-every"),
    (["--sample-every", "5", "--sample-length", "0"], 2, "--sample-length"),
    (["--sample-every", "5", "--sample-temperature", "-1"], 2, "--sample-temperature"),
    (["--sample-every", "5", "--sample-prime", "ma\u00f1ana"], 3, "U+00F1"),
])
def test_sample_option_errors(corpus, tmp_path, args, status, mentions):
    result = invoke("train", corpus, *TINY, "--steps", 5, *args, "--out", tmp_path / "run")
    assert_one_line_error(result, status)
    assert mentions in result.stderr
    assert not (tmp_path / "run").exists()


# ---- progress display -----------------------------------------------------------------------

def test_log_lines_show_progress_time_left_and_checkpoint(corpus, tmp_path, monkeypatch):
    monkeypatch.setattr(train_cli, "LOG_EVERY_SECONDS", 0.0)  # a line every step
    run = tmp_path / "run"
    result = ok("train", corpus, *TINY, "--steps", 20, "--out", run)
    lines = [line for line in result.stderr.splitlines() if line.startswith("charrnn: step ")]
    assert [int(line.split()[2]) for line in lines] == list(range(1, 21))
    at_10 = lines[9]
    assert re.fullmatch(rf"charrnn: step 10 epoch \d\.\d\d loss \d\.\d{{3}} val (\d\.\d{{3}}) \((\d\.\d{{3}}) bpc\) "
                        rf"[\d.]+k chars/s \((fp32 register tile|bf16 AMX|bf16 AVX512-BF16 tile)\) \d+s left saved "
                        rf"{re.escape(str(run / 'latest.safetensors'))}", at_10), at_10
    val, bpc = map(float, re.search(r"val (\S+) \((\S+) bpc", at_10).groups())
    assert bpc == pytest.approx(val / math.log(2), abs=2e-3)
    assert lines[10].endswith("left last saved at step 10")
    assert "chars/s" not in lines[0] and "left" not in lines[0]  # nothing timed yet


def test_progress_bar_on_a_terminal(corpus, tmp_path, monkeypatch):
    """The tqdm bar, its postfix and messages written above it all go to stderr."""
    monkeypatch.setattr(train_cli, "stderr_is_terminal", lambda: True)
    run = tmp_path / "run"
    result = ok("train", corpus, *TINY, "--steps", 20, "--sample-every", 10, "--sample-length", 20,
                "--sample-prime", "ROMEO:", "--out", run)
    assert result.stdout == ""
    err = result.stderr
    assert f"charrnn: saved {run / 'latest.safetensors'} at step 10" in err
    assert "20/20" in err and "100%" in err
    assert re.search(r"epoch \d\.\d\d, loss \d\.\d{3}, val \d\.\d{3} \(\d\.\d{3} bpc\), [\d.]+k chars/s \([^)]+\), "
                     r"\d+s left, saved at step 20", err), err
    assert sorted(samples(err.replace("\r", "\n"))) == [10, 20]


def budget_trainer(step, steps=None, epochs=None, seconds=None, train_seconds=0.0, steps_per_epoch=50):
    """A trainer's budget: one character a step, so 2 chars/s is 0.5 s a step."""
    return SimpleNamespace(step=step, train_seconds=train_seconds, cfg=SimpleNamespace(
        steps=steps, epochs=epochs, seconds=seconds, batch=1, seq=1),
        batches=SimpleNamespace(steps_per_epoch=steps_per_epoch))


@pytest.mark.parametrize("budget, total, left", [
    (dict(steps=100), 100, 30.0),  # 60 steps at 0.5 s
    (dict(epochs=1.5), 75, 17.5),  # ceil(1.5 * 50) = 75 steps
    (dict(steps=100, epochs=1), 50, 5.0),  # whichever comes first
    (dict(seconds=60.0, train_seconds=45.0), None, 15.0),
    (dict(steps=1000, seconds=60.0, train_seconds=45.0), 1000, 15.0),
    (dict(steps=30), 30, 0.0),  # past the budget (a resumed run given less)
    (dict(), None, None),
])
def test_time_left_follows_the_budget(budget, total, left):
    trainer = budget_trainer(40, **budget)
    assert loop.budget_steps(trainer) == total
    assert loop.seconds_left(trainer, 2.0) == left


# ---- --dry-run --------------------------------------------------------------------------------

def test_dry_run_writes_nothing(corpus, tmp_path, home):
    result = ok("train", corpus, "--hidden", 24, "--layers", 2, "--batch", 8, "--seq", 32, "--dry-run",
                "--out", tmp_path / "run")
    assert not (tmp_path / "run").exists() and not home.exists()
    params = ModelConfig("lstm", len(set(corpus.read_text(encoding="utf-8"))), 24, 2).n_params()
    out = result.stdout
    assert f"{params:,} parameters" in out
    assert f"vocabulary     {len(set(corpus.read_text(encoding='utf-8')))} characters" in out
    train_chars = int(50_000 * 0.9)
    n_col = (train_chars - 1) // 8
    assert f"steps/epoch    {n_col // 32:,} (batch 8 x seq 32" in out
    assert re.search(r"memory         up to [\d.]+ MB: parameters [\d.]+ MB, gradients .* optimiser moments "
                     r"[\d.]+ MB, activations \(B 8 x T 32\) [\d.]+ MB", out), out
    assert re.search(r"s/step \(median of \d timed steps .*: \d+s per epoch", out), out
    assert "budget         " in out
    assert "Traceback" not in result.stderr


def test_dry_run_json_and_default_run_directory(corpus, home):
    result = ok("train", corpus, *TINY, "--steps", 500, "--threads", 1, "--dry-run", "--json", "-q")
    assert result.stderr == ""
    assert not home.exists()
    report = json.loads(result.stdout)
    vocab = len(set(corpus.read_text(encoding="utf-8")))
    cfg = ModelConfig("lstm", vocab, 16, 1)
    assert report["params"] == cfg.n_params() and report["vocab_size"] == vocab
    memory = report["memory_bytes"]
    assert memory["parameters"] == memory["gradients"] == cfg.n_params() * 4  # one thread: one gradient
    assert memory["optimizer"] == 2 * cfg.n_params() * 4  # Adam's m and v
    assert memory["activations"] > 0 and memory["validation"] > 0
    assert memory["total"] == sum(v for k, v in memory.items() if k != "total")
    assert report["steps_per_epoch"] == (int(50_000 * 0.9) - 1) // 4 // 16
    assert 0 < report["timed_steps"] <= 5 and report["seconds_per_step"] > 0
    assert report["seconds_per_epoch"] == pytest.approx(report["seconds_per_step"] * report["steps_per_epoch"])
    assert report["steps_left"] == 500 and report["start_step"] == 0


def test_dry_run_of_a_resume_leaves_the_run_alone(corpus, tmp_path):
    run = tmp_path / "run"
    ok("train", corpus, *TINY, "--steps", 10, "-q", "--out", run)
    before = {p: p.read_bytes() for p in run.rglob("*") if p.is_file()}
    report = json.loads(ok("train", "--resume", run, "--steps", 40, "--dry-run", "--json", "-q").stdout)
    assert report["start_step"] == 10 and report["steps_left"] == 30
    assert {p: p.read_bytes() for p in run.rglob("*") if p.is_file()} == before


# ---- plot ---------------------------------------------------------------------------------------

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def png_size(data: bytes) -> tuple[int, int]:
    """Width and height from the IHDR chunk, which must come first."""
    assert data[:8] == PNG_SIGNATURE
    length, kind = struct.unpack(">I4s", data[8:16])
    assert kind == b"IHDR" and length == 13
    return struct.unpack(">II", data[16:24])


@pytest.fixture(scope="module")
def runs(corpus, tmp_path_factory):
    """Two runs under one home: 'small' (hidden 8) and 'large' (hidden 16)."""
    root = tmp_path_factory.mktemp("plots") / "home"
    for name, hidden in (("small", 8), ("large", 16)):
        ok("train", corpus, *TINY, "--hidden", hidden, "--steps", 40, "-q", "--out", root / name)
    return root


def test_plot_png(runs, tmp_path):
    out = tmp_path / "loss.png"
    result = ok("plot", runs / "small", "-o", out)
    assert result.stdout == ""
    assert result.stderr == f"charrnn: wrote {out}\n"
    data = out.read_bytes()
    assert png_size(data) == (1200, 450)
    assert len(data) > 20_000  # two panels of axes, curves and labels, not an empty canvas


def test_plot_several_runs_as_svg(runs, tmp_path, home):
    shutil.copytree(runs, home)
    out = tmp_path / "compare.svg"
    ok("plot", "small", "large", "-o", out)  # run names under $CHARRNN_HOME
    svg = out.read_text(encoding="utf-8")
    assert svg.startswith("<?xml") and "<svg" in svg and len(svg) > 20_000
    for label in ("small validation", "small training", "large validation", "large training", "step",
                  "training time (s)", "loss (bits/char)"):
        assert label in svg, label
    single = tmp_path / "single.png"
    ok("plot", "-o", single)  # no RUN: the most recent run
    assert png_size(single.read_bytes()) == (1200, 450)


def test_plot_without_metrics_uses_the_checkpoint_history(runs, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(runs / "small", run)
    (run / "metrics.jsonl").unlink()
    ok("plot", run, "-o", tmp_path / "loss.svg")
    svg = (tmp_path / "loss.svg").read_text(encoding="utf-8")
    assert "run validation" in svg and "run training" in svg  # named by its directory


def test_plot_without_matplotlib_says_how_to_get_it(runs, tmp_path, monkeypatch):
    for name in [n for n in sys.modules if n == "matplotlib" or n.startswith("matplotlib.")] + ["matplotlib"]:
        monkeypatch.setitem(sys.modules, name, None)  # `import matplotlib` now raises ImportError
    result = invoke("plot", runs / "small", "-o", tmp_path / "loss.png")
    assert_one_line_error(result, 1)
    assert result.stderr == "charrnn: plotting needs matplotlib: pip install 'charrnn[plot]'\n"
    assert not (tmp_path / "loss.png").exists()


@pytest.mark.parametrize("args, status", [
    (["{small}", "-o", "loss.pdf"], 2),
    (["no-such-run", "-o", "loss.png"], 4),
])
def test_plot_errors(runs, tmp_path, monkeypatch, args, status):
    monkeypatch.chdir(tmp_path)
    assert_one_line_error(invoke("plot", *(a.format(small=runs / "small") for a in args)), status)
    assert list(tmp_path.iterdir()) == []


def test_history_merges_metrics_and_checkpoint(tmp_path):
    run = rundir.RunDir(tmp_path)
    meta = dict(history=[dict(step=s, seconds=s / 10, train_loss=2.0, val_loss=3.0 - s / 100) for s in (10, 20, 30)])
    run.append_metrics(dict(step=30, seconds=3.0, train_loss=1.0, val_loss=1.5))
    run.append_metrics(dict(step=40, seconds=4.0, train_loss=1.0, val_loss=1.4))
    (tmp_path / "metrics.jsonl").open("a").write('{"step": 50, "val')  # torn by a kill
    merged, torn = rundir.history(run, meta)
    assert [r["step"] for r in merged] == [10, 20, 30, 40] and torn == 1
    assert merged[2]["val_loss"] == 1.5  # the file's record wins
    assert [r["step"] for r in rundir.history(run, meta, upto=30)[0]] == [10, 20, 30]
    assert [r["step"] for r in rundir.history(run)[0]] == [30, 40]


# ---- checkpoints show / list --------------------------------------------------------------------

def test_show_fills_a_short_history_from_metrics(corpus, tmp_path):
    run = tmp_path / "run"
    ok("train", corpus, *TINY, "--steps", 40, "-q", "--out", run)
    loaded = checkpoint.load(run / "latest.safetensors")
    full = loaded.meta["history"]
    assert [h["step"] for h in full] == [10, 20, 30, 40]
    checkpoint.save(run / "latest.safetensors", loaded.tensors, {**loaded.meta, "history": full[-1:]})
    shown = ok("checkpoints", "show", run / "latest.safetensors").stdout
    line = next(line for line in shown.splitlines() if line.startswith("val loss"))
    assert f"(steps 10..40, {full[0]['val_loss']:.3f} -> {full[-1]['val_loss']:.3f})" in line
    assert len(line.split()[2]) == 4  # one block per evaluation
    (run / "metrics.jsonl").unlink()
    line = next(line for line in ok("checkpoints", "show", run / "latest.safetensors").stdout.splitlines()
                if line.startswith("val loss"))
    assert "(steps 40..40" in line


def test_sparkline_is_at_most_sixty_wide():
    falling = [10 - k / 30 for k in range(300)]
    line = _sparkline(falling)
    assert len(line) == 60 and line[0] == "█" and line[-1] == "▁"
    assert list(line) == sorted(line, reverse=True)
    assert _sparkline([3.0, 1.0, 2.0]) == "█▁▅"


# ---- corpus fetch -----------------------------------------------------------------------------

@pytest.fixture
def server(tmp_path):
    """An HTTP server on 127.0.0.1 serving tmp_path/served; yields its base URL."""
    served = tmp_path / "served"
    served.mkdir()
    handler = functools.partial(_QuietHandler, directory=str(served))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield served, f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


def test_corpus_fetch_checks_the_hash(server, tmp_path, monkeypatch):
    """A known corpus whose file and hash are the shipped plays, served locally."""
    served, base = server
    shutil.copy(PLAYS, served / "input.txt")
    known = KNOWN_CORPORA["tinyshakespeare"]
    monkeypatch.setitem(KNOWN_CORPORA, "tinyshakespeare", dataclasses.replace(
        known, sha256=hashlib.sha256(PLAYS.read_bytes()).hexdigest(), size=PLAYS.stat().st_size))
    (served / "other.txt").write_text("not shakespeare\n", encoding="utf-8")
    out = tmp_path / "tiny.txt"
    result = ok("corpus", "fetch", "tinyshakespeare", "--url", f"{base}/input.txt", "-o", out)
    assert result.stdout == ""
    assert out.read_bytes() == PLAYS.read_bytes()
    assert hashlib.sha256(out.read_bytes()).hexdigest() == KNOWN_CORPORA["tinyshakespeare"].sha256
    assert result.stderr.splitlines()[-1] == f"charrnn: wrote {out} (SHA-256 checked)"
    again = ok("corpus", "fetch", "tinyshakespeare", "--url", f"{base}/missing.txt", "-o", out)
    assert again.stderr == f"charrnn: {out} is already tinyshakespeare\n"  # no download needed

    wrong = invoke("corpus", "fetch", "tinyshakespeare", "--url", f"{base}/other.txt", "-o", tmp_path / "w.txt")
    assert wrong.exit_code == 3 and "not the expected file" in wrong.stderr
    assert "Traceback" not in wrong.stderr and not (tmp_path / "w.txt").exists()
    missing = invoke("corpus", "fetch", "tinyshakespeare", "--url", f"{base}/missing.txt", "-o", tmp_path / "m.txt")
    assert missing.exit_code == 3 and "HTTP 404" in missing.stderr
    assert not (tmp_path / "m.txt").exists()
    assert list(tmp_path.glob(".*.tmp")) == []


def test_corpus_fetch_refuses_to_overwrite_another_file(tmp_path):
    out = tmp_path / "tinyshakespeare.txt"
    out.write_text("my own notes\n", encoding="utf-8")
    result = invoke("corpus", "fetch", "tinyshakespeare", "--url", PLAYS.as_uri(), "-o", out)  # never the network
    assert_one_line_error(result, 6)
    assert out.read_text(encoding="utf-8") == "my own notes\n"


def test_corpus_fetch_unknown_name():
    result = invoke("corpus", "fetch", "war-and-peace")
    assert_one_line_error(result, 2)
    assert "tinyshakespeare" in result.stderr


def test_corpus_list_names_the_source_and_size():
    out = ok("corpus", "list").stdout
    assert out.startswith("tinyshakespeare")
    assert "1,115,394 bytes" in out
    assert "https://raw.githubusercontent.com/karpathy/char-rnn/master/data/tinyshakespeare/input.txt" in out
