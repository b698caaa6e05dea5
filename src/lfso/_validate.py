"""Argument checks shared by the public API: each names the argument, the value and what is
expected, and none coerces (``True`` is not 1, ``"1"`` is not 1.0, ``[1.0]`` is not 1.0).
"""

from __future__ import annotations

import contextlib
import functools
import inspect
import math
import numbers
import operator
import os
import sys
from collections.abc import Callable, Iterator
from contextvars import ContextVar
from typing import Any, TypeVar, cast

import numpy as np

from ._arrays import (
    as_vector,
    error_gamma,
    like,
    materialize,
    namespace,
    refuse_meta,
    refuse_no_float64,
    row_norms,
    to_float,
    to_numpy,
)

__all__ = [
    "call_user",
    "callback_list",
    "data_matrix",
    "data_vector",
    "flag",
    "integer",
    "matrix_norm",
    "monitor_mode",
    "nonnegative",
    "open_interval",
    "positive",
    "power",
    "real",
    "real_range",
    "regression_data",
    "returned_array",
    "returned_scalar",
    "ridge_weights",
    "run_arguments",
    "spelling",
    "spelt",
    "spelt_by_caller",
    "spelt_given",
    "spelt_method",
    "spelt_option",
    "text_labels",
]


def _show(value: Any) -> str:
    """``value`` for a message: its repr, shortened; an array with elements by its shape."""
    shape = getattr(value, "shape", ())  # (a NumPy scalar or a 0-d array: its repr)
    if (isinstance(value, np.ndarray) or hasattr(value, "__array_namespace__")) and shape != ():
        return f"an array of shape {tuple(value.shape)}"
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def text_labels(values: Any) -> str:
    """Text labels for a message, as Python shows them: ``strings ['a', 'b']``, ``byte
    strings [b'0', b'1']`` (six at most, sorted; mixed ``str`` and ``bytes`` by their
    text)."""
    shown = sorted(set(values), key=lambda v: (str(v), isinstance(v, bytes)))
    listed = ", ".join(map(repr, shown[:6])) + (", ..." if len(shown) > 6 else "")
    noun = "byte strings" if all(isinstance(v, bytes) for v in shown) else "strings"
    return f"{noun} [{listed}]"


def is_real(value: Any) -> bool:
    """Whether ``value`` is a real number (Python's or NumPy's; not a bool)."""
    return isinstance(value, numbers.Real) and not isinstance(value, (bool, np.bool_))


def _as_number(value: Any, name: str, want: str) -> Any:
    """``value`` as a Python ``numbers.Real``, or a ``TypeError`` naming ``name``."""
    if isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be {want}, got {name}={value!r} (a bool)")
    if getattr(value, "shape", None) == () and hasattr(value, "item"):  # a 0-d array
        value = value.item()
    if not isinstance(value, numbers.Real) or isinstance(value, bool):
        raise TypeError(
            f"{name} must be {want}, got {name}={_show(value)} ({type(value).__name__})"
        )
    return value


def real_range(
    *,
    low: float | None = None,
    high: float | None = None,
    low_open: bool = False,
    high_open: bool = False,
    finite: bool = True,
) -> str:
    """What :func:`real` expects, in words: ``"in (0, 2)"``, ``"finite and positive"``, ..."""
    if low is not None and high is not None:
        return f"in {'(' if low_open else '['}{low:g}, {high:g}{')' if high_open else ']'}"
    if low is None and high is None:
        return "a finite real number" if finite else "a number"
    parts = ["finite"] if finite else []
    if low == 0.0 and low_open:
        parts.append("positive")
    elif low is not None:
        parts.append(f"{'>' if low_open else '>='} {low:g}")
    if high is not None:
        parts.append(f"{'<' if high_open else '<='} {high:g}")
    return " and ".join(parts)


