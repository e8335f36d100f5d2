"""bf16 versions of gemm.py's products: c (float32) = A W^T with A and W rounded to bf16
(round_bf16: nearest, ties to even) while they are packed, and float32 sums.

The calling pattern is gemm.py's (BLIS's names: MR x NR register tile, KC x MC blocks, packed
panels), and gemm.py dispatches to this module when the scratch, or the packed arrays, are
np.uint16: a cell kernel compiles in bf16 by being handed a uint16 scratch. All bf16 arrays
are np.uint16 bit patterns (bf16.py).

Packed layouts, shared by both paths (TILE = 16 = MR = NR, TILE_K = 32):
- W: panels of NR columns, K in pairs (the "VNNI" layout both instructions read):
  wp (P, Kp/2, 2 NR), wp[p, k2, 2n + j] = W[p NR + n, 2 k2 + j].
- A: in AMX tiles of 16 rows x 32 values of K, ap (Mp/16, Kp/32, 512),
  ap[m // 16, k // 32, 32 (m % 16) + k % 32] = A[m, k].
Each 16 x 32 block of either is 1 KB in one piece, so a tile load reads 16 whole cache lines
in sequence (rows of A a power of two apart would fall into a few L1 sets).
Mp and Kp are M and K padded with zeros to multiples of TILE and TILE_K (an AMX tile is 16
rows of 32 bf16); zeros on both sides of the padding add nothing, even next to inf.

Packing reads a and w in place and writes a 16 x 32 block at a time from vector registers
(make_packer): 16 or 32 source rows loaded (masked past the data, so partial blocks pad
themselves with zeros), rounded 16 values at once with round_bf16's integer arithmetic (bit
for bit; vcvtneps2bf16 would flush subnormals), put in pairs of K, and transposed with 64
shuffles where the layout needs it: A from a^T (K, M) and W from w (N, K). A from a (M, K)
and W from w^T (K, N) need no transpose: the order of either source is already the pairs'.

Two paths compute the product:
- AVX512-BF16 (vnni_tile): a 16 x 16 register tile, 16 vectors of 16 float32; each k-pair
  broadcasts one pair of A's row r and multiplies it into W's 16 pairs with vdpbf16ps.
- AMX (amx_block): a block of up to 2 x 2 tiles of 16 x 16 float32 (tmm0-3), fed by up to two
  16 x 32 tiles of A and two 16 x 16-pair tiles of W per 32 values of K, with tdpbf16ps.
  Pairs of panels are the outer loop, so a step of the recurrence (M = 16 to 50 rows of A
  per thread) reads each weight from memory once. Tiles are loaded from and stored to c in
  place when c's rows start on cache lines (64-byte aligned data, N a multiple of 16);
  otherwise they pass through a spare tile and are copied with vector loads and stores,
  since a tile access that splits cache lines costs about as much as 16 products.

Which path runs is a flag in the scratch, not a module global. Numba's cache keys compiled
code on the argument types and on the target's name and feature flags (those of the kernels'
level: cpu.features()), so module constants that come from those flags (HAS_AVX512_BF16,
HAS_AMX: whether the instructions are compiled in) are safe. Whether Linux lets this
process use AMX is not among them, and the same process must be able to run both paths (the
tests do), so the first HEADER elements of every bf16 scratch are a header whose first
element says which path to take: PATH_AVX512 (0, what np.zeros gives) or PATH_AMX, written
only by set_path once cpu.amx_permitted() said yes. Reading it costs one load per product;
AMX code runs only where both the flag asks for it and the CPU had AMX when the code was
compiled. Each AMX product loads its tile configuration
(ldtilecfg) and releases the tiles when it returns, so threads and other code never see
tile state they did not set.

On a CPU without AVX512-BF16 these kernels do not compile: typing stops with a
NotImplementedError (check_cpu) before any instruction is emitted; callers use float32.
"""

import numpy as np
from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic

from . import cpu
from .jit import kernel

FEATURES = cpu.features()  # the CPU's, less what $CHARRNN_ISA leaves out
HAS_AVX512_BF16 = cpu.has_avx512_bf16(FEATURES)
HAS_AMX = HAS_AVX512_BF16 and cpu.has_amx_bf16(FEATURES)

