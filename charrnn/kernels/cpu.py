"""What this CPU offers for bf16 products, and Linux's permission to use AMX.

Two instruction families multiply bf16 values into float32 sums:
- AVX512-BF16 (`vdpbf16ps`, flag avx512bf16: Intel Cooper Lake and Sapphire Rapids on,
  AMD Zen 4 on): a 16-float vector accumulates the products of 16 pairs.
- AMX (`tdpbf16ps`, flags amx-tile and amx-bf16: Intel Sapphire Rapids on): a 16 x 16
  float32 tile accumulates a 16 x 32 by 32 x 16 product of bf16 tiles.

Linux hands the AMX tile registers (XFEATURE_XTILEDATA, 8 KB of state per thread) only to a
process that asks for them; the first tile instruction of one that has not asked dies of
SIGILL. amx_permitted() asks once per process and says whether Linux agreed.
"""

import ctypes
import functools
import platform
import sys

import llvmlite.binding as llvm

SYS_ARCH_PRCTL = 158
ARCH_GET_XCOMP_PERM = 0x1022
ARCH_REQ_XCOMP_PERM = 0x1023
XFEATURE_XTILEDATA = 18


def host_features() -> dict:
    """LLVM's feature flags for this CPU (the ones Numba compiles for), name -> bool."""
    return dict(llvm.get_host_cpu_features())


def has_avx512_bf16(features: dict) -> bool:
    """Whether a CPU with these LLVM flags runs vdpbf16ps on 512-bit vectors."""
    return bool(features.get("avx512f") and features.get("avx512bf16"))


def has_amx_bf16(features: dict) -> bool:
    """Whether a CPU with these LLVM flags has AMX tiles with bf16 products."""
    return bool(features.get("amx-tile") and features.get("amx-bf16"))


def request_xtiledata(syscall) -> bool:
    """Ask Linux for the AMX tile state through syscall(number, *args) -> int, then check
    that the process's permitted mask has XTILEDATA; True when both succeed."""
    if syscall(SYS_ARCH_PRCTL, ARCH_REQ_XCOMP_PERM, XFEATURE_XTILEDATA) != 0:
        return False
    mask = ctypes.c_uint64(0)
    if syscall(SYS_ARCH_PRCTL, ARCH_GET_XCOMP_PERM, ctypes.byref(mask)) != 0:
        return False
    return bool(mask.value >> XFEATURE_XTILEDATA & 1)


def _libc_syscall(*args) -> int:
    libc = ctypes.CDLL(None, use_errno=True)
    libc.syscall.restype = ctypes.c_long
    return libc.syscall(*(ctypes.c_long(a) if isinstance(a, int) else a for a in args))


@functools.cache
def amx_permitted() -> bool:
    """Whether this process may run AMX bf16 tiles: the CPU has them and Linux granted the
    tile state (asked on the first call; the answer holds for the process's lifetime)."""
    if not has_amx_bf16(host_features()):
        return False
    if not sys.platform.startswith("linux") or platform.machine() != "x86_64":
        return False
    try:
        return request_xtiledata(_libc_syscall)
    except (OSError, AttributeError):
        return False


def bf16_path(features: dict, amx_granted: bool) -> str | None:
    """The fastest bf16 product for a CPU with these flags: "amx" (needs the OS's grant too),
    "avx512bf16", or None when the CPU has neither (use float32)."""
    if not has_avx512_bf16(features):
        return None
    if has_amx_bf16(features) and amx_granted:
        return "amx"
    return "avx512bf16"