def real(
    value: Any,
    name: str,
    *,
    low: float | None = None,
    high: float | None = None,
    low_open: bool = False,
    high_open: bool = False,
    finite: bool = True,
) -> float:
    """``value`` as a float in the given range; ``TypeError``/``ValueError`` naming ``name``.

    Accepts Python and NumPy real numbers and 0-d real arrays; rejects bools, strings,
    ``None``, sequences, arrays with elements, NaN and (if ``finite``) infinities.

    >>> real(0.5, "eta", low=0, high=2, low_open=True, high_open=True)
    0.5
    >>> real(2, "eta", low=0, high=2, low_open=True, high_open=True)
    Traceback (most recent call last):
    ...
    ValueError: eta must be in (0, 2), got eta=2
    >>> real(True, "tol", low=0)
    Traceback (most recent call last):
    ...
    TypeError: tol must be finite and >= 0, got tol=True (a bool)
    """

    def want() -> str:  # (in words, only for an error: every run checks a few numbers)
        return real_range(low=low, high=high, low_open=low_open, high_open=high_open, finite=finite)

    kind = type(value)
    x = float(value) if kind is float or kind is int else float(_as_number(value, name, want()))
    if (
        math.isnan(x)
        or (finite and math.isinf(x))
        or (low is not None and (x < low or (low_open and x == low)))
        or (high is not None and (x > high or (high_open and x == high)))
    ):
        raise ValueError(f"{name} must be {want()}, got {name}={value!r}")
    return x


def positive(value: Any, name: str) -> float:
    """A finite float ``> 0`` (a step size, a Lipschitz constant)."""
    return real(value, name, low=0.0, low_open=True)


def open_interval(value: Any, name: str, low: float, high: float) -> float:
    """A float in ``(low, high)``."""
    return real(value, name, low=low, high=high, low_open=True, high_open=True)


def nonnegative(value: Any, name: str) -> float:
    """A finite float ``>= 0`` (a ridge ``l2``, a tolerance)."""
    return real(value, name, low=0.0)


def ridge_weights(value: Any, name: str, size: int) -> float | np.ndarray:
    """A ridge weight: one finite float ``>= 0`` (:func:`nonnegative`), or one per feature,
    ``size`` finite floats ``>= 0`` in a 1-D array or list (returned as a read-only float64
    NumPy copy, on the host whatever the library it came in).

    >>> ridge_weights([0.5, 0.0], "l2", 2).tolist()
    [0.5, 0.0]
    >>> ridge_weights([0.5, -1.0], "l2", 2)
    Traceback (most recent call last):
    ...
    ValueError: l2 must hold finite values >= 0 (one per feature), got l2[1]=-1.0
    """
    if getattr(value, "ndim", None) == 0 or not (
        isinstance(value, (list, tuple)) or hasattr(value, "shape")
    ):
        return nonnegative(value, name)
    want = f"a finite float >= 0 or {size} of them (one per feature)"
    try:
        weights = to_numpy(value) if hasattr(value, "shape") else np.asarray(value)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"{name} must be {want}, got {type(value).__name__} ({exc})") from None
    if weights.dtype.kind not in "iuf":
        raise TypeError(f"{name} must be {want}, got an array of dtype {weights.dtype}")
    if weights.shape != (size,):
        raise ValueError(f"{name} must be {want}, got shape {weights.shape}")
    weights = weights.astype(np.float64)  # (a copy)
    bad = np.flatnonzero(~(np.isfinite(weights) & (weights >= 0.0)))
    if bad.size:
        raise ValueError(
            f"{name} must hold finite values >= 0 (one per feature), got "
            f"{name}[{bad[0]}]={float(weights[bad[0]])!r}"
        )
    weights.flags.writeable = False
    return weights


def integer(value: Any, name: str, *, low: int | None = None) -> int:
    """``value`` as an int ``>= low``; floats (even ``2.0``), bools and strings are rejected.

    >>> integer(3, "max_iter", low=0)
    3
    >>> integer(2.5, "max_iter")
    Traceback (most recent call last):
    ...
    TypeError: max_iter must be an integer, got max_iter=2.5 (float)
    """
    want = "an integer" if low is None else f"an integer >= {low}"
    if isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be {want}, got {name}={value!r} (a bool)")
    try:
        n = operator.index(value)
    except TypeError:
        raise TypeError(
            f"{name} must be {want}, got {name}={_show(value)} ({type(value).__name__})"
        ) from None
    if low is not None and n < low:
        raise ValueError(f"{name} must be {want}, got {name}={n}")
    return n


