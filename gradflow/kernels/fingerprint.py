"""The op-table fingerprint in every cached kernel's key (see :mod:`gradflow.kernels.opforms`).

Apart from :mod:`~gradflow.kernels.opforms` so that :mod:`~gradflow.kernels.cachedir` can
read it without importing numba or the kernels (no import cycle).
"""

from __future__ import annotations

import functools
import hashlib
import types
from pathlib import Path

from .. import numerics
from ..ops import OPS


def _hash_code(h, fn, seen: set) -> None:
    """Feed ``fn``'s bytecode, constants and the numbers and same-module functions it reads
    by name (SELU's α, ``_swish_d``) into ``h``."""
    if fn in seen:
        return
    seen.add(fn)
    _hash_code_object(h, fn.__code__)
    code = fn.__code__
    for name in code.co_names:
        value = fn.__globals__.get(name)
        if isinstance(value, (int, float)):
            h.update(f"{name}={value!r}".encode())
        elif isinstance(value, types.FunctionType) and value.__module__ == fn.__module__:
            _hash_code(h, value, seen)
    for cell in fn.__closure__ or ():  # elementwise()'s ``local`` holds the derivatives
        contents = cell.cell_contents
        for value in contents if isinstance(contents, tuple) else (contents,):
            if isinstance(value, types.FunctionType):
                _hash_code(h, value, seen)


def _hash_code_object(h, code: types.CodeType) -> None:
    """Bytecode, names and constants; nested code objects by their own content (their repr
    holds a memory address, which would change the key in every process)."""
    h.update(code.co_code + repr(code.co_names).encode())
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            _hash_code_object(h, const)
        else:
            h.update(repr(const).encode())


@functools.cache
def fingerprint() -> str:
    """A hash of everything the compiled forms are made of: every elementwise op's name,
    forward and derivatives in table order, the numerics functions behind ``opforms.XP``,
    and the source of :mod:`~gradflow.kernels.opforms`. Part of every cached kernel's key."""
    h = hashlib.sha256(Path(__file__).with_name("opforms.py").read_bytes())
    seen: set = set()
    for op in OPS.values():
        if op.elementwise:
            h.update(f"{op.name}:{op.role}:{sorted(op.params.items())!r}".encode())
            _hash_code(h, op.forward, seen)
            _hash_code(h, op.local, seen)
    for value in vars(numerics.SCALAR).values():
        if isinstance(value, types.FunctionType):
            _hash_code(h, value, seen)
    return h.hexdigest()[:16]
