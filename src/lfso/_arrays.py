"""Array-API helpers: the data's array library decides where the work runs."""

from __future__ import annotations

import math
from collections import OrderedDict
from collections.abc import Callable
from typing import Any, NamedTuple

import array_api_compat
import numpy as np

from ._later import has_riders, known_dot, settle_riders, start_fetch, take_riders

__all__ = [
    "Fetched",
    "amax",
    "as_vector",
    "device",
    "device_norm",
    "distance",
    "fetch_ahead",
    "fetch_with_norm",
    "like",
    "namespace",
    "operator_norm",
    "row_norms",
    "sq_norm",
    "to_float",
]


def device(x: Any) -> Any:
    """The device ``x`` lives on (``"cpu"`` for NumPy), for creating arrays next to it."""
    return array_api_compat.device(x)


#: array-api-compat's NumPy namespace (what ``array_namespace`` returns for NumPy arrays).
_NUMPY = array_api_compat.array_namespace(np.empty(0))


#: The most arrays :func:`constant` keeps: far more than the fixed constants of a run on a
#: few dtypes and devices take, so that only per-model values (a Cauchy model's ``c^2``, one
#: per model made) are ever dropped.
_MAX_CONSTANTS = 256

#: The arrays :func:`constant` made, by (namespace, values, dtype, device), the most
#: recently used last (at most :data:`_MAX_CONSTANTS` of them).
_CONSTANTS: OrderedDict[tuple[int, tuple[Any, ...], str, str], Any] = OrderedDict()


def constant(xp: Any, values: tuple[Any, ...], dtype: Any, where: Any) -> Any:
    """The 1-d array of ``values`` (floats or booleans) of ``dtype`` on the device
    ``where``, made once and kept while it is among the :data:`_MAX_CONSTANTS` used last:
    on an accelerator, making an array from host data is a copy that waits for the device's
    queue, which an iteration must not pay (and a process that makes many models, each
    with constants of its own, must not keep them all)."""
    key = (id(xp), values, str(dtype), str(where))
    array = _CONSTANTS.get(key)
    if array is None:
        array = _CONSTANTS[key] = xp.asarray(list(values), dtype=dtype, device=where)
        if len(_CONSTANTS) > _MAX_CONSTANTS:
            _CONSTANTS.popitem(last=False)
    else:
        _CONSTANTS.move_to_end(key)
    return array


def namespace(*arrays: Any) -> Any:
    """The array-API namespace shared by ``arrays`` (NumPy's wrapper for NumPy arrays)."""
    for a in arrays:  # (NumPy, the common case, without the lookup)
        if type(a) is not np.ndarray:
            return array_api_compat.array_namespace(*arrays)
    return _NUMPY


def to_float(value: Any) -> float:
    """A 0-d array (on any device) as a Python float: one host round trip (which also
    brings the scalars a step deferred to it, :mod:`lfso._later`)."""
    if not isinstance(value, (np.ndarray, np.generic, float, int)) and has_riders():
        return to_floats(value)[0]
    return float(value)


#: Values already on the host (NumPy arrays and scalars, Python numbers).
_HOST = (np.ndarray, np.generic, float, int)


def to_floats(*values: Any) -> list[float]:
    """Several 0-d arrays as Python floats in one host round trip.

    NumPy: plain conversions. Dask: one ``dask.compute`` for all of them (one pass over the
    data). PyTorch (any device): one stacked transfer, so a GPU synchronises once; scalars a
    step deferred to this fetch (:mod:`lfso._later`) travel in the same transfer. Any other
    array-API library (CuPy, ...): stacked in that library, then one copy to the host.
    """
    for v in values:  # (all on the host, the common case: plain conversions)
        if not isinstance(v, _HOST):
            break
    else:
        return [float(v) for v in values]
    on_host = [isinstance(v, _HOST) for v in values]
    if any(on_host):  # host numbers stay as they are; the arrays travel together
        fetched = iter(to_floats(*(v for v, h in zip(values, on_host, strict=True) if not h)))
        return [float(v) if h else next(fetched) for v, h in zip(values, on_host, strict=True)]
    first = values[0]
    if any(array_api_compat.is_dask_array(v) for v in values):
        import dask

        return [float(v) for v in dask.compute(*values)]
    if array_api_compat.is_torch_array(first):
        import torch

        riders = take_riders(first)  # deferred step scalars ride along (lfso._later)
        stacked = [v.reshape(()) for v in values] + [r.array.reshape(()) for r in riders]
        host = torch.stack(stacked).tolist()
        if riders:
            settle_riders(riders, host[len(values) :])
            del host[len(values) :]
        return host
    xp = namespace(*values)
    return to_numpy(xp.stack([xp.reshape(v, ()) for v in values])).tolist()


