#!/usr/bin/env python3
"""bf16 on one core: the CPU's peak, the packed products at charrnn's shapes, where a training step's time
goes, and generation with compressed weights. Prints Markdown tables.

    python benchmarks/bf16_peak.py [--reps 7] [--aligned-c] [--hidden 256,512]

(a) Peak GFLOP/s of bare loops on registers, no memory traffic: AMX tdpbf16ps on tiles
    (6 accumulator tiles), AVX512-BF16 vdpbf16ps and float32 FMA on zmm registers (24
    accumulators each). 2 flops per multiply-add.
(b) GFLOP/s of the products of kernels/gemm.py, float32 tile against gemm_bf16's
    AVX512-BF16 tile and AMX: a recurrent step (pack_rows of the step's M rows, then
    matmul_packed against a weight packed once; both are in the time, as in a window), forward
    (N = 4H, K = H) and backward (N = H, K = 4H), and the window GEMMs of a training step of an
    LSTM with H = 256 and 512, 32 x 64 windows, V = 65 (matmul, packing included), with the fraction of the
    matching bare peak. c is allocated as the model allocates it (np.zeros) unless --aligned-c puts it on
    a cache line (the AMX path stores tiles in place only there).
(c) A training step of an LSTM 2xH (H = 256, 512; 32 x 64 windows; one thread) in fp32
    and bf16: the whole step against the sum of its products at the rates (b) measured,
    and the rest (gates, loss, Adam, data movement): the profile of where the time goes.
(d) Generation's products for the weights of one character of an LSTM (layer 0 fed by a
    projected table: wh0, then wx1 and wh1, then the head, V = 65; B = 1) with float32,
    bf16 and int8 weights: microseconds per character, characters per second and GB/s of
    weights read.

Each number is the median of --reps timings, the variants interleaved within each
repetition so that a slow moment of a shared machine falls on all of them alike. --hidden
gives the sizes H of (b), (c) and (d) (tests/test_benchmarks.py runs it with a tiny one).
"""
import argparse
import os
import platform
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from charrnn import runtime  # noqa: E402

runtime.prepare()  # before Numba is imported: kernels cache in the user's cache, not the package

import numba  # noqa: E402
import numpy as np  # noqa: E402
from llvmlite import ir  # noqa: E402
from numba import types  # noqa: E402
from numba.core import cgutils  # noqa: E402
from numba.extending import intrinsic  # noqa: E402

from charrnn.kernels import gemm_bf16  # noqa: E402
from charrnn.kernels.bf16 import to_bf16  # noqa: E402
from charrnn.kernels.gemm import (matmul, matmul_packed, pack_rows, pack_weight, packed_size,  # noqa: E402
                                  packed_views, scratch_size)
from charrnn.kernels.matvec import add_matmul, add_matmul_bf16, add_matmul_int8, quantize_int8  # noqa: E402

_F32X16 = ir.VectorType(ir.FloatType(), 16)
_I8 = ir.IntType(8)
ACCUMULATORS = 24
AMX_TILES = 6


def _vector_peak(instruction: str):
    """An intrinsic loop(seed, n): n rounds of ACCUMULATORS independent vdpbf16ps or FMAs
    on zmm registers; the sum of the accumulators goes to seed[0:16] so nothing is elided."""

    @intrinsic
    def loop(typingctx, seed, n):
        def codegen(context, builder, signature, args):
            data = builder.bitcast(context.make_array(signature.args[0])(context, builder, args[0]).data,
                                   _F32X16.as_pointer())
            x = builder.load(data, align=4)
            y = builder.load(builder.gep(data, [ir.Constant(ir.IntType(64), 1)]), align=4)
            if instruction == "bf16":
                operand = ir.VectorType(gemm_bf16._BFloat(), 32)
                x, y = builder.bitcast(x, operand), builder.bitcast(y, operand)
                fn = cgutils.get_or_insert_function(
                    builder.module, ir.FunctionType(_F32X16, [_F32X16, operand, operand]),
                    "llvm.x86.avx512bf16.dpbf16ps.512")
                step = lambda acc: builder.call(fn, [acc, x, y])  # noqa: E731
            else:
                fn = cgutils.get_or_insert_function(builder.module, ir.FunctionType(_F32X16, [_F32X16] * 3),
                                                    "llvm.fma.v16f32")
                step = lambda acc: builder.call(fn, [x, y, acc])  # noqa: E731
            accs = [cgutils.alloca_once_value(builder, ir.Constant(_F32X16, [0.0] * 16)) for _ in range(ACCUMULATORS)]
            with cgutils.for_range(builder, args[1]):
                for acc in accs:
                    builder.store(step(builder.load(acc)), acc)
            total = builder.load(accs[0])
            for acc in accs[1:]:
                total = builder.fadd(total, builder.load(acc))
            builder.store(total, data, align=4)
            return context.get_dummy_value()

        return types.void(seed, types.intp), codegen

    return loop


