"""Fixtures every test module shares."""

import os
import threading

import pytest

from charrnn import runtime

# Before any test module imports numba: the kernels compiled in this process and in the
# charrnn processes that tests start then share one cache (the variable is inherited).
runtime.prepare()


@pytest.fixture(autouse=True)
def home(tmp_path, monkeypatch):
    """$CHARRNN_HOME for the test: default run directories land under tmp_path, never in the
    working directory."""
    path = tmp_path / "home"
    monkeypatch.setenv("CHARRNN_HOME", str(path))
    return path


@pytest.fixture
def endless(tmp_path):
    """A stream with no end that the test makes itself: a FIFO fed zero bytes by a thread for
    as long as anyone reads it (what /dev/zero is, without reaching outside the test's folder)."""
    path = tmp_path / "endless"
    os.mkfifo(path)

    def feed():
        try:
            with open(path, "wb") as f:
                while True:
                    f.write(bytes(1 << 16))
        except OSError:  # the reader closed it
            pass

    thread = threading.Thread(target=feed, daemon=True)
    thread.start()
    yield path
    os.close(os.open(path, os.O_RDONLY | os.O_NONBLOCK))  # a feeder still waiting for a reader opens, then stops
    thread.join(5)
