"""The id cache: a corpus encoded once as ids, so training can memory-map a text larger than
memory and a resumed run starts at once.

The cache is a folder (a run directory's cache/) holding ids.bin, the corpus as raw
little-endian uint8/uint16/uint32 ids (the smallest type the vocabulary fits), and ids.json,
which says what it was made from: each input file's resolved path, size, modification time
and the sha256 of its first MiB, the unit, separator and vocabulary, and the ids' count and
sha256 (the data fingerprint a resumed run is checked against). Encoding streams: the inputs
are read once to count the symbols (the vocabulary) and once to write the ids; an input that
can be read only once (standard input, a pipe) is spooled to the cache folder on the first
pass and read back from there.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import numpy as np

from ..errors import CheckpointError, InputError, OutputError
from ..files import atomic_write
from ..text.sources import CHUNK, STDIN, Part, empty_error, parts, symbols, write
from ..text.vocab import SPACE, Vocab, id_dtype

HEAD = 1 << 20  # bytes of each input file hashed to tell whether it changed
CACHE_VERSION = 1
IDS, MANIFEST = "ids.bin", "ids.json"


@dataclass(frozen=True)
class EncodedText:
    """A corpus as ids: `ids` is memory-mapped from the cache (1-D, uint8/16/32); `fingerprint`
    identifies the data for resume; `reused` says whether the cache was valid already."""

    ids: np.ndarray
    vocab: Vocab
    fingerprint: dict
    reused: bool
    path: Path


def _signature(part: Part) -> dict | None:
    """What tells whether an input changed: its path, size, modification time and the hash of
    its first HEAD bytes. None for a stream, which is read anew every time."""
    if part.once:
        return None
    try:
        info = part.path.stat()
        with open(part.path, "rb") as f:
            head = hashlib.sha256(f.read(HEAD)).hexdigest()
    except OSError as exc:
        raise InputError(f"cannot read {part.name}: {exc.strerror or exc}") from None
    return dict(path=str(part.path.resolve()), size=info.st_size, mtime_ns=info.st_mtime_ns, head_sha256=head)


def _cached(cache: Path, signatures: list, unit: str, separator: str, errors: str, vocab: Vocab | None,
            min_count: int) -> EncodedText | None:
    """The cache's ids when they were made from these very inputs with these settings."""
    if None in signatures:
        return None
    try:
        manifest = json.loads((cache / MANIFEST).read_text(encoding="utf-8"))
        made = (manifest["version"], manifest["unit"], manifest["separator"], manifest.get("errors", "strict"),
                manifest["sources"])
        if made != (CACHE_VERSION, unit, separator, errors, signatures):
            return None
        cached_vocab = Vocab.from_meta(manifest["vocab"])
        if vocab is not None and cached_vocab != vocab:
            return None
        if vocab is None and manifest["min_count"] != min_count:
            return None
        count, dtype = manifest["fingerprint"]["chars"], np.dtype(manifest["dtype"])
        if (cache / IDS).stat().st_size != count * dtype.itemsize or count < 1:
            return None
        ids = np.memmap(cache / IDS, dtype=dtype, mode="r", shape=(count,))
    except (OSError, ValueError, KeyError, TypeError, CheckpointError):
        return None  # an unreadable or foreign cache is rebuilt
    return EncodedText(ids, cached_vocab, manifest["fingerprint"], True, cache / IDS)


def cached(cache: Path, recorded: dict, vocab: Vocab | None) -> EncodedText | None:
    """The cache's ids when they are those of the data fingerprint `recorded` (a run's, or
    another process's), in the vocabulary `vocab` when given; None otherwise."""
    try:
        manifest = json.loads((cache / MANIFEST).read_text(encoding="utf-8"))
        fingerprint, dtype = manifest["fingerprint"], np.dtype(manifest["dtype"])
        if (fingerprint.get("ids_sha256"), fingerprint.get("chars")) != (recorded.get("ids_sha256"),
                                                                         recorded.get("chars")):
            return None
        if vocab is not None and Vocab.from_meta(manifest["vocab"]) != vocab:
            return None
        count = fingerprint["chars"]
        if (cache / IDS).stat().st_size != count * dtype.itemsize or count < 1:
            return None
        ids = np.memmap(cache / IDS, dtype=dtype, mode="r", shape=(count,))
    except (OSError, ValueError, KeyError, TypeError, AttributeError, CheckpointError):
        return None
    return EncodedText(ids, vocab or Vocab.from_meta(manifest["vocab"]), fingerprint, True, cache / IDS)


