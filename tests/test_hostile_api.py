"""The Python API used carelessly or with hostile intent: stopping from any event, a full disk
at the first save, text given as a string, two threads training one run, arguments of the
wrong type, misspelt options. Each case says what is true, in one ConfigError or InputError
line where it is a mistake, and keeps what was saved."""

import dataclasses
import errno
import os
import shutil
import threading
from pathlib import Path

import numpy as np
import pytest

import charrnn
from charrnn import events
from charrnn.runs import checkpoint, rundir
from support import FullDisk, write_plays
from test_faults import NaNs

TINY = dict(hidden=16, layers=1, batch=4, seq=16, eval_every=10, threads=1)
EVENT_TYPES = [value for value in vars(events).values() if dataclasses.is_dataclass(value)]


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    return write_plays(tmp_path_factory.mktemp("corpus") / "plays.txt", 50_000)


# ---- StopTraining ------------------------------------------------------------------------------

@pytest.mark.parametrize("stop", [charrnn.StopTraining, KeyboardInterrupt])
def test_a_stop_at_an_improving_evaluation_keeps_its_weights_as_best(corpus, tmp_path, stop):
    """The README's own use: stop when validation is good enough. best.safetensors is then the
    model that scored Run.val_loss, not the previous evaluation's."""
    stopped_at = []

    def enough(event):
        if isinstance(event, events.Evaluated) and event.improved and event.step >= 20:
            stopped_at.append(event)
            raise stop

    run = charrnn.train(corpus, **TINY, steps=60, seed=1, out=str(tmp_path / "r"), on_event=enough, progress=False)
    evaluated = stopped_at[0]
    assert run.stopped and run.steps == evaluated.step and run.val_loss == evaluated.val_loss
    best, latest = checkpoint.load(run.best), checkpoint.load(run.latest)
    assert best.meta["step"] == evaluated.step and best.meta["best_val"] == run.val_loss
    for name, tensor in latest.tensors.items():
        np.testing.assert_array_equal(best.tensors[name], tensor, err_msg=name)


@pytest.fixture(scope="module")
def base_run(corpus, tmp_path_factory) -> Path:
    """A run of 10 steps, to resume: a resumed run says a Notice (its lr changed) before it starts."""
    out = tmp_path_factory.mktemp("base") / "run"
    charrnn.train(corpus, **TINY, steps=10, seed=2, out=str(out), progress=False)
    return out


def resume_every_event(base_run: Path, folder: Path, monkeypatch, on_event) -> charrnn.Run:
    """`base_run` resumed in a copy at `folder` to step 27, so that every kind of event comes:
    Reading (its id cache left out of the copy), a Notice (lr changed), steps with checkpoints and
    samples every 5, evaluations every 10 and a final one at 27, and a recovery (steps 13-17 fail,
    back to step 10)."""
    shutil.copytree(base_run, folder, ignore=shutil.ignore_patterns("cache"))
    NaNs(monkeypatch, lambda call: 2 <= call < 7)
    return charrnn.train(resume=str(folder), steps=27, lr=1e-3, save_every=5, sample_every=5, sample_length=5,
                         on_event=on_event, progress=False)


def step_of(event, current: int) -> int:
    """The step the run is at once `event` is reported (`current` before it)."""
    if isinstance(event, events.Recovered):
        return event.back_to
    return getattr(event, "step", current)


@pytest.fixture(scope="module")
def every_event(base_run, tmp_path_factory) -> list:
    seen = []
    with pytest.MonkeyPatch.context() as monkeypatch:
        run = resume_every_event(base_run, tmp_path_factory.mktemp("every") / "run", monkeypatch, seen.append)
    assert run.steps == 27 and not run.stopped
    return seen


def test_the_resumed_run_reports_every_kind_of_event(every_event):
    assert {type(event) for event in every_event} == set(EVENT_TYPES)
    assert [(e.step, e.back_to) for e in every_event if isinstance(e, events.Recovered)] == [(17, 10)]
    assert [e.step for e in every_event if isinstance(e, events.Evaluated)] == [20, 27]  # 27: the final one


