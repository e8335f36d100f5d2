"""A barrier for kernels that run side by side on threads (numba has no atomics of its own).

Each thread owns a counter in `flags` (1-D int64, FLAG_STRIDE elements apart, so counters sit
on different cache lines). To pass the k-th barrier a thread publishes k with release order
and waits until every counter reads at least k with acquire order: nothing written before
the barrier can be read stale after it. The wait spins (with the CPU's pause hint), so it is
meant for waits of microseconds, between threads that each have a core.
"""

import llvmlite.binding as llvm
from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic

from .jit import kernel

FLAG_STRIDE = 16  # 128 bytes between counters

_ARCH = llvm.get_process_triple().split("-")[0]


@intrinsic
def load_acquire(typingctx, flags, index):
    sig = types.int64(flags, types.intp)

    def codegen(context, builder, signature, args):
        array = context.make_array(signature.args[0])(context, builder, args[0])
        return builder.load_atomic(builder.gep(array.data, [args[1]]), "acquire", 8)

    return sig, codegen


@intrinsic
def store_release(typingctx, flags, index, value):
    sig = types.void(flags, types.intp, types.int64)

    def codegen(context, builder, signature, args):
        array = context.make_array(signature.args[0])(context, builder, args[0])
        builder.store_atomic(args[2], builder.gep(array.data, [args[1]]), "release", 8)
        return context.get_dummy_value()

    return sig, codegen


@intrinsic
def spin_pause(typingctx):
    sig = types.void()

    def codegen(context, builder, signature, args):
        if _ARCH in ("x86_64", "i686"):
            builder.call(cgutils.get_or_insert_function(builder.module, ir.FunctionType(ir.VoidType(), []),
                                                        "llvm.x86.sse2.pause"), [])
        elif _ARCH in ("aarch64", "arm64"):
            hint = cgutils.get_or_insert_function(builder.module, ir.FunctionType(ir.VoidType(), [ir.IntType(32)]),
                                                  "llvm.aarch64.hint")
            builder.call(hint, [ir.Constant(ir.IntType(32), 1)])  # 1: yield
        return context.get_dummy_value()

    return sig, codegen


@kernel
def barrier(flags, part, count):
    """Thread `part` passes barrier number `count` (1, 2, ...) once every thread has reached it."""
    store_release(flags, part * FLAG_STRIDE, count)
    for other in range(flags.shape[0] // FLAG_STRIDE):
        while load_acquire(flags, other * FLAG_STRIDE) < count:
            spin_pause()
