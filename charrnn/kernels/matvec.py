"""Products of a few rows with a weight matrix, for sampling, without BLAS.

Generating one character reads every weight once for a handful of arithmetic operations, so
the speed is that of streaming the weights from cache or memory. A loop over the weight rows,
four at a time, accumulating into the few output rows (which stay in L1), streams the weights
at the cache's bandwidth (95 GB/s from L3 on one Zen 5 core, measured), where a BLAS GEMM call
with one row is slower and costs a call each; and leaving BLAS out of sampling spares loading
SciPy at start-up.
"""

from .jit import kernel


@kernel
def add_matmul(out, v, wt):
    """out (B, N) += v (B, K) @ wt (K, N), wt being a weight stored transposed (K, N)."""
    B, K = v.shape
    N = wt.shape[1]
    k = 0
    while k + 4 <= K:
        r0, r1, r2, r3 = wt[k], wt[k + 1], wt[k + 2], wt[k + 3]
        for b in range(B):
            a0, a1, a2, a3 = v[b, k], v[b, k + 1], v[b, k + 2], v[b, k + 3]
            acc = out[b]
            for j in range(N):
                acc[j] += a0 * r0[j] + a1 * r1[j] + a2 * r2[j] + a3 * r3[j]
        k += 4
    while k < K:
        r0 = wt[k]
        for b in range(B):
            a0 = v[b, k]
            acc = out[b]
            for j in range(N):
                acc[j] += a0 * r0[j]
        k += 1
