"""Content fingerprints that key caches: a dataset by every one of its samples, a network by its architecture.

A cache keyed by a dataset's name and size, or by a network's class name, hands one run's results to
another run with other data or another network of the same shapes and class (two ``nn.Sequential``).
These fingerprints read the content instead: :func:`dataset_fingerprint` hashes every sample's tensors
and label (BLAKE2b over the raw bytes, about 1 GB/s: a few tenths of a second for 60,000 images held in
a ``TensorDataset``), :func:`architecture_fingerprint` the network's module tree and its parameter and
buffer shapes (not their values), :func:`code_fingerprint` the code of its module classes.

>>> import torch
>>> from torch.utils.data import TensorDataset
>>> a = TensorDataset(torch.zeros(4, 2), torch.tensor([0, 1, 0, 1]))
>>> b = TensorDataset(torch.zeros(4, 2), torch.tensor([0, 1, 1, 1]))
>>> dataset_fingerprint(a) == dataset_fingerprint(a), dataset_fingerprint(a) == dataset_fingerprint(b)
(True, False)
"""

from __future__ import annotations

import functools
import hashlib
import inspect
import numbers
import re
from collections.abc import Mapping
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.utils.data import Dataset, Subset, TensorDataset

__all__ = ["architecture_fingerprint", "code_fingerprint", "dataset_fingerprint", "update_hash", "whole_tensors"]

#: top-level packages whose classes count by name only (their code is pinned by the installed version)
_LIBRARY_PACKAGES = frozenset({"torch", "torchvision", "builtins"})

_ADDRESS = re.compile(r" at 0x[0-9a-fA-F]+")


def _update_tensor(h: Any, t: torch.Tensor) -> None:
    t = t.detach().cpu().contiguous()
    h.update(f"tensor {t.dtype} {tuple(t.shape)};".encode())
    if t.numel():
        h.update(t.reshape(-1).view(torch.uint8).numpy())


def update_hash(h: Any, value: Any) -> None:
    """Feed one sample (a tensor, an array, a number, a string, a PIL image, or a tuple/dict of them)."""
    if isinstance(value, torch.Tensor):
        _update_tensor(h, value)
    elif isinstance(value, (tuple, list)):
        h.update(f"seq {len(value)};".encode())
        for v in value:
            update_hash(h, v)
    elif isinstance(value, Mapping):
        h.update(f"map {len(value)};".encode())
        for k in sorted(value, key=repr):
            h.update(f"{k!r}:".encode())
            update_hash(h, value[k])
    elif value is None or isinstance(value, (str, bytes, bool, numbers.Number)):
        h.update(f"{type(value).__name__} {value!r};".encode())
    else:  # numpy arrays, PIL images, anything array-like
        arr = np.asarray(value)
        if arr.dtype == object:
            h.update(f"{type(value).__name__} {_ADDRESS.sub('', repr(value))};".encode())
        else:
            _update_tensor(h, torch.from_numpy(np.ascontiguousarray(arr)))


def whole_tensors(dataset: Dataset) -> tuple[torch.Tensor, ...] | None:
    """The tensors behind a plain ``TensorDataset`` (or a ``Subset`` of one), else None."""
    if isinstance(dataset, TensorDataset) and type(dataset).__getitem__ is TensorDataset.__getitem__:
        return tuple(dataset.tensors)
    if isinstance(dataset, Subset) and type(dataset).__getitem__ is Subset.__getitem__:
        inner = whole_tensors(dataset.dataset)
        if inner is not None:
            idx = torch.as_tensor(np.asarray(dataset.indices, dtype=np.int64))
            return tuple(t[idx] for t in inner)
    return None


def dataset_fingerprint(dataset: Dataset) -> str:
    """A 32-hex-digit BLAKE2b hash of every sample of ``dataset``, images and labels, in order.

    A ``TensorDataset`` (or a ``Subset`` of one) is hashed from its tensors at once; any other dataset
    item by item (``dataset[i]`` for every ``i``: its transforms run, so slow transforms make this slow).
    The two paths give different fingerprints for the same samples: a cache then recomputes once,
    it never mixes data.

    Raises:
        TypeError: ``dataset`` has no length or no ``__getitem__``.
    """
    if not hasattr(dataset, "__len__") or not hasattr(dataset, "__getitem__"):
        raise TypeError(f"Expected a dataset with a length and __getitem__, but got {type(dataset).__name__}")
    h = hashlib.blake2b(digest_size=16)
    tensors = whole_tensors(dataset)
    if tensors is not None:
        h.update(f"tensors {len(tensors)};".encode())
        for t in tensors:
            _update_tensor(h, t)
    else:
        h.update(f"items {len(dataset)};".encode())
        for i in range(len(dataset)):
            update_hash(h, dataset[i])
    return h.hexdigest()


