"""A row model's work on an accelerator in compiled passes (``torch.compile``): the trial
sums of a batch of trial steps, the logistic segment's rows, an evaluation's rows, and,
for a model that large, an iteration's arithmetic on ``d``-vectors (the L-BFGS direction).

On PyTorch tensors off the host (a GPU, or CPU tensors inside
:func:`lfso.bench.cpu_as_accelerator`), :class:`~lfso.models._segments.RowSegment` sums
its kernel's terms for a batch of ``k`` trial steps as PyTorch operations on ``n x k``
arrays: each operation reads and writes ``k`` vectors of the rows' length, several times
the two passes over ``A`` that an iteration needs. Here the batch is one function compiled
by ``torch.compile`` (TorchInductor: a Triton kernel on a GPU, C++ on the CPU) that reads
the rows, their change and the weights once and keeps the power kernels' ``n x k`` terms
in registers. (TorchInductor's CPU code stores the logistic kernel's ``n x k`` exponentials
once, two ``n x k`` arrays of Cauchy's kernel, and softmax's ``K x n x k``, which the
segment's chunks of trials, in which every compiled pass runs, bound:
``docs/results.md``, "Batches of trial steps in chunks".)

Which kernels: those with ``fused_ulps``, the error of a term in units of the dtype's
``eps`` whatever the backend does with the kernel's operations on the devices compiled for
here (the CPU: C++, correctly rounded arithmetic and SLEEF's exponential within an ulp;
NVIDIA GPUs: Triton, whose float32 exponential is CUDA's ``__expf``, within ``2 + floor(1.173
|x|)`` ulps, and whose float32 quotient is PTX's ``div.full.f32``, within 2 ulps; CUDA C++
Programming Guide, "Intrinsic Functions", and PTX ISA, ``div``). The power kernels of order
0 to 4 are made of additions, multiplications, absolute values and maxima, rounded
correctly everywhere (``fused_ulps`` is their ``term_ulps``); the logistic rows' kernel
(:func:`~lfso.models._segments.approach_kernel`) takes an exponential of ``-x``, ``0 <= x
<= 88`` where it does not underflow (at most 105 ulps), and a quotient (2), so 128;
Cauchy's (:func:`~lfso.models._segments.cauchy_kernel`) a quotient, whose 2 ulps and
flushed subnormals its ``fused_ulps``, 18, covers where ``c`` is not below about 5.4e-16
(float32; the argument is in its docstring). Softmax regression's kernel, whose rows are
the ``K x n`` logits, has its own compiled sums (:func:`softmax_sums`; its
``fused_ulps``, ``2 K + 256``, is argued in :func:`lfso.models._softmax._variance_kernel`).
Kernels without ``fused_ulps`` (a non-integer power, whose ``pow`` a backend may take with
an accuracy not cited here) keep the PyTorch operations, as do other devices (AMD's, whose
accuracy is not cited here).

The logistic segment's rows (:func:`approach_rows`: the margins' approach start and rate,
the weights ``(|v| + eps)^2`` and their sum, made from the margins, their change and their
sizes) are one more pass, of additions, multiplications, absolute values, signs and a
minimum.

An evaluation's row work (:func:`one_pass`: logistic regression's losses, gradient
factors and margins' sizes; Cauchy regression's residuals, gradient factors and mean
loss; l_2p regression's residuals, ``w r`` and ``sum_i w_i r_i^2``) is one pass too, the
model's own operations in its order, and so are a segment's weights ``(|u| + eps)^2`` with
their sum (:func:`lfso.models._segments.slack_weights`). The rows a segment's bound reads
from them (a residual, a margin's size, a weight) are the PyTorch operations' values bit
for bit; ``f`` and the gradient, whose accuracy is the backend's as for any evaluation,
are theirs to rounding (means and sums taken in float64; another implementation of the
exponential, ``log1p`` or a power).

An iteration's arithmetic on ``d``-vectors and 0-d arrays, for a model of that many rows
(:func:`iteration_compiles`), is a compiled pass too (:func:`one_pass`): the L-BFGS
direction on the device (:func:`lfso.steps._directions._device_direction`: the recursion
in the memory's Gram matrix with the pair's and the descent's tests, some sixty
operations) and the device step's scale ``2^k`` with ``2^k d``
(:func:`lfso.steps._certificates._unit_scaled`), the same operations, which launch a few
kernels where PyTorch's operations launch one each, each a few microseconds on a GPU
whatever ``n``: they save launches, not passes over the rows, and their compilation (once
per process, dtype and device) is repaid only over many iterations or runs
(``docs/results.md``, "The L-BFGS direction in one compiled pass"). The direction is
PyTorch's operations' to rounding (its products and solves summed in another order: any
descent direction is certified along its segment); the scale is a power of two either way.

When: tensors of at least :data:`MIN_ROWS` rows (the compilation, seconds once per process
and kernel, is repaid by the passes it saves), a batch of two trials or more, PyTorch's
``torch.compile`` available, and the environment variable ``LFSO_NO_COMPILED`` unset when
:mod:`lfso` is imported (as for the NumPy compiled kernels, :mod:`lfso.models._compiled`).
A compilation that fails (no C++ compiler, a backend that does not support the device)
warns once, and the PyTorch operations run for the rest of the process.

Rounding. The compiled function makes the kernel's operations on the same values, in the
rows' dtype, with three freedoms that the argument covers. (1) The terms may be summed in
any order: :func:`~lfso.models._segments.rounding_pad` bounds every order of summation of
``n`` terms. (2) A product and the sum that takes it may be fused into one multiply-add
(Triton fuses them), rounded once: ``fl(a + b c)`` is then within ``unit |a + b c|`` of
the exact value, inside the ``unit (|a + b c| + (1 + unit) |b c|)`` that the argument
allows for the two roundings. The arithmetic is otherwise correctly rounded, as PyTorch's
own is, and the exponential and the quotient are within the accuracies above, so each term
is within the kernel's ``fused_ulps``, which the segment's relative pad takes in place of
``term_ulps`` (:func:`~lfso.models._segments.rounding_pad`). (3) A backend may flush
subnormal results to zero, so that an operation loses up to the smallest normal number
``tiny`` where gradual underflow loses at most the smallest subnormal ``tiny eps``: a
segment whose batches run here counts ``tiny`` in its underflow pad (``RowSegment``'s
Rounding, ``16 tiny max(1, peak) (n + sum_i w_i)``). ``tests/test_fused.py`` checks the
padded sums against the exact sums in mpmath, in float32 and float64.
"""

