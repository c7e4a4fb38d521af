"""Datasets available offline: scikit-learn's bundled digits and Iris, and seeded generators.

Every loader returns ``(X, y)`` with float64 ``X``; class labels are int64, regression
targets float64 of shape (n, 1). Generators take ``n`` and ``seed`` and are deterministic.
"""

from __future__ import annotations

import numpy as np

from ..errors import ArgumentError


def load_digits(images: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """The 1797 8×8 handwritten digits, pixels 0..16. ``images=True`` gives (n, 1, 8, 8)."""
    table = _sklearn_table("digits.csv.gz", header=False)
    if table is None:
        from sklearn.datasets import load_digits as _digits

        d = _digits()
        X, y = d.data.astype(np.float64), d.target
    else:
        X, y = np.ascontiguousarray(table[:, :-1]), table[:, -1]
    return (X.reshape(-1, 1, 8, 8) if images else X), y.astype(np.int64)


def load_iris() -> tuple[np.ndarray, np.ndarray]:
    """Fisher's 150 irises: 4 measurements (cm), 3 species."""
    table = _sklearn_table("iris.csv", header=True)
    if table is None:
        from sklearn.datasets import load_iris as _iris

        d = _iris()
        return d.data.astype(np.float64), d.target.astype(np.int64)
    return np.ascontiguousarray(table[:, :-1]), table[:, -1].astype(np.int64)


def _sklearn_table(name: str, header: bool) -> np.ndarray | None:
    """The numbers of scikit-learn's bundled data file ``name`` (features, then the label),
    read without importing scikit-learn: its import takes most of a second (SciPy's
    statistics come with it), longer than the training of the demo's MLP. None if the file
    is not where scikit-learn keeps it; the caller then asks scikit-learn (a test checks
    that both give the same arrays)."""
    import gzip
    import importlib.util
    from pathlib import Path

    spec = importlib.util.find_spec("sklearn")  # finds the package without running it
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(next(iter(spec.submodule_search_locations)), "datasets", "data", name)
    if not path.is_file():
        return None
    opener = gzip.open if name.endswith(".gz") else open
    with opener(path, "rt", encoding="utf-8") as f:
        return np.loadtxt(f, delimiter=",", skiprows=1 if header else 0, dtype=np.float64)


def xor(n: int = 200, noise: float = 0.1, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Points around the four corners (±1, ±1); class 1 where the signs differ (XOR)."""
    g = np.random.default_rng(seed)
    corners = g.integers(0, 2, size=(n, 2))
    X = (2.0 * corners - 1.0) + noise * g.standard_normal((n, 2))
    return X, (corners[:, 0] ^ corners[:, 1]).astype(np.int64)


def moons(n: int = 200, noise: float = 0.1, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Two interleaving half circles (scikit-learn's ``make_moons``)."""
    from sklearn.datasets import make_moons

    X, y = make_moons(n_samples=n, noise=noise, random_state=seed)
    return X.astype(np.float64), y.astype(np.int64)


def circles(n: int = 200, noise: float = 0.05, factor: float = 0.5, seed: int = 0):
    """A small circle inside a large one (scikit-learn's ``make_circles``)."""
    from sklearn.datasets import make_circles

    X, y = make_circles(n_samples=n, noise=noise, factor=factor, random_state=seed)
    return X.astype(np.float64), y.astype(np.int64)


def spirals(n: int = 300, classes: int = 3, noise: float = 0.2, seed: int = 0):
    """``classes`` interleaved spiral arms (the CS231n toy problem), n points in total."""
    g = np.random.default_rng(seed)
    y = np.arange(n) % classes
    r = g.uniform(0.05, 1.0, n)
    theta = 4.0 * r + 2.0 * np.pi * y / classes + noise * g.standard_normal(n)
    X = np.stack([r * np.sin(theta), r * np.cos(theta)], axis=1)
    return X, y.astype(np.int64)


def sine(n: int = 200, noise: float = 0.1, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Regression: y = sin(x) + noise for x uniform in [−π, π]; X (n, 1), y (n, 1)."""
    g = np.random.default_rng(seed)
    x = g.uniform(-np.pi, np.pi, (n, 1))
    return x, np.sin(x) + noise * g.standard_normal((n, 1))


def adding_problem(n: int = 1000, length: int = 20, seed: int = 0):
    """The adding problem (Hochreiter & Schmidhuber): X (n, T, 2) holds a random value in
    [0, 1] and a 0/1 marker per step; exactly two steps are marked, one in each half, and
    the target (n, 1) is the sum of the two marked values. Predicting the mean (1.0) gives
    MSE ≈ 1/6 — the baseline a recurrent model must beat."""
    if length < 2:
        raise ArgumentError(f"adding_problem: length must be >= 2, got {length}")
    g = np.random.default_rng(seed)
    values = g.uniform(0.0, 1.0, (n, length))
    half = length // 2
    first = g.integers(0, half, n)
    second = g.integers(half, length, n)
    markers = np.zeros((n, length))
    markers[np.arange(n), first] = 1.0
    markers[np.arange(n), second] = 1.0
    X = np.stack([values, markers], axis=2)
    y = (values[np.arange(n), first] + values[np.arange(n), second])[:, None]
    return X, y


def parity(n: int = 1000, length: int = 8, seed: int = 0):
    """Parity sequences: X (n, T, 1) of random bits, y = 1 if the number of ones is odd."""
    g = np.random.default_rng(seed)
    bits = g.integers(0, 2, (n, length))
    return bits[:, :, None].astype(np.float64), (bits.sum(axis=1) % 2).astype(np.int64)


def signals_1d(n: int = 600, length: int = 64, noise: float = 0.3, seed: int = 0):
    """1-D signals for Conv1d, X (n, 1, L): class 0 sine, 1 square, 2 sawtooth wave, each
    with a random frequency, phase and amplitude plus Gaussian noise."""
    g = np.random.default_rng(seed)
    y = np.arange(n) % 3
    g.shuffle(y)
    t = np.arange(length)[None, :] / length
    freq = g.uniform(2.0, 5.0, (n, 1))
    phase = g.uniform(0.0, 1.0, (n, 1))
    amp = g.uniform(0.5, 1.5, (n, 1))
    cycle = (freq * t + phase) % 1.0
    waves = np.where(
        y[:, None] == 0,
        np.sin(2 * np.pi * cycle),
        np.where(y[:, None] == 1, np.sign(np.sin(2 * np.pi * cycle)), 2.0 * cycle - 1.0),
    )
    X = amp * waves + noise * g.standard_normal((n, length))
    return X[:, None, :], y.astype(np.int64)


DATASETS = {
    "digits": load_digits,
    "iris": load_iris,
    "xor": xor,
    "moons": moons,
    "circles": circles,
    "spirals": spirals,
    "sine": sine,
    "adding": adding_problem,
    "parity": parity,
    "signals": signals_1d,
}
