#!/usr/bin/env python3
"""charrnn against the references in ../../shared/bench, in one run, interleaved.

    python benchmarks/run.py [--suites train,sample,cold,memory,quality,score] [--reps 3]
                             [--coretype asis,unset,Haswell] [--seconds 15] [--quality-seconds 600]
                             [--quality-recipe "--dropout 0.25"] [--impls charrnn,torch,...]
                             [--baseline DIR] [--threads 1,2] [--only TEXT,...]
                             [--data FILE] [--models DIR] [--results DIR] [--quiet-wait 120]

Every case runs --reps times, round-robin over all cases (rep 1 of everything, then rep 2,
...), each after waiting for a quiet machine; the table gives medians and the ratio
charrnn / reference. Each OPENBLAS_CORETYPE setting is a separate block ('asis' is the
environment as it is). Results append to benchmarks/results/<date>.jsonl; the table
is printed as Markdown. --quality-recipe adds, to the quality line, charrnn trained with other
flags in the same budget ('charrnn-recipe'), set against the same PyTorch runs.

Implementations: charrnn with its defaults (precision auto: bf16 products on AMX where the CPU
has it, bf16 weights for generation) and in fp32; PyTorch fp32 (oneDNN on, and for sampling
also off) and, where the CPU has bf16 dot products, PyTorch's mixed precision
(torch_ref.py --bf16). Each line's ratio is charrnn's defaults against the faster PyTorch
path. On (b), (c) and (e), charrnn's own PyTorch engine (--engine torch, on the CPU) too.
The score suite scores 1 MB of 30-120-character records (`charrnn score`, reset context) with
a 2x256 LSTM, charrnn (charrnn_bench.py --score) against benchmarks/torch_score.py, PyTorch's
batched scoring of the same records, and charrnn's training chars/s of the same model beside it.
--baseline DIR adds another checkout's charrnn (its benchmarks/charrnn_bench.py, its
defaults) as a column: before and after a change, in the same run.
--data, --models (where the cold line's models are kept), --results and --quiet-wait (the
longest wait for a quiet machine before each run) let tests/test_benchmarks.py run a few
charrnn cases of each suite on a tiny text.
"""
import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
BENCH = os.path.normpath(os.path.join(ROOT, "..", "shared", "bench"))
DATA = os.path.normpath(os.path.join(ROOT, "..", "shared", "corpora", "tinyshakespeare.txt"))
TORCH_PY = os.environ.get("TORCH_PY", "/tmp/torchenv/bin/python")
MODELS = "/tmp/charrnn-bench-models"
QUIET_WAIT = 120.0  # seconds run_case waits at most for a quiet machine

TRAIN = {  # line: flags shared by every implementation
    "(a) RNN 1x128 B32 T64": "--model rnn --hidden 128 --layers 1 --batch 32 --seq 64",
    "(b) LSTM 2x256 B32 T64": "--model lstm --hidden 256 --layers 2 --batch 32 --seq 64",
    "(c) LSTM 2x512 B50 T50": "--model lstm --hidden 512 --layers 2 --batch 50 --seq 50",
    "(d) LSTM 1x128 B1 T25": "--model lstm --hidden 128 --layers 1 --batch 1 --seq 25",
    "(e) GRU 2x256 B32 T64": "--model gru --hidden 256 --layers 2 --batch 32 --seq 64",
}
MEASURES = {"train": "train chars/s", "sample": "sample chars/s", "memory": "peak RSS, MB", "cold": "wall s",
            "quality": "val bits/char", "score": "score chars/s"}
SCORE = "--model lstm --hidden 256 --layers 2 --score 1048576"
MAX_FOREIGN_CPU = 0.25  # runs during which other processes used more cores than this are left out
QUALITY = "--model lstm --hidden 256 --layers 2 --batch 32 --seq 100 --lr 2e-3 --dropout 0.1 --clip 5 --threads 2"


BASELINE = None  # another checkout's root (--baseline)
# columns of the table, in order: (implementation, heading)
COLUMNS = [("charrnn", "charrnn"), ("charrnn-fp32", "charrnn fp32"), ("charrnn-baseline", "baseline"),
           ("charrnn-torch", "charrnn --engine torch"), ("torch", "PyTorch fp32"), ("torch-bf16", "PyTorch bf16")]


