"""A run's checkpoint read for its model: the config, the vocabulary and the weights, each
checked against the others before anything is built from them."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import CheckpointError, ConfigError
from ..model.config import ModelConfig
from ..text.vocab import Vocab
from .checkpoint import Checkpoint, load, non_finite, read_meta, tensor_sizes

MODEL_COPIES = 2  # float32 copies of the weights a loaded model holds besides the tensors read: weights, gradients


@dataclass(frozen=True)
class ModelFile:
    """A checkpoint read for its model: the config, the vocabulary, the loaded checkpoint
    (its `param/<name>` tensors checked against the config) and where it is."""

    path: Path
    config: ModelConfig
    vocab: Vocab
    checkpoint: Checkpoint

    @property
    def meta(self) -> dict:
        return self.checkpoint.meta

    @property
    def weights(self) -> dict[str, np.ndarray]:
        """The model's `param/<name>` tensors: the moving average where the run kept one."""
        return model_weights(self.checkpoint.tensors)


def model_weights(tensors: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """`param/<name>` -> the weights that are the model: `average/<name>` where the checkpoint
    has it (the weights' moving average), else `param/<name>`."""
    return {name: tensors.get("average/" + name.split("/", 1)[1], array)
            for name, array in tensors.items() if name.startswith("param/")}


def describe(path: Path, meta: dict) -> tuple[ModelConfig, Vocab]:
    """The ModelConfig and Vocab of a checkpoint's metadata; CheckpointError when either is
    missing or malformed, or when they disagree (ids beyond the embedding would be read)."""
    try:
        cfg = ModelConfig.from_dict(meta["model"])
        vocab = Vocab.from_meta(meta)
    except (KeyError, TypeError, ConfigError, CheckpointError) as exc:
        raise CheckpointError(f"{path} lacks a usable model description ({exc})") from None
    if len(vocab) != cfg.vocab_size:
        raise CheckpointError(f"{path} is inconsistent: {len(vocab)} symbols but a model for {cfg.vocab_size}")
    return cfg, vocab


def read_model(path: str | os.PathLike) -> ModelFile:
    """Read a run's checkpoint for its model, checking the description first, then the sizes it
    declares against its tensors and the machine's memory, then every parameter's shape
    against it (nothing is allocated for a description that is wrong), and last that every
    number it holds is finite."""
    path = Path(path)
    meta = read_meta(path)
    if meta.get("format") == "torch":
        raise CheckpointError(f"{path} is a PyTorch export (from charrnn checkpoints export), not a checkpoint; "
                              f"turn it back into one with: charrnn checkpoints import {path} -o FILE")
    cfg, _ = describe(path, meta)
    sizes = tensor_sizes(path)
    _check_declared_sizes(path, cfg, {name: shape for name, (shape, _) in sizes.items()})
    _check_loadable(path, cfg, sum(nbytes for _, nbytes in sizes.values()))
    shapes = cfg.param_shapes()
    expected = {f"param/{name}": shape for name, shape in shapes.items()}
    if any(name.startswith("average/") for name in sizes):
        expected.update({f"average/{name}": shape for name, shape in shapes.items()})
    loaded = load(path, expected_shapes=expected)
    problem = non_finite(loaded.tensors)
    if problem:
        raise CheckpointError(f"{path} is not a usable model: {problem}")
    cfg, vocab = describe(path, loaded.meta)
    return ModelFile(path, cfg, vocab, loaded)


def _check_declared_sizes(path, cfg: ModelConfig, shapes: Mapping[str, tuple]) -> None:
    """CheckpointError unless the layers, vocabulary, embedding and hidden sizes `cfg` declares
    are those of the `param/<name>` tensors (name -> shape: a header's, read before any data).
    Checked before anything of the declared size is built."""
    for name in ("param/embed", "param/layer0.wh"):
        if len(shapes.get(name, ())) != 2:
            found = "missing" if name not in shapes else f"of shape {shapes[name]}"
            raise CheckpointError(f"{path} does not fit its model: tensor {name!r} is {found}")
    (vocabulary, embedding), hidden = shapes["param/embed"], shapes["param/layer0.wh"][1]
    found = dict(layers=sum(1 for name in shapes if re.fullmatch(r"param/layer\d+\.wh", name)),
                 vocabulary=vocabulary, embedding=embedding, hidden=hidden)
    declared = dict(layers=cfg.layers, vocabulary=cfg.vocab_size, embedding=cfg.embed, hidden=cfg.hidden)
    wrong = [f"{what} {declared[what]} where its tensors have {size}" for what, size in found.items()
             if size != declared[what]]
    if wrong:
        raise CheckpointError(f"{path} is inconsistent: its metadata declares {'; '.join(wrong)}")


def _check_loadable(path, cfg: ModelConfig, tensor_bytes: int) -> None:
    """CheckpointError when loading the model of `cfg` from `tensor_bytes` of tensors (which are
    read whole), and building the model, would take more memory than this machine has."""
    from ..training.estimate import gigabytes, machine_memory

    need = tensor_bytes + MODEL_COPIES * cfg.n_params() * np.dtype(np.float32).itemsize
    have = machine_memory()
    if have is not None and need > have:
        raise CheckpointError(f"{path} holds a {cfg.cell} {cfg.layers}x{cfg.hidden} model that needs about "
                              f"{gigabytes(need)} to load, and this machine has {gigabytes(have)}")


def is_run_checkpoint(path: str | os.PathLike) -> bool:
    """Whether `path` is a checkpoint written by training (not an export)."""
    try:
        meta = read_meta(path)
    except CheckpointError:
        return False
    return isinstance(meta.get("model"), dict) and "step" in meta and meta.get("format") != "torch"