def generator(seed: Any, name: str = "seed") -> np.random.Generator:
    """``seed`` as a ``numpy.random.Generator``, as SciPy's ``rng=`` takes it.

    ``None``: fresh entropy; an integer ``>= 0``: ``numpy.random.default_rng(seed)``;
    a ``Generator``: used as is (its stream advances).

    >>> bool(generator(0).integers(10) == generator(0).integers(10))
    True
    """
    if isinstance(seed, np.random.Generator):
        return seed
    if seed is None:
        return np.random.default_rng()
    if isinstance(seed, (bool, np.bool_)) or not isinstance(seed, (numbers.Integral, np.integer)):
        raise TypeError(
            f"{name} must be None, an integer >= 0 or a numpy.random.Generator, "
            f"got {name}={_show(seed)} ({type(seed).__name__})"
        )
    return np.random.default_rng(integer(seed, name, low=0))


def flag(value: Any, name: str, *, allow_none: bool = False) -> bool | None:
    """``value`` as a bool (``None`` too when ``allow_none``); ``1`` and ``"yes"`` are not.

    >>> flag("no", "safeguard")
    Traceback (most recent call last):
    ...
    TypeError: safeguard must be True or False, got safeguard='no'
    """
    if value is None and allow_none:
        return None
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    want = "True, False or None" if allow_none else "True or False"
    raise TypeError(f"{name} must be {want}, got {name}={_show(value)}")


def callback_list(callback: Any) -> list[Callable[..., Any]]:
    """``callback=`` as a list of callables: ``None``, one callable, or a list/tuple of them."""
    if callback is None:
        return []
    items = list(callback) if isinstance(callback, (list, tuple)) else [callback]
    for i, item in enumerate(items):
        if not callable(item):
            where = f"callback[{i}]" if isinstance(callback, (list, tuple)) else "callback"
            raise TypeError(
                f"{where} must be callable (or callback a list of callables), got {_show(item)}"
            )
    return items


def _kind(value: Any) -> str:
    return f"{type(value).__name__} {_show(value)}"


def returned_scalar(raw: Any, name: str) -> Any:
    """The value a user callable ``name`` returned, checked to be one real number.

    Returns a Python float, or a 0-d real array (left in its library, so that a GPU value is
    fetched together with the gradient's norm). 1-element arrays are accepted and reshaped.
    """
    if raw is None or isinstance(raw, (str, bytes, bool, np.bool_, complex, list, tuple, dict)):
        raise TypeError(f"{name} must return a real number, got {_kind(raw)}")
    shape = getattr(raw, "shape", None)
    if shape is not None and hasattr(raw, "dtype"):
        dtype = str(raw.dtype).replace("torch.", "")
        if (
            "complex" in dtype
            or "bool" in dtype
            or not ("float" in dtype or "int" in dtype or "bfloat" in dtype)
        ):
            raise TypeError(f"{name} must return a real number, got an array of dtype {dtype}")
        size = math.prod(shape)
        if size != 1:
            raise ValueError(
                f"{name} must return a real number (or a 1-element array), got an array of "
                f"shape {tuple(shape)}"
            )
        if shape == ():
            return raw
        return float(raw.reshape(()) if not isinstance(raw, np.ndarray) else raw.reshape(())[()])
    if isinstance(raw, numbers.Real):
        try:
            return float(raw)
        except OverflowError:  # (an int or Fraction past the float range: its float is inf)
            return math.inf if raw > 0 else -math.inf  # type: ignore[operator]
    raise TypeError(f"{name} must return a real number, got {_kind(raw)}")


def returned_array(raw: Any, name: str, x: Any, xp: Any) -> Any:
    """The array a user callable ``name`` (``grad``, ``hvp``) returned, checked to have the
    shape of ``x`` and a real dtype, in ``x``'s dtype (the run's: converted where it is
    another); lists are converted with ``x``'s library."""
    if raw is None or isinstance(raw, (str, bytes, bool, numbers.Number)):
        raise TypeError(
            f"{name} must return an array of shape {tuple(x.shape)} like x, got {_kind(raw)}"
        )
    try:
        out = xp.asarray(_held(raw, name))  # (a tensor that requires grad: detached)
    except (TypeError, ValueError) as exc:
        raise TypeError(
            f"{name} must return an array of shape {tuple(x.shape)} like x, got {_kind(raw)} "
            f"({exc})"
        ) from None
    if tuple(out.shape) != tuple(x.shape):
        raise ValueError(
            f"{name} must have shape {tuple(x.shape)} (like x), got shape {tuple(out.shape)}"
        )
    if not xp.isdtype(out.dtype, ("real floating", "integral")):
        raise TypeError(f"{name} must return a real array, got dtype {out.dtype}")
    if out.dtype != x.dtype:  # (the run's dtype is x's: a float64 gradient of a float32
        out = xp.astype(out, x.dtype)  # x would turn the next iterate float64)
    return out


