"""Checkpoint files: round trip, interoperability with safetensors, atomic writes that survive
failures, and refusal (CheckpointError, never anything else) of every kind of damaged file."""

import errno
import json
import os
import pickle
import re
import sys
import tracemalloc
from datetime import datetime

import numpy as np
import pytest
import safetensors.numpy
from hypothesis import given, settings
from hypothesis import strategies as st

from charrnn.runs import checkpoint
from charrnn import files
from charrnn.runs.checkpoint import Checkpoint, load, read_meta, save
from charrnn.model.config import ModelConfig
from charrnn.errors import CheckpointError, OutputError
from support import FullDisk, enospc

CONFIG = ModelConfig(cell="lstm", vocab_size=6, hidden=4, layers=2, embed=3)
SHAPES = {f"param/{name}": shape for name, shape in CONFIG.param_shapes().items()}


def make_tensors(seed=0):
    rng = np.random.default_rng(seed)
    tensors = {name: rng.standard_normal(shape).astype(np.float32) for name, shape in SHAPES.items()}
    tensors["optim/m"] = rng.standard_normal(CONFIG.n_params()).astype(np.float32)
    tensors["state"] = np.zeros((2, 2, 3, 4), np.float32)
    tensors["rng/key"] = np.array([2**64 - 1, 0, 12345], np.uint64)
    tensors["rng/pos"] = np.array([-1, 7], np.int64)
    tensors["scale"] = np.array(0.25, np.float64)
    tensors["ids"] = np.arange(5, dtype=np.uint8)
    tensors["counts"] = np.array([[1, 2**32 - 1]], np.uint32)
    tensors["none"] = np.zeros((0, 3), np.int32)
    return tensors


def make_meta(step=7):
    return {
        "model": CONFIG.to_dict(),
        "vocab": ["\n", " ", "a", "é", "\u2603", "\U0001f600"],
        "step": step,
        "dropout_rng": {"state": {"state": 2**127 + 3, "inc": 5}},
        "metrics": {"val_loss": 1.25, "best_val": None},
    }


def assert_same_tensors(got, expected):
    assert sorted(got) == sorted(expected)
    for name, arr in expected.items():
        assert got[name].dtype == arr.dtype and got[name].shape == arr.shape, name
        assert got[name].tobytes() == arr.tobytes(), name


def split(raw: bytes) -> tuple[dict, bytes]:
    """A file's header (JSON) and data section, parsed independently of the module under test."""
    n = int.from_bytes(raw[:8], "little")
    return json.loads(raw[8:8 + n]), raw[8 + n:]


def build(header: dict, data: bytes) -> bytes:
    text = json.dumps(header).encode()
    return len(text).to_bytes(8, "little") + text + data


def rewrite(path, edit):
    """Apply `edit` in place to the parsed header and to the charrnn metadata (passed second)."""
    header, data = split(path.read_bytes())
    text = header["__metadata__"]["charrnn"]
    info = json.loads(text)
    edit(header, info)
    if isinstance(header.get("__metadata__"), dict) and header["__metadata__"].get("charrnn") == text:
        header["__metadata__"]["charrnn"] = json.dumps(info)
    path.write_bytes(build(header, data))


@pytest.fixture
def ckpt(tmp_path):
    return save(tmp_path / "model.safetensors", make_tensors(), make_meta())


def refuse(path, pattern, **kwargs):
    with pytest.raises(CheckpointError, match=pattern) as info:
        load(path, **kwargs)
    message = str(info.value)
    assert str(path) in message and "\n" not in message
    return message


# ---- round trip ---------------------------------------------------------------------------------

def test_round_trip_is_bit_identical_and_adds_format_fields(tmp_path):
    tensors, meta = make_tensors(), make_meta()
    path = save(tmp_path / "a.safetensors", tensors, meta)
    assert path == tmp_path / "a.safetensors"
    loaded = load(path)
    assert isinstance(loaded, Checkpoint) and loaded.path == path
    assert_same_tensors(loaded.tensors, tensors)
    for arr in loaded.tensors.values():
        assert arr.flags.writeable and arr.flags.owndata
    extra = {k: loaded.meta.pop(k) for k in ("format_version", "checksum", "created")}
    assert loaded.meta == meta
    assert extra["format_version"] == 1
    assert re.fullmatch(r"[0-9a-f]{64}", extra["checksum"])
    assert datetime.fromisoformat(extra["created"].replace("Z", "+00:00")).utcoffset().total_seconds() == 0
    assert os.listdir(tmp_path) == ["a.safetensors"]


