"""Products of a few rows with a weight matrix, for sampling, without BLAS.

Generating one character reads every weight once for a handful of arithmetic operations, so
the speed is that of streaming the weights from cache or memory. A loop over the weight rows,
four at a time, accumulating into the few output rows (which stay in L1), streams the weights
at the cache's bandwidth (95 GB/s from L3 on one Zen 5 core, measured), where a BLAS GEMM call
with one row is slower and costs a call each; and leaving BLAS out of sampling spares loading
SciPy at start-up.
"""

import numpy as np
from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic, overload

from .bf16 import widen_bf16
from .jit import FASTMATH, kernel


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


# Compressed weights for generation. Reading every weight once per character is what
# generation costs, so weights stored in fewer bytes make it faster as long as widening them
# back to float32 keeps up with the cache: bf16 (2 bytes) and int8 with a float32 scale per
# output column (1 byte). The products below are written as explicit 16-float vectors, so
# they run on 512-bit registers where the kernels' level has them (LLVM's own vectoriser
# keeps to 256 bits on Intel server CPUs), and as two 256-bit or four 128-bit ones at the
# avx2 and sse levels (kernels/cpu.py): per 16 weights one widening load, one conversion and
# one FMA per row of v. Both read v and accumulate in float32; only the weights are compressed.

ROWS = 8  # rows of the weight read per pass over the output rows, which stay in L1
_LANES = 16
_F32X16 = ir.VectorType(ir.FloatType(), _LANES)


