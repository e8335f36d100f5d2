"""The training data's layout: the held-out split, and truncated-BPTT windows as char-rnn,
torch-rnn and the PyTorch reference lay them out.

The training ids are cut into B contiguous streams of n_col = (len - 1) // B columns; step k
reads columns [pos, pos + T) of every stream, and the streams wrap to the start (and the
carried state is reset) when fewer than T columns remain. Arrays handed out are time-major
(T, B) int32, gathered for each window from the ids as given (which may be memory-mapped
and larger than memory: they are never copied whole).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import NamedTuple

import numpy as np

from ..errors import CheckpointError, ConfigError, InputError


def split(ids: np.ndarray, val_frac: float) -> tuple[np.ndarray, np.ndarray]:
    """Training and validation ids: the last int(len * val_frac) ids are held out."""
    if not 0 <= val_frac < 1:
        raise ConfigError(f"val_frac must be in [0, 1), got {val_frac}", options=("val_frac",))
    n_val = int(len(ids) * val_frac)
    return ids[:len(ids) - n_val], ids[len(ids) - n_val:]


class Window(NamedTuple):
    """Inputs x and targets y (T, B); reset is True when the carried state must start from zero."""

    x: np.ndarray
    y: np.ndarray
    reset: bool


class StreamBatches:
    """B contiguous streams over `ids` (1-D), read T columns at a time, resumable."""

    def __init__(self, ids: np.ndarray, batch: int, seq: int):
        n_col = (len(ids) - 1) // batch
        if n_col < seq:
            need = batch * seq + 1
            raise InputError(f"the training text is too short for batch {batch} x seq {seq}: it has "
                             f"{len(ids)} characters, one step needs {need}; lower batch or seq",
                             options=("batch", "seq"))
        # views (B, n_col) of the ids, not copies: a window reads T columns of each row
        self._xs = ids[:batch * n_col].reshape(batch, n_col)
        self._ys = ids[1:batch * n_col + 1].reshape(batch, n_col)
        self.batch, self.seq, self.n_col = batch, seq, n_col
        self.pos = 0
        self.wraps = 0
        self.started = False

    @property
    def steps_per_epoch(self) -> int:
        return self.n_col // self.seq

    def next(self) -> Window:
        reset = not self.started
        self.started = True
        if self.pos + self.seq > self.n_col:
            self.pos, self.wraps, reset = 0, self.wraps + 1, True
        columns = slice(self.pos, self.pos + self.seq)
        window = Window(_time_major(self._xs[:, columns]), _time_major(self._ys[:, columns]), reset)
        self.pos += self.seq
        return window

    def state_dict(self) -> dict:
        return dict(pos=self.pos, wraps=self.wraps, started=self.started, n_col=self.n_col, batch=self.batch,
                    seq=self.seq)

    def load_state_dict(self, state: dict) -> None:
        try:
            if (state["n_col"], state["batch"], state["seq"]) != (self.n_col, self.batch, self.seq):
                raise CheckpointError("the checkpoint's data position does not fit this text and batch layout")
            pos, wraps, started = state["pos"], state["wraps"], state["started"]
            if not (type(pos) is int and 0 <= pos <= self.n_col and type(wraps) is int and wraps >= 0
                    and type(started) is bool):
                raise ValueError(f"pos {pos!r}, wraps {wraps!r}, started {started!r}")
            self.pos, self.wraps, self.started = pos, wraps, started
        except (KeyError, TypeError, ValueError) as exc:
            raise CheckpointError(f"the checkpoint's data position is malformed ({exc})") from None


def _time_major(rows: np.ndarray) -> np.ndarray:
    """(T, B) int32, C-contiguous, from rows (B, T) of any integer type."""
    return np.ascontiguousarray(rows.T, dtype=np.int32)


def validation_windows(ids: np.ndarray, streams: int = 32, chunk: int = 512) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Windows (x, y), time-major (T, S), over `ids` cut into S contiguous streams with
    L = (len - 1) // S columns each (the reference's protocol: S * L characters are scored).
    A text too short for `streams` streams uses fewer, down to one; under two ids, nothing.
    Each window is gathered from `ids` when it is due (they may be memory-mapped)."""
    ids = np.asarray(ids)
    streams = max(1, min(streams, len(ids) - 1))
    L = (len(ids) - 1) // streams
    if L < 1:
        return
    xs = ids[:streams * L].reshape(streams, L)
    ys = ids[1:streams * L + 1].reshape(streams, L)
    for start in range(0, L, chunk):
        yield _time_major(xs[:, start:start + chunk]), _time_major(ys[:, start:start + chunk])


def text_windows(ids: np.ndarray, chunk: int = 512) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Windows (x, y) of shape (T, 1) covering every id after the first, as one stream."""
    yield from validation_windows(ids, streams=1, chunk=chunk)