#: The NumPy dtypes whose dot function ``np.vdot`` calls as ``@`` does (the same sum, bit
#: for bit, without ``@``'s check of the floating-point flags): :func:`fetch_with_norm`,
#: the models' host dot products and the L-BFGS direction's.
_DOT_DTYPES = (np.dtype(np.float64), np.dtype(np.float32))

#: ``np.vdot`` for NumPy arrays: the C function that ``np.vdot`` calls once its
#: ``__array_function__`` dispatch has found no override among its arguments (NumPy
#: arrays have none), without that search (about a microsecond a call, as much as the
#: dot product of a short vector); ``np.vdot`` itself where NumPy does not expose it.
host_vdot: Callable[[Any, Any], Any] = getattr(np.vdot, "_implementation", np.vdot)


class Fetched(NamedTuple):
    """What :func:`fetch_with_norm` brings to the host."""

    values: list[float]  # the scalars asked for, in order
    grad_norm: float  # ||grad||
    probe_dot: float | None  # grad @ probe, when a probe was given


def fetch_with_norm(grad: Any, *scalars: Any, probe: Any = None) -> Fetched:
    """``scalars`` as floats, ``||grad||`` and ``grad @ probe``, in one host round trip.

    The models call it once per evaluation, so that a GPU synchronises once for ``f(x)``,
    ``||grad f(x)||``, the oracle's statistics and the dot product a step rule asked for
    (``probe``: the accelerated rule's restart test). The norm comes from ``grad @ grad``,
    falling back to the overflow-safe :func:`norm` only when that over- or underflows.
    For a NumPy float64 or float32 gradient that sum is ``np.vdot``'s, the dtype's own dot
    function as ``@`` calls it (the same sum, bit for bit), without the check of the
    floating-point flags ``@`` makes after it.
    """
    extra = () if probe is None else (quiet_dot(grad, probe),)
    if type(grad) is np.ndarray and grad.dtype in _DOT_DTYPES:
        values = to_floats(*scalars, *extra)
        gsq = float(host_vdot(grad, grad))
    else:
        values = to_floats(*scalars, *extra, quiet_dot(grad, grad))
        gsq = values.pop()
    dot = values.pop() if extra else None
    return Fetched(values, norm_from_square(gsq, grad), dot)


def fetch_ahead(grad: Any, *scalars: Any, probe: Any = None) -> tuple[Callable[[], Fetched], Any]:
    """:func:`fetch_with_norm` for a PyTorch gradient, started now
    (:func:`lfso._later.start_fetch`, with the riders pending on its device): the function
    that reads it (the same :class:`Fetched`, bit for bit; it waits for the values), and
    ``grad @ grad`` (0-d, on the device) from which the fetch's ``||grad||`` comes
    (:func:`device_norm`)."""
    extra = () if probe is None else (grad @ probe,)
    gsq = grad @ grad
    fetch = start_fetch([*scalars, *extra, gsq])

    def finish() -> Fetched:
        values = list(fetch.values())
        sq = values.pop()
        dot = values.pop() if extra else None
        return Fetched(values, norm_from_square(sq, grad), dot)

    return finish, gsq


def device_norm(xp: Any, x: Any, sq: Any) -> Any:
    """``||x||`` as :func:`norm` computes it, a 0-d float64 PyTorch array on ``x``'s
    device, from ``sq = x @ x`` computed there: ``sqrt(sq)`` where ``n tiny <= sq < inf``
    (:func:`norm_from_square`);
    elsewhere the scaled norm ``m sqrt((x / m) @ (x / m))`` with ``m = max_i |x_i|``, or
    ``m`` itself where it is 0 or not finite. The same operations in the same dtypes, so
    the same float up to the square root's rounding: PyTorch's float64 square root on the
    CPU is not always correctly rounded (it may differ from Python's by one unit in the
    last place). No host round trip; PyTorch's operations (``xp`` is not
    used), so that :func:`lfso.models._fused.one_pass` can compile it."""
    import torch

    f64 = torch.float64
    sq = sq.to(f64)
    top = x.abs().amax()
    y = x / torch.where(top > 0.0, top, 1.0)
    wide = top.to(f64)
    finite = (top > 0.0) & (top < math.inf)
    safe = torch.where(finite, wide * torch.sqrt((y @ y).to(f64)), wide)
    return torch.where((sq >= square_floor(x)) & (sq < math.inf), torch.sqrt(sq), safe)