def cpu_has_bf16():
    flags = next((line.split(":", 1)[1].split() for line in open("/proc/cpuinfo") if line.startswith("flags")), [])
    return "avx512_bf16" in flags or "amx_bf16" in flags


def impl_argv(impl, flags):
    charrnn = [sys.executable, os.path.join(HERE, "charrnn_bench.py")]
    torch_ref = [TORCH_PY, os.path.join(BENCH, "torch_ref.py")]
    script = {"charrnn": charrnn,
              "charrnn-fp32": charrnn + ["--precision", "fp32", "--sample-precision", "fp32"],
              "charrnn-torch": charrnn + ["--engine", "torch"],
              "charrnn-baseline": [sys.executable, os.path.join(BASELINE or ".", "benchmarks", "charrnn_bench.py")],
              "torch": torch_ref,
              "torch-bf16": torch_ref + ["--bf16"],
              "torch-nomkldnn": torch_ref + ["--no-mkldnn"],
              "numpy": [sys.executable, os.path.join(BENCH, "numpy_ref.py")]}[impl]
    if "--score" in flags.split() and impl.startswith("torch"):  # PyTorch's scoring is a script of its own
        script = [TORCH_PY, os.path.join(HERE, "torch_score.py")] + (["--bf16"] if impl == "torch-bf16" else [])
    return script + ["--data", DATA] + flags.split()


def charrnn_impls():
    return ("charrnn", "charrnn-fp32") + (("charrnn-baseline",) if BASELINE else ())


def torch_impls():
    return ("torch", "torch-bf16") if cpu_has_bf16() else ("torch",)


def cases(suites, seconds, quality_seconds, quality_recipe="", thread_counts=(1, 2)):
    """(suite, line, impl, threads, argv, metric); the train and sample lines at each of
    `thread_counts`."""
    out = []
    if "train" in suites:
        for line, flags in TRAIN.items():
            impls = charrnn_impls() + torch_impls() + (("numpy",) if "GRU" not in line else ())
            if line[:3] in ("(b)", "(c)", "(e)"):  # charrnn's PyTorch engine on this CPU, for the record
                impls += ("charrnn-torch",)
            for threads in thread_counts:
                for impl in impls:
                    out.append(("train", line, impl, threads,
                                impl_argv(impl, f"{flags} --threads {threads} --seconds {seconds} --no-val"),
                                "train_chars_per_sec"))
    if "memory" in suites:
        for line in ("(b) LSTM 2x256 B32 T64", "(c) LSTM 2x512 B50 T50"):
            for impl in ("charrnn", "charrnn-fp32", "torch"):
                out.append(("memory", line, impl, 2, impl_argv(impl, f"{TRAIN[line]} --threads 2 --iters 30 --no-val"),
                            "max_rss_mb"))
    if "sample" in suites:
        for hidden in (256, 512):
            line = f"sample LSTM 2x{hidden} B1"
            for threads in thread_counts:
                for impl in charrnn_impls() + torch_impls() + ("torch-nomkldnn", "numpy"):
                    out.append(("sample", line, impl, threads,
                                impl_argv(impl, f"--model lstm --hidden {hidden} --layers 2 --iters 0 --no-val "
                                                f"--sample 3000 --threads {threads}"), "sample_chars_per_sec"))
        # N sequences at once (`charrnn sample --num-samples N`): the references have no such mode
        out.append(("sample", "sample LSTM 2x256, 16 streams at once", "charrnn", 1,
                    impl_argv("charrnn", "--model lstm --hidden 256 --layers 2 --iters 0 --no-val --sample 1000 "
                                         "--sample-streams 16 --threads 1"), "sample_chars_per_sec"))
    if "cold" in suites:
        out.append(("cold", "cold sample -n 200 (LSTM 2x256)", "charrnn", 1,
                    [sys.executable, "-m", "charrnn", "sample", f"{MODELS}/charrnn-lstm256x2.safetensors", "-n", "200",
                     "--seed", "1"], "wall_s"))
        out.append(("cold", "cold sample -n 200 (LSTM 2x256)", "torch", 1,
                    [TORCH_PY, os.path.join(BENCH, "torch_ref.py"), "--data", DATA, "--load",
                     f"{MODELS}/torch-lstm256x2.pt", "--iters", "0", "--no-val", "--sample", "200", "--threads", "1"],
                    "wall_s"))
    if "score" in suites:
        line = "score LSTM 2x256, 1 MB of 30-120-char records"
        for impl in charrnn_impls() + torch_impls():
            flags = f"{SCORE} --threads 2" + (" --iters 0 --no-val" if impl.startswith("charrnn") else "")
            out.append(("score", line, impl, 2, impl_argv(impl, flags), "score_chars_per_sec"))
        out.append(("score", "score LSTM 2x256: the same model's training (B32 T64)", "charrnn", 2,
                    impl_argv("charrnn", f"{TRAIN['(b) LSTM 2x256 B32 T64']} --threads 2 --seconds {seconds} "
                                         "--no-val"),
                    "train_chars_per_sec"))
    if "quality" in suites:
        line = f"quality LSTM 2x256 {quality_seconds:g}s (val bits/char)"
        for impl in ("charrnn",) + torch_impls():
            out.append(("quality", line, impl, 2, impl_argv(impl, f"{QUALITY} --seconds {quality_seconds}"), "val_bpc"))
        if quality_recipe:  # later flags override QUALITY's
            out.append(("quality", line, "charrnn-recipe", 2,
                        impl_argv("charrnn", f"{QUALITY} --seconds {quality_seconds} {quality_recipe}"), "val_bpc"))
    return out