def _held(value: Any, name: str) -> Any:
    """Data as a model keeps it: a PyTorch tensor that requires grad is detached (the run
    is not differentiated through; its iterates would carry autograd's graph from step to
    step), one on the ``'meta'`` device is refused naming ``name``."""
    refuse_meta(value, name)
    if getattr(value, "requires_grad", False) and callable(getattr(value, "detach", None)):
        return value.detach()
    return value


def _to_array(value: Any, name: str, xp: Any) -> Any:
    """``value`` in library ``xp`` (lists become arrays); a clear error if it cannot be."""
    if value is None or isinstance(value, (str, bytes, numbers.Number)):
        raise TypeError(f"{name} must be an array, got {_kind(value)}")
    if hasattr(value, "toarray") and hasattr(value, "nnz"):  # (NumPy would make it an object)
        raise TypeError(
            f"{name} must be a dense array, got a SciPy sparse {type(value).__name__}: "
            f"pass {name}.toarray()"
        )
    try:
        return xp.asarray(value)
    except (TypeError, ValueError) as exc:
        raise ValueError(
            f"{name} must be a rectangular numeric array, got {type(value).__name__} ({exc})"
        ) from None


def _is_dask(xp: Any) -> bool:
    return "dask" in getattr(xp, "__name__", "")


def _namespace_of(value: Any) -> Any:
    import array_api_compat

    try:
        return array_api_compat.array_namespace(value)
    except TypeError:
        return array_api_compat.array_namespace(np.empty(0))


def known_shape(A: Any, name: str) -> None:
    """A ``ValueError`` naming ``name`` where a size in ``A``'s shape is not known (NaN in
    Dask, ``None`` in the array API: a Dask array selected by a boolean mask has unknown
    chunk sizes until ``A.compute_chunk_sizes()``)."""
    if any(size is None or size != size for size in A.shape):
        raise ValueError(
            f"{name} has an unknown number of rows, shape {tuple(A.shape)} (a Dask array "
            f"selected by a boolean mask does not know its chunk sizes); call "
            f"{name}.compute_chunk_sizes() first"
        )


def data_matrix(A: Any, name: str, *, check_finite: bool = True) -> tuple[Any, Any]:
    """``(xp, A)``: a non-empty, finite, real 2-D data matrix (integers and bools become
    float64), of known shape (:func:`known_shape`).

    Lists become NumPy arrays; arrays of other libraries stay in them (a PyTorch tensor
    that requires grad detached, one on the ``'meta'`` device or on a device without
    float64, Apple's ``'mps'``, refused). A NumPy array or
    a PyTorch tensor that is not C-contiguous (``A[:, ::2]``, Fortran order) becomes a
    C-contiguous copy, as scikit-learn's ``LogisticRegression`` makes one: the products
    with it, and so the run, are then its contiguous copy's, bit for bit.
    """
    A = _held(A, name)
    refuse_no_float64(A, name)  # (the data's device is the run's)
    xp = _namespace_of(A)
    A = _to_array(A, name, xp)
    if type(A) is np.ndarray and not A.flags.c_contiguous:
        A = np.ascontiguousarray(A)
    elif callable(getattr(A, "is_contiguous", None)) and not A.is_contiguous():
        A = A.contiguous()  # (a PyTorch tensor)
    if not xp.isdtype(A.dtype, ("real floating", "integral", "bool")):
        raise TypeError(f"{name} must be a real array, got dtype {A.dtype}")
    if not xp.isdtype(A.dtype, "real floating"):  # (integers and bools, as scikit-learn)
        A = xp.astype(A, xp.float64)
    if A.ndim != 2:
        raise ValueError(f"{name} must be 2-D, got shape {tuple(A.shape)}")
    known_shape(A, name)
    if A.shape[0] == 0 or A.shape[1] == 0:
        raise ValueError(f"{name} must not be empty, got shape {tuple(A.shape)}")
    if check_finite and not bool(xp.all(xp.isfinite(A))):
        raise ValueError(f"{name} must be finite, found a NaN or infinite entry")
    return xp, A


