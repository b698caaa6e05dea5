"""The cost of a certified iteration: host round trips, passes, drift.

On PyTorch tensors on an accelerator ``lfso`` and ``lfso-lbfgs`` size the step (and the
L-BFGS direction) on the device and let their scalars ride with the next evaluation's fetch
(:mod:`lfso._later`): one host round trip per iteration, certified as before. CPU tensors
stand in for a GPU's here, inside :func:`lfso._later.cpu_as_accelerator` (which
``count_host_syncs`` enters). On NumPy nothing is deferred and the iterates are the host
path's.
"""

from __future__ import annotations

import itertools
import warnings

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import lfso  # noqa: E402
from lfso._arrays import (  # noqa: E402
    distance,
    norm,
    to_floats,
)
from lfso._later import (  # noqa: E402
    Later,
    cpu_as_accelerator,
    known_dot,
    later,
    remember_dot,
    riding,
)
from lfso.bench import count_host_syncs, get_problem, lls_data, logistic_data, syncs_per_iteration  # noqa: E402  # noqa: E402
from lfso.models import Evaluation  # noqa: E402
from lfso.steps._directions import LBFGSDirection  # noqa: E402


def _tensor(*arrays):
    return tuple(torch.tensor(np.asarray(a)) for a in arrays)


def _breast_cancer():
    pytest.importorskip("sklearn")
    X, y = _tensor(*logistic_data("breast_cancer"))
    model = lfso.models.LogisticRegression(X, y, l2=1.0 / X.shape[0], fit_intercept=True)
    return model, torch.zeros(model.dim, dtype=torch.float64)


def _softmax():
    rng = np.random.default_rng(1)
    A = rng.standard_normal((400, 6))
    labels = np.argmax(A[:, :3] + 0.5 * rng.standard_normal((400, 3)), axis=1)
    model = lfso.models.SoftmaxRegression(*_tensor(A, labels), 3, l2=1e-3)
    return model, torch.zeros(model.dim, dtype=torch.float64)


def _lp(p, n=100):
    def build():
        A, b = _tensor(*lls_data(n, 100))
        return lfso.models.LpRegression(A, b, p), torch.ones(100, dtype=torch.float64)

    return build


def _composite():
    A, b = _tensor(*lls_data(100, 100))
    return lfso.models.CompositeLeastSquares(A, b, 2), torch.ones(100, dtype=torch.float64)


def _power(cls, p):
    def build():
        return cls(p), torch.linspace(0.5, 1.5, 10, dtype=torch.float64)

    return build


#: Bundled problems on float64 CPU tensors, with the target round trips per iteration.
PROBLEMS = {
    "lp_regression-p1-n100": (_lp(1), 1.1),
    "lp_regression-p2-n100": (_lp(2), 1.1),
    "lp_regression-p3-n1000": (_lp(3, 1000), 1.1),
    "composite_ls-p2-n100": (_composite, 1.1),
    "power_norm-p3-lin": (_power(lfso.models.PowerNorm, 3), 1.1),
    "power_sum-p3-lin": (_power(lfso.models.PowerSum, 3), 1.1),
    "logistic-breast_cancer": (_breast_cancer, 1.5),
    "softmax": (_softmax, 1.5),
}


@pytest.mark.parametrize("method", ["lfso", "lfso-lbfgs"])
@pytest.mark.parametrize("name", list(PROBLEMS))
def test_round_trips_per_iteration_meet_the_targets_on_long_runs(name, method):
    build, target = PROBLEMS[name]
    model, x0 = build()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # tol=0 runs to rounding

        def run(max_iter):
            res = lfso.minimize(model, x0, method=method, tol=0.0, max_iter=max_iter)
            # at an exact stationary point the run stops early: the count below is then
            # over fewer iterations, so insist on the full run
            assert res.nit == max_iter, (res.nit, res.message)
            return res

        # (lfso-lbfgs on breast cancer and on least squares reaches the precision limit
        # of its float64 slope after about 76 and 147 iterations, where its exact slope's
        # bound is not negative)
        short = {"logistic-breast_cancer": (20, 70), "lp_regression-p1-n100": (20, 120)}
        window = short.get(name, (20, 220)) if method == "lfso-lbfgs" else (20, 220)
        per_iteration = syncs_per_iteration(run, window)
    assert per_iteration <= target, (name, method, per_iteration)


