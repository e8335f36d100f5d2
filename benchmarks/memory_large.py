#!/usr/bin/env python3
"""Peak memory of `charrnn train` on a corpus far larger than what it should hold in memory.

    python benchmarks/memory_large.py [--size-gb 2] [--dir /tmp] [--steps 5] [--keep]

Writes a text file of --size-gb GB of random words (a few random blocks repeated in random
order: cheap to make, and the vocabulary pass and the encoding still read every byte), then
runs the real CLI as a child process, three times: on the first 64 MB of it (the baseline:
Python, Numba, the model, its gradients, optimiser moments and the workspaces of training and
validation windows, which do not depend on the corpus size), on the large file (which encodes
it into the run's id cache), and on the large file again (which reuses the cache).
For each it prints the child's peak resident memory (ru_maxrss from wait4) and the wall
time; the difference to the baseline is what the corpus size costs. Not a CI test: it needs
about 2x --size-gb of free disk (the text and its id cache) and a few minutes.
"""
import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BLOCK = 4 << 20  # bytes per distinct block of random words
BLOCKS = 8
BASELINE = 64 << 20  # bytes of the baseline corpus: enough for full-size validation windows


def make_words(rng: np.random.Generator, n: int = 5000) -> np.ndarray:
    letters = np.array(list("abcdefghijklmnopqrstuvwxyzéüñ"))
    lengths = rng.integers(1, 10, n)
    return np.array(["".join(rng.choice(letters, k)) for k in lengths])


