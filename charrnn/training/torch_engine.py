"""Training with PyTorch (`train(..., engine="torch")`, `pip install 'charrnn[torch]'`): the same
model, initialisation, data layout, optimiser, schedule, clipping and checkpoints as charrnn's
own engine, on a GPU (CUDA, MPS) or the CPU, and over many GPUs and machines with
DistributedDataParallel when launched by torchrun.

Only this module imports torch, and only when the engine is asked for. TorchTrainer is a
trainer.Trainer whose engine methods run on PyTorch: the policy (budget, non-finite steps,
restore points, validation records, snapshots) is the same code. The module is
nn.Embedding -> one nn.LSTM/GRU/RNN per layer, each followed by dropout -> nn.Linear, which is
charrnn's model (its layer weights are PyTorch's, see export.py), with charrnn's regularisers
in training: locked dropout of the embedding's and each layer's output (one mask per stream
for a window), weight drop of each recurrent matrix (one mask per window, the layer
called with the dropped matrix) and zoneout (a layer with it runs a step at a time, since
nn.LSTM/GRU cannot keep part of the previous state; about as slow as that sounds on a GPU:
masks drawn every step in training, the rates' expectation in validation); charrnn's flat layout of
parameters, optimiser moments and carried state is what arrays() gives and load_arrays() takes,
so a checkpoint moves between the engines.

Many processes (torchrun sets RANK, WORLD_SIZE, LOCAL_RANK): rank r owns streams
[r*B/W, (r+1)*B/W) of the batch and carries their state; DistributedDataParallel averages the
gradients, so a step is the step of the global batch B. Rank 0 alone runs the training loop
(validation, checkpoints, events); every other rank follows it (follow()): before each step
and each gathering of the carried state, rank 0 broadcasts what comes next, so the ranks run
the same collective operations in the same order whatever the clock says.
"""

from __future__ import annotations

import contextlib
import os
import re
from datetime import timedelta

import numpy as np

from ..errors import ConfigError, ProcessLostError
from ..model.config import ModelConfig, is_weight_matrix
from ..model.network import Model
from .config import TrainConfig
from .optim import ADAM_BETAS, ADAM_EPS, RMSPROP_ALPHA, RMSPROP_EPS, SGD_MOMENTUM, ema_decay
from .trainer import VAL_CHUNK, VAL_STREAMS, Trainer

DEVICES = ("cpu", "cuda", "mps")
_STEP, _GATHER, _RESTORE_POINT, _DONE = 1, 2, 3, 0  # what rank 0 tells the others comes next
# How long a process waits for the others at a collective operation (seconds; env
# CHARRNN_DIST_TIMEOUT): the others wait while process 0 validates, saves and samples, so
# this is long, but a process that died or hangs ends the run within it.
DIST_TIMEOUT = 1800.0


def import_torch():
    """torch, or a ConfigError saying how to get it."""
    try:
        import torch
    except ImportError:
        raise ConfigError("engine torch needs PyTorch: pip install 'charrnn[torch]'", options=("engine",)) from None
    return torch


def world() -> tuple[int, int, int]:
    """(rank, world size, local rank) from torchrun's environment; (0, 1, 0) without it."""
    try:
        env = os.environ
        return int(env.get("RANK", 0)), int(env.get("WORLD_SIZE", 1)), int(env.get("LOCAL_RANK", 0))
    except ValueError:
        raise ConfigError("RANK, WORLD_SIZE and LOCAL_RANK must be whole numbers (as torchrun sets them)") from None


def resolve_device(device: str | None) -> str:
    """The torch device to train on: `device` checked (cpu, cuda, cuda:N, mps), or by default
    the GPU this process is for (the local rank's, under torchrun), else the CPU."""
    torch = import_torch()
    _, _, local_rank = world()
    if device is None:
        if torch.cuda.is_available():
            return f"cuda:{local_rank}"
        return "mps" if torch.backends.mps.is_available() else "cpu"
    kind = device.split(":")[0]
    if kind not in DEVICES:
        raise ConfigError(f"device must be one of {', '.join(DEVICES)} (cuda:N for a GPU by number), not {device!r}",
                          options=("device",))
    if kind == "cuda":
        if not torch.cuda.is_available():
            raise ConfigError("device cuda: PyTorch finds no CUDA GPU here", options=("device",))
        index = int(device.split(":")[1]) if ":" in device and device.split(":")[1].isdigit() else local_rank
        if index >= torch.cuda.device_count():
            raise ConfigError(f"device cuda:{index}: there are {torch.cuda.device_count()} CUDA GPUs here",
                              options=("device",))
        return f"cuda:{index}"
    if kind == "mps" and not torch.backends.mps.is_available():
        raise ConfigError("device mps: PyTorch finds no Apple GPU here", options=("device",))
    return device


