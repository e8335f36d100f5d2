"""A newcomer's first hour (issue 24): runs that show a curve and end with their validation,
one meaning per number, runs that are easy to tell apart, the implicit checkpoint named, and
the smaller things (help, durations, sample --json, completion, directories, resume)."""

import json
import math
import re
from pathlib import Path
from types import SimpleNamespace

import click
import pytest

import charrnn
from charrnn.durations import parse_duration
from charrnn.runs import checkpoint
from charrnn.training.loop import EVALUATIONS, eval_interval
from support import plays, write_plays
from test_cli import invoke, ok

TINY = dict(hidden=16, layers=1, batch=4, seq=16, threads=1, progress=False)
FLAGS = ["--hidden", 16, "--layers", 1, "--batch", 4, "--seq", 16, "--threads", 1]
# learns to predict "a"; its held-out tenth is all "b": validation gets worse as training goes on
OVERFITS = "a" * 9_000 + "b" * 1_000


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    return write_plays(tmp_path_factory.mktemp("corpus") / "plays.txt", 60_000)


@pytest.fixture(scope="module")
def worse(tmp_path_factory):
    """A run whose last validation is worse than its best: (Run, its --json summary line)."""
    folder = tmp_path_factory.mktemp("worse")
    text = folder / "ab.txt"
    text.write_text(OVERFITS, encoding="utf-8")
    result = ok("train", text, *FLAGS, "--steps", 45, "--lr", 0.01, "--json", "--out", folder / "run")
    return result, json.loads(result.stdout)


# ---- 2: every run shows a curve and ends with its validation ------------------------------------

def budget(steps=None, epochs=None, seconds=None, step=0, train_seconds=0.0, steps_per_epoch=100):
    cfg = SimpleNamespace(eval_every=None, steps=steps, epochs=epochs, seconds=seconds, batch=4, seq=16)
    return SimpleNamespace(cfg=cfg, step=step, train_seconds=train_seconds,
                           batches=SimpleNamespace(steps_per_epoch=steps_per_epoch))


@pytest.mark.parametrize("trainer, interval", [
    (budget(steps=479), 32), (budget(steps=15), 1), (budget(steps=3), 1), (budget(epochs=10), 67),
    (budget(steps=1000, epochs=2), 14),  # the epochs end first
    (budget(seconds=60), None),  # by the clock
    (budget(seconds=60, steps=150), 10),  # and by steps
])
def test_the_interval_comes_from_the_budget(trainer, interval):
    assert eval_interval(trainer) == interval
    trainer.cfg.eval_every = 7  # given: kept
    assert eval_interval(trainer) == 7


def test_a_short_run_validates_about_fifteen_times_and_at_its_last_step(tmp_path):
    run = charrnn.train(text=plays(30_000), **TINY, steps=61, out=str(tmp_path / "run"))
    steps = [record["step"] for record in run.metrics]
    assert 10 <= len(steps) <= 20 and steps[-1] == 61
    assert steps[:-1] == list(range(5, 61, 5))


def test_a_time_budget_validates_every_fifteenth_of_it(tmp_path):
    run = charrnn.train(text=plays(30_000), **TINY, time="3s", out=str(tmp_path / "run"))
    seconds = [record["seconds"] for record in run.metrics]
    assert EVALUATIONS <= len(seconds) <= EVALUATIONS + 1 and run.metrics[-1]["step"] == run.steps
    assert all(k * 3 / EVALUATIONS <= s < k * 3 / EVALUATIONS + 0.1 for k, s in enumerate(seconds[:-1], 1))


def test_the_done_line_ends_with_the_last_validation(worse):
    result, summary = worse
    last = result.stderr.splitlines()[-1]
    best = summary["best_val_loss"]
    assert last == (f"charrnn: done: 45 steps; saved {summary['latest']}; validation "
                    f"{summary['val_loss']:.3f} nats/char, {summary['val_bpc']:.3f} bits/char "
                    f"(best {best:.3f}, {best / math.log(2):.3f} at step {summary['best_step']})")


# ---- 3: one meaning per number ----------------------------------------------------------------

def test_json_has_the_last_validation_and_the_best_apart(worse):
    _, summary = worse
    metrics = [json.loads(line) for line in (Path(summary["run_dir"]) / "metrics.jsonl").read_text().splitlines()]
    last, best = metrics[-1], min(metrics, key=lambda r: r["val_loss"])
    assert summary["val_step"] == last["step"] == 45
    assert summary["val_loss"] == last["val_loss"] and summary["train_loss"] == last["train_loss"]
    assert summary["best_val_loss"] == best["val_loss"] and summary["best_step"] == best["step"]
    assert summary["best_val_loss"] < summary["val_loss"] and summary["best_step"] < 45
    assert summary["best_val_bpc"] == pytest.approx(summary["best_val_loss"] / math.log(2))
    assert checkpoint.read_meta(summary["best"])["step"] == summary["best_step"]


