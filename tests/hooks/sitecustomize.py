"""Fault injection for the subprocesses of tests/test_faults_process.py, which put this folder
on PYTHONPATH: with CHARRNN_TEST_SLOW_FSYNC=<seconds>, every fsync of a file first says
"test: fsync" on stderr and then sleeps, so a test can send a signal while a checkpoint is
being saved."""

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