#: NumPy's reductions as ufunc methods: what ``np.sum``, ``np.max`` and the array methods
#: call, without their layers of Python dispatch (the same reduction, bit for bit).
_ADD_REDUCE, _MAX_REDUCE = np.add.reduce, np.maximum.reduce


def reduce_max(xp: Any, x: Any) -> Any:
    """``max(x)`` as a 0-d array of ``x``'s library (NumPy: the ufunc's reduction)."""
    return _MAX_REDUCE(x, axis=None) if isinstance(x, np.ndarray) else xp.max(x)


def reduce_sum(xp: Any, x: Any) -> Any:
    """``sum(x)`` of all entries as a 0-d array of ``x``'s library (NumPy: the ufunc's
    reduction, the pairwise sum ``np.sum`` computes, bit for bit)."""
    return _ADD_REDUCE(x, axis=None) if isinstance(x, np.ndarray) else xp.sum(x)


def amax(xp: Any, x: Any) -> float:
    """``max(x)`` as a float (NumPy: the ufunc's reduction, no layers of dispatch)."""
    if isinstance(x, np.ndarray):
        return float(_MAX_REDUCE(x, axis=None))
    return float(xp.max(x))


def rounding(x: Any, unit: float | None = None) -> float:
    """Relative tolerance for comparing values computed in ``x``'s dtype.

    ``1e-12`` in float64; a few ulps (about 1e-6) in float32, where a decrease smaller than
    that cannot be told from rounding. ``unit``: the model's own unit roundoff where it is
    coarser than that of ``x``'s dtype (:attr:`lfso.models.Model.unit_roundoff`).
    """
    eps = float(namespace(x).finfo(x.dtype).eps)
    return max(1e-12, 8.0 * (eps if unit is None else max(eps, unit)))


def sq_norm(x: Any) -> float:
    """``||x||^2`` of a vector as a float: one dot product, the cheapest reduction."""
    return float(x @ x)


def norm(x: Any) -> float:
    """``||x||_2`` as a float: a dot product, or a scaled norm where that over- or
    underflows (:func:`norm_from_square`)."""
    with np.errstate(over="ignore", under="ignore"):
        sq = float(quiet_dot(x, x))
    return norm_from_square(sq, x)


#: float16's smallest normal number, the largest of any float dtype's; float64's.
_TINY16, _TINY64 = 2.0**-14, 2.0**-1022
_FLOAT64 = np.dtype(np.float64)


def square_floor(x: Any) -> float:
    """``n tiny``: the least ``fl(x @ x)`` whose square root :func:`norm_from_square`
    takes, for a vector ``x`` of ``n`` entries (``tiny`` its dtype's smallest normal
    number)."""
    return max(int(x.shape[0]), 1) * _tiny_of(x.dtype)


def norm_from_square(sq: float, x: Any) -> float:
    """``||x||_2`` from ``sq = fl(x @ x)``, the sum of squares in ``x``'s dtype:
    ``sqrt(sq)`` where ``n tiny <= sq < inf`` (:func:`square_floor`), else the scaled norm
    ``m sqrt((x / m) @ (x / m))``, ``m = max_i |x_i|`` (``m`` itself where it is 0 or not
    finite).

    Why the floor: a square ``x_i^2`` rounds with a relative error ``u``, and where it
    falls below ``tiny`` with an absolute one up to the smallest subnormal number, ``eta =
    2 u tiny``; the sum adds ``gamma_{n-1}`` of itself (Higham, Section 3.1). So
    ``|sq - ||x||^2| <= gamma_n ||x||^2 + n eta``, and ``n eta <= 2 u sq`` where ``sq >= n
    tiny``: there ``sq`` is within ``gamma_{n+2}`` of ``||x||^2`` (relative), as a sum of
    normal numbers is. Below the floor the underflow may be all of it: a float32 ``x`` of 1,000
    entries ``2.6e-23`` beside one ``3.7e-23`` has ``fl(x @ x) = 1.4e-45`` where ``||x||^2``
    is ``6.8e-43``, a norm 22 times too small, and a bound or a step sized by it (a ball's
    radius, a segment's ``||d||``) would not cover the step taken. The scaled sum's terms
    ``(x_i / m)^2 <= 1`` include a 1, so its underflow is within ``n eta`` of a sum ``>= 1``.
    """
    # (first against the largest floor of any float dtype, float16's, and NumPy float64's
    # own: no dtype lookup)
    if sq < math.inf and (
        sq >= x.shape[0] * _TINY16
        or (x.dtype is _FLOAT64 and sq >= x.shape[0] * _TINY64)
        or sq >= square_floor(x)
    ):
        return math.sqrt(sq)
    xp = namespace(x)
    scale = amax(xp, xp.abs(x))
    if not 0.0 < scale < math.inf:  # zero, or an infinite/NaN entry
        return scale
    y = x / scale
    return scale * math.sqrt(float(y @ y))


