"""The compiled row kernels (numba, the ``fast`` extra) against the NumPy kernels: the same
elementwise values bit for bit (the exponential and ``log1p`` are NumPy's in both), sums
within the float64 summation's own rounding, and the same runs within a few gradients."""

from __future__ import annotations

import math
import os
import subprocess
import sys
import warnings

import numpy as np
import pytest

from lfso.models import _compiled

pytestmark = pytest.mark.skipif(
    not _compiled.ENABLED, reason="numba not installed, or LFSO_NO_COMPILED set"
)


@pytest.fixture(autouse=True)
def _any_rows(monkeypatch):
    """The kernels on these tests' few rows (by default only from ``MIN_ROWS`` rows)."""
    monkeypatch.setattr(_compiled, "MIN_ROWS", 0)


#: Rows that reach every branch (as tests/test_host_kernels.py's): zeros of both signs,
#: subnormals, the exponential's underflow, overflow, infinities and NaN.
EDGES = [0.0, -0.0, 1e-45, -1e-45, 5e-324, 1e-300, 0.5, -0.5, 40.0, -40.0, 89.0, -89.0]
EDGES += [104.0, -104.0, 750.0, -750.0, 1e30, -1e30, 1e200, math.inf, -math.inf, math.nan]
DTYPES = [np.float32, np.float64]


def _rows(dtype, seed, n=60):
    """Edge values then ``n`` ordinary ones of spread magnitudes, in ``dtype``."""
    rng = np.random.default_rng(seed)
    with np.errstate(over="ignore"):
        edges = np.asarray(EDGES).astype(dtype)
    scales = np.asarray([1e-3, 1.0, 3.0, 60.0], dtype=dtype)
    values = rng.standard_normal(n).astype(dtype) * scales[rng.integers(0, 4, n)]
    return np.concatenate([edges, values[rng.permutation(n)]])


def _same(a, b):
    """Equal bit for bit (a zero's sign aside), NaN where the other has NaN."""
    a, b = np.asarray(a), np.asarray(b)
    assert a.dtype == b.dtype and a.shape == b.shape
    nan = np.isnan(a)
    np.testing.assert_array_equal(nan, np.isnan(b))
    np.testing.assert_array_equal(a[~nan], b[~nan])


def _weights(dtype, n, seed):
    return np.random.default_rng(seed).uniform(0.5, 2.0, n).astype(dtype)


def _sums_match(compiled_sums, products):
    """``compiled_sums(idx, mask)``, the compiled sums over the rows ``idx`` with the weights
    times ``mask``, against the NumPy kernel's products (weights times terms, in the rows'
    dtype, one row per trial step): every finite term isolated (one term and exact zeros
    sum to that term in any order: bit for bit), every other alone (inf or NaN), and all
    finite terms together, within the float64 summation's error bound."""
    k, n = products.shape
    finite = np.flatnonzero(np.isfinite(products).all(axis=0))
    ones = np.ones(finite.shape[0], dtype=products.dtype)
    together = compiled_sums(finite, ones)
    for j in range(k):
        exact = math.fsum(products[j, finite].astype(np.float64))
        assert abs(together[j] - exact) <= n * 2.3e-16 * exact
    for at in range(finite.shape[0]):
        one = np.zeros_like(ones)
        one[at] = 1.0
        got = compiled_sums(finite, one)
        assert got.tolist() == products[:, finite[at]].astype(np.float64).tolist()
    for i in sorted(set(range(n)) - set(finite.tolist())):
        got = compiled_sums(np.asarray([i]), np.ones(1, dtype=products.dtype))
        _same(got.astype(products.dtype), products[:, i])


def _power_products(r, u, weight, trials, m, coef, slack):
    """The NumPy fused power kernel's terms times the weights, in the rows' dtype."""
    from lfso.models._segments import power_kernel

    kernel = power_kernel(m, coef)
    end = trials[:, None] * u[None, :]
    end += r
    top = np.abs(r)
    widen = ()
    if slack is not None:
        delta, grown = slack
        top += delta
        widen = ((delta, grown[:, None]),)
    kernel.fused(end, top, np.empty_like(end), *widen)
    return weight * end


