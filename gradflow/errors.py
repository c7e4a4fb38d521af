"""The errors gradflow raises on purpose. Each message is one line naming the op, argument,
file or entry and what was wrong.

Every error gradflow raises deliberately is a :class:`GradflowError` (``except GradflowError``
catches them all; the command line prints one as a single line and exits with its
``exit_code``), and each also subclasses the builtin that Python code would expect
(``ShapeError`` is a ``ValueError``, ``UnknownNameError`` a ``KeyError`` and a ``ValueError``),
so ``except ValueError`` keeps working. Modules with errors of their own define them next to
the code (``FormulaError``, ``CheckpointError``, ``ExerciseError``…), always on these bases.
A builtin raised anyway marks a gradflow bug or a Python protocol (an abstract method, a
module's ``__getattr__``); ``tests/test_errors.py`` lists each such place and why.
"""


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


class ArgumentError(GradflowError, ValueError):
    """A bad argument to a gradflow function or class, found before any work: a value out of
    range (``lr`` < 0, dropout ``p`` >= 1), not one of the choices (``mode='mean'``) or
    inconsistent with another argument; the message names the function and the argument."""


class ArgumentTypeError(GradflowError, TypeError):
    """An argument of the wrong kind (a list where a ``Tensor`` is needed, a string for an
    integer size) or an unexpected keyword, like Python's own ``TypeError`` for a call."""


class UnknownNameError(ArgumentError, KeyError):
    """A name (optimizer, loss, schedule, dataset, metric, question…) or key that is not among
    the known ones; the message lists the known ones. A ``KeyError`` for lookups and a
    ``ValueError`` for argument checks, as it replaces both."""

    __str__ = Exception.__str__  # the message as given, not quoted as KeyError quotes a key


class StateDictError(ArgumentError, KeyError):
    """A state dict that ``load_state_dict`` refuses (model, optimizer, schedule, callback):
    a missing or unknown entry, or a value of the wrong kind or shape, or NaN; the message
    names the entry. Nothing was changed. A ``KeyError`` as well, as missing entries were."""

    __str__ = Exception.__str__


class CallOrderError(GradflowError, RuntimeError):
    """A method called before what it needs has happened (``Standardizer.transform`` before
    ``fit``) or once too often; the message says which call must come first."""


class BackwardTwiceError(CallOrderError):
    """``backward()`` was called again on a graph whose gradients were already added."""


class ToolError(GradflowError, RuntimeError):
    """A program or package gradflow runs (LaTeX, a Graphviz renderer) is missing, failed or
    timed out; the message names it and quotes its last lines. A failed run: exit code 1."""

    exit_code = 1


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
