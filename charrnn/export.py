"""Export to PyTorch's names. charrnn's layer weights already use PyTorch's layout
((G*H, In), gates i, f, g, o or r, z, n), so the export is a renaming."""

from __future__ import annotations

import numpy as np

from .config import ModelConfig
from .errors import CheckpointError


def torch_tensors(tensors: dict[str, np.ndarray], meta: dict) -> tuple[dict[str, np.ndarray], dict]:
    """Tensors named for `emb` (nn.Embedding), `rnn` (nn.RNN/LSTM/GRU, batch_first irrelevant)
    and `head` (nn.Linear), and metadata describing how to build those modules."""
    try:
        cfg = ModelConfig.from_dict(meta["model"])
        vocab = list(meta["vocab"])
    except (KeyError, TypeError) as exc:
        raise CheckpointError(f"the checkpoint lacks the model description ({exc})") from None
    out = {"emb.weight": tensors["param/embed"]}
    for layer in range(cfg.layers):
        for ours, theirs in (("wx", "weight_ih"), ("wh", "weight_hh"), ("bx", "bias_ih"), ("bh", "bias_hh")):
            out[f"rnn.{theirs}_l{layer}"] = tensors[f"param/layer{layer}.{ours}"]
    out["head.weight"] = tensors["param/head.w"]
    out["head.bias"] = tensors["param/head.b"]
    module = {"rnn": "RNN", "lstm": "LSTM", "gru": "GRU"}[cfg.cell]
    info = dict(format="torch", module=f"torch.nn.{module}", input_size=cfg.embed, hidden_size=cfg.hidden,
                num_layers=cfg.layers, nonlinearity="tanh" if cfg.cell == "rnn" else None,
                vocab=vocab, unit=meta.get("unit", "char"), model=cfg.to_dict(), step=meta.get("step"))
    return out, info