def _trial_batches(dtype, widened, several):
    """``(trials, slack)`` for one trial step (0.37) and for ``several`` in one pass: the
    trials in ``dtype``, and the rows' slack ``(delta, g)`` with ``g_j = delta + t_j eps``
    rounded to ``dtype`` as the segment rounds it (``None`` unless ``widened``)."""
    for trials in ([0.37], several):
        t = np.asarray(trials, dtype=dtype)
        slack = None
        if widened:
            delta, eps = 1e-3, 2e-4
            grown = np.asarray([delta + trials[0] * eps], dtype) if len(t) == 1 else delta + t * eps
            slack = (delta, grown)
        yield t, slack


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("m", [2.0, 3.0, 4.0, 0.5, 1.0])
@pytest.mark.parametrize("widened", [False, True])
def test_power_sums_are_the_numpy_kernels_terms_bit_for_bit(dtype, m, widened):
    """For the powers NumPy takes by products, ``sqrt`` or a copy, every term is the NumPy
    fused kernel's, bit for bit, for one trial step and for several in one pass."""
    r, u = _rows(dtype, 1), _rows(dtype, 2)[::-1].copy()
    weight = _weights(dtype, r.shape[0], 3)
    for t, slack in _trial_batches(dtype, widened, [0.0, 1e-3, 0.5, 2.0]):

        def sums(idx, mask, t=t, slack=slack):
            w = weight[idx] * mask
            return _compiled.power_sums(r[idx], u[idx], w, t, 12.0, m, slack)

        with np.errstate(over="ignore", invalid="ignore"):
            _sums_match(sums, _power_products(r, u, weight, t, m, 12.0, slack))


def _cauchy_products(r, u, weight, trials, inv_c2, unit, slack):
    """The NumPy fused Cauchy kernel's terms times the weights, in the rows' dtype."""
    from lfso.models._segments import cauchy_kernel

    kernel = cauchy_kernel(inv_c2, unit)
    end = trials[:, None] * u[None, :]
    end += r
    widen = () if slack is None else ((slack[0], slack[1][:, None]),)
    kernel.fused(end, kernel.start(r), np.empty_like(end), *widen)
    return weight * end


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("unit", [0.0, 1.0])
@pytest.mark.parametrize("widened", [False, True])
def test_cauchy_sums_are_the_numpy_kernels_terms_bit_for_bit(dtype, unit, widened):
    """Every term of the compiled Cauchy kernel is the NumPy fused kernel's, bit for bit
    (its operations are correctly rounded or exact), for one trial step and for several in
    one pass, with and without the rows' rounding (``unit``: the dtype's, or none) and
    slack, on rows whose intervals cross 0 or not, far out, infinite or NaN."""
    unit = unit * float(np.finfo(dtype).eps) / 2
    r, u = _rows(dtype, 6), _rows(dtype, 7)[::-1].copy()
    weight = _weights(dtype, r.shape[0], 8)
    for t, slack in _trial_batches(dtype, widened, [0.0, 1e-3, 0.5, 2.0, 40.0]):

        def sums(idx, mask, t=t, slack=slack):
            w = weight[idx] * mask
            return _compiled.cauchy_sums(r[idx], u[idx], w, t, 0.3, unit, slack)

        with np.errstate(over="ignore", invalid="ignore"):
            _sums_match(sums, _cauchy_products(r, u, weight, t, 0.3, unit, slack))