def test_inputs_are_made_contiguous_and_little_endian(tmp_path):
    base = np.arange(24, dtype=np.float32).reshape(4, 6)
    tensors = {"fortran": np.asfortranarray(base), "strided": base[::2, ::3],
               "big": base.astype(">f4"), "scalar": np.float64(3.5)}
    loaded = load(save(tmp_path / "c.safetensors", tensors, {})).tensors
    for name, arr in tensors.items():
        np.testing.assert_array_equal(loaded[name], arr)
        assert loaded[name].dtype == np.dtype(arr.dtype).newbyteorder("<")
    assert loaded["scalar"].shape == ()


def test_resaving_loaded_metadata_replaces_format_fields(tmp_path, ckpt):
    first = load(ckpt)
    second = load(save(tmp_path / "again.safetensors", first.tensors, first.meta))
    assert second.meta["format_version"] == 1
    assert {k: v for k, v in second.meta.items() if k not in ("checksum", "created")} == \
        {k: v for k, v in first.meta.items() if k not in ("checksum", "created")}


def test_numpy_scalars_in_metadata_become_plain_numbers(tmp_path):
    meta = load(save(tmp_path / "n.safetensors", {}, {"loss": np.float32(0.5), "step": np.int64(3)})).meta
    assert meta["loss"] == 0.5 and type(meta["loss"]) is float and type(meta["step"]) is int


def test_save_overwrites_and_creates_the_directory(tmp_path):
    path = tmp_path / "deep" / "er" / "m.safetensors"
    save(path, make_tensors(0), make_meta(step=1))
    save(path, make_tensors(1), make_meta(step=2))
    loaded = load(path)
    assert loaded.meta["step"] == 2
    assert_same_tensors(loaded.tensors, make_tensors(1))
    assert os.listdir(path.parent) == ["m.safetensors"]


def test_unsupported_tensors_are_refused_before_writing(tmp_path):
    with pytest.raises(TypeError, match="'flags'.*bool"):
        save(tmp_path / "b.safetensors", {"flags": np.array([True])}, {})
    with pytest.raises(ValueError, match="__metadata__"):
        save(tmp_path / "b.safetensors", {"__metadata__": np.zeros(1)}, {})
    with pytest.raises(TypeError, match="JSON"):
        save(tmp_path / "b.safetensors", {}, {"bad": object()})
    assert os.listdir(tmp_path) == []


def test_safetensors_reads_charrnn_checkpoints(ckpt):
    assert_same_tensors(safetensors.numpy.load_file(str(ckpt)), make_tensors())
    with safetensors.safe_open(str(ckpt), "np") as f:
        assert json.loads(f.metadata()["charrnn"])["step"] == 7


def test_read_meta_reads_only_the_header(ckpt):
    assert read_meta(ckpt) == load(ckpt).meta
    raw = bytearray(ckpt.read_bytes())
    raw[-20] ^= 0xFF
    ckpt.write_bytes(raw)
    assert read_meta(ckpt)["step"] == 7
    refuse(ckpt, "checksum mismatch")


# ---- atomic writes ------------------------------------------------------------------------------

@pytest.mark.parametrize("target", ["fsync", "replace", "fdopen_write"])
def test_failed_write_keeps_the_old_checkpoint(tmp_path, ckpt, monkeypatch, target):
    before = ckpt.read_bytes()
    if target == "fdopen_write":
        real_fdopen = os.fdopen

        monkeypatch.setattr(os, "fdopen", lambda *a, **k: FullDisk(real_fdopen(*a, **k)))
    else:
        monkeypatch.setattr(os, target, enospc)
    full = r"^cannot write checkpoint .*model\.safetensors: No space left on device$"
    with pytest.raises(OutputError, match=full):
        save(ckpt, make_tensors(5), make_meta(step=99))
    monkeypatch.undo()
    assert ckpt.read_bytes() == before
    assert load(ckpt).meta["step"] == 7
    assert os.listdir(tmp_path) == ["model.safetensors"]


