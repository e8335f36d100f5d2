"""Faults during training and bad input, through the CLI in-process (CliRunner): non-finite
steps (recovered from, then given up on), a full disk or an unwritable directory, text that
is not UTF-8, invalid options, resuming on changed text, and checkpoints made by hand.
Faults are injected by monkeypatching; every file goes under tmp_path."""

import copy
import errno
import json
import math
import os
import re
import stat
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from charrnn.runs import checkpoint, rundir
from charrnn import files
from charrnn.model.network import Model
from charrnn.training.trainer import MAX_BAD_STEPS, MAX_RECOVERIES
from support import FullDisk, write_plays
from test_cli import assert_one_line_error, invoke, ok

TINY = ["--hidden", "16", "--layers", "1", "--batch", "4", "--seq", "16", "--threads", "1"]
EXACT = ["--hidden", "16", "--layers", "2", "--batch", "4", "--seq", "16", "--dropout", "0.25", "--threads", "1",
         "--seed", "3", "--eval-every", "5", "--save-every", "5", "--keep", "10"]



@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    return write_plays(tmp_path_factory.mktemp("corpus") / "plays.txt", 50_000)


class NaNs:
    """Makes the loss of chosen training steps' Model.loss_and_grad calls NaN (counted from 0
    over the test; the warm-up before the first step, which compiles, is not a step). The real
    computation runs first, so data and dropout draws are those of a normal step."""

    def __init__(self, monkeypatch, bad):
        self.bad, self.calls = bad, 0
        self.on_first_bad = None
        real = Model.loss_and_grad

        def loss_and_grad(model, *args, **kwargs):
            loss = real(model, *args, **kwargs)
            if "dropout_rng" not in kwargs:
                return loss
            call, self.calls = self.calls, self.calls + 1
            if not self.bad(call):
                return loss
            if self.on_first_bad is not None:
                self.on_first_bad()
                self.on_first_bad = None
            return math.nan

        monkeypatch.setattr(Model, "loss_and_grad", loss_and_grad)


def checkpoint_files(run: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(run.glob("*.safetensors"))}


def assert_all_load(run: Path) -> None:
    names = sorted(p.name for p in run.iterdir())
    assert not [n for n in names if n.endswith(files.TEMP_SUFFIX)], names
    for name in names:
        if name.endswith(".safetensors"):
            loaded = checkpoint.load(run / name)
            assert all(np.isfinite(t).all() for t in loaded.tensors.values() if t.dtype.kind == "f"), name


# ---- non-finite steps -----------------------------------------------------------------------

def recovery_line(at, back, k):
    return (f"charrnn: the loss or gradient was not finite for {MAX_BAD_STEPS} steps in a row at step {at}; "
            f"went back to step {back} and halved the learning rate (recovery {k} of {MAX_RECOVERIES})")


def test_a_burst_of_non_finite_steps_is_undone_at_half_the_learning_rate(corpus, tmp_path, monkeypatch):
    """Steps 12-16 fail: no checkpoint is written inside the burst (the periodic one of step
    15 waits), then training goes back to the checkpoint of step 10, says so, halves the
    learning rate and finishes."""
    nans = NaNs(monkeypatch, lambda call: 11 <= call < 11 + MAX_BAD_STEPS)
    run = tmp_path / "run"
    result = ok("train", corpus, *EXACT, "--eval-every", 10, "--steps", 30, "--json", "--out", run)
    summary = json.loads(result.stdout)
    assert nans.calls == 11 + MAX_BAD_STEPS + 20
    assert (summary["steps"], summary["skipped_steps"], summary["recoveries"], summary["lr_scale"]) == (30, 5, 1, 0.5)
    events = []
    for line in result.stderr.splitlines():
        saved = re.match(r"charrnn: step (\d+) .* saved ", line)
        if saved or "not finite" in line:
            events.append(int(saved[1]) if saved else line)
    assert events[:6] == [5, 10, recovery_line(16, 10, 1), 15, 20, 25]
    latest = checkpoint.load(run / "latest.safetensors")
    assert (latest.meta["step"], latest.meta["lr_scale"], latest.meta["recoveries"]) == (30, 0.5, 1)
    assert sorted(p.name for p in run.glob("step-*")) == [f"step-{s:08d}.safetensors" for s in (5, 10, 15, 20, 25)]
    assert_all_load(run)


