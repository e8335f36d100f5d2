"""The command line in-process, through click's CliRunner: stdout and stderr are checked
separately, every write goes under tmp_path, and one small trained run is shared."""

import json
import math
import os
import shutil
from pathlib import Path

import click
import numpy as np
import pytest
from click.testing import CliRunner
from safetensors.numpy import load_file

from charrnn import __version__
from charrnn.runs import checkpoint
from charrnn.cli import cli
from support import plays, write_plays

TINY = ["--hidden", "16", "--layers", "1", "--batch", "4", "--seq", "16", "--eval-every", "10", "-q"]
STEPS = 40
PRIME = "ROMEO:"


def invoke(*args, input=None, env=None):
    return CliRunner().invoke(cli, [str(a) for a in args], input=input, env=env, prog_name="charrnn")


def ok(*args, **kwargs):
    result = invoke(*args, **kwargs)
    assert result.exit_code == 0, (result.exception, result.stderr)
    return result


def text_of(result) -> str:
    """stdout exactly as written (Result.stdout turns \\r\\n into \\n)."""
    return result.stdout_bytes.decode("utf-8")


def assert_one_line_error(result, exit_code=None):
    """A handled failure: non-zero status, nothing on stdout, and on stderr either one
    `charrnn: ...` line or click's usage error (status 2); never a traceback."""
    assert isinstance(result.exception, SystemExit), result.exc_info
    assert result.exit_code != 0
    if exit_code is not None:
        assert result.exit_code == exit_code, result.stderr
    assert result.stdout == ""
    assert "Traceback" not in result.stderr
    lines = result.stderr.splitlines()
    if lines[0].startswith("charrnn: "):
        assert len(lines) == 1, result.stderr
    else:
        assert result.exit_code == 2, result.stderr
        assert lines[0].startswith("Usage: charrnn") and lines[-1].startswith("Error: "), result.stderr



@pytest.fixture(scope="session")
def corpus(tmp_path_factory) -> Path:
    return write_plays(tmp_path_factory.mktemp("corpus") / "plays.txt", 100_000)


@pytest.fixture(scope="session")
def trained(corpus, tmp_path_factory):
    """One seeded run shared by the tests that only read it: (train result, summary)."""
    out = tmp_path_factory.mktemp("runs") / "base"
    result = ok("train", corpus, *TINY, "--steps", STEPS, "--seed", 1, "--json", "--out", out,
                env={"CHARRNN_HOME": str(out.parent / "home")})
    return result, json.loads(result.stdout)


@pytest.fixture
def ckpt(trained) -> str:
    return trained[1]["best"]


# ---- train -> sample -> eval ---------------------------------------------------------------

def test_train_json_summary(trained, corpus):
    result, summary = trained
    assert result.stderr == ""  # -q
    assert result.stdout.count("\n") == 1
    assert {"run_dir", "best", "latest", "steps", "chars", "chars_per_sec", "train_loss", "val_loss",
            "val_bpc"} <= summary.keys()
    assert Path(summary["run_dir"]).is_dir()
    assert Path(summary["best"]).is_file() and Path(summary["latest"]).is_file()
    assert Path(summary["best"]).parent == Path(summary["latest"]).parent == Path(summary["run_dir"])
    assert summary["steps"] == STEPS
    assert summary["chars"] == STEPS * 4 * 16
    assert summary["chars_per_sec"] > 0
    assert 0 < summary["val_loss"] < math.log(len(set(plays(100_000))))
    assert summary["val_bpc"] == pytest.approx(summary["val_loss"] / math.log(2), rel=1e-12)
    latest = checkpoint.load(summary["latest"])
    assert latest.meta["step"] == STEPS
    assert latest.meta["data"]["sources"] == [str(corpus.resolve())]
    metrics = [json.loads(line) for line in (Path(summary["run_dir"]) / "metrics.jsonl").read_text().splitlines()]
    assert [m["step"] for m in metrics] == [10, 20, 30, 40]


def test_train_without_json_writes_nothing_on_stdout(corpus, tmp_path):
    result = ok("train", corpus, *TINY[:-1], "--steps", 10, "--out", tmp_path / "run")
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert lines and all(line.startswith("charrnn: ") for line in lines)
    assert f"done: 10 steps; saved {tmp_path / 'run' / 'latest.safetensors'}" in lines[-1]