def start(device: str | None, threads: int | None) -> str:
    """Ready PyTorch for training in this process: the device (see resolve_device), the
    process group under torchrun (NCCL between GPUs, gloo otherwise), and on the CPU the
    number of threads. Returns the device."""
    torch = import_torch()
    device = resolve_device(device)
    _, size, _ = world()
    if size > 1 and not torch.distributed.is_initialized():
        if device.startswith("cuda"):
            torch.cuda.set_device(torch.device(device))
        with lost_process():
            torch.distributed.init_process_group("nccl" if device.startswith("cuda") else "gloo",
                                                 timeout=timedelta(seconds=dist_timeout()))
    if device == "cpu" and threads:
        torch.set_num_threads(threads)
    return device


def dist_timeout() -> float:
    """Seconds a collective operation may wait (DIST_TIMEOUT, or CHARRNN_DIST_TIMEOUT)."""
    value = os.environ.get("CHARRNN_DIST_TIMEOUT")
    if value is None:
        return DIST_TIMEOUT
    try:
        seconds = float(value)
    except ValueError:
        seconds = 0.0
    if not 0 < seconds < float("inf"):
        raise ConfigError(f"CHARRNN_DIST_TIMEOUT must be a number of seconds above 0, not {value!r}")
    return seconds


@contextlib.contextmanager
def lost_process():
    """Turn the failure of a collective operation (a peer that died, or did not answer within
    the timeout) into a ProcessLostError saying so in one line. Other errors pass."""
    torch = import_torch()
    try:
        yield
    except RuntimeError as exc:
        # PyTorch raises a DistError, or a RuntimeError from gloo's or NCCL's transport whose
        # message begins with its source file ("[.../gloo/transport/tcp/pair.cc:537] ...")
        text = str(exc).strip()
        if not isinstance(exc, torch.distributed.DistError) and not _TRANSPORT.match(text):
            raise
        reason = _TRANSPORT.sub("", text.splitlines()[0] if text else "").split(". ")[0].rstrip(".")
        raise ProcessLostError(f"a process of the distributed run died or stopped answering "
                               f"({reason or type(exc).__name__})") from None


_TRANSPORT = re.compile(r"^\[[^\]]*(gloo|nccl|c10d)[^\]]*\]\s*", re.IGNORECASE)


def share_data(data) -> tuple[dict, dict, str] | None:
    """Process 0 tells the others what it trains on (the data fingerprint, the vocabulary and
    its id cache's folder): call with its EncodedText there, with None elsewhere, which
    returns what process 0 sent."""
    torch = import_torch()
    if world()[1] == 1:
        return None
    message = [None]
    if data is not None:
        message = [(data.fingerprint, data.vocab.to_meta(), str(data.path.parent))]
    with lost_process():
        torch.distributed.broadcast_object_list(message, 0)
    return message[0]


def check_batch(batch: int) -> None:
    """ConfigError unless the batch's streams divide evenly between the processes."""
    _, size, _ = world()
    if batch % size:
        raise ConfigError(f"batch {batch} does not divide between {size} processes; make it a multiple of {size}",
                          options=("batch",))