@pytest.mark.parametrize("kind", EVENT_TYPES, ids=lambda kind: kind.__name__)
def test_stop_training_from_any_event_saves_the_latest_state_and_returns_the_run(
        kind, base_run, every_event, tmp_path, monkeypatch):
    """StopTraining raised at the last event of each kind (the final evaluation, the final save,
    a notice before the first step) is honoured: no exception escapes, the state of the step the
    run is at is saved as latest, and the Run says it stopped."""
    last = max(index for index, event in enumerate(every_event) if type(event) is kind)
    step = 10
    for event in every_event[:last + 1]:
        step = step_of(event, step)
    seen = []

    def stop_at_the_last(event):
        seen.append(event)
        if len(seen) == last + 1:
            assert type(event) is kind
            raise charrnn.StopTraining

    run = resume_every_event(base_run, tmp_path / "run", monkeypatch, stop_at_the_last)
    assert run.stopped and run.steps == step
    assert checkpoint.read_meta(run.latest)["step"] == step
    trained = (events.Step, events.Evaluated, events.Sampled, events.Recovered)
    assert not [e for e in seen[last + 1:] if isinstance(e, trained)]  # nothing more is trained
    assert isinstance(seen[-1], events.Saved) and seen[-1].step == step
    assert charrnn.load(run.latest).complete("LADY", length=5, seed=0)


# ---- a full disk at the first save ---------------------------------------------------------------

def fill_the_disk(monkeypatch, when):
    """Writes fail with ENOSPC (past their first 100 bytes) once `when()` says so."""
    real_fdopen = os.fdopen
    monkeypatch.setattr(os, "fdopen", lambda *a, **k: FullDisk(real_fdopen(*a, **k), when))


def test_a_disk_that_fills_after_the_first_latest_keeps_it_and_says_so(corpus, tmp_path, monkeypatch):
    """The first save writes latest, then the disk is full for best: latest is a good checkpoint
    of the run, kept with its folder, and the message names it."""
    out = tmp_path / "r"
    fill_the_disk(monkeypatch, lambda: (out / "latest.safetensors").exists())
    with pytest.raises(charrnn.OutputError) as failed:
        charrnn.train(corpus, **TINY, steps=30, out=str(out), progress=False)
    monkeypatch.undo()
    latest = out / "latest.safetensors"
    assert str(failed.value) == (f"cannot write checkpoint {out / 'best.safetensors'}: {os.strerror(errno.ENOSPC)}; "
                                 f"training stopped at step 10, the last checkpoint is {latest}")
    assert checkpoint.load(latest).meta["step"] == 10
    assert charrnn.load(out).complete("LADY", length=5, seed=0)


def test_a_disk_full_at_the_first_latest_says_nothing_was_kept(corpus, tmp_path, monkeypatch):
    out = tmp_path / "r"
    fill_the_disk(monkeypatch, lambda: True)
    with pytest.raises(charrnn.OutputError) as failed:
        charrnn.train(corpus, **TINY, steps=30, out=str(out), progress=False)
    assert str(failed.value).endswith("; training stopped at step 10, no checkpoint was written")
    assert not out.exists()  # a run that saved nothing leaves nothing behind


def test_a_run_over_another_names_none_of_the_other_runs_checkpoints(corpus, tmp_path, monkeypatch):
    """With overwrite, the old run's checkpoints stay until the new one has saved: a disk full at
    the new run's first save must not call the old run's latest its last checkpoint."""
    out = tmp_path / "r"
    charrnn.train(corpus, **TINY, steps=5, out=str(out), progress=False)
    fill_the_disk(monkeypatch, lambda: True)
    with pytest.raises(charrnn.OutputError) as failed:
        charrnn.train(corpus, **TINY, steps=30, seed=4, out=str(out), overwrite=True, progress=False)
    monkeypatch.undo()
    assert str(failed.value).endswith("; training stopped at step 10, no checkpoint was written")
    assert checkpoint.read_meta(out / "latest.safetensors")["step"] == 5  # the old run's, untouched


# ---- text given as a string --------------------------------------------------------------------

@pytest.mark.parametrize("text, options, message", [
    ("", {}, "text is empty"),
    ("to be or not\ud800 to be\n" * 20, {}, "text holds a lone surrogate, U+D800 at index 12, which is not a "
                                            "character (errors replace reads it)"),
    ("é" * 30 + "\udce9" + "é" * 300, dict(unit="byte"), "text holds a lone surrogate, U+DCE9 at index 30, which "
                                                         "is not a character"),
    ("ça\x00va\n" * 40, {}, "text looks binary (NUL at index 2); charrnn trains on text (unit byte takes any)"),
])
def test_text_given_as_a_string_is_named_so_with_an_index_into_it(tmp_path, text, options, message):
    out = tmp_path / "t"
    with pytest.raises(charrnn.InputError) as failed:
        charrnn.train(text=text, **TINY, **options, steps=1, out=str(out), progress=False)
    assert str(failed.value) == message
    assert not out.exists()


def test_a_lone_surrogate_in_text_is_read_as_u_fffd_with_errors_replace(tmp_path):
    text = "to be or not\ud800 to be\n" * 20
    run = charrnn.train(text=text, **TINY, errors="replace", steps=1, out=str(tmp_path / "t"), progress=False)
    assert "\ufffd" in run.load().vocab.chars
    assert checkpoint.read_meta(run.latest)["data"]["chars"] == len(text)


