"""The history: rows appended whole, columns read from them (up to date at every read)."""

from __future__ import annotations

import math

import numpy as np
import pytest

import lfso
from lfso import History
from lfso.models import PowerSum


def _row(k):
    """A row whose every entry says which row and which column it is."""
    return (
        10.0 * k + 0,
        10.0 * k + 1,
        10.0 * k + 2,
        10.0 * k + 3,
        10.0 * k + 4,
        k,
        k + 1,
        k + 2,
        0.5 * k,
        k % 3,
    )


def test_columns_follow_the_rows_appended_between_reads():
    history = History()
    assert len(history) == 0 and history.f.shape == (0,) and math.isnan(history.last("f"))
    for k in range(3):
        history.append(*_row(k))
    first = history.as_dict()
    for k in range(3, 7):
        history.append(*_row(k))
        assert history.last("noracle") == k + 2 and history.last("risk") == k % 3
    assert len(history) == 7
    for i, column in enumerate(History.columns):
        expected = np.array([_row(k)[i] for k in range(7)], dtype=float)
        np.testing.assert_array_equal(history[column], expected)
        np.testing.assert_array_equal(getattr(history, column), expected)
        np.testing.assert_array_equal(first[column], expected[:3])  # (a read is a copy)
        assert history[column].dtype == np.float64


def test_the_risk_column_defaults_to_zero():
    history = History()
    history.append(1.0, 2.0, 3.0, 4.0, 5.0, 1, 1, 0, 0.0)
    assert history.risk.tolist() == [0.0]


@pytest.mark.parametrize("column", ["fun", "", "_rows"])
def test_an_unknown_column_is_an_error_naming_it(column):
    history = History()
    history.append(*_row(0))
    with pytest.raises(KeyError, match=repr(column)):
        history[column]
    with pytest.raises(KeyError, match=repr(column)):
        history.last(column)


def test_from_dict_fills_missing_columns_and_rejects_ragged_ones():
    history = History.from_dict({"f": [3.0, 2.0], "step": np.array([np.nan, 0.5])})
    assert len(history) == 2
    np.testing.assert_array_equal(history.f, [3.0, 2.0])
    assert np.isnan(history.L).all() and history.last("step") == 0.5
    history.append(*_row(2))
    np.testing.assert_array_equal(history.f, [3.0, 2.0, 20.0])
    assert len(History.from_dict({})) == 0
    with pytest.raises(ValueError, match=r"unequal lengths.*'f': 2.*'step': 1"):
        History.from_dict({"f": [3.0, 2.0], "step": [0.5]})


def test_a_callback_reads_the_row_of_its_own_iterate():
    """Read every iteration (as the loggers do), the columns end at the newest row."""
    seen = []

    def callback(intermediate_result):
        h = intermediate_result.history
        seen.append((h.f[-1], intermediate_result.fun, len(h.step), intermediate_result.nit + 1))

    res = lfso.minimize(PowerSum(2), np.ones(3), max_iter=20, tol=0.0, callback=callback)
    assert len(seen) == res.nit > 0
    for f_row, fun, rows, expected_rows in seen:
        assert f_row == fun and rows == expected_rows
    columns = res.history.as_dict()
    assert {len(v) for v in columns.values()} == {res.nit + 1}
    np.testing.assert_array_equal(columns["nfev"], np.arange(1, res.nit + 2))


def test_a_result_a_callback_keeps_holds_the_history_of_its_iteration():
    """Kept past the run, each intermediate result's history still ends at its own row
    (``nit + 1`` rows); a row a callback appends to it stays out of the run's history."""
    kept = []

    def meddle(intermediate_result):
        kept.append(intermediate_result)
        intermediate_result.history.append(*_row(99))

    res = lfso.minimize(PowerSum(2), np.ones(3), max_iter=20, tol=0.0, callback=meddle)
    plain = lfso.minimize(PowerSum(2), np.ones(3), max_iter=20, tol=0.0)
    assert len(kept) == res.nit > 1 and len(res.history) == res.nit + 1
    np.testing.assert_array_equal(res.history.f, plain.history.f)
    for r in kept:
        assert len(r.history) == r.nit + 2  # (its rows, and the one appended to it)
        np.testing.assert_array_equal(r.history.f[:-1], res.history.f[: r.nit + 1])
        assert r.history.f[-1] == _row(99)[0] and r.history.last("nfev") == 99


def test_from_dict_rejects_a_column_it_does_not_know():
    with pytest.raises(ValueError, match=r"unknown column\(s\) \['F'\].*'f', 'grad_norm'"):
        History.from_dict({"F": [3.0, 2.0]})  # (not a history of NaN)


@pytest.mark.parametrize("save", ["result", "history"])
def test_saving_to_a_folder_or_into_a_missing_one_names_that_path(save, tmp_path):
    res = lfso.minimize(PowerSum(2), np.ones(3), max_iter=3)
    target = res if save == "result" else res.history
    with pytest.raises(IsADirectoryError, match="is a folder") as caught:
        target.save(tmp_path)
    assert caught.value.filename == str(tmp_path)
    missing = tmp_path / "nope" / "run.npz"
    with pytest.raises(FileNotFoundError, match=r"folder .*nope' does not exist"):
        target.save(missing)
    assert list(tmp_path.iterdir()) == []


