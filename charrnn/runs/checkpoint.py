"""Checkpoints: one self-contained safetensors file, written atomically, read with validation.
What a run's checkpoint holds is built and checked by training/record.py; read for its model
by model_file.py.

Layout (plain safetensors, readable by `safetensors.numpy.load_file`): an 8-byte little-endian
header length N, N bytes of JSON header (space-padded to a multiple of 8), then the tensor data.
The header's `__metadata__` holds one key, "charrnn", whose value is a JSON object: the
caller's metadata plus `format_version`, `created` (UTC, ISO 8601) and `checksum`.

The checksum is the sha256 of, for each tensor in sorted-name order, the compact JSON
`[name, dtype, shape]` and a newline followed by its raw little-endian bytes; then the charrnn
metadata without "checksum" as canonical JSON (sorted keys, compact). So a flipped bit in a
weight or in the metadata (vocabulary, step, configs) is caught, not silently used.

Reading never hands unvalidated bytes to safetensors or numpy and never unpickles anything.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import stat
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import BinaryIO

import numpy as np

from ..errors import CheckpointError
from ..files import atomic_write, reason

FORMAT_VERSION = 1
META_KEY = "charrnn"
MAX_HEADER_BYTES = 100_000_000
MAX_NDIM = 32  # numpy 1.x's limit; numpy 2 allows 64
MAX_ELEMENTS = 2**48  # numpy refuses shapes whose size overflows, even when a dimension is 0

DTYPES = {
    "F32": np.dtype("<f4"),
    "F64": np.dtype("<f8"),
    "I32": np.dtype("<i4"),
    "I64": np.dtype("<i8"),
    "U8": np.dtype("u1"),
    "U32": np.dtype("<u4"),
    "U64": np.dtype("<u8"),
}
_DTYPE_NAMES = {dtype: name for name, dtype in DTYPES.items()}
_HEADER_KEYS = {"dtype", "shape", "data_offsets"}


@dataclass(frozen=True)
class Checkpoint:
    """A loaded checkpoint: tensors (owned, writable) and the charrnn metadata."""

    path: Path
    tensors: dict[str, np.ndarray]
    meta: dict


@dataclass(frozen=True)
class _Entry:
    name: str
    dtype: str
    shape: tuple[int, ...]
    begin: int
    end: int


# ---- writing ----------------------------------------------------------------------------------

def save(path: str | os.PathLike, tensors: Mapping[str, np.ndarray], meta: Mapping) -> Path:
    """Write `tensors` and `meta` (JSON-able) to `path` atomically; return the path.

    `path` is either the old file or the complete new one (files.atomic_write). Raises
    OutputError when the file cannot be written; TypeError/ValueError for tensors or metadata
    that cannot be stored (a caller bug).
    """
    path = Path(path)
    return atomic_write(path, _writer(tensors, meta), name=f"checkpoint {path}")


def write(stream: BinaryIO, tensors: Mapping[str, np.ndarray], meta: Mapping) -> None:
    """Write the file `save` would write to a binary `stream` (standard output, say); OSError
    as the stream raises it."""
    _writer(tensors, meta)(stream)


def _writer(tensors: Mapping[str, np.ndarray], meta: Mapping):
    """A function writing the checkpoint of `tensors` and `meta` to a binary file."""
    arrays = _prepare(tensors)
    entries, offset = [], 0
    # Largest items first, as safetensors does, keeps every tensor aligned in the file.
    for name in sorted(arrays, key=lambda n: (-arrays[n].itemsize, n)):
        arr = arrays[name]
        entries.append(_Entry(name, _DTYPE_NAMES[arr.dtype], arr.shape, offset, offset + arr.nbytes))
        offset += arr.nbytes

    # Round-trip through JSON first so the checksum covers exactly what `load` will parse.
    info = json.loads(json.dumps(dict(meta), default=_json_default))
    info.pop("checksum", None)
    info["format_version"] = FORMAT_VERSION
    info["created"] = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    info["checksum"] = _checksum(entries, {e.name: arrays[e.name] for e in entries}, info)

    header = {"__metadata__": {META_KEY: json.dumps(info)}}
    for e in entries:
        header[e.name] = {"dtype": e.dtype, "shape": list(e.shape), "data_offsets": [e.begin, e.end]}
    header_bytes = json.dumps(header, separators=(",", ":")).encode()
    header_bytes += b" " * (-len(header_bytes) % 8)

    def write_to(f: BinaryIO) -> None:
        f.write(len(header_bytes).to_bytes(8, "little"))
        f.write(header_bytes)
        for e in entries:
            f.write(arrays[e.name])

    return write_to


def _prepare(tensors: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    arrays = {}
    for name, value in tensors.items():
        if not isinstance(name, str) or name == "__metadata__":
            raise ValueError(f"invalid checkpoint tensor name {name!r}")
        arr = np.asarray(value)
        little = arr.dtype.newbyteorder("<")
        if little not in _DTYPE_NAMES:
            raise TypeError(f"checkpoint tensor {name!r} has unsupported dtype {arr.dtype}")
        arrays[name] = np.asarray(arr, dtype=little, order="C")
    return arrays


def _json_default(value):
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"checkpoint metadata value {value!r} is not JSON-serializable")


# ---- reading ----------------------------------------------------------------------------------

def load(path: str | os.PathLike, *, expected_shapes: Mapping[str, tuple] | None = None) -> Checkpoint:
    """Read and verify the checkpoint at `path`.

    With `expected_shapes`, each named tensor must exist, be float32 and have that shape;
    other tensors (optimizer moments, state) are allowed. Raises CheckpointError for anything
    missing, malformed, corrupt or not matching.
    """
    return _load(Path(path), expected_shapes, foreign=False)


def load_foreign(path: str | os.PathLike) -> Checkpoint:
    """Read a safetensors file written by anything (a PyTorch state dict, say), validated as
    strictly as a checkpoint; its charrnn metadata (an export's) and checksum are checked
    when it has them, and its metadata is {} when it has none."""
    return _load(Path(path), None, foreign=True)


def _load(path: Path, expected_shapes: Mapping[str, tuple] | None, foreign: bool) -> Checkpoint:
    with _open(path) as f:
        entries, info = _read_header(f, path, foreign)
        if expected_shapes is not None:
            _check_expected(path, entries, expected_shapes)
        tensors = {}
        for e in sorted(entries, key=lambda e: e.begin):
            arr = np.empty(e.shape, DTYPES[e.dtype])
            if f.readinto(arr) != e.end - e.begin:
                raise CheckpointError(f"{path} is truncated")
            tensors[e.name] = arr
    if foreign and not info:
        return Checkpoint(path, tensors, info)
    stored = info.pop("checksum", None)
    try:
        actual = _checksum(entries, tensors, info)
    except RecursionError:  # metadata nested near the recursion limit may parse yet not re-encode
        raise CheckpointError(f"{path} is not a valid checkpoint: metadata nested too deeply") from None
    if stored != actual:
        raise CheckpointError(f"{path} is corrupt: checksum mismatch")
    info["checksum"] = stored
    return Checkpoint(path, tensors, info)


def tensor_sizes(path: Path) -> dict[str, tuple[tuple[int, ...], int]]:
    """name -> (shape, bytes) of each tensor in a checkpoint, after validating its header (no
    data is read)."""
    with _open(path) as f:
        return {entry.name: (entry.shape, entry.end - entry.begin) for entry in _read_header(f, path)[0]}


def non_finite(tensors: Mapping[str, np.ndarray]) -> str | None:
    """Which tensor holds numbers that are not finite, and how many, for a message; None when
    all of them are."""
    for name in sorted(tensors):
        array = tensors[name]
        if array.dtype.kind == "f" and not np.isfinite(array).all():
            bad = int(array.size - np.count_nonzero(np.isfinite(array)))
            return (f"tensor {name!r} holds {bad} value{'s' if bad != 1 else ''} that {'are' if bad != 1 else 'is'} "
                    "not a finite number (NaN or infinity)")
    return None


def read_meta(path: str | os.PathLike) -> dict:
    """The charrnn metadata of the checkpoint at `path`, after validating its header only."""
    path = Path(path)
    with _open(path) as f:
        return _read_header(f, path)[1]


@contextlib.contextmanager
def _open(path: Path):
    """The file opened for reading; any I/O error, then or while reading, is a CheckpointError."""
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        raise CheckpointError(f"checkpoint {path} does not exist") from None
    except OSError as exc:
        raise CheckpointError(f"cannot read checkpoint {path}: {reason(exc)}") from None
    if not stat.S_ISREG(mode):  # also keeps open() from blocking on a FIFO
        raise CheckpointError(f"checkpoint {path} is not a file")
    try:
        with open(path, "rb") as f:
            yield f
    except OSError as exc:
        raise CheckpointError(f"cannot read checkpoint {path}: {reason(exc)}") from None


def _read_header(f, path: Path, foreign: bool = False) -> tuple[list[_Entry], dict]:
    """Validate everything before the tensor data; returns the entries and charrnn metadata
    ({} for a `foreign` file without any)."""

    def bad(reason: str) -> CheckpointError:
        return CheckpointError(f"{path} is not a valid checkpoint: {reason}")

    size = os.fstat(f.fileno()).st_size
    if size < 10:  # length field plus "{}"
        raise bad(f"only {size} bytes")
    header_len = int.from_bytes(f.read(8), "little")
    if header_len > MAX_HEADER_BYTES:
        raise bad(f"header length {header_len} exceeds the {MAX_HEADER_BYTES} byte limit")
    if header_len > size - 8:
        raise bad(f"header length {header_len} exceeds the file size {size}")
    raw = f.read(header_len)
    if len(raw) != header_len:
        raise CheckpointError(f"{path} is truncated")
    try:
        header = json.loads(raw.decode("utf-8"), object_pairs_hook=_unique_keys)
    except (ValueError, RecursionError) as exc:
        raise bad(f"header is not JSON ({_one_line(exc)})") from None
    if not isinstance(header, dict):
        raise bad("header is not a JSON object")

    meta = header.pop("__metadata__", None)
    if foreign and (meta is None or isinstance(meta, dict) and META_KEY not in meta):
        if meta is not None and not all(isinstance(v, str) for v in meta.values()):
            raise bad("metadata values must be strings")
        return _entries(header, size, header_len, bad), {}
    if not isinstance(meta, dict) or not isinstance(meta.get(META_KEY), str):
        raise CheckpointError(f"{path} is not a charrnn checkpoint: no charrnn metadata")
    if not all(isinstance(v, str) for v in meta.values()):
        raise bad("metadata values must be strings")
    try:
        info = json.loads(meta[META_KEY], object_pairs_hook=_unique_keys)
    except (ValueError, RecursionError) as exc:
        raise bad(f"charrnn metadata is not JSON ({_one_line(exc)})") from None
    if not isinstance(info, dict):
        raise bad("charrnn metadata is not a JSON object")
    version = info.get("format_version")
    if type(version) is not int or version != FORMAT_VERSION:
        found = "no checkpoint format version"
        if version is not None:
            found = f"checkpoint format version {version!r}"
        raise CheckpointError(f"{path} has {found}; this charrnn reads version {FORMAT_VERSION}")
    return _entries(header, size, header_len, bad), info


def _entries(header: dict, size: int, header_len: int, bad) -> list[_Entry]:
    """The tensor entries of a header, checked to tile the data exactly."""
    entries = [_entry(name, value, bad) for name, value in header.items()]
    data_size, offset = size - 8 - header_len, 0
    for e in sorted(entries, key=lambda e: (e.begin, e.end)):
        if e.begin != offset:
            kind = "overlaps another" if e.begin < offset else "leaves a gap before it"
            raise bad(f"tensor {e.name!r} {kind}")
        if e.end > data_size:
            raise bad(f"tensor {e.name!r} runs past the end of the file")
        offset = e.end
    if offset != data_size:
        raise bad(f"{data_size - offset} unexpected bytes after the tensor data")
    return entries


def _entry(name: str, value, bad) -> _Entry:
    if not isinstance(value, dict) or set(value) != _HEADER_KEYS:
        raise bad(f"tensor {name!r} has a malformed entry")
    dtype, shape, offsets = value["dtype"], value["shape"], value["data_offsets"]
    if not isinstance(dtype, str) or dtype not in DTYPES:
        raise bad(f"tensor {name!r} has unsupported dtype {dtype!r} (supported: {', '.join(DTYPES)})")
    if not (isinstance(shape, list) and len(shape) <= MAX_NDIM and all(_is_count(d) for d in shape)):
        raise bad(f"tensor {name!r} has an invalid shape {shape!r}")
    elements = 1
    for d in shape:
        elements *= max(d, 1)
    if elements > MAX_ELEMENTS:
        raise bad(f"tensor {name!r} has an absurd shape {shape!r}")
    if not (isinstance(offsets, list) and len(offsets) == 2 and all(_is_count(o) for o in offsets)):
        raise bad(f"tensor {name!r} has invalid data offsets {offsets!r}")
    begin, end = offsets
    nbytes = DTYPES[dtype].itemsize * (elements if 0 not in shape else 0)
    if end - begin != nbytes:
        raise bad(f"tensor {name!r} has offsets {offsets} that do not fit shape {shape} and dtype {dtype}")
    return _Entry(name, dtype, tuple(shape), begin, end)


def _is_count(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _unique_keys(pairs: list[tuple[str, object]]) -> dict:
    result = dict(pairs)
    if len(result) != len(pairs):
        raise ValueError("duplicate key")
    return result


def _one_line(exc: Exception) -> str:
    return " ".join(str(exc).split())


def _check_expected(path: Path, entries: list[_Entry], expected: Mapping[str, tuple]) -> None:
    found = {e.name: e for e in entries}
    problems = []
    for name, shape in expected.items():
        e = found.get(name)
        if e is None:
            problems.append(f"tensor {name!r} is missing")
        elif e.dtype != "F32":
            problems.append(f"tensor {name!r} is {DTYPES[e.dtype].name}, expected float32")
        elif e.shape != tuple(shape):
            problems.append(f"tensor {name!r} has shape {e.shape}, expected {tuple(shape)}")
    if problems:
        more = f" (and {len(problems) - 3} more)" if len(problems) > 3 else ""
        raise CheckpointError(f"{path} does not fit this model: {'; '.join(problems[:3])}{more}")


def _checksum(entries: list[_Entry], arrays: Mapping[str, np.ndarray], info: dict) -> str:
    h = hashlib.sha256()
    for e in sorted(entries, key=lambda e: e.name):
        h.update(json.dumps([e.name, e.dtype, list(e.shape)], separators=(",", ":")).encode() + b"\n")
        h.update(arrays[e.name])
    h.update(json.dumps(info, sort_keys=True, separators=(",", ":")).encode())
    return h.hexdigest()