def test_default_run_directory_is_under_charrnn_home(corpus, home):
    summary = json.loads(ok("train", corpus, *TINY, "--steps", 2, "--name", "named", "--json").stdout)
    assert Path(summary["run_dir"]) == home / "named"
    assert (home / "named" / "latest.safetensors").is_file()


def test_same_seed_same_text_other_seed_other_text(ckpt):
    first = text_of(ok("sample", ckpt, "-n", 200, "--seed", 7))
    again = text_of(ok("sample", ckpt, "-n", 200, "--seed", 7))
    other = text_of(ok("sample", ckpt, "-n", 200, "--seed", 8))
    assert first == again
    assert first != other


@pytest.mark.parametrize("n", [0, 1, 17, 300])
def test_length_and_prime(ckpt, n):
    primed = text_of(ok("sample", ckpt, "-p", PRIME, "-n", n, "--seed", 3))
    bare = text_of(ok("sample", ckpt, "-p", PRIME, "-n", n, "--seed", 3, "--no-prime"))
    unprimed = text_of(ok("sample", ckpt, "-n", n, "--seed", 3))
    assert primed == PRIME + bare
    assert len(bare) == n
    assert len(unprimed) == n


def test_sample_writes_only_text_on_stdout(ckpt):
    result = ok("sample", ckpt, "-p", PRIME, "-n", 50, "--seed", 3)
    assert result.stderr == ""
    assert text_of(result).startswith(PRIME)


def test_temperature_zero_is_deterministic_without_seed(ckpt):
    first = text_of(ok("sample", ckpt, "-p", PRIME, "-n", 100, "-t", 0))
    assert first == text_of(ok("sample", ckpt, "-p", PRIME, "-n", 100, "-t", 0))
    assert len(first) == len(PRIME) + 100


def test_top_k_one_is_argmax(ckpt):
    argmax = text_of(ok("sample", ckpt, "-p", PRIME, "-n", 100, "--temperature", 0))
    for seed in (1, 2):
        assert text_of(ok("sample", ckpt, "-p", PRIME, "-n", 100, "--top-k", 1, "--seed", seed)) == argmax


def test_num_samples_and_separator(ckpt):
    def samples(n, *extra):
        text = text_of(ok("sample", ckpt, "-p", PRIME, "-n", 40, "--seed", 5, "--num-samples", n,
                          "--separator", "|||", *extra))
        return text.split("|||")  # '|' is not in the vocabulary, so it only comes from the separator

    three = samples(3)
    assert len(three) == 3
    assert all(s.startswith(PRIME) and len(s) == len(PRIME) + 40 for s in three)
    assert len(set(three)) == 3
    # generated together, yet sample i does not depend on how many run beside it
    assert samples(1) == three[:1] and samples(2) == three[:2]
    assert samples(3, "--no-prime") == [s[len(PRIME):] for s in three]


def test_each_of_several_samples_stops_at_its_own_first_occurrence(ckpt):
    full = text_of(ok("sample", ckpt, "-p", PRIME, "-n", 300, "--seed", 4, "--num-samples", 3, "--no-prime",
                      "--separator", "|||")).split("|||")
    stop = "e"
    stopped = text_of(ok("sample", ckpt, "-p", PRIME, "-n", 300, "--seed", 4, "--num-samples", 3, "--no-prime",
                         "--separator", "|||", "--stop", stop)).split("|||")
    assert all(stop in f for f in full)
    assert stopped == [f[:f.index(stop) + 1] for f in full]


@pytest.mark.parametrize("start, width", [(0, 1), (14, 3), (40, 2)])
def test_stop_ends_right_after_the_first_occurrence(ckpt, start, width):
    """The stop text is taken from the unstopped output, so it occurs; (14, 3) straddles
    the 16-character chunks generation is streamed in."""
    full = text_of(ok("sample", ckpt, "-p", PRIME, "-n", 300, "--seed", 11, "--no-prime"))
    stop = full[start:start + width]
    expected = full[:full.index(stop) + width]
    stopped = text_of(ok("sample", ckpt, "-p", PRIME, "-n", 300, "--seed", 11, "--no-prime", "--stop", stop))
    assert stopped == expected
    primed = text_of(ok("sample", ckpt, "-p", PRIME, "-n", 300, "--seed", 11, "--stop", stop))
    assert primed == PRIME + expected


