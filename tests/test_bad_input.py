"""Bad input is a clear error, never a silent result; edge cases that must work do.

Tables of (input, expected error, message fragment), then a property-based campaign that
plants random bad values in every argument class and asserts the error names the argument
(and the value), and the fault tests: atomic saves, interrupts at every line of the loop,
no process-wide warning filters.
"""

from __future__ import annotations

import json
import math
import re
import sys
import warnings
import zipfile

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import lfso
from lfso import History, Result, Status, models
from lfso import _loop as loop
from lfso.models import (
    CauchyRegression,
    CompositeLeastSquares,
    FunctionModel,
    L0L1Smooth,
    LogisticRegression,
    LpRegression,
    PowerNorm,
    PowerSum,
    SoftmaxRegression,
)
from lfso.monitor import CSVLogger, EarlyStopping, RiskWarning

NAN, INF = math.nan, math.inf
X3 = np.ones(3)
A = np.array([[1.0, 0.0], [0.0, 2.0], [1.0, 1.0]])
B = np.array([1.0, -1.0, 0.5])
ERRORS = (ValueError, TypeError, lfso.OracleError)


def quartic(x):
    return float(np.sum(x**4))


def quartic_grad(x):
    return 4 * x**3


def quartic_oracle(x, R):
    return 12 * (float(np.max(np.abs(x))) + R) ** 2


def plain(**kw):
    kw.setdefault("fun", quartic)
    kw.setdefault("grad", quartic_grad)
    kw.setdefault("smoothness", quartic_oracle)
    kw.setdefault("max_iter", 200)
    return lfso.minimize(kw.pop("fun"), kw.pop("x0", X3), **kw)


def run(**kw):
    kw.setdefault("max_iter", 200)
    return lfso.minimize(kw.pop("model", PowerSum(2)), kw.pop("x0", X3), **kw)


class JunkOracle(lfso.oracles.LocalSmoothnessOracle):
    """A user's oracle class whose bound returns a string."""

    def at(self, x):
        return lfso.oracles.FunctionBound(lambda radius: "junk")


class _ArrayBound(lfso.oracles.LocalBound):
    def __call__(self, radius):
        return np.ones(2)


class ArrayBoundOracle(lfso.oracles.LocalSmoothnessOracle):
    """A user's oracle class whose own bound class returns an array of two values."""

    def at(self, x):
        return _ArrayBound()


class _SolvingBound(lfso.oracles.LocalBound):
    def __init__(self, answer):
        self.answer = answer

    def __call__(self, radius):
        return 12.0 * (2.0 + radius) ** 2

    def radius_for(self, target, *, rtol=1e-3, guess=None):
        return self.answer


class SolvingOracle(lfso.oracles.LocalSmoothnessOracle):
    """A user's oracle class whose bound class solves its own radius, answering ``answer``."""

    def __init__(self, answer):
        self.answer = answer

    def at(self, x):
        return _SolvingBound(self.answer)


# -- tables --------------------------------------------------------------------------------

