"""A campaign of planted bad (and edge) inputs over lfso's public surface.

Each case calls the public API with one bad argument, or one edge case that must work, and
is classified:

* ``clear``: a ``ValueError``, ``TypeError``, :class:`lfso.OracleError`, or, for a path,
  ``FileNotFoundError`` or ``IsADirectoryError``, whose message names the argument (and
  the value, where it has a short one);
* ``unclear``: any other exception, a message that does not name the argument, or an error
  on an input that must work;
* ``silent``: a bad input that ran without an error, or an edge case with a wrong answer;
* ``valid``: an edge case that works (e.g. ``x0`` at a minimiser converges with ``nit 0``).

The suite runs every group of cases and fails on any case that is ``unclear`` or
``silent``. The summary table (a few hundred cases)::

    PYTHONPATH=src python tests/test_bad_input_campaign.py [--verbose]

``--verbose`` lists every case that is not clear or valid.
"""

from __future__ import annotations

import argparse
import math
import os
import re
import tempfile
import warnings
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import lfso
from lfso import models
from lfso.oracles import OracleError

ERROR = "error"
NAN, INF = math.nan, math.inf
SMALL = 300  # max_iter of runs that should stop early anyway
_NO_VALUE = object()


@dataclass
class Case:
    label: str
    call: Callable[[], Any]
    names: tuple[str, ...]  # the message must contain one of these words
    value: Any = _NO_VALUE  # the bad value (its repr or str must appear), if it has one
    expect: Any = ERROR  # ERROR, or a predicate on the return value


def _fragments(value: Any) -> list[str] | None:
    if value is _NO_VALUE or isinstance(value, np.ndarray) or callable(value):
        return None
    if isinstance(value, float) and math.isnan(value):
        return ["nan"]
    if isinstance(value, (list, tuple, dict)) and len(repr(value)) > 40:
        return None
    return [repr(value), str(value)]


def classify(case: Case) -> tuple[str, str]:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            out = case.call()
    except (ValueError, TypeError, OracleError, FileNotFoundError, IsADirectoryError) as exc:
        if case.expect is not ERROR:
            return "unclear", f"valid input rejected: {type(exc).__name__}: {exc}"
        msg = str(exc)
        named = any(re.search(rf"(?<![\w.]){re.escape(n)}(?!\w)", msg) for n in case.names)
        frags = _fragments(case.value)
        valued = frags is None or any(f in msg for f in frags)
        if named and valued:
            return "clear", msg
        return "unclear", f"{type(exc).__name__}: {msg}"
    except Exception as exc:  # anything else is a traceback from deep inside
        return "unclear", f"{type(exc).__name__}: {exc}"
    if case.expect is ERROR:
        return "silent", f"returned {_short(out)}"
    try:
        ok = bool(case.expect(out))
    except Exception as exc:
        ok = False
        out = exc
    return ("valid", "") if ok else ("silent", f"wrong answer: {_short(out)}")


def _short(out: Any) -> str:
    text = repr(out)
    return text if len(text) < 160 else text[:160] + "..."


# -- helpers ---------------------------------------------------------------------------

X3 = np.ones(3)


def quartic(x):
    return float(np.sum(x**4))


def quartic_grad(x):
    return 4 * x**3


def quartic_oracle(x, R):
    return 12 * (float(np.max(np.abs(x))) + R) ** 2


def run_plain(fun=quartic, grad=quartic_grad, smoothness=quartic_oracle, x0=X3, **kw):
    kw.setdefault("max_iter", SMALL)
    return lfso.minimize(fun, x0, grad=grad, smoothness=smoothness, **kw)


def run_model(model=None, x0=X3, **kw):
    kw.setdefault("max_iter", SMALL)
    return lfso.minimize(model if model is not None else models.PowerSum(2), x0, **kw)


def converged(res: Any) -> bool:
    return res.status is lfso.Status.CONVERGED


def converged_at_start(res: Any) -> bool:
    return res.status is lfso.Status.CONVERGED and res.nit == 0


BAD_SCALARS = ["1", None, [1.0], np.array([1.0, 2.0]), True, INF, NAN, -1.0]
BAD_COUNTS = ["10", None, [10], np.array([3, 4]), True, 2.5, -1, INF, NAN]