@pytest.mark.parametrize("dtype", DTYPES)
def test_power_sums_with_pow_are_within_the_kernels_ulps(dtype):
    """A non-integer power (``pow``: the C library's in both, or NumPy's own) is within
    the kernel's ``term_ulps`` of the NumPy kernel's."""
    rng = np.random.default_rng(5)
    r, u = (rng.standard_normal(5000) * 3).astype(dtype), rng.standard_normal(5000).astype(dtype)
    weight = (u * u).astype(dtype)
    trials = np.asarray([0.1, 1.0], dtype=dtype)
    eps = float(np.finfo(dtype).eps)
    for m in (2.5, 1.5, 0.7):
        products = _power_products(r, u, weight, trials, m, 3.0, None)
        sums = _compiled.power_sums(r, u, weight, trials, 3.0, m, None)
        for j in range(2):
            exact = math.fsum(products[j].astype(np.float64))
            assert abs(sums[j] - exact) <= (4.5 * m + 4.0) * eps * exact


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("widened", [False, True])
def test_approach_sums_are_the_numpy_kernels_terms_bit_for_bit(dtype, widened):
    """The logistic rows' trial kernel: NumPy's exponential on the compiled pass's
    arguments, so every term is the NumPy fused kernel's, bit for bit."""
    from lfso.models._segments import approach_kernel

    start, rate = _rows(dtype, 4), -np.abs(_rows(dtype, 5))
    weight = _weights(dtype, start.shape[0], 6)
    for trials in ([0.37], [0.0, 1e-3, 0.5, 2.0, 40.0]):
        t = np.asarray(trials, dtype=dtype)
        grown = (dtype(1e-3) + t * dtype(2e-4)) if widened else None
        with np.errstate(over="ignore", invalid="ignore"):
            end = np.negative(t[:, None] * rate[None, :])
            end -= start
            widen = () if grown is None else ((0.0, grown[:, None]),)
            approach_kernel.fused(end, None, np.empty_like(end), *widen)

            def sums(idx, mask, t=t, grown=grown):
                w = weight[idx] * mask
                return _compiled.approach_sums(start[idx], rate[idx], w, t, grown)

            _sums_match(sums, weight * end)


def test_approach_sums_read_rows_across_blocks(monkeypatch):
    """Rows past one block (:data:`BLOCK`) are summed block by block: the same sums as in
    one block, to the float64 summation's rounding."""
    rng = np.random.default_rng(7)
    start, rate = np.abs(rng.standard_normal(1000)), -np.abs(rng.standard_normal(1000))
    weight, trials = rng.random(1000), np.asarray([0.2, 1.0, 3.0])
    whole = _compiled.approach_sums(start, rate, weight, trials, None)
    monkeypatch.setattr(_compiled, "BLOCK", 64)
    blocks = _compiled.approach_sums(start, rate, weight, trials, None)
    np.testing.assert_allclose(blocks, whole, rtol=1e-13)
    assert (
        _compiled.approach_sums(start[:0], rate[:0], weight[:0], trials, None).tolist() == [0.0] * 3
    )


@pytest.mark.parametrize("dtype", DTYPES)
def test_approach_direct_sums_are_the_numpy_kernels_terms_bit_for_bit(dtype):
    """The logistic segment's trials from ``z`` and ``u`` alone (start, rate and weights
    made in the pass): each row's term is the NumPy kernel's on :func:`_host_approach`'s
    rows and :func:`squared_slack`'s weights, bit for bit; the sums and the weights' sum
    are the float64 sums of those terms."""
    from lfso.models._segments import _host_approach, approach_kernel, squared_slack

    z, u = _rows(dtype, 21), _rows(dtype, 22)[::-1].copy()
    unit = 0.5 * float(np.finfo(dtype).eps)
    for delta, eps in [(0.0, 0.0), (1e-6, 3e-7), (2.5, 1e-3)]:
        for trials in ([0.37], [0.0, 1e-3, 0.5, 2.0, 40.0]):
            t = np.asarray(trials, dtype=dtype)
            with np.errstate(over="ignore", invalid="ignore"):
                start, rate = _host_approach(z, u, delta, eps, unit, None)
                weight = squared_slack(np, u, eps)
                end = np.negative(t[:, None] * rate[None, :])
                end -= start
                approach_kernel.fused(end, None, np.empty_like(end))
                terms = weight * end  # (k, n)
                pads = (delta, eps, unit)
                for i in range(z.shape[0]):
                    one, total = _compiled.approach_direct_sums(
                        z[i : i + 1], u[i : i + 1], t, pads, True
                    )
                    _same(one, terms[:, i].astype(np.float64))
                    _same(np.float64(total), weight[i].astype(np.float64))
                finite = np.isfinite(weight)
                sums, total = _compiled.approach_direct_sums(z[finite], u[finite], t, pads, True)
                _, alone = _compiled.approach_direct_sums(z[finite], u[finite], t, pads, False)
            assert alone is None
            exact = math.fsum(weight[finite].astype(np.float64))
            assert abs(total - exact) <= 1e-13 * exact
            for j in range(t.shape[0]):
                row = terms[j, finite].astype(np.float64)
                if np.isfinite(row).all():
                    assert abs(sums[j] - math.fsum(row)) <= 1e-13 * math.fsum(row)


