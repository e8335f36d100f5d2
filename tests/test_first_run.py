"""A new user's first minutes, through the installed `charrnn` script.

The README's quickstart end to end: its train and sample commands, read from the README, run
in a temporary working directory on the shipped corpus with a shorter --time. The sample must
be the prime and 400 characters, and the model must have learned: bits/char on a slice of the
corpus far below a uniform guess. Then shell completion and the environment variables."""

import json
import math
import os
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
TRAIN_TIME = "15s"
TIMEOUT = 120


def readme_commands() -> tuple[list[str], list[str]]:
    """The `charrnn train` and `charrnn sample` commands of the README's first shell line
    that trains on the shipped corpus."""
    line = next(line for line in (ROOT / "README.md").read_text(encoding="utf-8").splitlines()
                if "charrnn train corpora/" in line)
    commands = [shlex.split(part) for part in line.split("&&")]
    train = next(c for c in commands if c[:2] == ["charrnn", "train"])
    sample = next(c for c in commands if c[:2] == ["charrnn", "sample"])
    return train, sample


def option(command: list[str], name: str) -> str:
    return command[command.index(name) + 1]


@pytest.fixture(scope="module")
def quickstart(tmp_path_factory):
    """(working directory, train process, sample process, train command, sample command)."""
    cwd = tmp_path_factory.mktemp("quickstart")
    (cwd / "corpora").symlink_to(ROOT / "corpora", target_is_directory=True)
    env = {k: v for k, v in os.environ.items() if k != "CHARRNN_HOME"}  # the README's default: ./checkpoints
    script = charrnn_script()
    train, sample = readme_commands()
    train = [script, *train[1:]]
    train[train.index("--time") + 1] = TRAIN_TIME
    sample = [script, *sample[1:]]
    trained = subprocess.run(train, cwd=cwd, env=env, capture_output=True, timeout=TIMEOUT)
    sampled = subprocess.run(sample, cwd=cwd, env=env, capture_output=True, timeout=TIMEOUT)
    return cwd, trained, sampled, train, sample, env


def test_readme_quickstart_is_the_command_tested():
    train, sample = readme_commands()
    assert train[2] == "corpora/plays.txt" and "--time" in train and "--name" in train
    assert sample[2] == option(train, "--name")
    assert (ROOT / train[2]).is_file()


def test_quickstart_trains_into_checkpoints(quickstart):
    cwd, trained, _, train, _, _ = quickstart
    assert trained.returncode == 0, trained.stderr.decode()
    assert trained.stdout == b""
    stderr = trained.stderr.decode()
    assert "Traceback" not in stderr
    run = cwd / "checkpoints" / option(train, "--name")
    assert stderr.splitlines()[-1].startswith("charrnn: done: ")
    assert stderr.splitlines()[-1].endswith(f"saved checkpoints/{run.name}/latest.safetensors")
    assert (run / "best.safetensors").is_file() and (run / "metrics.jsonl").is_file()


def test_quickstart_sample(quickstart):
    _, _, sampled, _, sample, _ = quickstart
    assert sampled.returncode == 0, sampled.stderr.decode()
    assert sampled.stderr == b""
    text = sampled.stdout.decode("utf-8")
    prime, length = option(sample, "--prime"), int(option(sample, "-n"))
    assert text.startswith(prime)
    assert len(text) == len(prime) + length


def test_quickstart_model_learned(quickstart, tmp_path):
    cwd, _, _, train, _, env = quickstart
    corpus = (ROOT / "corpora" / "plays.txt").read_text(encoding="utf-8")
    held_out = tmp_path / "slice.txt"
    held_out.write_text(corpus[-20_000:], encoding="utf-8")  # from the validation part
    result = subprocess.run([charrnn_script(), "eval", option(train, "--name"), str(held_out), "--json"], cwd=cwd,
                            env=env, capture_output=True, timeout=TIMEOUT)
    assert result.returncode == 0, result.stderr.decode()
    bits = json.loads(result.stdout)["bits_per_char"]
    uniform = math.log2(len(set(corpus)))
    # a uniform guess is 6.2 bits, character frequencies alone 5.1; 15 s of training give about 2.7
    assert bits < uniform - 2.5, (bits, uniform)


def charrnn_script() -> str:
    return str(Path(sys.executable).with_name("charrnn"))


@pytest.mark.parametrize("shell, marker", [
    ("bash", "complete -o nosort -F _charrnn_completion charrnn"),
    ("zsh", "#compdef charrnn"),
    ("fish", "complete --no-files --command charrnn"),
])
def test_shell_completion_script(shell, marker):
    """The README's `eval "$(_CHARRNN_COMPLETE=bash_source charrnn)"` and its zsh and fish forms."""
    env = {**os.environ, "_CHARRNN_COMPLETE": f"{shell}_source"}
    result = subprocess.run([charrnn_script()], env=env, capture_output=True, timeout=TIMEOUT)
    assert result.returncode == 0 and result.stderr == b""
    assert marker in result.stdout.decode()


def test_completion_completes_commands_and_options():
    env = {**os.environ, "_CHARRNN_COMPLETE": "bash_complete", "COMP_WORDS": "charrnn p", "COMP_CWORD": "1"}
    result = subprocess.run([charrnn_script()], env=env, capture_output=True, timeout=TIMEOUT)
    assert result.stdout.decode().split() == ["plain,plot"]
    env.update(COMP_WORDS="charrnn train --sample-", COMP_CWORD="2")
    result = subprocess.run([charrnn_script()], env=env, capture_output=True, timeout=TIMEOUT)
    assert result.stdout.decode().split() == [f"plain,--sample-{name}" for name in
                                              ("every", "length", "temperature", "prime")]
    env.update(COMP_WORDS="charrnn train corp", COMP_CWORD="2")  # the shell completes file names
    result = subprocess.run([charrnn_script()], env=env, capture_output=True, timeout=TIMEOUT)
    assert result.stdout.decode().split() == ["file,corp"]


def test_charrnn_threads_sets_the_default(tmp_path):
    """CHARRNN_THREADS is read as --threads (0 is refused, which shows it was read)."""
    text = tmp_path / "t.txt"
    text.write_text("to be or not to be\n" * 200, encoding="utf-8")
    env = {**os.environ, "CHARRNN_THREADS": "0", "CHARRNN_HOME": str(tmp_path / "home")}
    result = subprocess.run([charrnn_script(), "train", str(text), "--steps", "1", "--hidden", "8"], env=env,
                            capture_output=True, timeout=TIMEOUT)
    assert result.returncode == 2
    assert result.stderr.decode() == "charrnn: --threads must be at least 1, got 0\n"
    assert not (tmp_path / "home").exists()
