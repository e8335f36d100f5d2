"""Generation's products with compressed weights (kernels/matvec.py) against NumPy in float64,
the int8 quantisation's rules, and the vectors the loops run on at this process's level.

The kernels sum K float32 products onto out in float32, so they differ from the float64
reference by at most K + 1 roundings of 2^-24 relative to the sum of |terms|: the tolerance,
element by element."""

import numba
import numpy as np
import pytest

from charrnn.kernels import cpu
from charrnn.kernels.bf16 import from_bf16, to_bf16
from charrnn.kernels.matvec import ROWS, add_matmul_bf16, add_matmul_int8, quantize_int8
from levels import REGISTERS, check_vectors

EPS32 = 2.0 ** -24
SHAPES = [(1, 1, 1), (1, 7, 13), (3, ROWS + 3, 65), (1, 256, 1024), (2, 100, 48)]


def assert_within_sum_bound(got, out0, v, weights, extra=None):
    """got = out0 + v @ weights (float64 reference), weights (K, N) given as float64."""
    terms = np.abs(v.astype(np.float64)) @ np.abs(weights)
    exact = v.astype(np.float64) @ weights
    if extra is not None:
        exact, terms = exact * extra, terms * np.abs(extra)
    bound = (v.shape[1] + 2) * EPS32 * (terms + np.abs(out0))
    assert np.all(np.abs(got - (out0 + exact)) <= bound)


def strided_rows(rng, B, N):
    """out as B rows of a wider array: unit stride along a row, not between rows."""
    big = rng.standard_normal((B + 2, N + 9)).astype(np.float32)
    return big[1:1 + B, 3:3 + N]


@pytest.mark.parametrize("B,K,N", SHAPES)
def test_bf16_weights(B, K, N):
    rng = np.random.default_rng(K * 100 + N)
    v = rng.standard_normal((B, K)).astype(np.float32)
    wt = to_bf16(rng.standard_normal((K, N)).astype(np.float32))
    out = strided_rows(rng, B, N)
    out0 = out.astype(np.float64)
    add_matmul_bf16(out, v, wt)
    assert_within_sum_bound(out, out0, v, from_bf16(wt).astype(np.float64))


@pytest.mark.parametrize("B,K,N", SHAPES)
def test_int8_weights_sum_first_and_scale_once(B, K, N):
    rng = np.random.default_rng(K * 100 + N + 1)
    v = rng.standard_normal((B, K)).astype(np.float32)
    wt_q, scale = quantize_int8(rng.standard_normal((K, N)).astype(np.float32))
    out = strided_rows(rng, B, N)
    out0 = out.astype(np.float64)
    acc = np.full((B, N), np.nan, np.float32)
    add_matmul_int8(out, v, wt_q, scale, acc)
    assert_within_sum_bound(out, out0, v, wt_q.astype(np.float64), extra=scale.astype(np.float64))


def test_quantisation_rules():
    rng = np.random.default_rng(0)
    wt = rng.standard_normal((50, 9)).astype(np.float32)
    wt[:, 3] = 0
    wt[:, 5] = [127, 2.5, -2.5, 3.5, 0.49, -127] + [0] * 44  # scale 1: exact halves tie to even
    wt_q, scale = quantize_int8(wt)
    assert wt_q.dtype == np.int8 and scale.dtype == np.float32 and scale.shape == (9,)
    assert np.abs(wt_q).max() <= 127
    assert scale[3] == 0 and not wt_q[:, 3].any()
    np.testing.assert_array_equal(wt_q[:6, 5], [127, 2, -2, 4, 0, -127])
    others = [j for j in range(9) if j != 3]
    np.testing.assert_array_equal(np.abs(wt_q[:, others]).max(axis=0), 127)
    error = np.abs(wt_q * scale.astype(np.float64) - wt)
    assert np.all(error <= scale * (0.5 + 1e-5) + 1e-12)
    with pytest.raises(ValueError):
        quantize_int8(np.array([[1.0, np.inf]], np.float32))


@pytest.mark.skipif(cpu.level() not in REGISTERS, reason="register names are x86's; this CPU runs level generic")
@pytest.mark.parametrize("kernel,weights,widen", [(add_matmul_bf16, np.uint16, ("pmovzxwd", "punpcklwd")),
                                                  (add_matmul_int8, np.int8, ("pmovsxbd", "punpcklbw"))])
def test_the_weight_loops_use_the_vectors_of_this_level(kernel, weights, widen):
    """Compiled afresh (a cached kernel cannot be inspected): the widening loads and the FMAs
    of the inner loop run on the widest registers of the level this process runs at (zmm
    with AVX-512, ymm at avx2, xmm at sse: tests/levels.py), and on none wider."""
    fresh = numba.njit(kernel.py_func)
    B, K, N = 1, 8, 64
    args = [np.zeros((B, N), np.float32), np.zeros((B, K), np.float32), np.zeros((K, N), weights)]
    if weights == np.int8:
        args += [np.ones(N, np.float32), np.zeros((B, N), np.float32)]
    fresh(*args)
    check_vectors(fresh.inspect_asm(fresh.signatures[0]), cpu.level(), widen)
