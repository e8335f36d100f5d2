"""Where compiled kernels are cached when the usual places cannot be written, and the run
directory's own housekeeping (metrics after a torn write). Unwritable places are paths under
a regular file: as root, permission bits would not stop anything."""

import json
import os
import tempfile
from pathlib import Path

import pytest

from charrnn import __version__, runtime
from charrnn.errors import OutputError
from charrnn.runs.rundir import METRICS, RunDir


def unset_numba_cache_dir(monkeypatch):
    """Empty counts as unset; unlike delenv, setenv restores the variable after the test
    even when prepare() has set it meanwhile."""
    monkeypatch.setenv("NUMBA_CACHE_DIR", "")


@pytest.fixture
def blocked(tmp_path, monkeypatch):
    """No cache location is writable: not NUMBA_CACHE_DIR, not the user's cache folder; the
    temporary folder is tmp_path/tmp. Returns that folder."""
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    unset_numba_cache_dir(monkeypatch)
    monkeypatch.setenv("XDG_CACHE_HOME", str(blocker / "cache"))
    temp = tmp_path / "tmp"
    temp.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(temp))
    return temp


def test_kernels_are_cached_in_the_user_cache_per_version_and_source(monkeypatch, tmp_path):
    unset_numba_cache_dir(monkeypatch)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    assert runtime.prepare() is None
    key = runtime.kernels_key()
    assert key.startswith(__version__ + "-")
    assert os.environ["NUMBA_CACHE_DIR"] == str(tmp_path / "cache" / "charrnn" / key / "numba")
    assert (tmp_path / "cache" / "charrnn" / key / "numba").is_dir()


def test_a_change_to_any_kernel_source_gives_a_new_cache_folder(tmp_path):
    """Numba checks a cached kernel against its own file only: one that calls a changed
    kernel in another file would load stale, so the folder follows every kernel file."""
    (tmp_path / "gemm.py").write_text("def matmul(): pass\n")
    (tmp_path / "lstm.py").write_text("def forward(): pass\n")
    before = runtime.kernels_key(tmp_path)
    assert runtime.kernels_key(tmp_path) == before
    (tmp_path / "gemm.py").write_text("def matmul(): return 1\n")
    assert runtime.kernels_key(tmp_path) != before


def test_without_xdg_cache_home_the_cache_is_under_home(monkeypatch, tmp_path):
    unset_numba_cache_dir(monkeypatch)
    monkeypatch.setenv("XDG_CACHE_HOME", "")
    monkeypatch.setenv("HOME", str(tmp_path / "me"))
    assert runtime.prepare() is None
    expected = tmp_path / "me" / ".cache" / "charrnn" / runtime.kernels_key() / "numba"
    assert os.environ["NUMBA_CACHE_DIR"] == str(expected)


def test_nothing_is_written_into_the_installed_package(monkeypatch, tmp_path):
    """A reinstall or uninstall removes the package's own files only: a cache inside it
    would be left behind."""
    unset_numba_cache_dir(monkeypatch)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    package = Path(runtime.__file__).parent
    runtime.prepare()
    assert package not in Path(os.environ["NUMBA_CACHE_DIR"]).parents


def test_no_writable_cache_falls_back_to_a_private_temporary_folder(blocked, monkeypatch):
    message = runtime.prepare()
    fallback = blocked / f"charrnn-numba-{os.getuid()}-{runtime.kernels_key()}"
    assert message == f"no writable cache for compiled kernels; using {fallback} (kernels compile once per boot)"
    assert os.environ["NUMBA_CACHE_DIR"] == str(fallback)
    assert fallback.stat().st_mode & 0o777 == 0o700
    unset_numba_cache_dir(monkeypatch)
    assert runtime.prepare() == message  # the next process reuses it


def test_a_writable_numba_cache_dir_is_used_as_given(tmp_path, monkeypatch):
    given = tmp_path / "my" / "numba"
    monkeypatch.setenv("NUMBA_CACHE_DIR", str(given))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert runtime.prepare() is None
    assert os.environ["NUMBA_CACHE_DIR"] == str(given) and given.is_dir()
    assert not (tmp_path / "xdg").exists()


def test_an_unwritable_numba_cache_dir_falls_back_too(blocked, monkeypatch):
    monkeypatch.setenv("NUMBA_CACHE_DIR", str(blocked.parent / "file" / "numba"))
    assert runtime.prepare().startswith("no writable cache for compiled kernels; using ")
    assert os.environ["NUMBA_CACHE_DIR"] == str(blocked / f"charrnn-numba-{os.getuid()}-{runtime.kernels_key()}")


@pytest.mark.parametrize("how", ["writable by others", "a symlink", "a file"])
def test_a_shared_fallback_someone_else_could_write_is_not_used(blocked, how):
    """Numba unpickles its cache: a folder in /tmp that others can write would run their code."""
    fallback = blocked / f"charrnn-numba-{os.getuid()}-{runtime.kernels_key()}"
    if how == "writable by others":
        fallback.mkdir()
        fallback.chmod(0o777)
    elif how == "a symlink":
        (blocked / "elsewhere").mkdir(mode=0o700)
        fallback.symlink_to(blocked / "elsewhere")
    else:
        fallback.write_text("")
    message = runtime.prepare()
    used = os.environ["NUMBA_CACHE_DIR"]
    assert used != str(fallback) and os.path.dirname(used) == str(blocked)
    assert os.path.basename(used).startswith("charrnn-numba-") and os.stat(used).st_mode & 0o777 == 0o700
    assert message == f"no writable cache for compiled kernels; using {used} (kernels compile in every run)"


def test_no_writable_folder_at_all_is_an_output_error(blocked, monkeypatch):
    monkeypatch.setattr(tempfile, "tempdir", str(blocked.parent / "file" / "tmp"))
    with pytest.raises(OutputError, match="^no writable folder for compiled kernels .*; set NUMBA_CACHE_DIR to one$"):
        runtime.prepare()


def test_metrics_after_a_torn_line_start_on_a_new_line(tmp_path):
    run = RunDir(tmp_path)
    run.append_metrics({"step": 10})
    with open(tmp_path / METRICS, "a") as f:
        f.write('{"step": 2')  # a process killed mid-write
    run.append_metrics({"step": 20})
    assert (tmp_path / METRICS).read_text().splitlines()[-1] == json.dumps({"step": 20})
    records, torn = run.metrics()
    assert [r["step"] for r in records] == [10, 20] and torn == 1
