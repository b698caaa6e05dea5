"""The L-BFGS memory on NumPy (:class:`lfso.steps._directions._Gram`): the numbers its
direction reads, bit for bit the recursion written in the whole Gram matrix ``Z Z^T``
(the same BLAS calls on the same values), as pairs arrive, the ring of slots wraps and the
oldest pairs are dropped; the direction it returns is the caller's own array."""

from __future__ import annotations

import copy
import math
import pickle
import warnings

import numpy as np
import pytest
from scipy.linalg.blas import dtrsv

import lfso
from lfso.models import Evaluation, LpRegression
from lfso.steps import CertifiedStep, LBFGSDirection, SegmentCertificate
from lfso.steps._directions import _Gram, _layout, _pair_scalars

DTYPES = [np.float64, np.float32]


class _WholeGram:
    """The recursion in the whole Gram matrix ``G = Z Z^T`` (``2m x 2m``), indexed with
    the slots of the kept pairs, oldest first: the reference the memory must match."""

    def __init__(self, memory: int, n: int, dtype: type) -> None:
        self.memory = memory
        self.rows = np.zeros((2 * memory, n), dtype=dtype)
        self.gram = np.zeros((2 * memory, 2 * memory))
        self.slots: list[int] = []

    def add(self, s, y, sy: float, ss: float, yy: float) -> None:
        m, slots, gram = self.memory, self.slots, self.gram
        slot = slots.pop(0) if len(slots) == m else len(slots)
        ys = m + slot
        self.rows[slot], self.rows[ys] = s, y
        with_s, with_y = self.rows @ s, self.rows @ y
        gram[:, slot] = gram[slot, :] = with_s
        gram[:, ys] = gram[ys, :] = with_y
        gram[slot, slot], gram[slot, ys], gram[ys, slot], gram[ys, ys] = ss, sy, sy, yy
        slots.append(slot)

    def direction(self, g):
        s_rows = np.array(self.slots)
        y_rows = s_rows + self.memory
        order = np.concatenate((s_rows, y_rows))
        k = len(s_rows)
        z = (self.rows @ g).astype(np.float64)[order]
        block = self.gram[order[:, None], y_rows]
        r, yy = block[:k], block[k:]
        alpha = dtrsv(r, z[:k])
        gamma = float(r[-1, -1] / yy[-1, -1])
        yq = z[k:] - yy @ alpha
        delta = dtrsv(r, gamma * yq - r.diagonal() * alpha, trans=1)
        weights = np.zeros(self.rows.shape[0])
        weights[s_rows] = -delta
        weights[y_rows] = -gamma * alpha
        return -(gamma * g + weights.astype(self.rows.dtype) @ self.rows)


def _pairs(rng, n: int, count: int, dtype: type):
    """Pairs with ``s . y > 0`` and a spread of curvatures, and a gradient after each."""
    scales = np.geomspace(1.0, 1e3, n)
    for _ in range(count):
        s = rng.standard_normal(n).astype(dtype)
        y = (scales * s + 0.1 * rng.standard_normal(n)).astype(dtype)
        yield s, y, rng.standard_normal(n).astype(dtype)


def _dots(s, y) -> tuple[float, float, float]:
    return float(np.vdot(s, y)), float(np.vdot(s, s)), float(np.vdot(y, y))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("memory", [1, 2, 5, 10])
def test_the_memorys_direction_is_the_whole_grams_bit_for_bit(memory, dtype):
    rng = np.random.default_rng(memory)
    n = 37
    gram, whole = _Gram(memory, np.zeros(n, dtype)), _WholeGram(memory, n, dtype)
    for s, y, g in _pairs(rng, n, 3 * memory + 2, dtype):
        gram.add(s, y, *_dots(s, y))
        whole.add(s, y, *_dots(s, y))
        assert gram.slots == whole.slots
        got, expected = gram.direction(g), whole.direction(g)
        assert got.dtype == dtype
        np.testing.assert_array_equal(got, expected)


