#!/usr/bin/env python3
"""Text quality per CPU-minute: charrnn's defaults against the best recipe a PyTorch user would
reach, at equal training time, on several corpora; validation bits/char on the last 10%.

    python benchmarks/quality.py [--corpora tinyshakespeare,plays,pystdlib] [--budgets 120,600,1800]
                                 [--seeds 0,1] [--impls charrnn,charrnn-before,torch-awd] [--threads 2]
    python benchmarks/quality.py --impls charrnn-before --variant "dropout=--hidden 256 --dropout 0.3" ...
    python benchmarks/quality.py --table benchmarks/results/quality-*.jsonl

Implementations, each given only the budget, the seed and the threads:
- charrnn: `charrnn train FILE --time S` (its defaults: the recipe chosen for the budget);
- charrnn-before: the defaults before the budget chose the recipe (LSTM 2x256, no dropout,
  constant learning rate): what charrnn trains when a size is given;
- torch-awd: benchmarks/torch_awd.py (AWD-LSTM regularisers, cosine schedule, AdamW) on
  PyTorch's fastest path here (bf16 autocast where the CPU has bf16 dot products), its size
  chosen by the rule charrnn uses (charrnn/recipe.py) fed with PyTorch's own measured speed.
--variant LABEL=FLAGS (repeatable) adds charrnn trained with FLAGS besides the budget, seed
and threads, as implementation "variant LABEL": the ablation of the recipe's parts.
Corpora: ../shared/corpora/tinyshakespeare.txt, corpora/plays.txt, and this Python's standard
library: the .py files at the top of its Lib folder, concatenated in sorted order; or the
path of any text file. --work, --results and --quiet-wait (see run.py) let
tests/test_benchmarks.py run it on a tiny text.
Runs go round-robin (seed, then budget, then corpus, then implementation), each after a
quiet spell; results append to benchmarks/results/quality-<date>.jsonl and the table gives
medians over seeds. charrnn's figure is the validation of the model it keeps as best, and
the last validation beside it; PyTorch's is its validation at the end.
"""
import argparse
import glob
import json
import os
import statistics
import sys
import sysconfig
import tempfile
import time

from run import ROOT, TORCH_PY, cpu_has_bf16, machine, run_case

sys.path.insert(0, ROOT)
from charrnn.model.config import ModelConfig  # noqa: E402
from charrnn.training import recipe  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
WORK = os.path.join(tempfile.gettempdir(), "charrnn-quality")
QUIET_WAIT = 120.0  # seconds each run waits at most for a quiet machine
CORPORA = {"tinyshakespeare": os.path.normpath(os.path.join(ROOT, "..", "shared", "corpora", "tinyshakespeare.txt")),
           "plays": os.path.join(ROOT, "corpora", "plays.txt")}
BEFORE = "--hidden 256 --layers 2"  # a size given: the defaults as they were before the budget chose
NATS_PER_BIT = 0.6931471805599453


def corpus_path(name):
    if name not in CORPORA and name != "pystdlib":
        return name  # a file's path
    if name != "pystdlib":
        return CORPORA[name]
    lib = sysconfig.get_paths()["stdlib"]
    version = ".".join(map(str, sys.version_info[:2]))
    path = os.path.join(WORK, f"pystdlib-{version}.txt")
    if not os.path.exists(path):
        os.makedirs(WORK, exist_ok=True)
        with open(path + ".tmp", "w", encoding="utf-8") as out:
            for source in sorted(glob.glob(os.path.join(lib, "*.py"))):
                with open(source, encoding="utf-8") as f:
                    out.write(f.read())
        os.replace(path + ".tmp", path)
    return path


