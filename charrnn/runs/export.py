"""Export to PyTorch's names and import from them. charrnn's layer weights already use
PyTorch's layout ((G*H, In), gates i, f, g, o or r, z, n), so both are a renaming: `emb`
(nn.Embedding), `rnn` (nn.RNN/LSTM/GRU) and `head` (nn.Linear)."""

from __future__ import annotations

import re
from dataclasses import replace

import numpy as np

from ..errors import CheckpointError, ConfigError
from ..model.config import GATES, REGULARISERS, ModelConfig
from ..text.vocab import Vocab
from .checkpoint import non_finite
from .model_file import ModelFile

_LAYER_NAMES = (("wx", "weight_ih"), ("wh", "weight_hh"), ("bx", "bias_ih"), ("bh", "bias_hh"))
_MODULES = {"rnn": "RNN", "lstm": "LSTM", "gru": "GRU"}


def torch_names(cfg: ModelConfig) -> dict[str, str]:
    """charrnn's parameter name -> PyTorch's, in the order of the flat buffer."""
    names = {"embed": "emb.weight"}
    for layer in range(cfg.layers):
        names.update({f"layer{layer}.{ours}": f"rnn.{theirs}_l{layer}" for ours, theirs in _LAYER_NAMES})
    return {**names, "head.w": "head.weight", "head.b": "head.bias"}


def torch_tensors(model_file: ModelFile) -> tuple[dict[str, np.ndarray], dict]:
    """The model of a checkpoint read by model_file.read_model, as tensors named for `emb`
    (nn.Embedding), `rnn` (nn.RNN/LSTM/GRU, batch_first irrelevant) and `head` (nn.Linear),
    and metadata describing how to build those modules."""
    cfg, meta = model_file.config, model_file.meta
    weights = model_file.weights
    if cfg.zoneout:
        raise ConfigError("this model uses zoneout, which torch.nn.LSTM/GRU cannot run (at evaluation each unit "
                          "keeps a fraction of its previous state), so it would score differently in PyTorch; "
                          "it is not exported")
    out = {theirs: weights[f"param/{ours}"] for ours, theirs in torch_names(cfg).items()}
    info = dict(format="torch", module=f"torch.nn.{_MODULES[cfg.cell]}", input_size=cfg.embed,
                hidden_size=cfg.hidden, num_layers=cfg.layers, nonlinearity="tanh" if cfg.cell == "rnn" else None,
                **model_file.vocab.to_meta(), model=cfg.to_dict(), step=meta.get("step"))
    return out, info


def from_torch(tensors: dict[str, np.ndarray], meta: dict, vocab: Vocab | None = None
               ) -> tuple[ModelConfig, Vocab, dict[str, np.ndarray]]:
    """The model of a PyTorch state dict in the export's layout: (config, vocabulary, tensors
    `param/<name>`). The vocabulary comes from `vocab` or the file's metadata (an export's).
    The shape comes from the tensors (G*H rows per layer say the cell: 4H an LSTM, 3H a GRU,
    H a plain RNN); whatever the metadata says of it must agree, and it must describe no
    variant charrnn lacks (a relu RNN, no biases, bidirectional, projections). CheckpointError
    for anything that does not fit."""
    if any(name.startswith("param/") for name in tensors):
        raise CheckpointError("it is a charrnn checkpoint already (its tensors are named param/...), not a PyTorch "
                              "state dict: sample, eval and train --init-from take it as it is")
    try:
        if vocab is None:
            vocab = Vocab.from_meta(meta)
        cfg = _shape_of(tensors, len(vocab))
        if isinstance(meta.get("model"), dict):  # an export's: the regularisers it was trained with come too
            cfg = replace(cfg, **{k: v for k, v in ModelConfig.from_dict(meta["model"]).to_dict().items()
                                  if k in ("dropout", *REGULARISERS)})
    except (KeyError, TypeError, ValueError, ConfigError, CheckpointError) as exc:
        raise CheckpointError(f"not a model in the export's layout ({exc})") from None
    _check_description(cfg, meta)
    names = torch_names(cfg)
    expected = {names[name]: shape for name, shape in cfg.param_shapes().items()}
    problems = [f"{name} is {'missing' if name not in tensors else f'of shape {tensors[name].shape}'}, expected "
                f"{shape}" for name, shape in expected.items()
                if name not in tensors or tensors[name].shape != shape]
    extra = sorted(set(tensors) - set(expected))
    if problems or extra:
        raise CheckpointError(f"the tensors do not fit a {cfg.cell} {cfg.layers}x{cfg.hidden} model for "
                              f"{len(vocab)} symbols: {'; '.join(problems[:2] or [f'unexpected {extra[0]}'])}")
    with np.errstate(over="ignore"):  # a float64 beyond float32's range becomes infinity, refused below
        float32 = {theirs: np.asarray(tensors[theirs], np.float32) for theirs in names.values()}
    problem = non_finite(float32)
    if problem:
        raise CheckpointError(f"{problem} in float32, which charrnn computes in")
    return cfg, vocab, {f"param/{ours}": float32[theirs] for ours, theirs in names.items()}