def architecture_fingerprint(model: nn.Module) -> str:
    """A 32-hex-digit BLAKE2b hash of ``model``'s architecture: its class, ``repr`` and parameter/buffer shapes.

    The values of the weights do not count (a fresh network and a trained one of the same architecture
    agree); memory addresses in the ``repr`` (``<function f at 0x...>``) are left out, so the fingerprint
    is the same in every process. The ``forward`` code is not read: two classes of the same module path
    and name whose modules agree but whose ``forward`` differs are not told apart.

    Raises:
        TypeError: ``model`` is not an ``nn.Module``.
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"Expected `model` as a torch.nn.Module, but got {type(model).__name__}")
    h = hashlib.blake2b(digest_size=16)
    h.update(f"{type(model).__module__}.{type(model).__qualname__}\n{_ADDRESS.sub('', repr(model))}\n".encode())
    for kind, named in (("param", model.named_parameters()), ("buffer", model.named_buffers())):
        for name, t in named:
            h.update(f"{kind} {name} {tuple(t.shape)} {t.dtype}\n".encode())
    return h.hexdigest()


_SIMPLE = (bool, int, float, complex, str, bytes, type(None))


def _const_text(c: Any) -> str:
    """A constant of compiled code, the same in every process (a frozenset's order follows string hashing)."""
    if inspect.iscode(c):
        return _code_object_text(c)
    if isinstance(c, (frozenset, set)):
        return f"{{{', '.join(sorted(_const_text(v) for v in c))}}}"
    if isinstance(c, tuple):
        return f"({', '.join(_const_text(v) for v in c)})"
    return repr(c)


def _code_object_text(code: Any) -> str:
    """The instructions, names and constants of a compiled code object (nested ones included)."""
    consts = [_const_text(c) for c in code.co_consts]
    return f"{code.co_code.hex()} {code.co_names} {code.co_varnames} {code.co_freevars} {consts}"


def _value_text(value: Any) -> str:
    """A class attribute or default value, the same in every process: simple values by ``repr``, containers
    element by element (sets sorted), functions by their code, classes by name, anything else by type only
    (its ``repr`` may hold a memory address)."""
    if isinstance(value, _SIMPLE):
        return repr(value)
    if isinstance(value, (tuple, list)):
        return f"({', '.join(_value_text(v) for v in value)})"
    if isinstance(value, (frozenset, set)):
        return f"{{{', '.join(sorted(_value_text(v) for v in value))}}}"
    if isinstance(value, Mapping):
        return f"{{{', '.join(sorted(f'{_value_text(k)}: {_value_text(v)}' for k, v in value.items()))}}}"
    if inspect.isclass(value):
        return f"{value.__module__}.{value.__qualname__}"
    if isinstance(value, functools.partial):
        return f"partial({_value_text(value.func)}, {_value_text(value.args)}, {_value_text(value.keywords)})"
    text = _function_text(value)
    return text if text is not None else type(value).__name__


def _function_text(fn: Any) -> str | None:
    """The code and defaults of a function, of what a staticmethod/classmethod/property wraps, and of what a
    decorator made with ``functools.wraps`` (``torch.no_grad()``, ``torch.inference_mode()``) wraps."""
    if isinstance(fn, (staticmethod, classmethod)):
        fn = fn.__func__
    if isinstance(fn, property):
        parts = [_function_text(f) for f in (fn.fget, fn.fset, fn.fdel) if f is not None]
        return " | ".join(p for p in parts if p)
    code = getattr(fn, "__code__", None)
    if code is None or not inspect.isfunction(fn):
        return None if code is None else _code_object_text(code)
    text = (
        f"{_code_object_text(code)} defaults {_value_text(fn.__defaults__ or ())} "
        f"{_value_text(fn.__kwdefaults__ or {})}"
    )
    wrapped = getattr(fn, "__wrapped__", None)
    if wrapped is not None and wrapped is not fn:
        text += f" wraps {_function_text(wrapped)}"
    return text


def _class_text(cls: type) -> str:
    """What a class's own body defines: the code of its methods and its class attributes (see
    :func:`_value_text`), by name."""
    lines = []
    for name, value in sorted(vars(cls).items()):
        text = _function_text(value)
        if text is not None:
            lines.append(f"{name}: {text}")
        elif not name.startswith("__"):
            lines.append(f"{name} = {_value_text(value)}")
    return "\n".join(lines)


def code_fingerprint(model: nn.Module) -> str:
    """A 32-hex-digit BLAKE2b hash of the code of ``model``'s module classes.

    Every distinct class in ``model.modules()`` counts by its module path and name; the classes outside torch
    and torchvision (a user's network, mintlab's own) and their base classes outside those packages count also
    by their code: the compiled code of every method their bodies define (``forward`` and its helpers, the
    functions that decorators such as ``torch.no_grad()`` wrap, default and keyword-only default values) and
    their class attributes (numbers, strings, containers of them, functions, ``functools.partial``; other
    objects by type only). A ``torch.fx.GraphModule`` counts by its generated code. The code that runs is
    hashed, not the source file (which may have been edited since it was imported), so comments and line
    numbers do not count and docstrings do; the compiled form, hence the fingerprint, also changes with
    Python's minor version. Not read: module-level functions and globals that a method calls or reads, and
    the values a closure holds.

    Raises:
        TypeError: ``model`` is not an ``nn.Module``.

    >>> from torch import nn
    >>> class A(nn.Module):
    ...     def forward(self, x):
    ...         return x
    >>> class B(A):
    ...     def forward(self, x):
    ...         return 2 * x
    >>> code_fingerprint(A()) == code_fingerprint(A()), code_fingerprint(A()) == code_fingerprint(B())
    (True, False)
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"Expected `model` as a torch.nn.Module, but got {type(model).__name__}")
    texts = []
    for cls in {type(m) for m in model.modules()}:
        text = f"class {cls.__module__}.{cls.__qualname__}\n"
        for base in cls.__mro__:
            if base.__module__.split(".")[0] not in _LIBRARY_PACKAGES:
                text += f"{base.__module__}.{base.__qualname__}\n{_class_text(base)}\n"
        texts.append(text)
    for m in model.modules():  # torch.fx's generated classes live in torch: their code is the module's
        code = getattr(m, "code", None) if isinstance(m, torch.fx.GraphModule) else None
        if isinstance(code, str):
            texts.append(f"graph module code\n{code}\n")
    h = hashlib.blake2b(digest_size=16)
    for text in sorted(texts):  # two classes of one name (a notebook cell run twice) in a fixed order
        h.update(text.encode())
    return h.hexdigest()