def scalar_cases() -> list[Case]:
    out = []
    for name in ("tol", "atol"):
        for v in BAD_SCALARS:
            out.append(
                Case(f"minimize {name}={v!r}", lambda n=name, v=v: run_model(**{n: v}), (name,), v)
            )
    for v in BAD_COUNTS:
        out.append(
            Case(f"minimize max_iter={v!r}", lambda v=v: run_model(max_iter=v), ("max_iter",), v)
        )
    for v in ["1", [1.0], True, INF, NAN, -1.0, 0.0, 2.0, 3.0]:
        out.append(Case(f"minimize eta={v!r}", lambda v=v: run_model(eta=v), ("eta",), v))
    for v in ["1", None, [0.1], True, INF, NAN, -0.1, 0.0]:
        out.append(Case(f"gd step={v!r}", lambda v=v: run_model(method="gd", step=v), ("step",), v))
    for v in ["3", None, True, 2.5, -1]:
        out.append(
            Case(
                f"lfso max_rollbacks={v!r}",
                lambda v=v: run_plain(smoothness="auto", max_rollbacks=v),
                ("max_rollbacks",),
                v,
            )
        )
    for v in ["2", None, True, 2.5, 0, -1]:
        out.append(
            Case(
                f"auto power_iterations={v!r}",
                lambda v=v: run_plain(
                    smoothness="auto", power_iterations=v, hvp=lambda x, u: 12 * x**2 * u
                ),
                ("power_iterations",),
                v,
            )
        )
    for v in ["2", None, NAN, 0.5]:
        out.append(
            Case(
                f"auto safety={v!r}",
                lambda v=v: run_plain(smoothness="auto", safety=v),
                ("safety",),
                v,
            )
        )
    for v in [5, "yes", "bogus"]:
        out.append(Case(f"radius={v!r}", lambda v=v: run_model(radius=v), ("radius",), v))
    out.append(
        Case("radius=-1 callable", lambda: run_model(radius=lambda x: -1.0), ("radius",), -1.0)
    )
    for v in ["x", 2, None]:
        out.append(Case(f"monitor={v!r}", lambda v=v: run_model(monitor=v), ("monitor",), v))
    for v in ["yes", 2]:
        out.append(Case(f"progress={v!r}", lambda v=v: run_model(progress=v), ("progress",), v))
    for v in ["nope", 3]:
        out.append(Case(f"method={v!r}", lambda v=v: run_model(method=v), ("method",), v))
    # None is the default (SciPy's convention): the method's own default eta, the default method.
    for name in ("eta", "method"):
        out.append(
            Case(
                f"{name}=None",
                lambda n=name: run_model(**{n: None}),
                (name,),
                expect=lambda r: r.method == "lfso-lbfgs",
            )
        )
    out.append(
        Case("eta with gd", lambda: run_model(method="gd", step=0.1, eta=0.5), ("eta",), _NO_VALUE)
    )
    out.append(Case("safeguard='no'", lambda: run_model(safeguard="no"), ("safeguard",), "no"))
    out.append(Case("unknown option", lambda: run_model(foo=1), ("foo",), _NO_VALUE))
    # valid edge values
    out.append(
        Case(
            "max_iter=np.int64(5)",
            lambda: run_model(max_iter=np.int64(5)),
            ("max_iter",),
            expect=lambda r: r.nit <= 5,
        )
    )
    out.append(
        Case("tol=np.float64", lambda: run_model(tol=np.float64(1e-6)), ("tol",), expect=converged)
    )
    out.append(
        Case(
            "max_iter=0", lambda: run_model(max_iter=0), ("max_iter",), expect=lambda r: r.nit == 0
        )
    )
    return out


def x0_cases() -> list[Case]:
    out = []
    for label, v in [
        ("[]", []),
        ("2-D", [[1.0, 2.0, 3.0]]),
        ("str", ["a", "b", "c"]),
        ("nan", [1.0, NAN, 1.0]),
        ("inf", [1.0, INF, 1.0]),
        ("complex", np.ones(3) * (1 + 1j)),
        ("None", None),
        ("string", "abc"),
        ("ragged", [[1.0], [1.0, 2.0]]),
        ("bool", True),
        ("object", np.array([1.0, "a", None], dtype=object)),
    ]:
        out.append(Case(f"x0 {label}", lambda v=v: run_model(x0=v), ("x0",), _NO_VALUE))
    out.append(
        Case(
            "x0 wrong length",
            lambda: run_model(models.LpRegression(np.eye(3), np.ones(3), 2), x0=np.ones(2)),
            ("x0",),
            _NO_VALUE,
        )
    )
    out.append(Case("x0 list", lambda: run_model(x0=[1.0, 1.0, 1.0]), ("x0",), expect=converged))
    # (a number: a vector of one element, as scipy.optimize.minimize takes it)
    out.append(Case("x0 scalar", lambda: run_model(x0=1.0), ("x0",), expect=converged))
    out.append(
        Case("x0 int", lambda: run_model(x0=np.ones(3, dtype=int)), ("x0",), expect=converged)
    )
    return out


def callback_cases() -> list[Case]:
    calls: list[int] = []

    def two_callbacks():
        calls.clear()
        res = run_model(callback=[lambda r: calls.append(1), lambda r: calls.append(2)])
        return res, list(calls)

    return [
        Case("callback=5", lambda: run_model(callback=5), ("callback",), 5),
        Case("callback='x'", lambda: run_model(callback="x"), ("callback",), "x"),
        Case("callback no args", lambda: run_model(callback=lambda: None), ("callback",)),
        Case(
            "callback list with junk",
            lambda: run_model(callback=[lambda r: None, 3]),
            ("callback",),
            3,
        ),
        Case(
            "callback list",
            two_callbacks,
            ("callback",),
            expect=lambda o: o[1][:2] == [1, 2] and len(o[1]) == 2 * o[0].nit,
        ),
    ]