def prepare_cold_models(impls):
    """The models the cold line samples from, for the implementations in `impls` (None: all)."""
    os.makedirs(MODELS, exist_ok=True)
    if not os.path.exists(f"{MODELS}/charrnn-lstm256x2.safetensors"):
        subprocess.run(impl_argv("charrnn", "--model lstm --hidden 256 --layers 2 --iters 0 --no-val")
                       + ["--save", f"{MODELS}/charrnn-lstm256x2.safetensors"], check=True, stdout=subprocess.DEVNULL)
    if (impls is None or "torch" in impls) and not os.path.exists(f"{MODELS}/torch-lstm256x2.pt"):
        subprocess.run(impl_argv("torch", "--model lstm --hidden 256 --layers 2 --iters 0 --no-val")
                       + ["--save", f"{MODELS}/torch-lstm256x2.pt"], check=True, stdout=subprocess.DEVNULL)
    # The cold line is measured with a warm kernel cache: one run to fill it.
    subprocess.run([sys.executable, "-m", "charrnn", "sample", f"{MODELS}/charrnn-lstm256x2.safetensors", "-n", "5"],
                   check=True, stdout=subprocess.DEVNULL)


def busy_jiffies():
    with open("/proc/stat") as f:
        values = [int(v) for v in f.readline().split()[1:]]
    return sum(values) - values[3] - values[4]


def wait_quiet(max_wait=120.0, threshold=0.15, need=2):
    """Wait until other processes use under `threshold` cores for `need` seconds in a row."""
    hz, start, calm = os.sysconf("SC_CLK_TCK"), time.time(), 0
    while time.time() - start < max_wait:
        before = busy_jiffies()
        time.sleep(1.0)
        calm = calm + 1 if (busy_jiffies() - before) / hz < threshold else 0
        if calm >= need:
            return True
    return False


def run_case(argv, env, quiet_wait=None):
    """Run one case after a quiet spell (waiting quiet_wait seconds at most, default
    QUIET_WAIT); its JSON record plus wall time, peak RSS and the CPU other processes used
    meanwhile (foreign_cpu, in cores), all from the OS."""
    quiet = wait_quiet(QUIET_WAIT if quiet_wait is None else quiet_wait)
    hz = os.sysconf("SC_CLK_TCK")
    with tempfile.TemporaryFile("w+") as out_f, tempfile.TemporaryFile("w+") as err_f:
        busy0, t0 = busy_jiffies(), time.perf_counter()
        proc = subprocess.Popen(argv, stdout=out_f, stderr=err_f, text=True, env=env, cwd=ROOT)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - t0
        busy = (busy_jiffies() - busy0) / hz
        out_f.seek(0)
        err_f.seek(0)
        out, err = out_f.read(), err_f.read()
    rc = os.waitstatus_to_exitcode(status)
    record = {}
    for line in out.splitlines():
        if line.startswith("{"):
            record = json.loads(line)
    own = usage.ru_utime + usage.ru_stime
    record.update(wall_s=round(wall, 3), rc=rc, started_quiet=quiet, max_rss_mb=round(usage.ru_maxrss / 1024, 1),
                  foreign_cpu=round(max(0.0, busy - own) / wall, 3))
    if rc != 0:
        record["stderr_tail"] = err[-1500:]
    return record


