"""``lfso.minimize(batch_size=...)``: minibatch steps on row models, each certified on its batch."""

from __future__ import annotations

import numpy as np
import pytest

import lfso
from lfso.stochastic import ROW_MODELS, RowBatches, _certified_step, minimize_batches


def _logistic(n: int = 4000, d: int = 10, l2: float = 1e-3) -> lfso.models.LogisticRegression:
    rng = np.random.default_rng(0)
    X = rng.standard_normal((n, d))
    y = X @ rng.standard_normal(d) + rng.standard_normal(n) > 0
    return lfso.models.LogisticRegression(X, y, l2=l2)


def _row_models() -> list[lfso.models.Model]:
    rng = np.random.default_rng(1)
    X = rng.standard_normal((300, 4))
    w = rng.standard_normal(4)
    return [
        lfso.models.LogisticRegression(X, X @ w > 0, l2=1e-2, fit_intercept=True),
        lfso.models.SoftmaxRegression(X, (X @ w > 0).astype(int) + (X[:, 0] > 1), 3, l2=1e-3),
        lfso.models.LpRegression(X, X @ w + 0.1 * rng.standard_normal(300), 2),
        lfso.models.CauchyRegression(X, X @ w + rng.standard_cauchy(300), 1.0),
    ]


def test_row_models_table_covers_every_model_built_here():
    assert {type(m) for m in _row_models()} == set(ROW_MODELS)


@pytest.mark.parametrize("model", _row_models(), ids=lambda m: type(m).__name__)
@pytest.mark.parametrize("eta", [0.5, 1.0, 1.5])
def test_each_step_satisfies_the_armijo_condition_on_its_batch(model, eta):
    """``f_B(x - t g) <= f_B(x) - (1 - eta/2) t ||g||^2`` with ``t = eta ||g||^2 / C_B``,
    and the step within the segment the bound covers, exactly (``eta ||g||^2 / C`` from the
    evaluation's norm can go past its end in the last bits: on about a fifth of these
    batches)."""
    rng = np.random.default_rng(2)
    batches = RowBatches(model)
    x = rng.standard_normal(model.dim)
    for _ in range(20):
        batch = batches(rng.choice(batches.n, 32, replace=False))
        ev = batch.evaluate(x, bound=False)
        segment = batch.segment(x, ev, -ev.grad)
        t, curvature, _ = segment.step_for(eta)
        step = _certified_step(segment, eta, t, curvature)
        assert 0.0 < step <= t
        assert step == pytest.approx(eta * ev.grad_norm**2 / curvature, rel=1e-12)
        after = batch.value(x - step * ev.grad)
        assert after <= ev.value - (1 - eta / 2) * step * ev.grad_norm**2 + 1e-12 * abs(ev.value)
        x = x - step * ev.grad


def test_every_step_of_a_run_is_within_its_certified_segment(monkeypatch):
    """The epochs' batch steps are those of ``_certified_step``: each at most the ``t``
    its segment solve certified."""
    import lfso.stochastic as module

    seen: list[tuple[float, float]] = []

    def spy(segment, eta, t, curvature):
        step = _certified_step(segment, eta, t, curvature)
        seen.append((step, t))
        return step

    monkeypatch.setattr(module, "_certified_step", spy)
    lfso.minimize(_logistic(800), np.zeros(10), batch_size=50, seed=0, epochs=3, decay="none")
    assert len(seen) == 3 * 16
    assert all(0.0 < step <= t for step, t in seen)


def test_batch_of_all_rows_is_the_model():
    model = _row_models()[0]
    batches = RowBatches(model)
    x = np.linspace(-1, 1, model.dim)
    whole = batches(np.arange(batches.n))
    assert whole.value(x) == pytest.approx(model.value(x), rel=1e-12)
    np.testing.assert_allclose(whole.grad(x), model.grad(x), rtol=1e-10, atol=1e-14)


