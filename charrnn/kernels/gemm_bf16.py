"""bf16 versions of gemm.py's products: c (float32) = A W^T with A and W rounded to bf16
(round_bf16: nearest, ties to even) while they are packed, and float32 sums.

The calling pattern is gemm.py's (BLIS's names: MR x NR register tile, KC x MC blocks, packed
panels), and gemm.py dispatches to this module when the scratch, or the packed arrays, are
np.uint16: a cell kernel compiles in bf16 by being handed a uint16 scratch. All bf16 arrays
are np.uint16 bit patterns (bf16.py).

Packed layouts, shared by both paths (TILE = 16 = MR = NR, TILE_K = 32):
- W: panels of NR columns, K in pairs (the "VNNI" layout both instructions read):
  wp (P, Kp/2, 2 NR), wp[p, k2, 2n + j] = W[p NR + n, 2 k2 + j].
- A: rows as they are, ap (Mp, Kp), ap[m, k] = A[m, k].
Mp and Kp are M and K padded with zeros to multiples of TILE and TILE_K (an AMX tile is 16
rows of 32 bf16); zeros on both sides of the padding add nothing, even next to inf.

Two paths compute the product:
- AVX512-BF16 (vnni_tile): a 16 x 16 register tile, 16 vectors of 16 float32; each k-pair
  broadcasts one pair of A's row r and multiplies it into W's 16 pairs with vdpbf16ps.
- AMX (amx_block): a block of up to 2 x 2 tiles of 16 x 16 float32 (tmm0-3), fed by up to two
  16 x 32 tiles of A and two 16 x 16-pair tiles of W per 32 values of K, with tdpbf16ps.
  A step of the recurrence (M = 16 to 32 rows of A per thread) then reads each weight once.

Which path runs is a flag in the scratch, not a module global. Numba's cache keys compiled
code on the argument types and on the CPU's name and feature flags, so module constants that
come from those flags (HAS_AVX512_BF16, HAS_AMX: whether the instructions are compiled in)
are safe. Whether Linux lets this process use AMX is not among them, and the same process
must be able to run both paths (the tests do), so the first HEADER elements of every bf16
scratch are a header whose first element says which path to take: PATH_AVX512 (0, what
np.zeros gives) or PATH_AMX, written only by set_path once cpu.amx_permitted() said yes.
Reading it costs one load per product; AMX code runs only where both the flag asks for it and
the CPU had AMX when the code was compiled. Each AMX product loads its tile configuration
(ldtilecfg) and releases the tiles when it returns, so threads and other code never see
tile state they did not set.

On a CPU without AVX512-BF16 these kernels do not compile: typing stops with a
NotImplementedError (check_cpu) before any instruction is emitted; callers use float32.
"""

import llvmlite.binding as llvm
import numpy as np
from llvmlite import ir
from numba import types
from numba.core import cgutils, errors
from numba.extending import intrinsic

from . import cpu
from .bf16 import round_bf16
from .jit import kernel

FEATURES = llvm.get_host_cpu_features()
HAS_AVX512_BF16 = cpu.has_avx512_bf16(FEATURES)
HAS_AMX = HAS_AVX512_BF16 and cpu.has_amx_bf16(FEATURES)

TILE = 16
TILE_K = 32
HEADER = 32
EDGE = 4 * TILE * TILE
PATH_AVX512, PATH_AMX = 0, 1
PATHS = {"avx512bf16": PATH_AVX512, "amx": PATH_AMX}

# Blocking of matmul: a K block of W packed for every column (N x KC x 2 bytes: 1 MB for
# N = 2048) is read once per MC rows of A; the MC x KC block of A (64 KB) stays in L2 while
# two panels of W (2 x 16 x KC x 2 bytes = 16 KB) stay in L1 and meet every 32 rows of it.
KC, MC = 256, 128


def check_cpu(features: dict) -> None:
    """Raise NotImplementedError unless a CPU with these LLVM flags runs these kernels."""
    if not cpu.has_avx512_bf16(features):
        raise NotImplementedError("bf16 products need AVX512-BF16 (LLVM feature avx512bf16), "
                                  "which this CPU lacks; use float32")


