"""The errors gradflow raises on purpose. Each message names the op and what was wrong."""


class GradflowError(Exception):
    """Base class for gradflow's own errors."""


class ShapeError(GradflowError, ValueError):
    """Operands whose shapes do not fit the op, e.g. ``matmul (3, 4) @ (5, 2)``."""


class AnomalyError(GradflowError, FloatingPointError):
    """An op produced NaN or Inf while :func:`gradflow.detect_anomaly` was active."""


class BackwardTwiceError(GradflowError, RuntimeError):
    """``backward()`` was called again on a graph whose gradients were already added."""