def test_unwritable_directory_is_an_output_error(tmp_path, monkeypatch):
    def denied(path, *args, **kwargs):
        raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), str(path))

    monkeypatch.setattr(os, "open", denied)
    with pytest.raises(OutputError, match="cannot write checkpoint .*: Permission denied"):
        save(tmp_path / "m.safetensors", make_tensors(), make_meta())
    monkeypatch.undo()
    assert os.listdir(tmp_path) == []


def test_a_directory_nobody_may_write_is_an_output_error():
    """A real EACCES from the kernel, for root too (which ignores permission bits): sysfs
    lets no one create files, so /sys stands for any unwritable folder."""
    before = os.listdir("/sys")
    with pytest.raises(OutputError, match=r"^cannot write checkpoint /sys/m\.safetensors: Permission denied$"):
        save("/sys/m.safetensors", make_tensors(), make_meta())
    assert os.listdir("/sys") == before


def test_a_second_ctrl_c_during_a_save_keeps_the_old_checkpoint(tmp_path, ckpt, monkeypatch):
    """The CLI's second SIGINT raises KeyboardInterrupt wherever the save is; here, in fsync."""
    before = ckpt.read_bytes()

    def interrupted(fd):
        raise KeyboardInterrupt

    monkeypatch.setattr(os, "fsync", interrupted)
    with pytest.raises(KeyboardInterrupt):
        save(ckpt, make_tensors(5), make_meta(step=99))
    monkeypatch.undo()
    assert ckpt.read_bytes() == before
    assert os.listdir(tmp_path) == ["model.safetensors"]


def test_temp_files_finds_only_what_save_leaves_behind(tmp_path):
    names = [".latest.safetensors.0123456789abcdef.tmp", ".step-00000005.safetensors.00000000ffffffff.tmp",
             "latest.safetensors", ".latest.safetensors.0123.tmp", "x.0123456789abcdef.tmp",
             ".latest.safetensors.0123456789abcdeg.tmp"]
    for name in names:
        (tmp_path / name).write_bytes(b"")
    assert files.temp_files(tmp_path) == sorted(tmp_path / n for n in names[:2])
    assert files.temp_files(tmp_path / "missing") == []


def test_output_path_that_is_a_directory(tmp_path):
    (tmp_path / "dir.safetensors").mkdir()
    with pytest.raises(OutputError, match="cannot write checkpoint"):
        save(tmp_path / "dir.safetensors", make_tensors(), make_meta())
    assert os.listdir(tmp_path) == ["dir.safetensors"]


# ---- refusing damaged or foreign files ----------------------------------------------------------

def test_missing_file_and_directory(tmp_path):
    refuse(tmp_path / "nope.safetensors", "does not exist")
    refuse(tmp_path, "is not a file")
    with pytest.raises(CheckpointError, match="does not exist"):
        read_meta(tmp_path / "nope.safetensors")


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs named pipes")
def test_a_fifo_is_refused_without_blocking(tmp_path):
    os.mkfifo(tmp_path / "pipe")
    refuse(tmp_path / "pipe", "is not a file")


def test_read_errors_are_checkpoint_errors(ckpt, monkeypatch):
    def denied(path, *args):
        raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), str(path))

    monkeypatch.setattr(checkpoint, "open", denied, raising=False)
    refuse(ckpt, "cannot read checkpoint .*: Permission denied$")


@pytest.mark.parametrize("where", ["empty", "in length", "after length", "in header", "end of header",
                                   "in data", "last byte"])