def distance(a: Any, b: Any) -> float:
    """``||a - b||_2`` as :func:`norm` computes it, from a remembered square
    (:func:`lfso._later.remember_dot` of ``(a, b)`` with itself) when there is one."""
    sq = known_dot((a, b), (a, b))
    if sq is not None and 0.0 < sq < math.inf:  # (else norm's overflow-safe path)
        return math.sqrt(sq)
    return norm(a - b)


def as_vector(x: Any, name: str = "x0", xp: Any = None) -> Any:
    """Validate ``x`` as a finite 1-D floating-point array and return it.

    Lists and tuples become arrays of ``xp`` (NumPy by default); integers become float64.
    """
    if xp is None:
        try:
            xp = namespace(x)
        except TypeError:
            xp = namespace(np.empty(0))
    if x is None or isinstance(x, (str, bytes)):
        raise TypeError(f"{name} must be a 1-D real array, got {x!r}")
    refuse_meta(x, name)
    if type(x) is not np.ndarray and hasattr(x, "shape") and hasattr(x, "dtype"):
        try:
            foreign = namespace(x) is not xp
        except TypeError:
            foreign = False
        if foreign:  # another library's array (a GPU's, a test device's): by way of the host
            x = to_numpy(x)
    try:
        x = xp.asarray(x)
        real = xp.isdtype(x.dtype, ("real floating", "integral", "bool"))
    except (TypeError, ValueError) as exc:  # ragged lists, objects
        raise ValueError(
            f"{name} must be a 1-D real array, got {type(x).__name__} ({exc})"
        ) from None
    if not real:
        raise TypeError(f"{name} must be a real array, got dtype {x.dtype}")
    if not xp.isdtype(x.dtype, "real floating"):
        x = xp.astype(x, xp.float64)
    if x.ndim != 1:
        raise ValueError(f"{name} must be 1-D, got shape {tuple(x.shape)}")
    if x.shape[0] == 0:
        raise ValueError(f"{name} must not be empty")
    if not bool(xp.all(xp.isfinite(x))):
        raise ValueError(f"{name} must be finite, got a NaN or infinite entry")
    return x


def refuse_meta(x: Any, name: str) -> None:
    """Raise a ``ValueError`` naming ``name`` where ``x`` is a PyTorch tensor on the
    ``'meta'`` device (a shape and a dtype, no values: nothing can be computed from it)."""
    if type(x) is not np.ndarray and array_api_compat.is_torch_array(x) and x.is_meta:
        raise ValueError(
            f"{name} is a tensor on PyTorch's 'meta' device, which holds no values; pass "
            f"{name} with its data (on the CPU or an accelerator)"
        )


#: PyTorch's device types known to compute in float64 (others are asked once each).
_FLOAT64_DEVICES = frozenset({"cpu", "cuda"})
#: Whether each other device computes in float64, as asked (:func:`refuse_no_float64`).
_FLOAT64_ON: dict[str, bool] = {}


def refuse_no_float64(x: Any, name: str) -> None:
    """Raise a ``TypeError`` naming ``name``, its device and its dtype where ``x`` is a
    PyTorch tensor on a device without float64 (Apple's ``'mps'``): the certificates take
    their rounding bounds, norms and long float32 sums in float64 on the data's device."""
    if type(x) is np.ndarray or not array_api_compat.is_torch_array(x):
        return
    device = x.device
    if device.type in _FLOAT64_DEVICES:
        return
    key = str(device)
    if key not in _FLOAT64_ON:
        import torch

        try:
            torch.zeros((), dtype=torch.float64, device=device)
            _FLOAT64_ON[key] = True
        except (TypeError, RuntimeError):  # (MPS: "doesn't support float64")
            _FLOAT64_ON[key] = False
    if not _FLOAT64_ON[key]:
        raise TypeError(
            f"{name} ({x.dtype}) is on PyTorch's {key!r} device, which has no float64; lfso "
            "takes its certificates' rounding bounds and long sums in float64 on the data's "
            f"device. Pass {name}.cpu() (CPU tensors run NumPy's code on views of them) or a "
            "tensor on a CUDA device"
        )