def test_sample_refuses_a_prime_with_unknown_characters(ckpt):
    result = invoke("sample", ckpt, "-p", "ma\u00f1ana", "-n", 5)
    assert_one_line_error(result, 3)
    assert "U+00F1" in result.stderr


def test_eval_json(ckpt, tmp_path):
    text = "First Citizen:\nBefore we proceed any further, hear me speak.\n"
    path = tmp_path / "eval.txt"
    path.write_text(text, encoding="utf-8")
    result = ok("eval", ckpt, path, "--json")
    assert result.stderr == ""
    score = json.loads(result.stdout)
    assert {"chars", "nats_per_char", "bits_per_char", "perplexity"} <= score.keys()
    assert score["chars"] == len(text) - 1
    assert 0 < score["nats_per_char"] < 10
    assert score["bits_per_char"] == pytest.approx(score["nats_per_char"] / math.log(2), rel=1e-12)
    assert score["perplexity"] == pytest.approx(math.exp(score["nats_per_char"]), rel=1e-12)
    piped = json.loads(ok("eval", ckpt, "-", "--json", input=text).stdout)
    assert piped == score
    plain = ok("eval", ckpt, path).stdout
    assert f"bits/char      {score['bits_per_char']:.4f}" in plain


def test_eval_skip_unknown(ckpt, tmp_path):
    path = tmp_path / "eval.txt"
    path.write_text("ma\u00f1ana y ma\u00f1ana\n", encoding="utf-8")
    assert_one_line_error(invoke("eval", ckpt, path, "--no-skip-unknown"), 3)
    score = json.loads(ok("eval", ckpt, path, "--json", "--skip-unknown").stdout)
    assert score["skipped_chars"] == 2
    assert score["chars"] == len("maana y maana\n") - 1


def test_eval_refuses_a_text_too_short_to_score(ckpt, tmp_path):
    """One character predicts nothing: an error, not NaN (which is not JSON)."""
    path = tmp_path / "one.txt"
    path.write_text("a", encoding="utf-8")
    assert_one_line_error(invoke("eval", ckpt, path, "--json"), 3)


# ---- resume and fine-tune -------------------------------------------------------------------

RESUME = ["--hidden", "16", "--layers", "2", "--batch", "4", "--seq", "16", "--eval-every", "10",
          "--dropout", "0.25", "--threads", "1", "--seed", "3", "-q"]


def test_resume_continues_bit_for_bit(corpus, tmp_path):
    ok("train", corpus, *RESUME, "--steps", 30, "--out", tmp_path / "whole")
    ok("train", corpus, *RESUME, "--steps", 15, "--out", tmp_path / "half")
    assert checkpoint.load(tmp_path / "half" / "latest.safetensors").meta["step"] == 15
    ok("train", "--resume", tmp_path / "half" / "latest.safetensors", "--steps", 30, "--threads", 1, "-q")
    whole = checkpoint.load(tmp_path / "whole" / "latest.safetensors")
    resumed = checkpoint.load(tmp_path / "half" / "latest.safetensors")
    assert whole.meta["step"] == resumed.meta["step"] == 30
    assert whole.tensors.keys() == resumed.tensors.keys()
    assert any(name.startswith("optim/") for name in whole.tensors)
    for name, tensor in whole.tensors.items():
        assert np.array_equal(tensor, resumed.tensors[name]), name
    assert whole.meta["batches"] == resumed.meta["batches"]
    assert whole.meta["dropout_rng"] == resumed.meta["dropout_rng"]
    assert whole.meta["best_val"] == resumed.meta["best_val"]


