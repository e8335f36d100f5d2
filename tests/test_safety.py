"""Nothing charrnn did not write is touched, a trained run is never lost, no input hangs it or
eats the machine, and no path ends in a traceback (in-process, through click's CliRunner;
the cases that need real processes and signals are in test_safety_process.py)."""

import errno
import json
import math
import os
import shutil
from pathlib import Path

import numpy as np
import pytest

from charrnn.runs import checkpoint, rundir
from charrnn import files
from support import write_plays
from test_cli import assert_one_line_error, invoke, ok

TINY = ["--hidden", "16", "--layers", "1", "--batch", "4", "--seq", "16", "--threads", "1", "-q"]


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    return write_plays(tmp_path_factory.mktemp("corpus") / "plays.txt", 30_000)


@pytest.fixture(scope="module")
def trained(corpus, tmp_path_factory) -> Path:
    """A run with periodic checkpoints, shared by the tests that copy it before changing it."""
    run = tmp_path_factory.mktemp("runs") / "base"
    ok("train", corpus, *TINY, "--steps", 30, "--eval-every", 10, "--save-every", 10, "--keep", 5, "--out", run)
    return run


def copy_run(trained: Path, dest: Path) -> Path:
    shutil.copytree(trained, dest, ignore=shutil.ignore_patterns(rundir.LOCK))
    return dest


def contents(folder: Path) -> dict[Path, bytes]:
    """Every file under `folder` but the lock, which names whoever last held it."""
    return {p: p.read_bytes() for p in folder.rglob("*") if p.is_file() and p.name != rundir.LOCK}


def step_of(path: Path) -> int:
    return checkpoint.read_meta(path)["step"]


# ---- a finished run is never overwritten ----------------------------------------------------------

def test_training_into_a_run_that_holds_checkpoints_is_refused_before_any_work(corpus, trained, tmp_path):
    run = copy_run(trained, tmp_path / "demo")
    before = contents(run)
    result = invoke("train", corpus, *TINY, "--steps", 5, "--out", run)
    assert_one_line_error(result, 2)
    assert result.stderr == (f"charrnn: {run} already holds a trained run base at step 30; continue it with --resume, "
                             "choose another --name, or replace it with --overwrite\n")
    assert contents(run) == before


def test_overwrite_replaces_the_run_once_the_new_one_has_saved(corpus, trained, tmp_path, monkeypatch):
    run = copy_run(trained, tmp_path / "demo")
    old = checkpoint.read_meta(run / "best.safetensors")
    # a start that fails (here: before its first checkpoint) loses nothing
    monkeypatch.setattr("charrnn.training.trainer.Trainer.train_step", lambda self: (_ for _ in ()).throw(MemoryError()))
    failed = invoke("train", corpus, *TINY, "--steps", 5, "--overwrite", "--out", run)
    monkeypatch.undo()
    assert failed.exit_code != 0
    assert checkpoint.read_meta(run / "best.safetensors")["run_id"] == old["run_id"]
    assert len(list(run.glob("step-*.safetensors"))) == 2

    ok("train", corpus, *TINY, "--steps", 5, "--eval-every", 5, "--overwrite", "--out", run, "--seed", 9)
    new = checkpoint.read_meta(run / "latest.safetensors")
    assert new["step"] == 5 and new["run_id"] != old["run_id"]
    assert checkpoint.read_meta(run / "best.safetensors")["run_id"] == new["run_id"]
    assert not list(run.glob("step-*.safetensors"))  # the old run's periodic checkpoints went
    assert [json.loads(line)["step"] for line in (run / "metrics.jsonl").read_text().splitlines()] == [5]
    assert json.loads((run / rundir.MARKER).read_text())["run_id"] == new["run_id"]


def test_a_run_directory_in_use_refuses_another_writer_and_prune_and_rm(trained, tmp_path, corpus):
    run = copy_run(trained, tmp_path / "busy")
    with rundir.RunDir(run).lock("charrnn train"):
        for args in (["train", corpus, *TINY, "--steps", 5, "--out", run, "--overwrite"],
                     ["train", "--resume", run, "--steps", 40, "-q"],
                     ["train", corpus, *TINY, "--steps", 5, "--init-from", run, "--out", run, "--overwrite"],
                     ["checkpoints", "prune", run, "--keep", 0],
                     ["checkpoints", "rm", run / "step-00000010.safetensors"]):
            result = invoke(*args)
            assert_one_line_error(result, 6)
            assert result.stderr == f"charrnn: {run} is in use by charrnn train (pid {os.getpid()})\n", args
        # readers only read complete files
        ok("sample", run, "-n", 20, "--seed", 1)
        ok("eval", run, corpus)
        ok("checkpoints", "list", tmp_path)
        ok("checkpoints", "show", run)
    assert len(list(run.glob("step-*.safetensors"))) == 2