def machine():
    cpu = next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name")), "?")
    versions = {}
    for mod in ("numpy", "scipy", "numba"):
        try:
            versions[mod] = __import__(mod).__version__
        except ImportError:
            versions[mod] = None
    torch_v = subprocess.run([TORCH_PY, "-c", "import torch; print(torch.__version__)"], capture_output=True,
                             text=True).stdout.strip() if os.path.exists(TORCH_PY) else None
    return dict(cpu=cpu, cores=os.cpu_count(), python=platform.python_version(), torch=torch_v, **versions)


def table(records, coretypes):
    present = {r["impl"] for r in records} | {"charrnn"}  # a recipe's row shows in charrnn's column
    columns = [(impl, heading) for impl, heading in COLUMNS if impl in present]
    lines = []
    for coretype in coretypes:
        lines.append(f"\n**OPENBLAS_CORETYPE {coretype}**\n")
        lines.append("| line | measure | threads | " + " | ".join(heading for _, heading in columns)
                     + " | charrnn / faster PyTorch | NumPy | charrnn / NumPy |")
        lines.append("|---|---|---|" + "---|" * (len(columns) + 3))
        keys = []
        for r in records:
            key = (r["suite"], r["line"], r["threads"])
            if r["coretype"] == coretype and key not in keys:
                keys.append(key)
        for suite, line, threads in keys:
            def med(impl, recipe=None):
                vals = [r["value"] for r in records if (r["suite"], r["line"], r["threads"], r["impl"], r["coretype"])
                        == (suite, line, threads, impl, coretype) and r.get("recipe") == recipe
                        and r["value"] is not None and r["foreign_cpu"] <= MAX_FOREIGN_CPU]
                return statistics.median(vals) if vals else None
            values = {impl: med(impl) for impl, _ in columns}
            if suite == "sample":  # PyTorch fp32's faster sampling path is the reference
                values["torch"] = better(suite, values.get("torch"), med("torch-nomkldnn"))
            reference = better(suite, values.get("torch"), values.get("torch-bf16"))
            c, n = values.get("charrnn"), med("numpy")
            lines.append(f"| {line} | {MEASURES[suite]} | {threads} | "
                         + " | ".join(fmt(values[impl]) for impl, _ in columns)
                         + f" | {ratio(c, reference, suite)} | {fmt(n)} | {ratio(c, n, suite)} |")
            recipes = dict.fromkeys(r["recipe"] for r in records if r["impl"] == "charrnn-recipe"
                                    and (r["line"], r["threads"], r["coretype"]) == (line, threads, coretype))
            for flags in recipes:
                recipe = med("charrnn-recipe", flags)
                cells = [fmt(recipe)] + ["-"] * (len(columns) - 1)
                lines.append(f"| {line}, charrnn with {flags} | {MEASURES[suite]} | {threads} | " + " | ".join(cells)
                             + f" | {ratio(recipe, reference, suite)} | - | - |")
    return "\n".join(lines)


def better(suite, a, b):
    """The better of two figures (None where missing): lower for time, memory and bits/char."""
    known = [v for v in (a, b) if v is not None]
    if not known:
        return None
    return min(known) if suite in ("cold", "memory", "quality") else max(known)


def machine_line(info):
    return (f"Machine: {info['cpu']}, {info['cores']} cores; Python {info['python']}, numpy {info['numpy']}, "
            f"numba {info['numba']}, torch {info['torch']}; OPENBLAS_CORETYPE in the environment: "
            f"{info['openblas_coretype_env']}; suites {','.join(info['suites'])}, medians of {info['reps']} "
            f"interleaved runs, {info['seconds']:g} s training per throughput run (a quality line names its own "
            f"budget).")


def left_out_line(records):
    return (f"Runs during which other processes used over {MAX_FOREIGN_CPU} cores left out: "
            f"{sum(r['foreign_cpu'] > MAX_FOREIGN_CPU for r in records)} of {len(records)}.")


def fmt(v):
    if v is None:
        return "-"
    return f"{v / 1000:.1f}k" if v >= 10000 else (f"{v:.0f}" if v >= 100 else f"{v:.3f}")


def ratio(a, b, suite):
    if a is None or b is None or b == 0:
        return "-"
    # For time, memory and bits/char lower is better: show reference / charrnn so > 1 means charrnn wins.
    return f"{(b / a if suite in ('cold', 'memory', 'quality') else a / b):.2f}x"