BAD = [
    # minimize's own arguments: no coercion
    ("max_iter=True", lambda: run(max_iter=True), TypeError, "max_iter must be an integer"),
    ("max_iter=2.5", lambda: run(max_iter=2.5), TypeError, r"max_iter .*2\.5"),
    (
        "max_iter=np.float32(2.5)",
        lambda: run(max_iter=np.float32(2.5)),
        TypeError,
        r"got max_iter=np\.float32\(2\.5\) \(float32\)",
    ),
    ("tol='1'", lambda: run(tol="1"), TypeError, "tol must be finite and >= 0, got tol='1'"),
    ("tol=True", lambda: run(tol=True), TypeError, r"tol must be .*, got tol=True \(a bool\)"),
    ("tol=[1e-8]", lambda: run(tol=[1e-8]), TypeError, r"got tol=\[1e-08\] \(list\)"),
    ("atol=nan", lambda: run(atol=NAN), ValueError, "atol must be finite and >= 0"),
    ("atol=None", lambda: run(atol=None), TypeError, "atol .*None"),
    ("progress='yes'", lambda: run(progress="yes"), TypeError, "progress must be True"),
    ("monitor=2", lambda: run(monitor=2), ValueError, "monitor must be"),
    ("callback=5", lambda: run(callback=5), TypeError, "callback must be callable"),
    ("callback list junk", lambda: run(callback=[print, 3]), TypeError, r"callback\[1\]"),
    ("callback arity", lambda: run(callback=lambda: None), TypeError, "callback must accept"),
    ("grad=5", lambda: plain(grad=5), TypeError, "grad must be callable"),
    ("hvp=5", lambda: plain(smoothness="auto", hvp=5), TypeError, "hvp must be callable"),
    ("smoothness=[5]", lambda: plain(smoothness=[5]), TypeError, "smoothness must be"),
    ("smoothness=-5", lambda: plain(smoothness=-5), ValueError, "smoothness must be finite"),
    (
        "smoothness with gd",
        lambda: plain(method="gd", step=0.1),
        TypeError,
        "method='gd' uses no smoothness oracle; drop smoothness=",
    ),
    ("objective=5", lambda: lfso.minimize(5, X3), TypeError, "objective must be .*got 5"),
    # SciPy's names: the error gives lfso's
    ("maxiter=", lambda: run(maxiter=5), TypeError, "maxiter= .*did you mean max_iter="),
    ("jac=", lambda: lfso.minimize(quartic, X3, jac=quartic_grad), TypeError, "mean grad="),
    ("hess=", lambda: run(hess=lambda x: np.eye(3)), TypeError, "did you mean hvp="),
    ("hessp=", lambda: run(hessp=lambda x, v: v), TypeError, "did you mean hvp="),
    ("gtol=", lambda: run(gtol=1e-6), TypeError, "did you mean atol="),
    ("disp=", lambda: run(disp=True), TypeError, "did you mean progress="),
    ("options=", lambda: run(options={"maxiter": 5}), TypeError, r"keywords.*max_iter=5\)"),
    ("args=", lambda: run(args=(1,)), TypeError, "bind them"),
    ("bounds=", lambda: run(bounds=[(0, 1)] * 3), TypeError, "unconstrained"),
    # x0
    ("x0 ragged", lambda: run(x0=[[1.0], [1.0, 2.0]]), ValueError, "x0 must be a 1-D real"),
    ("x0 str", lambda: run(x0="abc"), TypeError, "x0 must be a 1-D real array"),
    ("x0 None", lambda: run(x0=None), TypeError, "x0 must be a 1-D real array"),
    ("x0 complex", lambda: run(x0=X3 * 1j), TypeError, "x0 must be a real array"),
    ("x0 nan", lambda: run(x0=[1.0, NAN, 1.0]), ValueError, "x0 must be finite"),
    # user callables: each names which callable returned what
    (
        "fun -> array(2)",
        lambda: plain(fun=lambda x: np.ones(2)),
        ValueError,
        r"fun\(x\) must return a real number .*shape \(2,\)",
    ),
    ("fun -> str", lambda: plain(fun=lambda x: "a"), TypeError, r"fun\(x\) must return a real"),
    ("fun -> None", lambda: plain(fun=lambda x: None), TypeError, r"fun\(x\) .*None"),
    ("fun -> complex", lambda: plain(fun=lambda x: 1j), TypeError, r"fun\(x\) .*complex"),
    (
        "fun -> complex array",
        lambda: plain(fun=lambda x: np.array([1j])),
        TypeError,
        r"fun\(x\) .*dtype complex",
    ),
    ("fun arity", lambda: plain(fun=lambda: 1.0), TypeError, r"fun must be callable as fun\(x\)"),
    (
        "auto: fun -> str",
        lambda: plain(fun=lambda x: "a", smoothness="auto"),
        TypeError,
        r"fun\(x\)",
    ),
    (
        "grad -> (2,)",
        lambda: plain(grad=lambda x: np.ones(2)),
        ValueError,
        r"grad\(x\) must have shape \(3,\)",
    ),
    ("grad -> str", lambda: plain(grad=lambda x: "a"), TypeError, r"grad\(x\) must return"),
    (
        "grad -> complex",
        lambda: plain(grad=lambda x: x * 1j),
        TypeError,
        r"grad\(x\) must return a real array",
    ),
    ("grad arity", lambda: plain(grad=lambda: X3), TypeError, r"grad must be callable as"),
    ("grad=True, float", lambda: plain(grad=True), TypeError, "fun must return a pair"),
    (
        "smoothness -> str",
        lambda: plain(smoothness=lambda x, R: "a"),
        TypeError,
        r"smoothness\(x, R\) must return a real number",
    ),
    (
        "smoothness -> array(2)",
        lambda: plain(smoothness=lambda x, R: np.ones(2)),
        ValueError,
        r"smoothness\(x, R\)",
    ),
    (
        "smoothness -> int past the float range",
        lambda: plain(smoothness=lambda x, R: 10**400),
        lfso.OracleError,
        r"smoothness oracle returned L\(x, R=.*\) = inf",
    ),
    (
        "fun -> int past the float range",
        lambda: plain(fun=lambda x: 10**400),
        ValueError,
        r"f\(x0\) = inf",
    ),
    (
        "smoothness -> -1",
        lambda: plain(smoothness=lambda x, R: -1.0),
        lfso.OracleError,
        "smoothness oracle returned",
    ),
    (
        "smoothness decreasing, radius rule",
        lambda: plain(smoothness=lambda x, R: 100.0 / (1.0 + R), radius=lambda x: 1.0),
        lfso.OracleError,
        r"smoothness oracle decreases in R: L\(x, R=0\.\d+\) = .* but L\(x, R=1\) = 50",
    ),
    (
        "smoothness arity",
        lambda: plain(smoothness=lambda x: 1.0),
        TypeError,
        r"smoothness must be callable as smoothness\(x, R\)",
    ),
    (
        "hvp -> (2,)",
        lambda: plain(smoothness="auto", hvp=lambda x, v: np.ones(2), max_iter=10_000),
        ValueError,
        r"hvp\(x, v\) must have shape \(3,\)",
    ),
    (
        "hvp -> None",
        lambda: plain(smoothness="auto", hvp=lambda x, v: None),
        TypeError,
        r"hvp\(x, v\) must return",
    ),
    (
        "hvp -> NaN",
        lambda: plain(smoothness="auto", hvp=lambda x, v: v * NAN),
        ValueError,
        r"hvp\(x, v\) must return Hess f\(x\) v, a finite array, got .*NaN",
    ),
    (
        "hvp arity",
        lambda: plain(smoothness="auto", hvp=lambda x: x),
        TypeError,
        r"hvp must be callable as hvp\(x, v\)",
    ),
    # data
    (
        "A lists ragged",
        lambda: LpRegression([[1.0], [1.0, 2.0]], [1.0, 2.0], 2),
        ValueError,
        "A must be a rectangular",
    ),
    (
        "A empty",
        lambda: LpRegression(np.empty((0, 2)), np.empty(0), 2),
        ValueError,
        "A must not be empty",
    ),
    ("A complex", lambda: LpRegression(A * 1j, B, 2), TypeError, "A must be a real array"),
    (
        "A inf",
        lambda: CompositeLeastSquares(np.where(A > 1, INF, A), B, 2),
        ValueError,
        "A must be finite",
    ),
    ("A str", lambda: CauchyRegression([["a", "b"]], ["c"]), TypeError, "A must be a real"),
    (
        "A * 1e160",
        lambda: LpRegression(A * 1e160, B, 2),
        ValueError,
        r"A is too large in scale: .*\|\|A\|\|_F\^2 .*overflows float64 .*\|A_ij\| = 2e\+160",
    ),
    (
        "X * 1e160",
        lambda: LogisticRegression(A * 1e160, [0, 1, 1]),
        ValueError,
        r"X is too large in scale: .*\|X_ij\| = 2e\+160\); rescale X",
    ),
    ("A None", lambda: LpRegression(None, B, 2), TypeError, "A must be an array, got None"),
    ("A 3-D", lambda: LpRegression(np.ones((3, 2, 1)), B, 2), ValueError, "A must be 2-D"),
    ("b nan", lambda: LpRegression(A, [1.0, NAN, 0.0], 2), ValueError, "b must be finite"),
    ("b complex", lambda: CauchyRegression(A, B * 1j), TypeError, "b must be a real array"),
    ("b 2-D", lambda: LpRegression(A, B[:, None], 2), ValueError, r"b must have shape \(3,\)"),
    ("p=inf", lambda: LpRegression(A, B, INF), ValueError, "p must be finite"),
    ("p=True", lambda: PowerSum(True), TypeError, r"p must be .* >= 1, got p=True \(a bool\)"),
    ("p='2'", lambda: PowerNorm("2"), TypeError, "p must be finite and >= 1, got p='2'"),
    ("p=[2]", lambda: CompositeLeastSquares(A, B, [2.0]), TypeError, r"p must .*, got p=\[2\.0\]"),
    ("p=0.5", lambda: LpRegression(A, B, 0.5), ValueError, "p must be finite and >= 1"),
    ("norm=-1", lambda: LpRegression(A, B, 2, norm=-1.0), ValueError, "norm must be"),
    ("norm=0", lambda: LpRegression(A, B, 2, norm=0.0), ValueError, r"norm must be >= \|\|A"),
    (
        "norm=1e-3 composite",
        lambda: CompositeLeastSquares(A, B, 2, norm=1e-3),
        ValueError,
        r"norm must be >= \|\|A\|\|_2, .*\(here \|\|A\|\|_2 >= 2; .*got norm=0\.001",
    ),
    (
        "norm=1e-3 affine",
        lambda: lfso.oracles.AffineOracle(PowerNorm(2), A, norm=1e-3),
        ValueError,
        "got norm=0.001",
    ),
    (
        "norm=1e200",
        lambda: LpRegression(A, B, 1, norm=1e200),
        ValueError,
        r"norm must be <= 1\.34078e\+154: the smoothness bounds need norm\^2, .*got norm=1e\+200",
    ),
    (
        "norm=1e200 affine",
        lambda: lfso.oracles.AffineOracle(PowerNorm(2), A, norm=1e200),
        ValueError,
        "got norm=1e",
    ),
    ("c=0", lambda: CauchyRegression(A, B, c=0.0), ValueError, "c must be finite and positive"),
    ("l2=-1 cauchy", lambda: CauchyRegression(A, B, l2=-1.0), ValueError, "l2 must be finite"),
    ("l2=nan logistic", lambda: LogisticRegression(A, [0, 1, 1], l2=NAN), ValueError, "l2"),
    ("l2='a' softmax", lambda: SoftmaxRegression(A, [0, 1, 2], 3, l2="a"), TypeError, "l2"),
    (
        "l2 per feature, too few",
        lambda: LogisticRegression(A, [0, 1, 1], l2=[0.1]),
        ValueError,
        r"l2 must be a finite float >= 0 or 2 of them \(one per feature\), got shape \(1,\)",
    ),
    (
        "l2 per feature, negative",
        lambda: SoftmaxRegression(A, [0, 1, 2], 3, l2=np.array([0.1, -2.0])),
        ValueError,
        r"l2 must hold finite values >= 0 \(one per feature\), got l2\[1\]=-2\.0",
    ),
    (
        "l2 per feature, nan",
        lambda: LogisticRegression(A, [0, 1, 1], l2=[NAN, 1.0]),
        ValueError,
        r"got l2\[0\]=nan",
    ),
    (
        "l2 per feature, 2-D",
        lambda: LogisticRegression(A, [0, 1, 1], l2=np.ones((1, 2))),
        ValueError,
        r"l2 must be .* got shape \(1, 2\)",
    ),
    (
        "l2 per feature, strings",
        lambda: LogisticRegression(A, [0, 1, 1], l2=["a", "b"]),
        TypeError,
        "l2 must be a finite float >= 0 or 2 of them",
    ),
    (
        "l2 per feature, past float32",
        lambda: LogisticRegression(A.astype(np.float32), [0, 1, 1], l2=[1e39, 0.0]),
        ValueError,
        r"l2 must fit the data's dtype float32, got l2 up to 1e\+39",
    ),
    (
        "l2=True ridge",
        lambda: lfso.oracles.ridge(lfso.oracles.ConstantOracle(1.0), True),
        TypeError,
        "l2",
    ),
    # labels
    ("logistic y {0,2}", lambda: LogisticRegression(A, [0.0, 2.0, 2.0]), ValueError, "two classes"),
    (  # (two classes, neither 0/1 nor -1/+1: refused, as documented, with the mapping)
        "logistic y {1,2}",
        lambda: LogisticRegression(A, [1, 2, 2]),
        ValueError,
        r"0/1 or -1/\+1, got 2 distinct values \[1, 2\]: map them to 0/1, e\.g\. y == 2$",
    ),
    (
        "logistic y one value, not a class",
        lambda: LogisticRegression(A, [0.5, 0.5, 0.5]),
        ValueError,
        r"0/1 or -1/\+1, got 1 distinct value \[0\.5\]$",
    ),
    (
        "logistic y text",
        lambda: LogisticRegression(A, np.array([0.0, 1.0, 1.0]).astype(str)),
        TypeError,
        r"numbers; got strings \['0\.0', '1\.0'\] \(dtype <U32\): convert them, e\.g\. y\.astype",
    ),
    (  # (bytes as Python shows them, not their str: "b'0'" in quotes)
        "logistic y bytes",
        lambda: LogisticRegression(A, np.array([b"0", b"1", b"1"])),
        TypeError,
        r"numbers; got byte strings \[b'0', b'1'\] \(dtype \|S1\): convert them",
    ),
    (
        "softmax y text",
        lambda: SoftmaxRegression(A, np.array(["0", "1", "2"]), 3),
        TypeError,
        r"numbers; got strings \['0', '1', '2'\] \(dtype <U1\): convert them, e\.g\. y\.astype",
    ),
    (
        "softmax y bytes",
        lambda: SoftmaxRegression(A, np.array([b"0", b"1", b"2"]), 3),
        TypeError,
        r"numbers; got byte strings \[b'0', b'1', b'2'\] \(dtype \|S1\): convert them",
    ),
    (
        "softmax y text objects",
        lambda: SoftmaxRegression(A, np.array(["0", "1", "2"], dtype=object), 3),
        TypeError,
        r"numbers; got strings \['0', '1', '2'\] \(dtype object\): convert them",
    ),
    (
        "softmax n_classes past memory",
        lambda: SoftmaxRegression(A, [0, 1, 1], 10**15),
        ValueError,
        r"n_classes=1000000000000000 is too many for n=3 rows .* need [0-9.e+]* GiB",
    ),
    (
        "softmax n_classes past indexing",
        lambda: SoftmaxRegression(A, [0, 1, 1], 2**62),
        ValueError,
        r"n_classes=4611686018427387904 is too many",
    ),
    (  # (listed all of them)
        "logistic y 600 values",
        lambda: LogisticRegression(np.ones((600, 2)), np.arange(600.0)),
        ValueError,
        "got 600 distinct values \\[0.0, 1.0, 2.0, 3.0, 4.0, 5.0, ...\\]$",
    ),
    (
        "logistic y None",
        lambda: LogisticRegression(A, np.array([0, 1, None], dtype=object)),
        TypeError,
        "y must hold two classes as 0/1 or -1/\\+1, got an array of dtype object",
    ),
    ("logistic y nan", lambda: LogisticRegression(A, [0.0, NAN, 1.0]), ValueError, "y must"),
    (  # (taken with NumPy's ComplexWarning alone, as 0j == 0)
        "logistic y complex",
        lambda: LogisticRegression(A, np.array([0, 1, 1], complex)),
        TypeError,
        "y must hold two classes as 0/1 or -1/\\+1, real labels, got dtype complex128",
    ),
    (  # (failed inside: '<' not supported between instances of 'complex' and 'complex')
        "logistic y 1j",
        lambda: LogisticRegression(A, [0, 1, 1j]),
        TypeError,
        "y must hold two classes .*real labels, got dtype complex128",
    ),
    (  # (cast to A's dtype after the check: inf targets, no error)
        "lp b past float32",
        lambda: LpRegression(A.astype(np.float32), [1.0, 1e39, 0.0], 2),
        ValueError,
        r"b must be finite in A's dtype float32 \(the run's\), got b\[1\]=1e\+39",
    ),
    (
        "cauchy b past float16",
        lambda: CauchyRegression(A.astype(np.float16), [1.0, 0.0, -7e4]),
        ValueError,
        r"b must be finite in A's dtype float16 .*got b\[2\]=-70000.0",
    ),
    (
        "softmax y complex",
        lambda: SoftmaxRegression(A, np.array([0, 1, 2], complex), 3),
        TypeError,
        "y must hold class indices 0..2, got dtype complex128",
    ),
    (
        "logistic y short",
        lambda: LogisticRegression(A, [0.0, 1.0]),
        ValueError,
        r"y must have shape \(3,\)",
    ),
    (
        "logistic X nan",
        lambda: LogisticRegression(A * NAN, [0, 1, 1]),
        ValueError,
        "X must be finite",
    ),
    (
        "softmax y=3 of 3",
        lambda: SoftmaxRegression(A, [0, 1, 3], 3),
        ValueError,
        r"class indices 0\.\.2 .*got the label 3",
    ),
    ("softmax y=-1", lambda: SoftmaxRegression(A, [0, -1, 2], 3), ValueError, "label -1"),
    (
        "softmax y=0.5",
        lambda: SoftmaxRegression(A, [0.0, 0.5, 2.0], 3),
        ValueError,
        "integer class indices, got 0.5",
    ),
    ("softmax y nan", lambda: SoftmaxRegression(A, [0.0, NAN, 2.0], 3), ValueError, "NaN"),
    (
        "softmax y str",
        lambda: SoftmaxRegression(A, np.array(["a", "b", "c"]), 3),
        TypeError,
        "y must hold class indices",
    ),
    (
        "softmax n_classes=2.5",
        lambda: SoftmaxRegression(A, [0, 1, 1], 2.5),
        TypeError,
        r"n_classes must be an integer >= 2, got n_classes=2\.5 \(float\)",
    ),
    (
        "softmax n_classes=1",
        lambda: SoftmaxRegression(A, [0, 0, 0], 1),
        ValueError,
        "n_classes must be an integer >= 2, got n_classes=1",
    ),
    (
        "softmax n_classes=True",
        lambda: SoftmaxRegression(A, [0, 1, 1], True),
        TypeError,
        "n_classes",
    ),
    (
        "L0L1 base",
        lambda: L0L1Smooth(5, 1.0, 1.0),
        TypeError,
        r"base must be a model \(lfso.models\), got 5",
    ),
    ("L0L1 L0='a'", lambda: L0L1Smooth(PowerSum(2), "a", 1.0), TypeError, "L0"),
    # oracles
    (
        "oracle class -> str",
        lambda: plain(smoothness=JunkOracle()),
        lfso.OracleError,
        "smoothness oracle returned .*'junk'",
    ),
    (
        "radius_for -> (-1, 5, 1), lfso",
        lambda: plain(smoothness=SolvingOracle((-1.0, 5.0, 1)), method="lfso"),
        lfso.OracleError,
        r"radius_for returned the radius R = -1\.0; a radius must be a number >= 0",
    ),
    (
        "radius_for -> (-1, 5, 1), lfso-lbfgs",
        lambda: plain(smoothness=SolvingOracle((-1.0, 5.0, 1)), method="lfso-lbfgs"),
        lfso.OracleError,
        r"radius_for returned the radius R = -1\.0; a radius must be a number >= 0",
    ),
    (
        "radius_for -> (nan, nan, 1), lfso",
        lambda: plain(smoothness=SolvingOracle((NAN, NAN, 1)), method="lfso"),
        lfso.OracleError,
        r"radius_for returned the radius R = nan",
    ),
    (
        "radius_for -> (nan, nan, 1), lfso-lbfgs",
        lambda: plain(smoothness=SolvingOracle((NAN, NAN, 1)), method="lfso-lbfgs"),
        lfso.OracleError,
        r"radius_for returned the radius R = nan",
    ),
    (
        "radius_for -> 'abc', lfso",
        lambda: plain(smoothness=SolvingOracle("abc"), method="lfso"),
        lfso.OracleError,
        r"radius_for returned 'abc'; it must return \(radius, L, evaluations\)",
    ),
    (
        "radius_for -> 'abc', lfso-lbfgs",
        lambda: plain(smoothness=SolvingOracle("abc"), method="lfso-lbfgs"),
        lfso.OracleError,
        r"radius_for returned 'abc'; it must return \(radius, L, evaluations\)",
    ),
    (
        "radius_for -> (1, 'abc', 1), lfso",
        lambda: plain(smoothness=SolvingOracle((1.0, "abc", 1)), method="lfso"),
        lfso.OracleError,
        r"smoothness oracle returned L\(x, R=1\) = 'abc'",
    ),
    (
        "radius_for -> (1, 'abc', 1), lfso-lbfgs",
        lambda: plain(smoothness=SolvingOracle((1.0, "abc", 1)), method="lfso-lbfgs"),
        lfso.OracleError,
        r"smoothness oracle returned L\(x, R=1\) = 'abc'",
    ),
    (
        "bound class -> array(2), lfso",
        lambda: plain(smoothness=ArrayBoundOracle(), method="lfso"),
        lfso.OracleError,
        r"smoothness oracle returned L\(x, R=0\) = array\(\[1\., 1\.\]\)",
    ),
    (
        "bound class -> array(2), lfso-lbfgs",
        lambda: plain(smoothness=ArrayBoundOracle(), method="lfso-lbfgs"),
        lfso.OracleError,
        r"smoothness oracle returned L\(x, R=0\) = array\(\[1\., 1\.\]\)",
    ),
    (
        "bound class -> array(2), lfso-accel",
        lambda: plain(smoothness=ArrayBoundOracle(), method="lfso-accel"),
        lfso.OracleError,
        r"smoothness oracle returned L\(x, R=0\) = array\(\[1\., 1\.\]\)",
    ),
    ("negative radius", lambda: PowerSum(2)(X3, -5), ValueError, "radius must be .*-5"),
    ("radius nan", lambda: PowerSum(2)(X3, NAN), ValueError, "radius must be finite"),
    (
        "model.at(x)(-5)",
        lambda: PowerSum(2).at(X3)(-5.0),
        ValueError,
        r"radius must be finite and >= 0, got radius=-5\.0",
    ),
    (
        "model.at(x)(inf)",
        lambda: LpRegression(A, B, 2).at(np.zeros(2))(INF),
        ValueError,
        "radius must be finite and >= 0, got radius=inf",
    ),
    ("radius str", lambda: PowerSum(2)(X3, "a"), TypeError, "radius must be .*, got radius='a'"),
    ("oracle x None", lambda: PowerSum(2)(None, 1.0), TypeError, "x must be a 1-D"),
    ("ConstantOracle(True)", lambda: lfso.oracles.ConstantOracle(True), TypeError, "lipschitz"),
    (
        "oracle + 5",
        lambda: lfso.oracles.ConstantOracle(1.0) + 5,
        TypeError,
        r"must be a LocalSmoothnessOracle .*ConstantOracle\(c\)\), got 5 \(int\)",
    ),
    ("5 + oracle", lambda: 5.0 + PowerSum(2), TypeError, r"got 5\.0 \(float\)"),
    (
        "SumOracle(o, 'a')",
        lambda: lfso.oracles.SumOracle(PowerSum(2), "a"),
        TypeError,
        "must be a LocalSmoothnessOracle",
    ),
    (
        "ScaledOracle('a')",
        lambda: lfso.oracles.ScaledOracle("a", lfso.oracles.ConstantOracle(1.0)),
        TypeError,
        "scaling factor",
    ),
    (
        "AffineOracle A nan",
        lambda: lfso.oracles.AffineOracle(lfso.oracles.ConstantOracle(1.0), [[NAN]]),
        ValueError,
        "A must be finite",
    ),
    (
        "AffineOracle at x of the wrong shape",
        lambda: lfso.oracles.AffineOracle(PowerNorm(2), A)(np.ones(3), 1.0),
        ValueError,
        r"x must have shape \(2,\).*got shape \(3,\)",
    ),
    (
        "AffineOracle along d of the wrong shape",
        lambda: lfso.oracles.AffineOracle(PowerNorm(2), A).along(np.ones(2), np.ones(3)),
        ValueError,
        r"direction must have shape \(2,\).*got shape \(3,\)",
    ),
    (
        "LogisticRegression fit_intercept='no'",
        lambda: lfso.models.LogisticRegression(A, [0, 1, 1], fit_intercept="no"),
        TypeError,
        "fit_intercept must be True or False, got fit_intercept='no'",
    ),
    (
        "SoftmaxRegression fit_intercept=0",
        lambda: lfso.models.SoftmaxRegression(A, [0, 1, 2], 3, fit_intercept=0),
        TypeError,
        "fit_intercept must be True or False, got fit_intercept=0",
    ),
    (
        "CauchyRegression c=1e160 (c^2 overflows)",
        lambda: lfso.models.CauchyRegression(A, B, c=1e160),
        ValueError,
        "c must be positive with c\\^2 a normal float64.*got c=1e\\+160",
    ),
    (
        "CauchyRegression c=1e-200 (c^2 underflows)",
        lambda: lfso.models.CauchyRegression(A, B, c=1e-200),
        ValueError,
        "c must be positive with c\\^2 a normal float64.*got c=1e-200",
    ),
    (
        "CauchyRegression float32 c=1e-25 (c^2 underflows float32: r^2 / c^2 = 0 / 0)",
        lambda: lfso.models.CauchyRegression(A.astype(np.float32), B, c=1e-25),
        ValueError,
        "c must be positive with c\\^2 a normal float32 .*got c=1e-25",
    ),
    (
        "CauchyRegression float32 c=1e20 (c^2 overflows float32)",
        lambda: lfso.models.CauchyRegression(A.astype(np.float32), B, c=1e20),
        ValueError,
        "c must be positive with c\\^2 a normal float32 .*got c=1e\\+20",
    ),
    # check_oracle and tune_step
    (
        "check_oracle samples=0",
        lambda: lfso.check_oracle(PowerSum(2), X3, samples=0),
        ValueError,
        "samples must be an integer >= 1, got samples=0",
    ),
    (
        "check_oracle samples=True",
        lambda: lfso.check_oracle(PowerSum(2), X3, samples=True),
        TypeError,
        "samples",
    ),
    (
        "check_oracle radii=[]",
        lambda: lfso.check_oracle(PowerSum(2), X3, radii=[]),
        ValueError,
        "radii must hold at least one",
    ),
    (
        "check_oracle radii inf",
        lambda: lfso.check_oracle(PowerSum(2), X3, radii=[INF]),
        ValueError,
        r"radii\[0\] must be finite",
    ),
    (
        "check_oracle rtol=-1",
        lambda: lfso.check_oracle(PowerSum(2), X3, rtol=-1.0),
        ValueError,
        "rtol",
    ),
    (
        "check_oracle x length",
        lambda: lfso.check_oracle(LpRegression(np.eye(2), np.ones(2), 2), X3),
        ValueError,
        r"x must have shape \(2,\)",
    ),
    (
        "tune_step steps=5",
        lambda: lfso.bench.tune_step(PowerSum(1), X3, steps=5),
        TypeError,
        "steps must be a sequence",
    ),
    (
        "tune_step steps=[-1]",
        lambda: lfso.bench.tune_step(PowerSum(1), X3, steps=[-1.0]),
        ValueError,
        r"steps\[0\] must be finite and positive",
    ),
    (
        "tune_step blowup=nan",
        lambda: lfso.bench.tune_step(PowerSum(1), X3, steps=[0.1], blowup=NAN),
        ValueError,
        "blowup",
    ),
]