def test_approach_direct_sums_read_rows_across_blocks(monkeypatch):
    """Rows past one block: the same sums as in one block, to the summation's rounding."""
    rng = np.random.default_rng(23)
    z, u, trials = (
        4.0 * rng.standard_normal(1000),
        rng.standard_normal(1000),
        np.asarray([0.2, 3.0]),
    )
    pads = (1e-9, 1e-10, 2.0**-53)
    whole, total = _compiled.approach_direct_sums(z, u, trials, pads, True)
    monkeypatch.setattr(_compiled, "BLOCK", 64)
    blocks, block_total = _compiled.approach_direct_sums(z, u, trials, pads, True)
    np.testing.assert_allclose(blocks, whole, rtol=1e-13)
    assert block_total == pytest.approx(total, rel=1e-13)


@pytest.mark.parametrize("dtype", DTYPES)
def test_logistic_segment_makes_its_rows_in_the_trials(dtype, monkeypatch):
    """The logistic segment on compiled rows: no rows stored, the same bounds as the
    segment on :func:`approach_rows`'s stored rows (the same terms, sums in float64 to
    their rounding), the underflow pad from the first trial's weights' sum."""
    from lfso.models import LogisticRegression
    from lfso.models._segments import ApproachSegment, RowSegment, approach_kernel, approach_rows

    rng = np.random.default_rng(24)
    X = rng.standard_normal((500, 4)).astype(dtype)
    model = LogisticRegression(X, rng.random(500) < 0.5, l2=1e-3)
    x, d = rng.standard_normal(4).astype(dtype), rng.standard_normal(4).astype(dtype)
    evaluation = model.evaluate(x, bound=False)
    assert evaluation.product.rows is None  # (|m| is not stored without the ball bound)
    seg = model.segment(x, evaluation, d)
    assert type(seg) is ApproachSegment and seg.underflow is None
    ts = [0.0, 1e-2, 0.3, 2.0, 50.0]
    got = seg.values(ts)
    z, u = seg.r, seg.u
    assert z is evaluation.product.value
    pads = seg._pads
    start, rate, weight, weight_sum = approach_rows(np, z, u, pads[0], pads[1], pads[2])
    stored = RowSegment(
        start,
        rate,
        approach_kernel,
        weight=weight,
        weight_sum=weight_sum,
        scale=1.0 / 500,
        offset=seg._offset,
        slope=seg._slope_array,
    )
    want = stored.values(ts)
    np.testing.assert_allclose(got, want, rtol=10 * float(np.finfo(dtype).eps))
    assert seg.underflow == pytest.approx(stored.underflow, rel=1e-12)
    for t, value in zip(ts, want, strict=True):  # one trial at a time (the host solve's)
        single = model.segment(x, evaluation, d).values([t])[0]
        assert single == pytest.approx(value, rel=10 * float(np.finfo(dtype).eps))
    monkeypatch.setattr(_compiled, "ENABLED", False)  # the NumPy kernels' gradient
    np.testing.assert_array_equal(model.evaluate(x, bound=False).grad, evaluation.grad)
    assert model.value(x) == pytest.approx(
        float(evaluation.value), rel=20 * float(np.finfo(dtype).eps)
    )
    monkeypatch.setattr(_compiled, "ENABLED", True)
    descent = model.segment(x, evaluation, -evaluation.grad)  # (no trial before the step)
    tau, bound = descent.device_step(0.5)
    assert tau > 0.0 and tau * bound <= 0.5 * float(evaluation.grad @ evaluation.grad) * 1.001


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("given_size", [False, True])
def test_segment_rows_are_the_numpy_helpers_bit_for_bit(dtype, given_size):
    """``approach`` with its pads and the weights ``(|v| + eps)^2`` in one pass, and the
    weights alone: the NumPy helpers' values (a zero rate's sign aside, which nothing
    reads), with their sum."""
    from lfso.models._segments import _host_approach, squared_slack

    m, v = _rows(dtype, 8), _rows(dtype, 9)[::-1].copy()
    unit = 0.5 * float(np.finfo(dtype).eps)
    size = np.abs(m) if given_size else None
    for delta, eps in [(0.0, 0.0), (1e-6, 3e-7), (2.5, 0.0), (0.0, 1e-3)]:
        with np.errstate(over="ignore", invalid="ignore"):
            start, rate, weight, total = _compiled.approach_rows(m, v, delta, eps, unit, size)
            ref_start, ref_rate = _host_approach(m, v, delta, eps, unit, size)
            ref_weight = squared_slack(np, v, eps)
            alone, alone_total = _compiled.slack_weights(v, eps)
        _same(start, ref_start)
        _same(rate, ref_rate)
        _same(weight, ref_weight)
        _same(alone, ref_weight)
        assert alone_total == total or (math.isnan(total) and math.isnan(alone_total))
        finite = np.isfinite(ref_weight)
        part = _compiled.slack_weights(v[finite], eps)[1]
        exact = math.fsum(ref_weight[finite].astype(np.float64))
        assert abs(part - exact) <= 1e-13 * exact


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("codes", [False, True], ids=["float_labels", "int8_labels"])
def test_logistic_rows_are_the_host_losses_bit_for_bit(dtype, codes, monkeypatch):
    """The evaluation's rows in one pass: :func:`_host_losses`'s gradient factor and
    ``|m|`` bit for bit (NumPy's ``exp`` and ``log1p`` on the blocks), and the sum of its
    losses (the same losses, summed in float64); the labels given as the rows' floats or
    as int8 codes (the model's), across blocks."""
    from lfso.models._logistic import _host_losses

    monkeypatch.setattr(_compiled, "BLOCK", 1024)
    z = _rows(dtype, 10, n=3000)
    negated = np.where(np.random.default_rng(11).random(z.shape[0]) < 0.5, 1.0, -1.0)
    negated = negated.astype(dtype)
    given = negated.astype(np.int8) if codes else negated
    with np.errstate(over="ignore", invalid="ignore"):
        losses, factor, distance = _host_losses(z, negated)
        total, fast_factor, fast_distance = _compiled.logistic_rows(z, given)
        alone = _compiled.logistic_loss_sum(z, given)
    _same(fast_factor, factor)
    _same(fast_distance, distance)
    with np.errstate(over="ignore", invalid="ignore"):
        same_total, same_factor, none = _compiled.logistic_rows(z, given, sizes=False)
    assert none is None and (same_total == total or math.isnan(total))
    _same(same_factor, factor)
    assert math.isnan(total) == bool(np.isnan(losses).any()) and math.isnan(alone) == math.isnan(
        total
    )
    finite = np.isfinite(losses)
    with np.errstate(over="ignore", invalid="ignore"):
        part = _compiled.logistic_rows(z[finite], given[finite])[0]
        part_alone = _compiled.logistic_loss_sum(z[finite], given[finite])
    exact = math.fsum(losses[finite].astype(np.float64))
    assert abs(part - exact) <= 1e-12 * exact and part_alone == part


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("p", [2.0, 3.0])
def test_residual_powers_and_the_carried_product_are_numpys(dtype, p):
    """``r = Ax - b``, ``w r`` and ``sum w r^2`` (``w = r^(2p-2)``), and ``z + t u``: NumPy's
    values bit for bit, the sum in float64."""
    ax, b = _rows(dtype, 12), _rows(dtype, 13)[::-1].copy()
    with np.errstate(over="ignore", invalid="ignore"):
        r, weighted, total = _compiled.residual_powers(ax, b, p)
        ref = ax - b
        r2 = ref * ref
        w = r2 if p == 2.0 else r2 ** int(p - 1)
        _same(r, ref)
        _same(weighted, w * ref)
        for t in (0.0, 0.3, -2.5, 1e30):
            _same(_compiled.axpy(ax, b, t), ax + t * b)
    products = (w * r2).astype(np.float64)
    assert math.isnan(total) == bool(np.isnan(products).any())
    finite = np.isfinite(products)
    part = _compiled.residual_powers(ax[finite], b[finite], p)[2]
    assert abs(part - math.fsum(products[finite])) <= 1e-13 * math.fsum(products[finite])