def padded(n: int, multiple: int) -> int:
    return -(-n // multiple) * multiple


def available_paths() -> list[str]:
    """The paths this process can run, fastest first: "amx", "avx512bf16", or none."""
    path = cpu.bf16_path(FEATURES, HAS_AMX and cpu.amx_permitted())
    return [] if path is None else (["amx", "avx512bf16"] if path == "amx" else ["avx512bf16"])


def set_path(scratch: np.ndarray, path: str) -> None:
    """Make every product that is handed `scratch` (uint16, 1-D) use `path` ("amx" or
    "avx512bf16"); ValueError if this process cannot run it."""
    if path not in available_paths():
        raise ValueError(f"bf16 path {path!r} is not available here (available: {available_paths()})")
    scratch[0] = PATHS[path]


def path_of(scratch: np.ndarray) -> str:
    """The path that products handed `scratch` take."""
    return "amx" if HAS_AMX and scratch[0] == PATH_AMX else "avx512bf16"


class _BFloat(ir.Type):
    """LLVM's bfloat type, which llvmlite lacks: the element of vdpbf16ps's operands."""

    def _to_string(self):
        return "bfloat"

    def __eq__(self, other):
        return isinstance(other, _BFloat)

    def __hash__(self):
        return hash(_BFloat)


_VOID, _I8, _I32, _I64 = ir.VoidType(), ir.IntType(8), ir.IntType(32), ir.IntType(64)
_BYTES = _I8.as_pointer()
_F32X16, _I32X16, _BF16X32 = ir.VectorType(ir.FloatType(), 16), ir.VectorType(_I32, 16), ir.VectorType(_BFloat(), 32)


def _declare(builder, name, result, *args):
    return cgutils.get_or_insert_function(builder.module, ir.FunctionType(result, args), name)


def _i64(value):
    return ir.Constant(_I64, value)


def _tile_id(number):
    return ir.Constant(_I8, number)


@intrinsic
def vnni_tile(typingctx, c, c_at, ldc, ap, a_at, lda, wp, w_at, pairs, accumulate):
    """tile(c, c_at, ldc, ap, a_at, lda, wp, w_at, pairs, accumulate): for r, n < 16,
    c[c_at + r*ldc + n] (plus its own value when accumulate) = the sum over k < 2*pairs of
    ap[a_at + r*lda + k] * wp[w_at + (k // 2)*32 + 2n + k % 2]; c float32, ap and wp bf16."""
    check_cpu(FEATURES)
    sig = types.void(c, types.intp, types.intp, ap, types.intp, types.intp, wp, types.intp, types.intp,
                     types.boolean)

    def codegen(context, builder, signature, args):
        c_arr, ap_arr, wp_arr = (context.make_array(signature.args[i])(context, builder, args[i]) for i in (0, 3, 6))
        c_at_, ldc_, a_at_, lda_, w_at_, pair_count = args[1], args[2], args[4], args[5], args[7], args[8]
        keep = args[9]
        dot = _declare(builder, "llvm.x86.avx512bf16.dpbf16ps.512", _F32X16, _F32X16, _BF16X32, _BF16X32)
        c_base = builder.gep(c_arr.data, [c_at_])
        c_ptrs = [builder.bitcast(builder.gep(c_base, [builder.mul(_i64(r), ldc_)]), _F32X16.as_pointer())
                  for r in range(TILE)]
        zero = ir.Constant(_F32X16, [0.0] * 16)
        accs = [cgutils.alloca_once(builder, _F32X16) for _ in range(TILE)]
        for acc, ptr in zip(accs, c_ptrs):
            builder.store(builder.select(keep, builder.load(ptr, align=4), zero), acc)
        a_base = builder.gep(ap_arr.data, [a_at_])
        w_base = builder.gep(wp_arr.data, [w_at_])
        a_rows = [builder.gep(a_base, [builder.mul(_i64(r), lda_)]) for r in range(TILE)]
        with cgutils.for_range(builder, pair_count) as loop:
            k2 = loop.index
            w = builder.load(builder.bitcast(builder.gep(w_base, [builder.mul(k2, _i64(2 * TILE))]),
                                             _BF16X32.as_pointer()), align=2)
            for r in range(TILE):
                pair = builder.load(builder.bitcast(builder.gep(a_rows[r], [builder.mul(k2, _i64(2))]),
                                                    _I32.as_pointer()), align=2)
                splat = builder.shuffle_vector(builder.insert_element(ir.Constant(_I32X16, ir.Undefined), pair,
                                                                      ir.Constant(_I32, 0)),
                                               ir.Constant(_I32X16, ir.Undefined), ir.Constant(_I32X16, [0] * 16))
                acc = accs[r]
                builder.store(builder.call(dot, [builder.load(acc), builder.bitcast(splat, _BF16X32), w]), acc)
        for acc, ptr in zip(accs, c_ptrs):
            builder.store(builder.load(acc), ptr, align=4)
        return context.get_dummy_value()

    return sig, codegen


# ldtilecfg's 64 bytes: palette 1, then for each of the 8 tiles 64 bytes per row (at byte
# 16 + 2t) and 16 rows (at byte 48 + t).
_TILE_CONFIG = [1] + [0] * 15 + [64, 0] * 8 + [0] * 16 + [TILE] * 8 + [0] * 8


@intrinsic
def amx_configure(typingctx):
    """Load the tile configuration: 8 tiles of 16 rows x 64 bytes (nothing without AMX)."""

    def codegen(context, builder, signature, args):
        if HAS_AMX:
            config_type = ir.ArrayType(_I8, 64)
            config = cgutils.alloca_once(builder, config_type)
            builder.store(ir.Constant(config_type, _TILE_CONFIG), config)
            builder.call(_declare(builder, "llvm.x86.ldtilecfg", _VOID, _BYTES), [builder.bitcast(config, _BYTES)])
        return context.get_dummy_value()

    return types.void(), codegen


@intrinsic
def amx_release(typingctx):
    """Release the tiles (tilerelease), returning the thread to its initial tile state."""

    def codegen(context, builder, signature, args):
        if HAS_AMX:
            builder.call(_declare(builder, "llvm.x86.tilerelease", _VOID), [])
        return context.get_dummy_value()

    return types.void(), codegen


def make_amx_block(row_tiles: int, col_tiles: int):
    """An intrinsic block(c, c_at, ldc, m_valid, n_valid, edge, ap, a_at, lda, wp, w_at, panel,
    steps, accumulate) for a block of row_tiles x col_tiles tiles of 16 x 16: C tile (i, j)
    (plus its own value when accumulate) = the sum over k < 32*steps of
    ap[a_at + (16i + r)*lda + k] * W[16j + n, k], W's panel j starting at wp[w_at + j*panel].
    Tile (i, j) is c[c_at + (16i + r)*ldc + 16j + n] when it lies within m_valid rows and
    n_valid columns, else edge[(2i + j)*256 + 16r + n] (the caller copies it). Needs
    amx_configure first."""
    assert row_tiles * col_tiles + row_tiles + col_tiles <= 8 and row_tiles <= 2 and col_tiles <= 2
    a_tiles = [row_tiles * col_tiles + i for i in range(row_tiles)]
    b_tiles = [row_tiles * col_tiles + row_tiles + j for j in range(col_tiles)]

    @intrinsic
    def amx_block(typingctx, c, c_at, ldc, m_valid, n_valid, edge, ap, a_at, lda, wp, w_at, panel, steps,
                  accumulate):
        intp = types.intp
        sig = types.void(c, intp, intp, intp, intp, edge, ap, intp, intp, wp, intp, intp, intp, types.boolean)

        def codegen(context, builder, signature, args):
            if not HAS_AMX:
                return context.get_dummy_value()
            c_arr, edge_arr, ap_arr, wp_arr = (context.make_array(signature.args[i])(context, builder, args[i])
                                               for i in (0, 5, 6, 9))
            c_at_, ldc_, m_valid_, n_valid_ = args[1:5]
            a_at_, lda_, w_at_, panel_, step_count, keep = args[7], args[8], args[10], args[11], args[12], args[13]
            load = _declare(builder, "llvm.x86.tileloadd64", _VOID, _I8, _BYTES, _I64)
            store = _declare(builder, "llvm.x86.tilestored64", _VOID, _I8, _BYTES, _I64)
            zero = _declare(builder, "llvm.x86.tilezero", _VOID, _I8)
            dot = _declare(builder, "llvm.x86.tdpbf16ps", _VOID, _I8, _I8, _I8)
            c_base = builder.gep(c_arr.data, [c_at_])
            c_tiles = []
            for i in range(row_tiles):
                for j in range(col_tiles):
                    inside = builder.and_(builder.icmp_signed(">=", m_valid_, _i64(TILE * (i + 1))),
                                          builder.icmp_signed(">=", n_valid_, _i64(TILE * (j + 1))))
                    direct = builder.gep(c_base, [builder.add(builder.mul(_i64(TILE * i), ldc_), _i64(TILE * j))])
                    spare = builder.gep(edge_arr.data, [_i64((2 * i + j) * TILE * TILE)])
                    ptr = builder.select(inside, builder.bitcast(direct, _BYTES), builder.bitcast(spare, _BYTES))
                    stride = builder.select(inside, builder.mul(ldc_, _i64(4)), _i64(4 * TILE))
                    c_tiles.append((_tile_id(i * col_tiles + j), ptr, stride))
            with builder.if_else(keep) as (then, otherwise):
                with then:
                    for tile, ptr, stride in c_tiles:
                        builder.call(load, [tile, ptr, stride])
                with otherwise:
                    for tile, _, _ in c_tiles:
                        builder.call(zero, [tile])
            a_base = builder.gep(ap_arr.data, [a_at_])
            w_base = builder.gep(wp_arr.data, [w_at_])
            a_stride = builder.mul(lda_, _i64(2))
            with cgutils.for_range(builder, step_count) as loop:
                k = builder.mul(loop.index, _i64(TILE_K))
                for j in range(col_tiles):
                    ptr = builder.gep(w_base, [builder.add(builder.mul(_i64(j), panel_), builder.mul(k, _i64(TILE)))])
                    builder.call(load, [_tile_id(b_tiles[j]), builder.bitcast(ptr, _BYTES), _i64(4 * TILE)])
                for i in range(row_tiles):
                    ptr = builder.gep(a_base, [builder.add(builder.mul(_i64(TILE * i), lda_), k)])
                    builder.call(load, [_tile_id(a_tiles[i]), builder.bitcast(ptr, _BYTES), a_stride])
                    for j in range(col_tiles):
                        builder.call(dot, [_tile_id(i * col_tiles + j), _tile_id(a_tiles[i]), _tile_id(b_tiles[j])])
            for tile, ptr, stride in c_tiles:
                builder.call(store, [tile, ptr, stride])
            return context.get_dummy_value()

        return sig, codegen

    return amx_block


amx_2x2, amx_2x1, amx_1x2, amx_1x1 = (make_amx_block(r, c) for r, c in ((2, 2), (2, 1), (1, 2), (1, 1)))


@kernel
def pack_weight(wp, w, transposed):
    """Pack W for matmul_packed, rounded to bf16: wp (P, Kp/2, 2 NR) uint16 with
    wp[p, k2, 2n + j] = W[p NR + n, 2 k2 + j], where W is w (N, K) float32, or w^T when
    `transposed` (w is (K, N)); zero where p NR + n >= N or 2 k2 + j >= K."""
    P, K2, _ = wp.shape
    N, K = (w.shape[1], w.shape[0]) if transposed else (w.shape[0], w.shape[1])
    for p in range(P):
        n0 = p * TILE
        n_valid = max(0, min(TILE, N - n0))
        panel = wp[p]
        if transposed:
            for k2 in range(K2):
                row = panel[k2]
                for j in range(2):
                    k = 2 * k2 + j
                    if k < K:
                        src = w[k]
                        for n in range(n_valid):
                            row[2 * n + j] = round_bf16(src[n0 + n])
                        for n in range(n_valid, TILE):
                            row[2 * n + j] = 0
                    else:
                        for n in range(TILE):
                            row[2 * n + j] = 0
        else:
            for n in range(n_valid):
                src = w[n0 + n]
                for k in range(K):
                    panel[k >> 1, 2 * n + (k & 1)] = round_bf16(src[k])
                for k in range(K, 2 * K2):
                    panel[k >> 1, 2 * n + (k & 1)] = 0
            for k2 in range(K2):
                row = panel[k2]
                for i in range(2 * n_valid, 2 * TILE):
                    row[i] = 0


@kernel
def pack_rows(ap, a, transposed):
    """Pack A for matmul_packed, rounded to bf16: ap (Mp, Kp) uint16 with ap[m, k] = A[m, k],
    where A is a (M, K) float32, or a^T when `transposed` (a is (K, M)); zero where m >= M or
    k >= K."""
    Mp, Kp = ap.shape
    M, K = (a.shape[1], a.shape[0]) if transposed else (a.shape[0], a.shape[1])
    if transposed:
        # Blocks of 16 x 16, so the columns of a that one block of ap reads stay in L1.
        for m0 in range(0, M, TILE):
            m1 = min(M, m0 + TILE)
            for k0 in range(0, K, TILE):
                k1 = min(K, k0 + TILE)
                for m in range(m0, m1):
                    dst = ap[m]
                    for k in range(k0, k1):
                        dst[k] = round_bf16(a[k, m])
    else:
        for m in range(M):
            src, dst = a[m], ap[m]
            for k in range(K):
                dst[k] = round_bf16(src[k])
    for m in range(M):
        dst = ap[m]
        for k in range(K, Kp):
            dst[k] = 0
    for m in range(M, Mp):
        dst = ap[m]
        for k in range(Kp):
            dst[k] = 0


@kernel
def _edge_in(c, m0, n0, m_valid, n_valid, row_tiles, col_tiles, edge):
    """Copy into edge the part of c that each tile of an AMX block overhanging c covers."""
    for i in range(row_tiles):
        rows = min(TILE, m_valid - TILE * i)
        for j in range(col_tiles):
            cols = min(TILE, n_valid - TILE * j)
            if rows < TILE or cols < TILE:
                spare = edge[(2 * i + j) * TILE * TILE:]
                for r in range(rows):
                    src = c[m0 + TILE * i + r]
                    for n in range(cols):
                        spare[r * TILE + n] = src[n0 + TILE * j + n]


@kernel
def _edge_out(c, m0, n0, m_valid, n_valid, row_tiles, col_tiles, edge):
    """Copy back into c the valid part of each tile of an AMX block that went to edge."""
    for i in range(row_tiles):
        rows = min(TILE, m_valid - TILE * i)
        for j in range(col_tiles):
            cols = min(TILE, n_valid - TILE * j)
            if rows < TILE or cols < TILE:
                spare = edge[(2 * i + j) * TILE * TILE:]
                for r in range(rows):
                    dst = c[m0 + TILE * i + r]
                    for n in range(cols):
                        dst[n0 + TILE * j + n] = spare[r * TILE + n]


@kernel
def _amx_product(c, ap, wp, edge, accumulate):
    """matmul_packed on AMX: pairs of panels outermost, so W is read from memory once and
    blocks of 32 rows of A meet it while it is in L1."""
    M, N = c.shape
    _, Kp = ap.shape
    P, K2, _ = wp.shape
    ldc = c.strides[0] // c.itemsize
    c_flat, a_flat, w_flat = c.reshape(-1), ap.reshape(-1), wp.reshape(-1)
    panel = K2 * 2 * TILE
    steps = Kp // TILE_K
    amx_configure()
    for p in range(0, P, 2):
        col_tiles = min(2, P - p)
        n0 = p * TILE
        n_valid = N - n0
        for m0 in range(0, M, 2 * TILE):
            m_valid = M - m0
            row_tiles = 2 if m_valid > TILE else 1
            if accumulate:
                _edge_in(c, m0, n0, m_valid, n_valid, row_tiles, col_tiles, edge)
            c_at, a_at, w_at = m0 * ldc + n0, m0 * Kp, p * panel
            if row_tiles == 2 and col_tiles == 2:
                amx_2x2(c_flat, c_at, ldc, m_valid, n_valid, edge, a_flat, a_at, Kp, w_flat, w_at, panel, steps,
                        accumulate)
            elif row_tiles == 2:
                amx_2x1(c_flat, c_at, ldc, m_valid, n_valid, edge, a_flat, a_at, Kp, w_flat, w_at, panel, steps,
                        accumulate)
            elif col_tiles == 2:
                amx_1x2(c_flat, c_at, ldc, m_valid, n_valid, edge, a_flat, a_at, Kp, w_flat, w_at, panel, steps,
                        accumulate)
            else:
                amx_1x1(c_flat, c_at, ldc, m_valid, n_valid, edge, a_flat, a_at, Kp, w_flat, w_at, panel, steps,
                        accumulate)
            _edge_out(c, m0, n0, m_valid, n_valid, row_tiles, col_tiles, edge)
    amx_release()


@kernel
def _avx512_product(c, ap, wp, edge, accumulate):
    """matmul_packed with vnni_tile: each panel of W meets every 16 rows of A in turn."""
    M, N = c.shape
    _, Kp = ap.shape
    P, K2, _ = wp.shape
    ldc = c.strides[0] // c.itemsize
    c_flat, a_flat, w_flat = c.reshape(-1), ap.reshape(-1), wp.reshape(-1)
    for p in range(P):
        n_valid = min(TILE, N - p * TILE)
        for q in range(0, M, TILE):
            m_valid = min(TILE, M - q)
            if m_valid == TILE and n_valid == TILE:
                vnni_tile(c_flat, q * ldc + p * TILE, ldc, a_flat, q * Kp, Kp, w_flat, p * K2 * 2 * TILE, K2,
                          accumulate)
            else:
                if accumulate:
                    for r in range(m_valid):
                        for n in range(n_valid):
                            edge[r * TILE + n] = c[q + r, p * TILE + n]
                vnni_tile(edge, 0, TILE, a_flat, q * Kp, Kp, w_flat, p * K2 * 2 * TILE, K2, accumulate)
                for r in range(m_valid):
                    for n in range(n_valid):
                        c[q + r, p * TILE + n] = edge[r * TILE + n]


@kernel
def matmul_packed(c, ap, wp, edge, accumulate):
    """c (M, N) float32 = A W^T, or c += A W^T when `accumulate`, from ap (Mp, Kp) and wp
    (P, Kp/2, 2 NR) packed by pack_rows and pack_weight (Mp >= M, P NR >= N). edge (HEADER +
    2 EDGE,) uint16 is the front of the scratch that packed_views returns: its header chooses
    the path, and the rest, as EDGE float32, holds tiles that overhang c."""
    spare = edge[HEADER:].view(np.float32)
    if HAS_AMX and edge[0] == PATH_AMX:
        _amx_product(c, ap, wp, spare, accumulate)
    else:
        _avx512_product(c, ap, wp, spare, accumulate)


def packed_size(M: int, N: int, K: int) -> int:
    """uint16 elements of scratch that packed_views needs for A (M, K) and W (N, K)."""
    Kp = padded(K, TILE_K)
    return HEADER + 2 * EDGE + padded(N, TILE) * Kp + padded(M, TILE) * Kp


@kernel
def packed_views(scratch, M, N, K):
    """(ap, wp, edge): views of scratch (1-D uint16, packed_size(M, N, K) elements or more,
    with the header set_path wrote) for matmul_packed with A (M, K) and W (N, K), when W is
    packed once for many products."""
    Kp = (K + TILE_K - 1) // TILE_K * TILE_K
    Mp = (M + TILE - 1) // TILE * TILE
    P = (N + TILE - 1) // TILE
    w_start = HEADER + 2 * EDGE
    a_start = w_start + P * TILE * Kp
    return (scratch[a_start:a_start + Mp * Kp].reshape((Mp, Kp)),
            scratch[w_start:a_start].reshape((P, Kp // 2, 2 * TILE)), scratch[:w_start])


def scratch_size(M: int, N: int, K: int) -> int:
    """uint16 elements of scratch that matmul needs for c (M, N) with inner dimension K."""
    kc = min(padded(K, TILE_K), KC)
    return HEADER + 2 * EDGE + padded(N, TILE) * kc + padded(min(M, MC), TILE) * kc


@kernel
def matmul(c, a, w, a_transposed, w_transposed, scratch):
    """c (M, N) float32 = A W^T: A is a (M, K), or a^T when a_transposed; W is w (N, K), or
    w^T when w_transposed; a and w float32, rounded to bf16 as they are packed. scratch (1-D
    uint16, with the header set_path wrote) holds at least scratch_size(M, N, K) elements."""
    M, N = c.shape
    K = a.shape[0] if a_transposed else a.shape[1]
    P = (N + TILE - 1) // TILE
    edge = scratch[:HEADER + 2 * EDGE]
    free = scratch[HEADER + 2 * EDGE:]
    for k0 in range(0, K, KC):
        kc = min(KC, K - k0)
        kp = (kc + TILE_K - 1) // TILE_K * TILE_K
        w_size = P * TILE * kp
        wp = free[:w_size].reshape((P, kp // 2, 2 * TILE))
        pack_weight(wp, w[k0:k0 + kc] if w_transposed else w[:, k0:k0 + kc], w_transposed)
        for m0 in range(0, M, MC):
            mc = min(MC, M - m0)
            mp = (mc + TILE - 1) // TILE * TILE
            ap = free[w_size:w_size + mp * kp].reshape((mp, kp))
            pack_rows(ap, a[k0:k0 + kc, m0:m0 + mc] if a_transposed else a[m0:m0 + mc, k0:k0 + kc], a_transposed)
            matmul_packed(c[m0:m0 + mc], ap, wp, edge, k0 > 0)
