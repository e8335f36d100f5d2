"""Faults that need a real process: SIGKILL at random moments, a second Ctrl-C while saving,
standard output closed, full or in a non-UTF-8 locale, an unwritable kernel cache, and a
run that diverges. $CHARRNN_HOME, the working directory and every file are temporary."""

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from charrnn.runs import checkpoint, rundir
from charrnn import files, runtime
from support import write_plays

HOOKS = Path(__file__).resolve().parent / "hooks"
TINY = ["--hidden", "16", "--layers", "1", "--batch", "4", "--seq", "16", "--threads", "1"]
TIMEOUT = 60
UNICODE = ("Привет, мир! 안녕하세요 世界 😀 naïve café\n" * 40
           + "The quick brown fox jumps over the lazy dog.\n" * 40)


@pytest.fixture(scope="module")
def place(tmp_path_factory):
    """(working directory, environment with $CHARRNN_HOME under it)."""
    cwd = tmp_path_factory.mktemp("cwd")
    env = {**os.environ, "CHARRNN_HOME": str(cwd / "home"), "LANG": "C.UTF-8"}
    env.pop("LC_ALL", None)
    env.pop("PYTHONIOENCODING", None)
    return cwd, env


def command(*args) -> list[str]:
    return [sys.executable, "-m", "charrnn", *map(str, args)]


def charrnn(place, *args, env=None, **kwargs):
    cwd, base = place
    return subprocess.run(command(*args), capture_output=True, cwd=cwd, env={**base, **(env or {})},
                          timeout=TIMEOUT, **kwargs)


def popen(place, *args, env=None, **kwargs):
    cwd, base = place
    return subprocess.Popen(command(*args), cwd=cwd, env={**base, **(env or {})}, **kwargs)


def assert_clean(stderr: bytes | str) -> None:
    text = stderr.decode(errors="replace") if isinstance(stderr, bytes) else stderr
    assert "Traceback" not in text and "Exception ignored" not in text, text


@pytest.fixture(scope="module")
def corpus(place) -> Path:
    return write_plays(place[0] / "plays.txt", 50_000)


@pytest.fixture(scope="module")
def unicode_run(place) -> Path:
    """A model whose vocabulary is mostly not ASCII."""
    cwd, _ = place
    text = cwd / "unicode.txt"
    text.write_text(UNICODE, encoding="utf-8")
    result = charrnn(place, "train", text, *TINY, "--steps", 5, "-q", "--out", cwd / "unicode-run")
    assert result.returncode == 0, result.stderr
    return cwd / "unicode-run"


# ---- SIGKILL --------------------------------------------------------------------------------

def wait_for_line(log: Path, process, needle: bytes, count: int = 1) -> None:
    deadline = time.monotonic() + TIMEOUT
    while log.read_bytes().count(needle) < count:
        assert process.poll() is None, log.read_text()
        assert time.monotonic() < deadline, log.read_text()
        time.sleep(0.01)


def test_sigkill_at_random_moments_leaves_every_checkpoint_loadable(place, corpus, tmp_path):
    """Seven kills at seeded random moments of a run that saves every step (latest, a
    periodic checkpoint, best every second step): after each, every checkpoint left loads,
    at most the one temporary file being written remains (and is no checkpoint), and the
    run resumes from its latest checkpoint; the last resume runs to its end."""
    rng = random.Random(20240611)
    run = tmp_path / "run"
    saves = ["--save-every", 1, "--eval-every", 2, "--keep", 2]
    steps, temporary = [], []
    for attempt in range(7):
        args = ["train", corpus, *TINY, "--steps", 10**6, *saves, "--out", run] if attempt == 0 else \
            ["train", "--resume", run, "--threads", 1]
        log = tmp_path / f"stderr-{attempt}.txt"
        with open(log, "wb") as stderr:
            process = popen(place, *args, stdout=subprocess.DEVNULL, stderr=stderr)
        try:
            wait_for_line(log, process, b" saved ")
            time.sleep(rng.uniform(0.0, 0.25))
            process.send_signal(signal.SIGKILL)
            assert process.wait(timeout=TIMEOUT) == -signal.SIGKILL
        finally:
            process.kill()
            process.wait()
        assert_clean(log.read_bytes())
        found = sorted(p.name for p in run.iterdir())
        temps = files.temp_files(run)
        assert len(temps) <= 1, found  # a start removes what earlier kills left
        temporary += [t.name for t in temps]
        saved = [run / name for name in found if name.endswith(".safetensors")]
        assert sorted(rundir.RunDir(run).checkpoints()) == sorted(saved)
        assert rundir.resolve(str(run), latest=True) == run / "latest.safetensors"
        for path in saved:
            checkpoint.load(path)
        steps.append(checkpoint.read_meta(run / "latest.safetensors")["step"])
    assert steps == sorted(steps) and steps[0] >= 1 and steps[-1] > steps[0]
    final = charrnn(place, "train", "--resume", run, "--threads", 1, "--steps", steps[-1] + 3, "-q", "--json")
    assert final.returncode == 0, final.stderr
    assert json.loads(final.stdout)["steps"] == steps[-1] + 3
    assert files.temp_files(run) == []
    assert all(json.loads(line) for line in (run / rundir.METRICS).read_text().splitlines())
    print(f"latest steps after each kill {steps}; temporary files found {temporary}")


