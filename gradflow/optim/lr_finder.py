"""The LR range test moved to :mod:`gradflow.training.lr_finder` (it trains, so it lives with
``fit``); this name keeps ``from gradflow.optim.lr_finder import lr_range_test`` working.
Looked up on first use: importing ``training`` from here would close an import circle."""

from __future__ import annotations

_MOVED = ("LRFinderResult", "lr_range_test")


def __getattr__(name: str):
    if name in _MOVED:
        from ..training import lr_finder

        return getattr(lr_finder, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
