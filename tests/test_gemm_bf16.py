"""The bf16 products of kernels/gemm_bf16.py against a NumPy emulation, on every path this
CPU has (AVX512-BF16 register tile, AMX tiles), and the rounding to bf16 bit for bit.

The emulation rounds the inputs to bf16 in NumPy (round to nearest even, written with
comparisons rather than the kernels' carry) and sums the products in float64. Products of
two bf16 values are exact in float32, so a kernel differs from the emulation only by its
float32 sums: at most K + 1 roundings of 2^-24 relative to the sum of |products| (the
standard bound for K additions), which is the tolerance used, element by element. Both
instructions treat subnormal bf16 inputs as zero, so the products use normal values; the
rounding tests cover subnormals.
"""

import numpy as np
import pytest

from charrnn.kernels import bf16, cpu, gemm, gemm_bf16
from charrnn.kernels.gemm import matmul, matmul_packed, pack_rows, pack_weight, packed_size, packed_views, scratch_size

HAS_AVX512_BF16 = gemm_bf16.HAS_AVX512_BF16
HAS_AMX = gemm_bf16.HAS_AMX and cpu.amx_permitted()
PATHS = [
    pytest.param("avx512bf16", marks=pytest.mark.skipif(not HAS_AVX512_BF16, reason="CPU lacks avx512bf16")),
    pytest.param("amx", marks=pytest.mark.skipif(
        not HAS_AMX, reason="CPU lacks amx-tile/amx-bf16, or Linux refused the AMX tile state")),
]
needs_bf16 = pytest.mark.skipif(not HAS_AVX512_BF16, reason="CPU lacks avx512bf16")
EPS32 = 2.0 ** -24


def rne(x):
    """float32 -> float32: the nearest bf16 value, ties to even; NaN stays NaN (quiet)."""
    bits = np.ascontiguousarray(x, np.float32).view(np.uint32)
    upper, lower = bits >> 16, bits & 0xFFFF
    up = (lower > 0x8000) | ((lower == 0x8000) & ((upper & 1) == 1))
    out = (upper + up.astype(np.uint32)) << 16
    nan = np.isnan(np.asarray(x, np.float32))
    out[nan] = (upper[nan] | 0x40) << 16
    return out.astype(np.uint32).view(np.float32)


def rne_bits(x):
    return (rne(x).view(np.uint32) >> 16).astype(np.uint16)


def emulate(A, W, c0=None):
    """(A W^T with A, W rounded to bf16, in float64; the error bound of float32 sums)."""
    a, w = rne(A).astype(np.float64), rne(W).astype(np.float64)
    exact, size = a @ w.T, np.abs(a) @ np.abs(w).T
    if c0 is not None:
        exact, size = exact + c0, size + np.abs(c0)
    return exact, (A.shape[1] + 2) * EPS32 * size


def assert_close(got, expected, bound):
    excess = np.abs(got.astype(np.float64) - expected) - bound
    assert np.isfinite(got).all() and excess.max() <= 0, f"off by up to {excess.max():.3g} beyond the bound"


def bf16_scratch(size, path):
    scratch = np.zeros(size, np.uint16)
    gemm_bf16.set_path(scratch, path)
    return scratch


def offset_rows(shape, offset_floats, fill=np.nan):
    """A float32 (M, N) array whose data starts offset_floats past a cache line: the AMX path
    stores tiles in place only on cache lines, and copies them otherwise."""
    size = shape[0] * shape[1]
    raw = np.full(size + 32, fill, np.float32)
    start = (-raw.ctypes.data) % 64 // 4 + offset_floats
    return raw[start:start + size].reshape(shape)


# --- rounding to bf16 ---------------------------------------------------------------------

