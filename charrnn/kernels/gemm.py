"""The recurrent product of every time step, c = a w^T, with w packed once per window.

A training window multiplies the same recurrent weight (G*H, H) by a new state (B, H) at
each of its T steps, forward and backward. BLAS packs the weight again on every call, which
at B = 16-50 rows costs about as much as the arithmetic; here it is packed once per window
into panels of NR columns, (N/NR, K, NR), and each step only packs its few rows of `a` into
(M/MR, K, MR). A register tile of MR x NR outputs (tile_kernel) then runs the whole K loop
with its accumulators in vector registers, reading one panel row and MR broadcasts per k.

The tile is written in LLVM IR with explicit vectors, so its shape is chosen for the
machine: 16-float vectors where AVX-512 is available (32 registers: 8 x 2 vectors of
accumulators), 8 where AVX2 is (16 registers: 6 x 2), else 4 (6 x 2), by the flags of the
kernels' level (cpu.features(): the CPU's, or fewer under $CHARRNN_ISA). Numba caches compiled
code per CPU and target, so a cache is never used on a machine it was not compiled for.

Precision follows the scratch: the public names below (pack_weight, pack_rows, matmul_packed,
packed_views, matmul, packed_size, scratch_size) run the float32/float64 kernels of this
module when the scratch (or the packed arrays) have the data's float dtype, and those of
gemm_bf16.py when they are np.uint16 (bf16 bits; data and c stay float32). The choice is made
when a caller is compiled (numba's overload), so a cell kernel compiles in bf16 unchanged,
and costs nothing per call.
"""

import numpy as np
from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic, overload

from . import cpu, gemm_bf16
from .jit import FASTMATH, kernel


def tile_shape(features: dict) -> tuple[int, int, int]:
    """(vector bytes, rows MR, vectors per row) for a CPU with these LLVM feature flags."""
    if features.get("avx512f"):
        return 64, 8, 2
    if features.get("avx2") and features.get("fma"):
        return 32, 6, 2
    return 16, 6, 2


VECTOR_BYTES, MR, VECTORS = tile_shape(cpu.features())


def make_tile_kernel(vector_bytes: int, rows: int, vectors: int):
    """An intrinsic tile(c, c_at, ldc, ap, a_at, wp, w_at, K, accumulate): for r < rows and
    n < NR, c[c_at + r*ldc + n] (plus its own value when accumulate) = the sum over k < K of
    ap[a_at + k*rows + r] * wp[w_at + k*NR + n], NR = vectors * (lanes per vector). All arrays
    are 1-D, of one float dtype."""

    @intrinsic
    def tile(typingctx, c, c_at, ldc, ap, a_at, wp, w_at, K, accumulate):
        sig = types.void(c, types.intp, types.intp, ap, types.intp, wp, types.intp, types.intp, types.boolean)

        def codegen(context, builder, signature, args):
            c_arr, ap_arr, wp_arr = (context.make_array(signature.args[i])(context, builder, args[i])
                                     for i in (0, 3, 5))
            c_at_, ldc_, a_at_, w_at_, k_count = args[1], args[2], args[4], args[6], args[7]
            itemsize = signature.args[0].dtype.bitwidth // 8
            lanes = vector_bytes // itemsize
            scalar = context.get_value_type(signature.args[0].dtype)
            vec = ir.VectorType(scalar, lanes)
            nr = vectors * lanes
            intp = context.get_value_type(types.intp)
            const = lambda v: ir.Constant(intp, v)  # noqa: E731
            zero = ir.Constant(vec, [0.0] * lanes)
            keep = context.cast(builder, args[8], types.boolean, types.boolean)
            # fmuladd: one FMA where the level has them, else a multiply and an add (llvm.fma
            # would call the C library's fma for every lane)
            fma = cgutils.get_or_insert_function(builder.module, ir.FunctionType(vec, [vec] * 3),
                                                 f"llvm.fmuladd.v{lanes}{'f32' if itemsize == 4 else 'f64'}")
            c_base = builder.gep(c_arr.data, [c_at_])
            c_ptrs = [builder.bitcast(builder.gep(builder.gep(c_base, [builder.mul(const(r), ldc_)]),
                                                  [const(v * lanes)]), vec.as_pointer())
                      for r in range(rows) for v in range(vectors)]
            accs = [cgutils.alloca_once(builder, vec) for _ in range(rows * vectors)]
            for acc, ptr in zip(accs, c_ptrs):
                builder.store(builder.select(keep, builder.load(ptr, align=itemsize), zero), acc)
            a_base = builder.gep(ap_arr.data, [a_at_])
            w_base = builder.gep(wp_arr.data, [w_at_])
            with cgutils.for_range(builder, k_count) as loop:
                k = loop.index
                w_row = builder.gep(w_base, [builder.mul(k, const(nr))])
                w_vecs = [builder.load(builder.bitcast(builder.gep(w_row, [const(v * lanes)]), vec.as_pointer()),
                                       align=itemsize)
                          for v in range(vectors)]
                a_row = builder.gep(a_base, [builder.mul(k, const(rows))])
                for r in range(rows):
                    a = builder.load(builder.gep(a_row, [const(r)]))
                    splat = builder.shuffle_vector(builder.insert_element(ir.Constant(vec, ir.Undefined), a,
                                                                          ir.Constant(ir.IntType(32), 0)),
                                                   ir.Constant(vec, ir.Undefined),
                                                   ir.Constant(ir.VectorType(ir.IntType(32), lanes), [0] * lanes))
                    for v in range(vectors):
                        acc = accs[r * vectors + v]
                        builder.store(builder.call(fma, [splat, w_vecs[v], builder.load(acc)]), acc)
            for acc, ptr in zip(accs, c_ptrs):
                builder.store(builder.load(acc), ptr, align=itemsize)
            return context.get_dummy_value()

        return sig, codegen

    return tile


