"""Fixtures every test module shares."""

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
