"""Loading a model for sampling or evaluation from a CKPT argument."""

from __future__ import annotations


def load_model(ckpt: str | None, threads: int = 1):
    """Resolve CKPT, load and validate it; return (model, vocab, checkpoint)."""
    import numpy as np

    from .. import checkpoint, rundir
    from ..config import ModelConfig
    from ..errors import CheckpointError
    from ..model import Model
    from ..train import load_params
    from ..vocab import Vocab

    path = rundir.resolve(ckpt)
    meta = checkpoint.read_meta(path)
    try:
        cfg = ModelConfig.from_dict(meta["model"])
        vocab = Vocab.from_meta(meta)
    except (KeyError, TypeError) as exc:
        raise CheckpointError(f"{path} lacks the model description ({exc})") from None
    if len(vocab) != cfg.vocab_size:
        raise CheckpointError(f"{path} is inconsistent: {len(vocab)} symbols but a model for {cfg.vocab_size}")
    expected = {f"param/{name}": shape for name, shape in cfg.param_shapes().items()}
    loaded = checkpoint.load(path, expected_shapes=expected)
    model = Model(cfg, np.float32, threads)
    load_params(model, loaded.tensors)
    return model, vocab, loaded
