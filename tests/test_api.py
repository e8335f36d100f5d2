"""The Python API (`import charrnn`): train, load, generate, complete, score, events, stopping;
the same results as the command line. (The README's examples run in tests/test_docs.py.)"""

import json
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

import charrnn
from charrnn.runs import checkpoint
from charrnn import events
from charrnn.cli import cli
from support import write_plays

TINY = dict(hidden=16, layers=1, batch=4, seq=16, eval_every=10, threads=1)


def cli_run(*args, input=None):
    result = CliRunner().invoke(cli, [str(a) for a in args], input=input, prog_name="charrnn")
    assert result.exit_code == 0, (result.exception, result.stderr)
    return result


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    return write_plays(tmp_path_factory.mktemp("corpus") / "plays.txt", 50_000)


@pytest.fixture(scope="module")
def run(corpus, tmp_path_factory) -> charrnn.Run:
    home = tmp_path_factory.mktemp("home")
    return charrnn.train(corpus, **TINY, steps=30, seed=3, out=str(home / "demo"), progress=False)


def test_importing_charrnn_imports_neither_numpy_nor_numba():
    code = "import sys, charrnn; print(sorted(m for m in ('numpy', 'numba') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_every_public_name_is_documented_and_typed():
    for name in charrnn.__all__:
        value = getattr(charrnn, name)
        if callable(value) and not isinstance(value, type(charrnn)):
            assert value.__doc__, name
    for function in (charrnn.train, charrnn.dry_run, charrnn.load, charrnn.LanguageModel.generate,
                     charrnn.LanguageModel.complete, charrnn.LanguageModel.score):
        assert function.__annotations__.get("return"), function.__name__


def test_train_returns_the_run(run):
    assert isinstance(run, charrnn.Run)
    assert run.steps == 30 and run.chars == 30 * 4 * 16 and not run.stopped
    assert run.latest.is_file() and run.best.is_file() and run.best.parent == run.path
    assert [m["step"] for m in run.metrics] == [10, 20, 30]
    assert run.summary()["run_dir"] == str(run.path) and run.summary()["val_loss"] == run.val_loss


def test_options_are_checked_with_the_same_rules_and_python_names(corpus, tmp_path):
    with pytest.raises(charrnn.ConfigError, match="^hidden must be at least 1, got 0$"):
        charrnn.train(corpus, hidden=0, steps=1, out=str(tmp_path / "x"), progress=False)
    with pytest.raises(charrnn.ConfigError, match="unknown option 'hiden'"):
        charrnn.train(corpus, hiden=16, progress=False)
    with pytest.raises(charrnn.ConfigError, match="^time is not a duration"):
        charrnn.train(corpus, time="soon", progress=False)
    assert not (tmp_path / "x").exists()


def test_load_takes_a_file_a_run_directory_a_run_name_or_nothing(run, monkeypatch):
    monkeypatch.setenv("CHARRNN_HOME", str(run.path.parent))
    by_file = charrnn.load(run.best)
    assert isinstance(by_file, charrnn.LanguageModel) and by_file.path == run.best
    assert charrnn.load(run.path).path == run.best  # a run directory: its best checkpoint
    assert charrnn.load("demo").path.resolve() == run.best.resolve()  # a run name under $CHARRNN_HOME
    assert charrnn.load(None).path.resolve() == run.best.resolve()  # the most recent run
    assert charrnn.load("demo", root=run.path.parent).path.resolve() == run.best.resolve()
    assert by_file.config.hidden == 16 and by_file.unit == "char" and len(by_file.vocab) == by_file.config.vocab_size
    with pytest.raises(charrnn.CheckpointError):
        charrnn.load("no-such-run")


def test_generate_streams_and_repeats_with_the_seed(run):
    model = charrnn.load(run.best)
    pieces = list(model.generate("DUKE", length=200, temperature=0.8, seed=1))
    assert pieces[0] == "DUKE" and len(pieces) > 5  # the prime, then text as it is made
    text = "".join(pieces)
    assert len(text) == 4 + 200
    assert text == model.complete("DUKE", length=200, temperature=0.8, seed=1)
    assert text != model.complete("DUKE", length=200, temperature=0.8, seed=2)


@pytest.mark.parametrize("options, flags", [
    (dict(length=300, seed=4), ["-n", 300, "--seed", 4]),
    (dict(length=200, temperature=0.5, top_k=5, seed=1), ["-n", 200, "-t", 0.5, "--top-k", 5, "--seed", 1]),
    (dict(length=150, top_p=0.9, seed=2, num_samples=3, separator="|"),
     ["-n", 150, "--top-p", 0.9, "--seed", 2, "--num-samples", 3, "--separator", "|"]),
    (dict(length=400, seed=5, stop="\n\n", echo_prime=False), ["-n", 400, "--seed", 5, "--stop", "\n\n", "--no-prime"]),
])
def test_generate_writes_what_charrnn_sample_writes(run, options, flags):
    model = charrnn.load(run.best)
    expected = cli_run("sample", run.best, "--prime", "LADY", *flags).stdout_bytes.decode("utf-8")
    separator = options.pop("separator", None)
    completed = model.complete("LADY", **options)
    assert (separator.join(completed) if separator is not None else completed) == expected