@pytest.mark.parametrize("call, exc, message", [c[1:] for c in BAD], ids=[c[0] for c in BAD])
def test_bad_input_raises_a_clear_error(call, exc, message):
    with pytest.raises(exc, match=message):
        call()


DATA_MODELS = {
    "LpRegression": lambda: LpRegression(A, B, 2),
    "CompositeLeastSquares": lambda: CompositeLeastSquares(A, B, 2),
    "CauchyRegression": lambda: CauchyRegression(A, B),
    "LogisticRegression": lambda: LogisticRegression(A, [0, 1, 1]),
    "SoftmaxRegression": lambda: SoftmaxRegression(A, [0, 1, 2], 3),
    "L0L1Smooth": lambda: L0L1Smooth(LpRegression(A, B, 2), 1.0, 1.0),
}


@pytest.mark.parametrize("call", ["evaluate", "value", "grad", "at", "minimize"])
@pytest.mark.parametrize("name", sorted(DATA_MODELS))
def test_a_point_of_the_wrong_shape_is_named_not_a_matmul_error(name, call):
    model = DATA_MODELS[name]()
    if call == "minimize":
        with pytest.raises(ValueError, match=rf"x0 must have shape \({model.dim},\)"):
            lfso.minimize(model, np.ones(model.dim + 1))
        return
    for x in (np.ones(model.dim + 1), np.ones((model.dim, 1))):
        shape = re.escape(str(x.shape))
        with pytest.raises(ValueError, match=rf"x must have shape \({model.dim},\) for this "
                           rf"{name}, got x of shape {shape}"):  # fmt: skip
            getattr(model, call)(x)


