"""Numba kernels: the only code in charrnn that is compiled. Imports numpy and numba only.

Conventions (see ../config.py for the dimension letters): outputs first, then inputs;
arrays are C-contiguous and time-major, (T, B, ...); weights use PyTorch's layout, (G*H, In).
A forward writes what its backward needs into arrays the caller allocated; a backward writes
(not accumulates) the gradients of its own parameters, since each appears once per window.
"""