def like(x: Any, data: Any) -> Any:
    """``x`` on the device of ``data`` (and, for PyTorch, in its floating dtype).

    Arrays on different devices do not combine (CUDA, or array-api-strict's test devices),
    and PyTorch does not promote float32 to float64 in a product, so a CPU or float32
    starting point would fail deep inside the first gradient. NumPy and Dask promote and
    have one host device: ``x`` is returned unchanged for them.
    """
    if data is None or isinstance(data, np.ndarray) or array_api_compat.is_dask_array(data):
        return x
    if array_api_compat.is_torch_array(data):
        if x.dtype != data.dtype or x.device != data.device:
            return x.to(dtype=data.dtype, device=data.device)
        return x
    if array_api_compat.device(x) != array_api_compat.device(data):
        return array_api_compat.to_device(x, array_api_compat.device(data))
    return x


def to_numpy(x: Any) -> np.ndarray:
    """A (small) array as NumPy on the host, from any library or device."""
    if type(x) is np.ndarray:
        return x
    if array_api_compat.is_torch_array(x):
        x = x.detach().cpu()
        if str(x.dtype) == "torch.bfloat16":
            x = x.float()  # (bfloat16 has no NumPy dtype; float32 holds it exactly)
        return x.numpy()
    if array_api_compat.is_dask_array(x):
        return np.asarray(x.compute())
    if array_api_compat.is_cupy_array(x):  # pragma: no cover - needs a GPU
        return x.get()
    if array_api_compat.device(x) != _default_device(x):  # e.g. array-api-strict's "device1"
        x = array_api_compat.to_device(x, _default_device(x))
    return np.asarray(x)


def _default_device(x: Any) -> Any:
    """The default (host) device of ``x``'s library, per the array API's inspection API."""
    info = getattr(namespace(x), "__array_namespace_info__", None)
    return info().default_device() if info is not None else array_api_compat.device(x)


def materialize(x: Any) -> Any:
    """Evaluate a lazy array (Dask) so that the next iteration does not rebuild its graph.

    With a ``dask.distributed`` client the result stays on the cluster (``persist``);
    eager arrays are returned unchanged.

    Every Dask array that more than one computation reads is persisted where it is made,
    and later expressions are built from the persisted array: a lazy array submitted with
    two computations reaches the scheduler under the same key (Dask names an expression
    by its inputs) with a different task each time (graph optimisation fuses a key into a
    different chain in each), which ``dask.distributed`` reports as a different
    ``run_spec`` for that key, and each computation recomputes it.
    """
    if type(x) is np.ndarray:  # (the common case, without the lookup)
        return x
    return x.persist() if _is_dask(x) else x


def materialize_all(*arrays: Any) -> list[Any]:
    """:func:`materialize` for several arrays, in one submission for the Dask ones (so that
    a lazy part they share is computed once, in one graph); others are returned unchanged.
    """
    lazy = [i for i, a in enumerate(arrays) if _is_dask(a)]
    out = list(arrays)
    if lazy:
        import dask

        for i, done in zip(lazy, dask.persist(*(arrays[i] for i in lazy)), strict=True):
            out[i] = done
    return out


def quietly(function: Callable[..., Any], *args: Any) -> Any:
    """``function(*args)`` under ``np.errstate(over="ignore")``, for elementwise work whose
    overflows give the ``inf`` the caller takes. On Dask arrays chunk by chunk, each task
    setting it (:func:`_quiet_block`): a graph runs when computed, after the caller's
    ``np.errstate`` has closed, or in a worker's thread, which has its own; ``function``
    a module's function (its name keys the tasks), the arrays' chunks aligned."""
    lazy = [a for a in args if _is_dask(a)]
    if lazy:
        import dask.array as da

        return da.map_blocks(_quiet_block, function, *args, dtype=lazy[0].dtype)
    with np.errstate(over="ignore"):
        return function(*args)


def _quiet_block(function: Callable[..., Any], *blocks: Any) -> Any:
    """One chunk of :func:`quietly`."""
    with np.errstate(over="ignore"):
        return function(*blocks)


