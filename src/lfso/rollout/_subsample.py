"""A pilot task: the same row model on a subset of its data's rows."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from .._validate import integer
from ..models import Model
from ..models._rows import take_rows


def _row_indices(rows: Any, n: int, seed: int) -> np.ndarray:
    if isinstance(rows, (bool, np.bool_)):
        raise TypeError(f"rows must be a count, a fraction or row indices, got rows={rows!r}")
    if isinstance(rows, (float, np.floating)):  # (a NumPy float32 too)
        rows = float(rows)
        if not 0.0 < rows <= 1.0:
            raise ValueError(f"rows as a fraction must be in (0, 1], got rows={rows!r}")
        rows = max(1, round(rows * n))
    if isinstance(rows, (int, np.integer)):
        k = int(rows)
        if not 1 <= k <= n:
            raise ValueError(f"rows as a count must be in [1, {n}], got rows={k}")
        return np.sort(np.random.default_rng(seed).choice(n, size=k, replace=False))
    idx = np.asarray(rows)
    if idx.ndim != 1 or idx.size == 0 or idx.dtype.kind not in "iu":
        raise TypeError(f"rows must be a non-empty 1-D sequence of integers, got {rows!r}")
    if idx.min() < 0 or idx.max() >= n:
        raise ValueError(f"row indices must be in [0, {n}), got min {idx.min()}, max {idx.max()}")
    values, counts = np.unique(idx, return_counts=True)
    if counts.max() > 1:
        twice = values[counts > 1]
        raise ValueError(
            f"row indices must be distinct (a subset of the rows), got row {int(twice[0])} "
            f"{int(counts[counts > 1][0])} times ({twice.size} repeated)"
        )
    return idx


def subsample(model: Model, rows: int | float | Sequence[int], *, seed: int = 0) -> Model:
    """The same model on a subset of its data's rows (a pilot task).

    Rebuilds :class:`~lfso.models.LpRegression`,
    :class:`~lfso.models.CompositeLeastSquares`, :class:`~lfso.models.CauchyRegression`,
    :class:`~lfso.models.LogisticRegression` and :class:`~lfso.models.SoftmaxRegression`
    with the same settings (power, oracle, ``l2``, intercept) from the chosen rows; the data
    stay in their array library and on their device. Rows whose labels are of one class are
    kept, as the classifiers take them (a part of a problem with two or more classes, as a
    minibatch is). A weighted classifier (``LFSOLogisticRegression.fit(sample_weight=)``'s)
    keeps the weights of the kept rows.

    Parameters
    ----------
    model : row model
    rows : int, float or sequence of int
        A count (that many rows drawn without replacement, in order), a fraction in
        ``(0, 1]`` of the rows, or the row indices themselves (distinct: a repeated row
        would weigh twice in the pilot's objective, not the same model on fewer rows).
    seed : int >= 0
        Seed of the draw.

    Examples
    --------
    >>> import numpy as np, lfso
    >>> A, b = np.arange(12.0).reshape(6, 2), np.ones(6)
    >>> small = lfso.rollout.subsample(lfso.models.LpRegression(A, b, 2), [0, 2, 4])
    >>> small.A.tolist()
    [[0.0, 1.0], [4.0, 5.0], [8.0, 9.0]]
    """
    from ..models import (
        CauchyRegression,
        CompositeLeastSquares,
        LogisticRegression,
        LpRegression,
        SoftmaxRegression,
    )
    from ..models._weighted import WeightedLogistic, WeightedSoftmax

    m: Any = model  # (attributes set by the models' shared initialisers)
    row_models = (
        LpRegression,
        CompositeLeastSquares,
        CauchyRegression,
        LogisticRegression,
        SoftmaxRegression,
    )
    data = model.data
    if not isinstance(model, row_models) or data is None:
        raise TypeError(
            "subsample needs a row model (LpRegression, CompositeLeastSquares, "
            f"CauchyRegression, LogisticRegression, SoftmaxRegression), got "
            f"{type(model).__name__}; pilot on a short budget instead (pilot's rows=None, "
            "rollout's pilot_rows=None)"
        )
    xp = m.xp
    taken = take_rows(model, _row_indices(rows, int(data.shape[0]), integer(seed, "seed", low=0)))
    if isinstance(model, (LpRegression, CompositeLeastSquares)):
        return type(model)(taken["A"], taken["b"], m.p, oracle=m.oracle)
    if isinstance(model, CauchyRegression):
        return CauchyRegression(taken["A"], taken["b"], m.c, l2=m.l2)
    X = taken["X"]
    if m.fit_intercept:  # the models append the constant column themselves
        X = X[:, :-1]
    # (a weighted model's rows keep their weights: they are among its row arrays)
    weights = (taken["weights"],) if isinstance(model, (WeightedLogistic, WeightedSoftmax)) else ()
    if isinstance(model, LogisticRegression):
        logistic = WeightedLogistic if weights else LogisticRegression
        return logistic(
            X,
            taken["signs"],
            *weights,
            l2=m.l2,
            fit_intercept=m.fit_intercept,
            oracle=m.oracle,
        )
    y = xp.argmax(taken["onehot"], axis=1)
    softmax = WeightedSoftmax if weights else SoftmaxRegression
    return softmax(X, y, m.K, *weights, l2=m.l2, fit_intercept=m.fit_intercept)
