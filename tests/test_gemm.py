"""The products of kernels/gemm.py against NumPy in float64: every orientation, shapes that
end in partial tiles and span several K and row blocks, and every tile shape the module can
choose (the one for this machine runs in all the other tests)."""

import numba
import numpy as np
import pytest

from charrnn.kernels import gemm
from charrnn.kernels.gemm import KC, MC, make_tile_kernel, matmul, scratch_size, tile_shape

SHAPES = [(1, 1, 1), (5, 13, 7), (gemm.MR, 32, 3), (33, 70, 9), (MC + 3, 2 * KC + 5, 97), (70, 40, KC * 2 + 17)]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("a_transposed", [False, True])
@pytest.mark.parametrize("w_transposed", [False, True])
@pytest.mark.parametrize("M,N,K", SHAPES)
def test_matmul_matches_numpy(M, N, K, a_transposed, w_transposed, dtype):
    rng = np.random.default_rng(M * 1000 + N * 10 + K)
    a = rng.standard_normal((K, M) if a_transposed else (M, K)).astype(dtype)
    w = rng.standard_normal((K, N) if w_transposed else (N, K)).astype(dtype)
    c = np.full((M, N), np.nan, dtype)
    matmul(c, a, w, a_transposed, w_transposed, np.full(scratch_size(M, N, K, dtype), np.nan, dtype))
    A = (a.T if a_transposed else a).astype(np.float64)
    W = (w.T if w_transposed else w).astype(np.float64)
    expected = A @ W.T
    tol = 1e-5 if dtype == np.float32 else 1e-13
    np.testing.assert_allclose(c, expected, rtol=0, atol=tol * np.sqrt(K) * max(1.0, np.abs(expected).max()))


def test_matmul_writes_into_a_row_slice_of_a_larger_array():
    """Callers hand in views (a window's rows); only those rows change."""
    rng = np.random.default_rng(0)
    big = np.zeros((20, 40))
    a, w = rng.standard_normal((9, 11)), rng.standard_normal((40, 11))
    matmul(big[4:13], a, w, False, False, np.zeros(scratch_size(9, 40, 11, np.float64)))
    np.testing.assert_allclose(big[4:13], a @ w.T, atol=1e-13)
    assert not big[:4].any() and not big[13:].any()


def test_tile_shapes_follow_the_vector_registers():
    assert tile_shape({"avx512f": True, "avx2": True, "fma": True}) == (64, 8, 2)
    assert tile_shape({"avx2": True, "fma": True}) == (32, 6, 2)
    assert tile_shape({}) == (16, 6, 2)


@pytest.mark.parametrize("shape", [(64, 8, 2), (32, 6, 2), (16, 6, 2)])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_every_tile_shape_computes_its_tile(shape, dtype):
    """The tile for each kind of machine, compiled here: one MR x NR tile, written fresh and
    then accumulated onto, against NumPy."""
    vector_bytes, rows, vectors = shape
    tile = make_tile_kernel(vector_bytes, rows, vectors)

    @numba.njit
    def run(c, ap, wp, K, accumulate):
        tile(c, 0, wp.size // K, ap, 0, wp, 0, K, accumulate)

    nr = vectors * vector_bytes // np.dtype(dtype).itemsize
    K = 37
    rng = np.random.default_rng(1)
    a, w = rng.standard_normal((rows, K)), rng.standard_normal((nr, K))
    ap = np.ascontiguousarray(a.T, dtype).reshape(-1)
    wp = np.ascontiguousarray(w.T, dtype).reshape(-1)
    c = np.full(rows * nr, np.nan, dtype)
    run(c, ap, wp, K, False)
    tol = 1e-4 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(c.reshape(rows, nr), a @ w.T, atol=tol)
    run(c, ap, wp, K, True)
    np.testing.assert_allclose(c.reshape(rows, nr), 2 * (a @ w.T), atol=2 * tol)
