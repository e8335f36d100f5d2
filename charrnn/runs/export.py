"""Export to PyTorch's names and import from them. charrnn's layer weights already use
PyTorch's layout ((G*H, In), gates i, f, g, o or r, z, n), so both are a renaming: `emb`
(nn.Embedding), `rnn` (nn.RNN/LSTM/GRU) and `head` (nn.Linear)."""

from __future__ import annotations

import numpy as np

from ..errors import CheckpointError, ConfigError
from ..model.config import GATES, ModelConfig
from ..text.vocab import Vocab

_LAYER_NAMES = (("wx", "weight_ih"), ("wh", "weight_hh"), ("bx", "bias_ih"), ("bh", "bias_hh"))
_MODULES = {"rnn": "RNN", "lstm": "LSTM", "gru": "GRU"}


def torch_names(cfg: ModelConfig) -> dict[str, str]:
    """charrnn's parameter name -> PyTorch's, in the order of the flat buffer."""
    names = {"embed": "emb.weight"}
    for layer in range(cfg.layers):
        names.update({f"layer{layer}.{ours}": f"rnn.{theirs}_l{layer}" for ours, theirs in _LAYER_NAMES})
    return {**names, "head.w": "head.weight", "head.b": "head.bias"}


def torch_tensors(tensors: dict[str, np.ndarray], meta: dict) -> tuple[dict[str, np.ndarray], dict]:
    """Tensors named for `emb` (nn.Embedding), `rnn` (nn.RNN/LSTM/GRU, batch_first irrelevant)
    and `head` (nn.Linear), and metadata describing how to build those modules."""
    try:
        cfg = ModelConfig.from_dict(meta["model"])
        vocab = list(meta["vocab"])
    except (KeyError, TypeError, ConfigError) as exc:
        raise CheckpointError(f"the checkpoint lacks the model description ({exc})") from None
    if cfg.zoneout:
        raise ConfigError("this model uses zoneout, which torch.nn.LSTM/GRU cannot run (at evaluation each unit "
                          "keeps a fraction of its previous state), so it would score differently in PyTorch; "
                          "it is not exported")
    out = {theirs: tensors[f"param/{ours}"] for ours, theirs in torch_names(cfg).items()}
    info = dict(format="torch", module=f"torch.nn.{_MODULES[cfg.cell]}", input_size=cfg.embed,
                hidden_size=cfg.hidden, num_layers=cfg.layers, nonlinearity="tanh" if cfg.cell == "rnn" else None,
                vocab=vocab, unit=meta.get("unit", "char"), model=cfg.to_dict(), step=meta.get("step"))
    return out, info


def from_torch(tensors: dict[str, np.ndarray], meta: dict, vocab: Vocab | None = None
               ) -> tuple[ModelConfig, Vocab, dict[str, np.ndarray]]:
    """The model of a PyTorch state dict in the export's layout: (config, vocabulary, tensors
    `param/<name>`). The vocabulary comes from `vocab` or the file's metadata (an export's);
    the shape from the metadata, or else from the tensors (G*H rows per layer say the cell:
    4H an LSTM, 3H a GRU, H a plain RNN). CheckpointError for anything that does not fit."""
    try:
        if vocab is None:
            vocab = Vocab.from_meta(meta)
        if isinstance(meta.get("model"), dict):
            cfg = ModelConfig.from_dict(dict(meta["model"], vocab_size=len(vocab)))
        else:
            V, E = tensors["emb.weight"].shape
            GH, H = tensors["rnn.weight_hh_l0"].shape
            cell = {G: cell for cell, G in GATES.items()}.get(GH // H) if GH % H == 0 else None
            if cell is None:
                raise ConfigError(f"rnn.weight_hh_l0 has shape {(GH, H)}, not that of an RNN, LSTM or GRU")
            layers = sum(1 for name in tensors if name.startswith("rnn.weight_hh_l"))
            cfg = ModelConfig(cell=cell, vocab_size=len(vocab), hidden=H, layers=layers, embed=E)
    except (KeyError, TypeError, ValueError, ConfigError, CheckpointError) as exc:
        raise CheckpointError(f"not a model in the export's layout ({exc})") from None
    names = torch_names(cfg)
    expected = {names[name]: shape for name, shape in cfg.param_shapes().items()}
    problems = [f"{name} is {'missing' if name not in tensors else f'of shape {tensors[name].shape}'}, expected "
                f"{shape}" for name, shape in expected.items()
                if name not in tensors or tensors[name].shape != shape]
    extra = sorted(set(tensors) - set(expected))
    if problems or extra:
        raise CheckpointError(f"the tensors do not fit a {cfg.cell} {cfg.layers}x{cfg.hidden} model for "
                              f"{len(vocab)} symbols: {'; '.join(problems[:2] or [f'unexpected {extra[0]}'])}")
    params = {f"param/{ours}": np.asarray(tensors[theirs], np.float32) for ours, theirs in names.items()}
    return cfg, vocab, params