class _Network:
    """The PyTorch module charrnn's model is, built lazily (torch is imported on first use)."""

    def __new__(cls, config: ModelConfig):
        torch = import_torch()
        nn, F = torch.nn, torch.nn.functional
        from torch.func import functional_call

        def locked(h, p):
            """h (T, B, F) times one inverted-dropout mask per stream, the same at every step."""
            return h * torch.empty_like(h[:1]).bernoulli_(1 - p).div_(1 - p)

        class CharModel(nn.Module):
            def __init__(self):
                super().__init__()
                self.emb = nn.Embedding(config.vocab_size, config.embed)
                rnn = {"lstm": nn.LSTM, "gru": nn.GRU, "rnn": nn.RNN}[config.cell]
                self.rnns = nn.ModuleList(rnn(config.embed if layer == 0 else config.hidden, config.hidden)
                                          for layer in range(config.layers))
                self.head = nn.Linear(config.hidden, config.vocab_size)

            def forward(self, x, state):
                """x (T, B) ids; state (h, c) for the LSTM, else h, each (L, B, H), or None."""
                h = self.emb(x)
                if self.training and config.embed_dropout:
                    h = locked(h, config.embed_dropout)
                pairs = isinstance(state, tuple) or (state is None and config.cell == "lstm")
                ends = []
                for layer, rnn in enumerate(self.rnns):
                    own = None if state is None else (tuple(s[layer:layer + 1] for s in state) if pairs
                                                      else state[layer:layer + 1])
                    dropped = (F.dropout(rnn.weight_hh_l0, config.weight_drop) if self.training and config.weight_drop
                               else None)
                    if config.zoneout:
                        h, end = self.zoned(rnn, h, own, rnn.weight_hh_l0 if dropped is None else dropped)
                    elif dropped is not None:
                        h, end = functional_call(rnn, {"weight_hh_l0": dropped}, (h, own), strict=False)
                    else:
                        h, end = rnn(h, own)
                    if self.training and config.dropout:
                        h = F.dropout(h, config.dropout)
                    if self.training and config.locked_dropout:
                        h = locked(h, config.locked_dropout)
                    ends.append(end)
                if pairs:
                    return self.head(h), tuple(torch.cat([end[k] for end in ends]) for k in range(2))
                return self.head(h), torch.cat(ends)

            def zoned(self, rnn, x, own, w_hh):
                """The layer `rnn` over x (T, B, In) with zoneout, one step at a time, as charrnn's
                kernels run it (kernels/lstm.py, gru.py): each unit keeps its previous h (and c)
                where the step's mask is 1 in training, and the rate's fraction of it otherwise."""
                H, lstm = config.hidden, config.cell == "lstm"
                if own is None:
                    zeros = x.new_zeros((1, x.shape[1], H))
                    own = (zeros, zeros) if lstm else zeros
                h, c = (own[0][0], own[1][0]) if lstm else (own[0], None)
                gx = F.linear(x, rnn.weight_ih_l0, rnn.bias_ih_l0)

                def kept(new, old, rate):
                    if not rate:
                        return new
                    keep = torch.empty_like(old).bernoulli_(rate) if self.training else rate
                    return torch.lerp(new, old, keep)

                outs = []
                for t in range(x.shape[0]):
                    gh = F.linear(h, w_hh, rnn.bias_hh_l0)
                    if lstm:
                        i, f, g, o = (gx[t] + gh).chunk(4, 1)
                        c_new = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
                        h_new = torch.sigmoid(o) * torch.tanh(c_new)
                        c = kept(c_new, c, config.zoneout_cell)
                    else:
                        r, z = torch.sigmoid(gx[t, :, :2 * H] + gh[:, :2 * H]).chunk(2, 1)
                        n = torch.tanh(gx[t, :, 2 * H:] + r * gh[:, 2 * H:])
                        h_new = (1 - z) * n + z * h
                    h = kept(h_new, h, config.zoneout_hidden)
                    outs.append(h)
                return torch.stack(outs), ((h[None], c[None]) if lstm else h[None])

        return CharModel()