def _shape_of(tensors: dict[str, np.ndarray], vocab_size: int) -> ModelConfig:
    """The model the tensors hold (ConfigError or KeyError where they hold none): its size
    bounded by theirs, whatever a file's metadata claims."""
    embedding, recurrent = tensors["emb.weight"].shape, tensors["rnn.weight_hh_l0"].shape
    if len(embedding) != 2 or len(recurrent) != 2 or 0 in recurrent:
        raise ConfigError(f"emb.weight has shape {embedding} and rnn.weight_hh_l0 {recurrent}, not matrices")
    GH, H = recurrent
    cell = {G: cell for cell, G in GATES.items()}.get(GH // H) if GH % H == 0 else None
    if cell is None:
        raise ConfigError(f"rnn.weight_hh_l0 has shape {(GH, H)}, not that of an RNN, LSTM or GRU")
    layers = sum(1 for name in tensors if re.fullmatch(r"rnn\.weight_hh_l\d+", name))
    return ModelConfig(cell=cell, vocab_size=vocab_size, hidden=H, layers=layers, embed=embedding[1])


def _check_description(cfg: ModelConfig, meta: dict) -> None:
    """CheckpointError where the metadata describes another model than the tensors hold, or a
    variant of the module that charrnn does not have."""
    model = meta.get("model") if isinstance(meta.get("model"), dict) else {}
    claims = [("module", meta.get("module"), f"torch.nn.{_MODULES[cfg.cell]}"),
              ("num_layers", meta.get("num_layers"), cfg.layers), ("hidden_size", meta.get("hidden_size"), cfg.hidden),
              ("input_size", meta.get("input_size"), cfg.embed), ("model.cell", model.get("cell"), cfg.cell),
              ("model.layers", model.get("layers"), cfg.layers), ("model.hidden", model.get("hidden"), cfg.hidden),
              ("model.embed", model.get("embed"), cfg.embed)]
    wrong = [f"{key} {said!r} where the tensors hold {held!r}" for key, said, held in claims
             if said is not None and said != held]
    if wrong:
        raise CheckpointError(f"its metadata contradicts its tensors: {'; '.join(wrong[:3])}")
    variants = [("nonlinearity", ("tanh", None), "charrnn's RNN cell is tanh"),
                ("bias", (True,), "charrnn's cells have biases"),
                ("bidirectional", (False,), "charrnn reads forwards"),
                ("proj_size", (0,), "charrnn's LSTM has no projection")]
    for key, supported, why in variants:
        if key in meta and meta[key] not in supported:
            raise CheckpointError(f"its metadata says {key} {meta[key]!r}, which charrnn cannot import ({why})")