def test_metrics_hold_one_record_per_step_after_a_recovery(corpus, tmp_path, monkeypatch):
    """Validated at step 15 inside a burst of failing steps (12-16), the run goes back to step
    10: the record of step 15 goes with it, and the step 15 done again has the only one."""
    NaNs(monkeypatch, lambda call: 11 <= call < 11 + MAX_BAD_STEPS)
    run = tmp_path / "run"
    result = ok("train", corpus, *EXACT, "--eval-every", 5, "--steps", 30, "--out", run)
    assert recovery_line(16, 10, 1) in result.stderr
    steps = [json.loads(line)["step"] for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert steps == [5, 10, 15, 20, 25, 30]


def test_a_run_resumed_after_a_recovery_continues_exactly(corpus, tmp_path, monkeypatch):
    """The halved learning rate is in the checkpoint: 30 steps straight equal 20 steps (with
    the same recovery) and a resume to 30, bit for bit."""
    burst = lambda call: 12 <= call < 12 + MAX_BAD_STEPS  # noqa: E731
    nans = NaNs(monkeypatch, burst)
    ok("train", corpus, *EXACT, "--steps", 30, "-q", "--out", tmp_path / "whole")
    nans.calls = 0
    ok("train", corpus, *EXACT, "--steps", 20, "-q", "--out", tmp_path / "half")
    assert checkpoint.read_meta(tmp_path / "half" / "latest.safetensors")["lr_scale"] == 0.5
    nans.bad = lambda call: False
    ok("train", "--resume", tmp_path / "half", "--steps", 30, "--threads", 1, "-q")
    whole = checkpoint.load(tmp_path / "whole" / "latest.safetensors")
    resumed = checkpoint.load(tmp_path / "half" / "latest.safetensors")
    assert whole.meta["step"] == resumed.meta["step"] == 30
    for key in ("lr_scale", "recoveries", "skipped", "batches", "dropout_rng"):
        assert whole.meta[key] == resumed.meta[key], key
    for name, tensor in whole.tensors.items():
        assert np.array_equal(tensor, resumed.tensors[name]), name


def test_steps_that_keep_failing_stop_training_with_the_checkpoints_intact(corpus, tmp_path, monkeypatch):
    """From step 11 on every step fails: three times back to step 10 at half the learning
    rate, then exit 5, with every checkpoint as it was when the trouble began."""
    run = tmp_path / "run"
    nans = NaNs(monkeypatch, lambda call: call >= 10)
    before = {}
    nans.on_first_bad = lambda: before.update(checkpoint_files(run))
    result = invoke("train", corpus, *EXACT, "--steps", 100, "--out", run)
    assert result.exit_code == 5 and result.stdout == "" and "Traceback" not in result.stderr
    lines = result.stderr.splitlines()
    assert [line for line in lines if "(recovery" in line] == [recovery_line(15, 10, k) for k in (1, 2, 3)]
    assert lines[-1] == (
        f"charrnn: the loss or gradient was not finite for {MAX_BAD_STEPS} steps in a row (at step 15), after "
        f"{MAX_RECOVERIES} recoveries that each went back to the last good state and halved the learning rate "
        f"(now 0.125 x --lr); lower --lr or --clip; the best checkpoint is {run / 'best.safetensors'}")
    assert nans.calls == 10 + MAX_BAD_STEPS * (MAX_RECOVERIES + 1)
    assert before and checkpoint_files(run) == before  # nothing written after the trouble began
    assert checkpoint.read_meta(run / "best.safetensors")["step"] == 10
    assert_all_load(run)


def test_diverging_before_any_good_state_says_so(corpus, tmp_path, monkeypatch):
    NaNs(monkeypatch, lambda call: True)
    # validated only at its end: no checkpoint of its initial weights as the best
    result = invoke("train", corpus, *TINY, "--steps", 50, "--eval-every", 50, "-q", "--out", tmp_path / "run")
    assert_one_line_error(result, 5)
    assert result.stderr.endswith("; lower --lr or --clip; no checkpoint was written\n")


# ---- full disk, unwritable directory --------------------------------------------------------

def fail_writes_after_the_first_save(monkeypatch, run: Path, where: str):
    """From the second checkpoint on, `where` fails: the temporary file cannot be created
    (a read-only file system), written (a full disk) or synced (a full disk noticed late)."""

    def armed() -> bool:
        return (run / "step-00000005.safetensors").exists()

    def is_temp(fd) -> bool:
        return os.readlink(f"/proc/self/fd/{fd}").endswith(files.TEMP_SUFFIX)

    if where == "open":
        real_open = os.open

        def failing_open(path, *args, **kwargs):
            if armed() and str(path).endswith(files.TEMP_SUFFIX):
                raise OSError(errno.EROFS, os.strerror(errno.EROFS), str(path))
            return real_open(path, *args, **kwargs)

        monkeypatch.setattr(os, "open", failing_open)
        return os.strerror(errno.EROFS)
    if where == "write":
        real_fdopen = os.fdopen

        monkeypatch.setattr(os, "fdopen", lambda *a, **k: FullDisk(real_fdopen(*a, **k), armed))
        return os.strerror(errno.ENOSPC)
    real_fsync = os.fsync

    def failing_fsync(fd):
        if armed() and stat.S_ISREG(os.fstat(fd).st_mode) and is_temp(fd):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real_fsync(fd)

    monkeypatch.setattr(os, "fsync", failing_fsync)
    return os.strerror(errno.ENOSPC)


@pytest.mark.parametrize("where", ["open", "write", "fsync"])
def test_a_failing_disk_stops_training_and_keeps_the_last_checkpoint(corpus, tmp_path, monkeypatch, where):
    run = tmp_path / "run"
    reason = fail_writes_after_the_first_save(monkeypatch, run, where)
    result = invoke("train", corpus, *TINY, "--steps", 100, "--save-every", 5, "--eval-every", 100, "-q",
                    "--out", run)
    monkeypatch.undo()
    assert_one_line_error(result, 6)
    latest = run / "latest.safetensors"
    assert result.stderr == (f"charrnn: cannot write checkpoint {latest}: {reason}; training stopped at step 10, "
                             f"the last checkpoint is {latest}\n")
    assert sorted(p.name for p in run.iterdir() if p.is_file() and not p.name.startswith(".")) == [
        "latest.safetensors", "step-00000005.safetensors"]
    assert checkpoint.load(latest).meta["step"] == 5


@pytest.mark.parametrize("make", ["under a file", "sysfs"])
def test_an_unwritable_run_directory_fails_before_training(corpus, tmp_path, monkeypatch, make):
    """Checked at the start, not at the first save minutes later. Permission bits do not
    stop root, so the unwritable folders are real ones for anyone: a path under a regular
    file (ENOTDIR), and /sys, where the kernel lets no one create folders (EPERM)."""
    nans = NaNs(monkeypatch, lambda call: False)
    (tmp_path / "file").write_text("not a folder")
    out, reason = {"under a file": (tmp_path / "file" / "run", os.strerror(errno.ENOTDIR)),
                   "sysfs": (Path("/sys/charrnn-run"), os.strerror(errno.EPERM))}[make]
    result = invoke("train", corpus, *TINY, "--steps", 5, "-q", "--out", out)
    assert_one_line_error(result, 6)
    assert result.stderr == f"charrnn: cannot write to the run directory {out}: {reason}\n"
    assert nans.calls == 0
    assert not list(tmp_path.glob("**/*.safetensors"))


def test_temporary_files_of_killed_saves_are_removed_when_training_starts(corpus, tmp_path):
    run = tmp_path / "run"
    rundir.RunDir(run).claim("earlier", "0123456789abcdef")  # a run directory whose run saved nothing
    stale = [run / ".latest.safetensors.0123456789abcdef.tmp", run / ".step-00000005.safetensors.fedcba9876543210.tmp"]
    kept = [run / "notes.tmp", run / ".latest.safetensors.xyz.tmp"]  # not names save() writes
    for path in stale + kept:
        path.write_bytes(b"partial")
    ok("train", corpus, *TINY, "--steps", 2, "-q", "--out", run)
    assert not any(p.exists() for p in stale)
    assert all(p.exists() for p in kept)


# ---- text that is not UTF-8 ----------------------------------------------------------------

PLAY = "ROMEO: Ah, café! Thou art a naïve soul.\nJULIET: Oui, the crème of Verona.\n" * 40


def summary_of(result) -> dict:
    return json.loads(result.stdout)


def test_invalid_utf8_names_the_file_and_offset_and_the_ways_out(tmp_path):
    data = PLAY.encode("latin-1")
    path = tmp_path / "latin1.txt"
    path.write_bytes(data)
    way_out = " (--errors replace or --unit byte reads it)"
    result = invoke("train", path, *TINY, "--steps", 2, "--out", tmp_path / "out")
    assert_one_line_error(result, 3)
    assert result.stderr == f"charrnn: {path} is not valid UTF-8: byte 0xe9 at offset {data.index(0xE9)}{way_out}\n"
    result = invoke("train", "-", *TINY, "--steps", 2, "--out", tmp_path / "out", input=b"\xef\xbb\xbf" + data)
    assert_one_line_error(result, 3)  # the offset counts the byte order mark
    offset = 3 + data.index(0xE9)
    assert result.stderr == f"charrnn: standard input is not valid UTF-8: byte 0xe9 at offset {offset}{way_out}\n"
    assert not (tmp_path / "out").exists()


def test_errors_replace(tmp_path):
    latin = tmp_path / "latin1.txt"
    latin.write_bytes(PLAY.encode("latin-1"))
    result = ok("train", latin, *TINY, "--steps", 2, "-q", "--json", "--errors", "replace", "--out", tmp_path / "a")
    meta = checkpoint.read_meta(summary_of(result)["latest"])
    assert "\ufffd" in meta["vocab"] and "é" not in meta["vocab"] and meta["data"]["chars"] == len(PLAY)
    assert meta["data"]["errors"] == "replace"
    folder = tmp_path / "folder"
    folder.mkdir()
    (folder / "a.txt").write_bytes(PLAY.encode("latin-1"))
    assert_one_line_error(invoke("train", folder, *TINY, "--steps", 2, "-q", "--out", tmp_path / "d"), 3)  # skipped
    ok("train", folder, *TINY, "--steps", 2, "-q", "--errors", "replace", "--out", tmp_path / "d")
    result = invoke("train", latin, *TINY, "--steps", 2, "--unit", "byte", "--errors", "replace",
                    "--out", tmp_path / "e")
    assert_one_line_error(result, 2)
    assert "--errors" in result.stderr


def test_resume_reads_the_text_as_the_run_did_and_eval_takes_errors_too(tmp_path):
    latin = tmp_path / "latin1.txt"
    latin.write_bytes(PLAY.encode("latin-1"))
    run = tmp_path / "run"
    ok("train", latin, *TINY, "--steps", 2, "-q", "--errors", "replace", "--out", run)
    summary = summary_of(ok("train", "--resume", run, "--steps", 4, "-q", "--json"))
    assert summary["steps"] == 4
    result = invoke("eval", run, latin)
    assert_one_line_error(result, 3)
    offset = PLAY.encode("latin-1").index(0xE9)
    assert result.stderr.endswith(f"byte 0xe9 at offset {offset} (--errors replace reads it)\n")
    score = summary_of(ok("eval", run, latin, "--errors", "replace", "--json"))
    assert score["chars"] == len(PLAY) - 1


def test_a_bom_is_dropped_and_crlf_kept(tmp_path):
    text = "line one\r\nline two\r\n" * 60
    path = tmp_path / "windows.txt"
    path.write_bytes(b"\xef\xbb\xbf" + text.encode("utf-8"))
    result = ok("train", path, *TINY, "--steps", 2, "-q", "--json", "--out", tmp_path / "run")
    meta = checkpoint.read_meta(summary_of(result)["latest"])
    assert meta["vocab"] == sorted(set(text)) and "\r" in meta["vocab"] and "\ufeff" not in meta["vocab"]
    assert meta["data"]["chars"] == len(text)


# ---- invalid options fail before any work ---------------------------------------------------

TRAIN_OPTIONS = [
    ("--hidden 0", "--hidden"), ("--hidden -4", "--hidden"), ("--layers -1", "--layers"), ("--embed -1", "--embed"),
    ("--batch 0", "--batch"), ("--batch -2", "--batch"), ("--seq -16", "--seq"), ("--steps -1", "--steps"),
    ("--eval-every 0", "--eval-every"), ("--warmup -1", "--warmup"), ("--decay-every 0", "--decay-every"),
    ("--decay-rate 0", "--decay-rate"), ("--dropout -0.1", "--dropout"), ("--dropout 1", "--dropout"),
    ("--dropout nan", "--dropout"), ("--lr -1", "--lr"), ("--lr nan", "--lr"), ("--clip -1", "--clip"),
    ("--clip nan", "--clip"), ("--val-frac -0.1", "--val-frac"), ("--epochs 0", "--epochs"), ("--keep -1", "--keep"),
    ("--save-every 0", "--save-every"), ("--time 0s", "--time"), ("--ema 1", "--ema"),
    ("--weight-decay -1", "--weight-decay"), ("--min-lr-frac 2", "--min-lr-frac"),
    ("--min-lr-frac nan", "--min-lr-frac"),
    ("--errors ignore", "--errors"), ("--threads -1", "--threads"),
]


@pytest.mark.parametrize("options, named", TRAIN_OPTIONS, ids=[o for o, _ in TRAIN_OPTIONS])
def test_invalid_train_options_fail_before_any_work(corpus, tmp_path, monkeypatch, options, named):
    def no_work(*args, **kwargs):
        raise AssertionError("the run was set up")

    monkeypatch.setattr("charrnn.runs.rundir.RunDir.claim", no_work)
    budget = [] if any(o in options for o in ("--steps", "--epochs", "--time")) else ["--steps", "3"]
    result = invoke("train", corpus, *options.split(), *budget, "--out", tmp_path / "out")
    assert_one_line_error(result, 2)
    assert named in result.stderr
    assert not (tmp_path / "out").exists()


SAMPLE_OPTIONS = [("--temperature -0.5", "--temperature"), ("--temperature nan", "--temperature"),
                  ("--top-p 0", "--top-p"), ("--top-p 1.01", "--top-p"), ("--top-p nan", "--top-p"),
                  ("--top-k -1", "--top-k"), ("-n -1", "--length"), ("--num-samples 0", "--num-samples")]


@pytest.mark.parametrize("options, named", SAMPLE_OPTIONS, ids=[o for o, _ in SAMPLE_OPTIONS])
def test_invalid_sample_options_fail_before_any_work(monkeypatch, options, named):
    def no_work(*args, **kwargs):
        raise AssertionError("the core was loaded")

    monkeypatch.setattr("charrnn.generate.language_model.load", no_work)
    result = invoke("sample", "no-such-run", *options.split())
    assert_one_line_error(result, 2)
    assert named in result.stderr


def test_a_text_too_short_for_one_batch_says_by_how_much_and_what_to_change(tmp_path, monkeypatch):
    nans = NaNs(monkeypatch, lambda call: False)
    path = tmp_path / "short.txt"
    path.write_text("to be or not to be\n" * 3, encoding="utf-8")  # 57 characters, 52 to train on
    result = invoke("train", path, *TINY, "--steps", 3, "--out", tmp_path / "out")
    assert_one_line_error(result, 3)
    assert result.stderr == ("charrnn: the training text is too short for --batch 4 x --seq 16: it has 52 "
                             "characters, one step needs 65; lower --batch or --seq\n")
    assert nans.calls == 0 and not (tmp_path / "out").exists()


# ---- resume on changed text -----------------------------------------------------------------

@pytest.fixture
def run_on_text(corpus, tmp_path):
    text = tmp_path / "text.txt"
    text.write_text(corpus.read_text(encoding="utf-8")[:20_000], encoding="utf-8")
    run = tmp_path / "run"
    ok("train", text, *TINY, "--steps", 4, "-q", "--out", run)
    return text, run


CHANGES = {
    "other characters": "(same length, other characters); use --init-from to fine-tune on new text",
    "shorter": "(19000 characters, 20000 then); use --init-from to fine-tune on new text",
    "fewer characters": "; use --init-from to fine-tune on new text",
    "new character": ": it has 1 character the model does not know: 'é' (U+00E9); --resume needs the same text",
}


@pytest.mark.parametrize("change", CHANGES)
def test_resume_refuses_changed_text_in_place(run_on_text, change):
    """The run's recorded source file is edited; resuming it (no FILE given) refuses, and
    names the way to train on the new text where there is one."""
    text, run = run_on_text
    before = checkpoint_files(run)
    original = text.read_text(encoding="utf-8")
    edited = {"other characters": original[1:] + original[0],
              "shorter": original[:19_000],
              "fewer characters": original.replace("?", "."),
              "new character": original[:-1] + "é"}[change]
    assert edited != original and (change != "fewer characters" or set(edited) < set(original))
    text.write_text(edited, encoding="utf-8")
    result = invoke("train", "--resume", run, "--steps", 8, "-q")
    assert_one_line_error(result, 3)
    assert result.stderr.startswith("charrnn: the text differs from the one this run was trained on")
    assert result.stderr.rstrip("\n").endswith(CHANGES[change])
    assert checkpoint_files(run) == before


# ---- checkpoints made by hand ---------------------------------------------------------------

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-2**70, 2**70) | st.sampled_from([10**400, -1, 0, 1, 2]) |
    st.floats(allow_nan=False) | st.text(max_size=4) | st.lists(st.characters(), max_size=4),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=6)