# ---- a second Ctrl-C while saving -----------------------------------------------------------

def test_a_second_ctrl_c_while_saving_aborts_and_keeps_the_last_checkpoint(place, corpus, tmp_path):
    """Syncs are slowed (tests/hooks) so that the second SIGINT lands inside a save: the
    save is abandoned, its temporary file removed, the last complete checkpoint kept."""
    run = tmp_path / "run"
    env = {"PYTHONPATH": os.pathsep.join([str(HOOKS), os.environ.get("PYTHONPATH", "")]),
           "CHARRNN_TEST_SLOW_FSYNC": "1"}
    process = popen(place, "train", corpus, *TINY, "--steps", 10**6, "--save-every", 3, "--eval-every", 1000,
                    "--out", run, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        lines = []
        for line in process.stderr:
            lines.append(line)
            if " saved " in line:
                break
        process.send_signal(signal.SIGINT)
        for line in process.stderr:
            lines.append(line)
            if line == "test: fsync\n":  # a sync of 1 s has begun, maybe just before the signal
                break
        time.sleep(0.3)  # the first signal is handled (two at once would count as one), the sync goes on
        process.send_signal(signal.SIGINT)
        stdout, rest = process.communicate(timeout=TIMEOUT)
    finally:
        process.kill()
        process.wait()
    lines += rest.splitlines(keepends=True)
    assert process.returncode == 130, "".join(lines)
    assert_clean("".join(lines))
    messages = [line.rstrip("\n") for line in lines if not line.startswith("test: ")]
    latest = run / "latest.safetensors"
    assert messages[-1].startswith("charrnn: aborted at step ")
    assert messages[-1].endswith(f"; the last checkpoint is {latest}")
    assert files.temp_files(run) == []
    for path in rundir.RunDir(run).checkpoints():
        assert checkpoint.load(path).meta["step"] % 3 == 0  # only the periodic saves completed


# ---- standard output ------------------------------------------------------------------------

def test_sample_into_head_cutting_a_character(place, unicode_run):
    """`charrnn sample | head -c 1` ends quietly, even when the byte cuts a character in two
    (tests/test_cli_process.py has `head -c 100`)."""
    pipeline = '"$1" -m charrnn sample "$2" --prime 안녕 -n 100000 --seed 1 | head -c 1'
    cwd, env = place
    result = subprocess.run(["sh", "-c", pipeline, "sh", sys.executable, unicode_run], capture_output=True,
                            cwd=cwd, env=env, timeout=TIMEOUT)
    assert result.returncode == 0
    assert result.stderr == b""
    assert result.stdout == "안".encode("utf-8")[:1]


@pytest.mark.parametrize("args", [["sample", "{run}", "-n", "50", "--seed", "1"], ["checkpoints", "show", "{run}"],
                                  ["eval", "{run}", "{text}", "--json"]], ids=["sample", "show", "eval"])
@pytest.mark.parametrize("stdout", ["closed", "full"])
def test_an_unwritable_stdout_is_a_one_line_error(place, unicode_run, args, stdout):
    args = [a.format(run=unicode_run, text=place[0] / "unicode.txt") for a in args]
    cwd, env = place
    redirect = ">&-" if stdout == "closed" else ">/dev/full"
    result = subprocess.run(["sh", "-c", f'"$0" -m charrnn "$@" {redirect}', sys.executable, *args],
                            capture_output=True, cwd=cwd, env=env, timeout=TIMEOUT)
    reason = "Bad file descriptor" if stdout == "closed" else "No space left on device"
    assert result.returncode == 6
    assert result.stderr.decode() == f"charrnn: cannot write to standard output: {reason}\n"


def test_training_does_not_need_stdout(place, corpus, tmp_path):
    cwd, env = place
    args = ["train", corpus, *TINY, "--steps", 3, "-q", "--out", tmp_path / "run"]
    result = subprocess.run(["sh", "-c", '"$0" -m charrnn "$@" >&-', sys.executable, *map(str, args)],
                            capture_output=True, cwd=cwd, env=env, timeout=TIMEOUT)
    assert result.returncode == 0 and result.stderr == b""
    assert checkpoint.read_meta(tmp_path / "run" / "latest.safetensors")["step"] == 3


def test_a_closed_stdin_is_no_traceback(place, corpus, unicode_run, tmp_path):
    cwd, env = place
    train = ["train", corpus, *TINY, "--steps", 2, "-q", "--out", tmp_path / "run"]
    for args, status in ((train, 0), (["eval", unicode_run], 2), (["train", "-", *TINY, "--out", tmp_path / "x"], 3)):
        result = subprocess.run(["sh", "-c", '"$0" -m charrnn "$@" <&-', sys.executable, *map(str, args)],
                                capture_output=True, cwd=cwd, env=env, timeout=TIMEOUT)
        assert result.returncode == status, result.stderr
        assert_clean(result.stderr)
        assert len(result.stderr.splitlines()) == (status != 0)


LOCALES = {
    "C, no UTF-8 mode": {"LC_ALL": "C", "LANG": "C", "PYTHONUTF8": "0"},
    "latin-1": {"PYTHONIOENCODING": "latin-1"},
    "ascii": {"PYTHONIOENCODING": "ascii"},
}


@pytest.fixture(scope="module")
def primed(place, unicode_run, tmp_path_factory):
    """(sample arguments with a non-ASCII prime, their output in a UTF-8 locale)."""
    prime = tmp_path_factory.mktemp("prime") / "prime.txt"
    prime.write_text("Привет, 世界 😀", encoding="utf-8")
    args = ["sample", unicode_run, "--prime-file", prime, "-n", 200, "--seed", 3]
    expected = charrnn(place, *args)
    assert expected.returncode == 0 and expected.stdout.decode("utf-8").startswith("Привет, 世界 😀")
    return args, expected.stdout


@pytest.mark.parametrize("locale", LOCALES)
def test_output_is_utf8_whatever_the_locale(place, unicode_run, primed, locale):
    args, expected = primed
    result = charrnn(place, *args, env=LOCALES[locale])
    assert result.returncode == 0, result.stderr
    assert result.stderr == b""
    assert result.stdout == expected
    refused = charrnn(place, "sample", unicode_run, "--prime", "snow\u2603man", env=LOCALES[locale])
    assert refused.returncode == 3 and refused.stdout == b""
    assert_clean(refused.stderr)
    assert len(refused.stderr.splitlines()) == 1 and refused.stderr.startswith(b"charrnn: prime has")


# ---- the kernel cache -----------------------------------------------------------------------

def test_an_unwritable_kernel_cache_falls_back_to_a_temporary_one(place, unicode_run, tmp_path):
    """NUMBA_CACHE_DIR under a regular file (as root, permissions would not stop writes):
    sampling still works, compiling its kernels into a private temporary folder, and says
    so once."""
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    temp = tmp_path / "tmp"
    temp.mkdir()
    args = ["sample", unicode_run, "-n", 40, "--seed", 5]
    result = charrnn(place, *args, env={"NUMBA_CACHE_DIR": str(blocker / "cache"), "TMPDIR": str(temp)})
    assert result.returncode == 0, result.stderr
    fallback = temp / f"charrnn-numba-{os.getuid()}-{runtime.kernels_key()}"
    assert result.stderr.decode() == (f"charrnn: no writable cache for compiled kernels; using {fallback} "
                                      "(kernels compile once per boot)\n"
                                      "charrnn: compiling kernels (first run only; cached afterwards)\n")
    assert result.stdout == charrnn(place, *args).stdout
    assert any(fallback.rglob("*.nbi"))
    again = charrnn(place, *args, env={"NUMBA_CACHE_DIR": str(blocker / "cache"), "TMPDIR": str(temp)})
    assert again.stderr.decode() == (f"charrnn: no writable cache for compiled kernels; using {fallback} "
                                     "(kernels compile once per boot)\n")  # compiled: no second note


# ---- a run that diverges --------------------------------------------------------------------

def test_a_diverging_run_recovers_three_times_then_stops(place, corpus, tmp_path):
    """A learning rate of 1e30 makes the weights infinite after one step. Each recovery goes
    back to the start at half the rate, which does not help; then exit 5."""
    run = tmp_path / "run"
    result = charrnn(place, "train", corpus, *TINY, "--steps", 500, "--lr", "1e30", "--optimizer", "sgd",
                     "--clip", 0, "--out", run)
    assert result.returncode == 5 and result.stdout == b""
    assert_clean(result.stderr)
    lines = result.stderr.decode().splitlines()
    assert [line for line in lines if "(recovery" in line] == [
        f"charrnn: the loss or gradient was not finite for 5 steps in a row at step 6; went back to step 0 and "
        f"halved the learning rate (recovery {k} of 3)" for k in (1, 2, 3)]
    assert lines[-1].startswith("charrnn: the loss or gradient was not finite for 5 steps in a row (at step 6), "
                                "after 3 recoveries")
    assert lines[-1].endswith("lower --lr or --clip; no checkpoint was written")
    assert not list(run.glob("*.safetensors"))