def torch_size(corpus, seconds, threads, sizes):
    """The size charrnn's rule picks for PyTorch: its probe is torch_awd.py's own chars/s."""
    def speed(layers, hidden):
        key = (corpus, hidden, layers, threads)
        if key not in sizes:
            argv = [TORCH_PY, os.path.join(HERE, "torch_awd.py"), "--data", corpus_path(corpus), "--hidden",
                    str(hidden), "--layers", str(layers), "--iters", "12", "--threads", str(threads),
                    "--seq", str(recipe.SEQ), "--batch", str(recipe.BATCH), "--no-val"]
            argv += ["--bf16"] if cpu_has_bf16() else []
            sizes[key] = run_case(argv, dict(os.environ), QUIET_WAIT)["train_chars_per_sec"]
        return sizes[key]

    with open(corpus_path(corpus), encoding="utf-8") as f:
        text = f.read()

    def params(layers, hidden):
        return ModelConfig("lstm", len(set(text)), hidden, layers).n_params()

    return recipe.choose(seconds, int(len(text) * 0.9), speed, params, {})


def case_argv(impl, corpus, seconds, seed, threads, run_dir, sizes, variants):
    data = corpus_path(corpus)
    if impl in ("charrnn", "charrnn-before") or impl in variants:
        flags = BEFORE.split() if impl == "charrnn-before" else variants.get(impl, "").split()
        return [sys.executable, "-m", "charrnn", "train", data, "--time", f"{seconds:g}s", "--seed", str(seed),
                "--threads", str(threads), "--out", run_dir, "--overwrite", "--json"] + flags, None
    chosen = torch_size(corpus, seconds, threads, sizes)
    o = chosen.options
    argv = [TORCH_PY, os.path.join(HERE, "torch_awd.py"), "--data", data, "--seconds", f"{seconds:g}", "--seed",
            str(seed), "--threads", str(threads), "--hidden", str(o["hidden"]), "--layers", str(o["layers"]),
            "--batch", str(recipe.BATCH), "--seq", str(recipe.SEQ)] + (["--bf16"] if cpu_has_bf16() else [])
    return argv, chosen.describe()


def value_of(impl, record, run_dir):
    """(the validation loss reported, the last validation) in nats/char."""
    if not impl.startswith("torch"):
        with open(os.path.join(run_dir, "metrics.jsonl")) as f:
            evals = [json.loads(line) for line in f if '"val_loss"' in line]
        return record.get("val_loss"), evals[-1]["val_loss"] if evals else None
    return record.get("val_loss_nats"), record.get("val_loss_nats")


def table(records):
    lines = ["| corpus | budget | charrnn defaults | charrnn last | before | PyTorch AWD | "
             "PyTorch - charrnn (nats) | seeds |", "|---|---|---|---|---|---|---|---|"]
    keys = list(dict.fromkeys((r["corpus"], r["seconds"]) for r in records))
    for corpus, seconds in keys:
        def med(impl, field="value"):
            vals = [r[field] for r in records if (r["corpus"], r["seconds"], r["impl"]) == (corpus, seconds, impl)
                    and r.get(field) is not None and r["foreign_cpu"] <= 0.25]
            return statistics.median(vals) if vals else None
        c, last, b, t = med("charrnn"), med("charrnn", "last"), med("charrnn-before"), med("torch-awd")
        seeds = len({r["seed"] for r in records if (r["corpus"], r["seconds"]) == (corpus, seconds)})
        lines.append(f"| {corpus} | {seconds / 60:g} min | {bpc(c)} | {bpc(last)} | {bpc(b)} | {bpc(t)} | "
                     f"{'-' if c is None or t is None else f'{t - c:+.3f}'} | {seeds} |")
    lines.append("\nbits/char (nats/char in brackets); medians over seeds.")
    variants = list(dict.fromkeys(r["impl"] for r in records if r["impl"].startswith("variant ")))
    if variants:
        lines += ["", "| corpus | budget | implementation | flags | val | last | against before (nats) | seeds |",
                  "|---|---|---|---|---|---|---|---|"]
        for corpus, seconds in keys:
            base = [r["value"] for r in records if (r["corpus"], r["seconds"], r["impl"])
                    == (corpus, seconds, "charrnn-before") and r["value"] is not None]
            for impl in ["charrnn-before", "charrnn", *variants]:
                rows = [r for r in records if (r["corpus"], r["seconds"], r["impl"]) == (corpus, seconds, impl)
                        and r["value"] is not None]
                if not rows:
                    continue
                v = statistics.median(r["value"] for r in rows)
                last = statistics.median(r["last"] for r in rows)
                flags = rows[0].get("flags", BEFORE if impl == "charrnn-before" else "")
                gain = f"{statistics.median(base) - v:+.3f}" if base else "-"
                lines.append(f"| {corpus} | {seconds / 60:g} min | {impl} | `{flags}` | {bpc(v)} | {bpc(last)} | "
                             f"{gain} | {len(rows)} |")
    return "\n".join(lines)