tile_kernel = make_tile_kernel(VECTOR_BYTES, MR, VECTORS)


def panel_width(dtype) -> int:
    """NR, the columns of a weight panel, for arrays of `dtype`."""
    return VECTORS * VECTOR_BYTES // np.dtype(dtype).itemsize


def padded(n: int, multiple: int) -> int:
    return -(-n // multiple) * multiple


@kernel
def _pack_weight_float(wp, w, transposed):
    """Pack W for matmul_packed: wp (P, K, NR) with wp[p, k, n] = W[p*NR + n, k], where W is w
    (N, K), or w^T when `transposed` (w is (K, N)); zero where p*NR + n >= N."""
    P, K, NR = wp.shape
    N = w.shape[1] if transposed else w.shape[0]
    for p in range(P):
        n_valid = min(NR, N - p * NR)
        if transposed:
            for k in range(K):
                row, src = wp[p, k], w[k]
                for n in range(n_valid):
                    row[n] = src[p * NR + n]
                for n in range(n_valid, NR):
                    row[n] = 0
        else:
            for n in range(n_valid):
                src = w[p * NR + n]
                for k in range(K):
                    wp[p, k, n] = src[k]
            for k in range(K):
                for n in range(n_valid, NR):
                    wp[p, k, n] = 0


@kernel
def _pack_rows_float(ap, a, transposed):
    """Pack A for matmul_packed: ap (Q, K, MR) with ap[q, k, r] = A[q*MR + r, k], where A is
    a (M, K), or a^T when `transposed` (a is (K, M)); zero where q*MR + r >= M.
    The copies run over the constant MR, so each ap[q, k] is written as one vector."""
    Q, K, _ = ap.shape
    M = a.shape[1] if transposed else a.shape[0]
    full = M // MR
    if transposed:
        for k in range(K):
            src = a[k]
            for q in range(full):
                dst = ap[q, k]
                for r in range(MR):
                    dst[r] = src[q * MR + r]
    else:
        for q in range(full):
            block = a[q * MR:(q + 1) * MR]
            for k in range(K):
                dst = ap[q, k]
                for r in range(MR):
                    dst[r] = block[r, k]
    for q in range(full, Q):
        for k in range(K):
            dst = ap[q, k]
            for r in range(MR):
                m = q * MR + r
                if m >= M:
                    dst[r] = 0
                elif transposed:
                    dst[r] = a[k, m]
                else:
                    dst[r] = a[m, k]


@kernel
def _matmul_packed_float(c, ap, wp, edge, accumulate):
    """c (M, N) = A W^T, or c += A W^T when `accumulate`, from ap (Q, K, MR) and wp (P, K, NR)
    packed by pack_rows and pack_weight (Q*MR >= M, P*NR >= N). edge (MR*NR,) is scratch for
    the tiles that overhang c's last rows or columns."""
    Q, K, rows = ap.shape
    P, _, NR = wp.shape
    M, N = c.shape
    ldc = c.strides[0] // c.itemsize
    c_flat, a_flat, w_flat = c.reshape(-1), ap.reshape(-1), wp.reshape(-1)
    for p in range(P):
        n_valid = min(NR, N - p * NR)
        for q in range(Q):
            m_valid = min(rows, M - q * rows)
            if m_valid == rows and n_valid == NR:
                tile_kernel(c_flat, q * rows * ldc + p * NR, ldc, a_flat, q * K * rows, w_flat, p * K * NR, K,
                            accumulate)
            else:
                if accumulate:
                    for r in range(m_valid):
                        for n in range(n_valid):
                            edge[r * NR + n] = c[q * rows + r, p * NR + n]
                tile_kernel(edge, 0, NR, a_flat, q * K * rows, w_flat, p * K * NR, K, accumulate)
                for r in range(m_valid):
                    for n in range(n_valid):
                        c[q * rows + r, p * NR + n] = edge[r * NR + n]


# Blocking of matmul: a weight panel of KC x NR (32 KB in float32 with AVX-512) stays in L1
# while the tiles of MC rows pass over it; the MC x KC block of A (64 KB) stays in L2.
KC, MC = 256, 64


def packed_size(M: int, N: int, K: int, dtype) -> int:
    """Elements of scratch that packed_views needs for a (M, K) and w (N, K); dtype is the
    scratch's (np.uint16 for bf16)."""
    if np.dtype(dtype) == np.uint16:
        return gemm_bf16.packed_size(M, N, K)
    return padded(M, MR) * K + padded(N, panel_width(dtype)) * K + MR * panel_width(dtype)


@kernel
def _packed_views_float(scratch, M, N, K):
    """(ap, wp, edge): views of scratch (1-D, packed_size(M, N, K) elements or more) for
    matmul_packed with A (M, K) and W (N, K), when W is packed once for many products."""
    NR = VECTORS * VECTOR_BYTES // scratch.itemsize
    Q, P = (M + MR - 1) // MR, (N + NR - 1) // NR
    w_end = P * K * NR
    a_end = w_end + Q * K * MR
    return (scratch[w_end:a_end].reshape((Q, K, MR)), scratch[:w_end].reshape((P, K, NR)),
            scratch[a_end:a_end + MR * NR])


def scratch_size(M: int, N: int, K: int, dtype) -> int:
    """Elements of scratch that matmul needs for c (M, N) with inner dimension K; dtype is
    the scratch's (np.uint16 for bf16)."""
    if np.dtype(dtype) == np.uint16:
        return gemm_bf16.scratch_size(M, N, K)
    NR = panel_width(dtype)
    kc = min(K, KC)
    return padded(min(M, MC), MR) * kc + padded(N, NR) * kc + MR * NR


@kernel
def _matmul_float(c, a, w, a_transposed, w_transposed, scratch):
    """c (M, N) = A W^T: A is a (M, K), or a^T when a_transposed; W is w (N, K), or w^T when
    w_transposed. scratch (1-D) holds at least scratch_size(M, N, K) elements."""
    M, N = c.shape
    K = a.shape[0] if a_transposed else a.shape[1]
    NR = VECTORS * VECTOR_BYTES // c.itemsize
    P = (N + NR - 1) // NR
    edge = scratch[:MR * NR]
    free = scratch[MR * NR:]
    for k0 in range(0, K, KC):
        kc = min(KC, K - k0)
        wp = free[:P * kc * NR].reshape((P, kc, NR))
        _pack_weight_float(wp, w[k0:k0 + kc] if w_transposed else w[:, k0:k0 + kc], w_transposed)
        for m0 in range(0, M, MC):
            mc = min(MC, M - m0)
            Q = (mc + MR - 1) // MR
            ap = free[P * kc * NR:P * kc * NR + Q * kc * MR].reshape((Q, kc, MR))
            _pack_rows_float(ap, a[k0:k0 + kc, m0:m0 + mc] if a_transposed else a[m0:m0 + mc, k0:k0 + kc],
                             a_transposed)
            _matmul_packed_float(c[m0:m0 + mc], ap, wp, edge, k0 > 0)


# The public names: called from Python they pick the kernel by the array's dtype; compiled
# into a caller, the overloads pick it from the array's type.
_DISPATCH_OPTIONS = {"fastmath": FASTMATH, "error_model": "numpy"}


def _is_bf16(array) -> bool:
    """Whether an array (a NumPy array or a Numba array type) holds bf16 bits."""
    dtype = array.dtype
    return dtype == types.uint16 if isinstance(dtype, types.Type) else dtype == np.uint16


def pack_weight(wp, w, transposed):
    """Pack W (w (N, K), or w^T when `transposed`) into wp: _pack_weight_float for a float wp,
    gemm_bf16.pack_weight for a uint16 one."""
    (gemm_bf16.pack_weight if _is_bf16(wp) else _pack_weight_float)(wp, w, transposed)


def pack_rows(ap, a, transposed):
    """Pack A (a (M, K), or a^T when `transposed`) into ap: _pack_rows_float for a float ap,
    gemm_bf16.pack_rows for a uint16 one."""
    (gemm_bf16.pack_rows if _is_bf16(ap) else _pack_rows_float)(ap, a, transposed)


def matmul_packed(c, ap, wp, edge, accumulate):
    """c (M, N) = A W^T, or c += A W^T when `accumulate`, from the views packed_views made:
    _matmul_packed_float for float ones, gemm_bf16.matmul_packed for uint16 ones."""
    (gemm_bf16.matmul_packed if _is_bf16(ap) else _matmul_packed_float)(c, ap, wp, edge, accumulate)


def packed_views(scratch, M, N, K):
    """(ap, wp, edge) for A (M, K) and W (N, K) in scratch: _packed_views_float for a float
    scratch, gemm_bf16.packed_views for a uint16 one."""
    return (gemm_bf16.packed_views if _is_bf16(scratch) else _packed_views_float)(scratch, M, N, K)


def matmul(c, a, w, a_transposed, w_transposed, scratch):
    """c (M, N) = A W^T (A is a (M, K), or a^T when a_transposed; W is w (N, K), or w^T when
    w_transposed): _matmul_float for a float scratch, gemm_bf16.matmul for a uint16 one."""
    (gemm_bf16.matmul if _is_bf16(scratch) else _matmul_float)(c, a, w, a_transposed, w_transposed, scratch)


@overload(pack_weight, jit_options=_DISPATCH_OPTIONS, inline="always")
def _pack_weight_typed(wp, w, transposed):
    impl = gemm_bf16.pack_weight if _is_bf16(wp) else _pack_weight_float
    return lambda wp, w, transposed: impl(wp, w, transposed)


@overload(pack_rows, jit_options=_DISPATCH_OPTIONS, inline="always")
def _pack_rows_typed(ap, a, transposed):
    impl = gemm_bf16.pack_rows if _is_bf16(ap) else _pack_rows_float
    return lambda ap, a, transposed: impl(ap, a, transposed)


@overload(matmul_packed, jit_options=_DISPATCH_OPTIONS, inline="always")
def _matmul_packed_typed(c, ap, wp, edge, accumulate):
    impl = gemm_bf16.matmul_packed if _is_bf16(ap) else _matmul_packed_float
    return lambda c, ap, wp, edge, accumulate: impl(c, ap, wp, edge, accumulate)


@overload(packed_views, jit_options=_DISPATCH_OPTIONS, inline="always")
def _packed_views_typed(scratch, M, N, K):
    impl = gemm_bf16.packed_views if _is_bf16(scratch) else _packed_views_float
    return lambda scratch, M, N, K: impl(scratch, M, N, K)


@overload(matmul, jit_options=_DISPATCH_OPTIONS, inline="always")
def _matmul_typed(c, a, w, a_transposed, w_transposed, scratch):
    impl = gemm_bf16.matmul if _is_bf16(scratch) else _matmul_float
    return lambda c, a, w, a_transposed, w_transposed, scratch: impl(c, a, w, a_transposed, w_transposed, scratch)