@pytest.mark.parametrize("method", ["lfso", "lfso-lbfgs"])
@pytest.mark.parametrize(
    "name", ["lp_regression-p2-n100", "logistic-breast_cancer", "power_norm-p3-lin", "softmax"]
)
def test_deferred_steps_keep_the_descent_inequality_every_iteration(name, method):
    """``f(x+) <= f(x) - (1 - eta/2)/eta * L ||x+ - x||^2`` on every iteration, with the
    history's ``L = C / ||d||^2`` of the device-sized step: ``tau C = eta (-g . d)``, so the
    certified decrease ``eta (1 - eta/2) (g . d)^2 / C`` is exactly that."""
    model, x0 = PROBLEMS[name][0]()
    points = [x0]
    with cpu_as_accelerator():
        res = lfso.minimize(
            model, x0, method=method, tol=1e-8, max_iter=1500, callback=lambda x: points.append(x)
        )
    assert res.nit > 10
    fs = res.history.f
    L = res.history.L
    steps = np.array(
        [float(torch.linalg.vector_norm(b - a)) for a, b in itertools.pairwise(points)]
    )
    assert len(steps) == res.nit
    decrease = fs[:-1] - fs[1:]
    claimed = 0.5 * L[1:] * steps**2  # eta = 1
    slack = 1e-12 * np.abs(fs[:-1]) + 1e-300
    assert np.all(np.isfinite(L[1:])) and np.all(L[1:] > 0.0)
    assert np.all(decrease >= claimed - slack), np.min(decrease - claimed)
    assert np.all(np.diff(fs) <= slack[: len(fs) - 1])  # f never rises


def test_deferred_iterations_stay_as_few_as_the_host_solves():
    """The device step takes the best of a grid of trial steps (within about 10% of the
    host solve's): gradients to 1e-8 stay within 1.5x of the NumPy path's."""
    pytest.importorskip("sklearn")
    for name in ("logistic-breast_cancer", "lp_regression-p2-n100"):
        model, x0 = get_problem(name).make()
        tmodel, tx0 = (_breast_cancer if name.startswith("logistic") else _lp(2))()
        for method in ("lfso-lbfgs",):
            host = lfso.minimize(model, x0, method=method, tol=1e-8, max_iter=5000)
            with cpu_as_accelerator():
                dev = lfso.minimize(tmodel, tx0, method=method, tol=1e-8, max_iter=5000)
            assert host.success and dev.success
            assert dev.njev <= 1.5 * host.njev, (name, dev.njev, host.njev)


def _drive(model, x0, rule, iters):
    """The rule stepped by hand, outside the loop (nothing deferred): the host path
    (``rule`` from ``build_rule``, settled for ``model`` already)."""
    ev = model.evaluate(x0, bound=rule.needs_bound)
    state = rule.init(model, x0, ev)
    x, xs = x0, []
    for _ in range(iters):
        move, state = rule.step(model, x, ev, state)
        x = move.x
        ev = model.evaluate(x, bound=rule.needs_bound, probe=move.probe, product=move.product)
        xs.append(x)
    return xs


@pytest.mark.parametrize("method", ["lfso", "lfso-lbfgs"])
@pytest.mark.parametrize("name", ["logistic-breast_cancer", "lp_regression-p2-n100"])
def test_numpy_iterates_are_the_host_paths(name, method, monkeypatch):
    """On NumPy the loop defers nothing: its iterates are those of the rule stepped by hand
    (bit for bit, carried products and their refreshes included)."""
    pytest.importorskip("sklearn")
    from lfso._registry import build_rule

    model, x0 = get_problem(name).make()
    points = []
    res = lfso.minimize(
        model, x0, method=method, tol=0.0, max_iter=60, callback=lambda x: points.append(x)
    )
    assert all(isinstance(v, float) for v in res.history.step)
    rule = build_rule(method, {}, model=model, auto=False, x0=x0)
    manual = _drive(model, x0, rule, 60)
    for a, b in zip(points, manual, strict=True):
        np.testing.assert_array_equal(a, b)


def _pairs_case(seed):
    """Random iterates and gradients: about half the pairs have ``s . y <= 0`` (skipped),
    and one huge gradient makes the recursion overflow (the direction falls back to -g)."""
    rng = np.random.default_rng(seed)
    xs = [rng.standard_normal(6) for _ in range(16)]
    gs = [rng.standard_normal(6) for _ in range(16)]
    gs[9] = gs[9] * 1e306  # the recursion overflows: d is not finite, -g instead
    return xs, gs