def data_vector(
    b: Any, name: str, xp: Any, length: int, *, real_only: bool = True, rows_of: Any = None
) -> Any:
    """A 1-D array of ``length`` entries in ``xp`` (lists converted; an array of another
    library too, by way of the host, except NumPy's for Dask data, which mix as they are)
    of known shape; finite and real when ``real_only`` (labels are checked by their
    model). A Dask vector takes the row chunks of the Dask matrix ``rows_of``, where given
    (the models' kernels pair the two chunk by chunk)."""
    b = _held(b, name)
    if not (hasattr(b, "shape") and hasattr(b, "dtype")):
        b = _to_array(b, name, xp)
    elif _namespace_of(b) is not xp:  # e.g. NumPy targets for PyTorch data
        host = to_numpy(b)
        b = host if _namespace_of(host) is xp or _is_dask(xp) else _to_array(host, name, xp)
    if b.ndim == 1:
        known_shape(b, name)
    if b.ndim != 1 or b.shape[0] != length:
        raise ValueError(f"{name} must have shape ({length},), got shape {tuple(b.shape)}")
    if rows_of is not None and _is_dask(xp) and _is_dask(_namespace_of(b)):
        if b.chunks[0] != rows_of.chunks[0]:  # (persisted: every evaluation reads it)
            b = materialize(b.rechunk((rows_of.chunks[0],)))
    if real_only:
        bxp = _namespace_of(b)
        if not bxp.isdtype(b.dtype, ("real floating", "integral")):
            raise TypeError(f"{name} must be a real array, got dtype {b.dtype}")
        if not bxp.isdtype(b.dtype, "real floating"):
            b = bxp.astype(b, bxp.float64)
        if not bool(bxp.all(bxp.isfinite(b))):
            raise ValueError(f"{name} must be finite, found a NaN or infinite entry")
    return b


#: The largest ``||A||_2`` whose square is a float64 number.
_NORM_CEILING = math.sqrt(sys.float_info.max)


def matrix_norm(value: Any, A: Any, rows: Any = None, name: str = "norm") -> float:
    """A user's ``||A||_2`` (``norm=``), checked against what ``A`` itself shows of it.

    The bounds need an upper bound on the largest singular value; a smaller value makes
    them unsafe. Computing ``||A||_2`` is what ``norm=`` saves, so the check uses the
    cheap lower bounds ``||A||_2 >= max_i ||a_i||`` and ``||A||_2 >= ||A||_F /
    sqrt(min(n, d))``, from the row norms ``rows`` (computed if not given; padded ones
    are fine), less their rounding: a value below them raises a ``ValueError``, and so
    does one whose square overflows float64 (as a computed one's does).
    """
    norm = real(value, name, low=0.0)
    if norm > _NORM_CEILING:  # (as a computed ||A|| whose square overflows: operator_norm)
        raise ValueError(
            f"{name} must be <= {_NORM_CEILING:.6g}: the smoothness bounds need {name}^2, "
            f"which overflows float64 past it (leave {name}=None to compute ||A||_2, or "
            f"rescale A and the targets), got {name}={value!r}"
        )
    xp = namespace(A)
    if rows is None:
        rows = row_norms(A)
    n, d = int(A.shape[0]), int(A.shape[1])
    top = to_float(xp.max(rows))
    with np.errstate(over="ignore"):  # (past the dtype's range: inf, no check below)
        frobenius = math.sqrt(to_float(xp.sum(rows * rows)))
    lower = max(top, frobenius / math.sqrt(min(n, d)))
    lower /= (1.0 + error_gamma(n + d + 8, A.dtype)) ** 2  # (their rounding)
    if math.isfinite(lower) and norm < lower:
        raise ValueError(
            f"{name} must be >= ||A||_2, an upper bound on the largest singular value of A "
            f"(here ||A||_2 >= {lower:.6g}; leave {name}=None to compute it), "
            f"got {name}={value!r}"
        )
    return norm


