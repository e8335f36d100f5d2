"""Loading a model for sampling or evaluation from a CKPT argument, and checking the model a
checkpoint describes before anything is built from it."""

from __future__ import annotations


def model_description(path, meta: dict):
    """The ModelConfig and Vocab of a checkpoint's metadata; CheckpointError when either is
    missing or malformed, or when they disagree (ids beyond the embedding would be read)."""
    from ..config import ModelConfig
    from ..errors import CheckpointError, ConfigError
    from ..vocab import Vocab

    try:
        cfg = ModelConfig.from_dict(meta["model"])
        vocab = Vocab.from_meta(meta)
    except (KeyError, TypeError, ConfigError, CheckpointError) as exc:
        raise CheckpointError(f"{path} lacks a usable model description ({exc})") from None
    if len(vocab) != cfg.vocab_size:
        raise CheckpointError(f"{path} is inconsistent: {len(vocab)} symbols but a model for {cfg.vocab_size}")
    return cfg, vocab


def load_model(ckpt: str | None, threads: int = 1):
    """Resolve CKPT, load and validate it; return (model, vocab, checkpoint)."""
    import numpy as np

    from .. import checkpoint, rundir
    from ..model import Model
    from ..train import load_params

    path = rundir.resolve(ckpt)
    cfg, vocab = model_description(path, checkpoint.read_meta(path))
    expected = {f"param/{name}": shape for name, shape in cfg.param_shapes().items()}
    loaded = checkpoint.load(path, expected_shapes=expected)
    model = Model(cfg, np.float32, threads)
    load_params(model, loaded.tensors)
    return model, vocab, loaded
