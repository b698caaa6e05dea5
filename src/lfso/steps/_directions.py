"""Search directions for the certified step rules: steepest descent, L-BFGS, a user's.

A direction ``d`` at ``x`` is worth certifying only if it descends, ``g . d < 0``; every
direction here falls back to ``-g`` when its own choice does not (or is not finite), so a
certified step always exists. Each returns ``(d, g . d, ||d||, state)``; for steepest
descent ``d`` is ``None`` (meaning ``-g``: the rule then computes ``x - t g`` exactly as
LFSO-GD always has).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from typing import Any, NamedTuple

import numpy as np
from scipy.linalg.blas import dtrsv as _dtrsv

from .._arrays import (
    _DOT_DTYPES,
    error_gamma,
    host_vdot,
    materialize,
    materialize_all,
    namespace,
    norm_from_square,
    square_floor,
    to_floats,
)
from .._later import Later, later
from .._validate import call_user, integer, returned_array
from ..models import Evaluation, _fused
from ..models._base import PendingEvaluation
from ..models._segments import _host_dot, _numpy_view, _viewable
from ._base import Direction

__all__ = ["CallableDirection", "Direction", "LBFGSDirection", "SteepestDescent"]

#: A pair with ``s . y <= _CURVATURE ||s|| ||y||`` is skipped (no positive curvature seen).
_CURVATURE = 1e-10

#: The slots an L-BFGS memory on NumPy holds at first (:class:`_Gram`; more as pairs come).
_FIRST_SLOTS = 64


def _pair_scalars(s: Any, y: Any) -> tuple[Any, Any]:
    """``(rho, gamma) = (1 / s^T y, s^T y / y^T y)`` of an L-BFGS pair (0-d arrays)."""
    sy, yy = materialize_all(s @ y, y @ y)
    return _scalars_of(sy, yy)


def _scalars_of(sy: Any, yy: Any) -> tuple[Any, Any]:
    """``(rho, gamma)`` from ``s^T y`` and ``y^T y`` (Dask: persisted, as every later
    direction reads them)."""
    rho, gamma = materialize_all(1.0 / sy, sy / yy)
    return rho, gamma


def _steepest(evaluation: Evaluation) -> tuple[None, float, float]:
    gnorm = evaluation.grad_norm
    return None, -gnorm * gnorm, gnorm


class SteepestDescent(Direction):
    """``d = -grad f(x)`` (LFSO-GD, the paper's method)."""

    steepest = True

    on_device = True
    host_free = True

    def __call__(
        self, x: Any, evaluation: Evaluation, state: Any, *, defer: bool = False
    ) -> tuple[Any, Any, Any, Any]:
        if defer and isinstance(evaluation, PendingEvaluation) and evaluation.pending:
            # (its scalars on their way: ||g|| from the device's g . g)
            measured = evaluation.device_grad_norm()
            if measured is not None:
                return None, later(measured[1]), later(measured[0]), state
        return (*_steepest(evaluation), state)


class LBFGSState(NamedTuple):
    pairs: tuple[tuple[Any, Any], ...]  # (s_i, y_i), oldest first
    x: Any  # the previous iterate and its gradient (None at the start)
    grad: Any
    # (rho_i, gamma_i) of each pair as 0-d arrays, computed once; and (the device path,
    # defer=True) the newest pairs whose tests (pair kept, descent) are on their way to
    # the host, each with its tests as Later, oldest first (not in ``pairs`` yet).
    scalars: tuple[tuple[Any, Any], ...] = ()
    candidates: tuple[tuple[tuple[Any, Any], tuple[Later, Later]], ...] = ()
    # NumPy: the pairs as rows of one array with their Gram matrix (:class:`_Gram`), and
    # how many pairs it had taken when this state was made (a mutable memory moves on)
    gram: _Gram | None = None
    generation: int = 0
    # PyTorch on the device path (defer=True): the pairs' Gram matrix there
    device_gram: _DeviceGram | None = None


class _Gram:
    """The kept pairs of an L-BFGS memory on NumPy as rows of one array ``Z = [S; Y]``
    (``2m x n``; pair ``i`` in rows ``slot_i`` and ``m + slot_i``), with the products
    the recursion reads, ``Z Y^T`` (float64, ``2m x m``: ``S Y^T`` above ``Y Y^T``), kept
    up to date as pairs come and go: a new pair costs one product of ``Z`` with each of
    ``s`` and ``y``, and the direction (:meth:`direction`) one product of ``Z`` with ``g``
    and one of a ``2m``-vector with ``Z``, whatever ``m``. Mutable: a state owns at most
    one.

    The slots in use are always a run ``start, start + 1, ...`` (mod ``m``), oldest first;
    where the direction finds its numbers (:func:`_layout`) is made once per layout.

    A memory of more than :data:`_FIRST_SLOTS` pairs holds that many slots at first
    (``m`` above is :attr:`capacity`) and doubles them as pairs come, up to ``memory``:
    ``memory=10**5`` on a small problem takes what the run keeps, not ``2 m^2`` floats."""

    def __init__(self, memory: int, like: Any) -> None:
        n = int(like.shape[0])
        self.memory = memory
        self.capacity = capacity = min(memory, _FIRST_SLOTS)  # slots held (grows to memory)
        self.rows = np.zeros((2 * capacity, n), dtype=like.dtype)
        self.cross = np.zeros((2 * capacity, capacity))  # Z Y^T, by slot
        self._weights = np.zeros(2 * capacity)  # the last direction's, by row of Z
        self._scaled = np.empty(n, dtype=like.dtype)  # gamma g
        self.start = 0  # the oldest pair's slot
        self.count = 0  # pairs kept
        self.generation = 0  # pairs added so far: a state holding an older count is stale
        self._gamma = 1.0  # the newest pair's s . y / y . y
        self._layout = _layout(self.capacity, 0, 0)
        self._views_of(0)

    def _grow(self) -> None:
        """Twice the slots (at most ``memory``), the kept pairs copied (slots ``0 .. count
        - 1``: none has been dropped yet)."""
        old, k = self.capacity, self.count
        new = min(2 * old, self.memory)
        rows = np.zeros((2 * new, self.rows.shape[1]), dtype=self.rows.dtype)
        cross = np.zeros((2 * new, new))
        rows[:k], rows[new : new + k] = self.rows[:k], self.rows[old : old + k]
        cross[:k, :k], cross[new : new + k, :k] = self.cross[:k, :k], self.cross[old : old + k, :k]
        self.capacity, self.rows, self.cross = new, rows, cross
        self._weights = np.zeros(2 * new)

    def _views_of(self, count: int) -> None:
        """The views this memory reads through: ``Z Y^T`` flat, and a buffer for what the
        direction gathers of it (``R``, ``Y Y^T``, ``diag(R)`` of ``count`` pairs)."""
        self._flat = self.cross.reshape(-1)
        self._block = block = np.empty(2 * count * count + count)
        kk = count * count  # R (Fortran order, as BLAS reads it: no copy), Y Y^T, diag(R)
        r, yy = block[:kk].reshape(count, count).T, block[kk : 2 * kk].reshape(count, count)
        self._views = (r, yy, block[2 * kk :])

    def __getstate__(self) -> dict[str, Any]:
        """Without the views (a copy or a pickle would part them from what they view)."""
        state = dict(self.__dict__)
        for name in ("_flat", "_block", "_views"):
            del state[name]
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._views_of(self.count)

    @property
    def slots(self) -> list[int]:
        """The kept pairs' slots, oldest first."""
        return [(self.start + i) % self.capacity for i in range(self.count)]

    @classmethod
    def of(cls, memory: int, pairs: tuple[tuple[Any, Any], ...], like: Any) -> _Gram:
        """A memory holding ``pairs`` (oldest first)."""
        gram = cls(memory, like)
        for s, y in pairs[-memory:]:
            gram.add(s, y, float(s @ y), float(s @ s), float(y @ y))
        return gram

    def add(self, s: Any, y: Any, sy: float, ss: float, yy: float) -> None:
        """Keep the pair ``(s, y)``, dropping the oldest one when the memory is full.
        ``sy``, ``ss``, ``yy`` are its dot products on the host: ``sy`` and ``yy`` take
        the diagonal of ``R`` and of ``Y Y^T`` (as the pair test read them; ``ss`` no
        entry that the recursion reads)."""
        if self.count == self.capacity < self.memory:  # (start is 0: nothing dropped yet)
            self._grow()
        m, cross, rows = self.capacity, self.cross, self.rows
        self.generation += 1
        if self.count == m:  # (the memory is full: capacity is memory)
            slot = self.start
            self.start = (slot + 1) % m
        else:
            slot = self.count  # (slots fill 0, 1, ... before the first drop)
            self.count = slot + 1
            self._views_of(slot + 1)
        rows[slot], rows[m + slot] = s, y
        with_s, with_y = rows @ s, rows @ y  # every row against s and y
        cross[slot] = with_s[m:]  # s . y_j
        cross[m + slot] = with_y[m:]  # y . y_j
        cross[:, slot] = with_y  # s_j . y and y_j . y
        cross[slot, slot], cross[m + slot, slot] = sy, yy
        try:
            self._gamma = sy / yy
        except ZeroDivisionError:  # (y . y underflowed: NumPy's quotient, inf, as before)
            with np.errstate(divide="ignore", invalid="ignore"):
                self._gamma = float(np.float64(sy) / yy)
        self._layout = _layout(m, self.start, self.count)

    def direction(self, g: Any) -> Any:
        """``d = -H g`` by the two-loop recursion written in the Gram matrix (the same
        numbers in exact arithmetic). With pairs oldest first, ``a_i = s_i . g``, ``c_i =
        y_i . g``, ``R_ij = s_i . y_j`` and ``gamma`` the newest pair's ``s . y / y . y``:
        the first loop's ``alpha_i = (a_i - sum_{j > i} alpha_j R_ij) / R_ii`` solves the
        upper triangular ``triu(R) alpha = a``; its ``q = g - Y^T alpha`` has ``Y q = c -
        (Y Y^T) alpha``; the second loop's ``beta_i = (gamma (Y q)_i + sum_{j < i} (alpha_j
        - beta_j) R_ji) / R_ii`` says that ``delta = beta - alpha`` solves the lower
        triangular ``triu(R)^T delta = gamma Y q - diag(R) alpha``; and ``H g = gamma q +
        S^T (alpha - beta) = gamma g - S^T delta - gamma Y^T alpha``.

        Each product is one BLAS call (``Z g``, ``(Y Y^T) alpha``, ``w^T Z`` and the two
        solves, in place); ``d`` is a new array."""
        order, where, k = self._layout
        z = self.rows @ g
        if z.dtype != np.float64:
            z = z.astype(np.float64)
        z = z.take(order)  # a, then c
        # R^T, Y Y^T, diag(R) ("clip": every index is in range, and "raise" would copy)
        self._flat.take(where, out=self._block, mode="clip")
        r, yy, diagonal = self._views
        # (the BLAS wrapper's arguments and the ufuncs' out by position: the same calls,
        # without parsing keywords; dtrsv's are incx, offx, lower, trans, diag, overwrite_x)
        alpha = _dtrsv(r, z[:k], 1, 0, 0, 0, 0, 1)  # triu(R) alpha = a (BLAS)
        gamma = self._gamma
        rhs = z[k:] - yy @ alpha
        rhs *= gamma
        rhs -= diagonal * alpha
        delta = _dtrsv(r, rhs, 1, 0, 0, 1, 0, 1)  # triu(R)^T delta = rhs
        np.multiply(alpha, -gamma, z[k:])  # (c is spent, and then alpha)
        np.negative(delta, z[:k])
        weights = self._weights
        weights[order] = z  # -delta at the s rows, -gamma alpha at the y rows
        d = weights.astype(self.rows.dtype, copy=False) @ self.rows
        d += np.multiply(g, gamma, self._scaled)
        return np.negative(d, d)


@functools.lru_cache(maxsize=1024)
def _layout(memory: int, start: int, count: int) -> tuple[Any, Any, int]:
    """:attr:`_Gram._layout` of a memory of ``memory`` pairs holding ``count`` in the slots
    ``start, start + 1, ...`` (mod ``memory``), oldest first (``2 memory`` layouts per
    size): the rows of ``Z`` holding the ``s_i`` then the ``y_i``; the flat
    indices in ``Z Y^T`` of ``R^T`` (``R_ij = s_i . y_j``) and ``Y Y^T``, row by row, then
    of ``diag(R)``; and ``count``. Read-only arrays: shared."""
    slots = (start + np.arange(count, dtype=np.intp)) % memory
    order = np.concatenate((slots, slots + memory))
    r_t = slots[None, :] * memory + slots[:, None]  # (R^T)_ji = Z Y^T [s_i, y_j]
    yy = (slots[:, None] + memory) * memory + slots[None, :]
    where = np.concatenate((r_t.reshape(-1), yy.reshape(-1), slots * (memory + 1)))
    for array in (order, where):
        array.flags.writeable = False
    return order, where, count


class LBFGSDirection(Direction):
    """Limited-memory BFGS (Nocedal 1980; Liu & Nocedal 1989): ``d = -H_k g_k``.

    ``H_k`` is the inverse-Hessian approximation from the last ``memory`` pairs
    ``s_i = x_{i+1} - x_i``, ``y_i = g_{i+1} - g_i`` by the two-loop recursion, with
    ``H_k^0 = (s^T y / y^T y) I`` from the newest pair. A pair with
    ``s^T y <= 1e-10 ||s|| ||y||`` is skipped (the update would not be positive definite;
    non-convex or rounding). While every kept pair has ``s^T y > 0``, ``H_k`` is positive
    definite and ``g . d < 0``; if rounding makes ``g . d >= 0`` or ``d`` non-finite, the
    direction is ``-g`` and the memory is cleared. ``g = 0`` gives ``d = -g = 0``.

    On NumPy the recursion runs in the memory's Gram matrix (:class:`_Gram`: the pairs as
    rows of one array, two triangular solves of size ``m`` and one product each way with
    the rows; the same directions as the two-loop recursion in exact arithmetic). So it
    does on PyTorch CPU tensors (float32 or float64, no autograd, not inside
    :func:`lfso.bench.cpu_as_accelerator`), on zero-copy NumPy views of them: the same
    NumPy arithmetic, ``d`` a tensor sharing the result's memory. On other
    libraries the dot products of the two-loop recursion stay in the data's library (0-d
    arrays); the pair test, ``g . d`` and ``||d||`` come to the host in one round trip. With
    ``defer=True`` (PyTorch tensors in the loop, a certificate that sizes the step on the
    device) there is no round trip at all: the recursion runs in the Gram matrix on the
    device (:class:`_DeviceGram`, a fixed number of operations whatever ``memory``, one
    compiled pass for a model of :data:`lfso.models._fused.MIN_ROWS` rows or more), the
    new pair enters it masked by its test, and the oldest pair masked by the opposite when
    the memory is full, so the recursion uses exactly the pairs the host path would; ``d``
    falls back to ``-g`` by a device-side select; the next direction moves the memory's
    layout on the device by the two tests (drops the skipped pair, or clears the memory
    after a fallback) as the host path did one call earlier, and the tests travel to the
    host with the next evaluation (:mod:`lfso._later`), where the state's pairs take them
    once they have arrived: no call reads a host value.

    Parameters
    ----------
    memory : int >= 1
        Number of pairs kept.
    """

    on_device = True
    quasi_newton = True
    host_free = True

    def __init__(self, memory: int = 10) -> None:
        self.memory = integer(memory, "memory", low=1)

    def init(self, x: Any, evaluation: Evaluation) -> LBFGSState:
        return LBFGSState((), None, None)

    def _memory(self, state: LBFGSState | None) -> tuple[tuple[Any, Any], ...]:
        """The kept pairs ``((s_i, y_i), ...)``, oldest first: those the last direction
        used (none after a fallback to ``-g``); on the device path with the tests still on
        their way waited for (one round trip, once, after the run)."""
        if state is None:
            return ()
        return _settled(state.pairs, state.candidates, self.memory, wait=True)[0]

    @staticmethod
    def _two_loop(g: Any, pairs: tuple[tuple[Any, Any], ...], scalars: list[Any]) -> Any:
        q = g
        alphas = []
        for (s, y), (rho, _) in zip(reversed(pairs), reversed(scalars), strict=True):
            alpha = rho * (s @ q)
            alphas.append(alpha)
            q = q - alpha * y
        gamma = scalars[-1][1]
        r = gamma * q
        for (s, y), (rho, _), alpha in zip(pairs, scalars, reversed(alphas), strict=True):
            beta = rho * (y @ r)
            r = r + (alpha - beta) * s
        return -r

    def __call__(
        self, x: Any, evaluation: Evaluation, state: LBFGSState, *, defer: bool = False
    ) -> tuple[Any, Any, Any, LBFGSState]:
        if defer or state.candidates:
            return self._deferred(x, evaluation, state)
        g = evaluation.grad
        if type(g) is np.ndarray:
            if g.ndim == 1:
                return self._on_host(x, evaluation, state)
        elif g.ndim == 1 and _viewable(x, g) and not (x.requires_grad or g.requires_grad):
            return self._on_host(x, evaluation, state, views=True)
        memory = self.memory
        pairs, cache = state.pairs, state.scalars
        new_pair: tuple[Any, Any] | None = None
        dots: list[Any] = []  # s.y, s.s, y.y of the new pair
        if state.x is not None:
            # (Dask: the pair and its dot products persisted, as later directions read them)
            s, y = materialize_all(x - state.x, g - state.grad)
            new_pair = (s, y)
            dots = materialize_all(s @ y, s @ s, y @ y)
        candidates = pairs + ((new_pair,) if new_pair is not None else ())
        candidates = candidates[-memory:]
        if not candidates or evaluation.grad_norm == 0.0:
            d, gd, dnorm = _steepest(evaluation)
            return d, gd, dnorm, LBFGSState(pairs, x, g, cache)
        # (rho_i, gamma_i) of the kept pairs are computed once and carried in the state
        with np.errstate(all="ignore"):  # a bad new pair is caught below
            if len(cache) != len(pairs):
                cache = tuple(_pair_scalars(s, y) for s, y in pairs)
            fresh = () if new_pair is None else (_scalars_of(dots[0], dots[2]),)
            scalars = (cache + fresh)[-memory:]
            d = materialize(self._two_loop(g, candidates, list(scalars)))
        values = to_floats(g @ d, d @ d, *dots)
        gd, dd = values[0], values[1]
        if new_pair is not None:
            sy, ss, yy = values[2:]
            if not (sy > _CURVATURE * math.sqrt(ss * yy) and math.isfinite(sy * ss * yy)):
                # Skip the new pair: recompute from the old ones (rare; one more fetch).
                candidates, scalars = pairs[-memory:], cache[-memory:]
                if not candidates:
                    d, gd, dnorm = _steepest(evaluation)
                    return d, gd, dnorm, LBFGSState(pairs, x, g, cache)
                d = materialize(self._two_loop(g, candidates, list(scalars)))
                gd, dd = to_floats(g @ d, d @ d)
        if not (gd < 0.0 and math.isfinite(gd) and 0.0 < dd < math.inf):
            d, gd, dnorm = _steepest(evaluation)
            return d, gd, dnorm, LBFGSState((), x, g)
        return d, gd, norm_from_square(dd, d), LBFGSState(tuple(candidates), x, g, tuple(scalars))

    @np.errstate(all="ignore")  # a bad new pair is caught below
    def _on_host(
        self, x: Any, evaluation: Evaluation, state: LBFGSState, *, views: bool = False
    ) -> tuple[Any, Any, Any, LBFGSState]:
        """:meth:`__call__` on NumPy: the recursion in the memory's Gram matrix
        (:class:`_Gram`), the pair test, ``g . d`` and ``||d||`` on the host.

        ``views=True``: ``x`` and ``g`` are PyTorch CPU tensors (float32 or float64, on the
        host path, no autograd) and the same NumPy code runs on zero-copy views of them, of
        the previous iterate and gradient and (where the Gram matrix is made again) of the
        kept pairs. The state keeps tensors, as the other paths do (``x``, ``g`` and each
        new pair as a tensor sharing the NumPy array's memory), so a run that enters
        :func:`lfso.bench.cpu_as_accelerator` carries its memory on; ``d`` comes back as
        a tensor sharing the NumPy result's memory, of the data's dtype."""
        g, memory, pairs = evaluation.grad, self.memory, state.pairs
        kept_x, kept_g, wrap = x, g, _same
        last_x, last_g = state.x, state.grad
        if views:
            wrap = _tensor
            x, g = _numpy_view(x), _numpy_view(g)
            if last_x is not None:
                last_x, last_g = _numpy_view(last_x), _numpy_view(last_g)
        gram = state.gram
        if gram is None or gram.generation != state.generation or gram.rows.dtype != g.dtype:
            gram = None  # (a state from another path, or one a later call moved on from)
        if (last_x is None and not pairs) or evaluation.grad_norm == 0.0:
            d, gd, dnorm = _steepest(evaluation)
            return d, gd, dnorm, state._replace(x=kept_x, grad=kept_g, gram=gram, candidates=())
        if gram is None:
            gram = _Gram.of(memory, _host_pairs(pairs) if views else pairs, g)
        # (the choice _host_dot makes on each call, made once for the five: the same numbers)
        dot = host_vdot if g.dtype in _DOT_DTYPES else _host_dot
        if last_x is not None:
            s, y = x - last_x, g - last_g
            sy, ss, yy = float(dot(s, y)), float(dot(s, s)), float(dot(y, y))
            if sy > _CURVATURE * math.sqrt(ss * yy) and math.isfinite(sy * ss * yy):
                gram.add(s, y, sy, ss, yy)
                pairs = (*pairs, (wrap(s), wrap(y)) if views else (s, y))[-memory:]
        if not pairs:
            d, gd, dnorm = _steepest(evaluation)
            return d, gd, dnorm, LBFGSState(pairs, kept_x, kept_g, (), (), gram, gram.generation)
        d = gram.direction(g)
        gd, dd = float(dot(g, d)), float(dot(d, d))
        if not (gd < 0.0 and math.isfinite(gd) and 0.0 < dd < math.inf):
            d, gd, dnorm = _steepest(evaluation)
            return d, gd, dnorm, LBFGSState((), kept_x, kept_g)
        state = LBFGSState(pairs, kept_x, kept_g, (), (), gram, gram.generation)
        return wrap(d) if views else d, gd, norm_from_square(dd, d), state

    def _deferred(
        self, x: Any, evaluation: Evaluation, state: LBFGSState
    ) -> tuple[Any, Any, Any, LBFGSState]:
        """:meth:`__call__` with no host round trip (see the class docstring): the
        recursion in the memory's Gram matrix on the device (:class:`_DeviceGram`), which
        keeps its own layout there; the state's ``pairs`` take the candidates whose tests
        have reached the host (all of them, waiting, where the memory is made again)."""
        g, memory = evaluation.grad, self.memory
        gram = state.device_gram
        if gram is not None and gram.generation != state.generation:
            gram = None  # (a memory that a later call moved on from: made again below)
        pairs, candidates = _settled(state.pairs, state.candidates, memory, wait=gram is None)
        ahead = isinstance(evaluation, PendingEvaluation) and evaluation.pending
        if state.x is None or (not ahead and evaluation.grad_norm == 0.0):
            d, gd, dnorm = _steepest(evaluation)
            pairs, _ = _settled(pairs, candidates, memory, wait=True)
            generation = 0 if gram is None else gram.generation
            return d, gd, dnorm, LBFGSState(pairs, x, g, (), (), None, generation, gram)
        if gram is None:
            gram = _DeviceGram.of(memory, pairs, g)
        measured = evaluation.device_grad_norm() if ahead else None  # type: ignore[attr-defined]
        gnorm = evaluation.grad_norm if measured is None else measured[0]
        s, y, d, slope, length, ok, descent = gram.direction(
            x, state.x, g, state.grad, evaluation, gnorm
        )
        candidates += (((s, y), (later(ok), later(descent))),)
        next_state = LBFGSState(pairs, x, g, (), candidates, None, gram.generation, gram)
        return d, later(slope), later(length), next_state


def _settled(
    pairs: tuple[tuple[Any, Any], ...],
    candidates: tuple[tuple[tuple[Any, Any], tuple[Later, Later]], ...],
    memory: int,
    *,
    wait: bool,
) -> tuple[tuple[tuple[Any, Any], ...], tuple[tuple[tuple[Any, Any], tuple[Later, Later]], ...]]:
    """``(pairs, candidates)`` after the candidates whose tests are on the host, oldest
    first, moved the memory as the host path does (a pair kept joins it, dropping the
    oldest past ``memory``; a direction that did not descend clears it); ``wait=True``:
    all of them (a round trip for the tests still on their way)."""
    for done, (pair, (kept, descended)) in enumerate(candidates):
        if not wait and (kept.value is None or descended.value is None):
            return pairs, candidates[done:]
        if descended.get() == 0.0:  # the host path cleared the memory after its fallback
            pairs = ()
        elif kept.get() != 0.0:
            pairs = (*pairs, pair)[-memory:]
    return pairs, ()


class _DeviceGram:
    """The kept pairs of an L-BFGS memory on the device path (PyTorch tensors,
    ``defer=True``) in the Gram form of :class:`_Gram`, with one slot more than the
    memory: ``Z = [S; Y]`` (``2 (m + 1) x n``, the data's dtype; pair ``i`` in rows
    ``slot_i`` and ``m + 1 + slot_i``) and, in float64, ``S Y^T`` and ``Y Y^T`` by slot
    (``2 x (m + 1) x (m + 1)``). The kept pairs are the slots ``start, start + 1, ...``
    (mod ``m + 1``), oldest first, the layout's state ``start (m + 1) + count`` a 0-d
    array on the device; the direction gathers them to the first places (by tables made
    on the device, read at that state), so that every array it reads has the same shape
    whatever the layout.

    The newest pair is a *candidate* until the next direction: it goes to the slot after
    the kept ones (always free), written as zeros where its test failed, and the direction
    masks it by its test and, when the memory is full, the oldest pair by the opposite (a
    masked pair's row and column of ``R`` are those of the identity, its ``s . g`` and
    right-hand side 0: it takes no part), and so every place past the candidate's, so the
    recursion uses exactly the pairs the host path keeps. The next direction first moves
    the layout by the candidate's tests as the host path moved its memory. A direction
    costs a fixed number of operations on arrays of fixed shapes, whatever the memory and
    its layout (:func:`_device_direction`: two products with ``Z``, one with ``y``, two
    triangular solves of size ``m + 1``), where the two-loop recursion makes about ten per
    pair; for a model of :data:`lfso.models._fused.MIN_ROWS` rows or more on an accelerator
    (:func:`lfso.models._fused.iteration_compiles`) it is one compiled pass
    (:func:`lfso.models._fused.one_pass`). Nothing is copied from the host (the masks,
    the indices and the identity are made on the device with the memory; ``||g||``, the
    fallback's length, by a fill). Memory: ``Z`` holds the pairs a second time, as
    :class:`_Gram` does on NumPy (the state's ``pairs`` keep their own tensors, which the
    other paths and a memory made again read), ``2 (m + 1) n`` elements of the data's
    dtype, and ``O(m^2)`` more for the Gram matrices and the tables. Mutable: a state owns
    at most one (``generation``, as for :class:`_Gram`).

    As :class:`_Gram`, a memory of more than :data:`_FIRST_SLOTS` pairs holds that many at
    first (``m`` above is :attr:`capacity`) and doubles them, up to ``memory``, before a
    direction that could keep more (a bound on the host: one pair more per direction, no
    round trip); until it is full, its pairs are the slots ``0, 1, ...``, copied as they
    are. The directions are those of a memory that held ``capacity`` pairs from the start."""

    def __init__(self, memory: int, like: Any, capacity: int | None = None) -> None:
        import torch

        self.memory = memory
        # (pairs held at first, more as they come; the bound on the pairs kept at the next
        # direction, on the host: one more per direction, so that the memory grows in time)
        self.capacity = min(memory, _FIRST_SLOTS) if capacity is None else capacity
        self.bound = 0
        slots = self.slots = self.capacity + 1
        n, dtype, device = int(like.shape[0]), like.dtype, like.device
        f64 = torch.float64
        self.rows = torch.zeros((2 * slots, n), dtype=dtype, device=device)
        self.cross = torch.zeros((2, slots, slots), dtype=f64, device=device)
        self.generation = 0
        # The layout, on the device (0-d): its state ``start * slots + count`` (the oldest
        # kept pair's slot, the pairs kept), the newest kept pair's s . y / y . y (1 with
        # none), and the last direction's tests (``code = 2 ok + descent``, and each) and
        # candidate's s . y / y . y, which the next direction applies first (none yet: a
        # candidate that was not kept and a direction that descended change nothing).
        self.state = torch.zeros((), dtype=torch.int64, device=device)
        self.gamma = torch.ones((), dtype=f64, device=device)
        no = torch.zeros((), dtype=torch.bool, device=device)
        self.last = (self.state + 1, no, ~no, self.gamma)
        self._tables()

    def _tables(self) -> None:
        """Made on the device (no copy from the host): the identity; by the state and the
        last direction's code (``_next[4 state + code]``), the next state, its start and
        count and the candidate's rows of Z (``spare``); by start, the slots of the places
        (order) and the places of the slots (back); and by count, which places take part
        (``_takings``, contiguous: [0] where the candidate's test holds, the oldest pair
        making way in a full memory, [1] where it fails, the candidate's place not). Every
        table is of ``O(slots^2)`` elements."""
        import torch

        memory, slots, device = self.memory, self.slots, self.rows.device
        self._eye = torch.eye(slots, dtype=torch.float64, device=device)
        place = torch.arange(slots, device=device)
        states = torch.arange(slots * slots, device=device)
        start, count = (states // slots)[:, None], (states % slots)[:, None]
        codes = torch.arange(4, device=device)
        descent, kept = codes % 2 == 1, codes == 3
        full = count == memory
        after = torch.where(kept & full, (start + 1) % slots, start)
        then = torch.where(descent, torch.where(kept & ~full, count + 1, count), 0)
        spare = (after + then) % slots
        self._next = torch.stack((after * slots + then, after, then, spare, spare + slots), 2)
        self._next = self._next.reshape(-1, 5)
        starts = place[:, None]
        self._by_start = torch.cat(((place + starts) % slots, (place - starts) % slots), 1)
        counts = place[:, None]
        oldest = (counts == memory) & (place == 0)
        self._takings = torch.stack(((place <= counts) & ~oldest, place < counts), 1)

    def _grow(self, capacity: int) -> None:
        """``capacity`` pairs held (more than now), the slots copied: the memory has never
        been full, so its pairs are the slots ``0, 1, ...`` (start 0), and its state, the
        count, reads the same in the new tables."""
        old = self.slots
        self.capacity, self.slots = capacity, slots = capacity, capacity + 1
        rows = self.rows.new_zeros((2 * slots, self.rows.shape[1]))
        rows[:old], rows[slots : slots + old] = self.rows[:old], self.rows[old:]
        cross = self.cross.new_zeros((2, slots, slots))
        cross[:, :old, :old] = self.cross
        self.rows, self.cross = rows, cross
        self._tables()

    @classmethod
    def of(cls, memory: int, pairs: tuple[tuple[Any, Any], ...], like: Any) -> _DeviceGram:
        """A memory holding ``pairs`` (oldest first, tensors on ``like``'s device)."""
        import torch

        kept = pairs[-memory:]
        gram = cls(memory, like, min(memory, max(_FIRST_SLOTS, len(kept))))
        gram.bound, slots = len(kept), gram.slots
        for i, (s, y) in enumerate(kept):
            gram.rows[i] = s
            gram.rows[slots + i] = y
        if kept:
            gram.cross.view(2 * slots, slots).copy_(gram.rows @ gram.rows[slots:].T)
            s, y = kept[-1]
            gram.gamma = (s @ y).to(torch.float64) / (y @ y).to(torch.float64)
        gram.state = torch.full_like(gram.state, len(kept))  # (start 0)
        return gram

    def direction(
        self, x: Any, last_x: Any, g: Any, last_g: Any, evaluation: Evaluation, gnorm: Any
    ) -> tuple[Any, ...]:
        """The candidate pair ``(s, y)`` from the last iterate and gradient, and
        ``(s, y, d, g . d, ||d||, ok, descent)`` by :func:`_device_direction` (0-d tensors
        but ``s``, ``y`` and ``d``), after the last direction's tests moved the layout; one
        compiled pass where the evaluation's model is large enough
        (:func:`lfso.models._fused.iteration_compiles`). ``gnorm``: ``||g||`` as the
        evaluation measured it (a float, or a 0-d float64 array on the device)."""
        import array_api_compat.torch as compat
        import torch

        self.generation += 1
        if self.bound > self.capacity:  # (the pairs it may keep now: grown in time)
            self._grow(min(2 * self.capacity, self.memory))
        self.bound = min(self.bound + 1, self.memory)
        if not isinstance(gnorm, torch.Tensor):
            gnorm = torch.full((), gnorm, dtype=torch.float64, device=g.device)
        layout = (self.state, self.gamma, *self.last)
        tables = (self._next, self._by_start, self._takings, self._eye)
        arrays = (x, last_x, g, last_g, gnorm, self.rows, self.cross, *layout, *tables)
        compiled = _fused.iteration_compiles(evaluation)
        out = _fused.one_pass(_device_direction, *arrays) if compiled else None
        if out is None:
            out = _device_direction(compat, *arrays)
        *values, self.state, self.gamma, new, code = out
        self.last = (code, values[5], values[6], new)  # (code, ok, descent, s . y / y . y)
        return tuple(values)


def _device_direction(
    xp: Any,
    x: Any,
    last_x: Any,
    g: Any,
    last_g: Any,
    gnorm: Any,
    rows: Any,
    cross: Any,
    state: Any,
    gamma: Any,
    last_code: Any,
    last_ok: Any,
    last_descent: Any,
    last_new: Any,
    nexts: Any,
    by_start: Any,
    takings: Any,
    eye: Any,
) -> tuple[Any, ...]:
    """:class:`_DeviceGram`'s direction, PyTorch operations on arrays of fixed shapes (so
    one compiled graph serves every layout; ``xp`` is not used: the operations are
    PyTorch's).

    First the last direction's tests move the layout (``state = start * slots + count``
    and ``gamma``, 0-d) as the host path moved its memory: a candidate kept (``last_ok``
    with ``last_descent``) joins it, the oldest pair making way in a full memory, and its
    ``s . y / y . y`` (``last_new``) becomes ``gamma``; a direction that did not descend
    clears it (``count = 0``, ``gamma = 1``): the next state is ``nexts[4 state +
    last_code, 0]`` (that row's others: its start, its count, and the candidate's rows of
    ``Z``, ``spare``). The start's row of ``by_start`` holds the places' slots
    (``order``) and the slots' places (``back``), and the count's row of ``takings``
    which places take part.

    With ``s = x - last_x``, ``y = g - last_g`` and the test ``ok`` (``s . y > 1e-10 ||s||
    ||y||``, ``s . y ||s||^2 ||y||^2`` finite), the candidate's rows of ``Z`` (the slots
    ``spare``) take ``s`` and ``y`` where ``ok``, zeros otherwise, and its column of ``S
    Y^T`` and ``Y Y^T`` and row of ``Y Y^T`` in ``cross`` their products (``Z y``); the
    places' ``z = Z g`` and Gram matrices are gathered by ``order``; ``taking`` says which
    places take part (by the test); ``gamma`` is the newest kept pair's, replaced by the
    candidate's where ``ok``; then :meth:`_Gram.direction`'s arithmetic, the masked
    places' rows of ``R`` the identity's, and the weights put back by slot (``back``).
    ``d`` falls back to ``-g`` where it does not descend (``g . d < 0``, ``0 < ||d||^2 <
    inf``), with ``g . d = -||g||^2`` and length ``||g||`` from ``gnorm`` (the
    evaluation's ``||g||``, float64, 0-d), rounded to the data's dtype. Returns ``(s, y, d,
    g . d, ||d||, ok, descent, state, gamma, s . y / y . y, 2 ok + descent)`` (the layout
    before the candidate); ``rows`` and ``cross`` are updated in place."""
    import torch

    f64 = torch.float64
    slots = cross.shape[1]
    kept = last_ok & last_descent
    gamma = torch.where(last_descent, torch.where(kept, last_new, gamma), 1.0)
    moved = nexts.index_select(0, (state * 4 + last_code).view(1))[0]
    state, spare = moved[0], moved[3:]  # (and its start and count)
    layout = by_start.index_select(0, moved[1:2])[0]
    order, back = layout[:slots], layout[slots:]
    taking = takings.index_select(0, moved[2:3])[0]
    s, y = x - last_x, g - last_g
    sy, ss, yy = s @ y, s @ s, y @ y
    # (where s . y > 0, s.y ss yy is finite exactly where it is below inf; NaN fails)
    ok = (sy > _CURVATURE * torch.sqrt(ss * yy)) & (sy * ss * yy < math.inf)
    pair = torch.stack((torch.where(ok, s, 0.0), torch.where(ok, y, 0.0)))
    rows.index_copy_(0, spare, pair)
    with_y = (rows @ pair[1]).to(f64)  # s_j . y and y_j . y (and s . y, y . y), by slot
    cross.index_copy_(2, spare[:1], with_y.view(2, slots, 1))
    cross[1].index_copy_(0, spare[:1], with_y[slots:].view(1, slots))  # y . y_j
    z = (rows @ g).to(f64).view(2, slots).index_select(1, order)  # S g, then Y g, by place
    gathered = cross.index_select(1, order).index_select(2, order)
    r, yy_block = gathered[0], gathered[1]
    diagonal = r.diagonal()
    on = torch.where(ok, taking[0], taking[1])  # the places that take part
    r = torch.where(on[:, None] & on[None, :], r, eye)
    new = sy.to(f64) / yy.to(f64)
    using = torch.where(ok, new, gamma)
    a = torch.where(on, z[0], 0.0)
    alpha = torch.linalg.solve_triangular(r, a[:, None], upper=True)[:, 0]  # triu(R)
    rhs = z[1] - yy_block @ alpha
    rhs = torch.where(on, rhs * using - diagonal * alpha, 0.0)
    delta = torch.linalg.solve_triangular(r.T, rhs[:, None], upper=False)[:, 0]
    weights = torch.stack((delta, using * alpha)).index_select(1, back)  # by slot
    d = weights.reshape(-1).to(rows.dtype) @ rows - using.to(g.dtype) * g
    slope, dd = g @ d, d @ d
    # (dd below n tiny: d's squares may have underflowed and sqrt(dd) fall short of ||d||
    # (lfso._arrays.norm_from_square); -g is taken there, at no extra kernel)
    descent = (slope < 0.0) & (slope > -math.inf) & (dd >= square_floor(d)) & (dd < math.inf)
    d = torch.where(descent, d, -g)
    # ||-g|| as the evaluation measured it (on the host, in float64): in the data's dtype
    # ||g||^2 underflows where ||g|| is below the square root of its smallest normal number
    # (1e-19 in float32), and the step is sized along d scaled by 2^k = 1 / ||d||
    # (lfso.steps.SegmentCertificate), which needs ||d|| > 0. (Rounded to the data's
    # dtype: past its range, inf.)
    slope = torch.where(descent, slope, (-(gnorm * gnorm)).to(slope.dtype))
    length = torch.where(descent, torch.sqrt(dd), gnorm.to(dd.dtype))
    code = torch.where(ok, 2, 0) + descent
    return s, y, d, slope, length, ok, descent, state, gamma, new, code


def _same(array: Any) -> Any:
    return array


def _tensor(array: np.ndarray) -> Any:
    """A NumPy array as a PyTorch tensor sharing its memory."""
    import torch

    return torch.from_numpy(array)


def _host_pairs(pairs: tuple[tuple[Any, Any], ...]) -> tuple[tuple[Any, Any], ...]:
    """The pairs' NumPy views (tensors kept by the host path on CPU tensors, or by the
    device path before a run left :func:`lfso.bench.cpu_as_accelerator`)."""
    return tuple((_numpy_view(s), _numpy_view(y)) for s, y in pairs)


class CallableDirection(Direction):
    """A user's direction ``direction(x, g) -> d`` (a real array like ``x``), sized by the
    certificate; ``-g`` where it does not descend (``g . d >= 0``, or ``-g . d`` within
    the rounding of the dot product, ``gamma_n ||g|| ||d||``: ``d`` orthogonal to ``g``)
    or is not finite.

    The callable gets its own copies of ``x`` and ``g`` (as a callback does), so one that
    changes its arguments in place changes neither the run nor its result; a ``d`` of
    another real dtype (integer, or a float64 ``d`` for a float32 ``x``) is taken in
    ``x``'s dtype, and another (complex, boolean, a wrong shape) raises."""

    def __init__(self, direction: Callable[[Any, Any], Any]) -> None:
        if not callable(direction):
            raise TypeError(f"direction must be callable as direction(x, g), got {direction!r}")
        self.direction = direction

    def __call__(
        self, x: Any, evaluation: Evaluation, state: Any, *, defer: bool = False
    ) -> tuple[Any, float, float, Any]:
        g = evaluation.grad
        xp = namespace(g)
        raw = call_user(
            self.direction, "direction(x, g)", xp.asarray(x, copy=True), xp.asarray(g, copy=True)
        )
        d = returned_array(raw, "direction(x, g)", g, xp)
        if d.dtype != x.dtype:  # (a float64 d would turn a float32 run into a float64 one)
            d = xp.astype(d, x.dtype)
        gd, dd = to_floats(g @ d, d @ d)
        if not (gd < 0.0 and math.isfinite(gd) and 0.0 < dd < math.inf):
            return (*_steepest(evaluation), state)
        length = norm_from_square(dd, d)
        # |fl(g . d) - g . d| <= gamma_n ||g|| ||d||: a slope within that is of rounding
        # (d orthogonal to g), whose sign tells nothing and whose step is of its size
        gamma = error_gamma(int(d.shape[0]), x.dtype)  # (finite for any length)
        if not -gd > gamma * evaluation.grad_norm * length:
            return (*_steepest(evaluation), state)
        return d, gd, length, state
