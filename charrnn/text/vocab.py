"""Symbols <-> integer ids. A symbol is a Unicode code point (unit "char", the default) or a
byte of the UTF-8 text (unit "byte"). A vocabulary may end with one unknown symbol that stands
for every symbol it lacks (rare ones left out by --min-count); it is never generated.

In a checkpoint the vocabulary is the metadata entries `vocab` (a list: one-character
strings, or byte values 0-255, with null for the unknown symbol) and `unit` (absent: "char").
"""

from __future__ import annotations

import codecs
import json
from collections.abc import Sequence

import numpy as np

from ..errors import CheckpointError, ConfigError, InputError
from .units import UNITS

SPACE = {"char": 0x110000, "byte": 256}  # symbols a unit can have: code points, byte values
UNKNOWN_MARK = "\ufffd"  # how the unknown symbol reads, should an id ever be decoded as text
_SHOWN = 10  # unknown characters named in an error before "and N more"


def describe(chars: Sequence[str]) -> str:
    """'é' (U+00E9), '☃' (U+2603), ... for messages."""
    shown = ", ".join(f"{ch!r} (U+{ord(ch):04X})" for ch in chars[:_SHOWN])
    return shown + (f" and {len(chars) - _SHOWN} more" if len(chars) > _SHOWN else "")


def describe_bytes(values: Sequence[int]) -> str:
    """0xff, 0xfe, ... for messages."""
    shown = ", ".join(f"0x{v:02x}" for v in values[:_SHOWN])
    return shown + (f" and {len(values) - _SHOWN} more" if len(values) > _SHOWN else "")


def code_points(text: str) -> np.ndarray:
    """The code points of `text` as a uint32 array, without a Python loop."""
    return np.frombuffer(text.encode("utf-32-le", "surrogatepass"), dtype="<u4")


def id_dtype(size: int) -> np.dtype:
    """The smallest unsigned little-endian integer type that holds ids 0..size-1."""
    for dtype in ("u1", "<u2"):
        if size <= np.iinfo(dtype).max + 1:
            return np.dtype(dtype)
    return np.dtype("<u4")


