"""Checks shared by the ``load_state_dict`` methods of callbacks and schedules: a state that
would be refused is refused before anything is changed, with the key named."""

from __future__ import annotations

from typing import Any

import numpy as np

from .errors import StateDictError


def check_like(who: str, state: dict[str, Any], template: dict[str, Any]) -> None:
    """``state`` has exactly ``template``'s keys, each value of its shape and kind (an integer
    for an integer, a real number for a float), and no NaN; the error names the key."""
    missing = sorted(set(template) - set(state))
    if missing:
        raise StateDictError(f"{who}.load_state_dict: missing {', '.join(missing)}")
    unknown = sorted(set(state) - set(template))
    if unknown:
        raise StateDictError(f"{who}.load_state_dict: unknown entries {', '.join(unknown)}")
    for key, like in template.items():
        like, value = np.asarray(like), np.asarray(state[key])
        kinds = "iu" if like.dtype.kind in "iub" else "fiu"
        if value.dtype.kind not in kinds or value.shape != like.shape:
            what = "an integer" if kinds == "iu" else "a real number"
            if like.ndim:
                what = f"an array of shape {like.shape}"
            raise StateDictError(
                f"{who}.load_state_dict: {key} must be {what}, got {value.dtype} of shape "
                f"{value.shape}"
            )
        if value.dtype.kind == "f" and np.isnan(value).any():
            raise StateDictError(f"{who}.load_state_dict: {key} is NaN")