def bpc(nats):
    return "-" if nats is None else f"{nats / NATS_PER_BIT:.3f} ({nats:.3f})"


def main():
    global WORK, QUIET_WAIT
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--corpora", default="tinyshakespeare,plays,pystdlib")
    ap.add_argument("--budgets", default="120,600,1800", help="training seconds, comma separated")
    ap.add_argument("--seeds", default="0,1")
    ap.add_argument("--impls", default="charrnn,charrnn-before,torch-awd")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--variant", action="append", default=[], metavar="LABEL=FLAGS",
                    help="also train charrnn with these flags (the ablation), labelled")
    ap.add_argument("--table", nargs="+", metavar="RESULTS", help="print the table of results files and exit")
    ap.add_argument("--work", default=WORK, help="where the runs (and the pystdlib corpus) go")
    ap.add_argument("--results", default=os.path.join(HERE, "results"), help="the folder results append to")
    ap.add_argument("--quiet-wait", type=float, default=QUIET_WAIT,
                    help="the most seconds to wait for a quiet machine before each run")
    args = ap.parse_args()
    if args.table:
        records = [json.loads(line) for path in args.table for line in open(path) if line.strip()]
        print(table([r for r in records if r.get("kind") != "machine"]))
        return
    WORK, QUIET_WAIT = os.path.abspath(args.work), args.quiet_wait
    out_path = os.path.join(args.results, time.strftime("quality-%Y%m%d-%H%M%S") + ".jsonl")
    os.makedirs(os.path.dirname(out_path), exist_ok=True)
    with open(out_path, "a") as f:
        f.write(json.dumps(dict(kind="machine", **machine())) + "\n")
    records, sizes = [], {}
    variants = {f"variant {label}": flags for label, flags in (v.split("=", 1) for v in args.variant)}
    impls = [impl for impl in args.impls.split(",") if impl] + list(variants)
    for seed in map(int, args.seeds.split(",")):
        for seconds in map(float, args.budgets.split(",")):
            for corpus in args.corpora.split(","):
                for impl in impls:
                    label = os.path.basename(corpus)
                    run_dir = os.path.join(WORK, "runs", f"{impl.replace(' ', '-')}-{label}-{seconds:g}-{seed}")
                    argv, reason = case_argv(impl, corpus, seconds, seed, args.threads, run_dir, sizes, variants)
                    result = run_case(argv, dict(os.environ), QUIET_WAIT)
                    value, last = value_of(impl, result, run_dir) if result["rc"] == 0 else (None, None)
                    rec = dict({k: v for k, v in result.items() if not isinstance(v, (list, dict))}, corpus=corpus,
                               seconds=seconds, seed=seed, impl=impl, value=value, last=last, cmd=" ".join(argv))
                    if impl in variants:
                        rec["flags"] = variants[impl]
                    if reason:
                        rec["size_rule"] = reason
                    records.append(rec)
                    with open(out_path, "a") as f:
                        f.write(json.dumps(rec) + "\n")
                    print(f"seed {seed} {seconds:g}s {corpus} {impl}: {bpc(value)}"
                          + (f"  rc={result['rc']}" if result["rc"] else ""), file=sys.stderr, flush=True)
    print(f"Results: {os.path.relpath(out_path, ROOT)}")
    print(table(records))


if __name__ == "__main__":
    main()