@intrinsic
def _amx_peak(typingctx, n):
    """n rounds of AMX_TILES independent tdpbf16ps on zeroed tiles (6 results, 2 sources)."""

    def codegen(context, builder, signature, args):
        void = ir.VoidType()
        zero = cgutils.get_or_insert_function(builder.module, ir.FunctionType(void, [_I8]), "llvm.x86.tilezero")
        dot = cgutils.get_or_insert_function(builder.module, ir.FunctionType(void, [_I8] * 3), "llvm.x86.tdpbf16ps")
        for tile in range(8):
            builder.call(zero, [ir.Constant(_I8, tile)])
        with cgutils.for_range(builder, args[0]):
            for tile in range(AMX_TILES):
                builder.call(dot, [ir.Constant(_I8, tile), ir.Constant(_I8, 6), ir.Constant(_I8, 7)])
        return context.get_dummy_value()

    return types.void(types.intp), codegen


_bf16_loop, _fma_loop = _vector_peak("bf16"), _vector_peak("fma")


@numba.njit
def bf16_peak(seed, n):
    _bf16_loop(seed, n)


@numba.njit
def fma_peak(seed, n):
    _fma_loop(seed, n)


@numba.njit
def amx_peak(n):
    gemm_bf16.amx_configure()
    _amx_peak(n)
    gemm_bf16.amx_release()


@numba.njit
def characters_fp32(outs, v, mats, n):
    """n characters' products with float32 weights (tuples of arrays, one per product)."""
    for _ in range(n):
        for i in range(len(mats)):
            add_matmul(outs[i], v, mats[i])


@numba.njit
def characters_bf16(outs, v, mats, n):
    for _ in range(n):
        for i in range(len(mats)):
            add_matmul_bf16(outs[i], v, mats[i])


@numba.njit
def characters_int8(outs, v, mats, scales, accs, n):
    for _ in range(n):
        for i in range(len(mats)):
            add_matmul_int8(outs[i], v, mats[i], scales[i], accs[i])


@numba.njit
def steps(c, a, ap, wp, edge, n):
    """n recurrent steps: pack the step's rows, multiply by the packed weight."""
    for _ in range(n):
        pack_rows(ap, a, False)
        matmul_packed(c, ap, wp, edge, False)


def median_rates(jobs: dict, reps: int) -> dict:
    """{name: (function, work)} -> {name: median of work / seconds}, variants interleaved."""
    for fn, _ in jobs.values():
        fn()
    times = {name: [] for name in jobs}
    for _ in range(reps):
        for name, (fn, _) in jobs.items():
            start = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - start)
    return {name: jobs[name][1] / statistics.median(times[name]) for name in jobs}


def new_c(shape, aligned: bool):
    return gemm_bf16.aligned_zeros(shape) if aligned else np.zeros(shape, np.float32)


def cpu_name() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def step_products(H: int, B: int, T: int, V: int) -> list:
    """(M, N, K, "step" or "window") of each product of one training step of an LSTM 2xH, in
    the order the step runs them: layer 0 from the character table, layer 1 from a window
    projection, the head over the window, then the backward of each."""
    G, TB = 4, T * B
    forward = [(V, G * H, H, "window")] + [(B, G * H, H, "step")] * T + [(TB, G * H, H, "window")] + \
        [(B, G * H, H, "step")] * T + [(TB, V, H, "window")]
    head_back = [(TB, H, V, "window"), (V, H, TB, "window")]
    layer1_back = [(B, H, G * H, "step")] * T + [(G * H, H, TB, "window")] * 2 + [(TB, H, G * H, "window")]
    layer0_back = [(B, H, G * H, "step")] * T + [(G * H, H, TB, "window"), (G * H, H, V, "window"),
                                                  (V, H, G * H, "window")]
    return forward + head_back + layer1_back + layer0_back