@pytest.mark.parametrize("memory", [1, 3, 10])
def test_lbfgs_on_the_device_matches_the_host_path(memory):
    """The masked two-loop recursion (skipped pairs and the full memory's oldest pair
    masked on the device, settled one call later) gives the host path's directions."""
    xs, gs = _pairs_case(memory)
    host, dev = LBFGSDirection(memory), LBFGSDirection(memory)
    hs = host.init(None, None)
    ds = dev.init(None, None)
    skipped = descents = 0
    with riding(), np.errstate(all="ignore"):
        for x, g in zip(xs, gs, strict=True):
            gn = float(np.linalg.norm(g))
            ev_h = Evaluation(0.0, g, gn)
            tx, tg = torch.tensor(x), torch.tensor(g)
            ev_d = Evaluation(0.0, tg, gn)
            before = len(hs.pairs)
            dh, gdh, nh, hs = host(x, ev_h, hs)
            dd, gdd, nd, ds = dev(tx, ev_d, ds, defer=True)
            skipped += len(hs.pairs) <= before and before < memory
            descents += dh is None
            ref = -g if dh is None else dh
            got = -tg if dd is None else dd
            np.testing.assert_allclose(got.numpy(), ref, rtol=1e-10, atol=1e-12)
            assert float(gdd) == pytest.approx(gdh, rel=1e-10)
            assert float(nd) == pytest.approx(nh, rel=1e-10)
    assert skipped > 0 and descents > 1  # the random pairs exercise both fallbacks


@pytest.mark.parametrize("memory", [1, 2, 5])
def test_lbfgs_on_the_device_matches_the_host_path_in_float32(memory):
    """Float32 pairs, a few of them with ``y . y`` past float32's range or ``s . y < 0``
    (skipped: the candidate's rows are written as zeros), with the memory full most of
    the time: the host path's directions to float32's rounding."""
    rng = np.random.default_rng(100 + memory)
    H = np.diag(np.linspace(1.0, 20.0, 5))  # (a quadratic's gradients: s . y > 0)
    xs = [rng.standard_normal(5).astype(np.float32) for _ in range(24)]
    gs = [(H @ x).astype(np.float32) for x in xs]
    gs[15] = gs[15] * np.float32(1e30)
    gs[9] = -gs[9]
    host, dev = LBFGSDirection(memory), LBFGSDirection(memory)
    hs, ds = host.init(None, None), dev.init(None, None)
    skipped = full = 0
    with riding(), np.errstate(all="ignore"):
        for x, g in zip(xs, gs, strict=True):
            gn = float(np.linalg.norm(g.astype(np.float64)))
            before = len(hs.pairs)
            dh, gdh, nh, hs = host(x, Evaluation(0.0, g, gn), hs)
            tx, tg = torch.from_numpy(x), torch.from_numpy(g)
            dd, gdd, nd, ds = dev(tx, Evaluation(0.0, tg, gn), ds, defer=True)
            skipped += len(hs.pairs) <= before < memory
            full += before == memory
            ref = (-g if dh is None else dh).astype(np.float64)
            got = (-tg if dd is None else dd).numpy().astype(np.float64)
            np.testing.assert_allclose(got, ref, rtol=1e-4, atol=1e-6 * np.abs(ref).max())
            if abs(gdh) < np.finfo(np.float32).max:  # (-||g||^2 of -g, past float32's range)
                assert float(gdd) == pytest.approx(gdh, rel=1e-4)
            assert float(nd) == pytest.approx(nh, rel=1e-4)
    assert skipped > 0 and full > 3


def _direction_kernels(memory, calls=20, d=30):
    """Kernels (PyTorch operations other than views) of each deferred L-BFGS direction on
    a quadratic's gradients, once the memory is full."""
    from torch.utils._python_dispatch import TorchDispatchMode

    class Count(TorchDispatchMode):
        def __init__(self):
            super().__init__()
            self.kernels = 0

        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            self.kernels += not func.is_view
            return func(*args, **(kwargs or {}))

    rng = np.random.default_rng(3)
    H = torch.tensor(np.diag(np.linspace(1.0, 50.0, d)))
    direction = LBFGSDirection(memory)
    state = direction.init(None, None)
    counts = []
    with riding():
        for _ in range(calls):
            x = torch.tensor(rng.standard_normal(d))
            g = H @ x
            count = Count()
            with count:
                _, _, _, state = direction(
                    x, Evaluation(0.0, g, float(torch.linalg.vector_norm(g))), state, defer=True
                )
            to_floats(g[0])  # (the next evaluation's fetch: the riders settle)
            counts.append(count.kernels)
    return counts[-5:]