def quiet_dot(a: Any, b: Any) -> Any:
    """``a @ b`` of two vectors; of Dask vectors chunk by chunk, each chunk's dot and the sum
    of their partial sums under ``np.errstate(over="ignore", under="ignore")`` (as
    :func:`quietly`: a sum past the float range is the ``inf`` the caller takes, where
    Dask's own ``@`` would warn from the thread that computes it). Other arrays: ``a @ b``
    (NumPy's under the caller's own ``np.errstate``)."""
    if not (_is_dask(a) or _is_dask(b)):
        return a @ b
    import dask.array as da

    kind = np.result_type(a.dtype, b.dtype)
    partial = da.blockwise(
        _quiet_partial_dot, "i", a, "i", b, "i", adjust_chunks={"i": 1}, dtype=kind
    )
    return da.reduction(partial, _quiet_sum, _quiet_sum, dtype=kind)


def _quiet_partial_dot(a: Any, b: Any) -> Any:
    """One chunk of :func:`quiet_dot`: its dot, as a 1-vector."""
    with np.errstate(over="ignore", under="ignore"):
        return np.reshape(a @ b, (1,))


def _quiet_sum(x: Any, axis: Any = None, keepdims: bool = False, **_: Any) -> Any:
    """:func:`quiet_dot`'s sum of the partial sums (Dask's reduction steps)."""
    with np.errstate(over="ignore"):
        return np.sum(x, axis=axis, keepdims=keepdims)


def _is_dask(x: Any) -> bool:
    return not isinstance(x, _HOST) and array_api_compat.is_dask_array(x)


def operator_norm(A: Any, name: str = "A") -> float:
    """``||A||_2``, the largest singular value, computed exactly.

    A matrix whose ``||A||_F^2`` overflows float64 raises a ``ValueError`` naming ``name``
    and its scale (the bounds need ``||A||^2``).

    One pass over ``A`` in its own library forms the small Gram matrix (``d x d`` or
    ``n x n``), whose top eigenvalue is then taken on the host. The bounds rely on it being
    an upper bound, so no power-iteration estimate is used. The Gram matrix is formed in
    float64 whatever ``A``'s dtype (a float32 entry is exactly a float64 one; rows are cast
    a block at a time, so no float64 copy of ``A`` is kept), so that the rounding pad below
    is float64's, not float32's (which, as a worst case over ``n`` rows, would loosen
    ``||A||`` by tens of percent at ``10^5`` rows).
    """
    if A.ndim != 2:
        raise ValueError(f"A must be 2-D, got shape {tuple(A.shape)}")
    tall = A.shape[0] >= A.shape[1]
    k, small = (A.shape[0], A.shape[1]) if tall else A.shape[::-1]
    with np.errstate(over="ignore", invalid="ignore"):  # (an overflow raises below)
        gram, dtype = _gram64(A, tall)
    G = np.asarray(to_numpy(gram), dtype=np.float64)
    trace = float(np.sum(np.abs(np.diag(G))))
    if not trace < _FLOAT64_MAX / 4:  # (overflowed, or leaves no room for the pad below)
        raise ValueError(_too_large(A, name))
    top = float(np.max(np.linalg.eigvalsh(G)))
    # Rounding, proven (Higham, Accuracy and Stability, 3.1 and 3.5): each entry of the
    # Gram matrix formed in ``dtype`` is a dot product of length k, so
    # |fl(G) - G| <= gamma_k |A|^T |A| entrywise and ||fl(G) - G||_2 <= gamma_k ||A||_F^2
    # (as || |A|^T |A| ||_F <= ||A||_F^2), with ||A||_F^2 <= trace(fl(G)) (1 + gamma_k)
    # (the diagonal sums are of non-negative terms). eigvalsh (float64, backward stable)
    # adds at most a modest multiple of eps_64 ||G||: 8 (small) eps_64 (top + pad).
    # In float64: about k * 1e-16 of ||A||_F^2. Underflow: each of an entry's k products
    # loses at most half the dtype's smallest subnormal number eta (the additions nothing
    # more), so ||fl(G) - G||_2 <= ||fl(G) - G||_F gains at most small k eta / 2 (float64
    # data below 1e-154 would otherwise have the norm 0; far above, the term rounds away).
    gk = error_gamma(k, dtype)
    pad = gk * trace * (1.0 + gk) + small * k * _smallest_subnormal(dtype)
    bound = (max(top, 0.0) + pad) * (1.0 + error_gamma(8 * small + 8, np.float64))
    return math.sqrt(bound)


_FLOAT64_MAX = float(np.finfo(np.float64).max)