def _runs(compiled: bool, monkeypatch, dtype) -> list[tuple[int, int, int]]:
    import lfso
    from lfso.bench import lls_data

    monkeypatch.setattr(_compiled, "ENABLED", compiled)
    A, b = lls_data(3000, 8)
    A, b = A.astype(dtype), b.astype(dtype)
    labels = (b > np.median(b)).astype(float)
    models = [
        (lfso.models.LpRegression(A, b, 2.0), np.ones(8, dtype), 1e-7),
        (lfso.models.LpRegression(A, b, 1.75), np.ones(8, dtype), 1e-7),
        (lfso.models.LogisticRegression(A, labels, l2=1e-3), np.zeros(8, dtype), 1e-7),
        # (Cauchy: 1e-7 is below the float32 gradient's rounding there, where the steps
        # wander: 22 gradients with the float64 sums, 58 with float32's)
        (lfso.models.CauchyRegression(A, b), np.zeros(8, dtype), 1e-6),
    ]
    out = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for model, x0, tol in models:
            for method in ("lfso", "lfso-lbfgs", "lfso-accel"):
                res = lfso.minimize(model, x0, method=method, max_iter=150, tol=tol)
                out.append((int(res.status), int(res.njev), int(res.noracle)))
    return out


@pytest.mark.parametrize("dtype", DTYPES)
def test_runs_take_the_same_steps_to_rounding_with_and_without_the_compiled_path(
    dtype, monkeypatch
):
    """``minimize`` on l_p, logistic and Cauchy models: the same status, and gradient counts
    within a few (the compiled sums round differently in the last bits)."""
    fast = _runs(True, monkeypatch, dtype)
    plain = _runs(False, monkeypatch, dtype)
    for (status, njev, _), (status_0, njev_0, _) in zip(fast, plain, strict=True):
        assert status == status_0
        assert abs(njev - njev_0) <= max(3, 0.05 * njev_0)