class Vocab:
    """The symbols a model knows; a symbol's id is its index in `chars` (strings of one
    character for the char unit, byte values for the byte unit, None for the unknown symbol)."""

    def __init__(self, chars: Sequence, unit: str = "char"):
        if unit not in UNITS:
            raise ConfigError(f"--unit must be one of {', '.join(UNITS)}, not {unit!r}")
        chars = tuple(chars)
        known = [c for c in chars if c is not None]
        if unit == "char" and any(not isinstance(c, str) or len(c) != 1 for c in known):
            raise InputError("a vocabulary holds single characters")
        surrogates = [c for c in known if "\ud800" <= c <= "\udfff"] if unit == "char" else []
        if surrogates:  # no UTF-8 text holds one, and no text with one can be written
            raise InputError(f"a vocabulary holds characters, not a lone surrogate (U+{ord(surrogates[0]):04X})")
        if unit == "byte" and any(type(c) is not int or not 0 <= c < 256 for c in known):
            raise InputError("a byte vocabulary holds byte values 0-255")
        if len(set(known)) != len(known) or len(chars) - len(known) > 1:
            raise InputError("a vocabulary must not repeat symbols")
        if chars and not known:
            raise InputError("a vocabulary needs a symbol besides the unknown one")
        self.chars = chars
        self.unit = unit
        self.unknown = chars.index(None) if len(known) < len(chars) else None
        points = np.array([ord(c) if unit == "char" else c for c in known], dtype=np.int64)
        # id of every symbol the unit can have: -1 for those outside the vocabulary, or the
        # unknown symbol's id when there is one
        self._lookup = np.full(SPACE[unit], -1 if self.unknown is None else self.unknown, dtype=np.int32)
        self._known = np.zeros(SPACE[unit], dtype=bool)
        if known:
            ids = np.array([i for i, c in enumerate(chars) if c is not None], dtype=np.int32)
            self._lookup[points] = ids
            self._known[points] = True
        if unit == "char":
            self._symbols = np.array([UNKNOWN_MARK if c is None else c for c in chars] or [""], dtype="<U1")
        else:
            self._symbols = np.array([0 if c is None else c for c in chars] or [0], dtype=np.uint8)

    @classmethod
    def from_counts(cls, counts: np.ndarray, unit: str = "char", min_count: int = 1) -> "Vocab":
        """The symbols seen at least `min_count` times, sorted (by code point or byte value),
        then the unknown symbol if any seen symbol was rarer. counts[s] is how often symbol s
        (a code point or byte value) occurs."""
        if min_count < 1:
            raise ConfigError(f"--min-count must be at least 1, got {min_count}")
        kept = np.flatnonzero(counts >= min_count)
        rare = np.count_nonzero((counts > 0) & (counts < min_count))
        if rare and not kept.size:
            raise InputError(f"every {'character' if unit == 'char' else 'byte value'} of the text occurs fewer "
                             f"than --min-count {min_count} times")
        symbols = [chr(p) for p in kept.tolist()] if unit == "char" else kept.tolist()
        return cls(symbols + [None] * bool(rare), unit)

    @classmethod
    def from_text(cls, text: str | bytes, unit: str = "char", min_count: int = 1) -> "Vocab":
        """The vocabulary of `text`: for the char unit its sorted set of characters (as
        sorted(set(text))), for the byte unit the sorted set of its UTF-8 bytes."""
        return cls.from_counts(np.bincount(symbols_of(text, unit), minlength=SPACE[unit]), unit, min_count)

    def __len__(self) -> int:
        return len(self.chars)

    def __eq__(self, other) -> bool:
        return isinstance(other, Vocab) and (self.chars, self.unit) == (other.chars, other.unit)

    def __hash__(self) -> int:
        return hash((self.chars, self.unit))

    def __repr__(self) -> str:
        kind = "characters" if self.unit == "char" else "byte values"
        return f"Vocab({len(self)} {kind}{', with an unknown symbol' if self.unknown is not None else ''})"

    # ---- encoding ---------------------------------------------------------------------------
    def ids_of_symbols(self, symbols: np.ndarray) -> np.ndarray:
        """int32 ids of code points or byte values (per the unit): -1 for a symbol outside
        the vocabulary, or the unknown symbol's id when there is one."""
        return self._lookup[symbols]

    def missing(self, text: str | bytes) -> list:
        """Distinct symbols of `text` the vocabulary lacks (whether or not an unknown symbol
        stands for them), sorted: characters, or byte values for the byte unit."""
        return self.missing_symbols(symbols_of(text, self.unit))

    def count_missing(self, text: str | bytes) -> int:
        """How many symbols of `text` the vocabulary lacks (occurrences, not distinct ones)."""
        return self.count_missing_symbols(symbols_of(text, self.unit))

    def count_missing_symbols(self, symbols: np.ndarray) -> int:
        return int(np.count_nonzero(~self._known[symbols]))

    def missing_symbols(self, symbols: np.ndarray) -> list:
        unknown = np.unique(symbols[~self._known[symbols]]).tolist()
        return [chr(p) for p in unknown] if self.unit == "char" else unknown

    def describe_missing(self, missing: Sequence) -> str:
        """'text has 2 characters the model does not know: ...' for an error message."""
        n = len(missing)
        kind = "character" if self.unit == "char" else "byte value"
        names = describe(missing) if self.unit == "char" else describe_bytes(missing)
        return f"text has {n} {kind}{'s' if n != 1 else ''} the model does not know: {names}"

    def scoring_ids(self, symbols: np.ndarray) -> tuple[np.ndarray, int]:
        """The ids that scoring reads for `symbols`, and how many of the symbols the vocabulary
        lacks. The one rule for text a model has not seen: a symbol the vocabulary lacks is
        read as the unknown symbol when there is one; otherwise it is left out (neither read
        nor predicted, as if the text did not have it). Either way it is counted."""
        ids = self.ids_of_symbols(symbols)
        lacking = self.count_missing_symbols(symbols)
        if lacking and self.unknown is None:
            ids = ids[ids >= 0]
        return ids, lacking

    def encode(self, text: str | bytes, skip_unknown: bool = False) -> np.ndarray:
        """int32 ids of `text` (a str, or for the byte unit also bytes). Symbols the
        vocabulary lacks map to the unknown symbol when there is one; otherwise they are left
        out with `skip_unknown`, else an InputError names them."""
        symbols = symbols_of(text, self.unit)
        ids = self.ids_of_symbols(symbols)
        if self.unknown is None and (ids < 0).any():
            if not skip_unknown:
                raise InputError(self.describe_missing(self.missing_symbols(symbols)))
            ids = ids[ids >= 0]
        return ids

    # ---- decoding ---------------------------------------------------------------------------
    def decode(self, ids) -> str:
        """The text of `ids`. For the byte unit, bytes that do not form valid UTF-8 become
        U+FFFD (use decoder() for a stream)."""
        symbols = self._symbols[np.asarray(ids, dtype=np.int64)]
        if self.unit == "byte":
            return symbols.tobytes().decode("utf-8", "replace")
        return "".join(symbols.tolist())

    def decoder(self) -> "StreamDecoder":
        """A decoder for a stream of ids given chunk by chunk."""
        return StreamDecoder(self)

    def byte_values(self) -> np.ndarray | None:
        """For the byte unit, the byte each id stands for (-1 for the unknown symbol), which
        generation needs to write valid UTF-8; None for the char unit."""
        if self.unit != "byte":
            return None
        return np.array([-1 if c is None else c for c in self.chars], np.int64)

    def start_ids(self) -> np.ndarray:
        """What generation starts from without a prime: a newline if the vocabulary has one,
        else its first symbol."""
        first = next(i for i, c in enumerate(self.chars) if c is not None)
        return np.array([self._lookup[10] if self._known[10] else first], dtype=np.int32)

    # ---- storage ----------------------------------------------------------------------------
    def to_meta(self) -> dict:
        """The checkpoint metadata entries `vocab` and `unit`."""
        return dict(vocab=list(self.chars), unit=self.unit)

    @classmethod
    def from_meta(cls, meta: dict) -> "Vocab":
        """The vocabulary of checkpoint metadata; a checkpoint without `unit` is by code point."""
        try:
            chars = meta["vocab"]
            if not isinstance(chars, list):
                raise TypeError("not a list")
            return cls(chars, meta.get("unit", "char"))
        except (KeyError, ValueError, TypeError, InputError, ConfigError) as exc:
            raise CheckpointError(f"malformed vocabulary: {exc}") from None

    def to_json(self) -> str:
        return json.dumps(self.to_meta(), ensure_ascii=False)

    @classmethod
    def from_json(cls, text: str) -> "Vocab":
        """From to_json(), or from a bare JSON list of characters."""
        try:
            data = json.loads(text)
        except ValueError as exc:
            raise CheckpointError(f"malformed vocabulary: {exc}") from None
        return cls.from_meta(data if isinstance(data, dict) else {"vocab": data})

    def shown(self) -> str:
        """The symbols for `checkpoints show`: the characters as one quoted string, or the
        bytes as a bytes literal; the unknown symbol is mentioned, not shown."""
        known = [c for c in self.chars if c is not None]
        text = repr("".join(known)) if self.unit == "char" else repr(bytes(known))
        return text + (" and an unknown symbol" if self.unknown is not None else "")


