"""What the compiled code of each kernel level (charrnn/kernels/cpu.py) looks like, and a check
of one level's kernels that tests/test_levels.py runs in a process of its own:

    CHARRNN_ISA=avx2 python tests/levels.py

prints one JSON object: the level, the float32 tile, the bf16 paths, and the largest error of
each kernel against a float64 reference (relative to the bound its sums allow); each
register-width check raises AssertionError when it fails."""

import json
import os
import sys

# the vector registers each level's 16-float loops run on, and those it must never touch
REGISTERS = {"amx": ("zmm", ()), "avx512bf16": ("zmm", ()), "avx512": ("zmm", ()), "avx2": ("ymm", ("zmm",)),
             "sse": ("xmm", ("ymm", "zmm"))}


def check_vectors(asm: str, level: str, widen: tuple[str, ...]) -> None:
    """The asm of a generation loop of `level` widens its weights (one of `widen`: pmovzxwd or
    punpcklwd for bf16, pmovsxbd or punpcklbw for int8) and multiplies them on that level's
    vector registers, with one FMA where the level has FMA and a multiply and an add where it
    does not, and touches no wider register."""
    register, wider = REGISTERS[level]
    lines = asm.splitlines()
    assert any(op in line and register in line for op in widen for line in lines), f"no {widen} on {register}"
    product = ("mulps",) if level == "sse" else ("vfmadd",)
    assert any(op in line and register in line for op in product for line in lines), f"no {product} on {register}"
    for name in wider:
        assert not any(name in line for line in lines), f"a {name} register at level {level}"
    assert "fmaf" not in asm, "a call of the C library's fmaf per lane"


def main() -> None:
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    sys.path.insert(0, root)
    from charrnn import runtime

    runtime.prepare()
    import numba
    import numpy as np

    from charrnn.kernels import cpu, gemm, gemm_bf16
    from charrnn.kernels.bf16 import from_bf16, to_bf16
    from charrnn.kernels.matvec import add_matmul, add_matmul_bf16, add_matmul_int8, quantize_int8

    level = cpu.level()
    rng = np.random.default_rng(0)
    errors = {}

    def record(name, got, exact, terms, count):
        """got against the float64 `exact`, as a fraction of (count + 2) roundings of `terms`."""
        eps = 2.0 ** -24 if got.dtype == np.float32 else 2.0 ** -53
        ratio = float(np.max(np.abs(got - exact) / ((count + 2) * eps * terms + 1e-300)))
        errors[name] = max(errors.get(name, 0.0), ratio)

    for dtype in (np.float32, np.float64):
        for M, N, K, a_t, w_t in ((3, 5, 7, False, False), (13, 37, 19, True, False), (20, 40, 300, False, True),
                                  (9, 70, 33, True, True)):
            a = rng.standard_normal((K, M) if a_t else (M, K))
            w = rng.standard_normal((K, N) if w_t else (N, K))
            A, W = (a.T if a_t else a), (w.T if w_t else w)
            c = np.full((M, N), np.nan, dtype)
            scratch = np.zeros(gemm.scratch_size(M, N, K, dtype), dtype)
            gemm.matmul(c, a.astype(dtype), w.astype(dtype), a_t, w_t, scratch)
            A, W = A.astype(dtype).astype(np.float64), W.astype(dtype).astype(np.float64)
            record(f"matmul {np.dtype(dtype).name}", c, A @ W.T, np.abs(A) @ np.abs(W).T, K)
    for B, K, N in ((1, 1, 1), (1, 11, 40), (3, 19, 70)):
        v = rng.standard_normal((B, K)).astype(np.float32)
        wt = rng.standard_normal((K, N)).astype(np.float32)
        out0 = rng.standard_normal((B, N)).astype(np.float32)
        v64, w64 = v.astype(np.float64), wt.astype(np.float64)
        out = out0.copy()
        add_matmul(out, v, wt)
        record("add_matmul", out, out0 + v64 @ w64, np.abs(out0) + np.abs(v64) @ np.abs(w64), K)
        bits = to_bf16(wt)
        wide = from_bf16(bits).astype(np.float64)
        out = out0.copy()
        add_matmul_bf16(out, v, bits)
        record("add_matmul_bf16", out, out0 + v64 @ wide, np.abs(out0) + np.abs(v64) @ np.abs(wide), K)
        wt_q, scale = quantize_int8(wt)
        q = wt_q.astype(np.float64) * scale
        out = out0.copy()
        add_matmul_int8(out, v, wt_q, scale, np.zeros((B, N), np.float32))
        record("add_matmul_int8", out, out0 + v64 @ q, np.abs(out0) + np.abs(v64) @ np.abs(q), K + 1)

    if level in REGISTERS:  # register names are x86's
        for kernel, weights, widen in ((add_matmul_bf16, np.uint16, ("pmovzxwd", "punpcklwd")),
                                      (add_matmul_int8, np.int8, ("pmovsxbd", "punpcklbw"))):
            fresh = numba.njit(kernel.py_func)  # a cached kernel cannot be inspected
            args = [np.zeros((1, 64), np.float32), np.zeros((1, 8), np.float32), np.zeros((8, 64), weights)]
            if weights == np.int8:
                args += [np.ones(64, np.float32), np.zeros((1, 64), np.float32)]
            fresh(*args)
            check_vectors(fresh.inspect_asm(fresh.signatures[0]), level, widen)
        tile = numba.njit(gemm._matmul_packed_float.py_func)
        M, N, K = gemm.MR, gemm.panel_width(np.float32), 8
        tile(np.zeros((M, N), np.float32), np.zeros((1, K, M), np.float32), np.zeros((1, K, N), np.float32),
             np.zeros(M * N, np.float32), False)
        asm = tile.inspect_asm(tile.signatures[0])
        register, wider = REGISTERS[level]
        product = "mulps" if level == "sse" else "vfmadd"
        assert any(product in line and register in line for line in asm.splitlines()), f"tile: no {product}"
        assert not any(name in asm for name in wider), f"tile: a wider register than {register}"
        assert "fmaf" not in asm, "tile: a call of fmaf per lane"
    print(json.dumps(dict(level=level, tile=[gemm.VECTOR_BYTES, gemm.MR, gemm.VECTORS],
                          bf16_paths=gemm_bf16.available_paths(), errors=errors)))


if __name__ == "__main__":
    main()
