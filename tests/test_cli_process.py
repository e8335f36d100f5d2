"""The command line as a shell runs it: real processes, pipes and signals. One run, trained
from standard input, is shared; $CHARRNN_HOME and the working directory are temporary."""

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from charrnn import __version__
from charrnn.runs import checkpoint
from support import write_plays

TINY = ["--hidden", "16", "--layers", "1", "--batch", "4", "--seq", "16", "--eval-every", "10"]
TIMEOUT = 60
RUN = "from-stdin"


@pytest.fixture(scope="module")
def place(tmp_path_factory):
    """(working directory, environment with $CHARRNN_HOME under it)."""
    cwd = tmp_path_factory.mktemp("cwd")
    return cwd, {**os.environ, "CHARRNN_HOME": str(cwd / "home")}


def command(*args) -> list[str]:
    return [sys.executable, "-m", "charrnn", *map(str, args)]


def charrnn(place, *args, input=None):
    cwd, env = place
    return subprocess.run(command(*args), input=input, capture_output=True, cwd=cwd, env=env, timeout=TIMEOUT)


def popen(place, *args, **kwargs):
    cwd, env = place
    return subprocess.Popen(command(*args), cwd=cwd, env=env, **kwargs)


def assert_clean(stderr: bytes | str) -> None:
    text = stderr.decode() if isinstance(stderr, bytes) else stderr
    assert "Traceback" not in text and "Exception ignored" not in text, text


@pytest.fixture(scope="module")
def corpus(place) -> Path:
    return write_plays(place[0] / "plays.txt", 100_000)


@pytest.fixture(scope="module")
def trained(place, corpus):
    """`cat FILE | charrnn train - ...`: the completed process."""
    return charrnn(place, "train", "-", *TINY, "--steps", 30, "--name", RUN, "--json", input=corpus.read_bytes())


def test_train_from_stdin(trained, place):
    assert trained.returncode == 0, trained.stderr
    assert_clean(trained.stderr)
    assert all(line.startswith("charrnn: ") for line in trained.stderr.decode().splitlines())
    summary = json.loads(trained.stdout)
    assert Path(summary["run_dir"]) == place[0] / "home" / RUN
    meta = checkpoint.read_meta(summary["latest"])
    assert meta["step"] == 30
    assert meta["data"]["sources"] == ["-"]
    assert meta["data"]["chars"] == 100_000


def test_sample_into_head(trained, place):
    """`charrnn sample | head -c 100`: head closes the pipe early; no traceback, no
    'Exception ignored' from flushing a closed stdout at exit."""
    pipeline = '"$1" -m charrnn sample "$2" -n 100000 --seed 1 | head -c 100'
    cwd, env = place
    result = subprocess.run(["sh", "-c", pipeline, "sh", sys.executable, RUN], capture_output=True, cwd=cwd,
                            env=env, timeout=TIMEOUT)
    assert result.returncode == 0
    assert result.stderr == b""
    assert len(result.stdout) == 100
    short = charrnn(place, "sample", RUN, "-n", 100, "--seed", 1)  # generation does not depend on -n
    assert short.stdout[:100] == result.stdout


def test_sample_streams_before_it_ends(trained, place):
    process = popen(place, "sample", RUN, "-n", 100_000_000, "--seed", 2, stdout=subprocess.PIPE,
                    stderr=subprocess.PIPE)
    try:
        head = process.stdout.read(64)
        assert len(head) == 64
        assert process.poll() is None  # the text arrives while the rest is still being made
        process.stdout.close()
        process.wait(timeout=TIMEOUT)
        assert_clean(process.stderr.read())
    finally:
        process.kill()
        process.wait()
        process.stderr.close()


def test_ckpt_omitted_and_by_name_in_a_process(trained, place):
    by_name = charrnn(place, "sample", RUN, "-n", 50, "--seed", 4)
    omitted = charrnn(place, "sample", "-n", 50, "--seed", 4)
    assert by_name.returncode == omitted.returncode == 0
    assert len(by_name.stdout.decode()) == 50
    assert by_name.stdout == omitted.stdout
    assert by_name.stderr == b""
    # the run that was not named is named on stderr (issue 24)
    said = omitted.stderr.decode()
    assert said.startswith(f"charrnn: no checkpoint named: using {Path(place[1]['CHARRNN_HOME'])}")
    assert said.endswith(", trained on standard input)\n")


@pytest.mark.parametrize("signum, status", [(signal.SIGINT, 130), (signal.SIGTERM, 143)],
                         ids=["SIGINT", "SIGTERM"])
def test_signal_saves_and_stops(place, corpus, tmp_path, signum, status):
    process = popen(place, "train", corpus, *TINY, "--steps", 100_000, "--out", tmp_path / "run", "--json",
                    stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        seen = []
        for line in process.stderr:  # wait until the loop runs (and the handler is in place)
            seen.append(line)
            if line.startswith("charrnn: step "):
                break
        else:
            pytest.fail(f"training ended before logging a step: {''.join(seen)}")
        process.send_signal(signum)
        stdout, stderr = process.communicate(timeout=TIMEOUT)
    finally:
        process.kill()
        process.wait()
    assert process.returncode == status, stderr
    assert_clean(stderr)
    summary = json.loads(stdout)
    assert summary["interrupted"] is True and summary["exit_code"] == status
    last = stderr.splitlines()[-1]
    latest = tmp_path / "run" / "latest.safetensors"
    assert last == f"charrnn: stopped at step {summary['steps']}; saved {latest}"
    loaded = checkpoint.load(latest)
    assert loaded.meta["step"] == summary["steps"] >= 10


def test_importing_the_cli_does_not_import_numba():
    code = "import charrnn.cli, sys; assert 'numba' not in sys.modules, 'numba imported'"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, timeout=TIMEOUT)
    assert result.returncode == 0, result.stderr


def test_help_and_version(place):
    result = charrnn(place, "--help")
    assert result.returncode == 0 and result.stderr == b""
    assert result.stdout.startswith(b"Usage: charrnn [OPTIONS] COMMAND")
    for name in (b"train", b"sample", b"eval", b"checkpoints"):
        assert b"\n  " + name + b" " in result.stdout
    version = charrnn(place, "--version")
    assert version.returncode == 0
    assert version.stdout.decode() == f"charrnn, version {__version__}\n"


@pytest.mark.parametrize("args, status", [
    (["train", "missing.txt", "--steps", 2], 3),
    (["sample", "no-such-run"], 4),
    (["sample", RUN, "--top-p", 0], 2),
])
def test_errors_are_one_line_in_a_process(trained, place, args, status):
    result = charrnn(place, *args)
    assert result.returncode == status
    assert result.stdout == b""
    lines = result.stderr.decode().splitlines()
    assert len(lines) == 1 and lines[0].startswith("charrnn: "), lines