def symbols_of(text: str | bytes, unit: str) -> np.ndarray:
    """Code points (char unit) or UTF-8 byte values (byte unit) of `text`."""
    if unit == "byte":
        data = text.encode("utf-8", "surrogatepass") if isinstance(text, str) else bytes(text)
        return np.frombuffer(data, dtype=np.uint8)
    if isinstance(text, (bytes, bytearray)):
        raise TypeError("a char vocabulary encodes text (str), not bytes")
    return code_points(text)


class StreamDecoder:
    """Turns generated ids into text chunk by chunk. For the byte unit it never returns a
    broken UTF-8 sequence: an incomplete one is held back until its last byte arrives, and
    bytes that cannot be decoded become U+FFFD and are counted in `replaced`."""

    def __init__(self, vocab: Vocab):
        self.vocab = vocab
        self.replaced = 0
        # surrogateescape turns each undecodable byte into one lone surrogate, which valid
        # UTF-8 never yields, so they can be counted and replaced exactly
        self._bytes = codecs.getincrementaldecoder("utf-8")("surrogateescape") if vocab.unit == "byte" else None

    def decode(self, ids) -> str:
        if self._bytes is None:
            return self.vocab.decode(ids)
        data = self.vocab._symbols[np.asarray(ids, dtype=np.int64)].tobytes()
        return self._replace(self._bytes.decode(data))

    def finish(self) -> str:
        """What was held back, with an incomplete sequence replaced by U+FFFD."""
        if self._bytes is None:
            return ""
        return self._replace(self._bytes.decode(b"", final=True))

    def _replace(self, text: str) -> str:
        escaped = 0 if text.isascii() else sum(1 for ch in text if "\udc80" <= ch <= "\udcff")
        if escaped:
            self.replaced += escaped
            text = "".join(UNKNOWN_MARK if "\udc80" <= ch <= "\udcff" else ch for ch in text)
        return text
