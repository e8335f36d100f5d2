"""Optimisers over the flat parameter buffer, gradient clipping and the learning-rate schedule."""

from __future__ import annotations

import math

import numpy as np

from ..kernels.optim import adam_update, moving_average, rmsprop_update, sgd_update, sum_squares
from .config import TrainConfig

ADAM_BETAS = (0.9, 0.999)
ADAM_EPS = 1e-8
RMSPROP_ALPHA = 0.99
RMSPROP_EPS = 1e-8
SGD_MOMENTUM = 0.9


class Optimizer:
    """Adam, RMSProp or SGD with momentum; its moments are named arrays for checkpoints."""

    def __init__(self, name: str, size: int, dtype):
        self.name = name
        self.step_count = 0
        slots = {"adam": ("m", "v"), "rmsprop": ("v",), "sgd": ("m",)}[name]
        self.state = {slot: np.zeros(size, dtype) for slot in slots}

    def update(self, params: np.ndarray, grads: np.ndarray, lr: float, grad_scale: float = 1.0) -> None:
        """Apply one step to `params` (flat) given `grads` (flat) scaled by grad_scale."""
        self.step_count += 1
        self._apply(params, self.state, grads, lr, self.step_count, grad_scale)

    def warm_up(self) -> None:
        """Compile the update's kernel (or load it from the cache), on empty arrays: nothing changes."""
        empty = np.zeros(0, next(iter(self.state.values())).dtype)
        self._apply(empty, {slot: empty for slot in self.state}, empty, 1.0, 1, 1.0)

    def _apply(self, params, state, grads, lr: float, step: int, grad_scale: float) -> None:
        if self.name == "adam":
            adam_update(params, state["m"], state["v"], grads, lr, ADAM_BETAS[0], ADAM_BETAS[1], ADAM_EPS, step,
                        grad_scale)
        elif self.name == "rmsprop":
            rmsprop_update(params, state["v"], grads, lr, RMSPROP_ALPHA, RMSPROP_EPS, grad_scale)
        else:
            sgd_update(params, state["m"], grads, lr, SGD_MOMENTUM, grad_scale)


def ema_decay(decay: float, updates: int) -> float:
    """The weight of the old average after `updates` updates: `decay`, but less at first
    ((1 + n) / (10 + n)), so the average is not held near the initial weights."""
    return min(decay, (1 + updates) / (10 + updates))


def update_average(average: np.ndarray, params: np.ndarray, decay: float, updates: int) -> None:
    """One step of the weights' exponential moving average (flat arrays)."""
    moving_average(average, params, ema_decay(decay, updates))


def global_norm(grads: np.ndarray) -> float:
    """L2 norm of the flat gradient (non-finite if any element is)."""
    return math.sqrt(sum_squares(grads))


def clip_scale(norm: float, max_norm: float) -> float:
    """The factor that brings `norm` down to `max_norm` (PyTorch's clip_grad_norm_ rule); 1 when off."""
    if max_norm <= 0:
        return 1.0
    return min(1.0, max_norm / (norm + 1e-6))


def learning_rate(cfg: TrainConfig, step: int, train_seconds: float = 0.0, steps_per_epoch: int = 0) -> float:
    """Learning rate for 0-based `step`: linear warmup, then constant, cosine to
    lr * min_lr_frac at the end of the budget, or multiplied by decay_rate every decay_every
    steps. The cosine follows whichever budget is nearest its end: steps or epochs (counted
    after the warmup), or training time (`train_seconds` of `cfg.seconds`)."""
    if step < cfg.warmup:
        return cfg.lr * (step + 1) / cfg.warmup
    if cfg.schedule == "cosine":
        progress = budget_progress(cfg, step, train_seconds, steps_per_epoch)
        floor = cfg.lr * cfg.min_lr_frac
        return floor + (cfg.lr - floor) * 0.5 * (1 + math.cos(math.pi * progress))
    if cfg.schedule == "step":
        return cfg.lr * cfg.decay_rate ** ((step - cfg.warmup) // cfg.decay_every)
    return cfg.lr


def budget_progress(cfg: TrainConfig, step: int, train_seconds: float, steps_per_epoch: int) -> float:
    """How far into its budget a run is, 0 to 1: of its steps or epochs after the warmup, or
    of its time, whichever is furthest."""
    fractions = [0.0]
    if cfg.steps is not None:
        fractions.append((step - cfg.warmup) / max(1, cfg.steps - cfg.warmup))
    if cfg.epochs is not None and steps_per_epoch:
        fractions.append((step - cfg.warmup) / max(1.0, cfg.epochs * steps_per_epoch - cfg.warmup))
    if cfg.seconds is not None:
        fractions.append(train_seconds / cfg.seconds)
    return min(1.0, max(fractions))
