"""The live HTML report: atomic rewrites, self-refresh while running, the finished page, and
the page as headless Chromium renders it while a run is going."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import threading

import numpy as np
import pytest

import lfso
from lfso import dashboard
from lfso.dashboard import LiveReport
from lfso.models import PowerSum


def test_the_page_refreshes_while_running_and_not_when_finished(tmp_path):
    live = LiveReport(tmp_path / "run.html", title="live check", every=3600)
    pages = []

    def grab(r):
        live(r)
        if r.nit == 3:
            pages.append(live.path.read_text())

    res = lfso.minimize(PowerSum(2), np.linspace(0.5, 1.5, 4), callback=grab)
    running = pages[0]
    assert '<meta http-equiv="refresh" content="3600">' in running
    assert 'class="running"' in running and "Run in progress" in running
    # every=3600: written at the first iteration and at the end, not in between
    assert live.writes == 1
    final = live.finish(res).read_text()
    assert live.writes == 2 and "http-equiv" not in final and "Finished" in final
    assert "CONVERGED" in final and "<script" not in final and "http://www.w3.org" in final
    assert final.count("<polyline") == 1
    assert [p.name for p in tmp_path.iterdir()] == ["run.html"]  # no temporary files left


def test_live_report_rejects_bad_settings(tmp_path):
    with pytest.raises(ValueError, match="every must be a positive number of seconds, got"):
        LiveReport(tmp_path / "r.html", every=0)
    with pytest.raises(ValueError, match="does not exist"):
        LiveReport(tmp_path / "missing" / "r.html")


@pytest.mark.skipif(os.name != "posix", reason="file modes and the umask are POSIX")
@pytest.mark.parametrize("mask", [0o022, 0o077, 0o002, 0o027])
@pytest.mark.parametrize("proc", [True, False], ids=["from /proc", "from os.umask"])
def test_the_page_gets_the_mode_of_a_new_file_under_the_umask(tmp_path, monkeypatch, mask, proc):
    asked = []
    if not proc:  # a system without /proc/self/status

        def no_proc(*args, **kwargs):
            asked.append(args[0])
            raise FileNotFoundError(args[0])

        monkeypatch.setattr(dashboard, "open", no_proc, raising=False)
    old = os.umask(mask)
    try:
        live = LiveReport(tmp_path / "run.html", every=3600)
        live.stage("run", "running")
        first = stat.S_IMODE(live.path.stat().st_mode)
        live.finish()  # a rewrite keeps it
        again = stat.S_IMODE(live.path.stat().st_mode)
    finally:
        os.umask(old)
    assert first == again == 0o666 & ~mask
    assert asked == ([] if proc else ["/proc/self/status"] * 2)
    assert [p.name for p in tmp_path.iterdir()] == ["run.html"]


CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


def _dom(path):
    flags = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars"]
    return subprocess.run(
        [*flags, "--dump-dom", path.as_uri()], capture_output=True, text=True, timeout=120
    ).stdout


@pytest.mark.skipif(CHROMIUM is None, reason="headless Chromium is not installed")
def test_live_page_in_headless_chromium_during_and_after_a_run(tmp_path):
    path = tmp_path / "live.html"
    live = LiveReport(path, title="browser live check", every=0.05)
    paused, resume = threading.Event(), threading.Event()
    box = {}

    def callback(r):
        live(r)
        if r.nit == 20:  # hold the run here while the browser looks at the page
            live.write()
            paused.set()
            resume.wait(timeout=300)

    def work():
        box["res"] = lfso.minimize(  # (the paper's LFSO-GD: about 40 iterations here)
            PowerSum(2),
            np.linspace(0.5, 1.5, 6),
            method="lfso",
            certificate="ball",
            callback=callback,
        )

    thread = threading.Thread(target=work)
    thread.start()
    try:
        assert paused.wait(timeout=120)
        during = _dom(path)
    finally:
        resume.set()
        thread.join(timeout=300)
    assert "browser live check" in during and 'id="state" class="running"' in during
    assert "Run in progress" in during and 'http-equiv="refresh"' in during
    assert "<polyline" in during and "<td>20</td>" in during  # 20 rows after x0, as drawn
    live.finish(box["res"])
    after = _dom(path)
    assert 'id="state" class="finished"' in after and "Finished" in after
    assert "CONVERGED" in after and "http-equiv" not in after


@pytest.mark.skipif(CHROMIUM is None, reason="headless Chromium is not installed")
def test_rollout_page_in_headless_chromium_shows_stages_evidence_handover_and_roi(tmp_path):
    from test_rollout import FALLBACK, X0, TurnsWrong, f, g

    from lfso.rollout import GoCriteria, Guard, TuningBudget, rollout

    path = tmp_path / "rollout.html"
    paused, resume = threading.Event(), threading.Event()
    box = {}

    def hold(r):
        if r.nit == 3 and not paused.is_set():
            box["live"] = True
            paused.set()
            resume.wait(timeout=300)

    def work():
        box["ro"] = rollout(
            f,
            X0,
            FALLBACK,
            grad=g,
            smoothness=TurnsWrong(5),
            pilot_iter=3,
            criteria=GoCriteria(target_rtol=0.5),
            guard=Guard(callback=hold),
            tuning=TuningBudget(1000, seconds=30.0),
            report=path,
            every=0.05,
            title="browser rollout check",
        )

    thread = threading.Thread(target=work)
    thread.start()
    try:
        assert paused.wait(timeout=120)
        during = _dom(path)
    finally:
        resume.set()
        thread.join(timeout=300)
    assert "browser rollout check" in during and "Run in progress" in during
    assert "Decision: " in during and ">GO<" in during and 'id="criteria"' in during
    assert '<td>guarded</td><td class="running">running</td>' in during
    assert 'id="roi"' not in during  # not measured yet
    after = _dom(path)
    assert "Finished" in after and "http-equiv" not in after
    assert after.index('id="roi"') < after.index('id="stages"')
    assert "time to target:" in after and "stated" in after
    assert 'id="handover"' in after and "restored the best point" in after
    assert box["ro"].result.handover is not None
