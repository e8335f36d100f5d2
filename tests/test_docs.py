"""Every command and Python example in README.md and docs/*.md, run as written, in order, in
one fresh folder (a copy of the shipped corpora, runs under a $CHARRNN_HOME of its own).

Fenced blocks are run by their language: `sh` line by line with bash (a line's install steps,
`python3 -m venv`, `. .venv/bin/activate` and `pip install`, are left out, as is a line that
runs the test suite itself), `python` as a script. Other languages mark what is not run, and
each such block is reported as skipped with the reason below; a block with no language, or
one not listed, fails, so that every new example is either run or says why not."""

import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
NOT_RUN = {
    "text": "output, or lines for another shell: not commands to run",
    "sh-bench": "a benchmark or a long run: it needs PyTorch, corpora that are not shipped, or minutes of training",
    "sh-torch": "the torch engine: it needs PyTorch (the torch extra) and, for most of it, GPUs",
    "python-torch": "needs PyTorch (the torch extra)",
}
INSTALL = ("python3 -m venv ", ". .venv/bin/activate", "pip install ")
SUITE = ("pytest", ".ci/run")  # the tests themselves
TIMEOUT = 600  # seconds for one command: the quickstart trains for 60 s after compiling


def blocks() -> list[tuple[str, str, str]]:
    """(where, language, body) of every fenced block, page by page, in order."""
    found = []
    for page in PAGES:
        lines = page.read_text(encoding="utf-8").splitlines()
        start = language = None
        for number, line in enumerate(lines, 1):
            fence = re.match(r"^```(\S*)\s*$", line)
            if not fence:
                continue
            if start is None:
                start, language = number, fence.group(1)
            else:
                body = "\n".join(lines[start:number - 1]) + "\n"
                found.append((f"{page.relative_to(ROOT)}:{start}", language, body))
                start = None
        assert start is None, f"{page.relative_to(ROOT)}:{start}: a fence that is never closed"
    return found


BLOCKS = blocks()


def commands(body: str) -> list[str]:
    """A sh block's command lines (continuations joined, comments and install steps left
    out); a line that runs the test suite is left out too."""
    joined = re.sub(r"\\\n\s*", " ", body)
    found = []
    for line in joined.splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        steps = [step.strip() for step in line.split(" && ") if not step.strip().startswith(INSTALL)]
        if steps and not steps[0].startswith(SUITE):
            found.append(" && ".join(steps))
    return found


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    """(the working folder, the environment): corpora/ copied, `charrnn` on the PATH as this
    checkout's, runs under a $CHARRNN_HOME of the test's own."""
    place = tmp_path_factory.mktemp("docs")
    shutil.copytree(ROOT / "corpora", place / "corpora", ignore=shutil.ignore_patterns("__pycache__"))
    bin_dir = place.parent / f"{place.name}-bin"
    bin_dir.mkdir()
    script = bin_dir / "charrnn"
    script.write_text(f"#!/bin/sh\nexec {shlex.quote(sys.executable)} -m charrnn \"$@\"\n")
    script.chmod(0o755)
    env = dict(os.environ, PATH=f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}",
               PYTHONPATH=str(ROOT), CHARRNN_HOME=str(place.parent / f"{place.name}-home"))
    return place, env


def test_every_block_says_how_it_runs():
    unmarked = [where for where, language, _ in BLOCKS if language not in ("sh", "python", *NOT_RUN)]
    assert not unmarked, f"fenced blocks with no language the docs test knows: {unmarked}"


def test_the_readme_runs_the_quickstart_first():
    where, language, body = BLOCKS[0]
    assert where.startswith("README.md") and language == "sh"
    assert commands(body)[0].startswith("charrnn train corpora/plays.txt")


@pytest.mark.parametrize("where, language, body", BLOCKS, ids=[where for where, _, _ in BLOCKS])
def test_example(folder, where, language, body):
    place, env = folder
    if language in NOT_RUN:
        pytest.skip(f"```{language}: {NOT_RUN[language]}")
    if language == "python":
        script = place / "example.py"
        script.write_text(body, encoding="utf-8")
        done = subprocess.run([sys.executable, str(script)], cwd=place, env=env, capture_output=True,
                              timeout=TIMEOUT)
        assert done.returncode == 0, f"{where}:\n{done.stderr.decode(errors='replace')}"
        return
    lines = commands(body)
    if not lines:
        pytest.skip("installs and the test suite itself: not run inside the tests")
    for line in lines:
        done = subprocess.run(["bash", "-c", line], cwd=place, env=env, capture_output=True, timeout=TIMEOUT)
        stderr = done.stderr.decode(errors="replace")
        assert done.returncode == 0, f"{where}: {line}\n{stderr}"
        assert "Traceback" not in stderr, f"{where}: {line}\n{stderr}"
