"""What this CPU offers the kernels, the level of it they use, and Linux's permission to use AMX.

Levels (the vector instructions kernels are compiled for), fastest first, on x86-64:
- amx: AMX tiles for bf16 products, and everything below;
- avx512bf16: AVX512-BF16 (vdpbf16ps) on 512-bit vectors;
- avx512: AVX-512F: float32 products on 16-float vectors, no bf16;
- avx2: AVX2 and FMA: 8-float vectors;
- sse: SSE only (4-float vectors), what every x86-64 CPU runs.
On other CPUs (ARM...) there is one level, generic: whatever LLVM makes of the CPU.

The kernels use the CPU's highest level unless $CHARRNN_ISA names a lower one (to run and test
the paths of slower CPUs on a fast one). The level is fixed per process: Numba compiles for its
target (NUMBA_CPU_NAME and NUMBA_CPU_FEATURES, set by apply_level before Numba is imported),
and the kernels read features(), the CPU's flags with those above the level turned off.

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
import os
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


ISA_VARIABLE = "CHARRNN_ISA"
X86_LEVELS = ("amx", "avx512bf16", "avx512", "avx2", "sse")
GENERIC = "generic"
# What each level leaves out, as prefixes of LLVM feature names: a level turns off its own
# entry and those of every level above it. AVX10 implies AVX-512 and its bf16 products.
_ABOVE = {"amx": ("amx-",), "avx512bf16": ("avx512bf16", "avx10"), "avx512": ("avx512", "evex512"),
          "avx2": ("avx", "fma", "f16c", "xop", "vaes", "vpclmulqdq", "sha512", "sm3", "sm4")}
# The features whose removal takes with them, in LLVM, every feature that needs them: written
# last, so that nothing in the list enables them again.
_ROOTS = {"amx": ("amx-tile",), "avx512bf16": ("avx512bf16", "avx10.1"), "avx512": ("avx512f", "evex512"),
          "avx2": ("avx",)}


def offered_levels(features: dict, machine: str) -> tuple[str, ...]:
    """The levels a CPU with these LLVM flags runs, fastest first (see the module's doc);
    `machine` is platform.machine()."""
    if machine.lower() not in ("x86_64", "amd64"):
        return (GENERIC,)
    has = {"amx": has_amx_bf16(features) and has_avx512_bf16(features), "avx512bf16": has_avx512_bf16(features),
           "avx512": bool(features.get("avx512f")), "avx2": bool(features.get("avx2") and features.get("fma")),
           "sse": True}
    return tuple(level for level in X86_LEVELS if has[level])


def choose_level(offered: tuple[str, ...], requested: str | None) -> str:
    """The level to use: `requested` ($CHARRNN_ISA; empty or None for the fastest offered).
    ValueError (one line) for a name that is not a level or a level this CPU does not offer."""
    if not requested:
        return offered[0]
    if requested not in offered:
        known = X86_LEVELS + (GENERIC,)
        what = "is not a level" if requested not in known else "is above what this CPU offers"
        raise ValueError(f"{ISA_VARIABLE}={requested} {what}; this CPU offers {', '.join(offered)}")
    return requested


def level_features(features: dict, level: str) -> dict:
    """The LLVM flags of a CPU with `features`, those above `level` turned off."""
    if level not in X86_LEVELS:
        return dict(features)
    dropped = tuple(prefix for above in X86_LEVELS[:X86_LEVELS.index(level)] for prefix in _ABOVE.get(above, ()))
    return {name: on and not name.startswith(dropped) for name, on in features.items()}


def target_features(features: dict, level: str) -> str:
    """NUMBA_CPU_FEATURES for `level` on a CPU with `features`: every flag, the ones it turns
    on first, then the ones it turns off, ending with the roots of what the level leaves out."""
    allowed = level_features(features, level)
    roots = [name for above in X86_LEVELS[:X86_LEVELS.index(level)] for name in _ROOTS.get(above, ())]
    on = [f"+{name}" for name, value in allowed.items() if value]
    off = [f"-{name}" for name, value in allowed.items() if not value and name not in roots]
    return ",".join(on + off + [f"-{name}" for name in roots])


@functools.cache
def level() -> str:
    """The level this process's kernels use: $CHARRNN_ISA, else the CPU's fastest.
    ValueError when $CHARRNN_ISA asks for one this CPU does not offer."""
    return choose_level(offered_levels(host_features(), platform.machine()), os.environ.get(ISA_VARIABLE))


@functools.cache
def features() -> dict:
    """The LLVM flags the kernels are compiled for: the CPU's, less those above level(). Sees
    to it (apply_level) that Numba compiles for that level too: ValueError where it cannot."""
    apply_level()
    return level_features(host_features(), level())


def apply_level() -> None:
    """Make Numba compile for level() (NUMBA_CPU_NAME and NUMBA_CPU_FEATURES) where it is below
    the CPU's fastest. ValueError as level() does, and when Numba was imported already with
    another target (the variables are read as Numba is imported)."""
    chosen = level()
    if chosen == offered_levels(host_features(), platform.machine())[0]:
        return
    wanted = dict(NUMBA_CPU_NAME=llvm.get_host_cpu_name(), NUMBA_CPU_FEATURES=target_features(host_features(), chosen))
    if "numba" in sys.modules:
        from numba.core import config

        if (config.CPU_NAME, config.CPU_FEATURES) != tuple(wanted.values()):
            raise ValueError(f"{ISA_VARIABLE}={chosen} must be set before numba is imported")
        return
    os.environ.update(wanted)


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
    if not has_amx_bf16(features()):
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