def test_lbfgs_on_the_device_costs_the_same_operations_whatever_the_memory():
    """The Gram form on the device: a fixed number of kernels per direction (each a launch
    on a GPU), the same with 3 pairs as with 30 and whatever slot the oldest pair is in,
    where the two-loop recursion makes about ten per pair. (A dozen of them move the
    memory's layout on the device by the last direction's tests, which so need not reach
    the host first.)"""
    small, large = _direction_kernels(3), _direction_kernels(30, calls=45)
    assert len(set(small + large)) == 1, (small, large)
    assert max(small) <= 82, small


def test_lbfgs_on_the_device_copies_nothing_from_the_host():
    """Once the memory is made, a deferred direction makes no tensor from host data (on a
    GPU a copy that waits for the device's queue), whatever the layout of its pairs:
    filling, full and moving on, pairs skipped, the memory cleared after a fallback."""
    xs, gs = _pairs_case(3)
    points = [(torch.tensor(x), torch.tensor(g)) for x, g in zip(xs, gs, strict=True)]
    with np.errstate(over="ignore"):  # (||g|| of the overflowing gradient: inf)
        norms = [float(np.linalg.norm(g)) for g in gs]
    direction = LBFGSDirection(3)
    state = direction.init(None, None)
    uploads = 0
    with riding(), np.errstate(all="ignore"):
        for i, ((x, g), gn) in enumerate(zip(points, norms, strict=True)):
            with count_host_syncs() as counts:
                _, _, _, state = direction(x, Evaluation(0.0, g, gn), state, defer=True)
            if i >= 2:  # (the memory is made at the second call)
                uploads += sum(counts[name] for name in ("asarray", "tensor", "as_tensor"))
            to_floats(g[0])
    assert state.device_gram is not None and uploads == 0


def _quadratic_directions(memory, calls, d=30):
    """Deferred L-BFGS directions on a quadratic's gradients at random points (every pair
    kept), with the memory on the device after each call."""
    rng = np.random.default_rng(11)
    H = torch.tensor(np.diag(np.linspace(1.0, 50.0, d)))
    direction = LBFGSDirection(memory)
    state = direction.init(None, None)
    out = []
    with riding():
        for _ in range(calls):
            x = torch.tensor(rng.standard_normal(d))
            g = H @ x
            ev = Evaluation(0.0, g, float(torch.linalg.vector_norm(g)))
            d_k, _, _, state = direction(x, ev, state, defer=True)
            to_floats(g[0])
            gram = state.device_gram
            shapes = None if gram is None else (gram.rows.shape, gram.cross.shape)
            held = (
                0
                if gram is None
                else sum(v.numel() for v in vars(gram).values() if isinstance(v, torch.Tensor))
            )
            out.append((d_k, shapes, held))
    return out


def test_lbfgs_on_the_device_grows_its_memory_as_pairs_come():
    """A large ``memory`` on the device holds 64 pairs at first, ``O(64 n + 64^2)``
    elements in all, and doubles them as pairs come: the directions are a memory of 64's
    while it holds no more pairs than that."""
    big, capped = _quadratic_directions(300, 70), _quadratic_directions(64, 70)
    for k in range(65):  # (from the 66th, with the first's none, the memory of 64 is full)
        (d_big, _, _), (d_capped, _, _) = big[k], capped[k]
        assert (d_big is None) == (d_capped is None)
        assert d_big is None or torch.equal(d_big, d_capped), k
    assert big[10][1] == ((130, 30), (2, 65, 65)) and big[10][2] <= 60 * 65**2
    assert big[-1][1] == ((258, 30), (2, 129, 129)) and big[-1][2] <= 60 * 129**2
    assert not torch.equal(big[-1][0], capped[-1][0])  # (the 64-pair memory dropped some)


def test_lbfgs_on_the_device_runs_with_a_memory_of_a_million_pairs():
    """``memory=10**6`` costs what the run keeps: its iterates are a memory of 64's."""
    model, x0 = _lp(4)()
    with cpu_as_accelerator():
        runs = [
            lfso.minimize(model, x0, method="lfso-lbfgs", memory=m, tol=0.0, max_iter=30)
            for m in (10**6, 64)
        ]
    assert runs[0].nit == 30 and torch.equal(runs[0].x, runs[1].x)