def callable_cases() -> list[Case]:
    out = []
    funs = {
        "array(2)": lambda x: np.ones(2),
        "str": lambda x: "abc",
        "None": lambda x: None,
        "complex": lambda x: 1.0 + 2.0j,
        "list": lambda x: [1.0, 2.0],
        "nan": lambda x: NAN,
    }
    for label, f in funs.items():
        for smooth in (quartic_oracle, "auto"):
            tag = "auto" if smooth == "auto" else "oracle"
            out.append(
                Case(
                    f"fun returns {label} ({tag})",
                    lambda f=f, s=smooth: run_plain(fun=f, smoothness=s),
                    ("fun", "f(x0)", "f(x)"),
                )
            )
    out.append(Case("fun arity 0", lambda: run_plain(fun=lambda: 1.0), ("fun",)))
    out.append(Case("fun arity 2", lambda: run_plain(fun=lambda x, y: 1.0), ("fun",)))
    for smooth in (quartic_oracle, "auto"):
        out.append(
            Case(
                f"fun returns array(1) ({smooth if smooth == 'auto' else 'oracle'})",
                lambda s=smooth: run_plain(
                    fun=lambda x: np.array([quartic(x)]), smoothness=s, max_iter=10_000
                ),
                ("fun",),
                expect=converged,
            )
        )
        out.append(
            Case(
                "fun returns 0-d array",
                lambda s=smooth: run_plain(
                    fun=lambda x: np.array(quartic(x)), smoothness=s, max_iter=10_000
                ),
                ("fun",),
                expect=converged,
            )
        )
    grads = {
        "shape (2,)": lambda x: np.ones(2),
        "shape (3,1)": lambda x: np.ones((3, 1)),
        "scalar": lambda x: 1.0,
        "complex": lambda x: x * (1 + 1j),
        "str": lambda x: "abc",
        "None": lambda x: None,
        "nan": lambda x: x * NAN,
    }
    for label, g in grads.items():
        for smooth in (quartic_oracle, "auto"):
            out.append(
                Case(
                    f"grad returns {label} ({'auto' if smooth == 'auto' else 'oracle'})",
                    lambda g=g, s=smooth: run_plain(grad=g, smoothness=s),
                    ("grad", "gradient"),
                )
            )
    out.append(Case("grad arity 0", lambda: run_plain(grad=lambda: X3), ("grad",)))
    out.append(Case("grad=True, fun returns float", lambda: run_plain(grad=True), ("fun", "grad")))
    out.append(
        Case(
            "grad=True, fun returns 3-tuple",
            lambda: run_plain(fun=lambda x: (1.0, x, x), grad=True),
            ("fun", "grad"),
        )
    )
    out.append(
        Case(
            "grad=True valid",
            lambda: run_plain(
                fun=lambda x: (quartic(x), quartic_grad(x)), grad=True, max_iter=10_000
            ),
            ("grad",),
            expect=converged,
        )
    )
    oracles = {
        "str": lambda x, R: "abc",
        "None": lambda x, R: None,
        "negative": lambda x, R: -1.0,
        "nan": lambda x, R: NAN,
        "array(2)": lambda x, R: np.ones(2),
        "complex": lambda x, R: 1 + 1j,
    }
    for label, s in oracles.items():
        out.append(
            Case(
                f"smoothness returns {label}",
                lambda s=s: run_plain(smoothness=s),
                ("smoothness", "oracle"),
            )
        )
    out.append(
        Case("smoothness arity 1", lambda: run_plain(smoothness=lambda x: 1.0), ("smoothness",))
    )
    out.append(
        Case(
            "smoothness returns array(1)",
            lambda: run_plain(
                smoothness=lambda x, R: np.array([quartic_oracle(x, R)]), max_iter=10_000
            ),
            ("smoothness",),
            expect=converged,
        )
    )
    hvps = {
        "shape (2,)": lambda x, v: np.ones(2),
        "scalar": lambda x, v: 1.0,
        "str": lambda x, v: "abc",
        "None": lambda x, v: None,
        "complex": lambda x, v: v * 1j,
    }
    for label, h in hvps.items():
        out.append(
            Case(
                f"hvp returns {label}",
                lambda h=h: run_plain(smoothness="auto", hvp=h, max_iter=10_000),
                ("hvp",),
            )
        )
    out.append(Case("hvp arity 1", lambda: run_plain(smoothness="auto", hvp=lambda x: x), ("hvp",)))
    for v in [5, "nope"]:
        out.append(Case(f"hvp={v!r}", lambda v=v: run_plain(smoothness="auto", hvp=v), ("hvp",), v))
        out.append(Case(f"grad={v!r}", lambda v=v: run_plain(grad=v), ("grad",), v))
    # (a positive number is a global Lipschitz constant: valid)
    for v in ["nope", [5.0], -5.0, 0.0, INF, NAN, True]:
        out.append(
            Case(f"smoothness={v!r}", lambda v=v: run_plain(smoothness=v), ("smoothness",), v)
        )
    out.append(Case("objective=5", lambda: lfso.minimize(5, X3), ("objective",), 5))
    out.append(Case("grad with a model", lambda: run_model(grad=quartic_grad), ("grad",)))
    return out


def _matrix():
    return np.array([[1.0, 0.0], [0.0, 2.0], [1.0, 1.0]])


def _b():
    return np.array([1.0, -1.0, 0.5])


def _y01():
    return np.array([0.0, 1.0, 1.0])


def _ycls():
    return np.array([0, 1, 2])


