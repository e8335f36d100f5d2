"""Optimiser updates over the flat parameter buffer: one pass each."""

import math

from .jit import kernel


@kernel
def sum_squares(g):
    """Sum of squares of a 1-D array, accumulated in float64."""
    total = 0.0
    for k in range(g.size):
        total += float(g[k]) * float(g[k])
    return total


@kernel
def adam_update(p, m, v, g, lr, beta1, beta2, eps, step, grad_scale):
    """One Adam step (bias-corrected, step counted from 1) on the 1-D arrays p, m, v with gradient g * grad_scale."""
    c1 = 1.0 - beta1 ** step
    c2 = 1.0 - beta2 ** step
    step_size = lr / c1
    root_c2 = math.sqrt(c2)
    for k in range(p.size):
        gk = g[k] * grad_scale
        m[k] = beta1 * m[k] + (1.0 - beta1) * gk
        v[k] = beta2 * v[k] + (1.0 - beta2) * gk * gk
        p[k] -= step_size * m[k] / (math.sqrt(v[k]) / root_c2 + eps)


@kernel
def moving_average(average, p, decay):
    """average = decay * average + (1 - decay) * p, over 1-D arrays."""
    keep = 1.0 - decay
    for k in range(p.size):
        average[k] = decay * average[k] + keep * p[k]


@kernel
def rmsprop_update(p, v, g, lr, alpha, eps, grad_scale):
    """One RMSProp step (PyTorch's form: v = alpha v + (1 - alpha) g^2; p -= lr g / (sqrt(v) + eps))."""
    for k in range(p.size):
        gk = g[k] * grad_scale
        v[k] = alpha * v[k] + (1.0 - alpha) * gk * gk
        p[k] -= lr * gk / (math.sqrt(v[k]) + eps)


@kernel
def sgd_update(p, m, g, lr, momentum, grad_scale):
    """One SGD step with momentum (PyTorch's form: m = momentum m + g; p -= lr m)."""
    for k in range(p.size):
        m[k] = momentum * m[k] + g[k] * grad_scale
        p[k] -= lr * m[k]