def test_lbfgs_on_the_device_from_a_state_used_twice():
    """A state whose memory a later call has moved on from (its Gram matrix is mutable):
    the second call from it makes the memory again from its pairs, and gives the same
    direction as the first."""
    rng = np.random.default_rng(5)
    H = torch.tensor(np.diag(np.linspace(1.0, 9.0, 6)))
    direction = LBFGSDirection(3)
    state = direction.init(None, None)
    with riding():
        for _ in range(6):
            x = torch.tensor(rng.standard_normal(6))
            g = H @ x
            ev = Evaluation(0.0, g, float(torch.linalg.vector_norm(g)))
            d_first, _, _, next_state = direction(x, ev, state, defer=True)
            to_floats(g[0])
            d_again, _, _, _ = direction(x, ev, state, defer=True)
            to_floats(g[0])
            torch.testing.assert_close(d_again, d_first, rtol=1e-12, atol=0.0)
            state = next_state
    # three kept, and the last call's candidate, whose tests are on their way
    assert len(state.pairs) == 3 and len(state.candidates) == 1


def test_lbfgs_on_the_device_falls_back_to_minus_g_with_its_norm_in_float32():
    """Float32 gradients of size 1e-36: ``y . y`` underflows (``gamma = s . y / y . y`` is
    infinite, ``d`` not finite), and the direction falls back to ``-g``, whose ``||g||^2``
    underflows too: its length is ``||g||`` as the evaluation measured it, not 0 (the
    step is sized along ``d`` scaled to unit length, which needs ``||d|| > 0``)."""
    direction = LBFGSDirection(3)
    state = direction.init(None, None)
    xs = [torch.tensor([0.0, 0.0]), torch.tensor([1e3, -2e3])]
    gs = [torch.tensor([3e-36, -4e-36]), torch.tensor([1e-36, -2e-36])]
    with riding():
        for x, g in zip(xs, gs, strict=True):
            gn = float(np.linalg.norm(g.numpy().astype(np.float64)))
            d, _, length, state = direction(x, Evaluation(0.0, g, gn), state, defer=True)
        assert d is not None and torch.equal(d, -gs[1])
        assert float(length) == pytest.approx(gn, rel=1e-6, abs=0.0)


def test_riders_come_back_with_the_next_fetch():
    a, b = torch.tensor(2.0, dtype=torch.float64), torch.tensor(3.0, dtype=torch.float32)
    outside = later(a)  # not riding: fetched at once
    assert outside.value == 2.0
    with riding():
        r1, r2 = later(a * 2), later(b > 1)
        assert r1.value is None
        five, seven = torch.tensor(5.0), torch.tensor(7.0)
        with count_host_syncs() as counts:
            values = to_floats(five, seven)
        assert values == [5.0, 7.0] and sum(counts.values()) == 1
        assert (r1.get(), r2.get()) == (4.0, 1.0)
        r3 = later(a + 1)
        with count_host_syncs() as counts:
            assert r3.get() == 3.0  # read before any fetch: one round trip of its own
        assert sum(counts.values()) == 1
    assert isinstance(r3, Later) and float(r3) == 3.0


def test_remembered_distances_ride_the_fetch_and_equal_norm():
    a, b = torch.tensor([1.0, 2.0, 3.0]), torch.tensor([0.5, -1.0, 2.0])
    remember_dot((a, b), (a, b), (a - b) @ (a - b))  # not riding: not remembered
    assert known_dot((a, b), (a, b)) is None
    with riding():
        v = a - b
        remember_dot((a, b), (a, b), v @ v)
        remember_dot((a, b), (b, a), v @ (b - a))
        one = torch.tensor(1.0)
        with count_host_syncs() as counts:
            to_floats(one)  # the evaluation's fetch brings them
            got, cross = distance(a, b), known_dot((a, b), (b, a))
        assert sum(counts.values()) == 1
        assert cross == -float(v @ v)
        assert got == norm(a - b)  # the same float as the host path
        assert known_dot((b, a), (b, a)) is None  # (other arrays: not known)
        zero = torch.zeros(3)
        remember_dot((zero, zero), (zero, zero), zero @ zero)
        assert distance(zero, zero) == 0.0  # (0: norm's own path, as without riding)


class _Recorder(lfso.models.LpRegression):
    """Records, for every evaluation, the exact error ``max |z - A x|`` of a carried product
    ``z`` against its claimed drift, and counts the evaluations that computed ``A x``."""

    checks: list[tuple[float, float]]
    fresh: int

    def evaluate(self, x, *, bound=True, probe=None, product=None):
        if product is None:
            self.fresh += 1
        else:
            exact = self.A.astype(np.float64) @ x.astype(np.float64)
            error = float(np.max(np.abs(product.value.astype(np.float64) - exact)))
            self.checks.append((error, float(product.drift)))
        return super().evaluate(x, bound=bound, probe=probe, product=product)


