"""Characters (Unicode code points) <-> integer ids."""

from __future__ import annotations

import json
from collections.abc import Sequence

import numpy as np

from .errors import CheckpointError, InputError

_SHOWN = 10  # unknown characters named in an error before "and N more"


def describe(chars: Sequence[str]) -> str:
    """'é' (U+00E9), '☃' (U+2603), ... for messages."""
    shown = ", ".join(f"{ch!r} (U+{ord(ch):04X})" for ch in chars[:_SHOWN])
    return shown + (f" and {len(chars) - _SHOWN} more" if len(chars) > _SHOWN else "")


def code_points(text: str) -> np.ndarray:
    """The code points of `text` as a uint32 array, without a Python loop."""
    return np.frombuffer(text.encode("utf-32-le", "surrogatepass"), dtype="<u4")


class Vocab:
    """The characters a model knows; a character's id is its index in `chars`."""

    def __init__(self, chars: Sequence[str]):
        chars = tuple(chars)
        if any(not isinstance(ch, str) or len(ch) != 1 for ch in chars):
            raise InputError("a vocabulary holds single characters")
        if len(set(chars)) != len(chars):
            raise InputError("a vocabulary must not repeat characters")
        self.chars = chars
        points = np.array([ord(ch) for ch in chars], dtype=np.int64)
        self._lookup = np.full(int(points.max()) + 1 if chars else 1, -1, dtype=np.int32)
        self._lookup[points] = np.arange(len(chars), dtype=np.int32)
        self._chars_array = np.array(chars if chars else [""], dtype="<U1")

    @classmethod
    def from_text(cls, text: str) -> "Vocab":
        """The sorted set of characters of `text` (by code point, as sorted(set(text)))."""
        points = np.unique(code_points(text))
        return cls([chr(p) for p in points])

    def __len__(self) -> int:
        return len(self.chars)

    def __eq__(self, other) -> bool:
        return isinstance(other, Vocab) and self.chars == other.chars

    def __hash__(self) -> int:
        return hash(self.chars)

    def __repr__(self) -> str:
        return f"Vocab({len(self)} characters)"

    def _ids(self, text: str) -> np.ndarray:
        points = code_points(text)
        ids = np.full(points.shape, -1, dtype=np.int32)
        inside = points < self._lookup.size
        ids[inside] = self._lookup[points[inside]]
        return ids

    def missing(self, text: str) -> list[str]:
        """Distinct characters of `text` that are not in the vocabulary, sorted."""
        ids = self._ids(text)
        unknown = np.unique(code_points(text)[ids < 0])
        return [chr(p) for p in unknown]

    def encode(self, text: str) -> np.ndarray:
        """int32 ids of `text`; InputError naming any characters the vocabulary lacks."""
        ids = self._ids(text)
        if (ids < 0).any():
            unknown = self.missing(text)
            raise InputError(f"text has {len(unknown)} character{'s' if len(unknown) != 1 else ''} "
                             f"the model does not know: {describe(unknown)}")
        return ids

    def decode(self, ids) -> str:
        return "".join(self._chars_array[np.asarray(ids, dtype=np.int64)].tolist())

    def char(self, char_id: int) -> str:
        return self.chars[char_id]

    def to_json(self) -> str:
        return json.dumps(list(self.chars), ensure_ascii=False)

    @classmethod
    def from_json(cls, text: str) -> "Vocab":
        try:
            chars = json.loads(text)
            if not isinstance(chars, list):
                raise TypeError("not a list")
            return cls(chars)
        except (ValueError, TypeError, InputError) as exc:
            raise CheckpointError(f"malformed vocabulary: {exc}") from None