def _torch_names(config: ModelConfig) -> list[str]:
    """The module's parameter names, in charrnn's flat order (ModelConfig.param_shapes)."""
    names = ["emb.weight"]
    for layer in range(config.layers):
        names += [f"rnns.{layer}.{name}_l0" for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")]
    return names + ["head.weight", "head.bias"]


class TorchTrainer(Trainer):
    """A Trainer whose steps run on PyTorch, on `device`, possibly as one of several processes.
    `autocast` is the precision: "bf16" runs the forward pass under torch.autocast with
    bfloat16 (weights, optimiser and loss stay float32), "fp32" does not, "auto" is bf16 on a
    CUDA GPU that has it and fp32 elsewhere. (`model`, charrnn's, holds the weights for
    sampling and checkpoints; its own products never run.)"""

    @classmethod
    def new(cls, model_cfg, cfg, train_ids, val_ids, dtype=np.float32, threads=1, precision="auto", **engine):
        return super().new(model_cfg, cfg, train_ids, val_ids, dtype, threads, "fp32", autocast=precision, **engine)

    @classmethod
    def restore(cls, tensors, meta, train_ids, val_ids, cfg=None, threads=1, precision="auto", **engine):
        return super().restore(tensors, meta, train_ids, val_ids, cfg, threads, "fp32", autocast=precision, **engine)

    def __init__(self, model: Model, cfg: TrainConfig, train_ids, val_ids, dropout_rng, device: str | None = None,
                 autocast: str = "auto"):
        super().__init__(model, cfg, train_ids, val_ids, dropout_rng)
        torch = import_torch()
        self.torch = torch
        self.rank, self.world_size, _ = world()
        self.lost = False  # a process of the distributed run is gone: talk to the others no more
        check_batch(cfg.batch)
        self.device = torch.device(start(device, None))
        bf16 = autocast == "bf16" or (autocast == "auto" and self.device.type == "cuda"
                                      and torch.cuda.is_bf16_supported())
        self._autocast = "bf16" if bf16 else "fp32"
        torch.manual_seed(cfg.seed * 1000 + self.rank)  # dropout masks, one stream per process
        config = model.config
        self.net = _Network(config).to(self.device)
        self.params = [dict(self.net.named_parameters())[name] for name in _torch_names(config)]
        self.ddp = self.net
        if self.world_size > 1:
            from torch.nn.parallel import DistributedDataParallel

            # the module has no buffers, so DDP's default buffer syncing costs nothing
            self.ddp = DistributedDataParallel(self.net, device_ids=[self.device] if self.device.type == "cuda"
                                               else None)
        self.opt = self._optimizer(cfg)
        local = cfg.batch // self.world_size
        self.streams = slice(self.rank * local, (self.rank + 1) * local)
        self.hidden = torch.zeros((config.layers, config.n_states, local, config.hidden), device=self.device)
        self._load_flat(model.flat)  # charrnn's initialisation
        self.average_t = [p.detach().clone() for p in self.params] if cfg.ema else None
        # self.params is in charrnn's flat order, so charrnn's names say which are weight matrices
        self._decayed_t = [p for name, p in zip(config.param_shapes(), self.params) if is_weight_matrix(name)]

    def _optimizer(self, cfg: TrainConfig):
        optim = self.torch.optim
        if cfg.optimizer == "adam":
            return optim.Adam(self.params, lr=cfg.lr, betas=ADAM_BETAS, eps=ADAM_EPS)
        if cfg.optimizer == "rmsprop":
            return optim.RMSprop(self.params, lr=cfg.lr, alpha=RMSPROP_ALPHA, eps=RMSPROP_EPS)
        return optim.SGD(self.params, lr=cfg.lr, momentum=SGD_MOMENTUM)

    # ---- moving numbers between charrnn's layout and PyTorch's -----------------------------------
    def _flat(self, tensors) -> np.ndarray:
        return np.concatenate([t.detach().float().cpu().numpy().reshape(-1) for t in tensors]).astype(np.float32)

    def _load_flat(self, flat: np.ndarray, into=None) -> None:
        offset = 0
        with self.torch.no_grad():
            for param, target in zip(self.params, into or self.params):
                size = param.numel()
                target.copy_(self.torch.from_numpy(np.ascontiguousarray(flat[offset:offset + size]))
                             .reshape(param.shape))
                offset += size

    def _slots(self) -> dict[str, str]:
        """charrnn's optimiser slot -> PyTorch's state key."""
        return {"adam": {"m": "exp_avg", "v": "exp_avg_sq"}, "rmsprop": {"v": "square_avg"},
                "sgd": {"m": "momentum_buffer"}}[self.cfg.optimizer]

    def _state_tensors(self, key: str) -> list:
        """The optimiser's `key` tensor of every parameter. Before the first step PyTorch has
        none: they are made as its first step would (zeros, and the step count, which charrnn
        keeps in optimizer.step_count)."""
        tensors = []
        for param in self.params:
            state = self.opt.state[param]
            if key not in state:
                state[key] = self.torch.zeros_like(param, memory_format=self.torch.preserve_format)
                if self.cfg.optimizer != "sgd":
                    state["step"] = self.torch.tensor(float(self.optimizer.step_count))
            tensors.append(state[key])
        return tensors

    def arrays(self) -> dict[str, np.ndarray]:
        """Copies, in charrnn's layout; the carried state is this process's streams' (snapshot()
        gathers every process's)."""
        arrays = {"flat": self._flat(self.params)}
        for slot, key in self._slots().items():
            arrays[f"optim/{slot}"] = self._flat(self._state_tensors(key))
        arrays["state"] = self.hidden.cpu().numpy().copy()
        if self.average_t is not None:
            arrays["average"] = self._flat(self.average_t)
        return arrays

    def load_arrays(self, arrays: dict[str, np.ndarray], optimizer_steps: int) -> None:
        """From arrays() (this process's streams) or from a checkpoint (every stream's)."""
        self.optimizer.step_count = optimizer_steps
        self._load_flat(arrays["flat"])
        for slot, key in self._slots().items():
            self._load_flat(arrays[f"optim/{slot}"], into=self._state_tensors(key))
            for param in self.params:
                if "step" in self.opt.state[param]:
                    self.opt.state[param]["step"] = self.torch.tensor(float(optimizer_steps))
        if self.average_t is not None:
            self._load_flat(arrays["average"], into=self.average_t)
        state = arrays["state"]
        if state.shape[2] == self.cfg.batch:
            state = state[:, :, self.streams]
        with self.torch.no_grad():
            self.hidden.copy_(self.torch.from_numpy(np.ascontiguousarray(state)))

    def snapshot(self):
        tensors, meta = super().snapshot()
        if self.world_size > 1:
            with self._together():
                if self.rank == 0:
                    self._tell(_GATHER)
                tensors["state"] = self._gather()
        return tensors, meta

    def _gather(self) -> np.ndarray:
        """The carried state of every process's streams, (L, S, B, H)."""
        parts = [self.torch.empty_like(self.hidden) for _ in range(self.world_size)]
        self.torch.distributed.all_gather(parts, self.hidden.contiguous())
        return self.torch.cat(parts, dim=2).cpu().numpy()

    def load_params(self, tensors: dict[str, np.ndarray]) -> None:
        self.model.load_params(tensors)
        self._load_flat(self.model.flat)
        if self.average_t is not None:
            self._load_flat(self.model.flat, into=self.average_t)

    def sampling_model(self) -> Model:
        self.model.flat[...] = self._flat(self.average_t if self.average_t is not None else self.params)
        return self.model

    @property
    def precision(self) -> str:
        return self._autocast

    @property
    def kernel(self) -> str:
        return f"torch {self.device.type}" + (" autocast bf16" if self._autocast == "bf16" else "")

    isa = None  # charrnn's kernels (and their level) do not run here

    def finite(self) -> bool:
        tensors = [*self.params, self.hidden, *(t for key in self._slots().values() for t in self._state_tensors(key))]
        return all(bool(self.torch.isfinite(t).all()) for t in tensors)

    # ---- a step ---------------------------------------------------------------------------------
    def warm_up(self) -> None:
        """Nothing to compile ahead; a first step on the GPU pays for its own set-up."""

    def _tensor_state(self):
        h = self.hidden
        return (h[:, 0].contiguous(), h[:, 1].contiguous()) if h.shape[1] == 2 else h[:, 0].contiguous()

    def _keep_state(self, state) -> None:
        with self.torch.no_grad():
            if isinstance(state, tuple):
                self.hidden[:, 0] = state[0]
                self.hidden[:, 1] = state[1]
            else:
                self.hidden[:, 0] = state

    def train_step(self):
        with self._together():
            if self.rank == 0 and self.world_size > 1:
                self._tell(_STEP)
            return super().train_step()

    def _gradients(self, window) -> tuple[float, float]:
        torch = self.torch
        x = torch.from_numpy(window.x[:, self.streams]).long().to(self.device)
        y = torch.from_numpy(window.y[:, self.streams]).long().to(self.device)
        self.ddp.train()
        self.opt.zero_grad(set_to_none=False)
        with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self._autocast == "bf16"):
            logits, state = self.ddp(x, self._tensor_state())
        state = tuple(s.float() for s in state) if isinstance(state, tuple) else state.float()
        loss = torch.nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]).float(), y.reshape(-1))
        loss.backward()
        self._keep_state(tuple(s.detach() for s in state) if isinstance(state, tuple) else state.detach())
        norm = torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(p.grad) for p in self.params]))
        total = loss.detach()
        if self.world_size > 1:
            torch.distributed.all_reduce(total)
            total /= self.world_size
        return float(total), float(norm)

    def _update(self, lr: float, grad_scale: float) -> None:
        with self.torch.no_grad():
            if grad_scale != 1.0:
                for param in self.params:
                    param.grad.mul_(grad_scale)
            if self.cfg.weight_decay:
                for param in self._decayed_t:
                    param.mul_(1.0 - lr * self.cfg.weight_decay)
        for group in self.opt.param_groups:
            group["lr"] = lr
        self.opt.step()
        self.optimizer.step_count += 1
        if self.average_t is not None:
            with self.torch.no_grad():
                weight = 1.0 - ema_decay(self.cfg.ema, self.optimizer.step_count - 1)
                self.torch._foreach_lerp_(self.average_t, self.params, weight)

    def _reset_state(self) -> None:
        self.hidden.zero_()

    def _score(self, ids: np.ndarray) -> tuple[float, int]:
        """The validation protocol of trainer.evaluate_ids (VAL_STREAMS streams, state carried
        through VAL_CHUNK windows), on this process's device."""
        from ..data.batches import validation_windows

        torch = self.torch
        total, count, state = 0.0, 0, None
        self.net.eval()
        current = None
        if self.average_t is not None:  # validation scores the moving average
            current = [p.detach().clone() for p in self.params]
            with torch.no_grad():
                torch._foreach_copy_(self.params, self.average_t)
        with torch.no_grad():
            for x, y in validation_windows(ids, streams=VAL_STREAMS, chunk=VAL_CHUNK):
                logits, state = self.net(torch.from_numpy(x).long().to(self.device), state)
                target = torch.from_numpy(y).long().to(self.device)
                total += float(torch.nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]).double(),
                                                                 target.reshape(-1), reduction="sum"))
                count += x.size
            if current is not None:
                torch._foreach_copy_(self.params, current)
        return total, count

    # ---- processes other than rank 0 ------------------------------------------------------------
    def set_restore_point(self) -> bool:
        with self._together():
            if self.rank == 0 and self.world_size > 1:
                self._tell(_RESTORE_POINT)
            return super().set_restore_point()

    @contextlib.contextmanager
    def _together(self):
        """Work with the other processes: one that is lost ends it in a ProcessLostError, and
        this process then talks to them no more (finish() tells them nothing)."""
        if self.world_size == 1:
            yield
            return
        try:
            with lost_process():
                yield
        except ProcessLostError:
            self.lost = True
            raise

    def _tell(self, what: int) -> None:
        message = self.torch.tensor([what], dtype=self.torch.int64)
        self.torch.distributed.broadcast(message.to(self._comm_device()), 0)

    def _comm_device(self):
        return self.device if self.device.type == "cuda" else self.torch.device("cpu")

    def finish(self) -> None:
        """Rank 0, at the end: release the other processes from follow() (unless one is lost)."""
        if self.rank == 0 and self.world_size > 1 and not self.lost:
            with self._together():
                self._tell(_DONE)
                self._leave()

    def _leave(self) -> None:
        """Close the process group together once all are done: left to the interpreter's exit,
        gloo's threads could be torn down running and abort the process (SIGABRT after 'done')."""
        self.torch.distributed.barrier()
        self.torch.distributed.destroy_process_group()

    def follow(self) -> None:
        """A rank other than 0: do the steps, gatherings and restore points rank 0 calls for,
        until it is done."""
        with self._together():
            while True:
                message = self.torch.zeros(1, dtype=self.torch.int64, device=self._comm_device())
                self.torch.distributed.broadcast(message, 0)
                what = int(message.item())
                if what == _DONE:
                    self._leave()
                    return
                if what == _STEP:
                    Trainer.train_step(self)
                elif what == _GATHER:
                    self._gather()
                elif what == _RESTORE_POINT:
                    Trainer.set_restore_point(self)