@pytest.mark.parametrize("memory", [1, 3, 10])
def test_what_the_direction_reads_is_r_yy_and_the_diagonal(memory):
    """The layout gathers ``R_ij = s_i . y_j``, ``Y Y^T`` and ``diag(R)`` (the pairs' own
    ``s . y``, exactly) of the kept pairs, oldest first, wherever the ring starts."""
    rng = np.random.default_rng(memory + 100)
    n = 20
    gram, kept = _Gram(memory, np.zeros(n)), []
    for s, y, _ in _pairs(rng, n, 2 * memory + 3, np.float64):
        sy, ss, yy = _dots(s, y)
        gram.add(s, y, sy, ss, yy)
        kept = [*kept, (s, y, sy)][-memory:]
        order, where, count = gram._layout
        assert (order, where, count) == _layout(memory, gram.start, gram.count)
        assert count == len(kept) and list(order[:count]) == gram.slots
        S = np.array([p[0] for p in kept])
        Y = np.array([p[1] for p in kept])
        block = gram.cross.reshape(-1)[where]
        k2 = count * count
        r = block[:k2].reshape(count, count).T
        yy_block = block[k2 : 2 * k2].reshape(count, count)
        np.testing.assert_allclose(r, S @ Y.T, rtol=1e-12, atol=1e-12 * np.abs(S @ Y.T).max())
        np.testing.assert_allclose(yy_block, Y @ Y.T, rtol=1e-12)
        assert list(block[2 * k2 :]) == [p[2] for p in kept]


def test_the_direction_is_a_new_array_each_call():
    """The memory's buffers never leave it: a direction is unchanged by the next one."""
    rng = np.random.default_rng(7)
    n = 12
    gram = _Gram(4, np.zeros(n))
    for s, y, _ in _pairs(rng, n, 6, np.float64):
        gram.add(s, y, *_dots(s, y))
    g1, g2 = rng.standard_normal(n), rng.standard_normal(n)
    first = gram.direction(g1)
    kept = first.copy()
    second = gram.direction(g2)
    assert not np.shares_memory(first, second)
    buffers = [v for v in vars(gram).values() if isinstance(v, np.ndarray)]
    assert len(buffers) >= 4 and not any(np.shares_memory(first, b) for b in buffers)
    np.testing.assert_array_equal(first, kept)


@pytest.mark.parametrize("dtype", DTYPES)
def test_lbfgs_on_numpy_is_the_two_loop_recursion_along_a_run(dtype):
    """Through :class:`LBFGSDirection` (pair test, memory, fallback): the two-loop
    recursion's directions (Nocedal 1980) to rounding, on a quadratic's iterates."""
    rng = np.random.default_rng(3)
    n, memory = 15, 4
    h = np.diag(np.geomspace(1.0, 50.0, n))
    direction = LBFGSDirection(memory)
    x = rng.standard_normal(n).astype(dtype)

    def evaluation(x):
        g = (h @ x).astype(dtype)
        return Evaluation(value=0.5 * float(x @ h @ x), grad=g, grad_norm=float(np.linalg.norm(g)))

    state = direction.init(x, evaluation(x))
    pairs: list = []
    last = None
    for _ in range(12):
        ev = evaluation(x)
        d, gd, dnorm, state = direction(x, ev, state)
        if last is not None:
            pairs = [*pairs, (x - last[0], ev.grad - last[1])][-memory:]
        if pairs:
            scalars = [_pair_scalars(s, y) for s, y in pairs]
            expected = LBFGSDirection._two_loop(ev.grad, tuple(pairs), scalars)
            rtol = 1e-9 if dtype == np.float64 else 2e-3
            np.testing.assert_allclose(d, expected, rtol=rtol, atol=rtol * np.abs(expected).max())
            assert gd == float(np.vdot(ev.grad, d)) and dnorm == math.sqrt(float(np.vdot(d, d)))
        last = (x, ev.grad)
        x = (x + 0.5 * (d if d is not None else -ev.grad)).astype(dtype)


def test_a_pair_whose_y_dot_y_underflows_falls_back_to_steepest_descent():
    """``s . y > 0`` passes the pair test while ``y . y`` underflows to 0: the scaling
    ``s . y / y . y`` is inf, the direction is not finite, and the rule takes ``-g`` and
    clears its memory, without an error or a warning."""
    rule = LBFGSDirection(3)
    g0 = np.array([1e-170, 1e-170])
    x0, x1, g1 = np.zeros(2), np.array([1e150, 1e150]), 2 * g0

    def evaluation(g):
        return Evaluation(value=0.0, grad=g, grad_norm=float(np.hypot(*g)))

    state = rule(x0, evaluation(g0), rule.init(x0, evaluation(g0)))[3]
    s, y = x1 - x0, g1 - g0
    assert float(s @ y) > 0.0 and float(y @ y) == 0.0
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        d, _, dnorm, state = rule(x1, evaluation(g1), state)
    assert d is None and dnorm == float(np.hypot(*g1)) and state.pairs == ()