def regression_data(A: Any, b: Any) -> tuple[Any, Any, Any]:
    """``(xp, A, b)``: a data matrix ``A`` (non-empty, finite, real, 2-D; lists accepted) and
    targets ``b`` to match it, on ``A``'s device and in its dtype (whatever the library:
    float64 targets would otherwise carry float32 data's residuals, and the run, to float64
    on NumPy and Dask, where PyTorch computes in the data's dtype)."""
    xp, A = data_matrix(A, "A")
    given = data_vector(b, "b", xp, int(A.shape[0]), rows_of=A)
    b = like(given, A)
    if b.dtype != A.dtype:  # (PyTorch's like has cast it)
        with np.errstate(over="ignore"):  # (past A's range: the error below names it)
            b = namespace(b).astype(b, A.dtype)
    if given.dtype != A.dtype and not bool(namespace(b).all(namespace(b).isfinite(b))):
        host = to_numpy(b)
        i = int(np.flatnonzero(~np.isfinite(host))[0])
        raise ValueError(
            f"b must be finite in A's dtype {str(A.dtype).replace('torch.', '')} (the run's), "
            f"got b[{i}]={float(to_numpy(given)[i])!r}, past its range"
        )
    return xp, A, b


#: The largest exponent ``p``: the power bounds' rounding argument
#: (:func:`lfso.oracles._bounds.rounded_up`) counts ``2 (2p - 2) + 5`` roundings, and the
#: models' constants ``5 (2p - 2)`` and more, within the ``2^26`` it covers.
MAX_POWER = 2.0**22


def power(value: Any, name: str = "p") -> float:
    """An exponent ``p`` in ``[1, 2^22]`` (below 1 the gradient is not Lipschitz near 0;
    above ``2^22`` the bounds' rounding argument does not hold: :data:`MAX_POWER`).

    >>> power(0.5)
    Traceback (most recent call last):
    ...
    ValueError: p must be finite and >= 1 (else grad f is not Lipschitz near 0), got p=0.5
    >>> power(1e300)
    Traceback (most recent call last):
    ...
    ValueError: p must be <= 2^22 (the bounds' rounding proof covers no larger power), got p=1e+300
    """
    p = float(_as_number(value, name, "finite and >= 1"))
    if not 1.0 <= p < math.inf:
        raise ValueError(
            f"{name} must be finite and >= 1 (else grad f is not Lipschitz near 0),"
            f" got {name}={value!r}"
        )
    if p > MAX_POWER:
        raise ValueError(
            f"{name} must be <= 2^22 (the bounds' rounding proof covers no larger power), "
            f"got {name}={value!r}"
        )
    return p


def run_arguments(
    *,
    tol: Any,
    atol: Any,
    max_iter: Any,
    callback: Any,
    grad: Any,
    smoothness: Any,
    hvp: Any,
    progress: Any,
    monitor: Any,
) -> tuple[float, float, int]:
    """Check :func:`lfso.minimize`'s own arguments; return ``tol``, ``atol``, ``max_iter``.

    (``x0`` is checked against the model once the model is known; the method's options by
    the method.)
    """
    tol = nonnegative(tol, "tol")
    atol = nonnegative(atol, "atol")
    max_iter = integer(max_iter, "max_iter", low=0)
    callback_list(callback)
    if grad is not None and grad is not True and not callable(grad):
        raise TypeError(f"grad must be callable, True or None, got {_show(grad)}")
    named = spelt("smoothness")  # (the SciPy face's options['smoothness'])
    if isinstance(smoothness, str) and smoothness != "auto":
        raise ValueError(f"{named} must be a callable, an oracle or 'auto', got {smoothness!r}")
    # (an oracle, LocalSmoothnessOracle, is callable: oracle(x, R) is oracle.at(x)(R))
    if is_real(smoothness) or getattr(smoothness, "shape", None) == ():  # a global constant
        real(smoothness, named, low=0.0, low_open=True)  # (a 0-d array's number too)
    elif smoothness is not None and not callable(smoothness) and not isinstance(smoothness, str):
        raise TypeError(
            f"{named} must be a callable smoothness(x, R), an oracle, a positive number "
            f"(a global Lipschitz constant) or 'auto', got {_show(smoothness)}"
        )
    if hvp is not None and not callable(hvp) and not (isinstance(hvp, str) and hvp == "autodiff"):
        hvp_is = spelt("hvp")  # (the SciPy face's hessp)
        raise TypeError(
            f"{hvp_is} must be callable as {hvp_is}(x, v) or 'autodiff', got {_show(hvp)}"
        )
    # (the SciPy face's options['progress'] and options['monitor'])
    flag(progress, spelt_option("progress"), allow_none=True)
    monitor_mode(monitor, spelt_option("monitor"))
    return tol, atol, max_iter