TILE = 16
TILE_K = 32
A_TILE = TILE * TILE_K  # bf16 elements of one AMX tile of A, or of 32 values of K of a W panel
HEADER = 32
EDGE = 4 * TILE * TILE
FRONT = HEADER + 32 + 2 * EDGE  # header, up to 63 bytes to reach a cache line, edge tiles
PATH_AVX512, PATH_AMX = 0, 1
PATHS = {"avx512bf16": PATH_AVX512, "amx": PATH_AMX}

# Blocking of matmul (blocking()): K in even blocks of at most KC, W packed for every column
# of a block (at most W_BYTES, an L2), A MC rows at a time (at most A_BYTES, a quarter of
# L2); every 32-row strip of an A block then meets every panel pair of W. Each K block past
# the first reads c back and writes it again, and a tile that c's alignment sends through
# `edge` is copied once per block, so few blocks pay; long rows of A pack faster, since a^T
# (K, M) is read in runs of MC values. Measured on the window GEMMs of a 2 x 256 and a
# 2 x 512 LSTM: KC = 1024 with MC = 256 against KC = 512 with MC = 128 (the old fixed
# blocking), 2048 with 64, 512 with 1024: 5-20% faster than the others, or as fast.
KC, MC, W_BYTES, A_BYTES = 1024, 256, 2 << 20, 1 << 19
# W's tiles come from L2 (a panel pair meets one 32-row strip of A after another); the
# hardware prefetchers do not see tile loads coming, so each step of amx_block prefetches the
# W tiles it will load PREFETCH_STEPS steps later into L1 (10-20% faster products here).
PREFETCH_STEPS = 2
L2_WEIGHT_BYTES = 1 << 20  # packed W up to half of a 2 MB L2 is read again per row block


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


def aligned_zeros(shape, dtype=np.float32) -> np.ndarray:
    """np.zeros(shape, dtype) whose data starts on a 64-byte cache line. Outputs c allocated
    so (and with rows of a multiple of 16 floats) take AMX tiles in place, which saves a
    copy per tile: 20-30% of a recurrent step's product here."""
    dtype = np.dtype(dtype)
    count = int(np.prod(shape))
    raw = np.zeros(count * dtype.itemsize + 64, np.uint8)
    start = -raw.ctypes.data % 64
    return raw[start:start + count * dtype.itemsize].view(dtype).reshape(shape)


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
_I16X16 = ir.VectorType(ir.IntType(16), 16)


def _declare(builder, name, result, *args):
    return cgutils.get_or_insert_function(builder.module, ir.FunctionType(result, args), name)


def _i64(value):
    return ir.Constant(_I64, value)


def _tile_id(number):
    return ir.Constant(_I8, number)


