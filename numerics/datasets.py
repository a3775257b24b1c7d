"""Real data that ships with an installed package: no download at run time (claims L8, H3, M4).

scikit-learn's bundled digits (1797 8x8 images, pixel values 0-16, labels 0-9) are read from the
file ``sklearn/datasets/data/digits.csv.gz`` exactly as ``sklearn.datasets.load_digits`` parses it
(``np.loadtxt``), without importing scikit-learn, which costs a worker about 0.8 s of CPU; where the
file is not a plain file (a zipped install), ``load_digits`` itself is used.
"""

from __future__ import annotations

import functools

import numpy as np

__all__ = ["digits_raw"]


@functools.lru_cache(maxsize=1)
def digits_raw() -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn's digits as ``load_digits`` returns them: pixels ``(1797, 64)`` float64 in
    0-16 and the digit ``(1797,)`` int; read once per process, returned read-only (L8, H3, M4)."""
    import gzip
    import importlib.util
    import os

    spec = importlib.util.find_spec("sklearn")  # locates the package, does not import it
    pixels = digit = None
    for root in (spec.submodule_search_locations or []) if spec is not None else []:
        path = os.path.join(root, "datasets", "data", "digits.csv.gz")
        if os.path.isfile(path):
            with gzip.open(path, mode="rt", encoding="utf-8") as f:
                data = np.loadtxt(f, delimiter=",")
            pixels, digit = data[:, :-1], data[:, -1].astype(int, copy=False)
            break
    if pixels is None or digit is None:
        from sklearn.datasets import load_digits

        bunch = load_digits()
        pixels, digit = bunch.data, bunch.target
    for a in (pixels, digit):
        a.setflags(write=False)
    return pixels, digit
