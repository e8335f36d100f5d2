"""The one decorator preset every kernel uses, and the activations the cells share.

fastmath leaves out nnan/ninf so that non-finite values still propagate and can be caught by
the caller; error_model='numpy' lets divisions vectorise.
"""

import math

import numba
import numpy as np
from numba import types
from numba.extending import overload

FASTMATH = {"nsz", "arcp", "contract", "afn", "reassoc"}
kernel = numba.njit(cache=True, fastmath=FASTMATH, error_model="numpy", nogil=True)

# tanh(x) ~ x * P(x^2) / Q(x^2) on |x| <= 9, fitted for charrnn by least squares on the relative
# error (3.6e-7 at most once evaluated in float32, against 1.2e-7 for float32 rounding itself).
# Unlike libm's scalar tanh it vectorises. Used for float32 only; float64 (the gradient checks)
# uses math.tanh so the checks see exact derivatives.
_CLAMP = np.float32(9.0)
_P0 = np.float32(0.999999995596125)
_P1 = np.float32(0.13091689565137168)
_P2 = np.float32(0.0031125191332691854)
_P3 = np.float32(1.1243492689992539e-05)
_P4 = np.float32(-2.0585078802573164e-08)
_P5 = np.float32(5.4503395688505807e-11)
_P6 = np.float32(-8.929569421278922e-14)
_Q1 = np.float32(0.46425018528959616)
_Q2 = np.float32(0.02452931987048148)
_Q3 = np.float32(0.0002558591380853487)
_ONE = np.float32(1.0)

_HALF = np.float32(0.5)


def tanh(x):
    """Hyperbolic tangent: rational approximation for float32, exact for float64."""
    return np.tanh(x)


def sigmoid(x):
    """Logistic function, as 0.5 * (1 + tanh(x / 2)) so it never overflows."""
    return 0.5 * (1.0 + np.tanh(0.5 * x))


def _is_float32(x):
    return isinstance(x, types.Float) and x.bitwidth == 32


@overload(tanh, jit_options={"fastmath": FASTMATH, "error_model": "numpy"})
def _tanh_impl(x):
    if _is_float32(x):
        def tanh_f32(x):
            x = min(max(x, -_CLAMP), _CLAMP)
            s = x * x
            p = ((((((_P6 * s + _P5) * s + _P4) * s + _P3) * s + _P2) * s + _P1) * s + _P0)
            q = ((_Q3 * s + _Q2) * s + _Q1) * s + _ONE
            return x * p / q
        return tanh_f32
    return lambda x: math.tanh(x)


@overload(sigmoid, jit_options={"fastmath": FASTMATH, "error_model": "numpy"})
def _sigmoid_impl(x):
    if _is_float32(x):
        return lambda x: _HALF * (_ONE + tanh(_HALF * x))
    return lambda x: 0.5 * (1.0 + math.tanh(0.5 * x))


# e^x for x <= 0 in float32, for sampling probabilities: x = f - m ln2 with m = -round(x log2 e)
# (ln 2 split in two, so the reduction is exact enough: Cody and Waite), e^f by its Taylor
# series to degree 6 (|f| <= ln2 / 2), 2^-m as a product chosen by m's bits. 2.3e-7 relative
# error at most; below -87, where e^x would be subnormal, 0. Unlike libm's scalar exp it
# vectorises (about 4x faster over a row of logits). float64 uses math.exp.
_EXP_LOW = np.float32(-87.0)
_LOG2E = np.float32(1.4426950408889634)
_LN2_HI = np.float32(0.693359375)
_LN2_LO = np.float32(-2.12194440e-4)
_E2, _E3, _E4, _E5, _E6 = (np.float32(1.0 / math.factorial(k)) for k in range(2, 7))
_POW2 = tuple(np.float32(2.0 ** -(1 << bit)) for bit in range(7))  # 2^-1, 2^-2, 2^-4, ..., 2^-64
_ZERO = np.float32(0.0)
_EXP_FLAGS = FASTMATH - {"reassoc"}  # keep the two-part reduction as written


def exp_neg(x):
    """e^x for x <= 0 (-inf gives 0): a vectorisable approximation for float32."""
    return np.exp(x)


@overload(exp_neg, jit_options={"fastmath": _EXP_FLAGS, "error_model": "numpy"})
def _exp_neg_impl(x):
    if _is_float32(x):
        def exp_neg_f32(x):
            keep = x >= _EXP_LOW
            x = max(x, _EXP_LOW)
            m = np.int32(math.floor(_HALF - x * _LOG2E))  # 0..126
            mf = np.float32(m)
            f = (x + mf * _LN2_HI) + mf * _LN2_LO
            e = _ONE + f * (_ONE + f * (_E2 + f * (_E3 + f * (_E4 + f * (_E5 + f * _E6)))))
            scale = _ONE
            for bit in range(7):
                if m & (1 << bit):
                    scale *= _POW2[bit]
            return e * scale if keep else _ZERO
        return exp_neg_f32
    return lambda x: math.exp(x)



@kernel
def activate(x, rec, bias, logistic):
    """x = sigmoid(x + rec + bias) when `logistic`, else tanh(x + rec + bias), elementwise over
    1-D arrays of one length. Loops in the cells go through this one: over arrays that start
    at their index 0 and with few of them, LLVM vectorises the loop (a loop over
    range(2 * H, 3 * H) of a longer array it leaves scalar, at several times the cost)."""
    if logistic:
        for k in range(x.shape[0]):
            x[k] = sigmoid(x[k] + rec[k] + bias[k])
    else:
        for k in range(x.shape[0]):
            x[k] = tanh(x[k] + rec[k] + bias[k])