@pytest.fixture(scope="module")
def genuine(corpus, tmp_path_factory) -> Path:
    run = tmp_path_factory.mktemp("genuine") / "run"
    ok("train", corpus, *TINY, "--steps", 3, "--eval-every", 3, "-q", "--out", run)
    return run / "latest.safetensors"


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_checkpoints_made_by_hand_are_refused_in_one_line(genuine, corpus, tmp_path_factory, data):
    """The checksum shows a file is intact, not that whoever wrote it meant well: with any
    metadata value replaced or removed (and the checksum made to fit), resume, sample, eval
    and show either work or fail in one line, never with a traceback."""
    genuine = checkpoint.load(genuine)
    meta = copy.deepcopy(genuine.meta)
    for _ in range(data.draw(st.integers(1, 2))):
        target = data.draw(st.sampled_from([meta] + [v for v in meta.values() if isinstance(v, dict) and v]))
        key = data.draw(st.sampled_from(sorted(target)))
        if data.draw(st.booleans()):
            del target[key]
        else:
            target[key] = data.draw(json_values)
    folder = tmp_path_factory.mktemp("crafted")
    path = checkpoint.save(folder / "latest.safetensors", genuine.tensors, meta)
    for args in (["train", "--resume", path, "--steps", 5, "-q"], ["sample", path, "-n", 5, "--seed", 1],
                 ["eval", path, corpus], ["checkpoints", "show", path], ["checkpoints", "list", folder]):
        result = invoke(*args)
        assert result.exception is None or isinstance(result.exception, SystemExit), (args, result.exc_info)
        if result.exit_code:
            assert_one_line_error(result)