def test_the_choice_is_made_at_import_from_the_environment():
    """``LFSO_NO_COMPILED`` set when lfso is imported: the NumPy kernels, whatever numba."""
    code = "from lfso.models import _compiled; print(_compiled.ENABLED)"
    env = dict(os.environ, LFSO_NO_COMPILED="1")
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "False"
    assert not _compiled.usable(np.zeros(3)) or _compiled.ENABLED
    assert not _compiled.usable(np.zeros(3, dtype=np.float16))
    assert not _compiled.usable(np.zeros(3), np.zeros(3, dtype=np.float32))
    assert not _compiled.usable(np.zeros((3, 2)))


def test_few_rows_keep_the_numpy_kernels(monkeypatch):
    """Below ``MIN_ROWS`` rows the NumPy kernels run (a short run would pay numba's import
    and cache load in full); from it, the compiled ones."""
    monkeypatch.setattr(_compiled, "MIN_ROWS", 100)
    assert not _compiled.usable(np.zeros(99))
    assert _compiled.usable(np.zeros(100))


def test_a_new_process_loads_the_kernels_from_the_cache():
    """The kernels are module-level functions, which numba's cache finds again: a second
    process adds nothing to the cache (a kernel built anew per process, as a closure would
    be, recompiles and adds a cache entry every time; the ``l_2p`` trial kernels, which take
    a function, are not cached at all)."""
    code = (
        "import numpy as np; from lfso.models import _compiled as C\n"
        "r = np.linspace(-1.0, 1.0, 5); t = np.array([0.5, 1.0])\n"
        "C.power_sums(r, r, r * r, t, 2.0, 3.0, None); C.axpy(r, r, 0.5)\n"
        "C.approach_sums(r, r, r * r, t, None)\n"
    )
    env = {**os.environ, "NUMBA_DEBUG_CACHE": "1"}
    env.pop("LFSO_NO_COMPILED", None)
    runs = [
        subprocess.run(
            [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
        )
        for _ in range(2)
    ]
    assert "data loaded" in runs[1].stdout + runs[1].stderr
    assert "data saved" not in runs[1].stdout + runs[1].stderr
