"""What needs real processes: one writer per run directory while others read it, signals at any
moment (SIGHUP, and SIGINT or SIGTERM before the first step), inputs that can be read only once
(a named pipe, process substitution, /dev/stdin), and file names that are not UTF-8 under a
strict UTF-8 standard output."""

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from charrnn.runs import checkpoint
from support import PLAYS, write_plays

TINY = ["--hidden", "16", "--layers", "1", "--batch", "4", "--seq", "16", "--threads", "1"]
TIMEOUT = 60


@pytest.fixture(scope="module")
def place(tmp_path_factory):
    """(working directory, environment with $CHARRNN_HOME under it)."""
    cwd = tmp_path_factory.mktemp("cwd")
    env = {**os.environ, "CHARRNN_HOME": str(cwd / "home"), "LANG": "C.UTF-8"}
    env.pop("PYTHONIOENCODING", None)
    return cwd, env


def command(*args) -> list[str]:
    return [sys.executable, "-m", "charrnn", *map(str, args)]


def charrnn(place, *args, **kwargs):
    cwd, env = place
    return subprocess.run(command(*args), capture_output=True, cwd=cwd, env=env, timeout=TIMEOUT, **kwargs)


def popen(place, *args, **kwargs):
    cwd, env = place
    return subprocess.Popen(command(*args), cwd=cwd, env=env, **kwargs)


@pytest.fixture(scope="module")
def corpus(place) -> Path:
    return write_plays(place[0] / "plays.txt", 30_000)


def wait_for(predicate, process, what: str) -> None:
    deadline = time.monotonic() + TIMEOUT
    while not predicate():
        assert process.poll() is None, f"the process ended before {what}"
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def test_one_writer_per_run_directory_while_readers_read(place, corpus, tmp_path):
    """A second `train` into a run that is training fails at once, naming the process; sample,
    eval, list and show keep working on it meanwhile, and prune refuses it."""
    run = tmp_path / "race"
    first = popen(place, "train", corpus, *TINY, "--steps", 10**6, "--save-every", 1, "--eval-every", 5, "-q",
                  "--out", run, stderr=subprocess.PIPE)
    try:
        wait_for(lambda: (run / "best.safetensors").exists(), first, "the first checkpoints")
        second = charrnn(place, "train", corpus, *TINY, "--steps", 5, "--out", run, "--overwrite")
        assert second.returncode == 6
        assert second.stderr.decode() == f"charrnn: {run} is in use by charrnn train (pid {first.pid})\n"
        resumed = charrnn(place, "train", "--resume", run, "--steps", 5)
        assert resumed.returncode == 6 and b"is in use by charrnn train" in resumed.stderr
        for args in (["sample", run, "-n", 50, "--seed", 1], ["eval", run, corpus, "--json"],
                     ["checkpoints", "list", tmp_path], ["checkpoints", "show", run]):
            for _ in range(3):
                result = charrnn(place, *args)
                assert result.returncode == 0 and b"Traceback" not in result.stderr, (args, result.stderr)
        pruned = charrnn(place, "checkpoints", "prune", run, "--keep", 0)
        assert pruned.returncode == 6 and b"is in use" in pruned.stderr
    finally:
        first.send_signal(signal.SIGTERM)
        first.wait(timeout=TIMEOUT)
    assert first.returncode == 128 + signal.SIGTERM
    step = checkpoint.read_meta(run / "latest.safetensors")["step"]
    assert charrnn(place, "train", "--resume", run, "--steps", step + 1, "-q").returncode == 0  # free again