@intrinsic
def vnni_tile(typingctx, c, c_at, ldc, ap, a_at, wp, w_at, steps, accumulate):
    """tile(c, c_at, ldc, ap, a_at, wp, w_at, steps, accumulate): for r, n < 16,
    c[c_at + r*ldc + n] (plus its own value when accumulate) = the sum over s < steps and
    k < 32 of ap[a_at + s*512 + r*32 + k] * wp[w_at + s*512 + (k // 2)*32 + 2n + k % 2]: a
    row tile of A and a panel of W, both in blocks of 32 values of K (A_TILE elements each);
    c float32, ap and wp bf16."""
    check_cpu(FEATURES)
    if c.dtype != types.float32:
        return None
    sig = types.void(c, types.intp, types.intp, ap, types.intp, wp, types.intp, types.intp, types.boolean)

    def codegen(context, builder, signature, args):
        c_arr, ap_arr, wp_arr = (context.make_array(signature.args[i])(context, builder, args[i]) for i in (0, 3, 5))
        c_at_, ldc_, a_at_, w_at_, step_count, keep = args[1], args[2], args[4], args[6], args[7], args[8]
        dot = _declare(builder, "llvm.x86.avx512bf16.dpbf16ps.512", _F32X16, _F32X16, _BF16X32, _BF16X32)
        c_base = builder.gep(c_arr.data, [c_at_])
        c_ptrs = [builder.bitcast(builder.gep(c_base, [builder.mul(_i64(r), ldc_)]), _F32X16.as_pointer())
                  for r in range(TILE)]
        zero = ir.Constant(_F32X16, [0.0] * 16)
        accs = [cgutils.alloca_once(builder, _F32X16) for _ in range(TILE)]
        for acc, ptr in zip(accs, c_ptrs):
            builder.store(builder.select(keep, builder.load(ptr, align=4), zero), acc)
        with cgutils.for_range(builder, step_count) as step:
            block = builder.mul(step.index, _i64(A_TILE))
            a_base = builder.gep(ap_arr.data, [builder.add(a_at_, block)])
            w_base = builder.gep(wp_arr.data, [builder.add(w_at_, block)])
            with cgutils.for_range(builder, _i64(TILE)) as loop:
                k2 = loop.index
                w = builder.load(builder.bitcast(builder.gep(w_base, [builder.mul(k2, _i64(2 * TILE))]),
                                                 _BF16X32.as_pointer()), align=2)
                for r in range(TILE):
                    at = builder.add(_i64(r * TILE_K), builder.mul(k2, _i64(2)))
                    pair = builder.load(builder.bitcast(builder.gep(a_base, [at]), _I32.as_pointer()), align=2)
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
    """An intrinsic block(c, c_at, ldc, m_valid, n_valid, c_aligned, edge, ap, a_at, a_tile, wp,
    w_at, panel, steps, accumulate) for a block of row_tiles x col_tiles tiles of 16 x 16
    float32: tile (i, j) (plus its own value when accumulate) = the sum over s < steps of
    A_is W_js^T, where A_is is the 16 x 32 bf16 tile at ap[a_at + i*a_tile + s*A_TILE] and W_js
    the 16 pairs x 16 columns at wp[w_at + j*panel + s*A_TILE] (flat element offsets from each
    array's start; both 1 KB contiguous, so a tile load reads whole cache lines in sequence),
    written to c[c_at + (16i + r)*ldc + 16j + n] for r < m_valid - 16i, n < n_valid - 16j.

    A tile that lies within c, when c_aligned (c's rows start on cache lines), is loaded and
    stored in place. Otherwise it passes through edge[(2i + j)*256 + 16r + n]: if its 16
    columns lie within c, its valid rows are copied here with vector loads and stores (a tile
    load or store that splits cache lines costs about as much as 16 products); if not, the
    caller copies it (_edge_in, _edge_out). Needs amx_configure first."""
    assert row_tiles * col_tiles + row_tiles + col_tiles <= 8 and row_tiles <= 2 and col_tiles <= 2
    a_tiles = [row_tiles * col_tiles + i for i in range(row_tiles)]
    b_tiles = [row_tiles * col_tiles + row_tiles + j for j in range(col_tiles)]

    @intrinsic
    def amx_block(typingctx, c, c_at, ldc, m_valid, n_valid, c_aligned, edge, ap, a_at, a_tile, wp, w_at, panel,
                  steps, accumulate):
        if c.dtype != types.float32:
            return None
        intp = types.intp
        sig = types.void(c, intp, intp, intp, intp, types.boolean, edge, ap, intp, intp, wp, intp, intp, intp,
                         types.boolean)

        def codegen(context, builder, signature, args):
            if not HAS_AMX:
                return context.get_dummy_value()
            c_arr, edge_arr, ap_arr, wp_arr = (context.make_array(signature.args[i])(context, builder, args[i])
                                               for i in (0, 6, 7, 10))
            c_at_, ldc_, m_valid_, n_valid_, aligned = args[1:6]
            a_at_, a_tile_, w_at_, panel_, step_count, keep = args[8], args[9], args[11], args[12], args[13], args[14]
            load = _declare(builder, "llvm.x86.tileloadd64", _VOID, _I8, _BYTES, _I64)
            store = _declare(builder, "llvm.x86.tilestored64", _VOID, _I8, _BYTES, _I64)
            zero = _declare(builder, "llvm.x86.tilezero", _VOID, _I8)
            dot = _declare(builder, "llvm.x86.tdpbf16ps", _VOID, _I8, _I8, _I8)
            c_base = builder.gep(c_arr.data, [c_at_])
            c_tiles = []
            for i in range(row_tiles):
                rows = builder.sub(m_valid_, _i64(TILE * i))
                rows = builder.select(builder.icmp_signed(">", rows, _i64(TILE)), _i64(TILE), rows)
                for j in range(col_tiles):
                    slot = 2 * i + j
                    columns_inside = builder.icmp_signed(">=", n_valid_, _i64(TILE * (j + 1)))
                    direct = builder.and_(builder.and_(columns_inside, aligned),
                                          builder.icmp_signed("==", rows, _i64(TILE)))
                    to_c = builder.gep(c_base, [builder.add(builder.mul(_i64(TILE * i), ldc_), _i64(TILE * j))])
                    to_edge = builder.gep(edge_arr.data, [_i64(slot * TILE * TILE)])
                    ptr = builder.select(direct, builder.bitcast(to_c, _BYTES), builder.bitcast(to_edge, _BYTES))
                    stride = builder.select(direct, builder.mul(ldc_, _i64(4)), _i64(4 * TILE))
                    copied = builder.and_(columns_inside, builder.not_(direct))
                    c_tiles.append((_tile_id(i * col_tiles + j), ptr, stride, copied, rows, to_c, to_edge))

            def copy_rows(into_tiles):
                for _, _, _, copied, rows, to_c, to_edge in c_tiles:
                    with builder.if_then(copied), cgutils.for_range(builder, rows) as row:
                        row_c = builder.bitcast(builder.gep(to_c, [builder.mul(row.index, ldc_)]),
                                                _F32X16.as_pointer())
                        row_edge = builder.bitcast(builder.gep(to_edge, [builder.mul(row.index, _i64(TILE))]),
                                                   _F32X16.as_pointer())
                        src, dst = (row_c, row_edge) if into_tiles else (row_edge, row_c)
                        builder.store(builder.load(src, align=4), dst, align=4)

            with builder.if_else(keep) as (then, otherwise):
                with then:
                    copy_rows(True)
                    for tile, ptr, stride, *_ in c_tiles:
                        builder.call(load, [tile, ptr, stride])
                with otherwise:
                    for tile, *_ in c_tiles:
                        builder.call(zero, [tile])
            a_base = builder.gep(ap_arr.data, [a_at_])
            w_base = builder.gep(wp_arr.data, [w_at_])
            row_bytes = _i64(4 * TILE)
            prefetch = _declare(builder, "llvm.prefetch.p0", _VOID, _BYTES, _I32, _I32, _I32)
            with cgutils.for_range(builder, step_count) as loop:
                block = builder.mul(loop.index, _i64(A_TILE))
                for j in range(col_tiles):
                    ptr = builder.gep(w_base, [builder.add(builder.mul(_i64(j), panel_), block)])
                    for line in range(TILE):  # into L1, PREFETCH_STEPS ahead (prefetches never fault)
                        ahead = builder.gep(ptr, [_i64(PREFETCH_STEPS * A_TILE + line * 2 * TILE)])
                        builder.call(prefetch, [builder.bitcast(ahead, _BYTES), ir.Constant(_I32, 0),
                                                ir.Constant(_I32, 3), ir.Constant(_I32, 1)])
                    builder.call(load, [_tile_id(b_tiles[j]), builder.bitcast(ptr, _BYTES), row_bytes])
                for i in range(row_tiles):
                    ptr = builder.gep(a_base, [builder.add(builder.mul(_i64(i), a_tile_), block)])
                    builder.call(load, [_tile_id(a_tiles[i]), builder.bitcast(ptr, _BYTES), row_bytes])
                    for j in range(col_tiles):
                        builder.call(dot, [_tile_id(i * col_tiles + j), _tile_id(a_tiles[i]), _tile_id(b_tiles[j])])
            for tile, ptr, stride, *_ in c_tiles:
                builder.call(store, [tile, ptr, stride])
            copy_rows(False)
            return context.get_dummy_value()

        return sig, codegen

    return amx_block


