"""A run's checkpoint read for its model: the config, the vocabulary and the weights, each
checked against the others before anything is built from them."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import CheckpointError, ConfigError
from ..model.config import ModelConfig
from ..text.vocab import Vocab
from .checkpoint import Checkpoint, load, read_meta, tensor_names


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
    """Read a run's checkpoint for its model, checking the description first and then every
    parameter's shape against it (nothing is allocated for a description that is wrong)."""
    path = Path(path)
    cfg, _ = describe(path, read_meta(path))
    shapes = cfg.param_shapes()
    expected = {f"param/{name}": shape for name, shape in shapes.items()}
    if any(entry.startswith("average/") for entry in tensor_names(path)):
        expected.update({f"average/{name}": shape for name, shape in shapes.items()})
    loaded = load(path, expected_shapes=expected)
    cfg, vocab = describe(path, loaded.meta)
    return ModelFile(path, cfg, vocab, loaded)


def is_run_checkpoint(path: str | os.PathLike) -> bool:
    """Whether `path` is a checkpoint written by training (not an export)."""
    try:
        meta = read_meta(path)
    except CheckpointError:
        return False
    return isinstance(meta.get("model"), dict) and "step" in meta and meta.get("format") != "torch"
