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
