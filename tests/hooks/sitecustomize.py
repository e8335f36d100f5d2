"""Fault injection for the subprocesses of tests/test_faults_process.py and
tests/test_torchrun.py, which put this folder on PYTHONPATH: with
CHARRNN_TEST_SLOW_FSYNC=<seconds>, every fsync of a file first says "test: fsync" on stderr
and then sleeps, so a test can send a signal while a checkpoint is being saved; for the ranks
of a distributed run, see below."""

import os
import stat
import sys
import time

_DELAY = float(os.environ.get("CHARRNN_TEST_SLOW_FSYNC") or 0)

if _DELAY:
    _real_fsync = os.fsync

    def _slow_fsync(fd):
        if stat.S_ISREG(os.fstat(fd).st_mode):
            sys.stderr.write("test: fsync\n")
            sys.stderr.flush()
            time.sleep(_DELAY)
        return _real_fsync(fd)

    os.fsync = _slow_fsync

# For the ranks of a distributed run (tests/test_torchrun.py), which torchrun starts with RANK set:
# with CHARRNN_TEST_RANKS=<folder>, each rank writes its pid to <folder>/pid-<rank> and logs every
# call that writes to the file system (audit events: opening for writing, renaming, removing,
# making folders...) to <folder>/writes-<rank>, one "event path" a line. With CHARRNN_TEST_SIGNAL
# as "<rank>:<signal>:<n>", rank 0 sends that rank the signal (KILL, STOP) right after its n-th
# save of latest.safetensors: a rank dies, or hangs, at a known point of the run.
_RANKS = os.environ.get("CHARRNN_TEST_RANKS")
_RANK = os.environ.get("RANK")

if _RANKS and _RANK is not None:
    import signal

    with open(os.path.join(_RANKS, f"pid-{_RANK}"), "w") as _pid_file:
        _pid_file.write(str(os.getpid()))
    _log = open(os.path.join(_RANKS, f"writes-{_RANK}"), "a", buffering=1)
    _WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND
    _PATH_EVENTS = {"os.remove", "os.rmdir", "os.mkdir", "os.truncate", "os.chmod", "os.utime", "os.link",
                    "os.symlink", "shutil.rmtree", "shutil.copyfile", "shutil.move", "os.chown"}
    _victim, _signal, _nth = (os.environ.get("CHARRNN_TEST_SIGNAL") or "::0").split(":")
    _saves = [0]
    _armed = [False]

    def _audit(event, args):
        if _armed[0]:  # the first event after the n-th rename of latest: it is in place
            _armed[0] = False
            with open(os.path.join(_RANKS, f"pid-{_victim}")) as f:
                os.kill(int(f.read()), getattr(signal, f"SIG{_signal}"))
        if event == "open":
            path, mode, flags = args
            if isinstance(path, (str, bytes, os.PathLike)) and (
                    (isinstance(mode, str) and any(c in mode for c in "wxa+")) or (flags or 0) & _WRITE_FLAGS):
                _log.write(f"open {os.fsdecode(path)}\n")
        elif event == "os.rename":
            _log.write(f"rename {os.fsdecode(args[0])} {os.fsdecode(args[1])}\n")
            if _RANK == "0" and _victim and os.path.basename(os.fsdecode(args[1])) == "latest.safetensors":
                _saves[0] += 1
                _armed[0] = _saves[0] == int(_nth)
        elif event in _PATH_EVENTS and args and isinstance(args[0], (str, bytes, os.PathLike)):
            _log.write(f"{event} {os.fsdecode(args[0])}\n")

    sys.addaudithook(_audit)