def test_run_has_the_last_validation_and_the_best_apart(tmp_path):
    run = charrnn.train(text=OVERFITS, **TINY, steps=45, lr=0.01, out=str(tmp_path / "run"))
    assert run.val_step == 45 and run.val_loss == run.metrics[-1]["val_loss"]
    assert run.train_loss == run.metrics[-1]["train_loss"]
    assert run.best_val_loss < run.val_loss and run.best_step == checkpoint.read_meta(run.best)["step"]
    assert run.summary()["best_step"] == run.best_step


def test_list_and_show_report_the_last_validation_and_the_best(worse, home):
    _, summary = worse
    row = json.loads(ok("checkpoints", "list", Path(summary["run_dir"]).parent, "--json").stdout)[0]
    assert (row["val_step"], row["val_loss"], row["train_loss"]) == (45, summary["val_loss"], summary["train_loss"])
    assert (row["best_step"], row["best_val_loss"]) == (summary["best_step"], summary["best_val_loss"])
    shown = ok("checkpoints", "show", summary["latest"]).stdout
    assert f"last val     {summary['val_loss']:.4f} nats/char" in shown
    assert f"at step 45, training loss {summary['train_loss']:.4f}" in shown
    assert f"best val     {summary['best_val_loss']:.4f} nats/char" in shown
    assert f"at step {summary['best_step']}\n" in shown


# ---- 4: runs that are easy to tell apart --------------------------------------------------------

def test_list_compares_runs_only_on_the_same_text(corpus, tmp_path, home):
    other = write_plays(tmp_path / "other.txt", 60_000, start=200_000)
    for name, text, steps in (("short", corpus, 5), ("long", corpus, 30), ("elsewhere", other, 30)):
        ok("train", text, *FLAGS, "--steps", steps, "--name", name, "-q")
    rows = {row["run"]: row for row in json.loads(ok("checkpoints", "list", "--json").stdout)}
    assert rows["long"]["best_on_text"] and not rows["short"]["best_on_text"]
    assert not rows["elsewhere"]["best_on_text"]  # alone on its text: nothing to compare
    assert rows["elsewhere"]["text"] == [str(other.resolve())]
    lines = ok("checkpoints", "list").stdout.splitlines()
    assert len(lines) == 2 + 3 + 1  # title, header, a row per run, the footnote
    marked = [line for line in lines if line.startswith("* ")]
    assert len(marked) == 2 and marked[0].split()[1] == "long"
    assert all(line.endswith(str(corpus.resolve())) for line in lines if " short " in line or " long " in line)


def test_a_run_sized_by_the_budget_is_named_by_its_size(home):
    run = charrnn.train(text=plays(30_000), batch=4, seq=16, threads=1, progress=False, time="1s")
    model = run.load().config
    assert re.fullmatch(rf"lstm-{model.layers}x{model.hidden}-\d{{8}}-\d{{6}}", run.path.name), run.path.name
    assert [p.name for p in home.iterdir()] == [run.path.name]
    assert json.loads((run.path / ".charrnn-run").read_text())["run"] == run.path.name
    assert checkpoint.read_meta(run.latest)["run"] == run.path.name
    assert run.metrics  # its records went with it


# ---- 5: the implicit checkpoint is named -------------------------------------------------------

def test_an_implicit_checkpoint_is_named_on_stderr(corpus, home):
    ok("train", corpus, *FLAGS, "--steps", 3, "--name", "only", "-q")
    best = home / "only" / "best.safetensors"
    said = (f"charrnn: no checkpoint named: using {best}, of the most recent run (lstm 1x16, trained on "
            f"{corpus.resolve()})\n")
    result = ok("sample", "-n", 5, "--seed", 1)
    assert said in result.stderr and str(best) not in result.stdout
    assert said in ok("checkpoints", "show").stderr
    assert "no checkpoint named" not in ok("sample", "only", "-n", 5, "--seed", 1).stderr


# ---- 9: smaller things ------------------------------------------------------------------------

@pytest.mark.parametrize("group", [[], ["checkpoints"], ["corpus"]])
def test_command_lists_are_not_cut_short(group):
    listed = ok(*group, "--help").stdout.split("Commands:\n", 1)[1]
    assert "..." not in listed and listed.strip()


def test_train_help_groups_its_options():
    from charrnn.cli.train import SECTIONS, train_command

    text = ok("train", "--help").stdout
    headings = [line[:-1] for line in text.splitlines() if line.endswith(":") and not line.startswith(" ")]
    assert headings == [*SECTIONS]
    placed = [name for names in SECTIONS.values() for name in names]
    assert sorted(placed) == sorted(["help", *(p.name for p in train_command.params if isinstance(p, click.Option))])
    options = text[text.index("\nData:\n"):]
    assert options.index("--hidden") < options.index("--batch") < options.index("--steps") < options.index("--engine")