EDGE_CASES = [  # float32 bits -> expected bf16 bits
    (0x3F800000, 0x3F80),  # 1.0
    (0x3F808000, 0x3F80),  # 1 + 2^-8: a tie, kept half even: stays
    (0x3F818000, 0x3F82),  # a tie with an odd kept half: up to even
    (0x3F808001, 0x3F81),  # just above a tie: up
    (0x3F807FFF, 0x3F80),  # just below a tie: down
    (0xBF818000, 0xBF82),  # negative tie, odd: away from zero to even
    (0x7F7FFFFF, 0x7F80),  # largest finite float: rounds to inf
    (0x7F7F8000, 0x7F80),  # tie at the top with an odd kept half: inf
    (0x7F7F7FFF, 0x7F7F),  # just below that tie: the largest finite bf16
    (0xFF7FFFFF, 0xFF80),  # -largest: -inf
    (0x7F800000, 0x7F80),  # inf
    (0xFF800000, 0xFF80),  # -inf
    (0x00000000, 0x0000),  # +0
    (0x80000000, 0x8000),  # -0
    (0x00000001, 0x0000),  # smallest subnormal: to zero
    (0x00008000, 0x0000),  # subnormal tie, even: zero
    (0x00018000, 0x0002),  # subnormal tie, odd: up
    (0x00008001, 0x0001),  # just above a subnormal tie
    (0x00400000, 0x0040),  # a subnormal bf16 holds exactly
    (0x007FFFFF, 0x0080),  # largest subnormal: up to the smallest normal
    (0x807FFFFF, 0x8080),
]
NANS = [0x7FC00000, 0xFFC00000, 0x7F800001, 0x7F80FFFF, 0xFFFFFFFF, 0x7FFF0000]


@needs_bf16
def test_rounding_edge_cases_bit_for_bit():
    x = np.array([bits for bits, _ in EDGE_CASES], np.uint32).view(np.float32)
    expected = np.array([bits for _, bits in EDGE_CASES], np.uint16)
    np.testing.assert_array_equal(bf16.to_bf16(x), expected)
    np.testing.assert_array_equal(rne_bits(x), expected)  # the emulation the products use


@needs_bf16
def test_nans_stay_nans_with_their_sign():
    """A NaN whose payload lies only in the low half (0x7F80FFFF) would round to inf, and
    0xFFFFFFFF would carry into the sign, without the quiet bit."""
    x = np.array(NANS, np.uint32).view(np.float32)
    got = bf16.to_bf16(x)
    assert np.isnan(bf16.from_bf16(got)).all()
    np.testing.assert_array_equal(got >> 15, np.array(NANS, np.uint32) >> 31)


@needs_bf16
def test_rounding_matches_the_emulation_on_random_bit_patterns():
    bits = np.random.default_rng(0).integers(0, 2 ** 32, 200_000, dtype=np.uint64).astype(np.uint32)
    x = bits.view(np.float32)
    got, expected = bf16.to_bf16(x), rne_bits(x)
    nan = np.isnan(x)
    np.testing.assert_array_equal(got[~nan], expected[~nan])
    assert np.isnan(bf16.from_bf16(got[nan])).all()


def test_widening_is_exact_and_every_bf16_rounds_to_itself():
    every = np.arange(2 ** 16, dtype=np.uint32).astype(np.uint16)
    values = bf16.from_bf16(every)
    np.testing.assert_array_equal(values.view(np.uint32), every.astype(np.uint32) << 16)
    finite = ~np.isnan(values)
    np.testing.assert_array_equal(bf16.to_bf16(values[finite]), every[finite])


# --- packing ------------------------------------------------------------------------------