def _too_large(A: Any, name: str) -> str:
    """Why ``A`` is past float64's range for the bounds, with its largest entry."""
    top = to_float(reduce_max(namespace(A), namespace(A).abs(A)))
    return (
        f"{name} is too large in scale: the smoothness bounds need ||{name}||^2, and "
        f"||{name}||_F^2 (the sum of its squared entries) overflows float64 (its largest "
        f"entry is |{name}_ij| = {top:.3g}); rescale {name} (and the targets), e.g. divide "
        "by a power of ten, and scale the solution back"
    )


_GRAM_BLOCK = 1 << 16  # rows (or columns) cast to float64 at a time


def _gram64(A: Any, tall: bool) -> tuple[Any, Any]:
    """``A^T A`` (``tall``) or ``A A^T`` formed in float64, and the dtype it was formed in.

    Falls back to ``A``'s own dtype where its library has no float64 (some accelerators).
    """
    xp = namespace(A)
    try:
        f64 = xp.float64
    except AttributeError:
        f64 = None
    if f64 is None or A.dtype == f64:
        return (A.T @ A if tall else A @ A.T), A.dtype
    try:
        if array_api_compat.is_dask_array(A):  # lazy: cast chunk by chunk on the workers
            B = xp.astype(A, f64)
            return (B.T @ B if tall else B @ B.T), f64
        n = A.shape[0] if tall else A.shape[1]
        gram = None
        for lo in range(0, n, _GRAM_BLOCK):
            hi = min(lo + _GRAM_BLOCK, n)  # (the Array API leaves a stop past the end open)
            blk = xp.astype(A[lo:hi, :] if tall else A[:, lo:hi], f64)
            part = blk.T @ blk if tall else blk @ blk.T
            gram = part if gram is None else gram + part
        return gram, f64
    except (TypeError, ValueError, RuntimeError):  # no float64 on this device
        return (A.T @ A if tall else A @ A.T), A.dtype


def error_gamma(k: int, dtype: Any) -> float:
    """A bound ``gamma_k`` on the relative rounding of ``k`` operations in ``dtype``:
    Higham's ``k u / (1 - k u)`` for the unit roundoff ``u`` of ``dtype`` where ``k u <
    1/2``, and ``max(1, (1 - u)^-k - 1)`` (rounded up) beyond, finite for every ``k``.

    A sum of ``k`` terms, a dot product of length ``k`` or a product of ``k`` factors,
    computed in ``dtype``, is within ``gamma_k`` (relative, of the sum of absolute values)
    of the exact result (Higham, *Accuracy and Stability of Numerical Algorithms*, 2nd ed.,
    Lemma 3.1 and Section 3.1); blocked and pairwise orders only improve it. The bounds
    use it to pad statistics reduced in the data's dtype, so that a float32 bound is as
    sound as a float64 one.

    Lemma: if ``|delta_i| <= u < 1`` and ``rho_i = +-1``, then ``(1 - u)^k <= prod_{i <= k}
    (1 + delta_i)^rho_i <= (1 - u)^-k``, so ``|prod - 1| <= (1 - u)^-k - 1``. Proof: each
    factor lies in ``[1 - u, 1/(1 - u)]``, as ``1 + u <= 1/(1 - u)`` and ``1/(1 + u) >= 1
    - u``; and ``1 - (1 - u)^k <= (1 - u)^-k - 1`` (``1 - 1/a <= a - 1`` for ``a >= 1``).
    So every use of Higham's Lemma 3.1 (``|theta_k| <= gamma_k``) holds with ``(1 - u)^-k
    - 1`` for every ``k``, and also the one-sided ``prod >= 1 / (1 + gamma_k)``, by which
    a computed sum ``F`` of non-negative terms bounds their exact sum by ``(1 + gamma_k)
    F`` (:func:`sum_bounds`). Below ``k u = 1/2`` Higham's value is kept: it is at least
    ``(1 - u)^-k - 1`` (Bernoulli, ``(1 - u)^k >= 1 - k u``) and at most 1, so the value is
    non-decreasing in ``k``; beyond, ``-k log1p(-u)`` and ``expm1`` (each within an ulp or
    two) are padded by ``2^-50`` relative each, and overflow gives ``inf``.
    """
    u = 0.5 * _eps_of(dtype)
    return _gamma_of_unit(k, u)


def _gamma_of_unit(k: int, u: float) -> float:
    """:func:`error_gamma` for the unit roundoff ``u`` (its docstring)."""
    ku = k * u
    if ku < 0.5:
        return ku / (1.0 - ku)
    if not u < 1.0:
        return math.inf
    exponent = -float(k) * math.log1p(-u) * (1.0 + 2.0**-50)
    if not exponent < 709.0:
        return math.inf
    return max(1.0, math.expm1(exponent) * (1.0 + 2.0**-50))


