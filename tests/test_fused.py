"""A row segment's trial sums compiled into one pass on an accelerator (``torch.compile``).

CPU tensors inside :func:`lfso.bench.cpu_as_accelerator` take the accelerator's path, so
the compiled sums (TorchInductor's C++ backend here) are checked on the CPU: their padded
values against the exact sums in mpmath, a whole run against the PyTorch operations, and
the fallback when compilation fails. Skipped where PyTorch cannot compile (no compiler).
"""

from __future__ import annotations

import functools
import itertools
import math

import mpmath
import numpy as np
import pytest

torch = pytest.importorskip("torch")

from array_api_compat import torch as compat  # noqa: E402

import lfso  # noqa: E402
from lfso._later import riding  # noqa: E402
from lfso.bench import cpu_as_accelerator  # noqa: E402
from lfso.models import Evaluation, _fused  # noqa: E402
from lfso.models._segments import (  # noqa: E402
    RowSegment,
    approach_kernel,
    cauchy_kernel,
    power_kernel,
)
from lfso.steps._directions import LBFGSDirection, _device_direction  # noqa: E402


@functools.cache
def _compiles() -> bool:
    """Whether ``torch.compile`` works here (a C++ compiler for TorchInductor's CPU code)."""
    try:
        return bool(torch.compile(lambda v: v * 2.0 + 1.0)(torch.ones(3)).sum() == 9.0)
    except Exception:
        return False


@pytest.fixture
def compiled(monkeypatch):
    """Every row count compiles (the threshold at 2 rows); the calls of the compiled sums
    are counted in the list it returns."""
    if not _compiles():
        pytest.skip("torch.compile cannot compile here")
    monkeypatch.setattr(_fused, "MIN_ROWS", 2)
    monkeypatch.setattr(_fused, "_ENABLED", True)
    calls: list[int] = []
    original = _fused.trial_sums

    def counted(*args, **kwargs):
        calls.append(len(args[4]))
        return original(*args, **kwargs)

    monkeypatch.setattr(_fused, "trial_sums", counted)
    return calls


def _spied_passes(monkeypatch):
    """The functions :func:`lfso.models._fused.one_pass` is called with, in order (it runs
    as it is)."""
    original = _fused.one_pass
    seen = []

    def spied(function, *arrays):
        seen.append(function)
        return original(function, *arrays)

    monkeypatch.setattr(_fused, "one_pass", spied)
    return seen