def test_minibatches_converge_near_the_full_batch_minimiser():
    model = _logistic()
    full = lfso.minimize(model, np.zeros(10), tol=1e-10)
    res = lfso.minimize(model, np.zeros(10), batch_size=64, seed=0, epochs=30)
    start = np.linalg.norm(full.x)
    assert np.linalg.norm(res.x - full.x) < 0.05 * start
    assert res.fun - full.fun < 1e-3 * full.fun
    assert res.nit == 30 and len(res.history) == 31
    assert res.status is lfso.Status.MAX_ITER and "epochs=30" in res.message
    assert np.all(np.diff(res.history.nfev) == 4000 // 64 + 1 + 1)  # batches + full pass


def test_the_harmonic_decay_beats_constant_steps():
    model = _logistic()
    full = lfso.minimize(model, np.zeros(10), tol=1e-10)
    dist = {
        decay: np.linalg.norm(
            lfso.minimize(model, np.zeros(10), batch_size=64, seed=0, epochs=15, decay=decay).x
            - full.x
        )
        for decay in ("none", "harmonic")
    }
    assert dist["harmonic"] < 0.5 * dist["none"]


def test_loose_tolerance_converges_at_an_epoch_end():
    res = lfso.minimize(_logistic(), np.zeros(10), batch_size=500, seed=0, epochs=50, tol=0.1)
    assert res.status is lfso.Status.CONVERGED and res.success
    assert res.grad_norm <= 0.1 * res.history.grad_norm[0]
    assert res.nit < 50


def test_same_seed_same_run_and_another_seed_another():
    model = _logistic(500)
    run = lambda seed: lfso.minimize(model, np.zeros(10), batch_size=50, seed=seed, epochs=3)  # noqa: E731
    np.testing.assert_array_equal(run(7).x, run(7).x)
    assert not np.array_equal(run(7).x, run(8).x)
    generator = lfso.minimize(
        model, np.zeros(10), batch_size=50, seed=np.random.default_rng(7), epochs=3
    )
    np.testing.assert_array_equal(generator.x, run(7).x)


def test_callback_gets_each_epoch_and_can_stop():
    seen = []

    def callback(intermediate_result):
        seen.append(intermediate_result.nit)
        if intermediate_result.nit == 2:
            raise StopIteration

    res = lfso.minimize(
        _logistic(500), np.zeros(10), batch_size=50, seed=0, epochs=10, callback=callback
    )
    assert seen == [1, 2] and res.status is lfso.Status.CALLBACK_STOP


def test_the_callback_sees_each_epoch_end_point_and_the_result_is_the_best():
    seen = []

    def callback(r):
        seen.append((r.nit, r.fun, r.x.copy(), r.history.last("f")))

    model = _logistic(500)
    res = lfso.minimize(
        model, np.zeros(10), batch_size=50, seed=1, epochs=6, decay="none", callback=callback
    )
    assert [k for k, *_ in seen] == list(range(1, 7))
    for _, f, x, row in seen:  # (the epoch's end point, as every method's callback)
        assert f == row == model.value(x)
    assert res.fun == min(f for _, f, _, _ in seen) == np.min(res.history.f[1:])
    assert res.nfev == res.njev == 1 + 6 * (10 + 1)  # x0, then 10 batches and a full pass


BAD = [
    ({"batch_size": 0}, ValueError, "batch_size=0"),
    ({"batch_size": -3}, ValueError, "batch_size=-3"),
    ({"batch_size": 501}, ValueError, "in [1, 500]"),
    ({"batch_size": 2.5}, TypeError, "batch_size=2.5"),
    ({"batch_size": True}, TypeError, "batch_size=True"),
    ({"batch_size": "8"}, TypeError, "batch_size='8'"),
    ({"batch_size": 10, "seed": -1}, ValueError, "seed=-1"),
    ({"batch_size": 10, "seed": "a"}, TypeError, "seed='a'"),
    ({"batch_size": 10, "epochs": 0}, ValueError, "epochs=0"),
    ({"batch_size": 10, "decay": "cosine"}, ValueError, "decay='cosine'"),
    ({"batch_size": 10, "eta": 2.0}, ValueError, "eta=2.0"),
    ({"batch_size": 10, "memory": 3}, TypeError, "['memory']"),
    ({"batch_size": 10, "method": "gd"}, TypeError, "method='gd'"),
    ({"batch_size": 10, "safeguard": True}, TypeError, "safeguard="),
    ({"batch_size": 10, "eta": True}, TypeError, "eta=True"),
    ({"batch_size": 10, "eta": "0.5"}, TypeError, "eta='0.5'"),
    ({"batch_size": 10, "epochs": 2.0}, TypeError, "epochs=2.0"),
    ({"batch_size": 10, "decay": None}, TypeError, "decay=None"),
    ({"batch_size": 10, "decay": np.array([1, 2])}, TypeError, "decay=array"),
    ({"batch_size": 10, "max_iter": 3}, TypeError, "max_iter=3"),
    ({"batch_size": 10, "hvp": "autodiff"}, TypeError, "hvp='autodiff'"),
    ({"batch_size": 10, "smoothness": "auto"}, TypeError, "smoothness='auto'"),
    ({"batch_size": 10, "progress": True}, TypeError, "progress=True"),
    ({"batch_size": 10, "monitor": "full"}, TypeError, "monitor='full'"),
]


@pytest.mark.parametrize(("kwargs", "error", "message"), BAD, ids=[str(b[0]) for b in BAD])
def test_bad_input_is_named(kwargs, error, message):
    with pytest.raises(error, match=message.replace("[", r"\[").replace("(", r"\(")):
        lfso.minimize(_logistic(500), np.zeros(10), **kwargs)


BAD_DIRECT = [
    ({"tol": -1.0}, ValueError, "tol=-1.0"),
    ({"atol": float("nan")}, ValueError, "atol=nan"),
    ({"tol": "a"}, TypeError, "tol='a'"),
    ({"x0": np.zeros(3)}, ValueError, r"x0 must have shape \(10,\)"),
    ({"x0": "abc"}, TypeError, "x0"),
]


@pytest.mark.parametrize(
    ("kwargs", "error", "message"), BAD_DIRECT, ids=[str(b[0]) for b in BAD_DIRECT]
)
def test_minimize_batches_names_bad_input(kwargs, error, message):
    arguments = {"x0": np.zeros(10), "batch_size": 10} | kwargs
    with pytest.raises(error, match=message):
        minimize_batches(_logistic(500), **arguments)


def test_minimize_batches_takes_a_list_and_never_returns_the_callers_array():
    model = _logistic(500)
    from_list = minimize_batches(model, [0.0] * 10, batch_size=50, seed=0, epochs=2)
    x0 = np.zeros(10)
    from_array = minimize_batches(model, x0, batch_size=50, seed=0, epochs=2)
    np.testing.assert_array_equal(from_list.x, from_array.x)
    unmoved = minimize_batches(model, x0, batch_size=50, tol=1.0)  # converged at the start
    assert unmoved.nit == 0 and unmoved.x is not x0 and np.array_equal(unmoved.x, x0)


def test_a_model_without_rows_is_refused_by_name():
    with pytest.raises(TypeError, match=r"PowerSum.*no rows to sample"):
        lfso.minimize(lfso.models.PowerSum(2), np.ones(3), batch_size=2)
    with pytest.raises(TypeError, match="FunctionModel"):
        lfso.minimize(lambda x: float(np.sum(x**2)), np.ones(3), grad=lambda x: 2 * x, batch_size=2)


@pytest.mark.parametrize("model", [None, "logistic", np.zeros((4, 2))], ids=repr)
def test_minimize_batches_refuses_what_is_not_a_model_by_name(model):
    with pytest.raises(TypeError, match=r"model must be a row model \(LogisticRegression.*model="):
        minimize_batches(model, np.zeros(2), batch_size=2)


@pytest.mark.parametrize("seed", range(4))
def test_the_history_step_and_l_are_those_of_one_batch_step(seed):
    """Each epoch's row holds its last step and that step's certificate per unit length
    (``step * L = gamma_e eta``), also where the epoch's last batch took no step (a batch of
    zero rows: zero gradient), whose curvature is not a step's."""
    X = np.array([[0.0, 0.0], [0.0, 0.0], [1.0, 2.0], [-1.0, 0.5]])
    model = lfso.models.LogisticRegression(X, np.array([1, 0, 1, 0]))
    res = lfso.minimize(
        model, np.zeros(2), batch_size=2, seed=seed, epochs=6, decay="none", eta=0.5
    )
    np.testing.assert_allclose(res.history.step[1:] * res.history.L[1:], 0.5, rtol=1e-9)


def test_a_diverged_run_says_that_each_step_is_certified_on_its_batch_only():
    """A batch of one row nearly orthogonal to the dominant one steps far along it, within
    its own certificate, and the full loss explodes: the message names what to change
    (the batch size), not a wrong gradient or an uncertified step."""
    A = np.array([[3.0, 4.0], [0.0, 1e-8], [1e-9, 0.0]])
    model = lfso.models.LpRegression(A, np.ones(3), 2)
    res = lfso.minimize(model, np.zeros(2), batch_size=1, seed=0, epochs=2)
    assert res.status is lfso.Status.DIVERGED
    assert "certified on its own batch" in res.message and "batch_size" in res.message
    assert "check_grad" not in res.message and "lowest f = 3" in res.message


def test_batch_size_takes_a_0d_integer_array_as_epochs_does():
    """``np.array(50)`` (an integer as NumPy reductions give it) is 50, as for ``epochs``."""
    model = _logistic(500)
    ours = lfso.minimize(model, np.zeros(10), batch_size=np.array(50), seed=0, epochs=np.array(2))
    same = lfso.minimize(model, np.zeros(10), batch_size=50, seed=0, epochs=2)
    assert np.array_equal(ours.x, same.x)
    with pytest.raises(TypeError, match=r"batch_size=array\(\[50\]\)"):
        lfso.minimize(model, np.zeros(10), batch_size=np.array([50]))


def test_batch_size_none_is_the_full_batch_run():
    """It was refused as an option unknown to the full-batch method (``batch_size`` named
    as unknown); ``None`` is the full batch, as without it."""
    model = _logistic(500)
    full = lfso.minimize(model, np.zeros(10))
    same = lfso.minimize(model, np.zeros(10), batch_size=None)
    assert np.array_equal(same.x, full.x) and same.nit == full.nit


@pytest.mark.parametrize(
    "kwargs",
    [{"seed": 0}, {"epochs": 3}, {"decay": 0.5}, {"seed": 0, "batch_size": None}],
)
def test_a_minibatch_option_without_batch_size_says_it_goes_with_batch_size(kwargs):
    (name,) = [k for k in kwargs if k != "batch_size"]
    with pytest.raises(TypeError, match=rf"{name}=.*options of a minibatch run.*batch_size="):
        lfso.minimize(_logistic(500), np.zeros(10), **kwargs)
    with pytest.raises(TypeError, match=rf"{name}=.*options of a minibatch run"):
        lfso.minimize(_logistic(500), np.zeros(10), method="gd", step=1e-3, **kwargs)


def test_a_numpy_eta_is_taken_as_the_same_python_float():
    model = _logistic(500)
    kwargs = {"batch_size": 50, "seed": 0, "epochs": 2}
    ours = lfso.minimize(model, np.zeros(10), eta=np.float32(0.5), **kwargs)
    same = lfso.minimize(model, np.zeros(10), eta=0.5, **kwargs)
    assert np.array_equal(ours.x, same.x)


def test_minimize_takes_x0_as_a_start_point_once(monkeypatch):
    """``lfso.minimize(..., batch_size=)`` checks and copies ``x0`` once (in
    :func:`minimize_batches`), with the same errors, first, for a model without rows."""
    import lfso._minimize
    import lfso.stochastic

    calls = []

    def counted(x0, model, real=lfso.stochastic.start_point):
        calls.append(x0)
        return real(x0, model)

    monkeypatch.setattr(lfso._minimize, "start_point", counted)
    monkeypatch.setattr(lfso.stochastic, "start_point", counted)
    lfso.minimize(_logistic(500), np.zeros(10), batch_size=50, seed=0, epochs=1)
    assert len(calls) == 1
    with pytest.raises(TypeError, match="x0"):  # (as lfso.minimize's order has it)
        minimize_batches(lfso.models.PowerSum(2), "abc", batch_size=2)


def _poison_row_3(monkeypatch):
    """A NaN in row 3 of the data as each batch holding it sees it (one batch an epoch)."""
    import lfso.stochastic as module

    build = module.RowBatches.__call__

    def poisoned(self, idx):
        batch = build(self, idx)
        if 3 in idx:
            batch.X = batch.X.copy()
            batch.X[list(idx).index(3), 0] = np.nan
        return batch

    monkeypatch.setattr(module.RowBatches, "__call__", poisoned)


def test_the_skipped_count_is_in_a_callbacks_result_and_in_a_raised_runs(monkeypatch):
    """``Result.skipped`` counts the batches skipped so far in each intermediate result,
    and in the result an exception carries (``exc.result``), not 0."""
    _poison_row_3(monkeypatch)
    seen = []

    def callback(intermediate_result):
        seen.append(intermediate_result.skipped)
        if intermediate_result.nit == 2:
            raise ValueError("enough")

    with pytest.raises(ValueError, match="enough") as error:
        lfso.minimize(_logistic(400), np.zeros(10), batch_size=50, seed=0, callback=callback)
    assert seen == [1, 2] and error.value.result.skipped == 2


def test_a_batch_whose_loss_is_not_finite_is_skipped_counted_and_warned(monkeypatch, tmp_path):
    """A batch with a NaN in its rows takes no step, and the run says how many were skipped
    (``Result.skipped``, kept by ``save``/``load``, and one ``SkippedBatchWarning``)."""
    from lfso.stochastic import SkippedBatchWarning

    _poison_row_3(monkeypatch)
    with pytest.warns(SkippedBatchWarning, match="3 batch\\(es\\) skipped, first in epoch 1"):
        res = lfso.minimize(_logistic(400), np.zeros(10), batch_size=50, seed=0, epochs=3)
    assert res.skipped == 3 and res.nit == 3
    assert np.isfinite(res.fun) and np.all(np.isfinite(res.x))
    assert lfso.Result.load(res.save(tmp_path / "run.npz")).skipped == 3
    assert issubclass(SkippedBatchWarning, RuntimeWarning)


def test_monitor_quiet_counts_skipped_batches_without_the_warning(monkeypatch):
    """``monitor="quiet"`` (runs in a grid) counts skipped batches in ``Result.skipped``
    and issues no ``SkippedBatchWarning``; ``minimize_batches`` itself still warns."""
    import warnings

    from lfso.stochastic import SkippedBatchWarning

    _poison_row_3(monkeypatch)
    model, kwargs = _logistic(400), {"batch_size": 50, "seed": 0, "epochs": 3}
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        quiet = lfso.minimize(model, np.zeros(10), monitor="quiet", **kwargs)
    with pytest.warns(SkippedBatchWarning, match="3 batch\\(es\\) skipped"):
        loud = minimize_batches(model, np.zeros(10), **kwargs)
    assert quiet.skipped == loud.skipped == 3
    np.testing.assert_array_equal(quiet.x, loud.x)


def test_a_point_that_overflows_mid_epoch_stops_non_finite_with_the_best_point(monkeypatch):
    """A batch step to where the loss overflows ends the run ``NON_FINITE`` (not as a
    precision limit), returning the best epoch-end point."""
    import lfso.stochastic as module

    calls = []

    def overflowing(segment, eta, t, curvature):
        calls.append(t)
        return 1e308 if len(calls) == 12 else _certified_step(segment, eta, t, curvature)

    monkeypatch.setattr(module, "_certified_step", overflowing)
    model = _logistic(400)
    with np.errstate(all="ignore"), pytest.warns(RuntimeWarning, match="skipped"):
        res = minimize_batches(model, np.zeros(10), batch_size=50, seed=0, epochs=5)
    assert res.status is lfso.Status.NON_FINITE, res.message
    assert res.fun == pytest.approx(min(f for f in res.history.f if np.isfinite(f)))
    assert res.fun == pytest.approx(model.value(res.x))


@pytest.mark.parametrize(
    ("dtype", "x", "scale"), [(np.float64, 1e35, 1e3), (np.float32, 5e3, 10.0)]
)
def test_a_batch_gradient_whose_square_overflows_takes_its_step(dtype, x, scale):
    """``LpRegression`` (p = 4) at a large ``x0`` with one row scaled up: a batch's
    gradient is finite (about 1e270 in float64, 1e31 in float32) but ``g . g`` overflows,
    and the run stopped ``PRECISION_LIMIT`` at its first step (with NumPy's "overflow
    encountered in matmul"), where a full-batch run converges. The batch's step is sized
    along ``-2^k g`` (an exact scaling), and the run descends, silently."""
    import warnings

    A, b = np.ones((100, 1), dtype=dtype), np.zeros(100, dtype=dtype)
    A[0, 0] = scale
    model = lfso.models.LpRegression(A, b, 4)
    x0 = np.array([x], dtype=dtype)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        res = lfso.minimize(model, x0, batch_size=1, seed=0, epochs=2)
    assert res.status in (lfso.Status.CONVERGED, lfso.Status.MAX_ITER), res.message
    assert res.fun < model.value(x0) and np.all(np.isfinite(res.history.L[1:]))


@pytest.mark.parametrize("decay", ["none", "harmonic"])
def test_the_history_reports_l_per_unit_length_as_a_full_batch_run_does(decay):
    """The history's ``L`` is the certificate per unit length, ``C / ||g||^2`` (as a
    full-batch run's ``L(x, R)``), so the epoch's last step ``gamma_e t_k`` satisfies
    ``t_k L = eta``; it was the curvature along ``-g``, ``C = L ||g||^2``, which the
    report plotted as ``L(x, R)``."""
    res = lfso.minimize(
        _logistic(400), np.zeros(10), batch_size=40, seed=0, epochs=4, eta=0.5, decay=decay
    )
    gamma = np.ones(4) if decay == "none" else 1.0 / np.arange(1.0, 5.0)
    np.testing.assert_allclose(res.history.step[1:] * res.history.L[1:], 0.5 * gamma, rtol=1e-9)


def test_batches_of_one_row_of_a_classifier_run():
    """A batch of one row holds one class, a part of the two-class problem: the run takes
    it."""
    rng = np.random.default_rng(5)
    X = rng.standard_normal((30, 2))
    y = (X[:, 0] > 0).astype(int)
    model = lfso.models.LogisticRegression(X, y, fit_intercept=True)
    x0 = np.zeros(model.dim)
    res = lfso.minimize(model, x0, batch_size=1, seed=0, epochs=3)
    assert res.status in (lfso.Status.CONVERGED, lfso.Status.MAX_ITER), res.message
    assert res.fun < model.value(x0)


@pytest.mark.parametrize("batch_size", [None, 10])
def test_a_start_whose_loss_overflows_raises_the_full_batch_runs_error(batch_size):
    """``f(x0) = inf`` raises :class:`NonFiniteStartError` (a ``ValueError``) with the same
    message with or without ``batch_size=``; a minibatch run raised a plain ``ValueError``
    of its own wording."""
    A = np.random.default_rng(0).standard_normal((40, 5))
    model = lfso.models.LpRegression(A, A[:, 0], 2)
    with pytest.raises(lfso.NonFiniteStartError, match=r"f\(x0\) = inf and .* must be finite"):
        lfso.minimize(model, np.full(5, 1e100), batch_size=batch_size)


def test_the_batches_of_an_lp_regression_subclass_are_of_that_subclass():
    """A subclass of ``LpRegression`` that overrides ``evaluate`` has it called on each batch,
    as the other row models' subclasses do; each batch was rebuilt as a plain
    ``LpRegression``, so that only the full evaluations at the epochs' ends went through
    it."""
    rng = np.random.default_rng(3)
    A = rng.standard_normal((40, 3))

    class Counting(lfso.models.LpRegression):
        calls = 0

        def evaluate(self, x, **kwargs):
            type(self).calls += 1
            return super().evaluate(x, **kwargs)

    model = Counting(A, A @ np.ones(3), 2)
    batch = RowBatches(model)(np.arange(10))
    assert type(batch) is Counting and batch.A.shape == (10, 3)
    plain = RowBatches(lfso.models.LpRegression(A, A @ np.ones(3), 2))(np.arange(10))
    x = rng.standard_normal(3)
    assert batch.value(x) == plain.value(x)
    res = lfso.minimize(model, np.zeros(3), batch_size=10, seed=0, epochs=2, tol=0.0)
    assert Counting.calls == res.nfev == 2 * 4 + 3  # (the batches, and each epoch's end)


def test_the_oracle_calls_of_a_batch_step_sized_again_after_an_overflow_are_counted():
    """Where the curvature along ``-g`` overflows the batch's step is sized again along
    ``-2^k g``: the oracle calls of both solves count (``noracle``); the first's were
    dropped."""
    from lfso.stochastic import _sized

    model = lfso.models.LpRegression(np.ones((100, 1)), np.zeros(100), 4)
    x = np.array([1e16])
    batch = RowBatches(model)(np.array([0]))
    ev = batch.evaluate(x, bound=False)
    with np.errstate(over="ignore", invalid="ignore"):
        first = batch.segment(x, ev, -ev.grad).step_for(1.0)
    assert first[1] == np.inf  # (the overflow that sizes the step again)
    d, _, (_, _, spent), scale = _sized(batch, x, ev, 1.0)
    second = batch.segment(x, ev, d).step_for(1.0)
    assert scale < 1.0 and spent == first[2] + second[2]


def test_a_batch_of_rows_keeps_the_models_proven_norm():
    """A batch's ``LpRegression`` takes the full model's ``||A||_2`` (a bound on every
    subset of its rows): proven where the model computed it, a user's where stated."""
    rng = np.random.default_rng(0)
    A, b = rng.standard_normal((40, 3)), rng.standard_normal(40)
    idx = np.arange(0, 40, 3)
    for norm in (None, 2.0 * np.linalg.norm(A, 2)):
        model = lfso.models.LpRegression(A, b, 2, norm=norm)
        batch = RowBatches(model)(idx)
        assert batch.audit_oracle == model.audit_oracle == (norm is not None)