from __future__ import annotations

import itertools
import os
import types
import warnings
from collections.abc import Callable
from typing import Any

from .._later import accelerated

__all__ = [
    "MIN_ROWS",
    "applies",
    "approach_rows",
    "iteration_compiles",
    "iteration_rows",
    "one_pass",
    "softmax_sums",
    "trial_sums",
    "usable",
]

#: The fewest rows for which the trial sums are compiled.
MIN_ROWS = 1 << 18

#: Whether compiled trial sums may run: ``LFSO_NO_COMPILED`` unset when imported; set to
#: ``False`` for the process once a compilation fails.
_ENABLED = "LFSO_NO_COMPILED" not in os.environ

#: The compiled rows of the logistic segment, by the dtype's unit roundoff (on first use).
_ROWS: dict[float, Callable[..., Any]] = {}

#: Softmax regression's compiled sums (:func:`softmax_sums`; made on first use).
_SOFTMAX: Callable[..., Any] | None = None

#: The compiled sums of each kernel, by kernel, finishing function and whether summed in
#: float64 (made on first use; the kernels that compile are module-level or cached by their
#: constants, so they live as long as the process).
_COMPILED: dict[tuple[Callable[..., Any], Any, bool], Callable[..., Any]] = {}

#: The compiled passes of :func:`one_pass`, by function (module-level functions).
_PASSES: dict[Callable[..., Any], Callable[..., Any]] = {}

#: The namespace the compiled passes take (:func:`_traceable`; made on first use).
_XP: Any = None

#: Numbers for the compiled functions' own code objects (:func:`_own_code`).
_SERIAL = itertools.count()


def applies(kernel: Callable[..., Any], r: Any) -> bool:
    """Whether a compiled pass runs for these rows (for batches of two trials or more): a
    kernel with ``fused_ulps`` and rows :func:`usable` here (rows of ``K`` classes, ``K x
    n``, counted as their ``K n`` elements, for a kernel with its own compiled sums,
    ``fused_sums``: :func:`softmax_sums`)."""
    if not hasattr(kernel, "fused_ulps"):
        return False
    if r.ndim == 2 and hasattr(kernel, "fused_sums"):
        return usable(r, classes=True)
    return usable(r)