def monitor_mode(monitor: Any, name: str = "monitor") -> bool | str:
    """``monitor=`` as :func:`lfso.minimize` takes it: ``True``, ``False``, ``"full"`` or
    ``"quiet"`` (a ``ValueError`` naming anything else, as ``name``: ``"no"`` is not
    ``False``).

    >>> monitor_mode("no")
    Traceback (most recent call last):
    ...
    ValueError: monitor must be True, False, 'full' or 'quiet', got monitor='no'
    """
    if monitor is True or monitor is False:
        return monitor
    if isinstance(monitor, str) and monitor in ("full", "quiet"):
        return str(monitor)
    raise ValueError(f"{name} must be True, False, 'full' or 'quiet', got {name}={_show(monitor)}")


#: How the face that started the run spells :func:`lfso.minimize`'s argument names
#: (:mod:`lfso.scipy`: ``grad`` is ``jac``, ``hvp`` is ``hessp``); none for ``minimize``.
_SPELLING: ContextVar[tuple[tuple[str, str], ...]] = ContextVar("_SPELLING", default=())


def spelt(name: str) -> str:
    """``name`` (``"grad"``, ``"hvp"``) as the face that started the run spells it, for
    the messages of errors and statuses (:func:`spelling`)."""
    return dict(_SPELLING.get()).get(name, name)


def spelt_option(key: str) -> str:
    """The method's option ``key`` as the face that started the run spells it: ``key`` for
    :func:`lfso.minimize`, ``options['key']`` for the SciPy face (:func:`spelling`'s
    ``options=``), or the face's own name for it (``names[key]``)."""
    names = dict(_SPELLING.get())
    if key in names:
        return names[key]
    return f"{names['options']}[{key!r}]" if "options" in names else key


def spelt_given(key: str, value: str) -> str:
    """Option ``key`` given as ``value`` (source text), as the face spells it in advice:
    ``key=value``, or ``options={'key': value}`` for the SciPy face."""
    if "options" not in dict(_SPELLING.get()):
        return f"{key}={value}"
    return f"options={{{key!r}: {value}}}"


def scipy_face() -> bool:
    """Whether the run was started by the SciPy face (:func:`spelling`'s ``options=``:
    the run's result becomes an ``OptimizeResult``, with L-BFGS's ``hess_inv``)."""
    return "options" in dict(_SPELLING.get())


def spelt_method(name: str) -> str:
    """``method='name'`` as the face that started the run spells it (the SciPy face's
    ``method=lfso.scipy.lfso_lbfgs``: :func:`spelling`'s ``method=``)."""
    return dict(_SPELLING.get()).get("method", f"method={name!r}")


#: The names that :func:`spelling` asks the next run to spell its arguments with.
_REQUESTED: ContextVar[tuple[tuple[str, str], ...]] = ContextVar("_REQUESTED", default=())


@contextlib.contextmanager
def spelling(**names: str) -> Iterator[None]:
    """Within the block, the :func:`lfso.minimize` run started there (:func:`spelt_by_caller`)
    spells ``name`` as ``names[name]`` (:func:`spelt`; the SciPy face:
    ``spelling(grad="jac", hvp="hessp")``), in this thread or task alone;
    ``options="options"`` spells the method's options as items of that dict
    (:func:`spelt_option`), ``method=`` the method (:func:`spelt_method`). A run started
    inside that run (by its ``fun`` or a callback) spells them as :func:`lfso.minimize`."""
    token = _REQUESTED.set(tuple(names.items()))
    try:
        yield
    finally:
        _REQUESTED.reset(token)


_Run = TypeVar("_Run", bound=Callable[..., Any])


def spelt_by_caller(run: _Run) -> _Run:
    """``run`` (:func:`lfso.minimize`) spelling its names as its caller asked
    (:func:`spelling`), and the runs nested in it as their own callers ask."""

    @functools.wraps(run)
    def spelt_run(*args: Any, **kwargs: Any) -> Any:
        requested = _REQUESTED.get()
        token, active = _REQUESTED.set(()), _SPELLING.set(requested)
        try:
            return run(*args, **kwargs)
        finally:
            _SPELLING.reset(active)
            _REQUESTED.reset(token)

    return cast(_Run, spelt_run)


