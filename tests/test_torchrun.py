"""Two processes of `charrnn train --engine torch --device cpu` (gloo), under torchrun and
started by hand: only process 0 writes into the run folder, a run ends cleanly, and a process
that dies or hangs ends the other within a bounded time, one line and a non-zero exit, the
last checkpoint whole. The processes run with tests/hooks on PYTHONPATH: each logs what it
writes and its pid, and rank 0 signals a rank right after its n-th save (see sitecustomize)."""

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

import charrnn
from charrnn.runs import checkpoint
from support import ROOT, write_plays

pytestmark = pytest.mark.torch
HOOKS = Path(__file__).resolve().parent / "hooks"
SMALL = ["--engine", "torch", "--device", "cpu", "--hidden", "16", "--layers", "1", "--batch", "8", "--seq", "16",
         "--threads", "1", "--seed", "1", "--eval-every", "10", "--save-every", "10"]
LIMIT = 120  # seconds any of these runs may take, however it ends


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    pytest.importorskip("torch")
    return write_plays(tmp_path_factory.mktemp("corpus") / "plays.txt", 30_000)


@pytest.fixture
def ranks(tmp_path) -> Path:
    folder = tmp_path / "ranks"
    folder.mkdir()
    return folder


def environment(ranks: Path, **extra) -> dict:
    return {**os.environ, "PYTHONPATH": f"{ROOT}{os.pathsep}{HOOKS}", "OMP_NUM_THREADS": "1",
            "CHARRNN_TEST_RANKS": str(ranks), **extra}


def torchrun(corpus, out, ranks, *options, **extra) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2",
                           "-m", "charrnn", "train", corpus, *SMALL, "--out", out, *options],
                          env=environment(ranks, **extra), capture_output=True, text=True, timeout=LIMIT)