def model_cases() -> list[Case]:
    out: list[Case] = []
    linear = {
        "LpRegression": lambda A, b, **k: models.LpRegression(A, b, k.pop("p", 2), **k),
        "CompositeLeastSquares": lambda A, b, **k: models.CompositeLeastSquares(
            A, b, k.pop("p", 2), **k
        ),
        "CauchyRegression": lambda A, b, **k: models.CauchyRegression(A, b, **k),
    }
    bad_A = {
        "empty rows": (np.empty((0, 2)), np.empty(0)),
        "empty cols": (np.empty((3, 0)), _b()),
        "complex": (_matrix() * (1 + 1j), _b()),
        "nan": (np.where(_matrix() == 2.0, NAN, _matrix()), _b()),
        "inf": (np.where(_matrix() == 2.0, INF, _matrix()), _b()),
        "1-D A": (np.ones(3), _b()),
        "3-D A": (np.ones((3, 2, 1)), _b()),
        "b too short": (_matrix(), np.ones(2)),
        "b 2-D": (_matrix(), np.ones((3, 1))),
        "b nan": (_matrix(), np.array([1.0, NAN, 0.0])),
        "b complex": (_matrix(), _b() * 1j),
        "ragged list": ([[1.0, 0.0], [1.0]], [1.0, 2.0]),
        "str": ([["a", "b"]], ["c"]),
        "None": (None, None),
    }
    for mname, make in linear.items():
        for label, (A, b) in bad_A.items():
            names = ("A", "b")
            out.append(Case(f"{mname} {label}", lambda m=make, A=A, b=b: m(A, b), names))
        out.append(
            Case(
                f"{mname} lists",
                lambda m=make: run_model(
                    m(_matrix().tolist(), _b().tolist()), x0=np.zeros(2), max_iter=50_000
                ),
                ("A",),
                expect=lambda r: r.status in (lfso.Status.CONVERGED,),
            )
        )
        for v in [-1.0, NAN, INF, "a", None, True, [0.1]]:
            if mname == "CauchyRegression":
                out.append(
                    Case(
                        f"{mname} l2={v!r}",
                        lambda m=make, v=v: m(_matrix(), _b(), l2=v),
                        ("l2",),
                        v,
                    )
                )
                out.append(
                    Case(f"{mname} c={v!r}", lambda m=make, v=v: m(_matrix(), _b(), c=v), ("c",), v)
                )
            else:
                out.append(
                    Case(f"{mname} p={v!r}", lambda m=make, v=v: m(_matrix(), _b(), p=v), ("p",), v)
                )
        if mname != "CauchyRegression":
            for v in [0.5, 0.0]:
                out.append(
                    Case(f"{mname} p={v!r}", lambda m=make, v=v: m(_matrix(), _b(), p=v), ("p",), v)
                )
            out.append(
                Case(
                    f"{mname} oracle='x'",
                    lambda m=make: m(_matrix(), _b(), oracle="x"),
                    ("oracle",),
                    "x",
                )
            )
    for cls in (models.PowerSum, models.PowerNorm):
        for v in [0.5, -1.0, NAN, INF, "2", None, True, [2.0]]:
            out.append(Case(f"{cls.__name__}(p={v!r})", lambda c=cls, v=v: c(v), ("p",), v))
    # logistic
    X = _matrix()
    for label, y in {
        "y in {0,2}": np.array([0.0, 2.0, 2.0]),
        "y nan": np.array([0.0, NAN, 1.0]),
        "y str": np.array(["a", "b", "a"]),
        "y 2-D": np.ones((3, 1)),
        "y short": np.array([0.0, 1.0]),
        "y one class 3": np.array([0.0, 0.5, 1.0]),
    }.items():
        out.append(
            Case(f"LogisticRegression {label}", lambda y=y: models.LogisticRegression(X, y), ("y",))
        )
    for label, (Xb, yb) in {
        "X nan": (np.where(X == 2.0, NAN, X), _y01()),
        "X complex": (X * 1j, _y01()),
        "X empty": (np.empty((0, 2)), np.empty(0)),
        "X 1-D": (np.ones(3), _y01()),
        "X ragged": ([[1.0], [1.0, 2.0], [0.0]], [0.0, 1.0, 1.0]),
    }.items():
        out.append(
            Case(
                f"LogisticRegression {label}",
                lambda Xb=Xb, yb=yb: models.LogisticRegression(Xb, yb),
                ("X",),
            )
        )
    for v in [-1.0, NAN, "a", None, True]:
        out.append(
            Case(
                f"LogisticRegression l2={v!r}",
                lambda v=v: models.LogisticRegression(X, _y01(), l2=v),
                ("l2",),
                v,
            )
        )
    out.append(
        Case(
            "LogisticRegression lists",
            lambda: run_model(
                models.LogisticRegression(X.tolist(), [0, 1, 1], l2=0.1),
                x0=np.zeros(2),
                max_iter=10_000,
            ),
            ("X",),
            expect=converged,
        )
    )
    # softmax
    for label, y in {
        "y out of range": np.array([0, 1, 3]),
        "y negative": np.array([0, -1, 2]),
        "y float": np.array([0.0, 0.5, 2.0]),
        "y nan": np.array([0.0, NAN, 2.0]),
        "y str": np.array(["a", "b", "c"]),
        "y 2-D": np.zeros((3, 1), dtype=int),
        "y short": np.array([0, 1]),
    }.items():
        out.append(
            Case(
                f"SoftmaxRegression {label}", lambda y=y: models.SoftmaxRegression(X, y, 3), ("y",)
            )
        )
    for v in [2.5, 1, "3", True, None, NAN]:
        out.append(
            Case(
                f"SoftmaxRegression n_classes={v!r}",
                lambda v=v: models.SoftmaxRegression(X, np.array([0, 1, 1]), v),
                ("n_classes",),
                v,
            )
        )
    for v in [-1.0, NAN, "a"]:
        out.append(
            Case(
                f"SoftmaxRegression l2={v!r}",
                lambda v=v: models.SoftmaxRegression(X, _ycls(), 3, l2=v),
                ("l2",),
                v,
            )
        )
    out.append(
        Case(
            "SoftmaxRegression X nan",
            lambda: models.SoftmaxRegression(np.where(X == 2.0, NAN, X), _ycls(), 3),
            ("X",),
        )
    )
    out.append(
        Case(
            "SoftmaxRegression lists",
            lambda: run_model(
                models.SoftmaxRegression(X.tolist(), [0, 1, 2], 3, l2=0.1),
                x0=np.zeros(9),
                max_iter=10_000,
            ),
            ("X",),
            expect=converged,
        )
    )
    out.append(
        Case(
            "SoftmaxRegression float labels 0./1./2.",
            lambda: models.SoftmaxRegression(X, np.array([0.0, 1.0, 2.0]), 3).n,
            ("y",),
            expect=lambda n: n == 3,
        )
    )
    # L0L1
    base = models.PowerSum(2)
    for label, (a, b) in {
        "L0=-1": (-1.0, 1.0),
        "L1=nan": (1.0, NAN),
        "L0='a'": ("a", 1.0),
        "both 0": (0.0, 0.0),
    }.items():
        out.append(
            Case(
                f"L0L1Smooth {label}", lambda a=a, b=b: models.L0L1Smooth(base, a, b), ("L0", "L1")
            )
        )
    out.append(Case("L0L1Smooth base=5", lambda: models.L0L1Smooth(5, 1.0, 1.0), ("base",), 5))
    return out