def call_user(function: Callable[..., Any], signature: str, *args: Any) -> Any:
    """``function(*args)`` for a user callable documented as ``signature`` (``"fun(x)"``);
    a wrong number of parameters is reported naming it instead of as a bare ``TypeError``."""
    try:
        return function(*args)
    except TypeError as exc:
        try:
            inspect.signature(function).bind(*args)
        except TypeError:
            raise TypeError(
                f"{signature.split('(')[0]} must be callable as {signature}: {exc}"
            ) from exc
        except ValueError:  # no signature (some builtins): cannot tell
            pass
        raise


def start_point(x0: Any, model: Any) -> Any:
    """``x0`` as a run's first iterate on ``model``: a finite real 1-D vector in the model's
    array library, on its data's device (``model.data``, ``model.xp``).

    Its dtype: PyTorch data's (PyTorch does not promote a float32 product to float64).
    With NumPy and Dask, ``x0`` keeps its own floating dtype (integers become float64)
    and the run works in NumPy's promotion of it and the data's: a float64 ``x0`` on
    float32 data runs in float64, a float32 ``x0`` in float32.

    A number or a 0-d array is a vector of one element (SciPy's ``np.atleast_1d``); a bool
    (Python's, NumPy's or a 0-d array's) raises a ``TypeError``, as every number lfso takes
    does, and an array of bools is taken as float64.
    Raises ``TypeError``/``ValueError`` naming ``x0`` (:func:`lfso._arrays.as_vector`),
    and ``ValueError`` when a model of known dimension (``model.dim``) gets another length.
    The caller's array is copied where it would be taken as it is, so that ``Result.x`` is
    never the caller's ``x0`` (a run that stops at ``x0`` returns it), as in SciPy. A
    PyTorch tensor that requires grad (a model's parameter) is detached first: the run is
    not differentiated through, and its iterates would carry autograd's graph from step to
    step.
    """
    if getattr(x0, "requires_grad", False) and callable(getattr(x0, "detach", None)):
        x0 = x0.detach()  # (then copied below, as it shares the caller's memory)
    if isinstance(x0, (bool, np.bool_)) or (
        getattr(x0, "ndim", None) == 0 and "bool" in str(getattr(x0, "dtype", ""))
    ):  # (a number lfso takes is never a bool; an array of bools is 0s and 1s)
        raise TypeError(f"x0 must be a real number or a 1-D real array, got x0={x0!r} (a bool)")
    if is_real(x0):
        x0 = [x0]  # a number: a vector of one element, as SciPy takes it
    elif getattr(x0, "ndim", None) == 0 and callable(getattr(x0, "reshape", None)):
        x0 = x0.reshape(1)  # (a 0-d array: the same)

    given = x0
    x0 = like(as_vector(x0, "x0", model.xp), model.data)
    refuse_no_float64(x0, "x0")  # (where the data's device did not take it)
    if x0 is given:
        x0 = namespace(x0).asarray(x0, copy=True)
    if model.dim is not None and x0.shape[0] != model.dim:
        raise ValueError(f"x0 must have shape ({model.dim},) for this model, got {tuple(x0.shape)}")
    return x0


def caller_level() -> int:
    """The ``stacklevel`` of the first caller outside :mod:`lfso`, torch and
    :mod:`scipy.optimize`, for a warning issued by the function that calls this one: it
    names the user's line, through :func:`lfso.minimize`, ``scipy.optimize.minimize`` and
    torch's wrappers of an optimiser's ``step`` (a varying number of frames)."""
    skipped: tuple[str, ...] = _LFSO
    for host in ("torch", "scipy.optimize"):  # (scipy.optimize.minimize calls lfso.scipy's)
        where = getattr(sys.modules.get(host), "__file__", None)
        if where is not None:
            skipped = (*skipped, os.path.dirname(where))
    level, frame = 1, sys._getframe(1)
    while frame.f_back is not None and frame.f_code.co_filename.startswith(skipped):
        level, frame = level + 1, frame.f_back
    return level


_LFSO = (os.path.dirname(__file__) + os.sep,)
