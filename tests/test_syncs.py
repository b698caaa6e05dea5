"""Host-device round trips per iteration: few, and counted (CPU tensors stand in for a GPU)."""

from __future__ import annotations

import warnings

import pytest

torch = pytest.importorskip("torch")

from lfso.bench.syncs import count_host_syncs, sync_table  # noqa: E402

ROW_MODELS = {"logistic", "softmax (3 classes)", "cauchy"}


@pytest.fixture(scope="module")
def table():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # tol=0 runs to rounding
        return sync_table(n=300, d=8)


def test_counter_sees_conversions_and_restores_torch():
    original = torch.Tensor.__float__
    with count_host_syncs() as counts:
        float(torch.ones(2).sum())
        torch.ones(2).tolist()
        bool(torch.ones(()) > 0)
    assert counts == {"__float__": 1, "tolist": 1, "__bool__": 1}
    assert torch.Tensor.__float__ is original


def test_every_model_evaluates_in_one_round_trip(table):
    """f, ||g|| and the oracle's statistics come back together: GD pays one per iteration."""
    for name, row in table.items():
        assert row["gd"] == 1.0, name


def test_lfso_radius_solve_costs_at_most_about_one_round_trip(table):
    for name, row in table.items():
        if name in ROW_MODELS:
            # One for the evaluation, about one per radius the solve tries (it was 6 to 9).
            assert row["lfso"] <= 2.5, name
        else:  # closed-form or Newton solve on the host: nothing beyond the evaluation
            assert row["lfso"] == 1.0, name


def test_accelerated_adds_only_its_restart_test(table):
    for name, row in table.items():
        assert row["lfso-accel"] <= (4.5 if name in ROW_MODELS else 2.0), name