# ---- two threads training one run ------------------------------------------------------------

def test_two_threads_training_one_run_get_the_message_two_processes_get(corpus, tmp_path, monkeypatch):
    """The first thread is held with its marker half written (its temporary file in the folder)
    until the second has tried: the second is told the run is in use, as another process is."""
    out = tmp_path / "r"
    writing_marker, second_done = threading.Event(), threading.Event()
    real_replace = os.replace

    def slow_marker(source, target, *args, **kwargs):
        if Path(target).name == rundir.MARKER and threading.current_thread().name == "first":
            assert Path(source).name.startswith(f".{rundir.MARKER}.")  # the temporary file exists meanwhile
            writing_marker.set()
            second_done.wait(120)
        return real_replace(source, target, *args, **kwargs)

    monkeypatch.setattr(os, "replace", slow_marker)
    outcome = {}

    def train(name):
        try:
            outcome[name] = charrnn.train(corpus, **TINY, steps=3, out=str(out), progress=False)
        except charrnn.CharrnnError as exc:
            outcome[name] = exc
        finally:
            if name == "second":
                second_done.set()

    first = threading.Thread(target=train, args=("first",), name="first")
    first.start()
    assert writing_marker.wait(120)
    train("second")
    first.join(120)
    assert isinstance(outcome["first"], charrnn.Run) and outcome["first"].steps == 3
    assert isinstance(outcome["second"], charrnn.OutputError)
    assert str(outcome["second"]) == f"{out} is in use by charrnn train (pid {os.getpid()})"
    assert rundir.RunDir(out).marker()["run_id"] == checkpoint.read_meta(out / "latest.safetensors")["run_id"]


# ---- arguments of the wrong type -----------------------------------------------------------------

@pytest.fixture(scope="module")
def model(corpus, tmp_path_factory) -> charrnn.LanguageModel:
    out = tmp_path_factory.mktemp("model") / "run"
    return charrnn.train(corpus, **TINY, steps=2, out=str(out), progress=False).load()


@pytest.mark.parametrize("call, message", [
    (lambda m: m.complete(123), "prime must be str, not int"),
    (lambda m: m.complete("A", 5, stop=5), "stop must be a str, not int 5"),
    (lambda m: m.complete("A", 5, temperature="0.5"), "temperature must be a number, not str '0.5'"),
    (lambda m: m.score(None), "text must be str, not NoneType"),
    (lambda m: m.score(["A"]), "text must be str, not list"),
    (lambda m: charrnn.train(5), "sources must be a path (a str or a pathlib.Path) or a list of paths, not int 5"),
    (lambda m: charrnn.train("x", on_event=5), "on_event must be a function of one event, not int 5"),
    (lambda m: charrnn.train("x", separator=5), "separator must be a str, not int 5"),
    (lambda m: charrnn.load(m.path, threads="x"), "threads must be a whole number, not str 'x'"),
    (lambda m: m.complete("A", 5, threads=-1), "threads must be at least 1, got -1"),
    (lambda m: m.complete("A", 5, threads=1.5), "threads must be a whole number, not float 1.5"),
    (lambda m: charrnn.load(m.path, threads=-3), "threads must be at least 1, got -3"),
])
def test_the_issues_examples_are_config_errors_naming_the_argument(model, call, message):
    with pytest.raises(charrnn.ConfigError) as failed:
        call(model)
    assert str(failed.value) == message


def public_calls(model) -> dict:
    """Every function of the public API (charrnn.__all__ and LanguageModel's methods) with the
    arguments that make it quick, and the parameters it takes (a generated signature lists the
    options of train and dry_run)."""
    import inspect

    text = "a short text, too short for a batch of training"
    calls = {
        "train": (charrnn.train, dict(text=text, progress=False)),
        "dry_run": (charrnn.dry_run, dict(text=text)),
        "load": (charrnn.load, dict(source=str(model.path))),
        "generate": (lambda **kw: "".join(model.generate(**kw)), dict(prime="A", length=5)),
        "complete": (model.complete, dict(prime="A", length=5)),
        "score": (model.score, dict(text="LADY MACBETH")),
        "score_files": (model.score_files, dict(sources=[str(model.path.parent.parent / "absent.txt")])),
        "score_records": (lambda **kw: list(model.score_records(**kw)), dict(records=["LADY", "MACBETH"])),
        "encode": (model.encode, dict(text="LADY")),
        "decode": (model.decode, dict(ids=[1, 2])),
        "next_char_distribution": (model.next_char_distribution, dict(text="LADY")),
        "log_probs": (model.log_probs, dict(text="LADY")),
    }
    signatures = {"generate": charrnn.LanguageModel.generate, "complete": charrnn.LanguageModel.generate,
                  "score_records": charrnn.LanguageModel.score_records}
    found = {}
    for name, (function, base) in calls.items():
        signature = inspect.signature(signatures.get(name, function))
        params = [p for p in signature.parameters if p not in ("self",)
                  and signature.parameters[p].kind is not inspect.Parameter.VAR_KEYWORD]
        found[name] = (function, base, params)
    return found


