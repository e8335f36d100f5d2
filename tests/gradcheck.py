"""Central finite differences and the relative-error measure the gradient checks use."""

import numpy as np


def numeric_gradient(f, array, eps=1e-5):
    """d f() / d array by central differences, perturbing `array` in place (float64)."""
    grad = np.zeros_like(array)
    flat, gflat = array.reshape(-1), grad.reshape(-1)
    for k in range(flat.size):
        saved = flat[k]
        flat[k] = saved + eps
        plus = f()
        flat[k] = saved - eps
        minus = f()
        flat[k] = saved
        gflat[k] = (plus - minus) / (2 * eps)
    return grad


def relative_error(analytic, numeric):
    """max |a - n| / max(|a| + |n|, 1e-8), elementwise: the measure of cs231n and torch-rnn."""
    return float(np.max(np.abs(analytic - numeric) / np.maximum(np.abs(analytic) + np.abs(numeric), 1e-8)))
