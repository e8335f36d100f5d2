#!/usr/bin/env python3
"""How fast one core streams weights through generation's product, in GB/s.

    python benchmarks/weight_bandwidth.py [--reps 5] [--products 300] [--sizes 512x1024,...]

Sampling one character reads every weight once (charrnn/kernels/matvec.py: add_matmul, one
row against a transposed weight), so its speed is the rate at which a core reads the
weights from its caches or memory. This times that kernel on float32 weights of 2 to 12 MB
(an LSTM 2x256 has 2.1 MB of them per character, a 2x512 12.6 MB) and prints the median of
--reps timings of a few hundred products each, as GB/s of weights read: the ceiling of
one-thread sampling for a model of that size.
"""
import argparse
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from charrnn import runtime  # noqa: E402

runtime.prepare()  # before Numba is imported: kernels cache in the user's cache, not the package

import numpy as np  # noqa: E402

from charrnn.kernels.matvec import add_matmul  # noqa: E402

SHAPES = ((512, 1024), (768, 1024), (1024, 1024), (1024, 2048), (1536, 2048))


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--reps", type=int, default=5)
    p.add_argument("--products", type=int, default=300, help="products per timing")
    p.add_argument("--sizes", default=",".join(f"{K}x{N}" for K, N in SHAPES), help="the weights' K x N")
    args = p.parse_args()
    rng = np.random.default_rng(0)
    print("weights (K x N)   MB     us/product   GB/s")
    for K, N in (map(int, size.split("x")) for size in args.sizes.split(",")):
        wt = rng.standard_normal((K, N)).astype(np.float32)
        v = rng.standard_normal((1, K)).astype(np.float32)
        out = np.zeros((1, N), np.float32)
        add_matmul(out, v, wt)  # compile, and bring the weights into cache as generation would
        times = []
        for _ in range(args.reps):
            start = time.perf_counter()
            for _ in range(args.products):
                add_matmul(out, v, wt)
            times.append((time.perf_counter() - start) / args.products)
        seconds = statistics.median(times)
        print(f"{K:5d} x {N:<5d} {wt.nbytes / 1e6:8.1f} {seconds * 1e6:12.1f} {wt.nbytes / seconds / 1e9:7.1f}")


if __name__ == "__main__":
    main()
