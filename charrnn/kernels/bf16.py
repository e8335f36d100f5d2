"""bf16 numbers, stored as np.uint16 bit patterns: the upper half of a float32.

round_bf16 rounds a float32 to the nearest bf16, ties to even, on the bits: adding 0x7FFF
plus the lowest kept bit to the float's bits carries into the kept half exactly when the
dropped half is above one half, or equal to it with an odd kept half. Finite values that
round past the largest bf16 carry into the exponent and become inf, as they should;
subnormals round like any other value (the instructions' own conversion, vcvtneps2bf16,
flushes them to zero). NaNs would carry into the sign, so they keep their upper half with the
quiet bit set instead. Both functions are LLVM integer operations, so loops over them
vectorise.
"""

import numpy as np
from llvmlite import ir
from numba import types
from numba.extending import intrinsic

from .jit import kernel

_I16, _I32 = ir.IntType(16), ir.IntType(32)


def _round(builder, x):
    """IR for round_bf16 of the float32 value x: its i16 bits."""
    bits = builder.bitcast(x, _I32)
    const = lambda v: ir.Constant(_I32, v)  # noqa: E731
    high = builder.lshr(bits, const(16))
    nan = builder.icmp_unsigned(">", builder.and_(bits, const(0x7FFFFFFF)), const(0x7F800000))
    rounded = builder.lshr(builder.add(builder.add(bits, const(0x7FFF)), builder.and_(high, const(1))), const(16))
    return builder.trunc(builder.select(nan, builder.or_(high, const(0x40)), rounded), _I16)


@intrinsic
def round_bf16(typingctx, x):
    """float32 -> uint16: the bits of the nearest bf16 (ties to even; NaN stays a quiet NaN)."""
    if x != types.float32:
        return None

    def codegen(context, builder, signature, args):
        return _round(builder, args[0])

    return types.uint16(types.float32), codegen


@intrinsic
def round_bf16_pair(typingctx, low, high):
    """(float32, float32) -> uint32: round_bf16(low) in the low half, round_bf16(high) in the
    high half, the two bf16 values of one k-pair of the packed layouts."""
    if low != types.float32 or high != types.float32:
        return None

    def codegen(context, builder, signature, args):
        lo, hi = (builder.zext(_round(builder, x), _I32) for x in args)
        return builder.or_(lo, builder.shl(hi, ir.Constant(_I32, 16)))

    return types.uint32(types.float32, types.float32), codegen


@intrinsic
def widen_bf16(typingctx, bits):
    """uint16 bf16 bits -> float32, exactly (the bits become the float's upper half)."""
    if bits != types.uint16:
        return None

    def codegen(context, builder, signature, args):
        return builder.bitcast(builder.shl(builder.zext(args[0], _I32), ir.Constant(_I32, 16)), ir.FloatType())

    return types.float32(types.uint16), codegen


@kernel
def _round_all(out, x):
    for i in range(x.size):
        out[i] = round_bf16(x[i])


@kernel
def _widen_all(out, bits):
    for i in range(bits.size):
        out[i] = widen_bf16(bits[i])


def to_bf16(x: np.ndarray) -> np.ndarray:
    """uint16 bf16 bits of x (float32, any shape), rounded to nearest even."""
    x = np.ascontiguousarray(x, np.float32)
    out = np.empty(x.shape, np.uint16)
    _round_all(out.reshape(-1), x.reshape(-1))
    return out


def from_bf16(bits: np.ndarray) -> np.ndarray:
    """float32 values of bf16 bits (uint16, any shape)."""
    bits = np.ascontiguousarray(bits, np.uint16)
    out = np.empty(bits.shape, np.float32)
    _widen_all(out.reshape(-1), bits.reshape(-1))
    return out