@pytest.mark.parametrize("call", ["evaluate", "value", "grad", "at"])
@pytest.mark.parametrize("name", sorted(DATA_MODELS))
def test_a_point_that_is_no_array_is_named(name, call):
    """A list is refused naming ``x`` (``evaluate`` failed inside with "list is not a
    supported array type"; ``value`` took it on some models and not on others)."""
    model = DATA_MODELS[name]()
    message = rf"x must be an array of shape \({model.dim},\) for this {name}, got x=\[0.0"
    with pytest.raises(TypeError, match=message + r".*\(list\)"):
        getattr(model, call)([0.0] * model.dim)


@pytest.mark.parametrize("call", ["evaluate", "value", "grad", "at"])
@pytest.mark.parametrize("dtype", ["complex128", "object", "<U3"])
@pytest.mark.parametrize("name", sorted(DATA_MODELS))
def test_a_point_that_is_not_real_is_named_with_its_dtype(name, dtype, call):
    """``LogisticRegression(X, y).value(np.zeros(d) + 1j)`` returned a number (NumPy
    dropped the imaginary part with a ``ComplexWarning``); an object or text point failed
    inside a ufunc. Each raises a ``TypeError`` naming ``x`` and its dtype."""
    model = DATA_MODELS[name]()
    x = np.full(model.dim, 1j if dtype == "complex128" else "1", dtype=dtype)
    message = rf"x must be a real array .*for this {name}, got .*dtype {re.escape(str(x.dtype))}"
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # (no ComplexWarning on the way)
        with pytest.raises(TypeError, match=message):
            getattr(model, call)(x)