def usable(r: Any, *, classes: bool = False) -> bool:
    """Whether compiled passes run over these rows: 1-d PyTorch rows of at least
    :data:`MIN_ROWS` (with ``classes``, ``K x n`` rows of at least that many elements) off
    the host (:func:`lfso._later.accelerated`) on an NVIDIA GPU or the CPU, and compilation
    enabled."""
    size = r.shape[0] * r.shape[1] if classes and r.ndim == 2 else r.shape[0]
    if not _ENABLED or r.ndim != (2 if classes else 1) or size < MIN_ROWS:
        return False
    if not accelerated(r):
        return False
    import torch

    return r.device.type == "cpu" or (r.device.type == "cuda" and torch.version.hip is None)


def iteration_rows(evaluation: Any) -> int:
    """The length of an iteration's passes: the larger of the gradient's and the rows of
    the model's product that the evaluation kept (``A x``, or ``K x n`` logits counted as
    their ``K n`` elements)."""
    grad = evaluation.grad
    size = int(grad.shape[0]) if getattr(grad, "ndim", 0) == 1 else 0
    rows: Any = getattr(evaluation.product, "value", None)
    ndim = getattr(rows, "ndim", 0)
    if ndim in (1, 2):
        size = max(size, int(rows.shape[0]) * (int(rows.shape[1]) if ndim == 2 else 1))
    return size


def iteration_compiles(evaluation: Any) -> bool:
    """Whether an iteration's arithmetic on ``d``-vectors and 0-d arrays (the L-BFGS
    direction's on the device, some sixty operations) runs as a compiled pass: where compiled
    passes run over the evaluation's gradient or over the rows of the model's product that
    it kept (``A x``, or ``K x n`` logits counted as their ``K n`` elements), that is, for a
    model of at least :data:`MIN_ROWS` rows, whose iterations the compilation (once per
    process, dtype and device) serves. There the pass launches a few kernels where PyTorch's
    operations launch one each."""
    grad = evaluation.grad
    if usable(grad):
        return True
    rows = getattr(evaluation.product, "value", None)
    if rows is None or getattr(rows, "ndim", 0) not in (1, 2):
        return False
    return usable(rows, classes=rows.ndim == 2)


def approach_rows(
    m: Any, v: Any, delta: Any, eps: Any, unit: float, size: Any
) -> tuple[Any, Any, Any, Any] | None:
    """:func:`lfso.models._segments.approach_rows` of rows :func:`usable` here in one
    compiled pass: ``(start, rate, weights, their sum)`` from the margins ``m``, their
    change ``v`` and ``|m|`` (``size``, or ``None``), with the same operations (additions,
    multiplications, absolute values, signs and a minimum, correctly rounded everywhere, a
    product and the sum taking it possibly fused into one rounding, inside the two
    roundings :func:`lfso.models._segments.approach`'s argument allows; the weights' sum in
    any order, as the underflow pad takes it). ``None`` where the compilation failed."""
    delta, eps = _filled(delta, m), _filled(eps, m)
    rows = _ROWS.get(unit)
    if rows is None:
        rows = _ROWS[unit] = _compile_rows(unit)
    return _run(rows, m, v, size, delta, eps)


def one_pass(function: Callable[..., Any], *arrays: Any) -> Any | None:
    """``function(xp, *arrays)`` (``xp`` array-api-compat's PyTorch namespace) compiled
    into one pass, for arrays off the host where compiled passes run (:func:`usable`): a
    model's elementwise work on its rows (the logistic evaluation's losses and the
    gradient's row factors), the same operations in the same order, which the compiled
    code makes in one read of the rows and one write of each result, where PyTorch's
    operations read and write each intermediate; or an iteration's arithmetic on a few
    numbers or ``d``-vectors (a device step's on a batch of trial steps made in chunks,
    :func:`lfso.models._segments._bracket`; the L-BFGS direction,
    :func:`lfso.steps._directions._device_direction`), a few kernels where PyTorch's
    operations launch one each. A reduction among the
    results (a mean, a sum) is summed in another order (the models' functions take theirs
    in float64). ``None`` where the compilation failed (the caller then takes the PyTorch
    operations)."""
    compiled = _PASSES.get(function)
    if compiled is None:
        import torch

        xp = _traceable()

        def bound(*args: Any) -> Any:
            return function(xp, *args)

        compiled = _PASSES[function] = torch.compile(_own_code(bound), dynamic=True)
    return _run(compiled, *arrays)