def encode_sources(sources: Sequence[str], cache: Path, *, unit: str = "char", min_count: int = 1,
                   separator: str = "\n", errors: str = "strict", vocab: Vocab | None = None,
                   stdin: BinaryIO | None = None, progress: Callable[[int], None] | None = None,
                   recorded: dict | None = None, on_directory: Callable[[str], None] | None = None
                   ) -> EncodedText:
    """The ids of `sources` (files, directories, "-" for `stdin`) joined by `separator`, from
    the id cache folder `cache`, encoding them into it first unless it holds them already.

    Without `vocab`, the vocabulary is made from the text (symbols seen fewer than
    `min_count` times share an unknown symbol); with it, the text must fit it (InputError
    naming what it lacks, unless it has an unknown symbol). `errors`: see
    sources.part_symbols. `progress` is called with the number of bytes read, chunk by chunk.
    `recorded` is the data fingerprint of a run being resumed from the sources it recorded:
    when they included streams (standard input, pipes), which cannot be read again, the
    cache holding exactly its ids is the text. `on_directory` is told, for each directory,
    which files were read and which skipped (sources.parts).
    """
    if vocab is not None:
        unit = vocab.unit
    if recorded is not None and recorded.get("streamed"):
        found = cached(cache, recorded, vocab)
        if found is not None:
            return found
    inputs = parts(sources, unit, errors, on_directory)
    signatures = [_signature(part) for part in inputs]
    found = _cached(cache, signatures, unit, separator, errors, vocab, min_count)
    if found is not None:
        return found
    try:
        cache.mkdir(parents=True, exist_ok=True)
        (cache / MANIFEST).unlink(missing_ok=True)
    except OSError as exc:
        raise OutputError(f"cannot write the id cache {cache}: {exc.strerror or exc}") from None
    # a stream read once for the vocabulary is read back from its copy for the ids
    spools = {k: cache / f"input-{k}.spool" for k, part in enumerate(inputs) if part.once and vocab is None}
    try:
        for spool in spools.values():
            spool.unlink(missing_ok=True)

        def chunks() -> Iterator[np.ndarray]:
            return symbols(inputs, unit, separator, stdin, progress, errors, spools)

        if vocab is None:
            counts = np.zeros(SPACE[unit], dtype=np.int64)
            for chunk in chunks():
                counts += np.bincount(chunk, minlength=counts.size)
            if not counts.any():
                raise empty_error(sources)
            vocab = Vocab.from_counts(counts, unit, min_count)
        dtype, count, digest = _write_ids(cache / IDS, chunks(), vocab)
    finally:
        for spool in spools.values():
            spool.unlink(missing_ok=True)
    if count == 0:
        raise empty_error(sources)
    # a stream (standard input, a pipe) is recorded as given: its resolved path means nothing later
    streams = {s for s in sources if s == STDIN or not (Path(s).is_dir() or Path(s).is_file())}
    fingerprint = dict(sources=[s if s in streams else str(Path(s).resolve()) for s in sources],
                       separator=separator, errors=errors, chars=count, ids_sha256=digest)
    if streams:
        fingerprint["streamed"] = True
    manifest = dict(version=CACHE_VERSION, unit=unit, separator=separator, errors=errors, sources=signatures,
                    vocab=vocab.to_meta(), min_count=min_count, dtype=dtype.str, fingerprint=fingerprint)
    atomic_write(cache / MANIFEST, json.dumps(manifest, ensure_ascii=False).encode("utf-8"))
    ids = np.memmap(cache / IDS, dtype=dtype, mode="r", shape=(count,))
    return EncodedText(ids, vocab, fingerprint, False, cache / IDS)


def _write_ids(path: Path, chunks: Iterator[np.ndarray], vocab: Vocab) -> tuple[np.dtype, int, str]:
    """Write the ids of `chunks` of symbols to `path`; return their dtype, count and sha256.
    InputError naming every symbol the vocabulary lacks, when it has no unknown symbol (and
    then `path` is left as it was)."""
    dtype = id_dtype(len(vocab))
    digest, written = hashlib.sha256(), [0]

    def write_ids(f: BinaryIO) -> None:
        missing: set[int] = set()
        for chunk in chunks:
            ids = vocab.ids_of_symbols(chunk)
            lacking = ids < 0
            if lacking.any():
                missing.update(np.unique(chunk[lacking]).tolist())
            if missing:
                continue
            compact = ids.astype(dtype)
            write(f, compact)
            digest.update(compact)
            written[0] += compact.size
        if missing:
            lacking = sorted(missing)
            raise InputError(vocab.describe_missing([chr(p) for p in lacking] if vocab.unit == "char" else lacking))

    atomic_write(path, write_ids)
    return dtype, written[0], digest.hexdigest()


def same_data(recorded: dict, encoded: EncodedText) -> bool:
    """Whether `encoded` holds the ids a checkpoint's data fingerprint `recorded` was made
    from. Checkpoints from before the id cache hashed the ids as int32; that hash is
    computed here, in chunks, only for them."""
    if recorded.get("chars") != encoded.ids.size:
        return False
    if "ids_sha256" in recorded:
        return recorded["ids_sha256"] == encoded.fingerprint["ids_sha256"]
    legacy = hashlib.sha256()
    for start in range(0, encoded.ids.size, CHUNK):
        legacy.update(np.asarray(encoded.ids[start:start + CHUNK], dtype="<i4"))
    return recorded.get("sha256") == legacy.hexdigest()