def step_profile(rate_of: dict, kinds: list, reps: int, hidden: list[int]):
    """(c) Where a training step's time goes: the whole step (Trainer.train_step, one thread,
    no dropout or averaging) against the time its products take at the rates (b) measured at
    the same shapes; the rest is the gates' elementwise work, the loss, clipping, Adam and the
    data movement between them."""
    from charrnn.model.config import ModelConfig
    from charrnn.training.config import TrainConfig
    from charrnn.training.trainer import Trainer

    B, T, V = 32, 64, 65
    ids = np.random.default_rng(0).integers(0, V, 400_000).astype(np.int32)
    print(f"\n| (c) training step, LSTM 2xH B{B} T{T} V{V}, one thread | kernel | ms per step "
          "| products, ms (share) | the rest, ms (share) |\n|---|---|---:|---:|---:|")
    for H in hidden:
        for precision in ("fp32", "bf16"):
            trainer = Trainer.new(ModelConfig(cell="lstm", vocab_size=V, hidden=H, layers=2),
                                  TrainConfig(batch=B, seq=T), ids[:-20_000], ids[-20_000:], threads=1,
                                  precision=precision)
            for _ in range(3):
                trainer.train_step()
            times = []
            for _ in range(max(reps, 5) * 3):
                t0 = time.perf_counter()
                trainer.train_step()
                times.append(time.perf_counter() - t0)
            step_ms = 1e3 * statistics.median(times)
            products_ms = 1e3 * sum(2 * M * N * K / rate_of[(M, N, K, where)][trainer.kernel]
                                    for M, N, K, where in step_products(H, B, T, V))
            rest_ms = step_ms - products_ms
            print(f"| 2x{H} {precision} | {trainer.kernel} | {step_ms:.1f} | {products_ms:.1f} "
                  f"({100 * products_ms / step_ms:.0f}%) | {rest_ms:.1f} ({100 * rest_ms / step_ms:.0f}%) |")


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--reps", type=int, default=7)
    p.add_argument("--aligned-c", action="store_true", help="put each output c on a cache line")
    p.add_argument("--hidden", default="256,512", help="comma list of the LSTM sizes H measured")
    args = p.parse_args()
    hidden = [int(h) for h in args.hidden.split(",")]
    import llvmlite.binding as llvm
    paths = gemm_bf16.available_paths()
    print(f"CPU: {cpu_name()} (LLVM: {llvm.get_host_cpu_name()}); bf16 paths here: {', '.join(paths) or 'none'}; "
          f"one thread; medians of {args.reps}; c {'on cache lines' if args.aligned_c else 'from np.zeros'}\n")
    if "avx512bf16" not in paths:
        print("No AVX512-BF16: nothing to measure in bf16.")
        return

    seed = np.ones(32, np.float32)
    peak_jobs = {"fp32 FMA (zmm)": (lambda: fma_peak(seed, 2_000_000), 2_000_000 * ACCUMULATORS * 32),
                 "AVX512-BF16 vdpbf16ps (zmm)": (lambda: bf16_peak(seed, 1_000_000), 1_000_000 * ACCUMULATORS * 64)}
    if "amx" in paths:
        peak_jobs["AMX tdpbf16ps (tiles)"] = (lambda: amx_peak(100_000), 100_000 * AMX_TILES * 16 * 16 * 32 * 2)
    peaks = {name: rate / 1e9 for name, rate in median_rates(peak_jobs, args.reps).items()}
    print("| (a) bare-register peak | GFLOP/s |\n|---|---:|")
    for name, rate in peaks.items():
        print(f"| {name} | {rate:.0f} |")
    peak_of = {"fp32": peaks["fp32 FMA (zmm)"], "avx512bf16": peaks["AVX512-BF16 vdpbf16ps (zmm)"],
               "amx": peaks.get("AMX tdpbf16ps (tiles)")}

    kinds = ["fp32"] + paths[::-1]
    rng = np.random.default_rng(0)

    def scratch_for(kind, size_of, *mnk):
        dtype = np.float32 if kind == "fp32" else np.uint16
        scratch = np.zeros(size_of(*mnk, dtype), dtype)
        if kind != "fp32":
            gemm_bf16.set_path(scratch, kind)
        return scratch

    def table(title, rows):
        print(f"\n| {title} | " + " | ".join(f"{k} GFLOP/s (% of peak)" for k in kinds) + " |")
        print("|---|" + "---:|" * len(kinds))
        for label, rates in rows:
            cells = [f"{rates[k] / 1e9:.0f} ({100 * rates[k] / 1e9 / peak_of[k]:.0f}%)" for k in kinds]
            print(f"| {label} | " + " | ".join(cells) + " |")

    rows, rate_of = [], {}
    for M in (16, 25, 32, 50):
        for N, K in [shape for H in hidden for shape in ((4 * H, H), (H, 4 * H))]:
            w = rng.standard_normal((N, K)).astype(np.float32)
            a = rng.standard_normal((M, K)).astype(np.float32)
            jobs = {}
            for kind in kinds:
                scratch = scratch_for(kind, packed_size, M, N, K)
                ap, wp, edge = packed_views(scratch, M, N, K)
                pack_weight(wp, w, False)
                c = new_c((M, N), args.aligned_c)
                n = max(1, int(3e8 / (2 * M * N * K)))
                jobs[kind] = (lambda c=c, ap=ap, wp=wp, edge=edge, n=n: steps(c, a, ap, wp, edge, n), 2 * M * N * K * n)
            rows.append((f"step M={M} N={N} K={K}", median_rates(jobs, args.reps)))
            rate_of[(M, N, K, "step")] = rows[-1][1]
    table("(b) recurrent step: pack_rows + matmul_packed", rows)

    rows = []
    T_B, V = 2048, 65
    for H in hidden:
        G = 4
        for M, N, K, a_t, w_t, what in ((T_B, G * H, H, False, False, "input projection"),
                                        (T_B, V, H, False, False, "head logits"),
                                        (V, G * H, H, False, False, "character table"),
                                        (G * H, H, T_B, True, True, "weight gradient dwh"),
                                        (T_B, H, G * H, False, True, "input gradient dx"),
                                        (T_B, H, V, False, True, "head dh"),
                                        (V, H, T_B, True, True, "head dw"),
                                        (V, H, G * H, False, True, "table dembed"),
                                        (G * H, H, V, True, True, "table dwx")):
            a = rng.standard_normal((K, M) if a_t else (M, K)).astype(np.float32)
            w = rng.standard_normal((K, N) if w_t else (N, K)).astype(np.float32)
            jobs = {}
            for kind in kinds:
                c = new_c((M, N), args.aligned_c)
                scratch = scratch_for(kind, scratch_size, M, N, K)
                jobs[kind] = (lambda c=c, a=a, w=w, s=scratch, a_t=a_t, w_t=w_t: matmul(c, a, w, a_t, w_t, s),
                              2 * M * N * K)
            label = f"H={H} {what} {M}x{N}x{K}" + (" (A, W transposed)" if a_t and w_t else
                                                   " (W transposed)" if w_t else "")
            rows.append((label, median_rates(jobs, args.reps)))
            rate_of[(M, N, K, "window")] = rows[-1][1]
    table("(b) window GEMM: matmul, packing included", rows)
    step_profile(rate_of, kinds, args.reps, hidden)

    print("\n| (d) generation, LSTM, weights per char | MB | us/char | chars/s | GB/s |\n|---|---:|---:|---:|---:|")
    for H in hidden:
        mats = [rng.standard_normal((H, 4 * H)).astype(np.float32) * 0.05 for _ in range(3)]
        mats.append(rng.standard_normal((H, 65)).astype(np.float32) * 0.05)
        v = rng.standard_normal((1, H)).astype(np.float32)
        outs = tuple(np.zeros((1, m.shape[1]), np.float32) for m in mats)
        accs = tuple(np.zeros((1, m.shape[1]), np.float32) for m in mats)
        bf = tuple(to_bf16(m) for m in mats)
        q = [quantize_int8(m) for m in mats]
        q_mats, q_scales = tuple(wq for wq, _ in q), tuple(s for _, s in q)
        n = 100
        jobs = {"float32": (lambda: characters_fp32(outs, v, tuple(mats), n), n),
                "bf16": (lambda: characters_bf16(outs, v, bf, n), n),
                "int8": (lambda: characters_int8(outs, v, q_mats, q_scales, accs, n), n)}
        sizes = {"float32": sum(m.nbytes for m in mats), "bf16": sum(m.nbytes for m in bf),
                 "int8": sum(wq.nbytes + s.nbytes for wq, s in q)}
        for name, chars_per_s in median_rates(jobs, args.reps).items():
            print(f"| 2x{H} {name} | {sizes[name] / 1e6:.2f} | {1e6 / chars_per_s:.1f} | {chars_per_s:.0f} | "
                  f"{sizes[name] * chars_per_s / 1e9:.1f} |")


if __name__ == "__main__":
    main()
