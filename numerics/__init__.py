"""Numerical evaluation of the claims: analytic and empirical kernels, M_Delta spectra,
Fisher information and information measures (NumPy, or CuPy through :mod:`lora_theorems.numerics.backend`)."""