@pytest.mark.parametrize("call", ["evaluate", "value", "grad"])
@pytest.mark.parametrize(
    ("x", "exc", "message"),
    [
        ([1.0, 2.0], TypeError, r"x must be a 1-D real array .*got x=\[1.0, 2.0\] \(list\)"),
        (np.array([1.0 + 1.0j, 2.0]), TypeError, "x must be a real array .*dtype complex128"),
        (np.array(["1", "2"]), TypeError, "x must be a real array .*dtype <U1"),
        (np.ones((2, 2)), ValueError, r"x must be a non-empty 1-D array .*shape \(2, 2\)"),
    ],
    ids=["list", "complex", "text", "2-d"],
)
def test_a_bad_point_of_a_function_model_is_named(x, exc, message, call):
    """``FunctionModel(fun, grad).value(np.array([1 + 1j, 2.0]))`` returned 4.0 (the
    user's ``float(x @ x)`` dropped the imaginary part), ``evaluate([1.0, 2.0])`` raised
    "list is not a supported array type"; each raises naming ``x`` before ``fun`` runs."""
    calls = []

    def fun(z):
        calls.append(z)
        return float(z @ z)

    model = FunctionModel(fun, lambda z: 2 * z, lambda z, radius: 2.0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # (no ComplexWarning on the way)
        with pytest.raises(exc, match=message) as info:
            getattr(model, call)(x)
    assert "for this FunctionModel" in str(info.value) and calls == []


@pytest.mark.parametrize("call", ["evaluate", "value", "grad"])
@pytest.mark.parametrize(
    ("x", "exc", "message"),
    [
        ([1.0, 2.0], TypeError, r"x must be a 1-D real array .*got x=\[1.0, 2.0\] \(list\)"),
        (np.array([1.0 + 1.0j, 2.0]), TypeError, "x must be a real array .*dtype complex128"),
        (np.ones((2, 2)), ValueError, r"x must be a non-empty 1-D array .*shape \(2, 2\)"),
    ],
    ids=["list", "complex", "2-d"],
)
@pytest.mark.parametrize("base", [PowerSum(2), PowerNorm(2)], ids=["sum", "norm"])
def test_a_bad_point_of_l0l1_smooth_over_a_point_model_is_named(base, x, exc, message, call):
    """``L0L1Smooth(PowerSum(2), 1, 1).value(np.ones((2, 2)))`` returned 4.0 and a complex
    point lost its imaginary part: the base was reached by the unchecked path of a run's
    iterates. The base's own check now names ``x``."""
    model = L0L1Smooth(base, 1.0, 1.0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # (no ComplexWarning on the way)
        with pytest.raises(exc, match=message):
            getattr(model, call)(x)


@pytest.mark.parametrize("call", ["evaluate", "value", "grad", "at"])
@pytest.mark.parametrize("name", sorted(DATA_MODELS))
def test_a_tensor_point_on_numpy_data_is_named(name, call):
    """``LpRegression(A, b, 2).value(torch.zeros(3))`` raised "unsupported operand type(s)
    for @" from inside: a ``TypeError`` naming ``x``, its type and dtype, and the data's
    library instead."""
    torch = pytest.importorskip("torch")
    model = DATA_MODELS[name]()
    message = (
        rf"x must be an array of its data's library \(numpy.ndarray\) for this {name}, "
        r"got x, a torch.Tensor of dtype torch.float32"
    )
    with pytest.raises(TypeError, match=message):
        getattr(model, call)(torch.zeros(model.dim))


@pytest.mark.parametrize("call", ["evaluate", "value", "grad", "at"])
@pytest.mark.parametrize("dtype", ["float32", "int64"])
@pytest.mark.parametrize("name", ["LpRegression", "CauchyRegression", "LogisticRegression"])
def test_a_tensor_point_of_another_dtype_than_the_datas_is_named(name, dtype, call):
    """A float32 tensor on float64 tensor data raised PyTorch's "addmv ... same dtype"
    from inside: a ``TypeError`` naming ``x``, its dtype and the data's."""
    torch = pytest.importorskip("torch")
    build = {"LpRegression": lambda X: LpRegression(X, torch.tensor(B), 2)}
    build["CauchyRegression"] = lambda X: CauchyRegression(X, torch.tensor(B))
    build["LogisticRegression"] = lambda X: LogisticRegression(X, torch.tensor([0.0, 1.0, 1.0]))
    model = build[name](torch.tensor(A))
    x = torch.zeros(model.dim, dtype=getattr(torch, dtype))
    message = (
        r"x must be a PyTorch tensor of dtype torch.float64 \(its data's\) for this "
        rf"{name}, got x, a torch.Tensor of dtype torch.{dtype}"
    )
    with pytest.raises(TypeError, match=message):
        getattr(model, call)(x)
    assert getattr(model, call)(x.double()) is not None  # (the data's dtype)


@pytest.mark.parametrize("dtype", ["int64", "bool", "float32"])
def test_a_real_point_of_another_dtype_is_still_taken(dtype):
    model = DATA_MODELS["LogisticRegression"]()
    x = np.ones(model.dim, dtype=dtype)
    assert model.value(x) == pytest.approx(model.value(x.astype(float)), rel=1e-6)


BAD_POINTS = [
    ("int entries", np.array([1, 2]), None, None),
    ("a 0-d array", np.float64(3.0), ValueError, r"x must be a non-empty 1-D array .*shape \(\)"),
    ("empty", np.zeros(0), ValueError, r"x must be a non-empty 1-D array .*shape \(0,\)"),
    ("2-D", np.ones((2, 2)), ValueError, r"x must be a non-empty 1-D array .*shape \(2, 2\)"),
    ("a list", [1.0, 2.0], TypeError, r"x must be a 1-D real array .*got x=\[1.0, 2.0\] \(list\)"),
    ("complex", np.array([1.0, 2.0j]), TypeError, "x must be a real array .*complex128"),
]


@pytest.mark.parametrize("call", ["evaluate", "value", "grad"])
@pytest.mark.parametrize(
    "model", [PowerNorm(2), PowerSum(2), PowerSum(1.5)], ids=["norm", "sum", "sum1.5"]
)
@pytest.mark.parametrize(
    ("label", "x", "exc", "message"), BAD_POINTS, ids=[c[0] for c in BAD_POINTS]
)
def test_a_bad_point_of_a_power_model_is_named(model, call, label, x, exc, message):
    """A point of no data model is checked as the data models' are: an error naming ``x``
    (``PowerNorm(2).evaluate(np.ones((2, 2)))`` had the value 16, a 0-d point raised an
    IndexError, an integer one an AttributeError from inside); integers become float64."""
    if exc is None:
        as_float = getattr(model, call)(x.astype(float))
        got = getattr(model, call)(x)
        assert np.array_equal(getattr(got, "grad", got), getattr(as_float, "grad", as_float))
        assert call == "value" or getattr(got, "grad", got).dtype == np.float64
        return
    with pytest.raises(exc, match=message) as info:
        getattr(model, call)(x)
    assert f"for this {type(model).__name__}" in str(info.value)


@pytest.mark.parametrize(
    "model",
    [PowerNorm(2), PowerNorm(1), PowerSum(2), PowerSum(1.5)],
    ids=["n2", "n1", "s2", "s1.5"],
)
@pytest.mark.parametrize("position", [0, 1])
def test_a_nan_entry_makes_a_power_model_nan_not_zero(model, position):
    """``PowerNorm(2).evaluate(np.array([nan, 1.0]))`` had the value 0 and the gradient
    norm 0 (a stationary point), ``[1.0, nan]`` the value inf."""
    x = np.ones(3)
    x[position] = NAN
    with np.errstate(invalid="ignore"):
        ev = model.evaluate(x)
    assert math.isnan(ev.value) and not ev.grad_norm < math.inf
    x[position] = -INF
    with np.errstate(invalid="ignore"):
        assert model.value(x) == INF


_ROWS = np.random.default_rng(5).standard_normal((6, 3))
_TARGETS = np.linspace(-1.0, 1.0, 6)


@pytest.mark.parametrize(
    "model",
    [
        CompositeLeastSquares(_ROWS, _TARGETS, 2),
        CompositeLeastSquares(_ROWS, _TARGETS, 1),
        CompositeLeastSquares(_ROWS, _TARGETS, 1.5),
        LpRegression(_ROWS, _TARGETS, 2),
        CauchyRegression(_ROWS, _TARGETS),
        LogisticRegression(_ROWS, _TARGETS > 0),
    ],
    ids=["composite2", "composite1", "composite1.5", "lp2", "cauchy", "logistic"],
)
def test_a_nan_entry_makes_a_data_model_nan_not_zero(model):
    """``CompositeLeastSquares(A, b, 2).value(np.array([nan, 0.0, 0.0]))`` was 0 (the
    minimum of any such model), as was ``evaluate``'s value, beside a NaN gradient."""
    x = np.array([NAN, 0.0, 0.0])
    with np.errstate(invalid="ignore"):
        ev = model.evaluate(x)
        assert math.isnan(model.value(x))
    assert math.isnan(ev.value) and not ev.grad_norm < math.inf


_WIDE = np.random.default_rng(0).standard_normal((30, 8))
_LAYOUT_MODELS = {
    "lp": lambda X: LpRegression(X, np.linspace(-1.0, 1.0, 30), 2),
    "lp1.5": lambda X: LpRegression(X, np.linspace(-1.0, 1.0, 30), 1.5),
    "cauchy": lambda X: CauchyRegression(X, np.linspace(-1.0, 1.0, 30)),
    "composite": lambda X: CompositeLeastSquares(X, np.linspace(-1.0, 1.0, 30), 2),
    "logistic": lambda X: LogisticRegression(X, np.arange(30) % 2, l2=0.1),
    "softmax": lambda X: SoftmaxRegression(X, np.arange(30) % 3, 3, l2=0.1),
}


@pytest.mark.parametrize("name", sorted(_LAYOUT_MODELS))
def test_a_strided_or_fortran_data_matrix_runs_as_its_contiguous_copy(name):
    """``LpRegression(X[:, ::2], b, 2)`` and ``LpRegression(np.asfortranarray(X), b, 2)``
    ran to other iterates than ``X[:, ::2].copy()`` (their products summed in another
    order), an ulp apart; the run is now the contiguous copy's, bit for bit, and the
    caller's array is left as it was."""
    make = _LAYOUT_MODELS[name]
    dense = _WIDE[:, ::2].copy()
    x0 = np.zeros(make(dense).dim)
    ref = lfso.minimize(make(dense), x0, max_iter=30)
    for data in (_WIDE[:, ::2], np.asfortranarray(dense)):
        before = data.copy()
        res = lfso.minimize(make(data), x0, max_iter=30)
        assert np.array_equal(res.x, ref.x) and res.nit == ref.nit
        assert np.array_equal(data, before)


@pytest.mark.parametrize("name", sorted(_LAYOUT_MODELS))
def test_a_bool_data_matrix_runs_as_its_float_copy(name):
    """``LogisticRegression(X > 0, y)`` (indicator features, which scikit-learn takes as
    0/1) raised "X must be a real array, got dtype bool" while integer data became float64;
    bools now become float64 too, and the run is the float copy's."""
    make, flags = _LAYOUT_MODELS[name], _WIDE[:, :4] > 0.0
    x0 = np.full(make(flags).dim, 0.1)
    res = lfso.minimize(make(flags), x0, max_iter=20)
    ref = lfso.minimize(make(flags.astype(np.float64)), x0, max_iter=20)
    assert np.array_equal(res.x, ref.x) and res.nit == ref.nit


def _converged(res):
    return res.status is Status.CONVERGED


EDGE = [
    ("x0 list", lambda: run(x0=[1.0, 1.0, 1.0], max_iter=10_000), _converged),
    (  # (one class, every coefficient penalised: strongly convex, kept)
        "logistic one class, l2 > 0",
        lambda: lfso.minimize(LogisticRegression(A, np.ones(3), l2=0.5), np.zeros(2)),
        _converged,
    ),
    (
        "softmax one class, l2 > 0",
        lambda: lfso.minimize(
            SoftmaxRegression(A, [1, 1, 1], 3, l2=0.5, fit_intercept=False), np.zeros(6)
        ),
        _converged,
    ),
    (  # (a class with no samples, as in a batch of a larger problem's rows)
        "softmax a class with no samples",
        lambda: lfso.minimize(SoftmaxRegression(A, [0, 1, 1], 3, l2=0.5), np.zeros(9)),
        _converged,
    ),
    ("max_iter np.int64", lambda: run(max_iter=np.int64(3), tol=0.0), lambda r: r.nit == 3),
    ("tol np.float64", lambda: run(tol=np.float64(1e-4)), _converged),
    (
        "fun -> array(1)",
        lambda: plain(fun=lambda x: np.array([quartic(x)]), max_iter=10_000),
        _converged,
    ),
    (
        "auto fun -> array(1)",
        lambda: plain(fun=lambda x: np.array([quartic(x)]), smoothness="auto", max_iter=10_000),
        _converged,
    ),
    (
        "smoothness -> array(1)",
        lambda: plain(smoothness=lambda x, R: np.array([quartic_oracle(x, R)]), max_iter=10_000),
        _converged,
    ),
    (
        "grad=True list pair",
        lambda: plain(fun=lambda x: [quartic(x), quartic_grad(x)], grad=True, max_iter=10_000),
        _converged,
    ),
    (
        "grad returns a list",
        lambda: plain(grad=lambda x: list(quartic_grad(x)), max_iter=10_000),
        _converged,
    ),
    (
        "data as lists",
        lambda: run(model=LpRegression(A.tolist(), B.tolist(), 1), x0=np.zeros(2), max_iter=10_000),
        _converged,
    ),
    (
        "softmax float labels",
        lambda: run(
            model=SoftmaxRegression(A, [0.0, 1.0, 2.0], 3, l2=0.1), x0=np.zeros(9), max_iter=10_000
        ),
        _converged,
    ),
    (
        "logistic lists",
        lambda: run(
            model=LogisticRegression(A.tolist(), [0, 1, 1], l2=0.1), x0=np.zeros(2), max_iter=10_000
        ),
        _converged,
    ),
    ("radius 0", lambda: PowerSum(2)(X3, 0), lambda L: 12.0 <= L <= 12.0 * (1 + 1e-14)),
    ("model.at(x)(0)", lambda: PowerSum(2).at(X3)(0), lambda L: 12.0 <= L <= 12.0 * (1 + 1e-14)),
    (
        "norm = ||A||",
        lambda: LpRegression(A, B, 2, norm=np.linalg.norm(A, 2)),
        lambda m: m.norm == np.linalg.norm(A, 2),
    ),
    ("norm=0, A = 0", lambda: LpRegression(A * 0, B, 1, norm=0.0), lambda m: m.norm == 0.0),
    (
        "tune_step numpy grid",
        lambda: lfso.bench.tune_step(PowerSum(1), X3, steps=np.array([0.1, 0.4])),
        lambda t: t.step == 0.4,
    ),
]


@pytest.mark.parametrize("call, check", [c[1:] for c in EDGE], ids=[c[0] for c in EDGE])
def test_edge_input_works(call, check):
    assert check(call())


def test_a_gradient_tensor_that_requires_grad_is_taken():
    """A gradient returned as a PyTorch tensor that requires grad is detached (NumPy
    could not convert it: ``RuntimeError: Can't call numpy() on Tensor that requires
    grad``)."""
    torch = pytest.importorskip("torch")
    res = plain(grad=lambda x: torch.tensor(quartic_grad(x), requires_grad=True), max_iter=10_000)
    assert _converged(res)


@pytest.mark.parametrize("method", ["lfso", "lfso-lbfgs", "armijo"])
@pytest.mark.parametrize("returned", ["float16", "float32", "float64", "longdouble"])
@pytest.mark.parametrize("start", ["float32", "float64"])
def test_a_gradient_of_another_dtype_runs_in_x0s(start, returned, method):
    """The run keeps ``x0``'s dtype whatever the dtype of the gradient ``grad`` returns:
    a float64 gradient at a float32 point made the next iterate float64, a longdouble
    one made the run longdouble, and a float16 one was the result's ``jac``."""
    x0 = np.array([1.0, -0.5, 2.0], dtype=start)
    hvp = (lambda x, v: (12 * x**2 * v).astype(returned)) if method == "lfso" else None
    res = lfso.minimize(
        quartic,
        x0,
        grad=lambda x: quartic_grad(x).astype(returned),
        method=method,
        hvp=hvp,
        max_iter=20,
    )
    assert res.x.dtype == x0.dtype and res.jac.dtype == x0.dtype
    assert res.fun == quartic(res.x)


def test_softmax_labels_match_f_and_gradient_after_validation():
    """Valid float labels give the same model as integer ones (no rows dropped)."""
    a = SoftmaxRegression(A, [0.0, 1.0, 2.0], 3)
    b = SoftmaxRegression(A, np.array([0, 1, 2]), 3)
    x = np.linspace(-1, 1, a.dim)
    assert a.value(x) == b.value(x) and np.array_equal(a.grad(x), b.grad(x))


def test_softmax_takes_labels_held_as_python_objects_as_logistic_regression_does():
    """An object array of numbers (``dtype=object``) holds the same labels; it was refused
    ("got dtype object") where :class:`LogisticRegression` takes it."""
    y = np.array([0, 2, 1])
    model = SoftmaxRegression(A, y.astype(object), 3)
    x = np.linspace(-1, 1, model.dim)
    assert model.value(x) == SoftmaxRegression(A, y, 3).value(x)
    with pytest.raises(ValueError, match=r"integer class indices, got 1\.5"):
        SoftmaxRegression(A, np.array([0, 1.5, 1], dtype=object), 3)


def test_logistic_labels_0_1_and_minus_1_1_give_the_same_model():
    rng = np.random.default_rng(2)
    X, y = rng.standard_normal((20, 3)), rng.integers(0, 2, 20)
    zero_one = LogisticRegression(X, y, fit_intercept=True)
    signs = LogisticRegression(X, 2.0 * y - 1.0, fit_intercept=True)
    for x in rng.standard_normal((3, zero_one.dim)):
        a, b = zero_one.evaluate(x), signs.evaluate(x)
        assert a.value == b.value and np.array_equal(a.grad, b.grad)
        assert zero_one(x, 0.5) == signs(x, 0.5)


@pytest.mark.parametrize("library", ["numpy", "torch", "dask"])
def test_softmax_takes_bool_labels_as_logistic_regression_does(library):
    """Bool labels are the classes 0 (``False``) and 1 (``True``), as scikit-learn's and
    :class:`LogisticRegression`'s; they were refused ("got dtype bool")."""
    y = np.array([True, False, True])
    X, labels = A, y
    if library == "torch":
        torch = pytest.importorskip("torch")
        X, labels = torch.asarray(A), torch.asarray(y)
    elif library == "dask":
        da = pytest.importorskip("dask.array")
        X, labels = da.from_array(A, chunks=2), da.from_array(y, chunks=2)
    for k in (2, 3):
        model = SoftmaxRegression(X, labels, k)
        ints = SoftmaxRegression(A, y.astype(int), k)
        x = np.linspace(-1, 1, ints.dim)
        point = x if library == "numpy" else model.xp.asarray(x)
        assert float(model.value(point)) == pytest.approx(ints.value(x), rel=1e-12)
    logistic = LogisticRegression(X, labels)
    z = np.linspace(-1, 1, logistic.dim)
    point = z if library == "numpy" else logistic.xp.asarray(z)
    expected = LogisticRegression(A, y.astype(int)).value(z)
    assert float(logistic.value(point)) == pytest.approx(expected, rel=1e-12)


def test_softmax_labels_past_the_datas_integers_are_their_own_classes():
    """Labels were compared with the classes in the data's dtype: with float16 data (11
    significant bits) the labels 2049 and 2048 both matched the classes 2048 and 2049, so
    a row held two classes and the gradient was wrong. The gradient at ``0`` is now the
    float64 data's (the float16 entries are exact in float64)."""
    data = np.random.default_rng(3).standard_normal((4, 2)).astype(np.float16)
    labels = np.array([2049, 0, 2048, 2050])
    half = SoftmaxRegression(data, labels, 2100, fit_intercept=False)
    wide = SoftmaxRegression(data.astype(np.float64), labels, 2100, fit_intercept=False)
    x = np.zeros(half.dim)
    np.testing.assert_allclose(half.grad(x), wide.grad(x), rtol=1e-2, atol=1e-6)


# -- stationary points ---------------------------------------------------------------------

X2 = np.array([[1.0], [1.0]])
AT_MINIMUM = {
    "PowerSum": (lambda: PowerSum(2), np.zeros(3)),
    "PowerSum p=1": (lambda: PowerSum(1), np.zeros(3)),
    "PowerNorm": (lambda: PowerNorm(2), np.zeros(3)),
    "LpRegression": (lambda: LpRegression(np.eye(2), np.ones(2), 2), np.ones(2)),
    "CompositeLeastSquares": (
        lambda: CompositeLeastSquares(np.eye(2), np.ones(2), 2, oracle="paper"),
        np.ones(2),
    ),
    "CauchyRegression": (lambda: CauchyRegression(np.eye(2), np.ones(2)), np.ones(2)),
    "LogisticRegression": (lambda: LogisticRegression(X2, [0.0, 1.0]), np.zeros(1)),
    "SoftmaxRegression": (
        lambda: SoftmaxRegression(X2, [0, 1], 2, fit_intercept=False),
        np.zeros(2),
    ),
    "L0L1Smooth": (lambda: L0L1Smooth(PowerSum(2), 1.0, 1.0), np.zeros(3)),
}
METHODS = {
    "lfso": {},
    "lfso-accel": {"method": "lfso-accel"},
    "gd": {"method": "gd", "step": 0.1},
    "armijo": {"method": "armijo"},
    "bb": {"method": "bb"},
    "adgd": {"method": "adgd"},
    "nesterov": {"method": "nesterov", "step": 0.1},
    "dog": {"method": "dog"},
    "auto": {"smoothness": "auto"},
}


@pytest.mark.parametrize("method", sorted(METHODS))
@pytest.mark.parametrize("name", sorted(AT_MINIMUM))
def test_a_start_at_a_minimiser_converges_at_once(name, method):
    make, x0 = AT_MINIMUM[name]
    res = lfso.minimize(make(), x0, **METHODS[method])
    assert res.status is Status.CONVERGED and res.nit == 0 and res.grad_norm == 0.0


@pytest.mark.parametrize(
    "kwargs",
    [
        {"smoothness": lambda x, R: 1.0},  # a constant oracle
        {"smoothness": "auto"},
        {"smoothness": None, "method": "gd", "step": 0.1},
    ],
    ids=["constant-oracle", "auto", "gd"],
)
def test_a_flat_function_converges_at_once(kwargs):
    res = plain(fun=lambda x: 0.0, grad=np.zeros_like, max_iter=10_000, **kwargs)
    assert res.status is Status.CONVERGED and res.nit == 0


def test_a_run_to_the_bottom_of_the_float_range_stops_with_a_status():
    # f = |x|^2 from x0 = 1, tol = 0: each certified step (the exact one, padded for
    # rounding) divides x by about 1e15, until x is 0 or the step's target is below the
    # smallest normal float; either way the run stops there, not at max_iter.
    res = run(model=PowerNorm(1), x0=np.ones(3), tol=0.0)
    assert res.status in (Status.CONVERGED, Status.PRECISION_LIMIT) and res.nit < 60
    assert res.fun == 0.0 and res.grad_norm < 1e-300


def test_a_nan_gradient_mid_run_stops_with_a_status():
    calls = [0]

    def grad(x):
        calls[0] += 1
        return 4 * x**3 if calls[0] < 5 else x * NAN

    res = plain(grad=grad, smoothness="auto")
    assert res.status in (Status.NON_FINITE, Status.STEP_FAILED)
    assert np.all(np.isfinite(res.x)) and res.fun == quartic(res.x)


class BoomError(RuntimeError):
    pass


def _raising_after(calls, function, error=lambda: BoomError("boom")):
    """``function``, raising ``error()`` from its ``calls + 1``-th call on."""
    count = [0]

    def wrapped(*args):
        count[0] += 1
        if count[0] > calls:
            raise error()
        return function(*args)

    return wrapped


RAISING = {
    "fun": lambda: plain(fun=_raising_after(6, quartic)),
    "grad": lambda: plain(grad=_raising_after(6, quartic_grad)),
    "callback": lambda: plain(callback=_raising_after(5, lambda r: None)),
    "hvp": lambda: plain(smoothness="auto", hvp=_raising_after(8, lambda x, v: 12 * x**2 * v)),
    "smoothness": lambda: plain(
        smoothness=_raising_after(30, quartic_oracle, lambda: lfso.OracleError("broken oracle"))
    ),
}


@pytest.mark.parametrize("which", sorted(RAISING))
def test_an_exception_mid_run_propagates_with_the_best_point(which):
    with pytest.raises((BoomError, lfso.OracleError)) as info:
        RAISING[which]()
    res = info.value.result
    assert res.status is Status.RAISED and not res.success and res.nit >= 1
    assert "exception" in res.message and str(info.value) in res.message
    assert res.fun == np.min(res.history.f) == quartic(res.x) < quartic(X3)
    assert len(res.history) == res.nit + 1
    if sys.version_info >= (3, 11):
        assert ".result" in info.value.__notes__[-1]


def test_an_exception_at_x0_propagates_as_it_is():
    with pytest.raises(BoomError) as info:
        plain(fun=_raising_after(0, quartic))
    assert not hasattr(info.value, "result")


def test_an_exception_through_scipy_carries_an_optimize_result():
    from scipy.optimize import OptimizeResult, minimize

    import lfso.scipy

    with pytest.raises(BoomError) as info:
        minimize(_raising_after(6, quartic), X3, jac=quartic_grad, method=lfso.scipy.lfso_lbfgs)
    assert isinstance(info.value.result, OptimizeResult) and info.value.result.status == 8


# -- callbacks -----------------------------------------------------------------------------


def test_a_list_of_callbacks_is_called_in_order(tmp_path):
    order = []
    with CSVLogger(tmp_path / "log.csv") as logger:
        res = run(
            callback=[logger, lambda r: order.append("a"), lambda xk: order.append("b")],
            max_iter=5,
            tol=0.0,
        )
    assert order == ["a", "b"] * 5
    assert len((tmp_path / "log.csv").read_text().splitlines()) == 1 + res.nit


def test_a_stop_from_any_callback_of_the_list_stops_the_run():
    seen = []
    res = run(callback=[seen.append, EarlyStopping(1.0)], tol=0.0, max_iter=100)
    assert res.status is Status.CALLBACK_STOP and res.fun <= 1.0 and len(seen) == res.nit


# -- property-based campaign ---------------------------------------------------------------

_junk = st.one_of(
    st.text(max_size=3),
    st.none(),
    st.booleans(),
    st.lists(st.floats(allow_nan=False), max_size=3),
    st.complex_numbers(allow_nan=False, allow_infinity=False).filter(lambda z: z.imag != 0),
    st.builds(np.ones, st.integers(2, 4)),
)
_bad_real = st.one_of(_junk, st.just(NAN), st.just(INF), st.just(-INF))
_negative = st.floats(max_value=-1e-300, allow_nan=False, allow_infinity=False)
_bad_count = st.one_of(
    _junk, st.floats(allow_nan=True).filter(lambda v: v != int(v) if math.isfinite(v) else True)
)


def _expect_named(call, name, value=None):
    """``call`` raises a clear error naming ``name`` (and the value, if it has a short one)."""
    with pytest.raises(ERRORS) as info:
        call()
    message = str(info.value)
    assert name in message, message
    if isinstance(value, (int, float, str)) and not isinstance(value, bool):
        shown = "nan" if isinstance(value, float) and math.isnan(value) else repr(value)
        assert shown in message or str(value) in message, message


NONNEGATIVE_ARGS = {
    "tol": lambda v: run(tol=v),
    "atol": lambda v: run(atol=v),
    # (on 6 features: no junk list is one finite weight >= 0 per feature)
    "l2": lambda v: LogisticRegression(np.tile(A, 3), [0, 1, 1], l2=v),
    "l2 ": lambda v: SoftmaxRegression(np.tile(A, 3), [0, 1, 2], 3, l2=v),
    " l2": lambda v: CauchyRegression(A, B, l2=v),
    "rtol": lambda v: lfso.check_oracle(PowerSum(2), X3, rtol=v),
}
POSITIVE_ARGS = {
    "radius": lambda v: PowerSum(2)(X3, v) if not (isinstance(v, float) and v == 0) else 1 / 0,
    "lipschitz": lambda v: lfso.oracles.ConstantOracle(v),
    "c": lambda v: CauchyRegression(A, B, c=v),
    "blowup": lambda v: lfso.bench.tune_step(PowerSum(1), X3, steps=[0.1], blowup=v, max_iter=5),
}
COUNT_ARGS = {
    "max_iter": lambda v: run(max_iter=v),
    "samples": lambda v: lfso.check_oracle(PowerSum(2), X3, samples=v),
    "n_classes": lambda v: SoftmaxRegression(A, [0, 1, 1], v),
}


@settings(max_examples=60, suppress_health_check=[HealthCheck.too_slow])
@given(
    arg=st.sampled_from(sorted(NONNEGATIVE_ARGS)),
    value=st.one_of(_bad_real, _negative),
)
def test_campaign_nonnegative_scalars(arg, value):
    _expect_named(lambda: NONNEGATIVE_ARGS[arg](value), arg.strip(), value)


@settings(max_examples=60, suppress_health_check=[HealthCheck.too_slow])
@given(arg=st.sampled_from(sorted(POSITIVE_ARGS)), value=st.one_of(_bad_real, _negative))
def test_campaign_positive_scalars(arg, value):
    _expect_named(lambda: POSITIVE_ARGS[arg](value), arg, value)


@settings(max_examples=60, suppress_health_check=[HealthCheck.too_slow])
@given(arg=st.sampled_from(sorted(COUNT_ARGS)), value=st.one_of(_bad_count, st.integers(-5, -1)))
def test_campaign_counts(arg, value):
    _expect_named(lambda: COUNT_ARGS[arg](value), arg, value)


@settings(max_examples=60, suppress_health_check=[HealthCheck.too_slow])
@given(value=st.one_of(_bad_real, st.floats(max_value=0.999, allow_nan=False)))
def test_campaign_powers(value):
    for make in (PowerSum, PowerNorm, lambda p: LpRegression(A, B, p)):
        _expect_named(lambda make=make: make(value), "p", value)


_returns = st.one_of(
    st.text(max_size=3),
    st.none(),
    st.complex_numbers(allow_nan=False, allow_infinity=False).filter(lambda z: z.imag != 0),
    st.sampled_from([2, 4, 5]).map(np.ones),  # an array of the wrong size
    st.integers(0, 1).map(lambda k: np.ones((3, 3)) if k else np.ones((1, 3))),
)


@settings(max_examples=60, suppress_health_check=[HealthCheck.too_slow])
@given(
    which=st.sampled_from(["fun(x)", "grad(x)", "smoothness(x, R)", "hvp(x, v)"]),
    junk=_returns,
    auto=st.booleans(),
)
def test_campaign_user_callables_returning_junk(which, junk, auto):
    kw = {}
    if which == "fun(x)":
        kw["fun"] = lambda x: junk
    elif which == "grad(x)":
        kw["grad"] = lambda x: junk
    elif which == "smoothness(x, R)":
        kw["smoothness"], auto = (lambda x, R: junk), False
    else:
        kw["hvp"], auto = (lambda x, v: junk), True
    if auto:
        kw["smoothness"] = "auto"
    kw["max_iter"] = 50
    _expect_named(lambda: plain(**kw), which)


def _corrupt(data, kind, index):
    data = np.array(data, dtype=float)
    if kind == "nan":
        data.flat[index % data.size] = NAN
    elif kind == "inf":
        data.flat[index % data.size] = -INF
    elif kind == "complex":
        return data * (1 + 1j)
    elif kind == "empty":
        return data[:0]
    elif kind == "flat":
        return data.ravel()
    elif kind == "list-ragged":
        rows = data.tolist()
        return [rows[0][:-1], *rows[1:]] if data.ndim == 2 else [[1.0], [1.0, 2.0]]
    return data


LINEAR = {
    "LpRegression": lambda A_, b_: LpRegression(A_, b_, 2),
    "CompositeLeastSquares": lambda A_, b_: CompositeLeastSquares(A_, b_, 2),
    "CauchyRegression": lambda A_, b_: CauchyRegression(A_, b_),
    "LogisticRegression": lambda A_, b_: LogisticRegression(A_, [0, 1, 1]),
    "SoftmaxRegression": lambda A_, b_: SoftmaxRegression(A_, [0, 1, 2], 3),
    "AffineOracle": lambda A_, b_: lfso.oracles.AffineOracle(PowerNorm(2), A_, b_),
}


@settings(max_examples=80, suppress_health_check=[HealthCheck.too_slow])
@given(
    model=st.sampled_from(sorted(LINEAR)),
    kind=st.sampled_from(["nan", "inf", "complex", "empty", "flat", "list-ragged"]),
    index=st.integers(0, 100),
    target=st.sampled_from(["matrix", "vector"]),
)
def test_campaign_corrupt_data(model, kind, index, target):
    labels = model in ("LogisticRegression", "SoftmaxRegression")
    if target == "vector" and (labels or kind == "flat"):
        target = "matrix"
    name = ("X" if labels else "A") if target == "matrix" else "b"
    A_, b_ = (_corrupt(A, kind, index), B) if target == "matrix" else (A, _corrupt(B, kind, index))
    if target == "vector" and kind == "list-ragged":
        b_ = [[1.0], [1.0, 2.0], [0.0]]
    _expect_named(lambda: LINEAR[model](A_, b_), name)


@settings(max_examples=60)
@given(
    labels=st.lists(
        st.one_of(st.integers(-3, 6), st.floats(-3, 6), st.just(NAN)), min_size=3, max_size=3
    ),
    k=st.integers(2, 4),
)
def test_campaign_softmax_labels(labels, k):
    y = np.array(labels, dtype=float)
    valid = np.all(np.isfinite(y)) and np.all(y == np.round(y)) and y.min() >= 0 and y.max() < k
    if valid:
        assert SoftmaxRegression(A, y, k).n == 3
    else:
        _expect_named(lambda: SoftmaxRegression(A, y, k), "y")


# -- files ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    folder = tmp_path_factory.mktemp("files")
    res = lfso.minimize(PowerSum(2), X3)
    return res, res.save(folder / "good.npz"), res.history.save(folder / "hist.npz")


def _npz(path, **arrays):
    np.savez(path, **arrays)
    return path


def _huge_header(path):
    header = np.lib.format
    import io

    buf = io.BytesIO()
    header.write_array_header_1_0(buf, {"descr": "<f8", "fortran_order": False, "shape": (10**12,)})
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("f.npy", header.magic(1, 0) + buf.getvalue()[8:] + b"\0" * 64)
    return path


def _write(path, data):
    path.write_bytes(data)
    return path


FILES = {
    "empty": lambda p, good: _write(p, b""),
    "text": lambda p, good: _write(p, b"not an npz\n"),
    "random": lambda p, good: _write(p, np.random.default_rng(0).bytes(4096)),
    "truncated": lambda p, good: _write(p, good.read_bytes()[:300]),
    ".npy": lambda p, good: (np.save(p.with_suffix(".npy"), X3), p.with_suffix(".npy"))[1],
    "huge header": lambda p, good: _huge_header(p),
    "object array": lambda p, good: _npz(p, f=np.array([None, 1], dtype=object)),
}
META = {
    "bad meta json": "{not json",
    "meta not an object": "[1, 2]",
    "unknown status": None,  # filled from the good file
    "missing key": '{"fun": 1.0}',
    "extra key": None,
    "wrong type": None,
}


@pytest.mark.parametrize("kind", sorted(FILES))
@pytest.mark.parametrize("cls", [Result, History])
def test_load_of_a_corrupt_file_is_one_clear_value_error(saved, tmp_path, kind, cls):
    path = FILES[kind](tmp_path / "bad.npz", saved[1])
    with pytest.raises(ValueError, match=f"{cls.__name__}.load: .*{path.name}"):
        cls.load(path)


@pytest.mark.parametrize("kind", sorted(META))
def test_load_of_bad_metadata_is_one_clear_value_error(saved, tmp_path, kind):
    with np.load(saved[1]) as data:
        parts = {k: data[k] for k in data.files}
    meta = str(parts["meta"])
    text = {
        "unknown status": meta.replace('"CONVERGED"', '"BOGUS"'),
        "extra key": meta[:-1] + ', "evil": 1}',
        "wrong type": meta.replace('"nit": ', '"nit": "x", "_": '),
    }.get(kind, META[kind])
    path = _npz(tmp_path / "meta.npz", **{**parts, "meta": np.array(text)})
    with pytest.raises(ValueError, match=r"Result\.load: .*meta\.npz"):
        Result.load(path)


BAD_FIELDS = [
    ("risks", {"descent": 3}, "mapping"),
    ("risks", {"descent": {"count": -1, "first": 0}}, "mapping"),
    ("risks", [1], "mapping"),
    ("risks", {"bogus": {"count": 1, "first": 0}}, r"lfso\.monitor\.RISKS"),
    ("nit", -5, "integer >= 0"),
    ("nfev", 2.5, "integer >= 0"),
    ("skipped", True, "integer >= 0"),
    ("grad_norm", -1.0, "number >= 0"),
    ("fun", "x", "a number"),
    ("message", 3, "a string"),
]


@pytest.mark.parametrize(("key", "value", "expected"), BAD_FIELDS)
def test_load_names_a_malformed_field_its_value_and_what_is_expected(
    saved, tmp_path, key, value, expected
):
    """``risks={"descent": 3}`` or ``nit=-5`` loaded, and ``html_report`` failed later
    with ``TypeError: 'int' object is not subscriptable``."""
    with np.load(saved[1]) as data:
        parts = {k: data[k] for k in data.files}
    meta = {**json.loads(str(parts["meta"])), key: value}
    path = _npz(tmp_path / "edited.npz", **{**parts, "meta": np.array(json.dumps(meta))})
    match = rf"Result\.load: .*edited\.npz.*meta\['{key}'\] = .*expected .*{expected}"
    with pytest.raises(ValueError, match=match):
        Result.load(path)


@pytest.mark.parametrize("nit", [0, 5, 30])
def test_load_refuses_a_history_longer_than_nit_steps_record(tmp_path, nit):
    """A run records x0's row and one per step: ``nit = 5`` beside 17 rows loaded."""
    res = lfso.minimize(PowerSum(2), X3, tol=0.0, max_iter=16)
    assert len(res.history) == res.nit + 1 == 17
    res.nit = nit
    path = res.save(tmp_path / "edited.npz")
    if nit + 1 >= len(res.history):
        assert Result.load(path).nit == nit  # (fewer rows: a run that recorded fewer)
        return
    match = rf"edited\.npz.*history has 17 rows for nit = {nit}"
    with pytest.raises(ValueError, match=match):
        Result.load(path)


def test_a_result_whose_counters_are_numpy_scalars_saves_and_loads(tmp_path):
    """``res.nit = np.int64(16)`` (a NumPy count) raised "Object of type int64 is not JSON
    serializable" from ``json`` inside ``save``."""
    res = lfso.minimize(PowerSum(2), X3)
    res.nit, res.fun, res.grad_norm = np.int64(res.nit), np.float32(res.fun), np.float16(0.5)
    back = Result.load(res.save(tmp_path / "numpy.npz"))
    assert (back.nit, back.fun, back.grad_norm) == (res.nit, res.fun, 0.5)
    assert type(back.nit) is int and type(back.fun) is float


def test_load_reads_a_run_that_recorded_fewer_rows_than_steps(tmp_path):
    from lfso.bench import scipy_lbfgs

    res = scipy_lbfgs(PowerSum(4), X3, cap=100, tol=1e-6).result  # (x0's row alone)
    assert res.nit > 1 and len(res.history) == 1
    assert Result.load(res.save(tmp_path / "lbfgs.npz")).nit == res.nit


def test_result_and_history_files_are_not_each_other(saved):
    _, result_file, history_file = saved
    with pytest.raises(ValueError, match="not a history file"):
        History.load(result_file)
    with pytest.raises(ValueError, match="History file"):
        Result.load(history_file)


def test_missing_file_names_it(tmp_path):
    with pytest.raises(FileNotFoundError, match="nothere"):
        Result.load(tmp_path / "nothere.npz")


@settings(max_examples=40, deadline=None)
@given(position=st.integers(0, 10**9), bit=st.integers(0, 7))
def test_a_bit_flip_is_an_error_or_the_same_result(tmp_path_factory, position, bit):
    folder = tmp_path_factory.mktemp("flip")
    res = lfso.minimize(PowerSum(2), X3)
    raw = bytearray(res.save(folder / "r.npz").read_bytes())
    raw[position % len(raw)] ^= 1 << bit
    (folder / "f.npz").write_bytes(bytes(raw))
    try:
        back = Result.load(folder / "f.npz")
    except ValueError as exc:
        assert "f.npz" in str(exc)
    else:  # a flip in an unchecked header field: never a silently different result
        assert np.array_equal(back.x, res.x) and back.status is res.status
        assert back.fun == res.fun and back.message == res.message
        for c in History.columns:
            assert np.array_equal(back.history[c], res.history[c], equal_nan=True)


@pytest.mark.parametrize("name", ["noext", "r.pkl", "r.npz"])
@pytest.mark.parametrize("cls", ["Result", "History"])
def test_save_writes_exactly_the_path_given(tmp_path, cls, name):
    res = lfso.minimize(PowerSum(2), X3)
    obj = res if cls == "Result" else res.history
    written = obj.save(str(tmp_path / name))
    assert written == tmp_path / name
    assert [p.name for p in tmp_path.iterdir()] == [name]  # no ".npz" added, no temporary
    assert zipfile.is_zipfile(written)
    back = type(obj).load(tmp_path / name)
    assert len(back if cls == "History" else back.history) == len(res.history)


def test_load_reads_a_file_saved_with_npz_added(tmp_path):
    res = lfso.minimize(PowerSum(2), X3)
    res.save(tmp_path / "old.npz")  # the name earlier versions wrote for save("old")
    assert Result.load(tmp_path / "old").nit == res.nit


def test_a_failed_save_leaves_the_previous_file_intact(tmp_path, monkeypatch):
    first = lfso.minimize(PowerSum(2), X3)
    path = first.save(tmp_path / "r.npz")
    before = path.read_bytes()

    def crash(fh, **arrays):
        fh.write(b"PK\x03\x04 half an archive")
        raise OSError("disk full")

    import lfso._result as result_module

    monkeypatch.setattr(result_module.np, "savez", crash)
    second = lfso.minimize(PowerSum(3), X3)
    with pytest.raises(OSError, match="disk full"):
        second.save(path)
    with pytest.raises(KeyboardInterrupt):
        monkeypatch.setattr(
            result_module.np, "savez", lambda fh, **a: (_ for _ in ()).throw(KeyboardInterrupt)
        )
        second.history.save(path)
    monkeypatch.undo()
    assert path.read_bytes() == before
    assert Result.load(path).nit == first.nit
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r.npz"]  # no temporary left


# -- warnings and interrupts ---------------------------------------------------------------


def test_tune_step_leaves_the_warning_filters_alone():
    before = list(warnings.filters)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        tuned = lfso.bench.tune_step(PowerSum(2), X3, steps=[1e-3, 10.0], max_iter=100)
        inside = list(warnings.filters)
        assert not [w for w in caught if issubclass(w.category, RiskWarning)]
        # a diverging run afterwards still warns
        lfso.minimize(PowerSum(2), X3, method="gd", step=10.0, max_iter=50)
        assert [w for w in caught if issubclass(w.category, RiskWarning)]
    assert list(warnings.filters) == before and inside[1:] == before
    assert tuned.step == 1e-3


@pytest.mark.filterwarnings("ignore:overflow encountered:RuntimeWarning")
@pytest.mark.filterwarnings("ignore:invalid value encountered:RuntimeWarning")
def test_concurrent_tune_steps_leave_no_filter_behind():
    from concurrent.futures import ThreadPoolExecutor

    before = list(warnings.filters)
    with ThreadPoolExecutor(8) as pool:
        grids = [[1e-3, 10.0 * (k + 1)] for k in range(8)]
        tuned = list(
            pool.map(lambda g: lfso.bench.tune_step(PowerSum(2), X3, steps=g, max_iter=50), grids)
        )
    assert list(warnings.filters) == before and all(t.step == 1e-3 for t in tuned)
    with pytest.warns(RiskWarning):  # a diverging run still warns afterwards
        lfso.minimize(PowerSum(2), X3, method="gd", step=10.0, max_iter=50)


def test_quiet_monitor_records_risks_without_warning():
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        res = lfso.minimize(PowerSum(2), X3, method="gd", step=10.0, max_iter=50, monitor="quiet")
    assert res.risks and not [w for w in caught if issubclass(w.category, RiskWarning)]


def _interrupt_at(n, call, codes):
    """Run ``call`` raising KeyboardInterrupt at the ``n``-th line executed in ``codes``."""
    count = [0]

    def local(frame, event, arg):
        if event == "line":
            count[0] += 1
            if count[0] == n:
                raise KeyboardInterrupt
        return local

    def tracer(frame, event, arg):
        return local if frame.f_code in codes else None

    sys.settrace(tracer)
    try:
        return call(), count[0]
    except KeyboardInterrupt:
        return None, count[0]
    finally:
        sys.settrace(None)


@pytest.mark.parametrize("method", ["lfso", "gd", "armijo", "auto"])
def test_an_interrupt_anywhere_returns_the_best_recorded_point(method):
    """KeyboardInterrupt at every line of the loop, the history and the evaluation: the
    returned point is the best recorded row, and the history is whole."""
    model = PowerSum(2)
    kw = {
        "gd": {"method": "gd", "step": 0.05},
        "armijo": {"method": "armijo"},
        "auto": {"smoothness": "auto"},
    }.get(method, {})
    x0 = np.array([1.0, -0.5, 0.25])

    def call():
        return lfso.minimize(model, x0, tol=0.0, max_iter=4, monitor="full", **kw)

    codes = {
        loop.run.__code__,
        History.append.__code__,
        loop.Counted.evaluate.__code__,
        models.PowerSum.evaluate.__code__,
    }
    _, total = _interrupt_at(10**9, call, codes)
    interrupted = 0
    for n in range(1, total + 1):
        res, _ = _interrupt_at(n, call, codes)
        if res is None or res.status is not Status.INTERRUPTED:
            continue
        interrupted += 1
        h = res.history
        assert {len(v) for v in h.as_dict().values()} == {res.nit + 1}
        assert res.fun == np.min(h.f) and res.fun == model.value(res.x)
        assert np.array_equal(res.jac, model.grad(res.x))
    assert interrupted > total // 2


def test_adgd_whose_step_underflows_stops_with_step_failed():
    # From x0 = 1e-100 on sum x^4 the gradient is ~1e-300 and AdGD's step underflows to 0;
    # the run stops with an honest status and the best point (was: ZeroDivisionError):
    # STALLED where, 1,000 iterations on, x has not moved from its last new low (its steps
    # below x's rounding), STEP_FAILED where the step underflows to 0 before that.
    x0 = np.full(3, 1e-100)
    res = lfso.minimize(lfso.models.PowerSum(2), x0, method="adgd", monitor="quiet")
    ends = (lfso.Status.STEP_FAILED, lfso.Status.STALLED)
    assert res.status in ends and not res.success and np.all(np.isfinite(res.x))


# -- radius(x) that returns an array ----------------------------------------------------------


def test_a_radius_rule_returning_a_vector_is_named():
    with pytest.raises(ValueError, match=r"radius\(x\) must return a real number"):
        lfso.minimize(
            quartic,
            np.ones(3),
            grad=quartic_grad,
            smoothness=quartic_oracle,
            radius=lambda x: np.abs(x),
        )


# -- a SciPy sparse matrix is named as such, not as an array of dtype object -----------------


@pytest.mark.parametrize("kind", ["csr_matrix", "csr_array"])
def test_a_sparse_data_matrix_is_refused_as_sparse(kind):
    import scipy.sparse

    A = getattr(scipy.sparse, kind)(np.eye(3))
    with pytest.raises(TypeError, match=r"sparse .*A\.toarray\(\)"):
        lfso.models.LpRegression(A, np.ones(3), 2)
    with pytest.raises(TypeError, match=r"sparse .*X\.toarray\(\)"):
        lfso.models.LogisticRegression(A, np.array([0.0, 1.0, 1.0]))


@pytest.mark.parametrize("where", ["missing folder", "a folder"])
def test_a_save_that_cannot_be_written_names_the_path_given(tmp_path, where):
    res = lfso.minimize(PowerSum(2), X3)
    path = tmp_path / "nope" / "r.npz" if where == "missing folder" else tmp_path
    with pytest.raises(OSError) as info:
        res.save(path)
    assert info.value.filename == str(path)  # (not the hidden temporary file's name)
    assert ".tmp" not in str(info.value)
    assert not any(p.name.endswith(".tmp") for p in tmp_path.rglob("*"))


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
def test_a_float16_run_out_of_iterations_names_its_rounding(dtype):
    """A float16 run that ran out of iterations said only "increase max_iter or loosen
    tol", though the rounding of its ``x`` is what slows it (a float64 ``x0`` converges):
    its message now says so; float32 and float64 runs keep theirs."""
    X = np.random.default_rng(0).standard_normal((300, 4))
    model = LogisticRegression(X.astype(np.float16), (X[:, 0] > 0).astype(float), l2=0.01)
    res = lfso.minimize(model, np.zeros(4, dtype), max_iter=3)
    assert res.status is Status.MAX_ITER
    assert res.message.startswith("Maximum number of iterations reached; increase max_iter")
    named = "In float16, which resolves 3 digits or fewer, the part of a step below the rounding"
    assert (named in res.message) == (dtype is np.float16)
    assert ("run in float32 or float64" in res.message) == (dtype is np.float16)


@pytest.mark.parametrize("flag", ["method", "flags"])
def test_a_member_whose_compression_is_unknown_is_an_error_naming_the_file(tmp_path, flag):
    # A flipped bit in a member's compression method or its general-purpose flags makes
    # zipfile raise NotImplementedError ("That compression method is not supported",
    # "compressed patched data"): an unreadable file, named, not a bare error.
    res = lfso.minimize(PowerSum(2), X3)
    raw = bytearray(res.save(tmp_path / "r.npz").read_bytes())
    header = raw.index(b"PK\x01\x02")  # (the first member's central directory entry)
    if flag == "method":
        raw[header + 10] = 99  # (compression method 99: not one zipfile knows)
    else:
        raw[header + 8] |= 1 << 5  # (flag bit 5: compressed patched data)
    (tmp_path / "f.npz").write_bytes(bytes(raw))
    with pytest.raises(ValueError, match=r"f\.npz"):
        Result.load(tmp_path / "f.npz")