def expected_panels(W, P, Kp):
    """wp[p, k2, 2n + j] = bf16(W[16p + n, 2k2 + j]), zero beyond W."""
    padded = np.zeros((16 * P, Kp), np.float32)
    padded[:W.shape[0], :W.shape[1]] = W
    return rne_bits(padded).reshape(P, 16, Kp // 2, 2).transpose(0, 2, 1, 3).reshape(P, Kp // 2, 32)


@needs_bf16
@pytest.mark.parametrize("transposed", [False, True])
@pytest.mark.parametrize("rows,K", [(1, 1), (5, 7), (16, 32), (17, 33), (40, 100), (64, 64), (50, 513)])
def test_packed_layouts(rows, K, transposed):
    """pack_rows and pack_weight against the layouts written out in NumPy, from inputs that
    are column slices of larger arrays (as matmul's K blocks are), padding included."""
    rng = np.random.default_rng(rows * 1000 + K)
    big = rng.standard_normal((K + 5, rows + 3) if transposed else (rows + 3, K + 5)).astype(np.float32)
    view = big[2:2 + K, 1:1 + rows] if transposed else big[1:1 + rows, 2:2 + K]
    X = view.T if transposed else view
    Mp, Kp, P = gemm_bf16.padded(rows, 16), gemm_bf16.padded(K, 32), -(-rows // 16)
    ap = np.full((Mp // 16, Kp // 32, 512), 0xAAAA, np.uint16)
    pack_rows(ap, view, transposed)
    expected = np.zeros((Mp, Kp), np.uint16)
    expected[:rows, :K] = rne_bits(X)
    np.testing.assert_array_equal(ap, expected.reshape(Mp // 16, 16, Kp // 32, 32).transpose(0, 2, 1, 3)
                                  .reshape(Mp // 16, Kp // 32, 512))
    wp = np.full((P, Kp // 2, 32), 0xAAAA, np.uint16)
    pack_weight(wp, view, transposed)
    np.testing.assert_array_equal(wp, expected_panels(X, P, Kp))


@needs_bf16
@pytest.mark.parametrize("transposed", [False, True])
def test_packing_rounds_as_round_bf16_bit_for_bit(transposed):
    """The packers round 16 values at a time in vector registers: ties, the overflow to inf,
    subnormals and NaNs (with their sign, quieted) as to_bf16 rounds them, at every place of
    a block, partial blocks included."""
    rng = np.random.default_rng(7)
    bits = np.array([b for b, _ in EDGE_CASES] + NANS + [0x3F808000, 0x3F818000, 0x7F7FFFFF, 0xC0490FDB], np.uint32)
    X = bits[rng.integers(0, bits.size, (37, 45))].view(np.float32)
    view = np.ascontiguousarray(X.T) if transposed else X
    Mp, Kp, P = 48, 64, 3
    ap = np.zeros((Mp // 16, Kp // 32, 512), np.uint16)
    pack_rows(ap, view, transposed)
    expected = np.zeros((Mp, Kp), np.uint16)
    expected[:37, :45] = bf16.to_bf16(X)
    np.testing.assert_array_equal(ap, expected.reshape(3, 16, 2, 32).transpose(0, 2, 1, 3).reshape(3, 2, 512))
    wp = np.zeros((P, Kp // 2, 32), np.uint16)
    pack_weight(wp, view, transposed)
    np.testing.assert_array_equal(wp, expected.reshape(P, 16, Kp // 2, 2).transpose(0, 2, 1, 3).reshape(P, Kp // 2, 32))


# --- products -----------------------------------------------------------------------------

SHAPES = [(1, 1, 1), (5, 13, 7), (16, 16, 32), (33, 70, 9), (25, 65, 256), (gemm_bf16.MC + 3, 1029, 97),
          (300, 520, 2100)]


def test_the_shapes_span_several_row_and_k_blocks():
    kc, mc = gemm_bf16.blocking(gemm_bf16.MC + 3, 1029, 97)
    assert kc >= 97 and mc < gemm_bf16.MC + 3
    kc, mc = gemm_bf16.blocking(300, 520, 2100)
    assert kc < 2100 and mc < 300 and kc % 32 == 0 and mc % 32 == 0


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("a_transposed", [False, True])
@pytest.mark.parametrize("w_transposed", [False, True])
@pytest.mark.parametrize("M,N,K", SHAPES)
def test_matmul_matches_the_emulation(M, N, K, a_transposed, w_transposed, path):
    """Every orientation; shapes that end in partial tiles and span several K and row blocks."""
    rng = np.random.default_rng(M * 1000 + N * 10 + K)
    A, W = rng.standard_normal((M, K)).astype(np.float32), rng.standard_normal((N, K)).astype(np.float32)
    a = np.ascontiguousarray(A.T) if a_transposed else A
    w = np.ascontiguousarray(W.T) if w_transposed else W
    c = np.full((M, N), np.nan, np.float32)
    scratch = bf16_scratch(scratch_size(M, N, K, np.uint16), path)
    scratch[1:] = 0xFFFF  # NaN bits: whatever the products read must have been written first
    matmul(c, a, w, a_transposed, w_transposed, scratch)
    assert_close(c, *emulate(A, W))


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("offset", [0, 4])
@pytest.mark.parametrize("M", [5, 16, 25, 32, 50])
@pytest.mark.parametrize("N,K", [(64, 32), (65, 100), (256, 256)])
def test_step_products_with_the_weight_packed_once(M, N, K, offset, path):
    """The recurrent pattern: W packed once, then products of new rows, written fresh and
    accumulated, into rows of a larger array whose data starts on a cache line or not; the
    rows around them stay untouched."""
    rng = np.random.default_rng(M + N + K)
    W = rng.standard_normal((N, K)).astype(np.float32)
    scratch = bf16_scratch(packed_size(M, N, K, np.uint16), path)
    ap, wp, edge = packed_views(scratch, M, N, K)
    pack_weight(wp, np.ascontiguousarray(W.T), True)
    big = offset_rows((M + 4, N), offset)
    c = big[2:2 + M]
    for accumulate in (False, True, True, False, True):
        A = rng.standard_normal((M, K)).astype(np.float32)
        pack_rows(ap, A, False)
        before = c.astype(np.float64) if accumulate else None
        matmul_packed(c, ap, wp, edge, accumulate)
        assert_close(c, *emulate(A, W, before))
    assert np.isnan(big[:2]).all() and np.isnan(big[2 + M:]).all()


@pytest.mark.parametrize("path", PATHS)
def test_matmul_writes_into_a_row_slice_of_a_larger_array(path):
    rng = np.random.default_rng(0)
    big = np.zeros((40, 70), np.float32)
    A, W = rng.standard_normal((29, 11)).astype(np.float32), rng.standard_normal((70, 11)).astype(np.float32)
    matmul(big[4:33], A, W, False, False, bf16_scratch(scratch_size(29, 70, 11, np.uint16), path))
    assert_close(big[4:33], *emulate(A, W))
    assert not big[:4].any() and not big[33:].any()


@pytest.mark.skipif(not HAS_AMX, reason="needs both paths: AMX unavailable")
def test_both_paths_run_in_one_process_from_the_scratch_flag():
    """The same compiled kernel takes either path from the scratch's header."""
    rng = np.random.default_rng(1)
    A, W = rng.standard_normal((40, 96)).astype(np.float32), rng.standard_normal((48, 96)).astype(np.float32)
    results = {}
    for path in ("amx", "avx512bf16", "amx"):
        scratch = bf16_scratch(scratch_size(40, 48, 96, np.uint16), path)
        assert gemm_bf16.path_of(scratch) == path
        c = np.zeros((40, 48), np.float32)
        matmul(c, A, W, False, False, scratch)
        assert_close(c, *emulate(A, W))
        results.setdefault(path, []).append(c)
    np.testing.assert_array_equal(results["amx"][0], results["amx"][1])


# --- selection, fallback, and the cell kernels in bf16 ------------------------------------

def test_a_zeroed_scratch_takes_the_avx512_path():
    """np.zeros gives the path that needs no permission from the OS."""
    assert gemm_bf16.path_of(np.zeros(gemm_bf16.FRONT, np.uint16)) == "avx512bf16"


def test_aligned_zeros():
    for shape, dtype in (((3, 5), np.float32), ((25, 1024), np.float32), ((7,), np.uint16)):
        x = gemm_bf16.aligned_zeros(shape, dtype)
        assert x.shape == shape and x.dtype == dtype and x.flags.c_contiguous and not x.any()
        assert x.ctypes.data % 64 == 0


def test_sizes_dispatch_on_the_scratch_dtype():
    assert gemm.packed_size(25, 1024, 256, np.uint16) == gemm_bf16.packed_size(25, 1024, 256)
    assert gemm.scratch_size(3200, 65, 512, np.uint16) == gemm_bf16.scratch_size(3200, 65, 512)
    assert gemm.scratch_size(3200, 65, 512, np.float32) != gemm_bf16.scratch_size(3200, 65, 512)


def test_path_choice_for_cpu_descriptions():
    none, avx512 = {}, {"avx512f": True, "avx512bf16": True}
    amx = dict(avx512, **{"amx-tile": True, "amx-bf16": True})
    assert cpu.bf16_path(none, True) is None
    assert cpu.bf16_path({"avx512f": True, "amx-tile": True, "amx-bf16": True}, True) is None
    assert cpu.bf16_path(avx512, True) == "avx512bf16"
    assert cpu.bf16_path(amx, False) == "avx512bf16"
    assert cpu.bf16_path(amx, True) == "amx"


def test_kernels_refuse_a_cpu_without_avx512_bf16():
    with pytest.raises(NotImplementedError, match="avx512bf16"):
        gemm_bf16.check_cpu({"avx512f": True, "avx2": True})
    gemm_bf16.check_cpu({"avx512f": True, "avx512bf16": True})


def fake_syscall(request_result, mask):
    def syscall(number, code, arg):
        assert number == cpu.SYS_ARCH_PRCTL
        if code == cpu.ARCH_REQ_XCOMP_PERM:
            assert arg == cpu.XFEATURE_XTILEDATA
            return request_result
        arg._obj.value = mask
        return 0
    return syscall


def test_amx_permission_follows_the_os_answer():
    tiles = 1 << cpu.XFEATURE_XTILEDATA
    assert cpu.request_xtiledata(fake_syscall(0, tiles | 0b11))
    assert not cpu.request_xtiledata(fake_syscall(-1, tiles))
    assert not cpu.request_xtiledata(fake_syscall(0, 0b11))


def test_set_path_refuses_amx_when_the_os_did(monkeypatch):
    monkeypatch.setattr(cpu, "amx_permitted", lambda: False)
    scratch = np.zeros(gemm_bf16.FRONT, np.uint16)
    with pytest.raises(ValueError, match="amx"):
        gemm_bf16.set_path(scratch, "amx")
    assert gemm_bf16.path_of(scratch) == "avx512bf16"


def run_cell(cell, a, scratch_dtype, path):
    """Forward and backward of a cell with its input projection, every product taking its
    precision from the scratch; returns (hs, input gradient, recurrent weight gradient)."""
    from charrnn.kernels import gru, lstm, rnn
    from charrnn.kernels.projection import input_backward, input_forward
    T, B, n_in = a["x"].shape
    G, H = a["wh"].shape[0] // a["wh"].shape[1], a["wh"].shape[1]
    f32 = lambda *shape: np.zeros(shape, np.float32)  # noqa: E731
    size = max(scratch_size(T * B, G * H, n_in, scratch_dtype), packed_size(B, G * H, H, scratch_dtype),
               packed_size(B, H, G * H, scratch_dtype), scratch_size(G * H, H, T * B, scratch_dtype),
               scratch_size(G * H, n_in, T * B, scratch_dtype), scratch_size(T * B, n_in, G * H, scratch_dtype))
    scratch = np.zeros(size, scratch_dtype)
    if path:
        gemm_bf16.set_path(scratch, path)
    hs, acts, dacts = f32(T + 1, B, H), f32(T, B, G * H), f32(T, B, G * H)
    dwh, dbx, dbh, dh0, dx, dwx = f32(G * H, H), f32(G * H), f32(G * H), f32(B, H), f32(T, B, n_in), f32(G * H, n_in)
    dhs, zero = np.ones((T, B, H), np.float32), f32(B, H)
    input_forward(acts, a["x"], a["wx"], scratch)
    weights = (a["wh"], a["bx"], a["bh"], a["h0"])
    if cell == "lstm":
        cs = f32(T + 1, B, H)
        lstm.lstm_forward(hs, cs, acts, f32(B, G * H), scratch, *weights, a["c0"])
        lstm.lstm_backward(dwh, dbx, dbh, dh0, f32(B, H), dacts, scratch, dhs, zero, zero, a["wh"], hs, cs, acts)
    elif cell == "gru":
        hn = f32(T, B, H)
        gru.gru_forward(hs, acts, hn, f32(B, G * H), scratch, *weights)
        gru.gru_backward(dwh, dbx, dbh, dh0, dacts, f32(T, B, G * H), f32(B, H), scratch, dhs, zero, a["wh"], hs,
                         acts, hn)
    else:
        rnn.rnn_forward(hs, acts, f32(B, G * H), scratch, *weights)
        rnn.rnn_backward(dwh, dbx, dbh, dh0, dacts, scratch, dhs, zero, a["wh"], hs)
    input_backward(dx, dwx, dacts, a["x"], a["wx"], scratch)
    return hs, dx, dwh


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("cell,G", [("rnn", 1), ("lstm", 4), ("gru", 3)])
def test_cell_kernels_compile_in_bf16_unchanged(cell, G, path):
    """Handed a uint16 scratch, the cell kernels run every product in bf16: a window and its
    gradients stay within bf16's precision of the float32 run (and differ from it), and the
    RNN's first step matches its emulation (both products rounded) to float32 precision."""
    rng = np.random.default_rng(0)
    T, B, n_in, H = 5, 3, 20, 24
    u = lambda *shape: rng.uniform(-0.8, 0.8, shape).astype(np.float32)  # noqa: E731
    a = dict(x=u(T, B, n_in), wx=u(G * H, n_in), wh=u(G * H, H), bx=u(G * H), bh=u(G * H), h0=u(B, H), c0=u(B, H))
    hs16, dx16, dwh16 = run_cell(cell, a, np.uint16, path)
    hs32, dx32, dwh32 = run_cell(cell, a, np.float32, None)
    if cell == "rnn":
        x_part, _ = emulate(a["x"][0], a["wx"])
        h_part, _ = emulate(a["h0"], a["wh"])
        np.testing.assert_allclose(hs16[1], np.tanh(x_part + h_part + a["bx"] + a["bh"]), atol=2e-6)
    for got, want in ((hs16, hs32), (dx16, dx32), (dwh16, dwh32)):
        scale = np.abs(want).max()
        assert np.abs(got - want).max() <= 0.03 * scale
        assert np.abs(got - want).max() > 0  # the bf16 products did run
