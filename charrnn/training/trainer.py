"""The training loop: truncated BPTT over contiguous streams, clipping, the schedule, validation.

A Trainer owns everything a run needs to continue exactly where it stopped: the model, the
optimiser moments, the batch cursor, the dropout generator, the step count and the clock.
`snapshot()` turns that into tensors and JSON-able metadata; `Trainer.restore` turns it back.

A step whose loss or gradient norm is not finite is skipped (no update) and counted. After
MAX_BAD_STEPS of them in a row the trainer goes back to its restore point, halves the
learning rate and carries on; the restore point is an in-memory copy of the state last
written to a checkpoint (see `set_restore_point`). After MAX_RECOVERIES such recoveries a
further run of bad steps is a TrainingError.
"""

from __future__ import annotations

import copy
import math
import time
from collections import deque
from dataclasses import dataclass

import numpy as np

from ..data.batches import StreamBatches, validation_windows
from ..errors import CheckpointError, TrainingError
from ..model.config import ModelConfig, is_weight_matrix
from ..model.network import Model, checked_tensor, views
from .config import TrainConfig
from .optim import Optimizer, clip_scale, global_norm, learning_rate, update_average
from .record import best_step

MAX_BAD_STEPS = 5  # consecutive non-finite steps before training goes back to its restore point
MAX_RECOVERIES = 3  # recoveries (each halving the learning rate) before training gives up
VAL_STREAMS = 32  # the reference's validation layout, independent of the batch
# Validation windows of 128 steps: the state is carried between windows, so the loss is the same as
# with longer ones; on an LSTM 2x256 they score 3% slower than 512-step windows and keep 290 MB less
# of activations (the last, shorter window takes a second workspace of its own).
VAL_CHUNK = 128


@dataclass(frozen=True)
class StepReport:
    """What one training step did. loss in nats/char; skipped when it was not finite; after a
    recovery, `recovered_to` is the step training went back to (the trainer's step now)."""

    step: int
    epoch: float
    loss: float
    grad_norm: float
    lr: float
    skipped: bool
    seconds: float
    recovered_to: int | None = None


@dataclass(frozen=True)
class _RestorePoint:
    """Copies of everything the numbers of later steps depend on (not the clock, the skip
    count or the best validation loss: those record what happened; the history loses the
    evaluations of the steps that are done again)."""

    arrays: dict[str, np.ndarray]
    optimizer_steps: int
    batches: dict
    dropout_rng: dict
    step: int
    recent: list[float]


def seed_generators(seed: int) -> tuple[np.random.Generator, np.random.Generator]:
    """Independent generators for weight initialisation and for dropout, from one seed."""
    init_seq, dropout_seq = np.random.SeedSequence(seed).spawn(2)
    return np.random.default_rng(init_seq), np.random.default_rng(dropout_seq)


