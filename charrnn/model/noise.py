"""Training's regularisation masks: dropout, locked dropout, embedding dropout, weight drop
(DropConnect on the recurrent weights) and zoneout, drawn per window in a fixed order."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .config import ModelConfig


@dataclass
class Noise:
    """A training window's regularisation masks (inverted: a kept unit is scaled by 1/(1-p)).
    `layers`: per layer (T, B, H), on each layer's output: dropout drawn at every step times
    locked dropout drawn once per stream; `embed` (1, B, E): locked dropout on the embedding's
    output; `wh`: per layer (G*H, H), DropConnect on the recurrent weights, with the dropped
    weights in `wh_dropped`; `zoneout`: per layer the masks (T, B, H) of h (and the LSTM's c),
    1 where a unit keeps its previous value (a rate of 0 leaves its mask all 0). None where
    the model does not use that regulariser."""

    layers: list[np.ndarray] | None = None
    embed: np.ndarray | None = None
    wh: list[np.ndarray] | None = None
    wh_dropped: list[np.ndarray] | None = None
    zoneout: list[tuple[np.ndarray, ...]] | None = None

    @classmethod
    def allocate(cls, cfg: ModelConfig, T: int, B: int, dtype) -> "Noise":
        H, L = cfg.hidden, cfg.layers
        z = lambda *shape: np.zeros(shape, dtype)  # noqa: E731
        return cls(layers=[z(T, B, H) for _ in range(L)] if cfg.dropout or cfg.locked_dropout else None,
                   embed=z(1, B, cfg.embed) if cfg.embed_dropout else None,
                   wh=[z(cfg.gates * H, H) for _ in range(L)] if cfg.weight_drop else None,
                   wh_dropped=[z(cfg.gates * H, H) for _ in range(L)] if cfg.weight_drop else None,
                   zoneout=[tuple(z(T, B, H) for _ in range(cfg.n_states)) for _ in range(L)] if cfg.zoneout
                   else None)

    def draw(self, cfg: ModelConfig, rng: np.random.Generator, params: dict[str, np.ndarray]) -> None:
        """Draw every mask, in a fixed order: per-step dropout (as charrnn always drew it, so
        a run with dropout alone keeps its random stream), locked dropout, the embedding's,
        weight drop, zoneout (each layer's h, then c); and drop the recurrent weights."""
        if self.layers is not None:
            for mask in self.layers:
                if cfg.dropout:
                    _bernoulli(mask, cfg.dropout, rng)
                else:
                    mask.fill(1)
            if cfg.locked_dropout:
                T, B, H = self.layers[0].shape
                locked = np.zeros((1, B, H), self.layers[0].dtype)
                for mask in self.layers:
                    mask *= _bernoulli(locked, cfg.locked_dropout, rng)
        if self.embed is not None:
            _bernoulli(self.embed, cfg.embed_dropout, rng)
        if self.wh is not None:
            for layer, (mask, dropped) in enumerate(zip(self.wh, self.wh_dropped)):
                np.multiply(params[f"layer{layer}.wh"], _bernoulli(mask, cfg.weight_drop, rng), out=dropped)
        if self.zoneout is not None:
            for masks in self.zoneout:
                for mask, rate in zip(masks, (cfg.zoneout_hidden, cfg.zoneout_cell)):
                    if rate:
                        rng.random(mask.shape, dtype=mask.dtype, out=mask)
                        np.less(mask, rate, out=mask)

    def shard(self, b0: int, b1: int) -> "Noise":
        """The masks of streams b0..b1 (contiguous copies; the weights' masks are shared)."""
        return Noise(layers=None if self.layers is None else [np.ascontiguousarray(m[:, b0:b1]) for m in self.layers],
                     embed=None if self.embed is None else np.ascontiguousarray(self.embed[:, b0:b1]),
                     wh=self.wh, wh_dropped=self.wh_dropped,
                     zoneout=None if self.zoneout is None
                     else [tuple(np.ascontiguousarray(m[:, b0:b1]) for m in masks) for masks in self.zoneout])


NO_NOISE = Noise()


def _bernoulli(mask: np.ndarray, p: float, rng: np.random.Generator) -> np.ndarray:
    """Fill `mask` with 1/(1-p) with probability 1-p, else 0; return it."""
    rng.random(mask.shape, dtype=mask.dtype, out=mask)
    np.greater_equal(mask, p, out=mask)
    mask *= 1.0 / (1.0 - p)
    return mask