def test_a_failed_save_names_the_target_not_its_temporary_file(tmp_path, monkeypatch):
    import lfso._atomic as atomic

    def full(tmp, path):
        raise OSError(28, "No space left on device", tmp, str(path))

    monkeypatch.setattr(atomic.os, "replace", full)
    path = tmp_path / "run.npz"
    with pytest.raises(OSError, match="No space left") as caught:
        lfso.minimize(PowerSum(2), np.ones(3), max_iter=3).save(path)
    assert caught.value.filename == str(path) and caught.value.filename2 is None
    assert list(tmp_path.iterdir()) == []  # no temporary file left


@pytest.mark.parametrize("cls", [lfso.History, lfso.Result])
def test_loading_a_folder_says_it_is_a_folder(cls, tmp_path):
    with pytest.raises(IsADirectoryError, match="is a folder"):
        cls.load(tmp_path)


def _forged_npz(path, n):
    """An ``.npz`` of one stored member whose header claims ``n`` float64 and whose zip
    directory claims the bytes for them, though the file holds 64 of them."""
    import io
    import struct
    import zipfile

    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(
        header, {"descr": "<f8", "fortran_order": False, "shape": (n,)}
    )
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as archive:
        archive.writestr("f.npy", header.getvalue() + bytes(64))
    raw = bytearray(buffer.getvalue())
    claim = len(header.getvalue()) + 8 * n
    struct.pack_into("<II", raw, 18, claim, claim)  # (the local header's sizes)
    struct.pack_into("<II", raw, raw.find(b"PK\x01\x02") + 20, claim, claim)  # (directory)
    path.write_bytes(bytes(raw))


@pytest.mark.parametrize("cls", [lfso.History, lfso.Result])
def test_loading_a_header_that_claims_more_than_the_file_holds_allocates_nothing(
    cls, tmp_path, monkeypatch
):
    path = tmp_path / "forged.npz"
    _forged_npz(path, 1_000_000)
    read = []
    monkeypatch.setattr(np.lib.format, "read_array", lambda *a, **k: read.append(a))
    with pytest.raises(ValueError, match=r"claims shape \(1000000,\), more than the .* bytes"):
        cls.load(path)
    assert read == []


def test_a_compressed_archive_still_loads(tmp_path):
    history = lfso.minimize(PowerSum(2), np.ones(3), max_iter=3).history
    history.save(tmp_path / "h.npz")
    np.savez_compressed(tmp_path / "c.npz", **dict(np.load(tmp_path / "h.npz")))
    np.testing.assert_array_equal(lfso.History.load(tmp_path / "c.npz").f, history.f)


def _read_fifo(path):
    """A FIFO at ``path`` and a thread that reads it to the end: ``(thread, chunks)``."""
    import os
    import threading

    os.mkfifo(path)
    chunks = []

    def read():
        with open(path, "rb") as fh:
            chunks.append(fh.read())

    thread = threading.Thread(target=read, daemon=True)
    thread.start()
    return thread, chunks


def test_a_save_into_a_fifo_writes_into_it_and_leaves_it_a_fifo(tmp_path):
    # (as /dev/null, a device, is written into: renaming a file over it replaced the device)
    import stat

    res = lfso.minimize(PowerSum(2), np.ones(3), max_iter=3)
    fifo = tmp_path / "pipe"
    thread, chunks = _read_fifo(fifo)
    assert res.history.save(fifo) == fifo
    thread.join(10)
    assert stat.S_ISFIFO(fifo.lstat().st_mode)
    assert chunks and chunks[0][:2] == b"PK"  # the archive went through the pipe
    assert [p.name for p in tmp_path.iterdir()] == ["pipe"]


def test_a_save_through_a_symbolic_link_replaces_the_file_it_leads_to(tmp_path):
    res = lfso.minimize(PowerSum(2), np.ones(3), max_iter=3)
    (tmp_path / "runs").mkdir()
    real = tmp_path / "runs" / "run.npz"
    real.write_bytes(b"old")
    link = tmp_path / "latest.npz"
    link.symlink_to(real)
    res.save(link)
    assert link.is_symlink() and link.resolve() == real.resolve()
    assert lfso.Result.load(real).nit == res.nit
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["latest.npz", "run.npz", "runs"]


def test_a_result_with_non_finite_numbers_saves_standard_json_and_loads_back(tmp_path):
    """A NaN ``fun`` was written into the metadata as the token ``NaN``, which standard
    JSON readers refuse; it is the string ``"NaN"`` there, read back as the float, and a
    file written with the bare token still loads."""
    import dataclasses
    import json

    res = lfso.minimize(PowerSum(2), np.ones(3), method="lfso")
    columns = res.history.as_dict()
    columns["L"][-1] = math.inf
    res = dataclasses.replace(
        res, fun=math.nan, grad_norm=math.inf, history=History.from_dict(columns)
    )
    path = res.save(tmp_path / "run.npz")

    def refuse(token):
        raise ValueError(f"not standard JSON: {token}")

    with np.load(path) as data:
        meta = json.loads(str(data["meta"]), parse_constant=refuse)
    assert meta["fun"] == "NaN" and meta["grad_norm"] == "Infinity"
    back = lfso.Result.load(path)
    assert math.isnan(back.fun) and back.grad_norm == math.inf and back.history.L[-1] == math.inf
    np.testing.assert_array_equal(back.history.L, res.history.L)
    with np.load(path) as data:  # (a file of an earlier version: the bare tokens)
        arrays = dict(data)
    arrays["meta"] = np.array(json.dumps({**meta, "fun": math.nan, "grad_norm": math.inf}))
    np.savez(tmp_path / "old.npz", **arrays)
    old = lfso.Result.load(tmp_path / "old.npz")
    assert math.isnan(old.fun) and old.grad_norm == math.inf