class Trainer:
    """One training run over `train_ids`, validated on `val_ids` (1-D integer arrays).

    The policy (budget, skipping and recovering from non-finite steps, restore points,
    validation records, snapshots) is here; the numbers come from an engine: charrnn's own
    kernels in this class, PyTorch in torch_engine.TorchTrainer, which overrides the
    methods under "the engine"."""

    def __init__(self, model: Model, cfg: TrainConfig, train_ids: np.ndarray, val_ids: np.ndarray,
                 dropout_rng: np.random.Generator):
        self.model = model
        self.cfg = cfg
        self.batches = StreamBatches(train_ids, cfg.batch, cfg.seq)
        self.val_ids = val_ids
        self.optimizer = Optimizer(cfg.optimizer, model.flat.size, model.dtype)
        # the weights' moving average, the model that is validated, saved as best and sampled
        self.average = model.flat.copy() if cfg.ema else None
        # decoupled weight decay falls on the weight matrices (not the embedding or the biases)
        self._decayed = [view for name, view in model.params.items() if is_weight_matrix(name)]
        self.dropout_rng = dropout_rng
        self.state = model.zero_state(cfg.batch)
        self.step = 0
        self.train_seconds = 0.0
        self.skipped = 0
        self.bad_in_a_row = 0
        self.lr_scale = 1.0  # halved by each recovery from a run of non-finite steps
        self.recoveries = 0
        self.best_val: float | None = None
        self.best_step: int | None = None  # the step best_val was scored at
        self.history: list[dict] = []
        self.recent = deque(maxlen=100)
        self._restore_point: _RestorePoint | None = None

    @classmethod
    def new(cls, model_cfg: ModelConfig, cfg: TrainConfig, train_ids, val_ids, dtype=np.float32,
            threads: int = 1, precision: str = "fp32", **engine) -> "Trainer":
        """A trainer at step 0, its weights initialised from the seed as PyTorch initialises
        them, its products in `precision` (see network.choose_kernel); `engine` are the
        engine's own options."""
        init_rng, dropout_rng = seed_generators(cfg.seed)
        model = Model(model_cfg, dtype, threads, precision)
        model.init_weights(init_rng)
        return cls(model, cfg, train_ids, val_ids, dropout_rng, **engine)

    # ---- budget ---------------------------------------------------------------------------
    @property
    def epoch(self) -> float:
        return self.step / self.batches.steps_per_epoch

    def finished(self) -> bool:
        cfg = self.cfg
        return ((cfg.steps is not None and self.step >= cfg.steps)
                or (cfg.epochs is not None and self.epoch >= cfg.epochs)
                or (cfg.seconds is not None and self.train_seconds >= cfg.seconds))

    @property
    def train_loss(self) -> float | None:
        """Mean training loss (nats/char) over the last 100 finite steps."""
        return float(np.mean(self.recent)) if self.recent else None

    # ---- one step ---------------------------------------------------------------------------
    def train_step(self) -> StepReport:
        """One step. A non-finite loss or gradient norm skips the update; the last of
        MAX_BAD_STEPS such steps in a row instead goes back to the restore point with half
        the learning rate (`recovered_to` says where), or raises TrainingError when that has
        already happened MAX_RECOVERIES times."""
        if self._restore_point is None and self.finite():
            self._take_restore_point()  # where this trainer started, even within a run of bad steps
        start = time.perf_counter()
        window = self.batches.next()
        if window.reset:
            self._reset_state()
        lr = learning_rate(self.cfg, self.step, self.train_seconds, self.batches.steps_per_epoch) * self.lr_scale
        loss, norm = self._gradients(window)
        skipped = not (math.isfinite(loss) and math.isfinite(norm))
        recovered_to = None
        if skipped:
            self.skipped += 1
            self.bad_in_a_row += 1
            self._reset_state()
        else:
            self.bad_in_a_row = 0
            self._update(lr, clip_scale(norm, self.cfg.clip))
            self.recent.append(loss)
        self.step += 1
        step, epoch = self.step, self.epoch
        if self.bad_in_a_row >= MAX_BAD_STEPS:
            recovered_to = self._recover()
        elapsed = time.perf_counter() - start
        self.train_seconds += elapsed
        return StepReport(step, epoch, loss, norm, lr, skipped, elapsed, recovered_to)

    # ---- the engine: charrnn's kernels -------------------------------------------------------
    def warm_up(self) -> None:
        """Compile (or load from the cache) every kernel a training step runs, on a window of the
        training shape, changing nothing a step depends on (weights, optimiser, carried state,
        data position, generators): the time of the first step, and so a time budget, then
        counts no compilation."""
        cfg = self.cfg
        window = np.zeros((cfg.seq, cfg.batch), np.int32)
        self.model.loss_and_grad(window, window, self.model.zero_state(cfg.batch))
        global_norm(self.model.grad_flat)
        self.optimizer.warm_up()

    def _gradients(self, window) -> tuple[float, float]:
        """The mean loss of a window (dropout drawn from the trainer's generator) and the norm
        of its gradient, which stays with the engine for _update."""
        loss = self.model.loss_and_grad(window.x, window.y, self.state, dropout_rng=self.dropout_rng)
        return loss, global_norm(self.model.grad_flat)

    def _update(self, lr: float, grad_scale: float) -> None:
        """The optimiser's step (after the weight decay), then the moving average's."""
        if self.cfg.weight_decay:
            for view in self._decayed:
                view *= 1.0 - lr * self.cfg.weight_decay
        self.optimizer.update(self.model.flat, self.model.grad_flat, lr, grad_scale)
        if self.average is not None:
            update_average(self.average, self.model.flat, self.cfg.ema, self.optimizer.step_count - 1)

    def _reset_state(self) -> None:
        self.state[...] = 0

    def _score(self, ids: np.ndarray) -> tuple[float, int]:
        """The summed loss and count of validation, with the averaged weights when there are."""
        if self.average is None:
            return evaluate_ids(self.model, ids)
        current = self.model.flat.copy()
        self.model.flat[...] = self.average
        try:
            return evaluate_ids(self.model, ids)
        finally:
            self.model.flat[...] = current

    def arrays(self) -> dict[str, np.ndarray]:
        """The numbers later steps depend on, as charrnn lays them out: `flat` (the parameters,
        in ModelConfig.param_shapes order), `optim/<slot>` (the optimiser's moments, alike)
        and `state` (L, S, B, H), the carried state. Live views here; copies from PyTorch."""
        arrays = {"flat": self.model.flat, **{f"optim/{slot}": arr for slot, arr in self.optimizer.state.items()},
                  "state": self.state}
        if self.average is not None:
            arrays["average"] = self.average
        return arrays

    def load_arrays(self, arrays: dict[str, np.ndarray], optimizer_steps: int) -> None:
        """Set what arrays() gives (and the optimiser's step count) from those arrays."""
        for name, arr in self.arrays().items():
            arr[...] = arrays[name]
        self.optimizer.step_count = optimizer_steps

    def load_params(self, tensors: dict[str, np.ndarray]) -> None:
        """Start from a checkpoint's `param/<name>` tensors (fine-tuning)."""
        self.model.load_params(tensors)
        if self.average is not None:
            self.average[...] = self.model.flat

    def sampling_model(self) -> Model:
        """The model with the current weights (their moving average, where there is one), for
        samples while training."""
        if self.average is None:
            return self.model
        model = Model(self.model.config, self.model.dtype)
        model.flat[...] = self.average
        return model

    @property
    def precision(self) -> str:
        """Of the matrix products: "fp32" or "bf16"."""
        return self.model.precision

    @property
    def kernel(self) -> str:
        """What runs the matrix products (a key of model.config.KERNELS)."""
        return self.model.kernel

    @property
    def isa(self) -> str:
        """The level the kernels are compiled for (kernels/cpu.py: $CHARRNN_ISA, else the CPU's)."""
        from ..kernels import cpu

        return cpu.level()

    # ---- recovering from non-finite steps -------------------------------------------------
    def set_restore_point(self) -> bool:
        """Remember the current state as the one to go back to when steps keep failing. The
        training loop calls this whenever it has written a checkpoint, so the restore point
        is that checkpoint's content, kept in memory: restoring it needs no disk (which may
        be what is failing) and cannot meet a file that was pruned or damaged meanwhile.
        Refused (False) unless `healthy()`."""
        if not self.healthy():
            return False
        self._take_restore_point()
        return True

    def _take_restore_point(self) -> None:
        self._restore_point = _RestorePoint(
            arrays={name: arr.copy() for name, arr in self.arrays().items()},
            optimizer_steps=self.optimizer.step_count,
            batches=self.batches.state_dict(),
            dropout_rng=copy.deepcopy(self.dropout_rng.bit_generator.state),
            step=self.step,
            recent=list(self.recent),
        )

    def healthy(self) -> bool:
        """Whether the last step was finite and so are the weights, the optimiser moments and
        the carried state: a state worth a checkpoint or a restore point."""
        return self.bad_in_a_row == 0 and self.finite()

    def finite(self) -> bool:
        return all(bool(np.isfinite(a).all()) for a in self.arrays().values())

    def _recover(self) -> int:
        point = self._restore_point
        bad = f"the loss or gradient was not finite for {MAX_BAD_STEPS} steps in a row (at step {self.step})"
        if point is None:
            raise TrainingError(f"{bad} and no earlier state had finite weights to go back to; "
                                "lower lr or clip", options=("lr", "clip"))
        if self.recoveries >= MAX_RECOVERIES:
            raise TrainingError(f"{bad}, after {MAX_RECOVERIES} recoveries that each went back to the last "
                                f"good state and halved the learning rate (now {self.lr_scale:g} x lr); "
                                "lower lr or clip", options=("lr", "clip"))
        self.load_arrays(point.arrays, point.optimizer_steps)
        self.batches.load_state_dict(point.batches)
        self.dropout_rng.bit_generator.state = copy.deepcopy(point.dropout_rng)
        self.step = point.step
        self.recent.clear()
        self.recent.extend(point.recent)
        # the evaluations after the restore point belong to steps that are undone
        self.history = [h for h in self.history if h["step"] <= point.step]
        self.bad_in_a_row = 0
        self.lr_scale /= 2
        self.recoveries += 1
        return point.step

    # ---- validation -----------------------------------------------------------------------
    def evaluate(self) -> float | None:
        """Mean loss (nats/char) over the held-out text, from a zero state carried through it;
        None when there is no validation text. Records it in the history."""
        total, count = self._score(self.val_ids)
        if count == 0:
            return None
        val = total / count
        if math.isfinite(val) and (self.best_val is None or val < self.best_val):
            self.best_val, self.best_step = val, self.step
        self.history.append(dict(step=self.step, seconds=round(self.train_seconds, 3),
                                 train_loss=self.train_loss, val_loss=val))
        return val

    # ---- checkpoints ----------------------------------------------------------------------
    def snapshot(self) -> tuple[dict[str, np.ndarray], dict]:
        """Everything needed to continue exactly: tensors (parameters, optimiser moments,
        carried state) and JSON-able metadata."""
        arrays = self.arrays()
        tensors = {f"param/{name}": view for name, view in views(arrays.pop("flat"), self.model.shapes).items()}
        if "average" in arrays:
            tensors.update({f"average/{name}": view
                            for name, view in views(arrays.pop("average"), self.model.shapes).items()})
        tensors.update(arrays)
        meta = dict(
            model=self.model.config.to_dict(),
            train=self.cfg.to_dict(),
            step=self.step,
            optimizer_steps=self.optimizer.step_count,
            batches=self.batches.state_dict(),
            dropout_rng=self.dropout_rng.bit_generator.state,
            train_seconds=self.train_seconds,
            skipped=self.skipped,
            bad_in_a_row=self.bad_in_a_row,
            lr_scale=self.lr_scale,
            recoveries=self.recoveries,
            best_val=self.best_val,
            best_step=self.best_step,
            train_loss=self.train_loss,
            recent_losses=list(self.recent),
            history=self.history,
        )
        return tensors, meta

    @classmethod
    def restore(cls, tensors: dict[str, np.ndarray], meta: dict, train_ids, val_ids,
                cfg: TrainConfig | None = None, threads: int = 1, precision: str = "fp32", **engine) -> "Trainer":
        """Rebuild a trainer from `snapshot()` output (tensors, and metadata as snapshot() wrote
        it or as record.training_state checked it); `cfg` may extend the budget; `engine`
        are the engine's own options (TorchTrainer: the device). CheckpointError for a tensor
        that is missing or has another shape."""
        model_cfg = ModelConfig.from_dict(meta["model"])
        cfg = cfg or TrainConfig.from_dict(meta["train"])
        rng = np.random.default_rng()
        try:
            rng.bit_generator.state = meta.get("dropout_rng")
        except (KeyError, TypeError, ValueError) as exc:
            raise CheckpointError(f"the checkpoint's random state is unusable: {exc}") from None
        trainer = cls(Model(model_cfg, np.float32, threads, precision), cfg, train_ids, val_ids, rng, **engine)
        loaded = {}
        for name, arr in trainer.arrays().items():
            if name in ("flat", "average"):
                prefix = "param" if name == "flat" else "average"
                loaded[name] = np.concatenate([checked_tensor(tensors, f"{prefix}/{n}", shape).reshape(-1)
                                               for n, shape in model_cfg.param_shapes().items()])
            else:
                loaded[name] = checked_tensor(tensors, name, trainer.state.shape if name == "state" else arr.shape)
        trainer.load_arrays(loaded, meta["optimizer_steps"])
        trainer.batches.load_state_dict(meta.get("batches"))
        trainer.step = meta["step"]
        trainer.train_seconds = float(meta["train_seconds"])
        trainer.skipped = meta["skipped"]
        trainer.bad_in_a_row = meta.get("bad_in_a_row", 0)
        trainer.lr_scale = meta.get("lr_scale", 1.0)
        trainer.recoveries = meta.get("recoveries", 0)
        trainer.best_val = meta["best_val"]
        trainer.history = list(meta["history"])
        trainer.best_step = best_step(meta)
        trainer.recent.extend(meta["recent_losses"])
        return trainer


def evaluate_ids(model: Model, ids: np.ndarray, streams: int = VAL_STREAMS) -> tuple[float, int]:
    """Summed loss (nats) and the number of characters scored, over `ids` cut into `streams`
    contiguous streams with state carried from zero (the reference's validation protocol)."""
    total, count, state = 0.0, 0, None
    for x, y in validation_windows(ids, streams=streams, chunk=VAL_CHUNK):
        if state is None:
            state = model.zero_state(x.shape[1])
        total += model.loss(x, y, state)
        count += x.size
    return total, count