def sum_bounds(pad: float, rho: float = 0.0) -> tuple[float, float]:
    """``(spread, floor)`` for a sum ``F`` of non-negative terms computed with ``pad = (1 +
    rho) (1 + gamma)``: ``gamma`` (:func:`error_gamma`) for the sum and the terms'
    roundings in the standard model, ``rho`` a further symmetric relative error of each
    term (``|c_i - t_i| <= rho t_i``). Then ``|F - S| <= spread F`` and ``S <= F / floor``
    for the exact sum ``S``; ``(inf, 0)`` where no bound follows (``rho >= 1``, or ``pad``
    not finite).

    Where ``pad < 2``: Higham's ``|F - S| <= (P - 1) S``, so ``S <= F / (2 - P)`` and
    ``spread = (P - 1) / (2 - P)``. Beyond (``gamma`` of the lemma in :func:`error_gamma`):
    the computed terms ``c_i >= (1 - rho) t_i`` and ``F >= sum_i c_i / (1 + gamma)``, so
    ``S <= F (1 + gamma) / (1 - rho)``, and ``|F - S| <= gamma sum_i c_i + rho S <= (1 +
    gamma) (gamma + rho / (1 - rho)) F``; each padded by ``2^-50`` relative per rounding.
    """
    if pad < 2.0:
        return (pad - 1.0) / (2.0 - pad), 2.0 - pad
    if not (rho < 1.0 and pad < math.inf):
        return math.inf, 0.0
    up = 1.0 + 2.0**-50
    grow = pad / (1.0 + rho) * up * up  # 1 + gamma, rounded up
    spread = grow * ((grow - 1.0) * up + rho / (1.0 - rho) * up * up) * up * up
    return spread, (1.0 - rho) / grow / (up * up)


def _is_numpy(dtype: Any) -> bool:
    """Whether ``dtype`` is NumPy's (a ``np.dtype`` or a scalar type) rather than another
    library's."""
    return isinstance(dtype, np.dtype) or (
        isinstance(dtype, type) and issubclass(dtype, np.generic)
    )


def _smallest_subnormal(dtype: Any) -> float:
    """The smallest positive (subnormal) number of a floating dtype, NumPy's or another
    library's: its smallest normal number times its epsilon (both powers of two)."""
    eps, tiny = _limits(dtype)
    return tiny * eps


def _tiny_of(dtype: Any) -> float:
    """The smallest positive normal number of a floating dtype (NumPy, PyTorch, ...)."""
    return _limits(dtype)[1]


def _eps_of(dtype: Any) -> float:
    """Machine epsilon of a floating dtype (NumPy, PyTorch, array-api-strict, ...)."""
    return _limits(dtype)[0]


def _limits(dtype: Any) -> tuple[float, float]:
    """``(eps, smallest normal number)`` of a floating dtype, once per dtype: NumPy's, or
    another library's by its name (bfloat16's by hand; float16 or float32 otherwise).
    Kept by the dtype object's identity (the dtype held, so its id is not reused): a
    library's dtype may hash as NumPy's and warn when compared with it (array-api-strict's)."""
    hit = _LIMITS.get(id(dtype))
    if hit is not None and hit[0] is dtype:
        return hit[1]
    if _is_numpy(dtype):
        info = np.finfo(dtype)
    else:
        name = str(dtype).rsplit(".", 1)[-1]
        try:
            info = np.finfo(np.dtype(name))
        except TypeError:
            info = None
            if "bfloat16" not in name:
                info = np.finfo(np.float16 if "16" in name else np.float32)
    limits = (2.0**-7, 2.0**-126)  # (bfloat16's, by hand)
    if info is not None:
        limits = (float(info.eps), float(info.smallest_normal))
    _LIMITS[id(dtype)] = (dtype, limits)
    return limits


_LIMITS: dict[int, tuple[Any, tuple[float, float]]] = {}


def row_norms(A: Any) -> Any:
    """Euclidean norm of each row of ``A`` (evaluated once for lazy arrays); ``inf`` for a
    row whose squares overflow the dtype (an upper bound: the bounds built on it are inf,
    a precision limit reported where a step is sized), without NumPy's warning."""
    xp = namespace(A)
    with np.errstate(over="ignore"):
        return materialize(xp.sqrt(xp.sum(A * A, axis=1)))