def _traceable() -> Any:
    """array-api-compat's PyTorch namespace for the compiled passes, with ``clip`` by
    ``torch.clamp`` where its bounds are numbers (or ``None``; the passes' are never NaN):
    the same values (a number bound clamps in the array's dtype either way), where
    array-api-compat's ``clip`` inspects its numbers in Python, which TorchDynamo cannot
    trace when they are the pass's symbolic inputs (a step's ``t_max``): each such call
    split the pass into several graphs, each a call of its own."""
    global _XP
    if _XP is None:
        import array_api_compat.torch as compat
        import torch

        def clip(x: Any, /, min: Any = None, max: Any = None) -> Any:
            if isinstance(min, torch.Tensor) or isinstance(max, torch.Tensor):
                return compat.clip(x, min=min, max=max)
            return torch.clamp(x, min, max)

        namespace = types.ModuleType("lfso_traceable_torch")
        namespace.__dict__.update(vars(compat))
        namespace.clip = clip  # type: ignore[attr-defined]
        _XP = namespace
    return _XP


def _own_code(function: Callable[..., Any]) -> Callable[..., Any]:
    """``function`` with a code object of its own. TorchDynamo keeps compiled code by code
    object and stops compiling one past a limit of recompilations (8 by default), falling
    back to running it op by op; the closures of one template (a pass per kernel or per
    model) share their code object, and each new kernel or function they call counts as a
    recompilation of it. A copy per compiled function keeps each one's own count (one per
    dtype and device)."""
    code = function.__code__
    own = code.replace(co_name=f"{code.co_name}_{next(_SERIAL)}")
    return types.FunctionType(
        own, function.__globals__, own.co_name, function.__defaults__, function.__closure__
    )


def trial_sums(
    kernel: Callable[..., Any],
    r: Any,
    u: Any,
    weight: Any,
    trials: Any,
    slack: tuple[Any, Any] | None,
    finish: tuple[Callable[..., Any], tuple[Any, ...]] | None = None,
    *,
    wide: bool = False,
) -> Any | None:
    """``sum_i w_i kernel(r_i, r_i + t_j u_i)`` for each trial ``t_j`` (a 1-d tensor of
    the rows' dtype), widened by ``(delta, delta + t eps)`` as the kernel takes it, ``slack
    = (delta, eps)`` (``None``: no widening), that widening made in the pass (the segment's
    own operations, :meth:`lfso.models._segments.RowSegment._widen`); ``weight`` ``None``
    sums the terms unweighted. A length-``k`` tensor on the rows' device, or ``None`` where
    the compilation failed (the caller then takes the PyTorch operations). ``finish =
    (function, arguments)``: the sums made into ``function(xp, sums, *arguments)`` in the
    same pass (a segment's bounds from its sums: elementwise operations on the ``k`` sums,
    the same as the caller would make). ``wide``: the terms (and their products with the
    weights, exact there) summed in float64, a float64 tensor (a long row segment's:
    :data:`lfso.models._segments._WIDE_SUMS`); else in the rows' dtype."""
    import torch

    if slack is None:  # (|r| + 0 and |e| + 0 are |r| and |e|: the same terms)
        zero = torch.zeros((), dtype=r.dtype, device=r.device)
        slack = (zero, zero)
    delta, eps = _filled(slack[0], r), _filled(slack[1], r)
    function, arguments = (None, ()) if finish is None else finish
    sums = _COMPILED.get((kernel, function, wide))
    if sums is None:
        made = _compile(kernel, function, wide) if wide else _compile(kernel, function)
        sums = _COMPILED[kernel, function, wide] = made
    return _run(sums, r, u, weight, trials, delta, eps, *arguments)


def softmax_sums(
    r: Any, u: Any, e0: Any, v2: Any, t0: Any, popoviciu: Any, trials: Any, grown: Any
) -> Any | None:
    """Softmax regression's segment sums (:func:`lfso.models._softmax._variance_kernel`)
    for each trial ``t_j`` in one compiled pass: ``sum_i min(popoviciu_i, max(t0_i,
    T_i(t_j)) / S_i(t_j) e^{2 g_j})`` with ``T_i(t) = sum_k [v2_ki > 0] v2_ki e^{r_ki + t
    u_ki}``, ``S_i(t) = sum_k min(e0_ki, e^{r_ki + t u_ki})`` and the slack's ``g_j =
    delta + t_j eps`` (``grown``, or ``None``). ``r``, ``u`` are ``K x n``; ``e0``, ``v2``
    ``K x n x 1``; ``t0``, ``popoviciu`` ``n x 1``. The same operations as the kernel's,
    the rows read once per batch; the exponentials, which both sums read, may be stored
    once (TorchInductor's CPU code stores them: ``K x n x k`` elements, which the caller
    bounds by its chunks of trials). ``None`` where the compilation failed."""
    global _SOFTMAX
    if _SOFTMAX is None:
        _SOFTMAX = _compile_softmax()
    if grown is None:  # (e^0 = 1: the same ratios)
        grown = trials * 0.0
    return _run(_SOFTMAX, r, u, e0, v2, t0, popoviciu, trials, grown)