def test_a_vocabulary_that_does_not_fit_the_embedding_is_refused(genuine, corpus, tmp_path):
    """One character more than the embedding has rows: ids past its end would be read, so
    every command that builds a model refuses the file (4) before building anything."""
    genuine = checkpoint.load(genuine)
    V = genuine.meta["model"]["vocab_size"]
    longer = checkpoint.save(tmp_path / "longer.safetensors", genuine.tensors,
                             {**genuine.meta, "vocab": genuine.meta["vocab"] + ["\u2603"]})
    narrower = checkpoint.save(tmp_path / "narrower.safetensors",
                               {**genuine.tensors, "param/embed": genuine.tensors["param/embed"][:-1]}, genuine.meta)
    for args in (["sample", "{}", "-n", 5], ["eval", "{}", corpus], ["train", "--resume", "{}", "--steps", 5],
                 ["train", corpus, "--init-from", "{}", "--steps", 5, "--out", tmp_path / "out"]):
        result = invoke(*[str(a).format(longer) for a in args])
        assert_one_line_error(result, 4)
        assert result.stderr == f"charrnn: {longer} is inconsistent: {V + 1} symbols but a model for {V}\n"
        result = invoke(*[str(a).format(narrower) for a in args])
        assert_one_line_error(result, 4)
        assert result.stderr == (f"charrnn: {narrower} is inconsistent: its metadata declares vocabulary {V} where "
                                 f"its tensors have {V - 1}\n")
    assert not (tmp_path / "out").exists()