def stationary_cases() -> list[Case]:
    out: list[Case] = []
    X2 = np.array([[1.0], [1.0]])
    at_min = {
        "PowerSum": (models.PowerSum(2), np.zeros(3)),
        "PowerNorm": (models.PowerNorm(2), np.zeros(3)),
        "PowerSum p=1": (models.PowerSum(1), np.zeros(3)),
        "LpRegression": (models.LpRegression(np.eye(2), np.ones(2), 2), np.ones(2)),
        "CompositeLeastSquares": (
            models.CompositeLeastSquares(np.eye(2), np.ones(2), 2),
            np.ones(2),
        ),
        "CauchyRegression": (models.CauchyRegression(np.eye(2), np.ones(2)), np.ones(2)),
        "LogisticRegression": (models.LogisticRegression(X2, np.array([0.0, 1.0])), np.zeros(1)),
        "SoftmaxRegression": (
            models.SoftmaxRegression(X2, np.array([0, 1]), 2, fit_intercept=False),
            np.zeros(2),
        ),
    }
    methods = {
        "lfso": {},
        "lfso paper": {"radius": "paper"},
        "lfso-accel": {"method": "lfso-accel"},
        "gd": {"method": "gd", "step": 0.1},
        "armijo": {"method": "armijo"},
        "bb": {"method": "bb"},
        "adgd": {"method": "adgd"},
        "nesterov": {"method": "nesterov", "step": 0.1},
        "dog": {"method": "dog"},
        "auto": {"smoothness": "auto"},
    }
    for mname, (model, x0) in at_min.items():
        for meth, kw in methods.items():
            if meth == "lfso paper" and mname in ("CauchyRegression", "SoftmaxRegression"):
                continue  # no paper radius for these (a clear TypeError says so)
            out.append(
                Case(
                    f"stationary {mname} {meth}",
                    lambda m=model, x=x0, k=kw: lfso.minimize(m, x, **k),
                    ("x0",),
                    expect=converged_at_start,
                )
            )
    zero = lambda x: np.zeros_like(x)  # noqa: E731
    out.append(
        Case(
            "stationary plain auto",
            lambda: run_plain(fun=lambda x: 0.0, grad=zero, smoothness="auto", max_iter=10_000),
            ("x0",),
            expect=converged_at_start,
        )
    )
    out.append(
        Case(
            "constant oracle at a stationary start",
            lambda: run_plain(
                fun=lambda x: 0.0, grad=zero, smoothness=lambda x, R: 1.0, max_iter=10_000
            ),
            ("x0",),
            expect=converged_at_start,
        )
    )
    out.append(
        Case(
            "gd at a stationary start",
            lambda: run_plain(
                fun=lambda x: 0.0,
                grad=zero,
                method="gd",
                step=0.1,
                smoothness=None,
                max_iter=10_000,
            ),
            ("x0",),
            expect=converged_at_start,
        )
    )
    # NaN gradient mid-run: stops NON_FINITE with the best point, no traceback
    count = [0]

    def nan_later(x):
        count[0] += 1
        return 4 * x**3 if count[0] < 5 else x * NAN

    def nan_run():
        count[0] = 0
        return run_plain(grad=nan_later, smoothness="auto")

    stopped = (lfso.Status.NON_FINITE, lfso.Status.STEP_FAILED)
    out.append(
        Case(
            "NaN gradient mid-run (auto)",
            nan_run,
            ("grad",),
            expect=lambda r: r.status in stopped and np.all(np.isfinite(r.x)),
        )
    )
    return out


def oracle_cases() -> list[Case]:
    out: list[Case] = []
    o = models.PowerSum(2)
    for v in [-5.0, NAN, INF, "a", None, [1.0]]:
        out.append(Case(f"PowerSum(2)(x, {v!r})", lambda v=v: o(X3, v), ("radius", "R"), v))
    out.append(Case("oracle x=None", lambda: o(None, 1.0), ("x",)))
    for v in [-1.0, 0.0, NAN, INF, "a", None, True]:
        out.append(
            Case(
                f"ConstantOracle({v!r})",
                lambda v=v: lfso.oracles.ConstantOracle(v),
                ("lipschitz",),
                v,
            )
        )
        if v != 0.0:
            out.append(
                Case(
                    f"ridge l2={v!r}",
                    lambda v=v: lfso.oracles.ridge(lfso.oracles.ConstantOracle(1.0), v),
                    ("l2",),
                    v,
                )
            )
    for v in [-1.0, NAN, "a"]:
        out.append(
            Case(
                f"ScaledOracle({v!r})",
                lambda v=v: lfso.oracles.ScaledOracle(v, lfso.oracles.ConstantOracle(1.0)),
                ("factor", "scaling factor"),
                v,
            )
        )
    out.append(
        Case("FunctionOracle(5)", lambda: lfso.oracles.FunctionOracle(5), ("smoothness",), 5)
    )
    out.append(
        Case(
            "FunctionOracle returns str",
            lambda: lfso.oracles.FunctionOracle(lambda x, R: "a")(X3, 1.0),
            ("smoothness",),
        )
    )
    out.append(
        Case(
            "AffineOracle A nan",
            lambda: lfso.oracles.AffineOracle(lfso.oracles.ConstantOracle(1.0), np.array([[NAN]])),
            ("A",),
        )
    )
    out.append(
        Case(
            "AffineOracle norm=-1",
            lambda: lfso.oracles.AffineOracle(
                lfso.oracles.ConstantOracle(1.0), np.eye(2), norm=-1.0
            ),
            ("norm",),
            -1.0,
        )
    )
    out.append(
        Case(
            "oracle R=0 valid",
            lambda: o(X3, 0.0),
            ("radius",),
            expect=lambda L: 12.0 <= L <= 12.0 * (1 + 1e-14),  # (rounded up)
        )
    )
    # check_oracle
    model = models.PowerSum(2)
    for v in [0, -1, 2.5, "a", None, True]:
        out.append(
            Case(
                f"check_oracle samples={v!r}",
                lambda v=v: lfso.check_oracle(model, X3, samples=v),
                ("samples",),
                v,
            )
        )
    for label, v in {
        "[]": [],
        "[-1]": [-1.0],
        "[nan]": [NAN],
        "'abc'": "abc",
        "None": None,
        "[inf]": [INF],
    }.items():
        out.append(
            Case(
                f"check_oracle radii={label}",
                lambda v=v: lfso.check_oracle(model, X3, radii=v),
                ("radii",),
            )
        )
    for v in [-1.0, NAN, "a"]:
        out.append(
            Case(
                f"check_oracle rtol={v!r}",
                lambda v=v: lfso.check_oracle(model, X3, rtol=v),
                ("rtol",),
                v,
            )
        )
    out.append(
        Case("check_oracle x nan", lambda: lfso.check_oracle(model, [NAN, 1.0, 1.0]), ("x",))
    )
    out.append(
        Case(
            "check_oracle x wrong length",
            lambda: lfso.check_oracle(models.LpRegression(np.eye(2), np.ones(2), 2), X3),
            ("x",),
        )
    )
    out.append(
        Case(
            "check_oracle seed='a'", lambda: lfso.check_oracle(model, X3, seed="a"), ("seed",), "a"
        )
    )
    square = models.LpRegression(np.eye(2), np.ones(2), 1)
    out.append(
        Case(
            "AffineOracle A of the wrong row count",
            lambda: lfso.oracles.AffineOracle(square, np.ones((3, 2))),
            ("A",),
        )
    )
    out.append(Case("SumOracle of no terms", lambda: lfso.oracles.SumOracle(), ("term",)))
    return out