def test_score_is_what_charrnn_eval_prints(run, corpus, tmp_path):
    text = corpus.read_text(encoding="utf-8")[-3000:]
    path = tmp_path / "held.txt"
    path.write_text(text, encoding="utf-8")
    expected = json.loads(cli_run("eval", run.best, path, "--json").stdout)
    model = charrnn.load(run.best)
    assert model.score(text) == expected
    assert model.score_files([str(path)]) == expected
    with pytest.raises(charrnn.InputError, match="does not know"):
        model.score("mañana", skip_unknown=False)
    assert model.score("mañana")["skipped_chars"] == 1


def test_a_run_trained_from_python_resumes_from_the_command_line_bit_for_bit(corpus, tmp_path):
    straight = charrnn.train(corpus, **TINY, steps=40, seed=7, dropout=0.2, out=str(tmp_path / "straight"),
                             progress=False)
    half = charrnn.train(corpus, **TINY, steps=20, seed=7, dropout=0.2, out=str(tmp_path / "half"), progress=False)
    cli_run("train", "--resume", half.latest, "--steps", 40, "-q")
    a, b = checkpoint.load(straight.latest), checkpoint.load(half.latest)
    assert b.meta["step"] == 40
    for name, tensor in a.tensors.items():
        np.testing.assert_array_equal(tensor, b.tensors[name], err_msg=name)


def test_events_come_in_order_and_a_callback_can_stop_training(corpus, tmp_path):
    seen = []

    def watch(event):
        seen.append(event)
        if isinstance(event, events.Step) and event.step == 12:
            raise charrnn.StopTraining

    handler = signal.getsignal(signal.SIGINT)
    run = charrnn.train(corpus, **TINY, steps=100, save_every=5, sample_every=10, sample_length=20,
                        out=str(tmp_path / "r"), on_event=watch, progress=False)
    assert signal.getsignal(signal.SIGINT) is handler  # no signal handler installed
    assert run.stopped and run.steps == 12
    assert checkpoint.read_meta(run.latest)["step"] == 12
    kinds = [type(e).__name__ for e in seen]
    assert kinds[0] == "Reading" and "Started" in kinds and kinds.index("Started") < kinds.index("Step")
    assert [e.step for e in seen if isinstance(e, events.Step)] == list(range(1, 13))
    assert [e.step for e in seen if isinstance(e, events.Evaluated)] == [10]
    saved = [e for e in seen if isinstance(e, events.Saved)]
    assert [(e.step, e.best, e.periodic) for e in saved] == [(5, False, True), (10, True, True), (12, False, False)]
    sampled = [e for e in seen if isinstance(e, events.Sampled)]
    assert [e.step for e in sampled] == [10] and len(sampled[0].text) == 1 + 20


def test_a_keyboard_interrupt_inside_train_saves_and_returns_the_run(corpus, tmp_path):
    def interrupt(event):
        if isinstance(event, events.Step) and event.step == 7:
            raise KeyboardInterrupt

    run = charrnn.train(corpus, **TINY, steps=100, out=str(tmp_path / "r"), on_event=interrupt, progress=False)
    assert run.stopped and run.steps == 7
    assert checkpoint.read_meta(run.latest)["step"] == 7
    assert charrnn.load(run.path).complete("LADY", length=10, seed=0)


def test_a_stop_before_the_first_step_leaves_nothing_behind(corpus, tmp_path):
    def interrupt(event):
        if isinstance(event, events.Started):
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        charrnn.train(corpus, **TINY, steps=100, out=str(tmp_path / "r"), on_event=interrupt, progress=False)
    assert not (tmp_path / "r").exists()


def test_text_can_be_given_as_a_string(tmp_path):
    text = "to be or not to be, that is the question\n" * 200
    run = charrnn.train(text=text, **TINY, steps=5, out=str(tmp_path / "s"), progress=False)
    assert checkpoint.read_meta(run.latest)["data"]["chars"] == len(text)
    assert set(run.load().vocab.chars) == set(text)


def test_the_progress_bar_goes_to_stderr(corpus, tmp_path, capsys):
    charrnn.train(corpus, **TINY, steps=5, out=str(tmp_path / "p"), progress=True)
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "5/5" in captured.err


def test_dry_run_writes_nothing(corpus, tmp_path):
    report = charrnn.dry_run(corpus, **TINY, steps=50, out=str(tmp_path / "d"))
    assert report["steps_left"] == 50 and report["params"] > 0 and report["memory_bytes"]["total"] > 0
    assert not (tmp_path / "d").exists()