def main():
    global BASELINE, DATA, MODELS, QUIET_WAIT
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--suites", default="train,sample,cold,memory")
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--coretype", default="asis,unset")
    ap.add_argument("--seconds", type=float, default=15)
    ap.add_argument("--quality-seconds", type=float, default=600)
    ap.add_argument("--quality-recipe", default="", metavar="FLAGS",
                    help="also train charrnn with these flags added for the quality line")
    ap.add_argument("--only", default="", help="comma list: run the cases whose suite and line ('cold sample ...', "
                    "'memory (b) LSTM ...') contain one of these")
    ap.add_argument("--threads", default="1,2", help="comma list of thread counts of the train and sample lines")
    ap.add_argument("--data", default=DATA, help="the text every case trains on")
    ap.add_argument("--models", default=MODELS, help="where the cold line's models are made and kept")
    ap.add_argument("--results", default=os.path.join(HERE, "results"), help="the folder results append to")
    ap.add_argument("--quiet-wait", type=float, default=QUIET_WAIT,
                    help="the most seconds to wait for a quiet machine before each run")
    ap.add_argument("--impls", default="", help="comma list of implementations to run (default: all)")
    ap.add_argument("--baseline", metavar="DIR", help="another checkout of charrnn to run beside this one")
    ap.add_argument("--table", nargs="+", metavar="RESULTS", help="print the table of results files and exit")
    args = ap.parse_args()
    BASELINE = os.path.abspath(args.baseline) if args.baseline else None
    DATA, MODELS, QUIET_WAIT = os.path.abspath(args.data), os.path.abspath(args.models), args.quiet_wait
    if args.table:
        records = [json.loads(line) for path in args.table for line in open(path) if line.strip()]
        machines = [r for r in records if r.get("kind") == "machine"]
        records = [r for r in records if r.get("kind") != "machine"]
        coretypes = list(dict.fromkeys(r["coretype"] for r in records))
        for info in machines:
            print(machine_line(info))
        print(left_out_line(records))
        print(table(records, coretypes))
        return
    suites = args.suites.split(",")
    coretypes = args.coretype.split(",")
    impls = args.impls.split(",") if args.impls else None
    only = args.only.split(",")
    thread_counts = tuple(int(t) for t in args.threads.split(","))
    todo = [c for c in cases(suites, args.seconds, args.quality_seconds, args.quality_recipe, thread_counts)
            if any(text in f"{c[0]} {c[1]}" for text in only) and (impls is None or c[2] in impls)]
    if any(case[0] == "cold" for case in todo):
        prepare_cold_models(impls)
    os.makedirs(args.results, exist_ok=True)
    out_path = os.path.join(args.results, time.strftime("%Y%m%d-%H%M%S") + ".jsonl")
    info = dict(machine(), openblas_coretype_env=os.environ.get("OPENBLAS_CORETYPE"), suites=suites,
                reps=args.reps, seconds=args.seconds)
    print(json.dumps(info), file=sys.stderr)
    with open(out_path, "a") as f:
        f.write(json.dumps(dict(kind="machine", **info)) + "\n")
    records = []
    for rep in range(args.reps):
        for coretype in coretypes:
            env = dict(os.environ)
            if coretype == "unset":
                env.pop("OPENBLAS_CORETYPE", None)
            elif coretype != "asis":
                env["OPENBLAS_CORETYPE"] = coretype
            for suite, line, impl, threads, argv, metric in todo:
                result = run_case(argv, env)
                value = result.get(metric)
                measured = {k: v for k, v in result.items() if not isinstance(v, (list, dict))}
                rec = dict(measured, suite=suite, line=line, impl=impl, threads=threads, coretype=coretype, rep=rep,
                           value=value, cmd=" ".join(argv))
                if impl == "charrnn-recipe":
                    rec["recipe"] = args.quality_recipe
                records.append(rec)
                with open(out_path, "a") as f:
                    f.write(json.dumps(rec) + "\n")
                print(f"rep {rep} {coretype:>7} {line} {impl} t{threads}: {fmt(value)}"
                      + (f"  rc={result['rc']}" if result["rc"] else ""), file=sys.stderr, flush=True)
    print(machine_line(info))
    print(f"{left_out_line(records)} Results: {os.path.relpath(out_path, ROOT)}")
    print(table(records, coretypes))


if __name__ == "__main__":
    main()