def make_block(rng: np.random.Generator, words: np.ndarray) -> bytes:
    """About BLOCK bytes of words separated by spaces and, now and then, newlines."""
    picks = words[rng.integers(0, len(words), BLOCK // 5)]
    seps = np.where(rng.random(len(picks)) < 0.08, "\n", " ")
    text = "".join(np.char.add(picks, seps).tolist())
    return text.encode("utf-8")[:BLOCK].rsplit(b" ", 1)[0] + b"\n"


def write_corpus(path: str, size: int, seed: int = 0) -> int:
    rng = np.random.default_rng(seed)
    words = make_words(rng)
    blocks = [make_block(rng, words) for _ in range(BLOCKS)]
    written = 0
    with open(path, "wb") as f:
        while written < size:
            block = blocks[rng.integers(0, BLOCKS)]
            f.write(block)
            written += len(block)
    return written


def _status_kb(pid: int) -> dict[str, int]:
    try:
        with open(f"/proc/{pid}/status") as f:
            return {k: int(v.split()[0]) for k, v in (line.split(":", 1) for line in f) if v.strip().endswith("kB")}
    except (OSError, ValueError):
        return {}


def run_child(argv: list[str], logs: str) -> tuple[dict, dict, float]:
    """Run argv (output to files under `logs`, so no pipe can fill up). Returns its JSON
    summary; its peak resident memory in bytes: 'rss' from wait4's ru_maxrss, and, sampled
    from /proc every 20 ms, 'anon' (the process's own memory) and 'file' (pages of mapped
    files, such as the memory-mapped id cache: page cache the kernel can take back); and the
    wall seconds."""
    start = time.perf_counter()
    peak = dict(anon=0, file=0)
    with open(os.path.join(logs, "stdout"), "w+") as out, open(os.path.join(logs, "stderr"), "w+") as err:
        child = subprocess.Popen(argv, stdout=out, stderr=err, text=True)
        while True:
            pid, status, usage = os.wait4(child.pid, os.WNOHANG)
            if pid:
                break
            now = _status_kb(child.pid)
            peak["anon"] = max(peak["anon"], now.get("RssAnon", 0) * 1024)
            peak["file"] = max(peak["file"], now.get("RssFile", 0) * 1024)
            time.sleep(0.02)
        seconds = time.perf_counter() - start
        out.seek(0)
        err.seek(0)
        code = os.waitstatus_to_exitcode(status)
        if code != 0:
            sys.exit(f"{' '.join(argv)} failed ({code}):\n{err.read()}")
        peak["rss"] = usage.ru_maxrss * 1024  # Linux reports KiB
        return json.loads(out.read()), peak, seconds


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--size-gb", type=float, default=2.0, help="size of the generated text (GB)")
    p.add_argument("--dir", default=tempfile.gettempdir(), help="where the text and the runs go")
    p.add_argument("--steps", type=int, default=5, help="training steps per run")
    p.add_argument("--hidden", type=int, default=256)
    p.add_argument("--layers", type=int, default=2)
    p.add_argument("--val-frac", type=float, default=0.0005,
                   help="held-out fraction (its validation pass reads that much of the text)")
    p.add_argument("--keep", action="store_true", help="keep the text and the run directories")
    p.add_argument("--write", metavar="PATH", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.write:
        write_corpus(args.write, int(args.size_gb * 1e9))
        return

    work = tempfile.mkdtemp(prefix="charrnn-memory-", dir=args.dir)
    big, small = os.path.join(work, "big.txt"), os.path.join(work, "small.txt")
    try:
        size = int(args.size_gb * 1e9)
        free = shutil.disk_usage(work).free
        if free < 2.2 * size:
            sys.exit(f"{work} has {free / 1e9:.1f} GB free; this needs about {2.2 * size / 1e9:.1f} GB")
        t0 = time.perf_counter()
        # in a child, so that this process stays small: a child's peak RSS starts from its
        # parent's size at the fork
        subprocess.run([sys.executable, __file__, "--write", big, "--size-gb", str(args.size_gb)], check=True)
        written = os.path.getsize(big)
        print(f"wrote {written / 1e9:.2f} GB of random words to {big} in {time.perf_counter() - t0:.0f} s",
              flush=True)
        with open(big, "rb") as f:
            head = f.read(min(BASELINE, written // 4))
        with open(small, "wb") as f:
            f.write(head.rsplit(b"\n", 1)[0] + b"\n")

        def train(path: str, run: str, *more: str) -> tuple[dict, dict, float]:
            argv = [sys.executable, "-m", "charrnn", "train", path, "--hidden", str(args.hidden), "--layers",
                    str(args.layers), "--steps", str(args.steps), "--val-frac", str(args.val_frac), "--threads", "2",
                    "--out", os.path.join(work, run), "-q", "--json", *more]
            return run_child(argv, work)

        # the third run replaces the second (--overwrite), which keeps the run's id cache
        rows = [(f"{os.path.getsize(small) / 1e6:.0f} MB baseline", *train(small, "small")),
                (f"{written / 1e9:.1f} GB, encoding", *train(big, "big")),
                (f"{written / 1e9:.1f} GB, cache reused", *train(big, "big", "--overwrite"))]
        from charrnn.model.config import ModelConfig

        vocab = len(json.loads(open(os.path.join(work, "big", "cache", "ids.json"), encoding="utf-8").read())
                    ["vocab"]["vocab"])
        params = ModelConfig(cell="lstm", vocab_size=vocab, hidden=args.hidden, layers=args.layers).n_params()
        model_mb = params * 4 / 1e6
        print(f"\nLSTM {args.layers}x{args.hidden}, V={vocab}: {params:,} parameters = {model_mb:.1f} MB float32 "
              f"(x4 with gradients and Adam's two moments = {4 * model_mb:.1f} MB); {args.steps} steps, "
              f"--val-frac {args.val_frac}")
        print(f"{'run':<26} {'peak RSS':>9} {'over base':>10} {'anon':>8} {'file':>8} {'wall':>7}")
        base = rows[0][2]["rss"]
        for label, summary, peak, seconds in rows:
            print(f"{label:<26} {peak['rss'] / 1e6:>6.0f} MB {(peak['rss'] - base) / 1e6:>7.0f} MB "
                  f"{peak['anon'] / 1e6:>5.0f} MB {peak['file'] / 1e6:>5.0f} MB {seconds:>6.1f}s")
        print("peak RSS: ru_maxrss of the child; anon / file: peaks of its anonymous and file-backed "
              "resident memory, sampled every 20 ms")
        ids_size = os.path.getsize(os.path.join(work, "big", "cache", "ids.bin"))
        print(f"id cache: {ids_size / 1e9:.2f} GB ({os.path.join(work, 'big', 'cache')})")
    finally:
        if args.keep:
            print(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.path.insert(0, ROOT)
    main()