amx_2x2, amx_2x1, amx_1x2, amx_1x1 = (make_amx_block(r, c) for r, c in ((2, 2), (2, 1), (1, 2), (1, 1)))


def _splat(value):
    return ir.Constant(_I32X16, [value] * TILE)


def _round_upper(builder, x):
    """IR for round_bf16 (bf16.py) of 16 float32 at once: <16 x i32> whose upper halves are
    the bf16 bits (adding 0x7FFF plus the lowest kept bit carries into the kept half; a NaN
    keeps its upper half with the quiet bit set)."""
    bits = builder.bitcast(x, _I32X16)
    rounded = builder.add(builder.add(bits, _splat(0x7FFF)), builder.and_(builder.lshr(bits, _splat(16)), _splat(1)))
    nan = builder.icmp_unsigned(">", builder.and_(bits, _splat(0x7FFFFFFF)), _splat(0x7F800000))
    return builder.select(nan, builder.or_(bits, _splat(0x00400000)), rounded)


def _pairs(builder, low, high):
    """16 k-pairs from two vectors of 16 float32, values of K 2i (low) and 2i + 1 (high):
    <16 x i32>, bf16(low) in each low half and bf16(high) in each high half."""
    return builder.or_(builder.lshr(_round_upper(builder, low), _splat(16)),
                       builder.and_(_round_upper(builder, high), _splat(-0x10000)))


