"""A new user's first minutes, through the installed `charrnn` script.

The README's quickstart end to end: its train and sample commands, read from the README, run
in a temporary working directory on the shipped corpus with a shorter --time. The sample must
be the prime and 400 characters, and the model must have learned: bits/char on a slice of the
corpus far below a uniform guess. Then shell completion and the environment variables."""

import json
import math
import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
TRAIN_TIME = "15s"
TIMEOUT = 120
# what a working copy holds that a fresh clone does not
NOT_IN_A_CLONE = {".git", ".venv", "__pycache__", ".pytest_cache", ".hypothesis", "build", ".ruff_cache"}


def readme_first_screen() -> tuple[str, str]:
    """The README's two commands: install and run the main job; install and run the tests."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    first, second = re.findall(r"```sh\n(python3 -m venv [^\n]*)\n```", readme)[:2]
    return first, second


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
    assert re.search(rf"saved checkpoints/{run.name}/latest\.safetensors; validation \d+\.\d{{3}} nats/char, "
                     r"\d+\.\d{3} bits/char", stderr.splitlines()[-1])
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


def copy_of_the_repository(dest: Path) -> None:
    """The repository's files as a fresh clone has them: with git, what it tracks plus what it
    would add; without (CI's exported tree), everything but what a working copy gains."""
    if (ROOT / ".git").exists():
        listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=ROOT,
                                capture_output=True, check=True).stdout.decode().split("\0")
        names = [name for name in listed if name and (ROOT / name).is_file()]
    else:
        names = [str(path.relative_to(ROOT)) for path in ROOT.rglob("*") if path.is_file()
                 and not NOT_IN_A_CLONE & set(path.relative_to(ROOT).parts) and ".egg-info" not in str(path)
                 and not (path.parent == ROOT / "checkpoints" and path.name != "README.md")]
    for name in names:
        (dest / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / name, dest / name)


@pytest.mark.slow
def test_a_fresh_copy_runs_the_readme_commands_one_after_the_other(tmp_path):
    """A newcomer's first minutes, in one fresh copy with nothing beside it and an empty
    kernel cache: the README's first command (training shortened), then its second
    command's install in the same folder. The editable install is what `import charrnn`
    finds, nothing of the first install is left behind, and a test module passes there."""
    copy = tmp_path / "clone" / "charrnn"
    copy_of_the_repository(copy)
    first, second = readme_first_screen()
    assert "--time 60s" in first and second.endswith(" && pytest -q")
    env = {k: v for k, v in os.environ.items() if k not in ("CHARRNN_HOME", "NUMBA_CACHE_DIR", "VIRTUAL_ENV")}
    env.update(XDG_CACHE_HOME=str(tmp_path / "cache"), PATH=os.pathsep.join(
        p for p in env["PATH"].split(os.pathsep) if not p.startswith(str(ROOT))))

    def sh(command: str) -> subprocess.CompletedProcess:
        return subprocess.run(["bash", "-c", command], cwd=copy, env=env, capture_output=True, timeout=600)

    trained = sh(first.replace("--time 60s", "--time 3s"))
    assert trained.returncode == 0, trained.stderr.decode()
    assert trained.stdout.decode()[-len("DUKE") - 400:].startswith("DUKE")  # after pip's output, the sample
    assert "Traceback" not in trained.stderr.decode()
    site = subprocess.run([str(copy / ".venv" / "bin" / "python"), "-c", "import sysconfig; "
                           "print(sysconfig.get_paths()['purelib'])"], capture_output=True, text=True, check=True)
    installed = Path(site.stdout.strip()) / "charrnn"
    assert not list(installed.rglob("*.nbi")), "compiled kernels were cached inside the installed package"
    assert list((tmp_path / "cache" / "charrnn").rglob("*.nbi"))

    install = sh(second.removesuffix(" && pytest -q"))
    assert install.returncode == 0, install.stderr.decode()
    assert not installed.exists(), "the first install left files behind"
    found = sh(". .venv/bin/activate && python -c 'import charrnn, charrnn.kernels.gru; print(charrnn.__file__)'")
    assert found.stdout.decode().strip() == str(copy / "charrnn" / "__init__.py"), found.stderr.decode()
    tested = sh(". .venv/bin/activate && pytest -q -p no:cacheprovider tests/test_runtime.py")
    assert tested.returncode == 0, tested.stdout.decode()[-2000:]
    assert re.search(r"^\d+ passed in ", tested.stdout.decode(), re.M)