def test_the_public_api_is_covered(model):
    names = {name for name in charrnn.__all__ if callable(getattr(charrnn, name))
             and not isinstance(getattr(charrnn, name), type)}
    assert names == {"train", "dry_run", "load"}
    methods = {name for name in vars(charrnn.LanguageModel) if not name.startswith("_")
               and callable(getattr(charrnn.LanguageModel, name))}
    assert methods <= set(public_calls(model))


def test_an_argument_of_no_sensible_type_is_a_config_error_naming_it(model, tmp_path, monkeypatch):
    """object() is a valid value for no parameter of the API: every one says so by name."""
    monkeypatch.chdir(tmp_path)
    for name, (function, base, params) in public_calls(model).items():
        for param in params:
            try:
                function(**dict(base, **{param: object()}))
            except charrnn.ConfigError as exc:
                assert str(exc).startswith(f"{param} "), (name, param, str(exc))
            except Exception as exc:
                pytest.fail(f"{name}({param}=object()): {type(exc).__name__}: {exc}")
            else:
                pytest.fail(f"{name}({param}=object()) was accepted")


def test_any_odd_argument_is_accepted_or_a_charrnn_error(model, tmp_path, monkeypatch):
    """Values of the wrong type, or out of range, for every parameter: the call works (the value
    is valid there) or raises one of charrnn's errors, never TypeError, ValueError or the like."""
    monkeypatch.chdir(tmp_path)
    for name, (function, base, params) in public_calls(model).items():
        for param in params:
            for value in ("x", 1.5, -1, 0, [1], b"x", True, None, float("nan")):
                if param == "time" and value in (1.5, True):
                    continue  # a budget of a second and a half: the recipe would time its probes
                try:
                    function(**dict(base, **{param: value}))
                except charrnn.CharrnnError:
                    pass
                except Exception as exc:
                    pytest.fail(f"{name}({param}={value!r}): {type(exc).__name__}: {exc}")


def test_score_files_reads_one_path_given_as_a_str(model, corpus):
    assert model.score_files(str(corpus)) == model.score_files([str(corpus)])
    assert model.score_files(corpus) == model.score(corpus.read_text(encoding="utf-8"))  # a pathlib.Path too


# ---- train's and dry_run's options, listed -------------------------------------------------------

@pytest.mark.parametrize("function", [charrnn.train, charrnn.dry_run], ids=lambda f: f.__name__)
def test_train_and_dry_run_list_every_option_keyword_only_with_its_default(function):
    import inspect
    import pydoc

    from charrnn.training.options import OPTIONS

    params = inspect.signature(function).parameters
    assert list(params)[0] == "sources" and params["sources"].kind is inspect.Parameter.POSITIONAL_OR_KEYWORD
    for name, default in OPTIONS.items():
        assert params[name].kind is inspect.Parameter.KEYWORD_ONLY and params[name].default == default, name
    assert not [p for p in params.values() if p.kind is inspect.Parameter.VAR_KEYWORD]
    shown = pydoc.render_doc(function, renderer=pydoc.plaintext)
    assert "hidden=256" in shown and "eval_every=None" in shown and "sample_prime=None" in shown


@pytest.mark.parametrize("function", [charrnn.train, charrnn.dry_run], ids=lambda f: f.__name__)
@pytest.mark.parametrize("misspelt, meant", [("hiden", "hidden"), ("evalevery", "eval_every"),
                                             ("on_events", "on_event"), ("sample_temp", "sample_temperature")])
def test_a_misspelt_option_gets_the_closest_name(function, misspelt, meant):
    with pytest.raises(charrnn.ConfigError) as failed:
        function(text="some text", **{misspelt: 1})
    assert str(failed.value) == (f"unknown option {misspelt!r}; did you mean {meant!r}? (the options are those of "
                                 "charrnn train, with underscores)")


def test_an_option_like_none_gets_no_suggestion():
    with pytest.raises(charrnn.ConfigError, match=r"^unknown option 'zzz' \(the options are those of charrnn train"):
        charrnn.train(text="some text", zzz=1)
