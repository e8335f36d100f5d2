"""What a model predicts, symbol by symbol: the ids of a text and back, the distribution of the
next symbol after a text, and the log-probability of each symbol of a text given the ones
before it (LanguageModel.encode, decode, next_char_distribution, log_probs).

Text given here is read exactly, as a prime is: a symbol the model does not know is an error
that says what to do, unless the model has an unknown symbol, which stands for it."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from ..errors import ConfigError, InputError
from ..model.network import Model
from ..text.vocab import Vocab, symbols_of

WINDOW = 512  # symbols per window when reading a text


def check_text(vocab: Vocab, text, name: str) -> None:
    kinds = (str, bytes, bytearray) if vocab.unit == "byte" else (str,)
    if not isinstance(text, kinds):
        wanted = "str or bytes" if vocab.unit == "byte" else "str"
        raise ConfigError(f"{name} must be {wanted}, not {type(text).__name__}", options=(name,))


def encode_strictly(vocab: Vocab, text, name: str) -> np.ndarray:
    """The ids of `text` (the argument `name`); an InputError naming the symbols the model
    lacks, and what to do, unless it has an unknown symbol."""
    check_text(vocab, text, name)
    symbols = symbols_of(text, vocab.unit)
    ids = vocab.ids_of_symbols(symbols)
    if (ids < 0).any():
        problem = vocab.describe_missing(vocab.missing_symbols(symbols)).removeprefix("text ")
        raise InputError(f"{name} {problem}: leave them out of it (a model trained with min_count 2 or more "
                         "has an unknown symbol that stands for such characters)", options=("min_count",))
    return ids


def decode_ids(vocab: Vocab, ids) -> str:
    try:
        array = np.asarray(ids)
    except (TypeError, ValueError):
        array = None
    if array is None or array.ndim != 1 or not (array.size == 0 or np.issubdtype(array.dtype, np.integer)):
        raise ConfigError("ids must be a sequence of whole numbers", options=("ids",))
    if array.size and (array.min() < 0 or array.max() >= len(vocab)):
        raise ConfigError(f"ids must be 0 to {len(vocab) - 1} (the model's {len(vocab)} symbols)", options=("ids",))
    return vocab.decode(array.astype(np.int64))


def windows(count: int, largest: int = WINDOW) -> Iterator[int]:
    """Window lengths that add up to `count`: `largest` while more remain, then powers of two
    (so that a model meets a few window shapes, each of which keeps a workspace)."""
    while count >= largest:
        yield largest
        count -= largest
    while count:
        step = 1 << (count.bit_length() - 1)
        yield step
        count -= step


def _log_probs(model: Model, inputs: np.ndarray) -> Iterator[np.ndarray]:
    """The log-probabilities (T, V) of the next symbol after each of `inputs`, read as one
    stream from the zero state, window by window."""
    state = model.zero_state(1)
    start = 0
    for T in windows(inputs.size):
        x = np.ascontiguousarray(inputs[start:start + T].reshape(T, 1), dtype=np.int32)
        yield model.log_probs(x, state)[:, 0]
        start += T


def next_distribution(model: Model, vocab: Vocab, text) -> dict:
    check_text(vocab, text, "text")
    ids = encode_strictly(vocab, text, "text") if len(text) else vocab.start_ids()
    last = None
    for log_probs in _log_probs(model, ids):
        last = log_probs[-1]
    probs = np.exp(last.astype(np.float64))
    probs /= probs.sum()
    order = np.argsort(-probs, kind="stable")
    return {vocab.chars[i]: float(probs[i]) for i in order.tolist()}


def text_log_probs(model: Model, vocab: Vocab, text) -> np.ndarray:
    ids = encode_strictly(vocab, text, "text")
    if ids.size < 2:
        return np.zeros(0)
    parts = [np.take_along_axis(lp, ids[start + 1:start + 1 + lp.shape[0], None].astype(np.int64), axis=1)[:, 0]
             for start, lp in _starts(_log_probs(model, ids[:-1]))]
    return np.concatenate(parts).astype(np.float64)


def _starts(windows_of: Iterator[np.ndarray]) -> Iterator[tuple[int, np.ndarray]]:
    start = 0
    for lp in windows_of:
        yield start, lp
        start += lp.shape[0]