def test_truncated_files_are_refused(ckpt, where):
    raw = ckpt.read_bytes()
    n = 8 + int.from_bytes(raw[:8], "little")
    cut = {"empty": 0, "in length": 5, "after length": 8, "in header": n // 2, "end of header": n,
           "in data": (n + len(raw)) // 2, "last byte": len(raw) - 1}[where]
    ckpt.write_bytes(raw[:cut])
    refuse(ckpt, "not a valid checkpoint")


def test_flipped_data_byte_is_a_checksum_mismatch(ckpt):
    raw = bytearray(ckpt.read_bytes())
    raw[len(raw) - 100] ^= 0x01
    ckpt.write_bytes(raw)
    assert refuse(ckpt, "checksum mismatch") == f"{ckpt} is corrupt: checksum mismatch"


def test_tampered_metadata_is_a_checksum_mismatch(ckpt):
    rewrite(ckpt, lambda header, info: info.update(step=8))
    refuse(ckpt, "checksum mismatch")
    rewrite(ckpt, lambda header, info: info.pop("checksum"))
    refuse(ckpt, "checksum mismatch")


def test_flipped_header_bytes_are_refused(ckpt):
    raw = ckpt.read_bytes()
    ckpt.write_bytes(raw[:8] + b"[" + raw[9:])
    refuse(ckpt, "header is not JSON")
    ckpt.write_bytes(raw.replace(b'"dtype":"U8"', b'"dtype":"U9"'))
    refuse(ckpt, "'ids' has unsupported dtype 'U9'")


@pytest.mark.parametrize("length", [2**64 - 1, 2**63, 100_000_001, "size"])
def test_absurd_header_lengths_are_refused_without_allocating(ckpt, length):
    raw = ckpt.read_bytes()
    length = len(raw) - 7 if length == "size" else length
    ckpt.write_bytes(length.to_bytes(8, "little") + raw[8:])
    tracemalloc.start()
    try:
        refuse(ckpt, f"header length {length} exceeds")
        assert tracemalloc.get_traced_memory()[1] < 1_000_000
    finally:
        tracemalloc.stop()


def test_header_limit_applies_even_to_huge_files(tmp_path):
    path = tmp_path / "huge.safetensors"
    with open(path, "wb") as f:
        f.write((150_000_000).to_bytes(8, "little"))
        f.truncate(200_000_000)  # sparse: costs no disk
    refuse(path, "exceeds the 100000000 byte limit")


def test_foreign_files_are_refused(tmp_path):
    text = tmp_path / "notes.txt"
    text.write_text("just some text, not a checkpoint at all\n")
    refuse(text, "not a valid checkpoint")
    tiny = tmp_path / "tiny"
    tiny.write_bytes(b"\x02\x00\x00\x00\x00\x00\x00\x00{")
    refuse(tiny, "only 9 bytes")
    npy = tmp_path / "weights.npy"
    np.save(npy, np.zeros(3))
    refuse(npy, "not a valid checkpoint")
    plain = tmp_path / "plain.safetensors"
    safetensors.numpy.save_file({"w": np.zeros(3, np.float32)}, str(plain), metadata={"format": "np"})
    refuse(plain, "not a charrnn checkpoint: no charrnn metadata")


class Payload:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return os.mkdir, (self.marker,)


def test_pickles_are_refused_and_never_executed(tmp_path):
    marker = tmp_path / "pwned"
    for protocol in (2, 5):
        path = tmp_path / f"model{protocol}.pt"
        path.write_bytes(pickle.dumps({"weights": Payload(str(marker))}, protocol=protocol))
        refuse(path, "not a valid checkpoint")
        with pytest.raises(CheckpointError):
            read_meta(path)
    assert not marker.exists()


@pytest.mark.parametrize("found,pattern", [
    (2, "has checkpoint format version 2; this charrnn reads version 1$"),
    ("1", "has checkpoint format version '1'; this charrnn reads version 1$"),
    (True, "has checkpoint format version True;"),
    (None, "has no checkpoint format version; this charrnn reads version 1$"),
])
def test_unknown_format_version(ckpt, found, pattern):
    def edit(header, info):
        if found is None:
            del info["format_version"]
        else:
            info["format_version"] = found

    rewrite(ckpt, edit)
    refuse(ckpt, pattern)
    with pytest.raises(CheckpointError, match=pattern):
        read_meta(ckpt)


def set_entry(name, **fields):
    return lambda header, info: header[name].update(fields)


@pytest.mark.parametrize("edit,pattern", [
    (lambda header, info: header.pop("__metadata__"), "no charrnn metadata"),
    (lambda header, info: header["__metadata__"].pop("charrnn"), "no charrnn metadata"),
    (lambda header, info: header["__metadata__"].update(other=3), "metadata values must be strings"),
    (lambda header, info: header.update(__metadata__=[1]), "no charrnn metadata"),
    (set_entry("ids", dtype="BF16"), "'ids' has unsupported dtype 'BF16'"),
    (set_entry("ids", dtype="BOOL"), "unsupported dtype"),
    (set_entry("ids", dtype=["U8"]), "unsupported dtype"),
    (set_entry("ids", shape=[-5]), "'ids' has an invalid shape"),
    (set_entry("ids", shape=[2.5, 2]), "invalid shape"),
    (set_entry("ids", shape=["5"]), "invalid shape"),
    (set_entry("ids", shape=[True, 5]), "invalid shape"),
    (set_entry("ids", shape=[1] * 40), "invalid shape"),
    (set_entry("none", shape=[0, 2**62, 2**62]), "absurd shape"),
    (set_entry("ids", shape=[6]), "do not fit shape"),
    (set_entry("ids", data_offsets=[0]), "invalid data offsets"),
    (set_entry("ids", data_offsets=[-1, 4]), "invalid data offsets"),
    (set_entry("ids", data_offsets=[0, 5]), "overlaps another"),
    (set_entry("ids", data_offsets=[10**9, 10**9 + 5]), "gap|past the end"),
    (set_entry("ids", extra=1), "malformed entry"),
    (lambda header, info: header.update(x=[1, 2]), "'x' has a malformed entry"),
    (lambda header, info: header.update(__metadata__={"charrnn": "[1]"}), "metadata is not a JSON object"),
    (lambda header, info: header.update(__metadata__={"charrnn": "{"}), "metadata is not JSON"),
])
def test_malformed_headers_are_refused(ckpt, edit, pattern):
    rewrite(ckpt, edit)
    refuse(ckpt, pattern)
    with pytest.raises(CheckpointError, match=pattern):
        read_meta(ckpt)


def test_rewrite_helper_alone_keeps_the_file_valid(ckpt):
    rewrite(ckpt, lambda header, info: None)
    assert load(ckpt).meta["step"] == 7


def test_out_of_bounds_gaps_and_trailing_bytes(ckpt):
    raw = ckpt.read_bytes()
    ckpt.write_bytes(raw + b"\0")
    refuse(ckpt, "1 unexpected bytes after the tensor data")
    ckpt.write_bytes(raw[:-1])
    refuse(ckpt, "'ids' runs past the end of the file")
    header, data = split(raw)
    header["ids"]["data_offsets"] = [o + 4 for o in header["ids"]["data_offsets"]]
    ckpt.write_bytes(build(header, data + b"\0" * 4))
    refuse(ckpt, "'ids' leaves a gap before it")


def test_deeply_nested_json_is_refused(ckpt):
    raw = ckpt.read_bytes()
    deep = b"[" * 100_000
    ckpt.write_bytes(len(deep).to_bytes(8, "little") + deep)
    refuse(ckpt, "header is not JSON")
    # around the recursion limit, metadata may parse yet be too deep to re-encode for the checksum
    header, data = split(raw)
    limit = sys.getrecursionlimit()
    for depth in range(limit - 100, limit + 20, 3):
        header["__metadata__"]["charrnn"] = '{"format_version":1,"x":' + "[" * depth + "]" * depth + "}"
        ckpt.write_bytes(build(header, data))
        refuse(ckpt, "not a valid checkpoint|checksum mismatch")


def test_duplicate_header_keys_are_refused(ckpt):
    raw = ckpt.read_bytes()
    n = int.from_bytes(raw[:8], "little")
    text = raw[8:8 + n].rstrip()
    dup = text[:-1] + b',"ids":{"dtype":"U8","shape":[5],"data_offsets":[0,5]}}'
    ckpt.write_bytes(len(dup).to_bytes(8, "little") + dup + raw[8 + n:])
    refuse(ckpt, "duplicate key")


# ---- expected shapes ----------------------------------------------------------------------------

def test_expected_shapes_accept_a_matching_checkpoint_with_extra_tensors(ckpt):
    assert load(ckpt, expected_shapes=SHAPES).tensors.keys() >= SHAPES.keys()


def test_expected_shapes_name_what_is_wrong(tmp_path):
    tensors = make_tensors()
    del tensors["param/head.b"]
    tensors["param/embed"] = tensors["param/embed"][:, :2].copy()
    tensors["param/layer0.bh"] = tensors["param/layer0.bh"].astype(np.float64)
    path = save(tmp_path / "m.safetensors", tensors, make_meta())
    message = refuse(path, "does not fit this model", expected_shapes=SHAPES)
    assert "'param/embed' has shape (6, 2), expected (6, 3)" in message
    assert "'param/layer0.bh' is float64, expected float32" in message
    assert "'param/head.b' is missing" in message
    bigger = ModelConfig(cell="gru", vocab_size=6, hidden=5, layers=3).param_shapes()
    message = refuse(path, "does not fit", expected_shapes={f"param/{k}": v for k, v in bigger.items()})
    assert message.endswith("more)")


# ---- fuzzing ------------------------------------------------------------------------------------

FUZZ_TENSORS = {"w": np.arange(6, dtype=np.float32).reshape(2, 3), "seed": np.array([1, 2**40], np.uint64),
                "b": np.array([0.5], np.float64)}
FUZZ_META = {"vocab": ["a", "b"], "step": 3, "model": {"cell": "gru"}}

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-2**70, 2**70) | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner, max_size=4),
    max_leaves=10)