def test_resume_from_a_run_directory_continues_from_latest(corpus, tmp_path):
    """best.safetensors may be older than latest; resuming the run must not redo steps."""
    run = tmp_path / "run"
    ok("train", corpus, *RESUME, "--steps", 20, "--save-every", 5, "--keep", 10, "--out", run)
    shutil.copy(run / "step-00000005.safetensors", run / "best.safetensors")
    summary = json.loads(ok("train", "--resume", run, "--steps", 30, "--threads", 1, "-q", "--json").stdout)
    assert summary["steps"] == 30
    steps = [json.loads(line)["step"] for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert steps == [10, 20, 30]


def test_resume_refuses_a_changed_text(trained, tmp_path):
    other = tmp_path / "other.txt"
    write_plays(other, 20_000)
    result = invoke("train", other, "--resume", trained[1]["latest"], "--steps", 50, "-q")
    assert_one_line_error(result)
    assert "--init-from" in result.stderr
    assert checkpoint.load(trained[1]["latest"]).meta["step"] == STEPS  # untouched


def test_resume_and_init_from_exclude_each_other(ckpt, corpus):
    assert_one_line_error(invoke("train", corpus, "--resume", ckpt, "--init-from", ckpt), 2)


def test_init_from_starts_from_the_weights_on_new_text(trained, tmp_path):
    summary = trained[1]
    base = checkpoint.load(summary["best"])
    new = tmp_path / "new.txt"
    write_plays(new, 10_000, start=50_000)
    # --steps 0: the run's checkpoint holds exactly the weights it started from
    ok("train", new, "--init-from", summary["run_dir"], "--steps", 0, "--batch", 4, "--seq", 16, "-q",
       "--out", tmp_path / "start")
    start = checkpoint.load(tmp_path / "start" / "latest.safetensors")
    params = [name for name in base.tensors if name.startswith("param/")]
    assert params and all(np.array_equal(base.tensors[n], start.tensors[n]) for n in params)
    assert start.meta["vocab"] == base.meta["vocab"]
    assert start.meta["model"] == base.meta["model"]

    result = ok("train", new, "--init-from", summary["best"], "--steps", 10, "--batch", 4, "--seq", 16,
                "--eval-every", 5, "-q", "--json", "--out", tmp_path / "tuned")
    tuned = checkpoint.load(json.loads(result.stdout)["latest"])
    assert tuned.meta["step"] == 10
    assert tuned.meta["vocab"] == base.meta["vocab"]
    assert tuned.meta["data"]["sources"] == [str(new.resolve())]
    assert not np.array_equal(tuned.tensors["param/head.w"], base.tensors["param/head.w"])


def test_init_from_refuses_new_characters(ckpt, tmp_path):
    new = tmp_path / "new.txt"
    new.write_text(plays(5_000) + "\u00f1\n", encoding="utf-8")
    result = invoke("train", new, "--init-from", ckpt, "--steps", 5, "--batch", 4, "--seq", 16, "-q",
                    "--out", tmp_path / "tuned")
    assert_one_line_error(result, 3)
    assert "'\u00f1'" in result.stderr
    assert not (tmp_path / "tuned").exists()


# ---- checkpoints ----------------------------------------------------------------------------

@pytest.fixture
def two_runs(trained, corpus, home):
    """Under $CHARRNN_HOME: 'good' (the shared run) and 'weak' (fewer steps, a worse loss)."""
    shutil.copytree(trained[1]["run_dir"], home / "good")
    ok("train", corpus, *TINY, "--steps", 10, "--out", home / "weak")
    return home / "good", home / "weak"


def test_checkpoints_list_marks_the_best_run(two_runs):
    good, weak = two_runs
    result = ok("checkpoints", "list")
    assert result.stderr == ""
    lines = result.stdout.splitlines()
    assert lines[1].split()[:6] == ["run", "model", "steps", "val", "bpc", "best"]
    rows = lines[2:-1]
    assert len(rows) == 2  # one row per run
    marked = [row for row in rows if row.startswith("*")]
    assert len(marked) == 1 and marked[0].split()[1] == "good"
    assert lines[-1] == "* the lowest best validation among the runs on the same text"
    assert all("lstm 1x16" in row for row in rows)


def test_checkpoints_list_json(two_runs):
    good, weak = two_runs
    result = ok("checkpoints", "list", "--json")
    assert result.stderr == ""
    rows = json.loads(result.stdout)
    assert {Path(r["run_dir"]) for r in rows} == set(two_runs)
    by_run = {r["run"]: r for r in rows}
    assert by_run["good"]["steps"] == STEPS and by_run["weak"]["steps"] == 10
    assert by_run["good"]["best_val_bpc"] < by_run["weak"]["best_val_bpc"]
    assert by_run["good"]["best_on_text"] and not by_run["weak"]["best_on_text"]
    assert Path(by_run["good"]["best"]) == good / "best.safetensors"
    vocab = len(checkpoint.read_meta(good / "best.safetensors")["vocab"])
    assert all(r["vocab"] == vocab and r["cell"] == "lstm" for r in rows)
    assert json.loads(ok("checkpoints", "list", good.parent, "--json").stdout) == rows


def test_checkpoints_list_empty(home):
    result = ok("checkpoints", "list")
    assert result.stdout == ""
    assert result.stderr == f"charrnn: no checkpoints under {home}\n"
    assert json.loads(ok("checkpoints", "list", "--json").stdout) == []


def test_checkpoints_show(ckpt):
    meta = checkpoint.read_meta(ckpt)
    text = ok("checkpoints", "show", ckpt).stdout
    assert f"vocabulary   {len(meta['vocab'])} characters" in text
    assert f"step {STEPS}," in text
    assert "lstm 1x16" in text
    shown = json.loads(ok("checkpoints", "show", ckpt, "--json").stdout)
    assert shown["path"] == ckpt
    assert shown["step"] == STEPS
    assert shown["model"]["vocab_size"] == len(shown["vocab"]) == len(meta["vocab"])


@pytest.fixture
def periodic_run(corpus, tmp_path):
    run = tmp_path / "periodic"
    ok("train", corpus, *TINY, "--steps", 30, "--save-every", 5, "--keep", 10, "--out", run)
    return run


def test_checkpoints_prune(periodic_run):
    run = periodic_run
    # every 5 steps, also where a best checkpoint was written at the same step (10, 20); at 30, latest
    periodic = [run / f"step-{s:08d}.safetensors" for s in (5, 10, 15, 20, 25)]
    assert sorted(run.glob("step-*")) == periodic
    dry = ok("checkpoints", "prune", run, "--keep", 1, "--dry-run")
    assert dry.stdout.splitlines() == [f"would remove {p}" for p in periodic[:-1]]
    assert sorted(run.glob("step-*")) == periodic
    done = ok("checkpoints", "prune", run, "--keep", 1)
    assert done.stdout.splitlines() == [f"removed {p}" for p in periodic[:-1]]
    assert sorted(run.glob("step-*")) == periodic[-1:]
    assert (run / "latest.safetensors").is_file() and (run / "best.safetensors").is_file()
    again = ok("checkpoints", "prune", run, "--keep", 1)
    assert again.stdout == "" and again.stderr == "charrnn: nothing to remove\n"


def test_checkpoints_prune_every_run_under_home(periodic_run, home):
    shutil.move(periodic_run, home / "periodic")
    ok("checkpoints", "prune", "--keep", 0)
    assert sorted(p.name for p in (home / "periodic").iterdir() if not p.name.startswith(".")) == [
        "best.safetensors", "cache", "latest.safetensors", "metrics.jsonl"]


def test_checkpoints_rm(periodic_run, corpus):
    target = periodic_run / "step-00000010.safetensors"
    result = ok("checkpoints", "rm", target)
    assert result.stdout == "" and result.stderr == f"charrnn: removed {target}\n"
    assert not target.exists()
    assert_one_line_error(invoke("checkpoints", "rm", corpus), 4)  # not a checkpoint: kept
    assert corpus.is_file()
    assert_one_line_error(invoke("checkpoints", "rm", target), 2)  # gone


@pytest.mark.parametrize("cell, gates", [("rnn", 1), ("lstm", 4), ("gru", 3)])
def test_export_torch_names_and_shapes(corpus, tmp_path, cell, gates):
    E, H, L = 8, 16, 2
    run = tmp_path / "run"
    ok("train", corpus, "--model", cell, "--embed", E, "--hidden", H, "--layers", L, "--batch", 4, "--seq", 16,
       "--steps", 2, "-q", "--out", run)
    out = tmp_path / "export.safetensors"
    result = ok("checkpoints", "export", run, "--format", "torch", "-o", out)
    assert result.stdout == "" and result.stderr == f"charrnn: wrote {out}\n"
    tensors = load_file(str(out))
    V = len(checkpoint.read_meta(run / "best.safetensors")["vocab"])
    G = gates
    expected = {"emb.weight": (V, E), "head.weight": (V, H), "head.bias": (V,)}
    for k in range(L):
        expected.update({f"rnn.weight_ih_l{k}": (G * H, E if k == 0 else H), f"rnn.weight_hh_l{k}": (G * H, H),
                         f"rnn.bias_ih_l{k}": (G * H,), f"rnn.bias_hh_l{k}": (G * H,)})
    assert {name: t.shape for name, t in tensors.items()} == expected
    assert all(t.dtype == np.float32 for t in tensors.values())
    params = checkpoint.load(run / "best.safetensors").tensors
    assert np.array_equal(tensors["rnn.weight_hh_l1"], params["param/layer1.wh"])
    assert np.array_equal(tensors["head.weight"], params["param/head.w"])
    info = checkpoint.read_meta(out)
    assert info["module"] == f"torch.nn.{cell.upper()}"
    assert (info["input_size"], info["hidden_size"], info["num_layers"]) == (E, H, L)


# ---- CKPT resolution ------------------------------------------------------------------------

def resolved(*args) -> Path:
    return Path(json.loads(ok("checkpoints", "show", *args, "--json").stdout)["path"])


def test_ckpt_resolution(two_runs, monkeypatch, tmp_path):
    good, weak = two_runs
    (tmp_path / "elsewhere").mkdir()
    older = os.stat(weak / "latest.safetensors").st_mtime - 100
    for path in good.iterdir():
        os.utime(path, (older, older))
    assert resolved(str(good / "latest.safetensors")) == good / "latest.safetensors"  # a file
    assert resolved(str(good)) == good / "best.safetensors"  # a run directory: its best
    assert resolved("good") == good / "best.safetensors"  # a run name under $CHARRNN_HOME
    assert resolved() == weak / "best.safetensors"  # nothing: the most recent run
    monkeypatch.chdir(tmp_path / "elsewhere")  # a run name does not depend on the working directory
    assert resolved("good") == good / "best.safetensors"
    assert text_of(ok("sample", "-n", 20, "--seed", 1)) == text_of(ok("sample", weak, "-n", 20, "--seed", 1))


@pytest.mark.parametrize("command", [["sample"], ["eval"], ["checkpoints", "show"], ["checkpoints", "export"]])
def test_ckpt_bad_name(command, corpus, tmp_path):
    extra = {"eval": [corpus], "export": ["-o", tmp_path / "x.safetensors"]}.get(command[-1], [])
    result = invoke(*command, "no-such-run", *extra)
    assert_one_line_error(result, 4)
    assert "'no-such-run'" in result.stderr


def test_ckpt_omitted_without_runs(home):
    result = invoke("sample", "-n", 5)
    assert_one_line_error(result, 4)
    assert str(home) in result.stderr


# ---- help, options, version -----------------------------------------------------------------

def commands(group=cli, path=()):
    yield path, group
    if isinstance(group, click.Group):
        for name, sub in group.commands.items():
            yield from commands(sub, (*path, name))


COMMANDS = list(commands())


IDS = [" ".join(p) or "charrnn" for p, _ in COMMANDS]


@pytest.mark.parametrize("path", [p for p, _ in COMMANDS], ids=IDS)
@pytest.mark.parametrize("flag", ["--help", "-h"])
def test_help(path, flag):
    result = ok(*path, flag)
    assert result.stdout.startswith(f"Usage: {' '.join(('charrnn',) + path)}")
    assert result.stderr == ""


@pytest.mark.parametrize("path, command", COMMANDS, ids=IDS)
def test_every_option_has_help(path, command):
    assert command.help and command.help.strip()
    with click.Context(command, info_name="charrnn") as ctx:
        options = [p for p in command.get_params(ctx) if isinstance(p, click.Option)]
    assert options
    for option in options:
        assert option.help and option.help.strip(), option.opts


def test_expected_commands():
    assert {" ".join(p) for p, _ in COMMANDS} >= {
        "train", "sample", "eval", "checkpoints", "checkpoints list", "checkpoints show",
        "checkpoints prune", "checkpoints rm", "checkpoints export"}


@pytest.mark.parametrize("flag", ["--version", "-V"])
def test_version(flag):
    result = ok(flag)
    assert result.stdout == f"charrnn, version {__version__}\n"


# ---- errors are one line --------------------------------------------------------------------

@pytest.fixture
def inputs(tmp_path, corpus, trained):
    (tmp_path / "empty.txt").write_bytes(b"")
    (tmp_path / "binary.bin").write_bytes(bytes(range(256)) * 4)
    (tmp_path / "latin1.txt").write_bytes("caf\u00e9\n".encode("latin-1") * 100)
    (tmp_path / "short.txt").write_text("to be or not to be\n" * 3, encoding="utf-8")
    return dict(text=str(corpus), ckpt=trained[1]["best"], **{
        name: str(tmp_path / f"{name}{ext}") for name, ext in (
            ("missing", ".txt"), ("empty", ".txt"), ("binary", ".bin"), ("latin1", ".txt"), ("short", ".txt"))})


SMALL = "--hidden 8 --batch 4 --seq 16 --steps 3 -q"
ERRORS = [
    ("train {missing} " + SMALL, 3, "no such file"),
    ("train {empty} " + SMALL, 3, "empty"),
    ("train {binary} " + SMALL, 3, "binary"),
    ("train {latin1} " + SMALL, 3, "UTF-8"),
    ("train {short} --hidden 8 --batch 4 --seq 16 --steps 3 -q", 3, "too short"),
    ("train {text} --hidden -4 --steps 3 -q", 2, "hidden"),
    ("train {text} --hidden 8 --layers 0 --steps 3 -q", 2, "layers"),
    ("train {text} --dropout 1.5 " + SMALL, 2, "dropout"),
    ("train {text} --lr 0 " + SMALL, 2, "--lr"),
    ("train {text} --val-frac 1 " + SMALL, 2, "--val-frac"),
    ("train {text} --keep -1 " + SMALL, 2, "--keep"),
    ("train {text} --threads 0 " + SMALL, 2, "--threads"),
    ("train {text} --model transformer " + SMALL, 2, "--model"),
    ("train {text} --time soon " + SMALL, 2, "--time"),
    ("train {text} --hidden eight", 2, "--hidden"),
    ("train {text} --seed -1 " + SMALL, 2, "--seed"),
    ("train " + SMALL, 2, "name the text to train on"),
    ("sample {ckpt} --temperature -1", 2, "--temperature"),
    ("sample {ckpt} --top-p 0", 2, "--top-p"),
    ("sample {ckpt} --top-p 1.5", 2, "--top-p"),
    ("sample {ckpt} --top-k -1", 2, "--top-k"),
    ("sample {ckpt} -n -1", 2, "--length"),
    ("sample {ckpt} --num-samples 0", 2, "--num-samples"),
    ("sample {ckpt} --seed -3", 2, "--seed"),
    ("sample {text}", 4, "checkpoint"),
    ("eval {ckpt} {missing}", 3, "no such file"),
    ("eval {ckpt} {empty}", 3, "empty"),
    ("eval {ckpt} {binary}", 3, "binary"),
    ("checkpoints prune --keep -1", 2, "--keep"),
    ("checkpoints show {missing}", 4, "missing.txt"),
    ("checkpoints export {ckpt} --format onnx -o {missing}", 2, "--format"),
]


@pytest.mark.parametrize("command, exit_code, mentions", ERRORS)
def test_errors_are_one_line(inputs, tmp_path, command, exit_code, mentions):
    out = ["--out", tmp_path / "out"] if command.startswith("train") else []
    result = invoke(*command.format(**inputs).split(), *out)
    assert_one_line_error(result, exit_code)
    assert mentions in result.stderr
    assert not (tmp_path / "out").exists()