def test_sighup_saves_and_stops_like_sigterm(place, corpus, tmp_path):
    run = tmp_path / "hup"
    process = popen(place, "train", corpus, *TINY, "--steps", 10**6, "--save-every", 3, "--out", run,
                    stderr=subprocess.PIPE)
    wait_for(lambda: (run / "latest.safetensors").exists(), process, "a checkpoint")
    process.send_signal(signal.SIGHUP)
    _, err = process.communicate(timeout=TIMEOUT)
    assert process.returncode == 128 + signal.SIGHUP
    last = err.decode().splitlines()[-1]
    assert last.startswith("charrnn: stopped at step ") and last.endswith(f"saved {run / 'latest.safetensors'}")
    assert checkpoint.read_meta(run / "latest.safetensors")["step"] == int(last.split()[4].rstrip(";"))


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM, signal.SIGHUP])
def test_a_signal_before_the_first_step_leaves_nothing_behind(place, tmp_path, signum):
    """The run waits for its text on a named pipe: stopped there, it removes the folder it made."""
    fifo = tmp_path / "text.fifo"
    os.mkfifo(fifo)
    run = tmp_path / "early"
    process = popen(place, "train", fifo, *TINY, "--steps", 5, "--out", run, stderr=subprocess.PIPE)
    wait_for(lambda: run.exists(), process, "the run folder")
    time.sleep(0.3)
    process.send_signal(signum)
    _, err = process.communicate(timeout=TIMEOUT)
    assert process.returncode == 128 + signum
    assert err.decode() == "charrnn: interrupted before training started; nothing was saved\n"
    assert not run.exists()


def test_inputs_read_once_are_read_once(place, tmp_path):
    """A named pipe, process substitution and /dev/stdin from a pipe train (and resume from
    the id cache, since they cannot be read again)."""
    fifo = tmp_path / "text.fifo"
    os.mkfifo(fifo)
    text = PLAYS.read_bytes()[:30_000]

    def feed():
        with open(fifo, "wb") as f:
            f.write(text)

    writer = threading.Thread(target=feed)
    writer.start()
    result = charrnn(place, "train", fifo, *TINY, "--steps", 3, "-q", "--json", "--out", tmp_path / "fifo")
    writer.join()
    assert result.returncode == 0, result.stderr
    meta = checkpoint.read_meta(json.loads(result.stdout)["latest"])
    assert meta["data"]["chars"] == len(text.decode("utf-8")) and meta["data"]["sources"] == [str(fifo)]
    resumed = charrnn(place, "train", "--resume", tmp_path / "fifo", "--steps", 6, "-q", "--json")
    assert resumed.returncode == 0 and json.loads(resumed.stdout)["steps"] == 6

    cwd, env = place
    shell = (f'"{sys.executable}" -m charrnn train <(head -c 30000 "{PLAYS}") {" ".join(TINY)} --steps 3 -q --json '
             f'--out "{tmp_path / "substituted"}" && head -c 30000 "{PLAYS}" | "{sys.executable}" -m charrnn train '
             f'/dev/stdin {" ".join(TINY)} --steps 3 -q --json --out "{tmp_path / "stdin"}"')
    both = subprocess.run(["bash", "-c", shell], capture_output=True, cwd=cwd, env=env, timeout=TIMEOUT)
    assert both.returncode == 0, both.stderr
    summaries = [json.loads(line) for line in both.stdout.decode().splitlines()]
    assert [checkpoint.read_meta(s["latest"])["data"]["chars"] for s in summaries] == [len(text.decode("utf-8"))] * 2


def test_a_run_name_that_is_not_utf8_lists_under_a_strict_utf8_stdout(place, corpus):
    cwd, env = place
    home = Path(env["CHARRNN_HOME"])
    name = os.fsdecode(b"caf\xe9-run")
    trained = charrnn(place, "train", corpus, *TINY, "--steps", 2, "-q", "--name", name)
    assert trained.returncode == 0, trained.stderr
    charrnn(place, "train", corpus, *TINY, "--steps", 2, "-q", "--name", "plain")
    listed = charrnn(place, "checkpoints", "list")
    assert listed.returncode == 0 and listed.stderr == b""
    assert b"caf\xe9-run" in listed.stdout and b"plain" in listed.stdout
    rows = json.loads(charrnn(place, "checkpoints", "list", "--json").stdout.decode("utf-8"))
    assert {Path(row["run_dir"]).name for row in rows} == {name, "plain"}
    assert (home / name).is_dir()