def tuning_cases() -> list[Case]:
    out: list[Case] = []
    model = models.PowerSum(1)
    for label, v in {
        "[]": [],
        "[-1]": [-1.0],
        "[nan]": [NAN],
        "['a']": ["a"],
        "5": 5,
        "None": None,
        "[0]": [0.0],
        "[inf]": [INF],
    }.items():
        out.append(
            Case(
                f"tune_step steps={label}",
                lambda v=v: lfso.bench.tune_step(model, X3, steps=v, max_iter=50),
                ("steps", "step"),
            )
        )
    for v in [-1.0, NAN, "a", None, 0.0]:
        out.append(
            Case(
                f"tune_step blowup={v!r}",
                lambda v=v: lfso.bench.tune_step(model, X3, steps=[0.1], blowup=v, max_iter=50),
                ("blowup",),
                v,
            )
        )
    for v in [-1, True, "a"]:
        out.append(
            Case(
                f"tune_step max_iter={v!r}",
                lambda v=v: lfso.bench.tune_step(model, X3, steps=[0.1], max_iter=v),
                ("max_iter",),
                v,
            )
        )
    out.append(Case("get_problem a list", lambda: lfso.bench.get_problem(["a"]), ("name",)))
    out.append(
        Case(
            "Problem.make oracle='bogus'",
            lambda: lfso.bench.get_problem("power_norm-p2").make("bogus"),
            ("oracle",),
            "bogus",
        )
    )
    out.append(
        Case(
            "run_suite problems as one str",
            lambda: lfso.bench.run_suite("power_sum-p2", ["lfso"]),
            ("problems",),
            "power_sum-p2",
        )
    )
    return out