def make_rows_update(weight_bits: int, rows: int):
    """An intrinsic update(out, v, wt, k, vectors): for b < B and j < 16*vectors,
    out[b, j] += the sum over r < rows of v[b, k + r] * float(wt[k + r, j]), where wt is
    uint16 bf16 bits (weight_bits 16: widened exactly by shifting into a float's upper
    half) or int8 (weight_bits 8: converted to its integer value). out and v are float32
    (B, .) with unit stride along their rows, as is wt (K, N)."""
    whole = ir.VectorType(ir.IntType(weight_bits), _LANES)
    wide = ir.VectorType(ir.IntType(32), _LANES)
    dtype = types.uint16 if weight_bits == 16 else types.int8

    def widen(builder, packed):
        if weight_bits == 16:
            bits = builder.shl(builder.zext(packed, wide), ir.Constant(wide, [16] * _LANES))
            return builder.bitcast(bits, _F32X16)
        return builder.sitofp(packed, _F32X16)

    @intrinsic
    def rows_update(typingctx, out, v, wt, k, vectors):
        if wt.dtype != dtype:
            return None
        sig = types.void(out, v, wt, types.intp, types.intp)

        def codegen(context, builder, signature, args):
            out_arr, v_arr, w_arr = (context.make_array(signature.args[i])(context, builder, args[i]) for i in range(3))
            k_, vector_count = args[3], args[4]
            intp = context.get_value_type(types.intp)
            const = lambda value: ir.Constant(intp, value)  # noqa: E731
            batch = cgutils.unpack_tuple(builder, out_arr.shape)[0]
            out_stride = builder.sdiv(cgutils.unpack_tuple(builder, out_arr.strides)[0], const(4))
            v_stride = builder.sdiv(cgutils.unpack_tuple(builder, v_arr.strides)[0], const(4))
            w_stride = builder.sdiv(cgutils.unpack_tuple(builder, w_arr.strides)[0], const(weight_bits // 8))
            # one FMA where the level has them, else a multiply and an add (see gemm.py)
            fma = cgutils.get_or_insert_function(builder.module, ir.FunctionType(_F32X16, [_F32X16] * 3),
                                                 "llvm.fmuladd.v16f32")
            undefined = ir.Constant(_F32X16, ir.Undefined)
            w_rows = [builder.gep(w_arr.data, [builder.mul(builder.add(k_, const(r)), w_stride)]) for r in range(rows)]
            with cgutils.for_range(builder, vector_count) as column:
                j = builder.mul(column.index, const(_LANES))
                weights = [widen(builder, builder.load(builder.bitcast(builder.gep(row, [j]), whole.as_pointer()),
                                                       align=weight_bits // 8))
                           for row in w_rows]
                with cgutils.for_range(builder, batch) as item:
                    b = item.index
                    out_ptr = builder.bitcast(builder.gep(out_arr.data, [builder.add(builder.mul(b, out_stride), j)]),
                                              _F32X16.as_pointer())
                    v_row = builder.gep(v_arr.data, [builder.add(builder.mul(b, v_stride), k_)])
                    total = builder.load(out_ptr, align=4)
                    for r in range(rows):
                        scalar = builder.load(builder.gep(v_row, [const(r)]))
                        first = builder.insert_element(undefined, scalar, ir.Constant(ir.IntType(32), 0))
                        splat = builder.shuffle_vector(first, undefined, ir.Constant(wide, [0] * _LANES))
                        total = builder.call(fma, [splat, weights[r], total])
                    builder.store(total, out_ptr, align=4)
            return context.get_dummy_value()

        return sig, codegen

    return rows_update


_bf16_rows, _bf16_row = make_rows_update(16, ROWS), make_rows_update(16, 1)
_int8_rows, _int8_row = make_rows_update(8, ROWS), make_rows_update(8, 1)


@kernel
def add_matmul_bf16(out, v, wt):
    """out (B, N) float32 += v (B, K) float32 @ wt (K, N), wt holding bf16 bits (uint16),
    a weight stored transposed; widened to float32 as it is read."""
    B, K = v.shape
    N = wt.shape[1]
    vectors = N // _LANES
    k = 0
    while k + ROWS <= K:
        _bf16_rows(out, v, wt, k, vectors)
        k += ROWS
    while k < K:
        _bf16_row(out, v, wt, k, vectors)
        k += 1
    for b in range(B):
        for j in range(vectors * _LANES, N):
            total = out[b, j]
            for kk in range(K):
                total += v[b, kk] * widen_bf16(wt[kk, j])
            out[b, j] = total


@kernel
def add_matmul_int8(out, v, wt_q, scale, acc):
    """out (B, N) float32 += (v (B, K) float32 @ wt_q (K, N) int8) * scale (N,) float32, the
    weight stored transposed and quantised per output column (quantize_int8). The products
    of the integer weights are summed first, in acc (B, N) float32 (scratch), and each sum is
    scaled once."""
    B, K = v.shape
    N = wt_q.shape[1]
    vectors = N // _LANES
    acc[:] = 0
    k = 0
    while k + ROWS <= K:
        _int8_rows(acc, v, wt_q, k, vectors)
        k += ROWS
    while k < K:
        _int8_row(acc, v, wt_q, k, vectors)
        k += 1
    for b in range(B):
        for j in range(vectors * _LANES, N):
            total = np.float32(0.0)
            for kk in range(K):
                total += v[b, kk] * np.float32(wt_q[kk, j])
            acc[b, j] = total
        row, sums = out[b], acc[b]
        for j in range(N):
            row[j] += sums[j] * scale[j]


def quantize_int8(wt: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(wt_q (K, N) int8, scale (N,) float32) with wt ~ wt_q * scale for wt (K, N) float:
    per output column j, scale[j] = max_k |wt[k, j]| / 127 and wt_q = wt / scale rounded to
    the nearest integer (ties to even), so |wt_q| <= 127 and each weight is off by at most
    scale / 2. A column of zeros gets scale 0 and zeros. Raises ValueError on non-finite
    weights."""
    wt = np.asarray(wt, np.float32)
    if not np.isfinite(wt).all():
        raise ValueError("cannot quantise non-finite weights")
    scale = (np.abs(wt).max(axis=0, initial=0) / np.float32(127)).astype(np.float32)
    divisor = np.where(scale > 0, scale, np.float32(1))
    wt_q = np.clip(np.rint(wt / divisor), -127, 127).astype(np.int8)
    return wt_q, scale


def add_weights(out, v, wt, scale, acc):
    """out (B, N) += v (B, K) @ W for a weight W stored transposed for generation as wt (K, N):
    float (add_matmul), bf16 bits (uint16: add_matmul_bf16) or int8 with scale (N,) per
    column (add_matmul_int8, which sums in acc (B, N)); scale and acc are not read for the
    other two. The choice is made when a caller compiles, from wt's dtype."""
    if wt.dtype == np.uint16:
        add_matmul_bf16(out, v, wt)
    elif wt.dtype == np.int8:
        add_matmul_int8(out, v, wt, scale, acc)
    else:
        add_matmul(out, v, wt)


@overload(add_weights, jit_options={"fastmath": FASTMATH, "error_model": "numpy"})
def _add_weights(out, v, wt, scale, acc):
    if wt.dtype == types.uint16:
        return lambda out, v, wt, scale, acc: add_matmul_bf16(out, v, wt)
    if wt.dtype == types.int8:
        return lambda out, v, wt, scale, acc: add_matmul_int8(out, v, wt, scale, acc)
    return lambda out, v, wt, scale, acc: add_matmul(out, v, wt)