@pytest.mark.parametrize("method", ["lfso", "lfso-lbfgs"])
@pytest.mark.parametrize("scale", [1.0, 300.0])
def test_the_carried_product_drift_is_bounded_and_refreshed_in_float32(method, scale):
    """``A x_k + t_k A d_k`` carried for thousands of iterations drifts from ``A x_k`` by
    rounding: its claimed drift (:class:`lfso.models._rows.ProductDrift`) bounds the exact
    error every time, and the product is recomputed once the drift passes its budget (a
    far start, ``scale``, shrinks ``x`` by orders: the refreshes come early then). The
    columns scaled from 1 to 316 keep the runs going for all their iterations (a
    well-conditioned float32 run reaches its rounding, where the exact slope's bound ends
    it at ``PRECISION_LIMIT``, in a few hundred)."""
    A, b = lls_data(300, 20)
    columns = np.logspace(0.0, 2.5, 20)
    A, b = (A * columns).astype(np.float32), b.astype(np.float32)
    x0 = (scale / columns).astype(np.float32)
    model = _Recorder(A, b, 2)
    model.checks, model.fresh = [], 0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        lfso.minimize(model, x0, method=method, tol=0.0, max_iter=3000)
    errors, drifts = np.array(model.checks).T
    assert len(errors) >= 2000
    assert np.all(errors <= drifts), float(np.max(errors / drifts))
    assert 2 <= model.fresh <= len(errors) // 10  # refreshed, but seldom


def test_a_far_start_reports_the_true_f_of_its_point_in_float32():
    """From a far start ``x`` shrinks by orders while the carried product keeps the early
    iterates' absolute rounding: the reported ``f`` must still be ``f`` at the returned
    point (a logistic case whose carried margins once drifted by 36x in ``f``)."""
    X = np.array(
        [[368.5, 644.2], [-1.2, 0.7], [-69.2, -1814.3], [0.3, -0.1], [289.9, -17546.7]],
        np.float32,
    )
    y = np.array([0, 1, 1, 1, 1])
    model = lfso.models.LogisticRegression(X, y, l2=0.1)
    exact = lfso.models.LogisticRegression(X.astype(np.float64), y, l2=0.1)
    for method in ("lfso", "lfso-lbfgs"):
        res = lfso.minimize(model, np.array([-589.0, 43388.0], np.float32), method=method)
        assert res.success
        assert res.fun == pytest.approx(exact.value(res.x.astype(np.float64)), rel=1e-5)


@pytest.mark.parametrize("method", ["lfso", "lfso-lbfgs"])
@pytest.mark.parametrize("name", ["logistic", "lp"])
def test_certified_iterations_read_the_data_twice(name, method):
    """``u = A d`` replaces the next ``A x``: an iteration of ``lfso`` or ``lfso-lbfgs``
    reads ``A`` twice (``A d`` and ``A^T v``), as a GD iteration does (Dask chunk reads)."""
    da = pytest.importorskip("dask.array")
    import dask

    class Source:  # an in-memory array that counts dask's chunk reads
        def __init__(self, array):
            self.array, self.reads = array, 0
            self.shape, self.dtype, self.ndim = array.shape, array.dtype, array.ndim

        def __getitem__(self, index):
            self.reads += 1
            return self.array[index]

    rng = np.random.default_rng(0)
    A = rng.standard_normal((400, 5))
    b = A @ np.ones(5) + 0.5 * rng.standard_normal(400)
    source = Source(A)
    X = da.from_array(source, chunks=(100, 5), asarray=True)
    if name == "logistic":
        model = lfso.models.LogisticRegression(X, da.from_array(b > 0), l2=0.01)
    else:
        model = lfso.models.LpRegression(X, da.from_array(b), 2)
    reads = []
    with dask.config.set(scheduler="synchronous"), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for iters in (4, 10):
            source.reads = 0
            res = lfso.minimize(model, np.zeros(5), method=method, tol=0.0, max_iter=iters)
            assert res.nit == iters
            reads.append(source.reads)
    per_iteration = (reads[1] - reads[0]) / 6 / 4  # four chunks
    assert per_iteration <= 2.0, per_iteration
