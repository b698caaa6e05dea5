"""Rows of a row model: one helper (``take_rows``) behind the minibatches of
``minimize(..., batch_size=)`` and the pilot task of ``lfso.rollout.subsample``."""

from __future__ import annotations

import numpy as np
import pytest

import lfso
from lfso.models._rows import take_rows
from lfso.stochastic import RowBatches

RNG = np.random.default_rng(3)
A = RNG.standard_normal((12, 3))
B = RNG.standard_normal(12)
LABELS = np.arange(12) % 3
IDX = np.array([0, 4, 5, 11])


def _models():
    return {
        "lp": lfso.models.LpRegression(A, B, 2),
        "composite": lfso.models.CompositeLeastSquares(A, B, 2),
        "cauchy": lfso.models.CauchyRegression(A, B, 1.0),
        "logistic": lfso.models.LogisticRegression(A, LABELS % 2),
        "softmax": lfso.models.SoftmaxRegression(A, LABELS, 3),
    }


@pytest.mark.parametrize("name", sorted(_models()))
def test_take_rows_takes_each_row_indexed_array(name):
    model = _models()[name]
    names = type(model).row_arrays
    taken = take_rows(model, IDX, extra=np.arange(12.0))
    assert list(taken) == [*names, "extra"]
    for array_name in names:
        np.testing.assert_array_equal(taken[array_name], getattr(model, array_name)[IDX])
    np.testing.assert_array_equal(taken["extra"], IDX.astype(float))


@pytest.mark.parametrize("name", ["lp", "cauchy", "logistic", "softmax"])
def test_a_minibatch_and_a_subsample_take_the_same_rows(name):
    model = _models()[name]
    batch = RowBatches(model)(IDX)
    pilot = lfso.rollout.subsample(model, IDX)
    for array_name in type(model).row_arrays:
        np.testing.assert_array_equal(getattr(batch, array_name), getattr(pilot, array_name))
    if name != "lp":
        np.testing.assert_array_equal(batch.geometry.row_norms, model.geometry.row_norms[IDX])


def test_a_model_without_rows_is_refused_by_name():
    with pytest.raises(TypeError, match=r"model must be a row model .* got PowerSum"):
        take_rows(lfso.models.PowerSum(2), IDX)


def test_minibatches_of_pytorch_data_stay_in_pytorch():
    torch = pytest.importorskip("torch")
    model = lfso.models.LogisticRegression(torch.tensor(A), torch.tensor(LABELS % 2))
    batch = RowBatches(model)(IDX)  # (the index was cast to the data's float dtype before)
    assert isinstance(batch.X, torch.Tensor) and batch.n == len(IDX)
    np.testing.assert_array_equal(batch.X.numpy(), model.X.numpy()[IDX])
    np.testing.assert_array_equal(batch.geometry.row_norms.numpy(), model.geometry.row_norms[IDX])
