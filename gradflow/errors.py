"""The errors gradflow raises on purpose. Each message names the op and what was wrong."""


class GradflowError(Exception):
    """Base class for gradflow's own errors. ``exit_code`` is what the command line exits
    with: 2 when the error describes bad input (a formula, a path, an option), 1 when a run
    that was asked for correctly failed (training diverged, a disk filled up)."""

    exit_code = 2


class ShapeError(GradflowError, ValueError):
    """Operands whose shapes do not fit the op, e.g. ``matmul (3, 4) @ (5, 2)``."""


class AnomalyError(GradflowError, FloatingPointError):
    """An op produced NaN or Inf while :func:`gradflow.detect_anomaly` was active."""

    exit_code = 1


class BackwardTwiceError(GradflowError, RuntimeError):
    """``backward()`` was called again on a graph whose gradients were already added."""


class UndecidedBranchError(GradflowError, ValueError):
    """SymPy cannot tell which branch of a kink (relu, max, elu…) applies at the given values:
    the point lies within rounding of the kink's threshold (values like 1e-300)."""


class SymbolicLimitError(GradflowError, ValueError):
    """A graph too large or too deep for :func:`gradflow.check_symbolic`: the message names
    the limit (SymPy works recursively and slows down with the square of the depth)."""


class DataError(GradflowError, ValueError):
    """Training or validation data that cannot be trained on, e.g. a NaN or Inf among the
    inputs or targets; the message names the data set and the element: ``X[3, 5] is NaN``."""


class UsageError(GradflowError, ValueError):
    """Bad command-line input found before any work starts: an option value or a path that
    cannot be used. The message names the option (or the file) and the problem."""


class TrainingDivergedError(GradflowError, FloatingPointError):
    """The training loss became NaN or Inf; the message says where it first appeared (a
    broken parameter, the first op or layer producing it, or the loss) and the epoch."""

    exit_code = 1


class GradflowWarning(UserWarning):
    """Base class for gradflow's warnings: something works, but not as well as it could (no
    safe cache directory, no Graphviz renderer). The command line prints each as one line."""
