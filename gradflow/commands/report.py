"""How the subcommands print machine-readable results.

JSON is written strictly (RFC 8259): Python's ``json.dumps`` would write ``NaN`` and
``Infinity``, which most JSON readers refuse. A value that can legitimately be non-finite in
a report (a loss that overflowed, a step of ``steps`` at a huge input) is written as ``null``.
"""

from __future__ import annotations

import json
import math
from typing import Any


def json_text(obj: Any) -> str:
    """``obj`` as one line of strict JSON; NaN and ±Inf become ``null``."""
    return json.dumps(finite_or_none(obj), allow_nan=False)


def finite_or_none(obj: Any) -> Any:
    """A copy of ``obj`` (dicts, lists, tuples, numbers) with every NaN/±Inf float as None."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: finite_or_none(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [finite_or_none(v) for v in obj]
    return obj