def _exact(r, u, w, coef, m, t):
    """``sum_i w_i coef max(|r_i|, |r_i + t u_i|)^m`` of the float inputs, in mpmath."""
    with mpmath.workdps(80):
        return mpmath.fsum(
            mpmath.mpf(float(wi))
            * coef
            * max(
                abs(mpmath.mpf(float(ri))),
                abs(mpmath.mpf(float(ri)) + mpmath.mpf(t) * mpmath.mpf(float(ui))),
            )
            ** int(m)
            for ri, ui, wi in zip(r, u, w, strict=True)
        )


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("m", [0.0, 1.0, 2.0, 3.0, 4.0])
def test_compiled_trial_sums_bound_the_exact_sums(m, dtype, compiled):
    """Rows of widely spread magnitudes, cancelling ends (``r = -t u``) and terms in the
    subnormal range: every padded ``C(t)`` of the compiled batch is at least the exact
    sum, and within its pads of the host path's value."""
    rng = np.random.default_rng(int(m) + 10 * (dtype == torch.float32))
    coef = 12.0
    tiny = 1e-21 if dtype == torch.float32 else 1e-165  # (terms below the normal range)
    trials = [1e-3, 0.37, 1.0, 3.1]
    for case in range(12):
        n = int(rng.integers(2, 40))
        mag = (tiny if case % 4 == 0 else 1.0) * 10.0 ** rng.uniform(-6, 6, n)
        r = rng.standard_normal(n) * mag
        u = rng.standard_normal(n) * mag
        if case % 3 == 1:
            r[: n // 2] = -trials[2] * u[: n // 2]  # ends at 0 for t = 1
        w = rng.uniform(0.1, 2.0, n)
        rows = [torch.tensor(a, dtype=dtype) for a in (r, u, w)]
        with cpu_as_accelerator():
            segment = RowSegment(*rows[:2], power_kernel(m, coef), weight=rows[2], scale=1.0)
            assert segment._fused
            values = segment.values(trials)
        plain = RowSegment(*rows[:2], power_kernel(m, coef), weight=rows[2], scale=1.0)
        for t, value, check in zip(trials, values, plain.values(trials), strict=True):
            r_, u_, w_ = (a.numpy() for a in rows)
            assert _exact(r_, u_, w_, coef, m, t) <= mpmath.mpf(value), (case, t)
            slack = 2.0 * (segment._pad - 1.0) * check + segment.underflow
            assert abs(value - check) <= slack, (case, t)
    assert compiled and all(k == len(trials) for k in compiled)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_compiled_logistic_trial_sums_bound_the_exact_sums(dtype, compiled):
    """The logistic rows' kernel, ``sigma'(max(start + t rate, 0))`` weighted (the
    exponential and the quotient compiled): every padded ``C(t)`` of the compiled batch is
    at least the exact sum in mpmath, over margins near 0, far from it (tiny terms) and
    past the exponential's underflow."""
    rng = np.random.default_rng(7 + (dtype == torch.float32))
    trials = [1e-3, 0.5, 1.0, 4.0, 40.0]
    for case in range(10):
        n = int(rng.integers(2, 40))
        start = np.abs(rng.standard_normal(n)) * 10.0 ** rng.uniform(-3, 2.2, n)
        rate = -np.abs(rng.standard_normal(n)) * (case % 2) * 10.0 ** rng.uniform(-3, 1, n)
        w = rng.uniform(0.0, 3.0, n) ** 2
        rows = [torch.tensor(a, dtype=dtype) for a in (start, rate, w)]
        with cpu_as_accelerator():
            segment = RowSegment(*rows[:2], approach_kernel, weight=rows[2], scale=1.0)
            assert segment._fused
            values = segment.values(trials)
        s_, r_, w_ = (a.numpy() for a in rows)
        for t, value in zip(trials, values, strict=True):
            with mpmath.workdps(60):
                exact = mpmath.fsum(
                    mpmath.mpf(float(wi)) * mpmath.exp(-x) / (1 + mpmath.exp(-x)) ** 2
                    for x, wi in (
                        (max(mpmath.mpf(float(a)) + mpmath.mpf(t) * mpmath.mpf(float(b)), 0), c)
                        for a, b, c in zip(s_, r_, w_, strict=True)
                    )
                )
            assert exact <= mpmath.mpf(value), (case, t)
    assert compiled


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_compiled_logistic_rows_are_the_operations_rows(dtype, compiled, monkeypatch):
    """The logistic segment's rows (approach start and rate, the weights ``(|v| + eps)^2``
    and their sum) from one compiled pass: the PyTorch operations' values, to the one
    rounding a fused multiply-add saves (an ulp of each), the sum to the summation's
    order; margins of both signs, zeros, and margins moving either way."""
    from lfso.models._segments import approach_rows

    rng = np.random.default_rng(11)
    m = torch.tensor(rng.standard_normal(500) * 10.0 ** rng.uniform(-3, 3, 500), dtype=dtype)
    v = torch.tensor(rng.standard_normal(500), dtype=dtype)
    m[:20] = 0.0
    unit = float(torch.finfo(dtype).eps) / 2
    for size in (None, m.abs()):
        with cpu_as_accelerator():
            got = approach_rows(compat, m, v, 1e-9, 2e-9, unit, size)
        monkeypatch.setattr(_fused, "_ENABLED", False)
        with cpu_as_accelerator():
            want = approach_rows(compat, m, v, 1e-9, 2e-9, unit, size)
        monkeypatch.setattr(_fused, "_ENABLED", True)
        assert want[3] is None and got[3] is not None  # (the compiled pass sums the weights)
        eps = float(torch.finfo(dtype).eps)
        for a, b in zip(got[:3], want[:3], strict=True):
            assert torch.all((a - b).abs() <= eps * b.abs() + 1e-30)
        total = float(want[2].double().sum())
        assert abs(float(got[3]) - total) <= 500 * eps * total
    assert not compiled  # (no batch of trials here: the rows' pass alone)


def _evaluated_models(A, b):
    """The models whose evaluations have a compiled rows pass, on ``A``, ``b``."""
    return [
        lfso.models.LogisticRegression(A, (b > 0).to(A.dtype), l2=0.01),
        lfso.models.CauchyRegression(A, b, 0.3, l2=0.01),
        lfso.models.LpRegression(A, b, 1.5),
        lfso.models.LpRegression(A, b, 2),
        lfso.models.LpRegression(A, b, 2.25),
    ]


def test_a_compiled_float32_evaluation_sums_in_float64(compiled):
    """Over 10^5 float32 rows the compiled pass's mean or sum, taken in float64, is within
    a few ulps of ``f`` of the same rows in float64 (a sum of float32 terms in float32
    would be off by several more)."""
    rng = np.random.default_rng(12)
    n = 100_000
    A = torch.tensor(rng.standard_normal((n, 5)), dtype=torch.float32)
    b = torch.tensor(rng.standard_normal(n) * 3.0, dtype=torch.float32)
    x = torch.tensor(rng.standard_normal(5), dtype=torch.float32)
    eps = float(torch.finfo(torch.float32).eps)
    wides = _evaluated_models(A.double(), b.double())
    for model, wide in zip(_evaluated_models(A, b), wides, strict=True):
        with cpu_as_accelerator():
            value = model.evaluate(x, bound=False).value
        exact = wide.evaluate(x.double(), bound=False).value
        assert abs(value - exact) <= 4 * eps * abs(exact), type(model).__name__


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_compiled_evaluation_rows_are_the_operations_rows(dtype, compiled, monkeypatch):
    """Logistic, Cauchy and l_2p regression (p = 1.5, 2, 2.25) evaluated on the
    accelerator's path with their row work in one compiled pass (``one_pass``): the rows
    the segment at the point reads (residuals, the margins' sizes) are the PyTorch
    operations' bit for bit, and ``f`` and the gradient agree to rounding (a mean or a sum
    in another order, an exponential and a ``log1p`` of another implementation); so are a
    segment's weights ``(|u| + eps)^2`` (bit for bit) and their sum (to rounding)."""
    passes = []
    original = _fused.one_pass
    monkeypatch.setattr(_fused, "one_pass", lambda *a: passes.append(1) or original(*a))
    rng = np.random.default_rng(6)
    n = 300
    A = torch.tensor(rng.standard_normal((n, 5)), dtype=dtype)
    b = torch.tensor(rng.standard_normal(n) * 3.0, dtype=dtype)
    x = torch.tensor(rng.standard_normal(5), dtype=dtype)
    models = _evaluated_models(A, b)
    eps = float(torch.finfo(dtype).eps)
    d = torch.tensor(rng.standard_normal(5), dtype=dtype)
    for model in models:
        with cpu_as_accelerator():
            fused = model.evaluate(x, bound=False)
            segment = model.segment(x, fused, d)
            with monkeypatch.context() as patch:
                patch.setattr(_fused, "_ENABLED", False)
                plain = model.evaluate(x, bound=False)
                plain_segment = model.segment(x, plain, d)
        name = type(model).__name__
        assert torch.equal(fused.product.rows, plain.product.rows), name
        assert abs(fused.value - plain.value) <= 4 * n * eps * abs(plain.value), name
        scale = float(plain.grad.abs().max())
        assert torch.allclose(fused.grad, plain.grad, rtol=0.0, atol=64 * n * eps * scale), name
        assert torch.equal(segment.weight, plain_segment.weight), name
        total = float(plain_segment.weight.sum())
        assert abs(float(segment._weight_sum) - total) <= 4 * n * eps * total, name
    # (an evaluation's pass per model, and the weights' pass of each segment but logistic's,
    # whose weights come from its own rows' pass)
    assert len(passes) == 2 * len(models) - 1


def test_a_run_with_compiled_trials_takes_certified_steps(compiled, monkeypatch):
    """``lfso`` and ``lfso-lbfgs`` on l_4, l_3, logistic and Cauchy regression, on the
    accelerator's path with the trial sums compiled: ``f`` never rises, the run reaches the
    tolerance, and its end matches the run with the PyTorch operations."""
    rng = np.random.default_rng(3)
    A = torch.tensor(rng.standard_normal((400, 6)))
    b = A @ torch.ones(6, dtype=torch.float64) + 0.1 * torch.tensor(rng.standard_normal(400))
    labels = (b > b.median()).double()
    x0 = torch.zeros(6, dtype=torch.float64)
    models = (
        lfso.models.LpRegression(A, b, 2),
        lfso.models.LpRegression(A, b, 1.5),
        lfso.models.LogisticRegression(A, labels, l2=0.01),
        lfso.models.CauchyRegression(A, b, 0.05),
    )
    for model, method in itertools.product(models, ("lfso", "lfso-lbfgs")):
        before = len(compiled)
        with cpu_as_accelerator():
            fused = lfso.minimize(model, x0, method=method, tol=1e-6, max_iter=3000, monitor=False)
        calls = len(compiled)
        assert calls > before, (model, method)
        with monkeypatch.context() as patch, cpu_as_accelerator():
            patch.setattr(_fused, "_ENABLED", False)
            plain = lfso.minimize(model, x0, method=method, tol=1e-6, max_iter=3000, monitor=False)
        assert len(compiled) == calls  # (the second run took the PyTorch operations)
        assert fused.success and plain.success, (method, fused.message, plain.message)
        f = np.array(fused.history.f)
        assert np.all(np.diff(f) <= 1e-12 * abs(f[:-1])), method
        assert abs(float(fused.fun) - float(plain.fun)) <= 1e-9 * abs(float(plain.fun))


def test_a_softmax_run_with_compiled_trials_takes_certified_steps(compiled, monkeypatch):
    """``lfso`` and ``lfso-lbfgs`` on softmax regression on the accelerator's path with its
    compiled pass: ``f`` never rises, the run reaches the tolerance, and its end matches
    the run with the PyTorch operations."""
    passes = []
    sums = _fused.softmax_sums
    monkeypatch.setattr(_fused, "softmax_sums", lambda *a: passes.append(1) or sums(*a))
    rng = np.random.default_rng(4)
    A = torch.tensor(rng.standard_normal((300, 5)))
    labels = torch.tensor((A.numpy() @ rng.standard_normal((5, 4))).argmax(axis=1))
    model = lfso.models.SoftmaxRegression(A, labels, 4, l2=0.01)
    x0 = torch.zeros(model.dim, dtype=torch.float64)
    ends = {}
    for method in ("lfso", "lfso-lbfgs"):
        before = len(passes)
        with cpu_as_accelerator():
            fused = lfso.minimize(model, x0, method=method, tol=1e-6, max_iter=3000, monitor=False)
        assert len(passes) > before, method
        with monkeypatch.context() as patch, cpu_as_accelerator():
            patch.setattr(_fused, "_ENABLED", False)
            plain = lfso.minimize(model, x0, method=method, tol=1e-6, max_iter=3000, monitor=False)
        assert fused.success and plain.success, (method, fused.message, plain.message)
        f = np.array(fused.history.f)
        assert np.all(np.diff(f) <= 1e-12 * abs(f[:-1])), method
        assert abs(float(fused.fun) - float(plain.fun)) <= 1e-9 * abs(float(plain.fun))
        ends[method] = float(plain.fun)
    # A batch too large for the budget: the compiled pass in chunks of at most 4 trials
    from lfso.models import _segments

    monkeypatch.setattr(_segments, "_BATCH_ELEMENTS", 4 * 4 * 300)
    del passes[:]
    with cpu_as_accelerator():
        chunked = lfso.minimize(model, x0, method="lfso", tol=1e-6, max_iter=3000, monitor=False)
    assert len(passes) >= 4 * chunked.nit  # (13 trials: 4 chunks; 7: 2)
    assert abs(float(chunked.fun) - ends["lfso"]) <= 1e-9 * abs(ends["lfso"])


def test_a_large_batch_runs_its_compiled_pass_in_chunks(compiled, monkeypatch):
    """A batch whose ``n x k`` terms exceed the segment's budget goes through the compiled
    pass in chunks of nearly equal sizes (TorchInductor's CPU code stores some kernels'
    terms), with the whole batch's sums to rounding, for the power and Cauchy kernels."""
    from lfso.models import _segments

    rng = np.random.default_rng(13)
    n = 200
    r, u = (torch.tensor(rng.standard_normal(n)) for _ in range(2))
    trials = [0.1 * 1.5**j for j in range(13)]
    for kernel in (power_kernel(2.0, 12.0), cauchy_kernel(4.0, 2.0**-53)):
        with cpu_as_accelerator():
            whole = RowSegment(r, u, kernel, weight=u * u, scale=1.0).values(trials)
            del compiled[:]
            with monkeypatch.context() as patch:
                patch.setattr(_segments, "_BATCH_ELEMENTS", 4 * n)
                chunked = RowSegment(r, u, kernel, weight=u * u, scale=1.0).values(trials)
        assert sorted(compiled) == [3, 3, 3, 4]  # (13 trials, at most 4 a chunk)
        assert np.allclose(chunked, whole, rtol=1e-13, atol=0.0)


def test_a_device_step_in_chunks_is_the_step_in_one_pass(compiled, monkeypatch):
    """A device step whose batches run in chunks (their arithmetic, the bracket and the
    choice, then a compiled pass of its own) takes the step and bound of the step whose
    batches are each one pass, to rounding."""
    from lfso.models import _segments

    rng = np.random.default_rng(17)
    A = torch.tensor(rng.standard_normal((300, 4)))
    b = torch.tensor(rng.standard_normal(300))
    x = torch.tensor(rng.standard_normal(4))
    seen = _spied_passes(monkeypatch)
    for model in _evaluated_models(A, b):
        steps = []
        for budget in (_segments._BATCH_ELEMENTS, 3 * 300):
            with cpu_as_accelerator(), monkeypatch.context() as patch:
                patch.setattr(_segments, "_BATCH_ELEMENTS", budget)
                ev = model.evaluate(x, bound=False)
                steps.append(model.segment(x, ev, -ev.grad).device_step(1.0, guess=0.3))
        (tau, bound), (tau_c, bound_c) = steps
        assert float(tau_c) == pytest.approx(float(tau), rel=1e-12), type(model).__name__
        assert float(bound_c) == pytest.approx(float(bound), rel=1e-12), type(model).__name__
    assert {_segments._bracket, _segments._choose} <= set(seen)


def _device_steps(monkeypatch, name, replacement, seed):
    """``(tau, C, target)`` of each model of :func:`_evaluated_models`' device step along
    ``-g`` (without a guess, then with one), on the accelerator's path: pairs of them, with
    ``lfso.models._fused``'s ``name`` as it is and replaced by ``replacement``."""
    rng = np.random.default_rng(seed)
    A = torch.tensor(rng.standard_normal((300, 4)))
    b = torch.tensor(rng.standard_normal(300))
    x = torch.tensor(rng.standard_normal(4))
    pairs = []
    for model, guess in itertools.product(_evaluated_models(A, b), (None, 0.3)):
        steps = []
        for replaced in (False, True):
            with cpu_as_accelerator(), monkeypatch.context() as patch:
                if replaced:
                    patch.setattr(_fused, name, replacement)
                ev = model.evaluate(x, bound=False)
                tau, bound = model.segment(x, ev, -ev.grad).device_step(1.0, guess=guess)
            steps.append((float(tau), float(bound), float(ev.grad @ ev.grad)))
        pairs.append((type(model).__name__, *steps))
    return pairs


def test_the_compiled_bounds_are_the_operations_bounds(compiled, monkeypatch):
    """A device step whose batches' bounds ``C(t_j)`` are made in the compiled pass that
    sums them: the same step and bound, bit for bit, as with the bounds made by PyTorch's
    operations from the compiled sums (on the CPU the compiled code contracts no
    multiply-add), the arithmetic on the bounds (the bracket, the choice) compiled either
    way, with and without a guess, for the power, logistic and Cauchy kernels (Cauchy's
    with a magnitude)."""
    import array_api_compat.torch as xp

    from lfso.models import _segments

    original = _fused.trial_sums
    finished = []

    def separate(kernel, r, u, weight, trials, slack, finish=None):
        sums = original(kernel, r, u, weight, trials, slack)
        finished.append(finish is not None and finish[0] is _segments._finished_then)
        bounds, then = finish[1]
        values = bounds[0](xp, sums, *bounds[1])
        return _fused.one_pass(then[0], values, *then[1])

    for name, fused, apart in _device_steps(monkeypatch, "trial_sums", separate, 14):
        assert fused == apart, name
    assert finished and all(finished)


def test_the_compiled_grid_step_is_the_operations_step(compiled, monkeypatch):
    """A device step whose arithmetic on its trial steps (the bracket, the choice) runs in
    the compiled passes of its batches: the step and the bound of PyTorch's operations, to
    rounding (the bracket's power may differ by an ulp), with and without a guess, and the
    step certified (``tau C <= target``)."""
    import array_api_compat.torch as xp

    from lfso.models import _segments

    original = _fused.trial_sums
    seen = []

    def eager(kernel, r, u, weight, trials, slack, finish=None):
        bounds, then = finish[1]
        seen.append(then[0])
        values = original(kernel, r, u, weight, trials, slack, bounds)
        return then[0](xp, values, *then[1])

    for name, (tau, bound, target), ops in _device_steps(monkeypatch, "trial_sums", eager, 16):
        assert tau * bound <= target * (1 + 1e-12), name
        assert tau == pytest.approx(ops[0], rel=1e-12), name
        assert bound == pytest.approx(ops[1], rel=1e-12), name
    assert set(seen) == {_segments._bracket, _segments._choose}


def test_a_failed_compilation_warns_once_and_runs_the_operations(compiled, monkeypatch):
    """A backend that cannot compile: one warning, the PyTorch operations' values, and no
    further attempt in the process."""
    attempts = []

    def failing(kernel, finish=None):
        def sums(*args):
            attempts.append(1)
            raise RuntimeError("no compiler")

        return sums

    monkeypatch.setattr(_fused, "_compile", failing)
    monkeypatch.setattr(_fused, "_COMPILED", {})
    r, u, w = (torch.linspace(-1.0, 2.0, 50, dtype=torch.float64) * k for k in (1.0, 0.5, 2.0))
    kernel = power_kernel(2.0, 12.0)
    with cpu_as_accelerator():
        segment = RowSegment(r, u, kernel, weight=w.abs(), scale=1.0)
        with pytest.warns(RuntimeWarning, match="could not compile.*RuntimeError: no compiler"):
            values = segment.values([0.5, 1.0])
        again = RowSegment(r, u, kernel, weight=w.abs(), scale=1.0)
        assert not again._fused
        again.values([0.25, 2.0])
    assert attempts == [1]
    assert values == RowSegment(r, u, kernel, weight=w.abs(), scale=1.0).values([0.5, 1.0])


def test_each_compiled_pass_counts_its_own_recompilations(compiled, monkeypatch):
    """Every kernel's compiled sums and every model's rows pass has a code object of its
    own, so TorchDynamo's limit on recompilations of one code object (8 by default;
    patched to 2 here) counts that pass's dtypes only, not every kernel and model the
    process compiles: none falls back to running op by op (each kernel and dtype is one
    graph of its own)."""
    import torch._dynamo
    from torch._dynamo.utils import counters

    monkeypatch.setattr(_fused, "_COMPILED", {})
    kernels = [power_kernel(m, 2.0) for m in (0.0, 1.0, 2.0, 3.0, 4.0)]
    kernels += [approach_kernel, cauchy_kernel(1.0, 2.0**-24)]
    before = counters["stats"]["unique_graphs"]
    with torch._dynamo.config.patch(recompile_limit=2):
        for kernel, dtype in itertools.product(kernels, (torch.float32, torch.float64)):
            r = torch.linspace(-1.0, 2.0, 50, dtype=dtype)
            u = torch.linspace(0.5, -1.0, 50, dtype=dtype)
            with cpu_as_accelerator():
                segment = RowSegment(r, u, kernel, weight=u * u, scale=1.0)
                assert segment._fused
                segment.values([0.5, 1.0, 2.0])
    assert counters["stats"]["unique_graphs"] - before == 2 * len(kernels)


def test_only_exact_kernels_of_enough_rows_off_the_host_compile(monkeypatch):
    """The threshold on rows, the kernels with a compiled accuracy only, and not on the
    host (NumPy, CPU tensors outside the accelerator's path)."""
    monkeypatch.setattr(_fused, "_ENABLED", True)
    monkeypatch.setattr(_fused, "MIN_ROWS", 100)
    few, many = torch.ones(99), torch.ones(100)
    with cpu_as_accelerator():
        assert _fused.applies(power_kernel(2.0, 12.0), many)
        assert not _fused.applies(power_kernel(2.0, 12.0), few)
        assert _fused.applies(approach_kernel, many)
        assert _fused.applies(power_kernel(1.0, 6.0), many)  # (l_3 regression)
        assert not _fused.applies(power_kernel(2.5, 3.75), many)  # (pow)
        # Cauchy's kernel where a flushed r^2 moves rho'' by at most an ulp (c >= 5.4e-16)
        assert _fused.applies(cauchy_kernel(1e30, 2.0**-24), many)
        assert not _fused.applies(cauchy_kernel(1e31, 2.0**-24), many)
        assert _fused.applies(cauchy_kernel(1e291, 2.0**-53), many)
        assert not _fused.applies(power_kernel(2.0, 12.0), np.ones(100))
        # rows of K classes: a kernel with its own compiled sums, counted by their K n
        softmax = lfso.models.SoftmaxRegression(torch.ones(50, 2), torch.arange(50) % 2, 2)
        x = torch.zeros(softmax.dim)
        kernel = softmax.segment(x, softmax.evaluate(x), torch.ones(softmax.dim)).kernel
        assert _fused.applies(kernel, torch.ones(2, 50)) and hasattr(kernel, "fused_sums")
        assert not _fused.applies(kernel, torch.ones(2, 49))
        assert not _fused.applies(power_kernel(2.0, 12.0), torch.ones(2, 50))
    assert not _fused.applies(power_kernel(2.0, 12.0), many)


def _compiled_checks(model, exact, x, directions, ts):
    """The claims ``C(t) >= sup phi''`` (mpmath) of the model's compiled batches at ``x``,
    on the accelerator's path, along each of ``directions(g)`` turned to descend."""
    from test_exact_curvature import Check, exact_sups

    checked = []
    with cpu_as_accelerator():
        evaluation = model.evaluate(torch.from_numpy(x))
        g = evaluation.grad.numpy()
        for d in directions(g):
            d = (d if float(g @ d) <= 0 else -d).astype(x.dtype)
            segment = model.segment(torch.from_numpy(x), evaluation, torch.from_numpy(d))
            assert segment._fused
            values = segment.values(ts)
            sups = exact_sups(exact.path(x, d), ts)
            checked.append((x, d, [Check("t", *c) for c in zip(ts, values, sups, strict=True)]))
    return checked


@pytest.mark.parametrize("case", ["far", "moderate"])
def test_compiled_logistic_segment_is_above_the_exact_curvature(case, compiled, monkeypatch):
    """float32 logistic regression, its segment's rows and trial sums both compiled: every
    ``C(t)`` of a batch is above the exact curvature on ``[0, t]`` (mpmath), along ``-g``
    and along random descent directions. ``far``: margins of 1e4 to 1e8, whose rounding
    errors are of order one; ``moderate``: margins of order one and no ridge, where the
    rows' curvature is the whole bound (and the bound comes within a factor 2 of it)."""
    from test_exact_curvature import (
        LOGISTIC_START,
        LOGISTIC_X,
        LOGISTIC_Y,
        ExactLogistic,
        assert_all_hold,
    )

    made = []
    rows = _fused.approach_rows
    monkeypatch.setattr(_fused, "approach_rows", lambda *a: made.append(1) or rows(*a))
    rng = np.random.default_rng(5)
    if case == "far":
        X, y, l2 = np.array(LOGISTIC_X, np.float32), np.array(LOGISTIC_Y), 0.1
        points = [np.array(LOGISTIC_START, np.float32)]
    else:
        X, y, l2 = rng.standard_normal((40, 3)).astype(np.float32), rng.integers(0, 2, 40), 0.0
        points = [rng.standard_normal(3).astype(np.float32) for _ in range(3)]
    model = lfso.models.LogisticRegression(torch.from_numpy(X), torch.tensor(y), l2=l2)
    exact = ExactLogistic(X, y, l2, False)
    ts = [1e-3, 0.1, 1.0, 10.0]
    size = 3 if case != "far" else 2

    def directions(g):
        return -g, np.linalg.norm(g) * rng.standard_normal(size)

    checked = []
    for x in points:
        checked += _compiled_checks(model, exact, x, directions, ts)
    worst = assert_all_hold(checked, f"logistic, compiled, {case}")
    assert made and compiled
    if case == "moderate":  # (the check has teeth: the exact side reaches the bounds)
        assert worst > 0.5


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("case", ["saturated", "moderate"])
def test_compiled_softmax_segment_is_above_the_exact_curvature(case, dtype, compiled, monkeypatch):
    """Softmax regression's trial sums in one compiled pass (its own, over the ``K x n``
    logits): every ``C(t)`` of a batch is above the exact curvature on ``[0, t]`` (mpmath),
    along ``-g`` and along random descent directions. ``saturated``: logits 30 to 300
    apart, whose smaller exponentials underflow (float32) and are flushed; ``moderate``:
    logits of order one and no ridge, where the rows' variance is the whole bound (and the
    bound comes within a factor 4 of it)."""
    from test_exact_curvature import ExactSoftmax, assert_all_hold

    passes = []
    sums = _fused.softmax_sums
    monkeypatch.setattr(_fused, "softmax_sums", lambda *a: passes.append(1) or sums(*a))
    rng = np.random.default_rng(9 + (dtype == np.float32))
    K = 3
    X = rng.standard_normal((30, 3)).astype(dtype)
    y = rng.integers(0, K, 30)
    l2, scale = (0.05, 60.0) if case == "saturated" else (0.0, 1.0)
    model = lfso.models.SoftmaxRegression(torch.from_numpy(X), torch.tensor(y), K, l2=l2)
    exact = ExactSoftmax(X, y, K, l2, True)
    ts = [1e-3, 0.1, 1.0, 10.0]

    def directions(g):
        return -g, np.linalg.norm(g) * rng.standard_normal(model.dim)

    checked = []
    for _ in range(3):
        x = (rng.standard_normal(model.dim) * scale).astype(dtype)
        checked += _compiled_checks(model, exact, x, directions, ts)
    worst = assert_all_hold(checked, f"softmax, compiled, {case}, {np.dtype(dtype).name}")
    assert passes
    if case == "moderate":  # (the check has teeth: the exact side comes near the bounds)
        assert worst > 0.25


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("case", ["spread", "near_fit", "moderate"])
def test_compiled_cauchy_segment_is_above_the_exact_curvature(case, dtype, compiled):
    """Cauchy regression's trial sums in one compiled pass (the quotient within 2 ulps and
    flushed subnormals in its ``fused_ulps``): every ``C(t)`` of a batch is above the
    exact curvature on ``[0, t]`` (mpmath), along ``-g`` and along random descent
    directions. ``spread``: targets over twelve decades, ``c`` from 1e-3 to 10 and a
    ridge, so that residuals lie far inside, near and far outside ``c`` (terms of both
    signs); ``near_fit``: an exact fit up to rounding at a large point, whose residuals
    are the rows' rounding (the kernel's widening, ``delta``, decides those terms);
    ``moderate``: residuals of order ``c`` and no ridge, where the rows' curvature is the
    whole bound (and the bound comes within a factor 2 of it)."""
    from test_exact_curvature import ExactCauchy, _regression, assert_all_hold

    rng = np.random.default_rng(11 + (dtype == np.float32))
    ts = [1e-3, 0.1, 1.0, 10.0]

    def directions(g):
        return -g, np.linalg.norm(g) * rng.standard_normal(g.shape[0])

    checked = []
    for _ in range(3):
        c, l2 = float(10.0 ** rng.uniform(-3, 1)), 0.0
        if case == "near_fit":
            A, b, x, _ = _regression(rng, "near_fit", dtype)
        else:
            A = rng.standard_normal((30, 3)).astype(dtype)
            if case == "spread":
                l2 = 0.01
                b = (rng.standard_normal(30) * 10.0 ** rng.uniform(-6, 6, 30)).astype(dtype)
            else:
                c = 1.0
                b = rng.standard_normal(30).astype(dtype)
            x = (0.3 * rng.standard_normal(3)).astype(dtype)
        model = lfso.models.CauchyRegression(torch.from_numpy(A), torch.from_numpy(b), c, l2=l2)
        checked += _compiled_checks(model, ExactCauchy(A, b, c, l2), x, directions, ts)
    worst = assert_all_hold(checked, f"cauchy, compiled, {case}, {np.dtype(dtype).name}")
    assert compiled
    if case == "moderate":  # (the check has teeth: the exact side reaches the bounds)
        assert worst > 0.5


def _device_directions(points, memory, dtype):
    """The deferred L-BFGS directions ``(d, g . d, ||d||)`` along ``points`` (iterates and
    gradients), each call's tests settled by a fetch before the next."""
    direction = LBFGSDirection(memory)
    state = direction.init(None, None)
    out = []
    with riding(), np.errstate(all="ignore"):
        for x, g in points:
            x, g = torch.tensor(x, dtype=dtype), torch.tensor(g, dtype=dtype)
            norm = float(np.linalg.norm(g.numpy().astype(np.float64)))
            d, slope, length, state = direction(x, Evaluation(0.0, g, norm), state, defer=True)
            values = (-g if d is None else d, float(slope), float(length))  # (a fetch)
            out.append(values)
    return out


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("memory", [1, 3])
def test_the_compiled_lbfgs_direction_is_the_operations_direction(
    dtype, memory, compiled, monkeypatch
):
    """Where an iteration's arithmetic compiles, the device path's L-BFGS direction is one
    compiled pass: PyTorch's operations' directions, slopes and lengths to rounding,
    through skipped pairs (``s . y <= 0``), a full memory moving on, and a recursion that
    overflows (the fallback to ``-g``, with the evaluation's ``||g||``)."""
    rng = np.random.default_rng(7 + memory)
    H = np.diag(np.linspace(1.0, 30.0, 6))
    xs = [rng.standard_normal(6) for _ in range(18)]
    gs = [H @ x if i % 4 else -(H @ x) for i, x in enumerate(xs)]  # (every fourth skipped)
    gs[13] = gs[13] * (1e306 if dtype == torch.float64 else 1e36)
    points = list(zip(xs, gs, strict=True))
    calls = _spied_passes(monkeypatch)
    with cpu_as_accelerator():
        fused = _device_directions(points, memory, dtype)
    assert calls.count(_device_direction) == len(points) - 1  # (the first is -g)
    apart = _device_directions(points, memory, dtype)  # (on the host: not compiled)
    assert calls.count(_device_direction) == len(points) - 1
    rtol = 1e-12 if dtype == torch.float64 else 1e-5
    fallbacks = 0
    for i, ((d1, s1, n1), (d2, s2, n2)) in enumerate(zip(fused, apart, strict=True)):
        torch.testing.assert_close(d1, d2, rtol=rtol, atol=0.0, msg=f"call {i}")
        assert s1 == pytest.approx(s2, rel=rtol) and n1 == pytest.approx(n2, rel=rtol), i
        fallbacks += bool(torch.equal(d1, -torch.tensor(gs[i], dtype=dtype)))
    assert fallbacks >= 2  # (the first call and the overflow)


def test_only_the_iterations_of_large_models_compile_their_arithmetic(monkeypatch):
    """:func:`lfso.models._fused.iteration_compiles`: by the rows of the model's product
    that the evaluation kept (1-d, or ``K x n`` logits by their elements) or a gradient of
    that many elements, off the host only."""
    from lfso.models._segments import CarriedProduct

    monkeypatch.setattr(_fused, "_ENABLED", True)
    monkeypatch.setattr(_fused, "MIN_ROWS", 100)
    g = torch.ones(5)

    def compiles(rows, grad=g):
        product = None if rows is None else CarriedProduct(rows)
        return _fused.iteration_compiles(Evaluation(0.0, grad, 1.0, product=product))

    with cpu_as_accelerator():
        assert compiles(torch.ones(100)) and compiles(torch.ones(4, 25))
        assert compiles(None, torch.ones(100))
        assert not compiles(torch.ones(99)) and not compiles(torch.ones(3, 33))
        assert not compiles(None)
    assert not compiles(torch.ones(100))  # (CPU tensors on the host path)
    monkeypatch.setattr(_fused, "_ENABLED", False)
    with cpu_as_accelerator():
        assert not compiles(torch.ones(100))


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_the_compiled_unit_scale_is_the_operations_scale(dtype, compiled):
    """The device step's ``2^k`` (``2^k ||d||`` in ``[1/2, 1)``) and ``v = 2^k d`` (or
    ``-2^k d``) in one compiled pass: PyTorch's operations' values bit for bit, over
    lengths spread across the dtype's range, its ends, 0, inf and NaN; and so the device
    norm of a gradient."""
    from lfso.steps._certificates import _device_unit_scale, _exponent_cap, _unit_scaled

    info = torch.finfo(dtype)
    rng = np.random.default_rng(3)
    lengths = list(np.exp(rng.uniform(-80.0, 80.0, 300)))
    lengths += [0.0, info.tiny / 8, info.tiny, 0.5, 1.0, 3.0, info.max, np.inf, np.nan]
    for length in lengths:
        size = torch.tensor(length, dtype=dtype)
        d = torch.tensor([length, -length / 3], dtype=dtype)
        cap = _exponent_cap(d)
        expected = _device_unit_scale(size, cap)
        for negated in (False, True):  # (steepest descent's -2^k g)
            scale, v = _fused.one_pass(_unit_scaled, d, size, cap, negated)
            assert torch.equal(scale, expected), length
            want = d * (-expected if negated else expected)
            torch.testing.assert_close(v, want, rtol=0.0, atol=0.0, equal_nan=True)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_the_compiled_device_norm_is_the_hosts(dtype, compiled):
    """``||g||`` on the device (the loop ahead of its fetch scales the steepest step by it)
    in one compiled pass: PyTorch's operations' value to the rounding of the scaled norm's
    dot product, which the compiled code sums in another order, and the host's
    :func:`lfso._arrays.norm` to a unit in the last place where ``g . g`` is in range
    (PyTorch's float64 square root on the CPU is not always correctly rounded) and to the
    dot product's rounding where it over- or underflows, over gradients spread across the
    dtype's range and past it, zero, with an infinite entry and with a NaN."""
    from lfso._arrays import device_norm, norm

    rng = np.random.default_rng(8)
    info = torch.finfo(dtype)
    cases = [rng.standard_normal(7) * np.exp(s) for s in rng.uniform(-60.0, 60.0, 200)]
    cases += [np.zeros(3), np.array([1.0, np.inf]), np.array([1.0, np.nan])]
    cases += [np.full(4, info.tiny), np.full(4, info.max / 4)]
    for case in cases:
        g = torch.tensor(case, dtype=dtype)
        sq = g @ g
        eager = device_norm(None, g, sq)
        assert eager.dtype == torch.float64
        dot = 8.0 * info.eps  # (a dot product of 7 terms summed in another order)
        passed = _fused.one_pass(device_norm, g, sq)
        torch.testing.assert_close(passed, eager, rtol=dot, atol=0.0, equal_nan=True)
        in_range = 0.0 < float(sq) < math.inf
        host, value = norm(g), float(eager)
        if math.isnan(host):
            assert math.isnan(value), case
            continue
        assert value == host or math.isclose(value, host, rel_tol=2.3e-16 if in_range else dot)


@pytest.mark.parametrize("method", ["lfso", "lfso-lbfgs"])
def test_every_compiled_pass_is_one_graph(method, compiled, monkeypatch):
    """Every pass of an iteration (the evaluation's rows, the weights, the trial sums with
    their bounds, the step's arithmetic, the L-BFGS direction and the step's scale; and,
    the loop a point ahead of its evaluations' scalars, the norm of the gradient, the
    step's reported figures and the carried product's drift) traces into one graph: no
    graph break, which would split a pass into several compiled calls, each with its own
    overhead on the host (compiled afresh here, so that TorchDynamo traces them in this
    test)."""
    from torch._dynamo.utils import counters

    from lfso import _stepper

    monkeypatch.setattr(_stepper, "AHEAD_ROWS", 0)
    monkeypatch.setattr(_fused, "_PASSES", {})
    monkeypatch.setattr(_fused, "_COMPILED", {})
    rng = np.random.default_rng(4)
    A = torch.tensor(rng.standard_normal((300, 5)), dtype=torch.float32)
    b = A @ torch.ones(5) + 0.1 * torch.tensor(rng.standard_normal(300), dtype=torch.float32)
    before = sum(counters["graph_break"].values())
    graphs = counters["stats"]["unique_graphs"]
    for model in (lfso.models.LpRegression(A, b, 2), lfso.models.LogisticRegression(A, b > 0)):
        with cpu_as_accelerator():
            lfso.minimize(model, torch.zeros(5), method=method, tol=0.0, max_iter=4)
    assert counters["stats"]["unique_graphs"] > graphs  # (traced here)
    from lfso.models._base import _norm_and_slope
    from lfso.models._rows import _drift_after
    from lfso.steps._certificates import _reported

    passes = {_reported, _drift_after} | ({_norm_and_slope} if method == "lfso" else set())
    assert passes <= set(_fused._PASSES), set(_fused._PASSES)
    assert sum(counters["graph_break"].values()) == before, dict(counters["graph_break"])


def test_the_compiled_passes_clip_as_array_api_clip():
    """The compiled passes' ``clip`` (``torch.clamp`` for number bounds): array-api-compat's
    values, NaN, infinities and array bounds included."""
    import array_api_compat.torch as xp_compat

    xp = _fused._traceable()
    x = torch.tensor([-np.inf, -2.0, -0.0, 0.5, 3.0, np.inf, np.nan], dtype=torch.float32)
    bounds = [(None, 1.0), (0.0, None), (-1.0, np.inf), (-np.inf, 2.5), (0.25, 0.25)]
    bounds += [(torch.tensor(-1.0), torch.tensor(1.0)), (None, torch.full((7,), 0.5))]
    for low, high in bounds:
        torch.testing.assert_close(
            xp.clip(x, min=low, max=high),
            xp_compat.clip(x, min=low, max=high),
            rtol=0.0,
            atol=0.0,
            equal_nan=True,
        )


def test_host_time_with_compiled_passes(compiled, monkeypatch):
    """:func:`lfso.bench.host_time` with ``compiled=True`` runs the compiled passes on its
    50 rows (the direction's among them) and restores their threshold after."""
    from lfso.bench import host_time

    monkeypatch.setattr(_fused, "MIN_ROWS", 12345)
    seen = _spied_passes(monkeypatch)
    times = host_time(("lfso-lbfgs",), iters=5, repeats=1, compiled=True)
    assert times["lfso-lbfgs"] > 0.0 and _device_direction in seen
    assert _fused.MIN_ROWS == 12345
    seen.clear()
    host_time(("lfso-lbfgs",), iters=5, repeats=1)
    assert not seen