def by_hand(corpus, out, ranks, *options, **extra) -> list[subprocess.Popen]:
    """The two processes torchrun would start, without torchrun (which would end the survivor
    itself): what charrnn does when a peer is lost is all there is."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return [subprocess.Popen([sys.executable, "-m", "charrnn", "train", corpus, *SMALL, "--out", out, *options],
                             env=environment(ranks, RANK=str(rank), LOCAL_RANK=str(rank), WORLD_SIZE="2",
                                             MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), **extra),
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            for rank in (0, 1)]


def finish(proc: subprocess.Popen, seconds: float) -> tuple[int, str]:
    try:
        _, err = proc.communicate(timeout=seconds)
    except subprocess.TimeoutExpired:
        proc.kill()
        _, err = proc.communicate()
        pytest.fail(f"still running after {seconds:.0f} s: {err[-2000:]}")
    return proc.returncode, err


def files_in(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))


def writes(ranks: Path, rank: int, under: Path) -> list[str]:
    """What rank wrote under the folder `under` (tests/hooks logs every write of each rank)."""
    lines = (ranks / f"writes-{rank}").read_text().splitlines()
    return [line for line in lines if str(under) in line]


def assert_whole(latest: Path, step: int) -> None:
    """The checkpoint loads, validated, and is the one of `step`."""
    assert checkpoint.read_meta(latest)["step"] == step
    assert charrnn.load(latest).complete("ROMEO:", 10, seed=1).startswith("ROMEO:")


def test_only_rank_0_writes_into_the_run_folder_and_a_run_ends_cleanly(corpus, tmp_path, ranks):
    two = torchrun(corpus, tmp_path / "two", ranks, "--steps", "20")
    assert two.returncode == 0, two.stderr[-3000:]
    # nothing on stderr at the end but charrnn's own lines: no abort, warning or traceback
    assert [line for line in two.stderr.splitlines() if not line.startswith("charrnn: ")] == []
    one = subprocess.run([sys.executable, "-m", "charrnn", "train", corpus, *SMALL, "--out", tmp_path / "one",
                          "--steps", "20"], env=environment(ranks), capture_output=True, text=True, timeout=LIMIT)
    assert one.returncode == 0, one.stderr[-3000:]
    assert files_in(tmp_path / "two") == files_in(tmp_path / "one")
    assert any("latest.safetensors" in line for line in writes(ranks, 0, tmp_path / "two"))  # the log sees writes
    assert writes(ranks, 1, tmp_path / "two") == []
    assert_whole(tmp_path / "two" / "latest.safetensors", 20)


def test_a_rank_killed_mid_run_ends_rank_0_in_one_line_with_the_last_checkpoint(corpus, tmp_path, ranks):
    out = tmp_path / "run"
    procs = by_hand(corpus, out, ranks, "--steps", "100000", CHARRNN_TEST_SIGNAL="1:KILL:2")
    try:
        code, err = finish(procs[0], LIMIT)
        assert finish(procs[1], 10)[0] == -signal.SIGKILL
    finally:
        for proc in procs:
            proc.kill()
    assert code == 5, err[-3000:]
    last = err.splitlines()[-1]
    assert last.startswith("charrnn: a process of the distributed run died or stopped answering (") and "Traceback" \
        not in err
    assert last.endswith(f"; the last checkpoint is {out / 'latest.safetensors'}")
    assert_whole(out / "latest.safetensors", 20)


def test_rank_0_killed_mid_run_ends_rank_1_in_one_line(corpus, tmp_path, ranks):
    out = tmp_path / "run"
    procs = by_hand(corpus, out, ranks, "--steps", "100000", CHARRNN_TEST_SIGNAL="0:KILL:2")
    try:
        assert finish(procs[0], LIMIT)[0] == -signal.SIGKILL
        code, err = finish(procs[1], LIMIT)
    finally:
        for proc in procs:
            proc.kill()
    assert code == 5, err[-3000:]
    assert err.splitlines() == [err.splitlines()[0]] and err.startswith(
        "charrnn: a process of the distributed run died or stopped answering (")
    assert_whole(out / "latest.safetensors", 20)


def test_a_rank_that_hangs_ends_rank_0_within_the_timeout(corpus, tmp_path, ranks):
    """A stopped process holds its connections open: only the timeout of the process group
    (CHARRNN_DIST_TIMEOUT here, 30 minutes by default) tells the others it is gone."""
    out = tmp_path / "run"
    procs = by_hand(corpus, out, ranks, "--steps", "100000", CHARRNN_TEST_SIGNAL="1:STOP:2", CHARRNN_DIST_TIMEOUT="5")
    start = time.monotonic()
    try:
        code, err = finish(procs[0], LIMIT)
    finally:
        for proc in procs:
            proc.kill()
            proc.communicate()
    assert code == 5, err[-3000:]
    assert "Traceback" not in err
    assert err.splitlines()[-1].endswith(f"the last checkpoint is {out / 'latest.safetensors'}")
    assert time.monotonic() - start < LIMIT
    assert_whole(out / "latest.safetensors", 20)


def test_under_torchrun_a_killed_rank_ends_the_run(corpus, tmp_path, ranks):
    out = tmp_path / "run"
    start = time.monotonic()
    result = torchrun(corpus, out, ranks, "--steps", "100000", CHARRNN_TEST_SIGNAL="1:KILL:2")
    assert result.returncode != 0
    assert time.monotonic() - start < LIMIT
    assert "[rank0]: Traceback" not in result.stderr
    assert_whole(out / "latest.safetensors", 20)


def test_a_timeout_that_is_no_number_of_seconds_is_one_line(corpus, tmp_path, ranks):
    result = torchrun(corpus, tmp_path / "run", ranks, "--steps", "2", CHARRNN_DIST_TIMEOUT="soon")
    assert result.returncode != 0
    assert "charrnn: CHARRNN_DIST_TIMEOUT must be a number of seconds above 0, not 'soon'" in result.stderr
    assert "[rank0]: Traceback" not in result.stderr and not (tmp_path / "run").exists()
