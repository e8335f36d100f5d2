"""`charrnn corpus fetch` against a server that trickles and a FIFO no one writes to: each ends
in one line within the deadline (--deadline), writing nothing."""

import os
import socket
import subprocess
import sys
import threading
import time

import pytest

from support import ROOT
from test_cli import assert_one_line_error, invoke


@pytest.fixture
def trickle():
    """A server on 127.0.0.1 that answers any request with a megabyte announced and then sends
    one byte a second, for as long as the client stays; yields its URL."""
    listener = socket.create_server(("127.0.0.1", 0))
    stop = threading.Event()

    def serve(conn):
        with conn:
            try:
                conn.recv(65536)
                conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 1000000\r\n\r\n")
                while not stop.wait(1.0):
                    conn.sendall(b"x")
            except OSError:  # the client went away
                pass

    def accept():
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            threading.Thread(target=serve, args=(conn,), daemon=True).start()

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{listener.getsockname()[1]}/input.txt"
    stop.set()
    listener.close()
    thread.join(5)


def test_a_server_that_trickles_is_given_up_at_the_deadline(trickle, tmp_path):
    """One byte a second resets the 60 s read timeout every time: before, this ran for days."""
    start = time.monotonic()
    result = invoke("corpus", "fetch", "tinyshakespeare", "--url", trickle, "--deadline", "2s",
                    "-o", tmp_path / "t.txt")
    assert time.monotonic() - start < 10
    assert result.stderr.splitlines()[-1] == (f"charrnn: cannot download {trickle}: not done within --deadline 2s; "
                                              "nothing written")
    assert result.exit_code == 3 and "Traceback" not in result.stderr
    assert not (tmp_path / "t.txt").exists() and list(tmp_path.iterdir()) == []


def test_a_fifo_no_one_writes_to_ends_at_the_deadline(tmp_path):
    """A file: address of a FIFO is read as a stream, as other commands read one; waiting for a
    writer that never comes ends at the deadline, and the process exits (its reader waits in
    a daemon thread)."""
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    start = time.monotonic()
    result = subprocess.run([sys.executable, "-m", "charrnn", "corpus", "fetch", "tinyshakespeare", "--url",
                             fifo.as_uri(), "--deadline", "1s", "-o", tmp_path / "t.txt"], capture_output=True,
                            text=True, timeout=60, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert time.monotonic() - start < 30
    assert result.returncode == 3, result.stderr
    assert result.stderr.splitlines()[-1] == (f"charrnn: cannot download {fifo.as_uri()}: not done within "
                                              "--deadline 1s; nothing written")
    assert "Traceback" not in result.stderr and not (tmp_path / "t.txt").exists()


@pytest.mark.parametrize("deadline", ["0s", "-1s", "soon"])
def test_a_deadline_that_is_no_duration_is_refused(tmp_path, deadline):
    result = invoke("corpus", "fetch", "tinyshakespeare", "--url", (tmp_path / "x").as_uri(), "--deadline", deadline,
                    "-o", tmp_path / "t.txt")
    assert_one_line_error(result, 2)
    assert "--deadline" in result.stderr


def test_the_deadline_is_documented():
    result = invoke("corpus", "fetch", "--help")
    assert "--deadline" in result.stdout and "10m" in result.stdout