@pytest.mark.parametrize("copy_of", [copy.deepcopy, lambda gram: pickle.loads(pickle.dumps(gram))])
def test_a_copied_memory_goes_on_as_the_original(copy_of):
    """A deep copy or a pickle (a saved optimiser state) of the memory, given the same
    pairs and gradients as the original, gives its directions bit for bit."""
    rng = np.random.default_rng(11)
    n, memory = 9, 3
    gram = _Gram(memory, np.zeros(n))
    pairs = list(_pairs(rng, n, 2 * memory + 3, np.float64))
    for s, y, _ in pairs[: memory + 1]:  # (full: the ring has wrapped)
        gram.add(s, y, *_dots(s, y))
    twin = copy_of(gram)
    for s, y, g in pairs[memory + 1 :]:
        for memory_ in (gram, twin):
            memory_.add(s, y, *_dots(s, y))
        np.testing.assert_array_equal(twin.direction(g), gram.direction(g))
        assert not np.shares_memory(twin.cross, gram.cross)


@pytest.mark.parametrize("dtype", DTYPES)
def test_a_large_memory_holds_what_it_keeps_and_gives_the_whole_grams_directions(dtype):
    """A memory of more pairs than it starts with grows as they come: its directions are
    the whole Gram's (to rounding while it grows, bit for bit once it holds ``memory``)."""
    memory, n = 150, 37
    rng = np.random.default_rng(5)
    gram, whole = _Gram(memory, np.zeros(n, dtype)), _WholeGram(memory, n, dtype)
    assert gram.rows.shape[0] < 2 * memory and gram.cross.size < memory * memory
    rtol = 1e-12 if dtype == np.float64 else 1e-5
    for s, y, g in _pairs(rng, n, 2 * memory + 2, dtype):
        gram.add(s, y, *_dots(s, y))
        whole.add(s, y, *_dots(s, y))
        assert gram.slots == whole.slots
        got, expected = gram.direction(g), whole.direction(g)
        if gram.rows.shape[0] == 2 * memory:
            np.testing.assert_array_equal(got, expected)
        else:
            np.testing.assert_allclose(got, expected, rtol=0, atol=rtol * np.abs(expected).max())
    assert gram.rows.shape[0] == 2 * memory


def test_a_run_with_a_memory_far_above_its_iterations_allocates_what_it_keeps():
    """``memory=10**6`` on five variables: the run is that of ``memory=10`` (it keeps
    fewer pairs than either), not a 14 TiB Gram matrix."""
    rng = np.random.default_rng(0)
    model = LpRegression(rng.standard_normal((30, 5)), rng.standard_normal(30), 1)

    def run(memory):
        rule = CertifiedStep(LBFGSDirection(memory=memory), SegmentCertificate())
        return lfso.minimize(model, np.zeros(5), method=rule, max_iter=8)

    huge, small = run(10**6), run(10)
    assert huge.nit == small.nit <= 8 and np.array_equal(huge.x, small.x)


def test_callable_direction_of_two_to_the_24_float32_entries_raises_nothing():
    """The rounding test of ``g . d`` with ``n u = 1`` (``2^24`` float32 entries) divided
    by ``1 - n u = 0``: it takes ``gamma_n`` finite, and a ``d`` whose slope that
    rounding bound cannot certify (``gamma_n >= 1``) gives way to ``-g``."""
    from lfso.steps._directions import CallableDirection

    n = 2**24
    g = np.full(n, 2.0**-12, dtype=np.float32)
    evaluation = Evaluation(value=1.0, grad=g, grad_norm=1.0)
    d, _, _, _ = CallableDirection(lambda x, grad: -grad)(np.zeros(n, np.float32), evaluation, None)
    assert d is None  # (steepest descent)