def _run(builder, first, second):
    """16 k-pairs from 32 consecutive float32 values of K (first: 0-15, second: 16-31)."""
    halves = [builder.trunc(builder.lshr(_round_upper(builder, x), _splat(16)), _I16X16) for x in (first, second)]
    joined = builder.shuffle_vector(halves[0], halves[1], ir.Constant(ir.VectorType(_I32, 2 * TILE), list(range(32))))
    return builder.bitcast(joined, _I32X16)


def _transpose(builder, rows):
    """The 16 x 16 transpose of 16 vectors of 16 i32, in registers. Each of 4 rounds swaps
    the off-diagonal blocks of size d (8, 4, 2, 1) within every 2d x 2d block, which moves
    element (i, j) to (j, i) after the last."""
    rows = list(rows)
    for d in (8, 4, 2, 1):
        first = ir.Constant(_I32X16, [j if j & d == 0 else TILE + j - d for j in range(TILE)])
        second = ir.Constant(_I32X16, [j + d if j & d == 0 else TILE + j for j in range(TILE)])
        for i in range(TILE):
            if i & d == 0:
                top, bottom = rows[i], rows[i + d]
                rows[i] = builder.shuffle_vector(top, bottom, first)
                rows[i + d] = builder.shuffle_vector(top, bottom, second)
    return rows


def make_packer(from_pairs_of_rows: bool, transposed: bool):
    """An intrinsic pack(dst, d_at, ldd, src, s_at, lds, rows, values) that rounds one 16 x 32
    block of float32 to bf16 pairs and writes it as 16 rows of 16 uint32 pairs (64 bytes each)
    at dst[d_at + r*ldd] (uint16 dst, flat element offsets; src rows have unit stride). Only
    the first `rows` source rows and `values` values of each are read; the rest of the block
    packs as zeros, which pads partial tiles and panels without a scalar loop.
    - from_pairs_of_rows: source rows 2i and 2i + 1 (at src[s_at + 2i*lds], 16 values each)
      give the pairs of K 2i, 2i + 1 of 16 columns; else source row i (32 consecutive values
      of K) gives 16 pairs;
    - transposed: the 16 x 16 pairs are transposed before they are stored.
    The four combinations pack A from a (M, K) (False, False) and from a^T (True, True), and W
    from w (N, K) (False, True) and from w^T (True, False)."""

    @intrinsic
    def pack(typingctx, dst, d_at, ldd, src, s_at, lds, rows, values):
        if dst.dtype != types.uint16 or src.dtype != types.float32:
            return None
        intp = types.intp
        sig = types.void(dst, intp, intp, src, intp, intp, intp, intp)

        def codegen(context, builder, signature, args):
            dst_arr, src_arr = (context.make_array(signature.args[i])(context, builder, args[i]) for i in (0, 3))
            d_at_, ldd_, s_at_, lds_, row_count, value_count = args[1], args[2], args[4], args[5], args[6], args[7]
            masked_load = _declare(builder, "llvm.masked.load.v16f32.p0", _F32X16, _F32X16.as_pointer(), _I32,
                                   ir.VectorType(ir.IntType(1), TILE), _F32X16)
            lanes = ir.Constant(ir.VectorType(_I64, TILE), list(range(TILE)))
            zeros = ir.Constant(_F32X16, [0.0] * TILE)

            def load(row, column):
                """16 values of source row `row` from `column`: zero past rows or values."""
                inside = builder.icmp_signed("<", _i64(row), row_count)
                count = builder.select(inside, builder.sub(value_count, _i64(column)), _i64(0))
                mask = builder.icmp_signed("<", lanes, builder.shuffle_vector(
                    builder.insert_element(ir.Constant(ir.VectorType(_I64, TILE), ir.Undefined), count, _i64(0)),
                    ir.Constant(ir.VectorType(_I64, TILE), ir.Undefined), ir.Constant(_I32X16, [0] * TILE)))
                at = builder.add(s_at_, builder.add(builder.mul(_i64(row), lds_), _i64(column)))
                ptr = builder.bitcast(builder.gep(src_arr.data, [at]), _F32X16.as_pointer())
                return builder.call(masked_load, [ptr, ir.Constant(_I32, 4), mask, zeros])

            if from_pairs_of_rows:
                block = [_pairs(builder, load(2 * i, 0), load(2 * i + 1, 0)) for i in range(TILE)]
            else:
                block = [_run(builder, load(i, 0), load(i, TILE)) for i in range(TILE)]
            if transposed:
                block = _transpose(builder, block)
            for r in range(TILE):
                at = builder.add(d_at_, builder.mul(_i64(r), ldd_))
                builder.store(block[r], builder.bitcast(builder.gep(dst_arr.data, [at]), _I32X16.as_pointer()), align=4)
            return context.get_dummy_value()

        return sig, codegen

    return pack