header_keys = st.sampled_from(["__metadata__", "w", "seed", "b", "dtype", "shape", "data_offsets", "charrnn",
                               "format_version", "checksum", "vocab", "step"])


@st.composite
def mutation(draw, size):
    kind = draw(st.sampled_from(["flip", "truncate", "insert", "delete", "length", "splice", "edit"]))
    at = draw(st.integers(0, size))
    if kind == "flip":
        return kind, at, draw(st.integers(1, 255))
    if kind == "insert":
        return kind, at, draw(st.binary(min_size=1, max_size=64))
    if kind == "delete":
        return kind, at, draw(st.integers(1, 64))
    if kind == "length":
        return kind, 0, draw(st.integers(0, 2**64 - 1) | st.integers(-16, 16))
    if kind in ("splice", "edit"):
        return kind, at, (draw(header_keys), json.dumps(draw(json_values)))
    return kind, at, None


def mutate(raw: bytes, kind, at, arg) -> bytes:
    at = min(at, len(raw))
    if kind == "flip":
        return raw[:at] + bytes([raw[at] ^ arg]) + raw[at + 1:] if at < len(raw) else raw
    if kind == "truncate":
        return raw[:at]
    if kind == "insert":
        return raw[:at] + arg + raw[at:]
    if kind == "delete":
        return raw[:at] + raw[at + arg:]
    if kind == "length":
        true = int.from_bytes(raw[:8], "little") if len(raw) >= 8 else 0
        value = true + arg if -16 <= arg <= 16 else arg
        return (value % 2**64).to_bytes(8, "little") + raw[8:]
    key, value = arg
    if kind == "splice":  # a key and JSON value put first in the header, length field kept in step
        n = int.from_bytes(raw[:8], "little")
        if not 1 <= n <= len(raw) - 8:
            return raw
        text = f'"{key}":{value},'.encode()
        return (n + len(text)).to_bytes(8, "little") + raw[8:9] + text + raw[9:]
    try:  # "edit": a well-formed file with one value replaced somewhere in its header or metadata
        header, data = split(raw)
        text = header["__metadata__"]["charrnn"]
        info = json.loads(text)
    except (ValueError, KeyError, TypeError):
        return raw
    targets = [header, info] + [e for e in header.values() if isinstance(e, dict)]
    targets[at % len(targets)][key] = json.loads(value)
    if isinstance(header.get("__metadata__"), dict) and header["__metadata__"].get("charrnn") == text:
        header["__metadata__"]["charrnn"] = json.dumps(info)
    return build(header, data)


@pytest.fixture(scope="module")
def fuzz_base(tmp_path_factory):
    path = save(tmp_path_factory.mktemp("fuzz") / "base.safetensors", FUZZ_TENSORS, FUZZ_META)
    original = load(path)
    return path, path.read_bytes(), original


@settings(max_examples=300, deadline=None)
@given(data=st.data())
def test_fuzzed_files_load_unchanged_or_raise_checkpoint_error(fuzz_base, data):
    path, raw, original = fuzz_base
    for _ in range(data.draw(st.integers(1, 3))):
        raw = mutate(raw, *data.draw(mutation(len(raw))))
    target = path.with_name("fuzzed.safetensors")
    target.write_bytes(raw)
    tracemalloc.start()
    try:
        for read in (read_meta, load):
            try:
                result = read(target)
            except CheckpointError as exc:
                assert str(target) in str(exc) and "\n" not in str(exc)
                continue
            if read is load:
                assert_same_tensors(result.tensors, original.tensors)
                assert result.meta == original.meta
        # the file is a few KB, so whatever its header claims, reading it stays small
        assert tracemalloc.get_traced_memory()[1] < 1_000_000
    finally:
        tracemalloc.stop()
