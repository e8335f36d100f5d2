"""Finite differences and the relative-error measure the gradient checks use."""

import numpy as np


def numeric_gradient(f, array, step=2e-3):
    """d f() / d array by the fourth-order central difference, perturbing `array` in place.

    Its truncation error is O(step^4), so a step this large keeps float64 roundoff in f
    (~1e-16 |f| / step) near 1e-13, where a plain central difference would need a step
    small enough to let roundoff dominate.
    """
    grad = np.zeros_like(array)
    flat, gflat = array.reshape(-1), grad.reshape(-1)
    for k in range(flat.size):
        saved = flat[k]
        values = []
        for offset in (2, 1, -1, -2):
            flat[k] = saved + offset * step
            values.append(f())
        flat[k] = saved
        gflat[k] = (-values[0] + 8 * values[1] - 8 * values[2] + values[3]) / (12 * step)
    return grad


def relative_error(analytic, numeric, floor=1e-6):
    """max |a - n| / max(|a| + |n|, floor), elementwise (cs231n's and torch-rnn's measure).

    The floor holds gradients smaller than 1e-6 (an embedding row whose character is not in
    the window has an exact zero) to an absolute error of floor * threshold, 1e-12 for the
    1e-6 the checks ask: the finite differences' own roundoff is 1e-13 to 1e-12 here (a loss
    near 2, float64, steps of 2e-3), which a smaller floor would report as an error.
    """
    return float(np.max(np.abs(analytic - numeric) / np.maximum(np.abs(analytic) + np.abs(numeric), floor)))