def file_cases(folder: Path) -> list[Case]:
    out: list[Case] = []
    res = lfso.minimize(models.PowerSum(2), X3)
    good = res.save(folder / "good.npz")
    raw = good.read_bytes()
    hist = res.history.save(folder / "hist.npz")

    def write(name: str, data: bytes) -> Path:
        p = folder / name
        p.write_bytes(data)
        return p

    files: dict[str, Path] = {
        "empty": write("empty.npz", b""),
        "random": write("random.npz", np.random.default_rng(0).bytes(4096)),
        "text": write("text.npz", b"hello, this is not an npz file\n"),
        "truncated": write("truncated.npz", raw[: len(raw) // 2]),
        "missing": folder / "missing.npz",
        "directory": folder,
    }
    flipped = bytearray(raw)
    flipped[len(raw) // 3] ^= 0xFF
    files["bit-flipped"] = write("flipped.npz", bytes(flipped))
    np.save(folder / "array.npy", np.ones(3))
    files[".npy"] = folder / "array.npy"

    def npz(name: str, **arrays: Any) -> Path:
        p = folder / name
        np.savez(p, **arrays)
        return p

    with np.load(good) as data:
        parts = {k: data[k] for k in data.files}
    files["bad meta json"] = npz("badmeta.npz", **{**parts, "meta": np.array("{not json")})
    files["meta not a dict"] = npz("metalist.npz", **{**parts, "meta": np.array("[1, 2]")})
    files["unknown status"] = npz(
        "status.npz",
        **{**parts, "meta": np.array(str(parts["meta"]).replace('"CONVERGED"', '"BOGUS"'))},
    )
    files["meta missing key"] = npz("nokey.npz", **{**parts, "meta": np.array('{"fun": 1.0}')})
    files["no meta"] = npz("nometa.npz", x=parts["x"])
    files["history ragged"] = npz("ragged.npz", **{**parts, "history_f": np.ones(2)})
    files["meta extra key"] = npz(
        "extra.npz", **{**parts, "meta": np.array(str(parts["meta"])[:-1] + ', "evil": 1}')}
    )
    # a header claiming 1e12 float64s
    huge = bytearray(raw)
    marker = b"'shape': ("
    i = huge.find(marker)
    if i >= 0:
        j = huge.find(b")", i)
        huge[i + len(marker) : j] = b"1000000000000,"
    files["header 1e12 floats"] = write("huge.npz", bytes(huge))
    files["history 1e12 floats"] = write("huge_hist.npz", _huge_npy_zip(folder))

    for label, path in files.items():
        out.append(
            Case(f"Result.load {label}", lambda p=path: lfso.Result.load(p), (path.name, str(path)))
        )
    for label in (
        "empty",
        "random",
        "text",
        "truncated",
        "bit-flipped",
        ".npy",
        "missing",
        "history 1e12 floats",
    ):
        path = files[label]
        out.append(
            Case(
                f"History.load {label}", lambda p=path: lfso.History.load(p), (path.name, str(path))
            )
        )
    out.append(
        Case(
            "History.load of a Result file", lambda: lfso.History.load(good), (good.name, str(good))
        )
    )
    out.append(
        Case(
            "Result.load of a History file", lambda: lfso.Result.load(hist), (hist.name, str(hist))
        )
    )
    out.append(
        Case(
            "History.load history ragged",
            lambda: lfso.History.load(npz("hragged.npz", f=np.ones(3), grad_norm=np.ones(2))),
            ("hragged.npz",),
        )
    )

    def noext():
        res.save(folder / "noext")
        return lfso.Result.load(folder / "noext")

    def noext_hist():
        res.history.save(folder / "noext_h")
        return lfso.History.load(folder / "noext_h")

    out.append(Case("save/load 'noext'", noext, ("noext",), expect=lambda r: r.nit == res.nit))
    out.append(
        Case(
            "History save/load 'noext'",
            noext_hist,
            ("noext_h",),
            expect=lambda h: len(h) == len(res.history),
        )
    )
    out.append(
        Case(
            "round trip",
            lambda: lfso.Result.load(good),
            ("good",),
            expect=lambda r: r.status is res.status and np.array_equal(r.x, res.x),
        )
    )
    return out


def _huge_npy_zip(folder: Path) -> bytes:
    import io
    import zipfile

    header = np.lib.format
    buf = io.BytesIO()
    header.write_array_header_1_0(buf, {"descr": "<f8", "fortran_order": False, "shape": (10**12,)})
    zbuf = io.BytesIO()
    with zipfile.ZipFile(zbuf, "w") as z:
        z.writestr(
            "f.npy", header.MAGIC_PREFIX[:0] + _npy_magic() + buf.getvalue()[8:] + b"\0" * 64
        )
    return zbuf.getvalue()


def _npy_magic() -> bytes:
    return np.lib.format.magic(1, 0)


def scipy_cases() -> list[Case]:
    import scipy.optimize

    import lfso.scipy as ls

    def sp(fun=quartic, jac=quartic_grad, method=ls.lfso, **kw):
        return scipy.optimize.minimize(fun, X3, jac=jac, method=method, **kw)

    out = [
        Case(
            "scipy maxiter='a'", lambda: sp(options={"maxiter": "a"}), ("maxiter", "max_iter"), "a"
        ),
        Case("scipy tol=-1", lambda: sp(options={"tol": -1.0}), ("tol",), -1.0),
        Case("scipy gtol=nan", lambda: sp(options={"gtol": NAN}), ("gtol", "atol"), NAN),
        Case("scipy fun returns array(2)", lambda: sp(fun=lambda x: np.ones(2)), ("fun",)),
        Case("scipy jac wrong shape", lambda: sp(jac=lambda x: np.ones(2)), ("jac", "grad")),
        Case(
            "scipy hessp wrong shape",
            lambda: sp(hessp=lambda x, v: np.ones(2), options={"maxiter": 10_000}),
            ("hessp", "hvp"),
        ),
        Case(
            "scipy fun returns array(1)",
            lambda: sp(fun=lambda x: np.array([quartic(x)]), options={"maxiter": 10_000}),
            ("fun",),
            expect=lambda r: bool(r.success),
        ),
        Case("scipy smoothness str", lambda: sp(options={"smoothness": "x"}), ("smoothness",), "x"),
        Case("scipy gd step=-1", lambda: sp(method=ls.gd, options={"step": -1.0}), ("step",), -1.0),
    ]
    return out


def sklearn_cases() -> list[Case]:
    from lfso.sklearn import LeastPowerRegressor, LFSOLogisticRegression

    rng = np.random.default_rng(0)
    X = rng.standard_normal((20, 2))
    y = X @ np.array([1.0, -1.0])
    yc = (y > 0).astype(int)
    Xnan = X.copy()
    Xnan[0, 0] = NAN
    out = []
    for v in [0.5, "a", None, NAN]:
        out.append(
            Case(
                f"LeastPowerRegressor(p={v!r})",
                lambda v=v: LeastPowerRegressor(p=v).fit(X, y),
                ("p",),
                v,
            )
        )
    for v in [-1.0, 0.0, "a", NAN]:
        out.append(
            Case(
                f"LFSOLogisticRegression(C={v!r})",
                lambda v=v: LFSOLogisticRegression(C=v).fit(X, yc),
                ("C",),
                v,
            )
        )
    for est in (LeastPowerRegressor, LFSOLogisticRegression):
        target = y if est is LeastPowerRegressor else yc
        for name, v in [("method", "nope"), ("tol", -1.0), ("max_iter", 2.5), ("max_iter", True)]:
            out.append(
                Case(
                    f"{est.__name__}({name}={v!r})",
                    lambda e=est, n=name, v=v, t=target: e(**{n: v}).fit(X, t),
                    (name,),
                    v,
                )
            )
        out.append(
            Case(f"{est.__name__} X nan", lambda e=est, t=target: e().fit(Xnan, t), ("X", "NaN"))
        )
    return out


def face_cases() -> list[Case]:
    """The report, monitor and rollout faces' own arguments."""
    from lfso.monitor import RiskMonitor
    from lfso.report import LiveReport, html_report, plot_runs
    from lfso.rollout import GoCriteria, Guard, TuningBudget, return_on_investment, rollout

    model = models.PowerSum(2)
    run = lfso.minimize(model, X3)

    def roi(target_rtol: Any) -> Any:
        budget = TuningBudget(gradients=1)
        return return_on_investment(
            run.history, tuning=budget, current=run.history, target_rtol=target_rtol
        )

    return [
        Case("html_report path=3", lambda: html_report([run], 3), ("path",), 3),
        Case("plot_runs path=3", lambda: plot_runs([run], path=3), ("path",), 3),
        Case("compare output=3", lambda: lfso.compare(model, X3, output=3), ("output",), 3),
        Case(
            "compare title=None",
            lambda: lfso.compare(model, X3, output=None, title=None),
            ("title",),
            None,
        ),
        Case(
            "compare baseline with x0",
            lambda: lfso.compare(model, X3, output=None, baseline={"method": "gd", "x0": X3}),
            ("baseline",),
        ),
        Case("Guard divergence='a'", lambda: Guard(divergence="a"), ("divergence",), "a"),
        Case(
            "RiskMonitor collapse='a'",
            lambda: RiskMonitor(monotone=True, gradient_step=True, collapse="a"),
            ("collapse",),
            "a",
        ),
        Case("LiveReport every='a'", lambda: LiveReport("page.html", every="a"), ("every",), "a"),
        Case("TuningBudget gradients=10.5", lambda: TuningBudget(10.5), ("gradients",), 10.5),
        Case("TuningBudget seconds='a'", lambda: TuningBudget(1, seconds="a"), ("seconds",), "a"),
        Case("TuningBudget runs=-3", lambda: TuningBudget(1, runs=-3), ("runs",), -3),
        Case("GoCriteria target_rtol='a'", lambda: GoCriteria("a"), ("target_rtol",), "a"),
        Case(
            "GoCriteria forbidden_risks='descent'",
            lambda: GoCriteria(forbidden_risks="descent"),
            ("forbidden_risks",),
            "descent",
        ),
        Case("return_on_investment target_rtol=nan", lambda: roi(NAN), ("target_rtol",), NAN),
        Case("return_on_investment target_rtol=-1", lambda: roi(-1.0), ("target_rtol",), -1.0),
        Case(
            "rollout tuning=[steps] for armijo",
            lambda: rollout(model, X3, {"method": "armijo"}, tuning=[1e-3, 1e-2]),
            ("tuning",),
            [1e-3, 1e-2],
        ),
    ]


#: The groups of cases; ``file_cases`` takes a folder to write its files in.
GROUPS: dict[str, Callable[..., list[Case]]] = {
    "scalar": scalar_cases,
    "x0": x0_cases,
    "callback": callback_cases,
    "callable": callable_cases,
    "model": model_cases,
    "stationary": stationary_cases,
    "oracle": oracle_cases,
    "tuning": tuning_cases,
    "file": file_cases,
    "scipy": scipy_cases,
    "sklearn": sklearn_cases,
    "faces": face_cases,
}


def all_cases(folder: Path) -> list[Case]:
    return [
        case
        for name, group in GROUPS.items()
        for case in (group(folder) if name == "file" else group())
    ]


@pytest.mark.parametrize("name", sorted(GROUPS))
def test_each_bad_input_is_refused_clearly_and_each_edge_case_works(name, tmp_path):
    if name == "sklearn":
        pytest.importorskip("sklearn")
    group = GROUPS[name]
    with np.errstate(all="ignore"):
        cases = group(tmp_path) if name == "file" else group()
        assert cases, name
        verdicts = [(case.label, *classify(case)) for case in cases]
    wrong = [
        f"{verdict} {label}: {why[:200]}"
        for label, verdict, why in verdicts
        if verdict not in ("clear", "valid")
    ]
    assert not wrong, "\n".join(wrong)


def _fail(exc: Exception) -> Callable[[], Any]:
    def call() -> Any:
        raise exc

    return call


@pytest.mark.parametrize(
    ("case", "verdict"),
    [
        (Case("c", _fail(ValueError("tol must be >= 0, got tol=-1")), ("tol",), -1), "clear"),
        (Case("u", _fail(ValueError("could not convert string")), ("tol",), "a"), "unclear"),
        (Case("n", _fail(ValueError("tol must be >= 0, got -1")), ("tol",), -2), "unclear"),
        (Case("e", _fail(RuntimeError("tol must be >= 0, got -1")), ("tol",), -1), "unclear"),
        (Case("r", _fail(ValueError("bad")), ("tol",), expect=lambda r: True), "unclear"),
        (Case("s", lambda: 1.0, ("tol",)), "silent"),
        (Case("w", lambda: 2.0, ("tol",), expect=lambda r: r == 1.0), "silent"),
        (Case("v", lambda: 1.0, ("tol",), expect=lambda r: r == 1.0), "valid"),
    ],
    ids=lambda v: v.label if isinstance(v, Case) else v,
)
def test_the_campaign_classifies_each_kind_of_outcome(case, verdict):
    assert classify(case)[0] == verdict


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--verbose", action="store_true", help="list the cases not clear/valid")
    args = parser.parse_args()
    np.seterr(all="ignore")
    with tempfile.TemporaryDirectory() as tmp:
        cases = all_cases(Path(tmp))
        counts: Counter[str] = Counter()
        for case in cases:
            verdict, why = classify(case)
            counts[verdict] += 1
            if args.verbose and verdict not in ("clear", "valid"):
                print(f"{verdict:8s} {case.label}: {why[:200]}")
    total = sum(counts.values())
    print(f"cases {total}")
    for k in ("clear", "unclear", "silent", "valid"):
        print(f"{k:8s} {counts[k]}")
    if os.environ.get("LFSO_CAMPAIGN_STRICT") and counts["unclear"] + counts["silent"]:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