_pack_a_rows, _pack_a_columns = make_packer(False, False), make_packer(True, True)
_pack_w_rows, _pack_w_columns = make_packer(False, True), make_packer(True, False)


@kernel
def pack_weight(wp, w, transposed):
    """Pack W for matmul_packed, rounded to bf16: wp (P, Kp/2, 2 NR) uint16 with
    wp[p, k2, 2n + j] = W[p NR + n, 2 k2 + j], where W is w (N, K) float32, or w^T when
    `transposed` (w is (K, N)); zero where p NR + n >= N or 2 k2 + j >= K. w's rows have unit
    stride."""
    K = w.shape[0] if transposed else w.shape[1]
    pack_weight_block(wp, w, transposed, 0, K)


@kernel
def pack_weight_block(wp, w, transposed, k0, K):
    """pack_weight of W's columns k0 to k0 + K (matmul's K blocks), reading w in place, in
    blocks of 16 columns x 32 values of K (make_packer)."""
    P, K2, _ = wp.shape
    N = w.shape[1] if transposed else w.shape[0]
    ldw = w.strides[0] // w.itemsize
    flat = wp.reshape(-1)
    if transposed:
        for kb in range(K2 // TILE):  # w's rows in order
            for p in range(P):
                _pack_w_columns(flat, (p * K2 + kb * TILE) * 2 * TILE, 2 * TILE, w, (k0 + kb * TILE_K) * ldw + p * TILE,
                                ldw, K - kb * TILE_K, N - p * TILE)
    else:
        for p in range(P):
            for kb in range(K2 // TILE):
                _pack_w_rows(flat, (p * K2 + kb * TILE) * 2 * TILE, 2 * TILE, w, p * TILE * ldw + k0 + kb * TILE_K, ldw,
                             N - p * TILE, K - kb * TILE_K)


@kernel
def pack_rows(ap, a, transposed):
    """Pack A for matmul_packed, rounded to bf16, in AMX tiles: ap (Mp/16, Kp/32, 512) uint16
    with ap[m // 16, k // 32, 32 (m % 16) + k % 32] = A[m, k], where A is a (M, K) float32, or
    a^T when `transposed` (a is (K, M)); zero where m >= M or k >= K. a's rows have unit
    stride."""
    M, K = (a.shape[1], a.shape[0]) if transposed else (a.shape[0], a.shape[1])
    pack_rows_block(ap, a, transposed, 0, M, 0, K)


@kernel
def pack_rows_block(ap, a, transposed, m0, M, k0, K):
    """pack_rows of A[m0:m0 + M, k0:k0 + K] (matmul's blocks), reading a in place, a tile at
    a time (make_packer)."""
    Mt, Kt, _ = ap.shape
    lda = a.strides[0] // a.itemsize
    flat = ap.reshape(-1)
    if transposed:
        for kb in range(Kt):  # a's rows in order
            for mb in range(Mt):
                at = (k0 + kb * TILE_K) * lda + m0 + mb * TILE
                _pack_a_columns(flat, (mb * Kt + kb) * A_TILE, TILE_K, a, at, lda, K - kb * TILE_K, M - mb * TILE)
    else:
        for mb in range(Mt):
            for kb in range(Kt):
                _pack_a_rows(flat, (mb * Kt + kb) * A_TILE, TILE_K, a, (m0 + mb * TILE) * lda + k0 + kb * TILE_K, lda,
                             M - mb * TILE, K - kb * TILE_K)


@kernel
def _edge_in(c, m0, n0, m_valid, n_valid, row_tiles, col_tiles, edge):
    """Copy into edge the part of c under each tile of an AMX block whose columns overhang c."""
    for i in range(row_tiles):
        rows = min(TILE, m_valid - TILE * i)
        for j in range(col_tiles):
            cols = n_valid - TILE * j
            if cols < TILE:
                spare = edge[(2 * i + j) * TILE * TILE:]
                for r in range(rows):
                    src = c[m0 + TILE * i + r, n0 + TILE * j:]
                    for n in range(cols):
                        spare[r * TILE + n] = src[n]


@kernel
def _edge_out(c, m0, n0, m_valid, n_valid, row_tiles, col_tiles, edge):
    """Copy into c the valid part of each tile of an AMX block whose columns overhang c."""
    for i in range(row_tiles):
        rows = min(TILE, m_valid - TILE * i)
        for j in range(col_tiles):
            cols = n_valid - TILE * j
            if cols < TILE:
                spare = edge[(2 * i + j) * TILE * TILE:]
                for r in range(rows):
                    dst = c[m0 + TILE * i + r, n0 + TILE * j:]
                    for n in range(cols):
                        dst[n] = spare[r * TILE + n]


@kernel
def _amx_product(c, ap, wp, edge, accumulate):
    """matmul_packed on AMX, in blocks of 32 rows x 2 panels. With few rows (a recurrent
    step), or a W too large for L2, pairs of panels are the outer loop: W is read from memory
    once and every row block meets a pair while it is in L1. With many rows and a W that
    fits in L2 (a window's K block), row blocks are the outer loop: c is then written a row
    block at a time instead of in column strips over all its rows, which costs a window's
    GEMM up to half its time when c does not fit in L2."""
    M, N = c.shape
    steps = ap.shape[1]
    P, K2, _ = wp.shape
    ldc = c.strides[0] // c.itemsize
    c_aligned = c.ctypes.data % 64 == 0 and ldc % TILE == 0
    panel = K2 * 2 * TILE
    a_tile = steps * A_TILE
    row_blocks, panel_pairs = (M + 2 * TILE - 1) // (2 * TILE), (P + 1) // 2
    rows_outer = row_blocks > 2 and P * panel * 2 <= L2_WEIGHT_BYTES
    amx_configure()
    for block in range(row_blocks * panel_pairs):
        if rows_outer:
            m0, p = block // panel_pairs * 2 * TILE, block % panel_pairs * 2
        else:
            m0, p = block % row_blocks * 2 * TILE, block // row_blocks * 2
        m_valid, n0 = M - m0, p * TILE
        n_valid = N - n0
        row_tiles, col_tiles = 2 if m_valid > TILE else 1, min(2, P - p)
        overhang = n_valid < TILE * col_tiles
        if accumulate and overhang:
            _edge_in(c, m0, n0, m_valid, n_valid, row_tiles, col_tiles, edge)
        args = (c, m0 * ldc + n0, ldc, m_valid, n_valid, c_aligned, edge, ap, m0 // TILE * a_tile, a_tile, wp,
                p * panel, panel, steps, accumulate)
        if row_tiles == 2 and col_tiles == 2:
            amx_2x2(*args)
        elif row_tiles == 2:
            amx_2x1(*args)
        elif col_tiles == 2:
            amx_1x2(*args)
        else:
            amx_1x1(*args)
        if overhang:
            _edge_out(c, m0, n0, m_valid, n_valid, row_tiles, col_tiles, edge)
    amx_release()


@kernel
def _avx512_product(c, ap, wp, edge, accumulate):
    """matmul_packed with vnni_tile: each panel of W meets every 16 rows of A in turn."""
    M, N = c.shape
    steps = ap.shape[1]
    P, K2, _ = wp.shape
    ldc = c.strides[0] // c.itemsize
    for p in range(P):
        n_valid = min(TILE, N - p * TILE)
        w_at = p * K2 * 2 * TILE
        for q in range(0, M, TILE):
            m_valid = min(TILE, M - q)
            if m_valid == TILE and n_valid == TILE:
                vnni_tile(c, q * ldc + p * TILE, ldc, ap, q * steps * TILE_K, wp, w_at, steps, accumulate)
            else:
                if accumulate:
                    for r in range(m_valid):
                        for n in range(n_valid):
                            edge[r * TILE + n] = c[q + r, p * TILE + n]
                vnni_tile(edge, 0, TILE, ap, q * steps * TILE_K, wp, w_at, steps, accumulate)
                for r in range(m_valid):
                    for n in range(n_valid):
                        c[q + r, p * TILE + n] = edge[r * TILE + n]


@kernel
def matmul_packed(c, ap, wp, edge, accumulate):
    """c (M, N) float32, rows of unit stride, = A W^T, or c += A W^T when `accumulate`, from
    ap (Mp/16, Kp/32, 512) and wp (P, Kp/2, 2 NR) packed by pack_rows and pack_weight
    (Mp >= M, P NR >= N). edge (FRONT,) uint16 is the front of the scratch that packed_views
    returns: its header chooses the path, and EDGE float32 from the first cache line after it
    hold tiles that overhang c."""
    spare_at = _aligned(edge, HEADER)
    spare = edge[spare_at:spare_at + 2 * EDGE].view(np.float32)
    if HAS_AMX and edge[0] == PATH_AMX:
        _amx_product(c, ap, wp, spare, accumulate)
    else:
        _avx512_product(c, ap, wp, spare, accumulate)


def packed_size(M: int, N: int, K: int) -> int:
    """uint16 elements of scratch that packed_views needs for A (M, K) and W (N, K)."""
    Kp = padded(K, TILE_K)
    return FRONT + padded(N, TILE) * Kp + padded(M, TILE) * Kp


@kernel
def _aligned(array, at):
    """The first index >= at whose element of `array` (1-D) starts a 64-byte cache line."""
    return at + (-(array.ctypes.data + at * array.itemsize)) % 64 // array.itemsize


@kernel
def packed_views(scratch, M, N, K):
    """(ap, wp, edge): views of scratch (1-D uint16, packed_size(M, N, K) elements or more,
    with the header set_path wrote) for matmul_packed with A (M, K) and W (N, K), when W is
    packed once for many products. ap and wp start on cache lines."""
    Kp = (K + TILE_K - 1) // TILE_K * TILE_K
    Mp = (M + TILE - 1) // TILE * TILE
    P = (N + TILE - 1) // TILE
    w_start = _aligned(scratch, HEADER) + 2 * EDGE
    a_start = w_start + P * TILE * Kp
    return (scratch[a_start:a_start + Mp * Kp].reshape((Mp // TILE, Kp // TILE_K, A_TILE)),
            scratch[w_start:a_start].reshape((P, Kp // 2, 2 * TILE)), scratch[:FRONT])


@kernel
def blocking(M, N, K):
    """(kc, mc): the K block and row block of matmul for c (M, N) with inner dimension K
    (see KC), multiples of TILE_K and 2 * TILE."""
    kp = (K + TILE_K - 1) // TILE_K * TILE_K
    panel_bytes = (N + TILE - 1) // TILE * TILE * 2
    blocks = max(-(-kp // KC), -(-panel_bytes * kp // W_BYTES))
    kc = (-(-kp // blocks) + TILE_K - 1) // TILE_K * TILE_K
    mc = max(2 * TILE, min(MC, A_BYTES // (2 * kc)) // (2 * TILE) * 2 * TILE)
    return kc, mc


def scratch_size(M: int, N: int, K: int) -> int:
    """uint16 elements of scratch that matmul needs for c (M, N) with inner dimension K."""
    kc, mc = blocking(M, N, K)
    return FRONT + padded(N, TILE) * kc + padded(min(M, mc), TILE) * kc


@kernel
def matmul(c, a, w, a_transposed, w_transposed, scratch):
    """c (M, N) float32 = A W^T: A is a (M, K), or a^T when a_transposed; W is w (N, K), or
    w^T when w_transposed; a and w float32 with rows of unit stride, rounded to bf16 as they
    are packed. scratch (1-D uint16, with the header set_path wrote) holds at least
    scratch_size(M, N, K) elements."""
    M = c.shape[0]
    K = a.shape[0] if a_transposed else a.shape[1]
    P = (c.shape[1] + TILE - 1) // TILE
    KC, MC = blocking(M, P * TILE, K)
    edge = scratch[:FRONT]
    free = scratch[_aligned(scratch, HEADER) + 2 * EDGE:]
    for k0 in range(0, K, KC):
        kc = min(KC, K - k0)
        kp = (kc + TILE_K - 1) // TILE_K * TILE_K
        w_size = P * TILE * kp
        wp = free[:w_size].reshape((P, kp // 2, 2 * TILE))
        pack_weight_block(wp, w, w_transposed, k0, kc)
        for m0 in range(0, M, MC):
            mc = min(MC, M - m0)
            mp = (mc + TILE - 1) // TILE * TILE
            ap = free[w_size:w_size + mp * kp].reshape((mp // TILE, kp // TILE_K, A_TILE))
            pack_rows_block(ap, a, a_transposed, m0, mc, k0, kc)
            matmul_packed(c[m0:m0 + mc], ap, wp, edge, k0 > 0)
