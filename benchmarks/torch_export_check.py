#!/usr/bin/env python3
"""Check that `charrnn checkpoints export --format torch` loads into torch.nn modules and
scores a text exactly as charrnn does. Needs two interpreters: charrnn's and one with torch.

    python benchmarks/torch_export_check.py CKPT [--text "..."] [--torch-python /tmp/torchenv/bin/python]
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile

TORCH_SIDE = r'''
import json, sys, torch
from safetensors import safe_open
from safetensors.torch import load_file
path, text = sys.argv[1], sys.argv[2]
t = load_file(path)
with safe_open(path, "pt") as f:
    info = json.loads(f.metadata()["charrnn"])
V = len(info["vocab"])
emb = torch.nn.Embedding(V, info["input_size"])
rnn = getattr(torch.nn, info["module"].split(".")[-1])(info["input_size"], info["hidden_size"], info["num_layers"])
head = torch.nn.Linear(info["hidden_size"], V)
for name, m in (("emb", emb), ("rnn", rnn), ("head", head)):
    m.load_state_dict({k.split(".", 1)[1]: v for k, v in t.items() if k.startswith(name + ".")})
ids = torch.tensor([[info["vocab"].index(c)] for c in text])
with torch.no_grad():
    logp = torch.log_softmax(head(rnn(emb(ids))[0])[:, 0, :].double(), -1)
print(-logp[torch.arange(len(text) - 1), ids[1:, 0]].sum().item())
'''


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("ckpt")
    ap.add_argument("--text", default="DUKE ORSINO:\nGood morrow, fair lady.")
    ap.add_argument("--torch-python", default="/tmp/torchenv/bin/python")
    args = ap.parse_args()
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    import charrnn

    score = charrnn.load(args.ckpt).score(args.text)
    ours = score["nats_per_char"] * score["chars"]  # the summed loss
    with tempfile.TemporaryDirectory() as tmp:
        exported = os.path.join(tmp, "model.safetensors")
        subprocess.run([sys.executable, "-m", "charrnn", "checkpoints", "export", args.ckpt, "-o", exported],
                       check=True, stdout=subprocess.DEVNULL)
        theirs = float(subprocess.run([args.torch_python, "-c", TORCH_SIDE, exported, args.text], check=True,
                                      capture_output=True, text=True).stdout)
    rel = abs(ours - theirs) / abs(theirs)
    print(json.dumps(dict(charrnn_nll=ours, torch_nll=theirs, relative_difference=rel)))
    sys.exit(0 if rel < 1e-5 else 1)


if __name__ == "__main__":
    main()