def test_sample_temperature_is_one_default_everywhere():
    import inspect

    from charrnn.cli.generate import sample_command
    from charrnn.cli.train import train_command
    from charrnn.generate.language_model import LanguageModel

    sample = next(p for p in sample_command.params if p.name == "temperature").default
    training = next(p for p in train_command.params if p.name == "sample_temperature").default
    api = inspect.signature(LanguageModel.generate).parameters["temperature"].default
    assert sample == training == api == 0.8


def test_the_separator_default_reads_as_words():
    text = " ".join(ok("sample", "--help").stdout.split())
    assert "Written between samples (default: a blank line)." in text and "\\n" not in text


@pytest.mark.parametrize("text, seconds", [
    ("2min", 120), ("2m", 120), ("2 minutes", 120), ("90s", 90), ("90", 90), ("90 sec", 90), ("1h30m", 5400),
    ("1h 30min", 5400), ("1.5h", 5400), ("00:02:00", 120), ("2:00", 120), ("1:02:03", 3723), ("10M", 600),
])
def test_common_duration_spellings(text, seconds):
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "2ms", "m", "30m1h", "1h1h", "1h30", "2:75", "1:2:3", "-5s", "5x"])
def test_durations_that_are_not(text):
    with pytest.raises(ValueError, match="not a duration"):
        parse_duration(text)


def test_time_takes_2min_on_the_command_line(corpus, tmp_path):
    report = json.loads(ok("train", corpus, *FLAGS, "--time", "2min", "--dry-run", "--json").stdout)
    assert report["seconds_left"] is not None


def test_sample_json_holds_each_sample(corpus, home):
    ok("train", corpus, *FLAGS, "--steps", 3, "--name", "s", "-q")
    options = ["s", "--prime", "DUKE", "-n", 40, "--seed", 2, "--num-samples", 3]
    streamed = ok("sample", *options, "--separator", "|").stdout
    result = json.loads(ok("sample", *options, "--json").stdout)
    assert result["samples"] == streamed.split("|") and len(result["samples"]) == 3
    assert all(s.startswith("DUKE") for s in result["samples"])
    assert result["checkpoint"] == str(home / "s" / "best.safetensors") and result["seed"] == 2


def test_completion_completes_run_names(corpus, home):
    for name in ("demo", "dune", "other"):
        ok("train", corpus, *FLAGS, "--steps", 1, "--name", name, "-q")
    for words in ("charrnn sample d", "charrnn eval d", "charrnn checkpoints show d", "charrnn train --resume d"):
        env = {"_CHARRNN_COMPLETE": "bash_complete", "COMP_WORDS": words, "COMP_CWORD": str(len(words.split()) - 1)}
        result = invoke(env=env)
        assert result.stdout.split() == ["file,d", "plain,demo", "plain,dune"], words


def test_a_directory_says_what_it_read_and_skipped(tmp_path):
    folder = tmp_path / "notes"
    folder.mkdir()
    write_plays(folder / "a.txt", 20_000)
    write_plays(folder / "b.md", 20_000, start=20_000)
    (folder / "binary.bin").write_bytes(b"text\x00more")
    (folder / ".hidden").write_text("secret")
    result = ok("train", folder, *FLAGS, "--steps", 1, "--out", tmp_path / "run")
    assert (f"charrnn: read 2 files of {folder}: a.txt, b.md; skipped 2: .hidden (hidden), binary.bin (binary: "
            "a NUL byte in its first 8 KiB)\n") in result.stderr
    (folder / "a.txt").unlink()
    (folder / "b.md").unlink()
    failed = invoke("train", folder, *FLAGS, "--steps", 1, "--out", tmp_path / "again")
    assert failed.exit_code == 3 and "has no text files (skipped 2: .hidden (hidden), binary.bin" in failed.stderr


def test_resuming_a_run_past_its_budget_says_so(corpus, tmp_path):
    ok("train", corpus, *FLAGS, "--steps", 5, "--out", tmp_path / "run", "-q")
    before = checkpoint.read_meta(tmp_path / "run" / "latest.safetensors")
    result = invoke("train", "--resume", tmp_path / "run", "--time", "5s")
    assert result.exit_code == 2 and result.stdout == ""
    assert "is at step 5" in result.stderr and "already past its budget (--steps 5 or --time 5s" in result.stderr
    assert checkpoint.read_meta(tmp_path / "run" / "latest.safetensors") == before
    ok("train", "--resume", tmp_path / "run", "--steps", 8, "-q")  # a larger budget continues it