def _filled(pad: Any, like: Any) -> Any:
    """``pad`` as a 0-d tensor of ``like``'s dtype and device: a tensor as it is, a number
    by a fill (no copy from the host)."""
    import torch

    if isinstance(pad, torch.Tensor):
        return pad
    return torch.full((), float(pad), dtype=like.dtype, device=like.device)


def _run(compiled: Callable[..., Any], *args: Any) -> Any:
    """``compiled(*args)``, or ``None`` (with a warning, once: no compilation is tried again
    in the process) where the compilation fails."""
    global _ENABLED
    try:
        return compiled(*args)
    except Exception as error:  # (torch.compile's backends raise their own errors)
        _ENABLED = False
        warnings.warn(
            f"torch.compile could not compile one of lfso's accelerator passes "
            f"({type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''}); "
            "their work runs as separate PyTorch operations from now on (set "
            "LFSO_NO_COMPILED=1 to skip the attempt)",
            RuntimeWarning,
            stacklevel=5,
        )
        return None


def _compile(
    kernel: Callable[..., Any], finish: Callable[..., Any] | None = None, wide: bool = False
) -> Callable[..., Any]:
    """The kernel's trial sums (made into ``finish(xp, sums, *arguments)`` where given) as
    one function compiled by ``torch.compile`` (the kernel takes array-api-compat's
    PyTorch namespace, as on the PyTorch path)."""
    import torch

    xp = _traceable()

    def sums(
        r: Any, u: Any, weight: Any, trials: Any, delta: Any, eps: Any, *arguments: Any
    ) -> Any:
        start, step = r[:, None], u[:, None]
        end = start + step * trials[None, :]
        spread = delta + trials * eps  # (RowSegment._widen's operations)
        terms = kernel(xp, start, end, step, (delta, spread[None, :]))
        if wide:  # (float64: the products of the rows' numbers exact, the sums long)
            terms = terms.to(torch.float64)
            weight = None if weight is None else weight.to(torch.float64)
        total = terms.sum(dim=0) if weight is None else (weight[:, None] * terms).sum(dim=0)
        return total if finish is None else finish(xp, total, *arguments)

    return torch.compile(_own_code(sums), dynamic=True)


def _compile_rows(unit: float) -> Callable[..., Any]:
    """:func:`approach_rows`'s pass for the unit roundoff ``unit``, compiled (with
    array-api-compat's PyTorch namespace, as :func:`lfso.models._segments.approach`)."""
    import torch

    xp = _traceable()

    def rows(m: Any, v: Any, size: Any, delta: Any, eps: Any) -> Any:
        start = xp.abs(m) if size is None else size
        rate = xp.clip(xp.sign(m) * v, max=0.0)
        start = start * (1.0 - 4.1 * unit) - delta
        rate = (rate - eps) * (1.0 + 4.1 * unit)
        weight = xp.abs(v) + eps
        weight = weight * weight
        return start, rate, weight, xp.sum(weight)

    return torch.compile(_own_code(rows), dynamic=True)


def _compile_softmax() -> Callable[..., Any]:
    """:func:`softmax_sums`'s pass, compiled (the kernel's operations, in its order)."""
    import torch

    def sums(
        r: Any, u: Any, e0: Any, v2: Any, t0: Any, popoviciu: Any, trials: Any, grown: Any
    ) -> Any:
        e1 = torch.exp(r[:, :, None] + u[:, :, None] * trials[None, None, :])
        t1 = torch.where(v2 > 0.0, v2 * e1, 0.0).sum(dim=0)  # (0 * inf: no NaN)
        low = torch.minimum(e0, e1).sum(dim=0)  # >= 1: the reference class's e^0
        ratio = torch.maximum(t0, t1) / low * torch.exp(2.0 * grown)[None, :]
        return torch.minimum(popoviciu, ratio).sum(dim=0)

    return torch.compile(sums, dynamic=True)