def test_pruning_a_folder_of_runs_leaves_a_run_in_use_alone(trained, tmp_path):
    busy, idle = copy_run(trained, tmp_path / "runs" / "busy"), copy_run(trained, tmp_path / "runs" / "idle")
    periodic = sorted(idle.glob("step-*.safetensors"))
    assert len(periodic) == 2
    with rundir.RunDir(busy).lock("charrnn train"):
        result = ok("checkpoints", "prune", tmp_path / "runs", "--keep", 0)
    assert sorted(result.stdout.splitlines()) == [f"removed {p}" for p in periodic]
    assert f"charrnn: {busy} is in use by charrnn train (pid {os.getpid()}): left alone\n" in result.stderr
    assert len(list(busy.glob("step-*.safetensors"))) == 2
    assert not list(idle.glob("step-*.safetensors"))


def test_metrics_hold_one_record_per_step_after_a_resume(trained, tmp_path):
    """Resuming from step 20 a run that reached 30 does steps 21-30 again: their records are
    replaced, not repeated."""
    run = copy_run(trained, tmp_path / "again")
    shutil.copy(run / "step-00000020.safetensors", run / "latest.safetensors")
    ok("train", "--resume", run, "--steps", 40, "-q")
    steps = [json.loads(line)["step"] for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert steps == [10, 20, 30, 40]


# ---- files charrnn did not write ----------------------------------------------------------------

def test_prune_removes_only_this_runs_checkpoints_newest_by_step(trained, tmp_path):
    foreign = tmp_path / "other-tool"
    foreign.mkdir()
    for step in (1000, 2000, 3000):
        (foreign / f"step-{step:08d}.safetensors").write_bytes(b"another tool's weights")
    assert_quiet_nothing = invoke("checkpoints", "prune", foreign, "--keep", 0)
    assert assert_quiet_nothing.exit_code == 0 and assert_quiet_nothing.stderr == "charrnn: nothing to remove\n"
    assert len(list(foreign.iterdir())) == 3

    run = copy_run(trained, tmp_path / "big")
    for path in run.glob("step-*.safetensors"):
        path.unlink()
    for step in (99999998, 99999999, 100000000):
        shutil.copy(run / "latest.safetensors", run / f"step-{step:08d}.safetensors")
    dry = ok("checkpoints", "prune", run, "--keep", 2, "--dry-run")
    assert dry.stdout == f"would remove {run / 'step-99999998.safetensors'}\n"
    (run / "step-00000001.safetensors").write_bytes(b"not a checkpoint")  # never removed, whatever its name
    ok("checkpoints", "prune", run, "--keep", 0)
    assert sorted(p.name for p in run.glob("step-*")) == ["step-00000001.safetensors"]


def test_prune_takes_a_run_name(trained, home):
    copy_run(trained, home / "named")
    result = ok("checkpoints", "prune", "named", "--keep", 1)
    assert result.stdout == f"removed {home / 'named' / 'step-00000010.safetensors'}\n"
    assert [p.name for p in sorted((home / "named").glob("step-*"))] == ["step-00000020.safetensors"]


def test_every_command_that_reads_a_run_takes_its_name(corpus, trained, home, tmp_path):
    """A bare run name under $CHARRNN_HOME is that run's checkpoint for eval, export, show,
    sample, --resume and --init-from, as it is for prune."""
    copy_run(trained, home / "named")
    score = json.loads(ok("eval", "named", corpus, "--json").stdout)
    assert score == json.loads(ok("eval", home / "named" / "best.safetensors", corpus, "--json").stdout)
    ok("checkpoints", "export", "named", "-o", tmp_path / "named.safetensors")
    assert step_of(tmp_path / "named.safetensors") == step_of(home / "named" / "best.safetensors")
    assert Path(json.loads(ok("checkpoints", "show", "named", "--json").stdout)["path"]).parent == home / "named"
    assert ok("sample", "named", "-n", 20, "--seed", 1).stdout == \
        ok("sample", home / "named", "-n", 20, "--seed", 1).stdout
    ok("train", "--resume", "named", "--steps", 35, "-q")
    assert step_of(home / "named" / "latest.safetensors") == 35
    ok("train", corpus, "--init-from", "named", "--steps", 2, "--name", "tuned", "--threads", "1", "-q")
    assert checkpoint.read_meta(home / "tuned" / "latest.safetensors")["step"] == 2


def test_export_never_replaces_a_file_unless_forced_and_never_a_runs_checkpoint(trained, tmp_path):
    run = copy_run(trained, tmp_path / "x")
    best = (run / "best.safetensors").read_bytes()
    for force in ([], ["--force"]):
        result = invoke("checkpoints", "export", run, "-o", run / "best.safetensors", *force)
        assert_one_line_error(result, 2)
        assert "is a checkpoint of a run" in result.stderr
    assert (run / "best.safetensors").read_bytes() == best
    ok("sample", run, "-n", 5, "--seed", 1)

    mine = tmp_path / "mine.safetensors"
    mine.write_bytes(b"my own file")
    result = invoke("checkpoints", "export", run, "-o", mine)
    assert_one_line_error(result, 2)
    assert result.stderr == f"charrnn: {mine} exists; use --force to replace it, or choose another --output\n"
    assert mine.read_bytes() == b"my own file"
    ok("checkpoints", "export", run, "-o", mine, "--force")
    assert checkpoint.read_meta(mine)["format"] == "torch"


def test_import_never_replaces_a_file_unless_forced_and_never_a_runs_checkpoint(trained, tmp_path):
    run = copy_run(trained, tmp_path / "x")
    exported = tmp_path / "e.safetensors"
    ok("checkpoints", "export", run, "-o", exported)
    best = (run / "best.safetensors").read_bytes()
    for force in ([], ["--force"]):
        result = invoke("checkpoints", "import", exported, "-o", run / "best.safetensors", *force)
        assert_one_line_error(result, 2)
        assert "is a checkpoint of a run" in result.stderr
    assert (run / "best.safetensors").read_bytes() == best
    mine = tmp_path / "mine.safetensors"
    mine.write_bytes(b"my own file")
    assert_one_line_error(invoke("checkpoints", "import", exported, "-o", mine), 2)
    assert mine.read_bytes() == b"my own file"
    ok("checkpoints", "import", exported, "-o", mine, "--force")
    assert ok("sample", mine, "-n", 20, "--seed", 1).stdout == ok("sample", run, "-n", 20, "--seed", 1).stdout


def test_plot_never_replaces_a_file_unless_forced(trained, tmp_path):
    pytest.importorskip("matplotlib")
    out = tmp_path / "notes.png"
    out.write_bytes(b"my picture")
    assert_one_line_error(invoke("plot", trained, "-o", out), 2)
    assert out.read_bytes() == b"my picture"
    ok("plot", trained, "-o", out, "--force")
    assert out.read_bytes().startswith(b"\x89PNG")


def test_resume_from_a_checkpoint_outside_its_run_writes_only_where_told(trained, tmp_path):
    """A run's best checkpoint copied into a folder of other models: resuming it must not write
    latest and best there, over another model's."""
    shelf = tmp_path / "shelf"
    shelf.mkdir()
    shutil.copy(trained / "best.safetensors", shelf / "x-best.safetensors")
    (shelf / "latest.safetensors").write_bytes(b"another model")
    result = invoke("train", "--resume", shelf / "x-best.safetensors", "--steps", 40, "-q")
    assert_one_line_error(result, 2)
    assert "is not in its run's folder; name the folder to continue the run in with --out" in result.stderr
    assert (shelf / "latest.safetensors").read_bytes() == b"another model"
    assert sorted(p.name for p in shelf.iterdir()) == ["latest.safetensors", "x-best.safetensors"]
    ok("train", "--resume", shelf / "x-best.safetensors", "--steps", 40, "-q", "--out", tmp_path / "continued")
    assert step_of(tmp_path / "continued" / "latest.safetensors") == 40


def test_resume_into_another_run_named_by_out_is_refused(corpus, trained, tmp_path):
    """--out naming a folder that holds another run's checkpoints: the no-overwrite rule."""
    other = tmp_path / "other"
    ok("train", corpus, *TINY, "--steps", 3, "--out", other)
    before = contents(other)
    result = invoke("train", "--resume", trained / "best.safetensors", "--steps", 40, "-q", "--out", other)
    assert_one_line_error(result, 2)
    assert f"{other} already holds a trained run" in result.stderr and "--overwrite" in result.stderr
    assert contents(other) == before


def test_an_existing_folder_of_other_files_is_refused_and_left_alone(corpus, tmp_path):
    folder = tmp_path / "mine"
    (folder / "cache").mkdir(parents=True)
    (folder / "cache" / "ids.json").write_text('{"my": "data"}')
    (folder / ".notes.0123456789abcdef.tmp").write_text("looks like a leftover, is not")
    before = contents(folder)
    result = invoke("train", corpus, *TINY, "--steps", 3, "--out", folder)
    assert_one_line_error(result, 2)
    assert "holds files charrnn did not write" in result.stderr
    assert {p: p.read_bytes() for p in folder.rglob("*") if p.is_file()} == before


def test_a_directory_input_leaves_out_charrnns_own_runs(tmp_path, monkeypatch):
    """`charrnn train .` twice: the second run reads the same text, not the first run's
    metrics and id cache."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("CHARRNN_HOME")
    write_plays(tmp_path / "plays.txt", 20_000)
    first = json.loads(ok("train", ".", *TINY, "--steps", 3, "--name", "r1", "--json").stdout)
    second = json.loads(ok("train", ".", *TINY, "--steps", 3, "--name", "r2", "--json").stdout)
    a, b = checkpoint.read_meta(first["latest"]), checkpoint.read_meta(second["latest"])
    assert a["vocab"] == b["vocab"] and a["data"]["chars"] == b["data"]["chars"] == 20_000
    ok("train", "--resume", "checkpoints/r1", "--steps", 6, "-q")


# ---- options a checkpoint fixes -----------------------------------------------------------------

def test_resume_refuses_options_it_cannot_honour_and_records_those_it_changes(trained, tmp_path):
    run = copy_run(trained, tmp_path / "r")
    result = invoke("train", "--resume", run, "--hidden", 512, "--model", "gru", "--lr", 0.5, "--batch", 4)
    assert_one_line_error(result, 2)
    assert "--hidden 512 (the checkpoint's: 16), --model gru (the checkpoint's: lstm) cannot change" in result.stderr
    assert "--batch" not in result.stderr.split("cannot change")[0]  # the same as recorded: not a change
    assert step_of(run / "latest.safetensors") == 30

    ok("train", "--resume", run, "--steps", 40, "--lr", 0.001, "--threads", 2, "-q")
    meta = checkpoint.read_meta(run / "latest.safetensors")
    assert meta["train"]["lr"] == 0.001 and meta["threads"] == 2
    changed = {(c["option"], c["from"], c["to"]) for c in meta["changes"]}
    assert {("lr", 0.002, 0.001), ("threads", 1, 2), ("steps", 30, 40)} <= changed


@pytest.mark.parametrize("flags, named", [(["--unit", "byte"], "--unit byte (the checkpoint's: char)"),
                                          (["--batch", "8"], "--batch 8 (the checkpoint's: 4)"),
                                          (["--seq", "32"], "--seq 32 (the checkpoint's: 16)")])
def test_resume_refuses_a_changed_unit_or_window(trained, tmp_path, flags, named):
    run = copy_run(trained, tmp_path / "r")
    result = invoke("train", "--resume", run, "--steps", 40, *flags)
    assert_one_line_error(result, 2)
    assert f"{named} cannot change" in result.stderr
    assert ("what can: --steps, --epochs, --time, --lr, --eval-every, --save-every, --keep, --threads, --precision, "
            "--engine, --device and the sample options") in result.stderr
    assert step_of(run / "latest.safetensors") == 30


def test_resume_says_what_it_changes(trained, tmp_path):
    run = copy_run(trained, tmp_path / "r")
    result = ok("train", "--resume", run, "--steps", 35, "--lr", 0.001, "--threads", 2, "--hidden", 16)
    assert ("charrnn: resuming at step 30 with lr 0.001 (was 0.002); threads 2 (was 1: the run goes on, but not bit "
            "for bit as it would have on 1)") in result.stderr


def test_init_from_refuses_a_model_shape_other_than_its_checkpoints(trained, corpus, tmp_path):
    result = invoke("train", corpus, "--init-from", trained, "--hidden", 64, "--steps", 3, "--out", tmp_path / "t")
    assert_one_line_error(result, 2)
    assert "--init-from takes the model's shape and vocabulary from its checkpoint: --hidden 64" in result.stderr
    assert not (tmp_path / "t").exists()


# ---- silent wrong results, hangs, unbounded memory ---------------------------------------------

@pytest.mark.parametrize("temperature", ["inf", "1e300", "1000001"])
def test_a_temperature_past_the_bound_is_refused(trained, temperature):
    result = invoke("sample", trained, "-n", 10, "-t", temperature)
    assert_one_line_error(result, 2)
    assert "--temperature must be 0 (argmax) to 1e+06" in result.stderr


@pytest.mark.parametrize("temperature", ["inf", "1e300"])
def test_a_sample_temperature_past_the_bound_is_refused_before_training(corpus, tmp_path, temperature):
    result = invoke("train", corpus, *TINY, "--steps", 5, "--sample-every", 2, "--sample-temperature", temperature,
                    "--out", tmp_path / "t")
    assert_one_line_error(result, 2)
    assert "--sample-temperature must be 0 (argmax) to 1e+06" in result.stderr
    assert not (tmp_path / "t").exists()


def test_the_highest_temperature_samples_near_uniformly(trained):
    """At the bound, 1/T is far from underflowing to 0 (which would mean argmax)."""
    text = ok("sample", trained, "-n", 3000, "-t", "1e6", "--seed", 1, "--no-prime").stdout
    vocab = checkpoint.read_meta(trained / "latest.safetensors")["vocab"]
    counts = np.array([text.count(ch) for ch in vocab])
    assert counts.min() > 0 and counts.max() < 3 * counts.mean()


def test_a_prime_file_has_a_size_limit(trained, tmp_path, endless):
    big = tmp_path / "big.txt"
    big.write_text("a" * (1 << 20 | 1))
    result = invoke("sample", trained, "--prime-file", big, "-n", 5)
    assert_one_line_error(result, 3)
    assert "is larger than 1,048,576 bytes" in result.stderr
    assert_one_line_error(invoke("sample", trained, "--prime-file", endless, "-n", 5), 3)


def test_eval_streams_its_text(trained, tmp_path, monkeypatch, endless):
    """Scoring reads the text in chunks: read 4 KiB at a time it scores exactly what one read
    does, and an endless binary stream is refused at its first chunk."""
    from charrnn.text import sources

    plays = tmp_path / "long.txt"
    write_plays(plays, 30_000)
    whole = json.loads(ok("eval", trained, plays, "--json").stdout)
    monkeypatch.setattr(sources, "CHUNK", 1 << 12)
    chunked = json.loads(ok("eval", trained, plays, "--json").stdout)
    assert chunked == whole
    result = invoke("eval", trained, endless)
    assert_one_line_error(result, 3)
    assert "looks binary" in result.stderr


def test_corpus_fetch_stops_at_the_expected_size(tmp_path, endless):
    url = endless.as_uri()
    result = invoke("corpus", "fetch", "tinyshakespeare", "--url", url, "-o", tmp_path / "t.txt")
    assert result.exit_code == 3 and "Traceback" not in result.stderr
    assert result.stderr.splitlines()[-1] == (f"charrnn: {url} is not the expected file (more than "
                                              "1,115,394 bytes); nothing written")
    assert not (tmp_path / "t.txt").exists()


@pytest.mark.parametrize("options", [["--hidden", "100000"], ["--hidden", "100000", "--dry-run"],
                                     ["--embed", "10000000"], ["--layers", "100000"]])
def test_a_model_too_large_for_the_machine_is_refused_in_one_line(corpus, tmp_path, options):
    result = invoke("train", corpus, *options, "--steps", 1, "--out", tmp_path / "huge")
    assert_one_line_error(result, 2)
    assert "to train" in result.stderr and "this machine has" in result.stderr
    assert not (tmp_path / "huge").exists()


# ---- tracebacks where one line is due ----------------------------------------------------------

def test_a_read_only_run_folder_is_one_line_for_prune_and_rm(trained, tmp_path, monkeypatch):
    """As root, permission bits do not stop writes: the refusal is made by the OS call."""
    run = copy_run(trained, tmp_path / "ro")
    real_unlink = Path.unlink

    def denied(self, *args, **kwargs):
        if self.parent == run and self.name.startswith("step-"):
            raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), str(self))
        return real_unlink(self, *args, **kwargs)

    monkeypatch.setattr(Path, "unlink", denied)
    for args in (["checkpoints", "prune", run, "--keep", 0], ["checkpoints", "rm", run / "step-00000010.safetensors"]):
        result = invoke(*args)
        assert_one_line_error(result, 6)
        assert "Permission denied" in result.stderr


@pytest.mark.parametrize("damage", ["dangling link", "folder", "vanished"])
def test_one_bad_entry_does_not_break_listings(trained, tmp_path, home, monkeypatch, damage):
    run = copy_run(trained, home / "damaged")
    copy_run(trained, home / "fine")
    bad = run / "step-00000001.safetensors"
    if damage == "dangling link":
        bad.symlink_to(run / "gone.safetensors")
    elif damage == "folder":
        bad.mkdir()
    else:  # a periodic checkpoint pruned by the run between the listing and the stat
        real_stat = Path.stat

        def gone(self, *args, **kwargs):
            if self.name == "step-00000010.safetensors":
                raise FileNotFoundError(errno.ENOENT, os.strerror(errno.ENOENT), str(self))
            return real_stat(self, *args, **kwargs)

        monkeypatch.setattr(Path, "stat", gone)
    ok("checkpoints", "list")
    listed = json.loads(ok("checkpoints", "list", "--json").stdout)
    assert str(home / "fine" / "best.safetensors") in [row.get("best") for row in listed]
    ok("checkpoints", "prune", "--keep", 1)
    ok("checkpoints", "show", run)
    ok("sample", "-n", 5, "--seed", 1)
    if damage != "vanished":
        pytest.importorskip("matplotlib")
        ok("plot", run, "-o", tmp_path / "p.png")


@pytest.mark.parametrize("record", ['{"val_loss": "oops", "step": 5}', '{"seconds": "x", "step": 6}',
                                    '{"val_loss": -1e308, "step": 7}', '{"step": true, "val_loss": 1.0}',
                                    '{"step": 8, "val_loss": NaN}', "[1, 2]", "not json"])
def test_hand_edited_metrics_are_skipped_with_one_notice(trained, tmp_path, record):
    pytest.importorskip("matplotlib")
    run = copy_run(trained, tmp_path / "edited")
    with open(run / "metrics.jsonl", "a") as f:
        f.write(record + "\n")
    plotted = ok("plot", run, "-o", tmp_path / "p.svg")
    notice = f"charrnn: left out 1 malformed record of {run / 'metrics.jsonl'}\n"
    assert plotted.stderr.startswith(notice)
    shown = ok("checkpoints", "show", run)
    assert shown.stderr == notice
    assert "(steps 10..30, " in shown.stdout and "True" not in shown.stdout


def test_a_metrics_value_out_of_range_never_reaches_a_plot(tmp_path):
    assert not rundir.valid_record({"step": 1, "val_loss": math.inf})
    assert not rundir.valid_record({"step": -1})
    assert rundir.valid_record({"step": 0, "seconds": None, "val_loss": 1.5})


def test_temporary_names_are_those_atomic_write_leaves(tmp_path):
    files.atomic_write(tmp_path / "x.json", b"{}")
    assert [p.name for p in tmp_path.iterdir()] == ["x.json"]
    assert files.is_temp_name(".x.json.0123456789abcdef.tmp") and not files.is_temp_name(".x.json.tmp")


# ---- a byte model writes valid UTF-8 ------------------------------------------------------------

def test_a_byte_model_writes_valid_utf8_at_every_setting(tmp_path):
    """150 steps of a byte model on Korean text, sampled from a Korean prime: hot, truncated or
    greedy, every sample decodes as strict UTF-8, with no U+FFFD."""
    import random

    rng = random.Random(0)
    words = ["안녕하세요", "여러분", "오늘은", "날씨가", "좋습니다", "한국어", "문장입니다", "학교에", "갑니다"]
    text = "\n".join(" ".join(rng.choice(words) for _ in range(8)) for _ in range(600)) + "\n"
    path = tmp_path / "korean.txt"
    path.write_text(text, encoding="utf-8")
    run = tmp_path / "bytes"
    ok("train", path, *TINY, "--unit", "byte", "--steps", 150, "--out", run)
    for options in (["-t", "1"], ["-t", "3"], ["-t", "0"], ["--top-k", "40", "-t", "2"], ["--top-p", "0.95"],
                    ["--num-samples", "3", "-t", "2"]):
        for seed in range(3):
            out = ok("sample", run, "--prime", "한국", "-n", 301, "--seed", seed, *options).stdout_bytes
            decoded = out.decode("utf-8")  # strict
            assert "\ufffd" not in decoded and decoded.startswith("한국"), options
