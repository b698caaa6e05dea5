"""Minibatch training without a learning rate: :class:`StochasticLFSO`.

>>> import torch, lfso.torch
>>> _ = torch.manual_seed(0)
>>> X = torch.randn(512, 5)
>>> y = X @ torch.tensor([1.0, -2.0, 0.5, 0.0, 3.0])
>>> w = torch.nn.Parameter(torch.zeros(5))
>>> opt = lfso.torch.StochasticLFSO([w])
>>> for epoch in range(20):
...     for idx in torch.randperm(512).split(32):
...         def closure(backward=True):
...             loss = ((X[idx] @ w - y[idx]) ** 2).mean()
...             if backward:
...                 loss.backward()
...             return loss
...         _ = opt.step(closure)
>>> bool(((X @ w - y) ** 2).mean() < 1e-3)
True

The step (one per minibatch ``B``, with loss ``f_B`` and gradient ``g = grad f_B(p_k)``)
-----------------------------------------------------------------------------------
1. A direction ``d`` (``direction="adam"``: Adam's ``-m_hat / (sqrt(v_hat) + eps)``;
   ``"momentum"``: ``-m_hat``, the bias-corrected average of the gradients). If ``g . d >= 0``
   (the average disagrees with this batch), the preconditioned gradient is taken instead,
   which descends: ``g . d = -sum_i g_i^2 / (sqrt(v_hat_i) + eps) < 0``, **scaled to the
   length of the step it replaces** (``||t m_hat / (sqrt(v_hat) + eps)||`` with the
   ``"adam"`` direction), and the next step measures nothing (no probe; ``s`` is kept).
   ``s`` sizes the average's direction; one batch's preconditioned gradient is longer (its
   noise is not averaged out) and points further into the loss's sharp directions, so
   at its own length the step went further than ``s`` was sized for, and the secant
   along it was the curvature of another direction: where the batches often disagree
   (on an MSE regression), those secants held most of the averaged curvature and kept the
   step several times shorter than the line minimiser along the average's direction
   (``docs/results.md``, "Minibatches", measures both).
2. **The curvature of this batch along the previous step** (``secant="fresh"``, the
   default): one forward pass on ``B`` at the previous point ``p_{k-1}`` (no graph) gives,
   with ``Delta = p_k - p_{k-1}`` and ``phi(u) = f_B(p_{k-1} + u Delta)``,

   .. math::  c = 2\\,(f_B(p_{k-1}) - f_B(p_k) + g \\cdot \\Delta)
              = 2 \\int_0^1 u\\, \\Delta^T \\nabla^2 f_B(p_{k-1} + u \\Delta)\\, \\Delta\\, du

   (Taylor's formula with integral remainder at ``u = 1``, for ``C^2`` losses): a weighted
   mean of the curvature ``phi''`` along the segment the last step travelled, the quantity the
   certified segment step of :func:`lfso.minimize` bounds (here estimated, not bounded). The
   quadratic with ``phi(1)``, ``phi'(1) = g . Delta`` and ``phi'' = c`` has its minimiser at
   ``u* = 1 - g . Delta / c``: the fresh batch's line minimiser along the last step, in units
   of that step, so the learning rate that would have reached it is ``s* = u* t_{k-1}``
   (``+inf`` when ``c <= 0``; 0 when ``u* <= 0``). (Measured in units of the step's length
   instead, ``u* ||Delta|| / ||d||``, the digits networks trained worse.)
   The batch ``B`` was not used to choose ``Delta``, so ``s*`` is not biased toward this
   batch. (``secant="same"`` instead evaluates ``B`` at the trial point ``p_k + t d`` and
   takes ``s* = -g . d / (C ||d||^2)``, ``C = 2 (f_B(p + t d) - f_B(p) - t g . d) / (t^2
   ||d||^2)``: the line minimiser of the batch that also chose ``d``, which over-fits it.)
3. ``s* = a / b`` with ``a = -phi'(0) / t_{k-1} = (c - g . Delta) / t_{k-1}`` (the batch's
   descent rate at ``p_{k-1}``) and ``b = c / t_{k-1}^2`` (its curvature), both per unit of
   the step's multiplier. ``a`` and ``b`` are averaged separately, ``a <- smoothing * a +
   (1 - smoothing) * a_new`` (and ``b``), and ``s`` moves toward the ratio of the averages,
   the target (0 if ``a <= 0``, ``+inf`` if ``b <= 0``), by at most a factor ``growth ** (1 -
   smoothing)`` per measurement (1.07 with the defaults), up or down; once ``patience``
   (3) fresh batches in a row have each put their own line minimiser ``s*`` below ``s``,
   by at most ``shrink ** (1 - smoothing)`` down (1.26), and once as many in a row have
   put it above ``s``, by at most as much up. **Why the patience.** A limit
   that cuts faster than it rises makes ``s`` follow a low quantile of a noisy target, not
   its median: cutting by ``D`` on every measurement below ``s`` and rising by ``U`` on
   every one above, ``s`` settles where the share ``q`` of targets below it has ``q log D
   = (1 - q) log U``, the 23% quantile for 1.26 and 1.07. Late in training the batches
   disagree and the averaged ``a`` dips to 0 or below now and then (one batch whose ``a``
   is far below zero holds the average there for several measurements): where the target
   is 0 on more than about a fifth of the measurements, such a limit ratchets ``s`` down
   on every dip and never wins it back. Now a target below ``s`` moves it down
   as far as one above moves it up, so ``s`` holds near the target's median, unless the
   batches themselves agree that the step is too long: a sustained drop (the curvature
   rising) puts every fresh batch's ``s*`` below ``s`` and gets the fast cut after
   ``patience - 1`` slower ones, where one outlier batch does not. **And the fast rise.**
   Where they agree that it is too short, a sustained rise (a run leaving a plateau, its
   curvature falling) gets the same rate up: with 1.07 alone, a step that the ramp left a
   thousand times below the target takes about a hundred measurements to reach it, the
   whole run on the benchmark's ``conv1d`` task, where two seeds of three sat at chance
   level for two epochs. It stops at the averaged target, as the slow rise does.
   (``shrink = growth``
   also follows the median, but a real drop then takes about ``log(drop) / log(growth **
   (1 - smoothing))`` measurements, ``log shrink / log growth`` times as many as with the
   fast cut: 3.3 for the defaults.) (Late in training the batches disagree: ``s*`` is at
   or below 0 on many of them and far above ``s`` on most others. An average of the
   clipped ratios, or of their logarithms, then falls without end while the ratio of the
   averages stays put (``docs/results.md``, "Minibatches", measures both on the digits
   MLP).) The step is ``p_{k+1} = p_k + t d`` with ``t = lr * eta * s`` (``lr = 1``
   unless a learning-rate scheduler sets it: see the class docstring; ``s*`` is measured
   along the step actually taken, so ``s`` estimates the line minimiser whatever ``lr``
   is). The first step is a probe of length ``1e-3 (1 +
   ||p||)`` (times ``lr``); then a **ramp**: ``s`` moves to the clipped ``s*`` outright (no
   averaging), so it at most doubles per step, until a measurement puts the line minimiser
   within reach (``s* <= growth * s``). Every step of the ramp is measured along a step at
   most ``growth`` times shorter than the next, never along the tiny first probe alone
   (setting ``s = s*`` from the probe applies the curvature measured along its tiny step to
   a step far longer, and one such step can kill the ReLUs of a network;
   ``docs/results.md``, "Minibatches"). The ramp's last measurement starts the averages.
   When the ramp ends, the **gradient averages restart**: on the next step ``m`` (and ``v``)
   are zeroed and the step count goes on, so the ramp's gradients count as zeros. The ramp
   measures, in steps each half the next, at about the starting point; kept, its gradients
   (the largest of the run, often) would weigh on ``v`` for about ``1 / (1 - beta2)`` steps,
   more than many runs take, and the direction would be preconditioned by the starting
   point's gradient scale. With the count kept, the bias corrections shorten the first
   directions after the restart (about half as long on the first step after a ramp of ten,
   full length about ten steps later).
4. **The multiple: is the run held at a noise floor?** ``eta`` above is ``eta_now``, set
   every ``window`` steps (100) from the run's displacement over the last window,
   ``D = ||p_k - p_{k - window}||^2``, against the squared lengths of its steps,
   ``S = sum_j ||Delta_j||^2``:

   .. math::  \\rho = \\frac{1 - \\beta_1}{1 + \\beta_1} \\frac{D}{S}, \\qquad
              \\eta_{now} = \\eta + (\\eta_{max} - \\eta) \\min(\\rho, 1)^2

   (``eta`` in the first window, and where no step was taken). Steps along an average of
   gradients whose noise is independent from batch to batch, with nothing pulling them back
   (a free random walk), have ``rho`` about 1: their sum is about the sum of the window's
   gradients (each gradient's weights in the averages sum to about 1), while each step has
   ``(1 - beta_1) / (1 + beta_1)`` times a gradient's variance (an exponential average's).
   A run held by curvature at its noise floor (the iterates bounce around a minimum) goes
   nowhere over a window, ``rho`` near 0; a drift gives ``rho`` above 1. At a noise floor a
   longer step only raises the floor, so the multiple stays near ``eta``; a run that moves
   as far as a free walk or further is not held at the step's length, and there a longer
   step (up to ``eta_max`` < 2, where a quadratic still decreases: see below) moves
   further along the flat directions, overshooting the sharp ones' line minimiser as
   Adam's best learning rates do. ``rho`` enters squared so that windows partly held
   (as on the benchmark's linear models) keep about ``eta``. **The gate.** After a window
   over which ``s`` rose while the averaged curvature ``b`` (step 3) fell more than
   tenfold, ``b_k < b_{k - window} / 10`` (or was not measured, as with
   ``secant="same"``), the next takes ``eta`` (the first window is not checked: it starts
   before ``s``): where the loss and its curvature fall together (near an interpolating
   minimum) the rule's own step grows already, and a longer one only adds risk (on the
   benchmark's LSTM, a step at 1.8 times ``s`` raised the loss from near 0 at the end of a
   run; over the windows that the gate holds there, ``b`` fell 154- to 193-fold). ``s``
   rising alone does not hold the multiple: ``s`` is measured along the steps taken, so it
   keeps estimating the line minimiser whatever the multiple, and at a noise floor, where
   that target is about half the step taken (below, "What was tried"), the longer steps
   raise it: on the benchmark's ``friedman`` regression ``s`` rose over many windows taken
   at the multiple while ``b`` fell at most 3.8-fold (a gate on ``s`` alone switched the
   multiple off there for a window each time). **Why 1.9, below 2.** A step ``eta' s*``
   decreases the quadratic model for any ``eta'`` below 2 (below, "What is guaranteed"):
   at 1.9 by 9.5% of the model's full decrease (18% at 1.8), and it still decreases it
   while ``s`` overestimates the current line minimiser by less than a factor 2 / 1.9 =
   1.053 (1.11 at 1.8), less than one measurement's largest rise (``growth ** (1 -
   smoothing)`` = 1.07 with the defaults): that margin is measured, not bounded. The
   multiple reaches ``eta_max`` only where ``rho >= 1`` (a run moving as far as a free
   walk or further, not held at its noise floor) and the gate does not hold it; on the
   benchmark's first fourteen tasks (``TUNED_ON`` and the first seven of ``HELD_OUT`` in
   ``benchmarks/stochastic.py``), over ten seeds, no task trained more than 0.1 point worse
   with 1.9 than with 1.8 (``docs/results.md``, "Minibatches"). Statistics of the
   gradient's signal and noise (Adam's ``m^2 / v``, the cosine of the batch's gradient and
   the average, the fresh batches' descent rates) did not tell
   the tasks apart (``docs/results.md``, "Minibatches", measures them).

Safeguards: a batch whose loss or gradient is not finite after a step (or whose finite
gradient's squared norm reaches a 16th of the largest number of Adam's second moment, which
could then overflow, stay infinite and zero the direction along it for good) undoes that
step (from a copy, exactly), divides ``s`` by 10 and restarts the gradient averages
(:attr:`rollbacks`; before any step: :attr:`skipped`, the parameters untouched), and warns
(:class:`SkippedBatchWarning`, naming the step): the batch is not used. With
``secant="same"`` a non-finite trial loss is rolled back at once (the batch was used, as a
line search backtracks: no warning). Against collapse, one measurement moves ``s`` by at
most a factor ``shrink ** (1 - smoothing)`` down (1.26 with the defaults) and ``growth **
(1 - smoothing)`` up, so a single batch with a huge or rounded-away secant cannot zero the
step. No schedule of its own: the step follows the measured curvature, and decays only as
far as it does (an attached learning-rate scheduler multiplies it). ``probe_every=k``
(default 2) measures on every ``k``-th step only, and on every step of the ramp (the others
skip the extra forward pass and keep ``s``), except a step after one along the
preconditioned gradient (step 1; with ``secant="same"``, that step itself).

What is guaranteed, and what is not
-----------------------------------
* If ``f_B`` is quadratic along the line with curvature ``c > 0``, a step ``eta' s*`` with
  ``eta'`` in ``(0, 2)`` (``eta`` and ``eta_max`` are) from the line minimiser's base point
  decreases it by ``eta' (1 - eta'/2)`` times the model's full decrease (expand the
  quadratic). The steps actually taken use the *average* ``s`` of earlier batches along the
  *new* direction, so this is a design rationale, not a guarantee for any step.
* Parameters stay finite whenever the closure's loss is finite at the starting point: a step
  after which a loss is not finite is undone before the next one is taken.
* Not guaranteed: convergence, or decrease of any loss. The curvature is estimated from one
  batch, not bounded (no certificate exists for a network's loss), and the steps are not
  decreasing, so on a non-interpolating problem the iterates hover at a noise floor like
  constant-step SGD or Adam do. The closure must be deterministic between its two calls in
  a step (dropout draws a new mask on each call and makes the secant noisy: fix the random
  state, or run *both* calls in ``eval()`` mode; a probe alone in ``eval()`` mode measures
  another function).
* The secant is a difference of two losses: a loss computed in bfloat16 or float16 is
  rounded to about three digits, which can swamp the curvature along the first, short
  steps. On the ramp, a secant ``c`` within the two losses' rounding, ``c <= eps (|f_B(p_{k-1})|
  + |f_B(p_k)|)`` with ``eps`` the loss dtype's machine epsilon, is not read as curvature
  (the ramp goes on, as for ``c <= 0``), so a bfloat16 loss ramps as a float32 one does. A
  float32 loss computed from rounded values (under ``autocast``) is not covered by this:
  there, check :attr:`last_step` after the first steps.

What was tried on the benchmark's tasks (the figures, and which runs measured them, are in
``docs/results.md``, "Minibatches"): the estimate used directly as a smoothness constant,
``L <- max(C, L / growth)`` with step ``eta / L``, oscillated and on some seeds diverged;
rejecting each step that raised its batch loss wasted gradients; steepest-descent directions
trained far worse than momentum or Adam directions. The same-batch line minimiser
(``secant="same"``, averaged in log space, ``eta = 0.5``) trained the digits networks well
but over-fitted each batch of the logistic regression (256 rows, 202 parameters): its steps
were far longer than Adam's best learning rate and the training loss rose above its starting
value. The fresh-batch line minimiser fixed that. Averaged in log space, the clipped line
minimisers drifted down (see step 3) and ``eta = 1.8`` made up for part of the drift; with
the ratio of the averaged descent rate and curvature, ``a / b`` is the line minimiser of the
averaged model (the noise of the direction counted in ``b``), and ``eta = 1``, the step to
it, trained better on the tasks the defaults were chosen on. At a noise floor (a quadratic
with noisy batches) the averaged line minimiser along the steps taken is shorter than those
steps (half of them for plain gradient steps), so with ``eta = 1`` the step keeps shrinking
there: the decay comes from the measurement, not from a schedule. (In general ``a t - b t^2
/ 2`` is the averaged model's decrease per step, so ``a / b`` is ``t / 2`` plus that
decrease over ``b t``: wherever the run is stationary the target is half the step.) Under
epoch-wise shuffling the fresh batch holds rows the epoch has not used yet; near the
training loss's minimum their gradient opposes that of the rows used, which chose the step,
so ``a`` averages below zero late in such runs and the step falls by up to ``shrink ** 0.1``
(1.26) per measurement to the end (with batches drawn with replacement it stays positive).
Keeping the ramp's gradients in Adam's averages cost the digits autoencoder 13 points of R^2
(Adam on a ramp of learning rates lost 5 of them, and won them back with its state cleared
when its ramp ended); restarting the averages with the step count reset (a sign step of full
length first) trained the ReLU digits networks worse than counting the ramp's gradients as
zeros. The fast cut on every measurement with the target below the step (the rule before
the patience) left the step far below a noisy target (on ``friedman``, held out, 5 to 70
times below); a symmetric limit, ``shrink = growth``, keeps it at the target but follows a
real drop 3.3 times more slowly; the patience keeps both (``docs/results.md``,
"Minibatches", compares the three). Along the preconditioned gradient (step 1), the step
at that direction's own length with its secant averaged in (the rule before) kept the
step short where the batches often disagree; not measuring it but keeping its own length
made the step too long on the transformer (nothing cut ``s`` as its steps began to
oscillate, and more of them fell back); Adam's direction taken whatever the batch says,
as Adam does, trained that regression worse than the preconditioned gradient at the
replaced step's length. Neither the loss's scale nor a curvature inflated by the batch's
noise was the cause (``docs/results.md``, "Minibatches"). Full-batch quadratics of two or
three parameters converge more slowly than with the ramp's gradients kept (those then act
as a fixed preconditioner; without them Adam's direction is close to a sign vector, and
``s`` must shrink to converge), and so does the class example (noise-free minibatches) over
its first ten epochs. With the momentum direction the log-space average diverged on a seed.
A constant multiple above 1 (``eta = 1.5``) trained the ``friedman`` regression better and
the linear models and the digits MLP worse, whether taken over the whole run or over half
of it; step 4's multiple taken linearly in ``rho`` (not squared), or over windows of 50
steps, cost the softmax regression more; ``eta_max`` and ``window`` were chosen on
``friedman``, ``logreg``, ``softmax`` and ``mlp``, the gate on ``lstm`` and ``friedman``.
A gate on ``s`` alone (``eta`` after every window over which ``s`` rose) cost
``friedman`` about a point; ``eta_max = 1.8`` (with either gate) about 0.4 more; a first
window of 50 or 70 steps, or backing the multiple off to ``eta`` whenever a fresh batch's
loss rose along the last step (at a noise floor many do), did not train it better
(``docs/results.md``, "Minibatches").
For full-batch problems use :class:`lfso.torch.LFSO`. **These defaults were chosen on ten
of the benchmark's twenty-one tasks** (``TUNED_ON`` and ``DERIVED_ON`` in
``benchmarks/stochastic.py``), as the grid search chooses Adam's learning rate on each
task: the comparison on those tasks flatters both. The other eleven informed no choice.
``python benchmarks/stochastic.py --only ablation`` compares the variants.

The per-step cost is why ``probe_every=2`` is the default: on the digits CNNs the extra
forward pass alone is about half an Adam step, so measuring every step costs far more than
Adam; measuring every third or fourth step trained worse on most of the tasks the defaults
were chosen on. With the log-space average (measured on the digits MLP, the logistic
regression and the digits CNN), ``probe_every=1`` trained worse on the MLP;
re-probing after each measurement that cut ``s`` by more than 10% probed most steps and did
not train better; averaging with smoothing ``0.9 ** 2`` per measurement at
``probe_every=2`` (the same memory in steps) helped the logistic regression a little and
hurt the MLP. An adaptive schedule (every second step while the measurements move ``s``,
every third, then every fourth, while the last four values of ``s`` after a measurement lay
within 5% of each other, back to every second as soon as they did not) skipped few
measurements in training and trained the digits MLP and the softmax regressions worse:
``s`` seldom holds that still (many measurements move it by more than 5%), and fewer
measurements cost the linear models accuracy, as ``probe_every=3`` did
(``docs/results.md``, "Minibatches").

Cost per step: one forward and backward pass (as any optimiser); Adam's arithmetic (foreach
calls); the gradient, the direction and the previous direction flattened into one float64
array whose Gram matrix gives every dot product in one call; one host round trip (the loss,
the probe's loss and the Gram matrix together; on the CPU with no ranks to average over,
read back one after the other, which waits on nothing and saves packing them into one
tensor); a copy of the parameters into a kept buffer (the point left, for the probe and the
undo); the gradients cleared as ``zero_grad(set_to_none=True)`` clears them, without its
profiler range. On a measured step, also one forward pass without a graph, and three copies
instead of one (``p_k`` out to a spare buffer, ``p_{k-1}`` in, ``p_k`` back; the spare
buffer then becomes the kept point), none allocating. Once per ``window`` steps, the
displacement test of step 4: a subtraction, a dot product and a copy of the parameters
(the window's start point, one more parameter-sized buffer in the state; on the host path
one number read back). Measured against Adam on the same
batches by ``python benchmarks/stochastic.py --only step-time``; where the time goes, by its
``--only cost`` (``docs/results.md``, "Minibatches"). In data-parallel training, one
all-reduce averages the loss, the probe's loss and the Gram matrix over the
ranks before that round trip (class docstring, Notes). With ``device_steps=True``, no round
trip:

The device path
---------------
With ``device_steps=True`` (``secant="fresh"``), :meth:`StochasticLFSO.step` reads nothing
back from the device inside a step. Every quantity that sizes the step (``s``, the
averages ``a`` and ``b``, the counts of batches below and above ``s``, the multiple
``eta_now``, the
window's sum of squared step lengths and its ``s`` and ``b`` at its start, the ramp flag,
the last step's ``t``, scale and ``||d||^2``, and whether this batch is finite, falls back
or moves) is a 0-d float64 tensor on the parameters' device, updated by the host path's
rules with every branch a ``torch.where``. The step ``p + alpha d`` is ``addcmul`` by a 0-d
``alpha`` (0 where it does not move), rounded once as the host path's ``add`` with
``alpha``; a batch that is not finite
is undone by a ``lerp`` of weight 1 to the kept point (exact: with weight 0 or 1, ``lerp``
returns an end point, from finite parameters), so parameters from such a batch never outlive
the step, as on the host path. So that they are finite, a step whose result overflows stops
at the dtype's largest finite numbers (the host path's parameters become infinite there,
and the next step undoes them by a copy), and its factor is clamped to that range (an
infinite factor times a zero would be NaN). The same float64 operations in the same order:
forced on CPU tensors, the two paths' parameters agree bit for bit in the tests' float32
runs, to the last bits in float64 (where no step overflows).

What the host needs it learns one step late. The step copies its flags (finite, moved, fell
back, the ramp, its end) to pinned host memory without waiting; the next step reads them
after its closure has queued its forward and backward passes (on CUDA waiting on an event
recorded after the copy: the last step's kernels only, while the device works on this
step's passes; on other accelerators the copy itself waits, within the step). They keep the
host's mirror exact: the probe (on every ``probe_every``-th step by the step count ``k``,
which a batch that is not finite resets, on every step of the ramp, not after a fallback),
``k``'s bias corrections, the restart of the gradient averages (the ramp ended, or a batch
was not finite), the counters, and which buffer holds the kept point (two, swapped there).
Why not probe on every step of a bounded warm-up instead: the ramp has no bound (it ends
when a measurement puts the line minimiser within reach), and a step after a fallback must
not probe; read a step late, every decision is the host path's, for the cost of nothing the
device waits for. So a :class:`SkippedBatchWarning` comes at the
next step (or when :attr:`~StochasticLFSO.rollbacks`, :attr:`~StochasticLFSO.skipped` or
``state_dict()`` is read), naming the batch's step; :attr:`~StochasticLFSO.last_step` and
:attr:`~StochasticLFSO.last_curvature` are read from the device when read (a synchronisation
the user asks for); ``state_dict()`` first writes the scalars back into the state as numbers
(one round trip), so the state dict is the host path's and loads on either path (between
steps, ``state`` itself holds the last values written back). The cost: the preconditioned
gradient's two dot products on every step (the host path takes them where it falls back)
and a few dozen operations on 0-d tensors per step, more on a measured step, each a kernel
launch on a GPU (their count, and the CPU's time forced: ``docs/results.md``,
"Minibatches", "The device path"). ``secant="same"`` keeps the host path: its trial loss
decides a rollback within the step. The host path is the default, on every device: on the
CPU its scalars are Python floats and a read waits for nothing, and on a GPU the launches of
those few dozen operations may cost more than the one synchronisation they save, on small
networks at least (``docs/results.md``, "Minibatches", "The device path": the CPU's figures
and the command that times both paths on a GPU).
"""

from __future__ import annotations

import inspect
import math
import numbers
import operator
import warnings
from collections.abc import Callable, Iterable, Sequence
from typing import Any, cast

import numpy as np
import torch
import torch.distributed as dist

from .._validate import caller_level, is_real
from ..stochastic import SkippedBatchWarning

__all__ = ["SkippedBatchWarning", "StochasticLFSO"]


def _flat(tensors: Sequence[torch.Tensor]) -> torch.Tensor:
    """The tensors as one float64 vector (one copy; its dot products then cost one call)."""
    return torch.cat([t.reshape(-1) for t in tensors]).double()


def _takes_tensor_factors() -> bool:
    """Whether this PyTorch's foreach calls take a 0-d tensor as a scalar factor."""
    try:
        torch._foreach_mul_([torch.ones(1)], torch.ones(()))
    except (RuntimeError, TypeError):
        return False
    return True


_TENSOR_FACTORS = _takes_tensor_factors()


def _grad(p: torch.Tensor) -> torch.Tensor:
    grad = p.grad
    assert grad is not None
    return grad


def _refuse_scaler(optimizer: torch.optim.Optimizer) -> None:
    """A ``RuntimeError`` where ``torch.amp.GradScaler.step`` calls ``optimizer.step`` (it
    sets ``found_inf`` on an optimiser that says ``_step_supports_amp_scaling``, and deletes
    it only after the step returns; here it is deleted before raising). The scaler unscales
    only the gradient left before the step, which the step discards; the closure's loss and
    gradient are its own, a ``scaler.scale(loss).backward()`` in it leaving ``p.grad``
    65536 times the loss's, and the secant then reads that factor as curvature."""
    if getattr(optimizer, "found_inf", None) is None:
        return
    for name in ("grad_scale", "found_inf"):
        if name in vars(optimizer):
            delattr(optimizer, name)
    raise RuntimeError(
        f"{type(optimizer).__name__} does not take torch.amp.GradScaler: "
        "scaler.step(opt, closure) "
        "unscales only the gradient left before the step, not the one the closure makes. "
        "Call opt.step(closure) without a scaler (bfloat16 autocast needs none), or call "
        "backward on loss * scale in the closure and return that same scaled loss"
    )


def _takes_flag(closure: Callable[..., Any]) -> bool:
    """Whether ``closure`` takes the ``backward`` flag (PAL's convention): a named positional
    parameter, the first, without a default, with a bool default, or named ``backward``. A
    first parameter with another default is not the flag: ``def closure(idx=idx)`` binds a
    loop variable (as linters ask), and ``closure(True)`` would replace the batch by
    ``True``. A closure whose only parameters are ``*args, **kwargs`` forwards them (a
    wrapper, as Lightning's closure is) and does not promise to honour the flag."""
    code = getattr(closure, "__code__", None)
    if code is not None and not hasattr(closure, "__self__"):  # a plain function: fast
        if code.co_argcount < 1:
            return False
        defaults: tuple[Any, ...] = getattr(closure, "__defaults__", None) or ()
        if len(defaults) < code.co_argcount:  # the first has no default
            return True
        return _is_flag(code.co_varnames[0], defaults[0])
    try:
        signature = inspect.signature(closure)
        signature.bind(True)
    except (TypeError, ValueError):
        return False
    first = next((p for p in signature.parameters.values() if p.kind in _POSITIONAL), None)
    if first is None:
        return False
    return first.default is inspect.Parameter.empty or _is_flag(first.name, first.default)


def _is_flag(name: str, default: Any) -> bool:
    """Whether a first positional parameter with this name and default is the flag."""
    return name == "backward" or isinstance(default, (bool, np.bool_))


_POSITIONAL = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)

#: The closure's forms: ``closure(backward)``; ``closure()`` that leaves ``backward`` to the
#: optimiser (SLS); ``closure()`` that calls ``zero_grad`` and ``backward`` (torch.optim).
_FLAG, _PLAIN, _OPTIM = "closure(backward)", "closure() without backward", "closure()"


def _loss(value: Any, like: torch.Tensor) -> torch.Tensor:
    """The closure's return value as a one-element tensor on ``like``'s device: a tensor as
    it is, a number (a Python or NumPy real, or a 0-d NumPy array of one, as
    ``float(closure())`` in ``torch.optim.LBFGS`` takes it) as a float64 tensor; a tensor
    that is not floating is refused (a complex or bool one, as a complex or bool number is,
    and an integer one: a loss with a gradient is floating, so an integer tensor is one cut
    to its integer part, ``loss.long()``, whose secants and comparisons are then wrong)."""
    if isinstance(value, torch.Tensor):
        if value.numel() != 1:
            raise TypeError(
                f"the closure must return the loss as a tensor with one element, got a tensor "
                f"of shape {tuple(value.shape)}"
            )
        if not value.is_floating_point():
            raise TypeError(
                "the closure must return the loss as a real number or a tensor of a floating "
                f"dtype, got a {value.dtype} tensor ({value.detach().reshape(()).item()!r}); "
                "return the loss before it is cast (an integer tensor holds only its integer "
                "part)"
            )
        return value
    if _is_number(value):
        return torch.tensor(float(value), dtype=torch.float64, device=like.device)
    raise TypeError(
        "the closure must return the loss as a tensor with one element or a real number, "
        f"got {value!r}"
    )


def _refuse_gradless(loss: torch.Tensor, form: str) -> None:
    """A ``TypeError`` for a closure that left no gradient on parameters that take one,
    saying why nothing can be stepped on: its loss has no graph (computed under
    ``torch.no_grad()``, or detached), or ``closure(True)`` did not call ``backward``."""
    if loss.requires_grad:
        raise TypeError(
            "closure(True) returned a loss that requires grad but left no gradient on the "
            "parameters: call loss.backward() in the closure when its flag is true (or "
            "return None to skip the batch)"
        )
    raise TypeError(
        f"the closure ({form}) returned a loss that does not require grad and left no "
        "gradient on the parameters, so no step can be taken: was it computed under "
        "torch.no_grad(), or detached? Return the loss with its graph (or None to skip "
        "the batch)"
    )


def _is_number(value: Any) -> bool:
    """Whether ``value`` is a real number (not a bool): a Python or NumPy scalar, or a 0-d
    NumPy array of an integer or floating dtype."""
    if isinstance(value, np.ndarray):
        return value.shape == () and value.dtype.kind in "iuf"
    return isinstance(value, numbers.Real) and not isinstance(value, (bool, np.bool_))


def _count(value: Any, name: str, low: int) -> int:
    """``value`` as a Python ``int`` (a NumPy integer too), or a ``ValueError`` naming it
    (torch's form) where it is not an integer at least ``low``."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral):
        raise ValueError(f"Invalid {name}: {value!r} (must be an integer >= {low})")
    if value < low:
        raise ValueError(f"Invalid {name}: {value!r} (must be an integer >= {low})")
    return int(value)


def _lr(value: Any, where: str) -> float:
    """``value`` as the step's multiplier ``lr``: a finite number >= 0, or a clear error."""
    try:
        lr = float(value)
    except (TypeError, ValueError, RuntimeError):
        lr = math.nan
    if isinstance(value, bool) or not (math.isfinite(lr) and lr >= 0.0):
        raise ValueError(
            f"Invalid lr in {where}: {value!r} (StochasticLFSO's 'lr' multiplies the step it "
            "sizes: a finite number >= 0)"
        )
    return lr


def _check_reals(**values: Any) -> None:
    """A ``TypeError`` naming the first of ``values`` that is not a real number (a bool or
    a string is not; a one-element tensor is), before their ranges are compared."""
    for name, value in values.items():
        if isinstance(value, torch.Tensor) and value.numel() == 1 and value.is_floating_point():
            continue
        if isinstance(value, bool) or not isinstance(value, numbers.Real):
            raise TypeError(f"Invalid {name}: {value!r} (must be a real number)")


def _refuse_sparse(grads: Sequence[torch.Tensor | None], name: str) -> None:
    """A ``TypeError`` naming the first parameter whose gradient is sparse, if any."""
    for i, grad in enumerate(grads):
        if grad is not None and grad.layout != torch.strided:
            raise TypeError(
                f"{name} takes dense gradients; parameter {i} (shape {tuple(grad.shape)}) has "
                f"a {grad.layout} gradient (e.g. torch.nn.Embedding(..., sparse=True): build "
                "it with sparse=False)"
            )


def _refuse_complex(optimizer: torch.optim.Optimizer, name: str) -> None:
    """A ``TypeError`` naming the first complex parameter of the group just added (which is
    taken back out): the steps' dot products are real (a complex one would drop its
    imaginary part and size the step of another problem)."""
    group = optimizer.param_groups[-1]
    for p in group["params"]:
        if p.is_complex():
            optimizer.param_groups.pop()
            index = sum(len(g["params"]) for g in optimizer.param_groups)
            index += [q is p for q in group["params"]].index(True)
            raise TypeError(
                f"{name} takes real parameters; parameter {index} (shape {tuple(p.shape)}) is "
                f"{p.dtype} (keep it as a real parameter of shape (..., 2) and use "
                "torch.view_as_complex of it in the model)"
            )


def _once_each(optimizer: torch.optim.Optimizer, param_group: Any, name: str) -> Any:
    """``param_group`` with its parameters as a list (as torch takes them), refusing with a
    ``ValueError`` naming its index a parameter given twice, in this group or an earlier
    one: the step's norms would count it twice (the certificate sizing a step for another
    problem) and the step move it twice. Torch itself only warns within a group."""
    if not isinstance(param_group, dict) or isinstance(param_group.get("params"), set):
        return param_group  # (torch's own error: a group is a dict, its params not a set)
    params = param_group.get("params")
    params = [params] if isinstance(params, torch.Tensor) else list(params or ())
    seen: dict[int, int] = {}
    for p in (q for group in optimizer.param_groups for q in group["params"]):
        seen.setdefault(id(p), len(seen))
    base = sum(len(group["params"]) for group in optimizer.param_groups)
    for j, p in enumerate(params, start=base):
        first = seen.setdefault(id(p), j)
        if first != j:
            raise ValueError(
                f"{name}: parameter {j} (shape {tuple(getattr(p, 'shape', ()))}) is "
                f"parameter {first} given again; give each parameter once (the step's norms "
                "would count its gradient twice, and the step move it twice)"
            )
    earlier = [q for group in optimizer.param_groups for q in group["params"]]
    _refuse_overlaps(earlier + params, len(earlier), name)
    return {**param_group, "params": params} if "params" in param_group else param_group


def _offsets(p: torch.Tensor) -> torch.Tensor:
    """The storage offsets (in elements) of ``p``'s elements, on the host."""
    offsets = torch.full((), int(p.storage_offset()), dtype=torch.int64)
    for size, stride in zip(p.shape, p.stride(), strict=True):
        offsets = offsets[..., None] + torch.arange(size, dtype=torch.int64) * stride
    return offsets.reshape(-1)


def _spans_meet(a: torch.Tensor, b: torch.Tensor) -> bool:
    """Whether the storage spans (first to last element) of ``a`` and ``b`` meet."""

    def span(p: torch.Tensor) -> tuple[int, int]:
        low = high = int(p.storage_offset())
        for size, stride in zip(p.shape, p.stride(), strict=True):
            reach = int((size - 1) * stride)
            low, high = low + min(reach, 0), high + max(reach, 0)
        return low, high

    (a0, a1), (b0, b1) = span(a), span(b)
    return a0 <= b1 and b0 <= a1


def _overlaps_itself(p: torch.Tensor) -> bool:
    """Whether two elements of ``p`` are one element of its storage (a stride 0 of
    ``expand``, or strides that interleave): each dimension's stride past the reach of the
    smaller-strided ones is a proof that none do; where that fails, the offsets count."""
    reach = 0  # (the offset of the last element of the dimensions so far)
    for stride, size in sorted((abs(t), s) for s, t in zip(p.shape, p.stride(), strict=True)):
        if size > 1 and stride <= reach:
            return bool(torch.unique(_offsets(p)).numel() < p.numel())
        reach += (size - 1) * stride
    return False


def _refuse_overlaps(params: list[Any], start: int, name: str) -> None:
    """A ``ValueError`` naming two parameters from index ``start`` on (the new ones) and an
    earlier one that share elements of one storage (views of one another: the step would
    move the shared elements once for each), or one whose elements are one another's (an
    ``expand``); views of one buffer that do not overlap pass."""
    where: dict[tuple[Any, ...], list[int]] = {}
    for j, p in enumerate(params):
        if isinstance(p, torch.Tensor) and p.numel() and p.layout == torch.strided:
            if j >= start and _overlaps_itself(p):
                raise ValueError(
                    f"{name}: parameter {j} (shape {tuple(p.shape)}, strides {p.stride()}) "
                    "has elements that are one element of its storage (an expand()ed "
                    "tensor), so the step would move that element once for each; give a "
                    "tensor of its own elements (p.contiguous() or p.clone())"
                )
            try:
                key = (p.device, p.untyped_storage().data_ptr(), p.element_size())
            except (NotImplementedError, RuntimeError):  # (no storage: a meta tensor, ...)
                continue
            where.setdefault(key, []).append(j)
    for held in where.values():
        if len(held) < 2 or held[-1] < start:
            continue
        offsets: dict[int, torch.Tensor] = {}
        for b in (j for j in held if j >= start):
            for a in (j for j in held if j < b):
                if not _spans_meet(params[a], params[b]):  # (disjoint views: no read)
                    continue
                for j in (a, b):
                    offsets.setdefault(j, _offsets(params[j]))
                if bool(torch.isin(offsets[b], offsets[a]).any()):
                    raise ValueError(
                        f"{name}: parameter {b} (shape {tuple(params[b].shape)}) shares "
                        f"elements with parameter {a} (shape {tuple(params[a].shape)}): they "
                        "are views of one storage, so the step would move the shared "
                        "elements twice; give each element once (one parameter, and views "
                        "of it in the model)"
                    )


#: torch.optim options these optimisers do not have, each with the value at which it changes
#: nothing (a param group carried over from another optimiser with it is accepted).
_FOREIGN_OPTIONS = {
    "weight_decay": 0.0,
    "momentum": 0.0,
    "dampening": 0.0,
    "nesterov": False,
    "amsgrad": False,
    "maximize": False,
}

#: torch.optim's implementation options, which code that builds optimisers generically
#: passes to each (``maximize=False``, ``foreach=None``, ...), with the values at which they
#: change nothing here (the steps are of one flat vector, or foreach calls, either way), and
#: why another value is refused.
_TORCH_FLAGS: dict[str, tuple[tuple[bool | None, ...], str]] = {
    "maximize": ((False,), "the steps minimise the closure's loss: return -loss to maximise"),
    "foreach": ((None, False, True), ""),
    "fused": ((None, False), "there is no fused kernel"),
    "capturable": ((False,), "a step reads its scalars on the host, which no CUDA graph holds"),
    "differentiable": ((False,), "the steps are taken under torch.no_grad()"),
}


def _without_torch_flags(name: str, options: dict[str, Any], others: bool) -> dict[str, Any]:
    """``options`` without torch.optim's implementation options (:data:`_TORCH_FLAGS`),
    which are taken at a value that changes nothing here (``maximize=False``,
    ``foreach=None``) and refused with a ``ValueError`` naming it and why at another
    (``maximize=True``); with ``others`` false, any other option is a ``TypeError``."""
    rest = {key: value for key, value in options.items() if key not in _TORCH_FLAGS}
    if rest and not others:
        raise TypeError(f"{name}() got an unexpected keyword argument {next(iter(rest))!r}")
    for key in [key for key in options if key in _TORCH_FLAGS]:
        value, (accepted, why) = options[key], _TORCH_FLAGS[key]
        if value is None and None in accepted:
            continue
        if isinstance(value, (bool, np.bool_)) and bool(value) in accepted:
            continue
        shown = " or ".join(repr(v) for v in accepted)
        why = f": {why}" if why else ""
        raise ValueError(f"Invalid {key}: {value!r} ({name} takes {key}={shown}{why})")
    return rest


#: StochasticLFSO's options that hold for all parameters (besides eta and lr).
_OWN_OPTIONS = (
    "betas",
    "eps",
    "eta_max",
    "window",
    "direction",
    "smoothing",
    "growth",
    "shrink",
    "patience",
    "probe_every",
    "secant",
)


def _is_neutral(value: Any, neutral: float | bool) -> bool:
    """Whether ``value`` is the number or bool ``neutral`` (``0``, ``0.0``, ``False``)."""
    return (_is_number(value) or isinstance(value, (bool, np.bool_))) and value == neutral


def _refuse_group_options(
    group: dict[str, Any], name: str, own: dict[str, Any], where: str = " in a param group"
) -> None:
    """A ``ValueError`` for a param group option the optimiser ``name`` would ignore: one of
    torch.optim's it does not have, at a value that would change a step (``weight_decay``
    from AdamW's groups would silently not decay; ``fused=True``, :data:`_TORCH_FLAGS`), or
    one of its own options ``own``, which hold for all parameters, at a value other than the
    optimiser's. ``where``: where the options were given, as the message says it."""
    flags = {k: v for k, v in group.items() if k in _TORCH_FLAGS and k not in _FOREIGN_OPTIONS}
    _without_torch_flags(name, flags, others=False)
    for key, value in group.items():
        if key in _FOREIGN_OPTIONS and not _is_neutral(value, _FOREIGN_OPTIONS[key]):
            raise ValueError(
                f"Invalid {key}{where}: {value!r} ({name} has no {key}: its "
                "steps minimise the closure's loss as it is; put a penalty or a sign in the "
                "loss)"
            )
        mine = own.get(key)
        if isinstance(mine, tuple) and isinstance(value, (list, tuple)):
            value = tuple(value)
        if key in own and value != mine:
            raise ValueError(
                f"Invalid {key} in a param group: {value!r} ({name} takes one {key} for all "
                f"parameters, {own[key]!r}: pass it to the optimiser, not per group)"
            )


#: Below this a step's multiplier is a finite number of every floating dtype (float16's
#: largest is 65504): :func:`_add_step` checks nothing more.
_SAFE_MULTIPLIER = 65504.0


def _add_step(params: list[torch.Tensor], ds: list[torch.Tensor], alpha: float) -> None:
    """``p += alpha d`` for each parameter (one foreach call), also where ``alpha`` is beyond
    the largest number of a parameter's dtype (a step multiplier that kept doubling, as on
    a loss that is linear along the steps, while ``alpha d`` is still finite): PyTorch
    refuses to convert such a number, so ``alpha = m 2^k`` (``1/2 <= |m| < 1``) is applied
    as ``m (2^k d)``, the powers of two taken eight bits at a time (exact, unless ``alpha
    d`` itself overflows: then the parameters become infinite, and the next step's loss
    undoes the step, class docstring). The same values as one multiplication by ``alpha``
    wherever ``alpha`` is a normal number of the dtype."""
    if -_SAFE_MULTIPLIER <= alpha <= _SAFE_MULTIPLIER or not math.isfinite(alpha):
        torch._foreach_add_(params, ds, alpha=alpha)
        return
    largest = min(float(torch.finfo(d.dtype).max) for d in ds)
    if abs(alpha) <= largest:
        torch._foreach_add_(params, ds, alpha=alpha)
        return
    m, k = math.frexp(alpha)
    scaled = ds
    while k > 8:
        scaled, k = list(torch._foreach_mul(scaled, 256.0)), k - 8
    torch._foreach_add_(params, scaled, alpha=m * 2.0**k)


def _one_dtype(params: list[torch.Tensor]) -> None:
    """A ``ValueError`` for parameters of several dtypes on the device path."""
    dtype = params[0].dtype
    if any(p.dtype != dtype for p in params):
        dtypes = sorted({str(p.dtype) for p in params})
        raise ValueError(
            f"Invalid device_steps=True with parameters of several dtypes ({dtypes}): the "
            "device path keeps the direction in the parameters' one dtype; use "
            "device_steps=False (the host path, the same steps) or one dtype"
        )


def _add_device_step(
    params: list[torch.Tensor], views: list[torch.Tensor], factor: Any, factors: Any
) -> None:
    """The device path's ``p + factor d`` (``factor`` a 0-d tensor in the parameters' dtype,
    ``factors`` its expansions to each), rounded once as the host path's ``p + alpha d``
    (``addcmul`` by a 0-d tensor). The factor, clamped first to the dtype's finite range
    (an infinite factor times a zero would be NaN), and a result that overflows stop at the
    dtype's largest finite numbers, which the next step's ``lerp`` can undo (from an
    infinite parameter it would make NaN); finite ones are unchanged."""
    big = float(torch.finfo(factor.dtype).max)
    factor.clamp_(-big, big)
    torch._foreach_addcmul_(params, views, factors)
    torch._foreach_clamp_min_(params, -big)
    torch._foreach_clamp_max_(params, big)


def _is_part(tensor: torch.Tensor) -> bool:
    """Whether ``tensor`` is a view into a larger buffer (``torch.save`` writes the whole
    buffer: the host path's last direction is one row of its step's concatenation of the
    gradient, the direction and the last direction, two or three times its size)."""
    return bool(tensor.untyped_storage().nbytes() > tensor.numel() * tensor.element_size())


def _first_state(state_dict: Any) -> tuple[Any, dict[str, Any] | None]:
    """The first parameter's key in a state dict and its saved state (``None``: none), where
    both optimisers keep the entries of their own."""
    groups = state_dict.get("param_groups") if isinstance(state_dict, dict) else None
    key = groups[0]["params"][0] if groups and groups[0]["params"] else None
    entry = state_dict.get("state", {}).get(key) if key is not None else None
    return key, entry if isinstance(entry, dict) else None


def _with_state(state_dict: dict[str, Any], key: Any, entry: dict[str, Any]) -> dict[str, Any]:
    """``state_dict`` with parameter ``key``'s state replaced by ``entry`` (a new dict)."""
    return {**state_dict, "state": {**state_dict["state"], key: entry}}


def _with_run(state_dict: dict[str, Any], run: dict[str, Any], *, bare: bool) -> dict[str, Any]:
    """``state_dict`` with ``run`` (the counters and last values of a run, as numbers) added
    to the first parameter's state; where that parameter has none, only if ``bare``."""
    key, entry = _first_state(state_dict)
    if entry is not None:
        return _with_state(state_dict, key, {**entry, **run})
    if key is not None and bare:
        return _with_state(state_dict, key, dict(run))
    return state_dict


def _split_run(state_dict: Any, names: tuple[str, ...]) -> tuple[Any, dict[str, Any]]:
    """``state_dict`` without the entries ``names`` of the first parameter's state (without
    that state where nothing else is left), and those entries (the ones it holds)."""
    key, entry = _first_state(state_dict)
    if entry is None:
        return state_dict, {}
    run = {k: entry[k] for k in names if k in entry}
    own = {k: v for k, v in entry.items() if k not in names}
    state_dict = _with_state(state_dict, key, own)
    if not own:  # (only the run's entries: steps that left no state)
        state_dict["state"].pop(key)
    return state_dict, run


def state_dict_groups(state_dict: Any, owner: str, article: str = "a") -> list[Any]:
    """``state_dict["param_groups"]``, or a ``ValueError`` saying that ``state_dict`` is not
    ``owner``'s (a torch.optim state dict holds a dict ``"state"`` and a list
    ``"param_groups"``); ``article`` goes before ``owner`` in the message."""
    groups = state_dict.get("param_groups") if isinstance(state_dict, dict) else None
    if not (isinstance(groups, list) and isinstance(state_dict.get("state"), dict)):
        raise ValueError(
            f"not {article} {owner} state dict: "
            f"{type(state_dict).__name__} without 'state' and 'param_groups' (expected what "
            f"{owner}.state_dict() returns)"
        )
    return groups


def refuse_bad_counters(entries: dict[Any, Any], names: Iterable[str], where: str = "") -> None:
    """A ``ValueError`` naming the entry where a saved counter (one of ``names`` that
    ``entries`` holds) is not an integer >= 0 (``where``: which state holds it), before
    anything is loaded: loaded, it failed later with a bare error from deep inside."""
    for name in names:
        value = entries.get(name, 0)
        if (
            isinstance(value, (bool, np.bool_))
            or not isinstance(value, numbers.Integral)
            or value < 0
        ):
            raise ValueError(
                f"the state dict's {name!r} entry{where} must be an integer >= 0, got "
                f"{name}={value!r}"
            )


def _refuse_bad_entries(state_dict: dict[str, Any]) -> None:
    """A ``ValueError`` naming the entry, its value and what it must be, where a parameter's
    saved state holds a counter that is not an integer >= 0 (a moment's count ``k0`` not
    below the run's ``k``), a number that is not a real number, a flag that is not a
    bool, or ``d_params`` that is not None or a list of parameter indices."""
    run = _first_state(state_dict)[1] or {}
    for key, entry in state_dict["state"].items():
        if not isinstance(entry, dict):
            continue
        where = f" of parameter {key}"
        refuse_bad_counters(entry, _COUNTERS, where)
        bad = next((name for name in _NUMBERS if name in entry and not is_real(entry[name])), None)
        want = "a real number"
        if bad is None:
            flags = (n for n in _FLAGS if not isinstance(entry.get(n, True), (bool, np.bool_)))
            bad = next(flags, None)
            want = "True or False"
        if bad is None and "k0" in entry and not entry["k0"] < run.get("k", 0):
            bad, want = "k0", f"below the run's step count k={run.get('k', 0)!r}"
        which = entry.get("d_params")
        if bad is None and not (which is None or _are_indices(which)):
            bad, want = "d_params", "None or a list of parameter indices (integers >= 0)"
        if bad is not None:
            raise ValueError(
                f"the state dict's {bad!r} entry{where} must be {want}, got {bad}={entry[bad]!r}"
            )


def _are_indices(values: Any) -> bool:
    return isinstance(values, (list, tuple)) and all(
        isinstance(i, int) and not isinstance(i, bool) and i >= 0 for i in values
    )


def _refuse_foreign(state_dict: Any) -> None:
    """A ``ValueError`` naming what makes ``state_dict`` another optimiser's than
    :class:`StochasticLFSO` (whose groups hold ``eta`` and ``lr``, and whose parameters'
    states hold only :data:`_STATE_KEYS`)."""
    for i, group in enumerate(state_dict_groups(state_dict, "StochasticLFSO")):
        if not (isinstance(group, dict) and "eta" in group and "lr" in group):
            names = sorted(group) if isinstance(group, dict) else group
            raise ValueError(
                f"not a StochasticLFSO state dict: its param_groups[{i}] holds {names} "
                "(StochasticLFSO's groups hold 'eta' and 'lr'): it was saved by another "
                "optimiser"
            )
    refuse_foreign_state(
        state_dict,
        _STATE_KEYS,
        "StochasticLFSO",
        "lfso.torch.LFSO keeps 'lfso', torch.optim.Adam 'exp_avg', ...",
    )


def _refuse_other_shapes(state_dict: dict[str, Any], groups: list[dict[str, Any]]) -> None:
    """A ``ValueError`` where a parameter's saved moments, kept point or window start
    (:data:`_SHAPED`) have another shape than the parameter of ``groups`` it would be
    loaded into (torch matches them by position, and checks only the groups' sizes: such
    a state dict loaded, and the next step failed deep inside, or stepped from another
    model's state). Groups of other sizes are left to torch's own error."""
    saved = [
        g.get("params", ()) if isinstance(g, dict) else ()
        for g in state_dict_groups(state_dict, "StochasticLFSO")
    ]
    if len(saved) != len(groups) or any(
        len(ids) != len(g["params"]) for ids, g in zip(saved, groups, strict=True)
    ):
        return
    index = 0
    for ids, group in zip(saved, groups, strict=True):
        for key, p in zip(ids, group["params"], strict=True):
            entry = state_dict["state"].get(key)
            for name in _SHAPED:
                value = entry.get(name) if isinstance(entry, dict) else None
                if isinstance(value, torch.Tensor) and value.shape != p.shape:
                    raise ValueError(
                        f"the state dict does not fit these parameters: the state of its "
                        f"parameter {key!r} holds {name!r} of shape {tuple(value.shape)}, "
                        f"and this optimiser's parameter {index} has shape {tuple(p.shape)} "
                        "(it was saved for another model, or for its parameters in another "
                        "order)"
                    )
            index += 1


def _refuse_momentum_state(state_dict: dict[str, Any]) -> None:
    """A ``ValueError`` where a parameter's state holds a first moment ``m`` and no second
    moment ``v`` (saved with ``direction="momentum"``), loaded into an optimiser with Adam's
    direction: its next step needs ``v`` (it failed with a ``KeyError``), and a ``v`` of
    zeros would divide by the bias-corrected zeros, ``eps`` alone."""
    for key, entry in state_dict["state"].items():
        if isinstance(entry, dict) and "m" in entry and "v" not in entry:
            raise ValueError(
                f"the state dict does not fit this optimiser: the state of its parameter "
                f"{key!r} holds 'm' and no 'v' (it was saved with direction='momentum'); "
                "build the optimiser with direction='momentum' to resume it"
            )


def _refuse_missing_prev(state_dict: dict[str, Any]) -> None:
    """A ``ValueError`` where the state dict holds the last direction ``d_prev`` and a
    parameter the last step moved (``d_params``; ``None``: all) has moments and no kept
    point ``prev``: the next probe would measure the last step from a fresh kept point, the
    current one (a wrong curvature, not the last step's)."""
    run = _first_state(state_dict)[1] or {}
    if "d_prev" not in run:
        return
    groups = state_dict["param_groups"]
    keys = [key for g in groups if isinstance(g, dict) for key in g.get("params", ())]
    which = run.get("d_params")
    moved = keys if which is None else [keys[i] for i in which if i < len(keys)]
    for key in moved:  # (one without a state, added later: the probe's size test skips it)
        entry = state_dict["state"].get(key)
        if isinstance(entry, dict) and "m" in entry and "prev" not in entry:
            raise ValueError(
                f"the state dict does not fit this optimiser: it holds the last direction "
                f"'d_prev', and the state of its parameter {key!r}, which the last step "
                "moved, holds no 'prev' (the point that step left); save the state dict "
                "again with state_dict(), or delete 'd_prev' as well"
            )


def refuse_foreign_state(
    state_dict: Any, known: Any, owner: str, note: str, article: str = "a"
) -> None:
    """A ``ValueError`` where a parameter's state in ``state_dict`` (a torch.optim state
    dict, :func:`state_dict_groups`) holds a key outside ``known``: it was saved by
    another optimiser than ``owner`` (``note``: what others keep)."""
    for key, entry in state_dict["state"].items():
        foreign = sorted(set(entry) - set(known)) if isinstance(entry, dict) else entry
        if foreign:
            raise ValueError(
                f"not {article} {owner} state dict: the state of its parameter {key!r} holds "
                f"{foreign}: it was saved by another optimiser ({note})"
            )


def _default_eta_max(eta: float) -> float:
    """:class:`StochasticLFSO`'s ``eta_max`` when none is given: ``1.9 eta``, not above 1.9
    unless ``eta`` is."""
    return min(1.9 * eta, max(eta, 1.9))


def _is_group(value: Any) -> bool:
    """Whether ``value`` is a :class:`torch.distributed.ProcessGroup`."""
    return dist.is_available() and isinstance(value, dist.ProcessGroup)


#: The least :func:`_overflow_risk` of float16, bfloat16, float32 and float64 moments (a
#: number compared first, so that the loop over the moments' dtypes is seldom taken).
_RISK_FLOOR = float(torch.finfo(torch.float16).max) / 16.0


def _overflow_risk(vs: list[torch.Tensor]) -> float:
    """Below this squared gradient norm Adam's second moment ``vs`` cannot overflow (each
    entry a weighted mean of squared entries, its weights summing to 1 at most; a factor 16
    below the dtype's largest number for the rounding of its updates). A batch at or past
    it is skipped as one whose moment overflowed (it would then stay infinite, the
    direction 0 along it for good): a test of the squared norm both paths have at hand,
    no pass over ``vs``."""
    return float(torch.finfo(_narrowest(vs)).max) / 16.0


def _narrowest(vs: list[torch.Tensor]) -> torch.dtype:
    """The dtype of the moments ``vs`` with the least largest number."""
    return min((v.dtype for v in vs), key=lambda dtype: float(torch.finfo(dtype).max))


def _eps(losses: list[torch.Tensor]) -> float:
    """The largest machine epsilon of the losses' dtypes (0 for a dtype that is not a
    floating one): their relative rounding."""
    return max(
        (float(torch.finfo(f.dtype).eps) for f in losses if f.dtype.is_floating_point),
        default=0.0,
    )


def _underflowed(ok: torch.Tensor, moved: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
    """On the device: whether a gradient ``g`` that is not zero gave no step, its products
    having underflowed. In the float64 statistics only a float64 gradient's can, so only
    there is ``g`` read (a pass over it); other dtypes give ``False``."""
    if g.dtype != torch.float64:
        return torch.zeros_like(ok)
    return ok & ~moved & (g != 0.0).any()


class StochasticLFSO(torch.optim.Optimizer):
    """Minibatch optimiser sized by the secant curvature of each batch (module docstring).

    Parameters
    ----------
    params : iterable of tensors or dicts
    eta : float in (0, 2)
        Multiple of the averaged line minimiser taken where the run is held at a noise
        floor, and in the first window (module docstring, step 4).
    eta_max : float in [eta, 2), or None
        Multiple taken where the run moved over the last window as far as a free random
        walk of its steps, or further, unless ``s`` rose over it while the averaged
        curvature fell more than tenfold (the gate: module docstring, step 4);
        ``eta_max = eta`` keeps ``eta`` throughout. None (the default):
        ``1.9 eta``, not above 1.9 unless ``eta`` is (of the loaded ``eta`` after
        :meth:`load_state_dict`).
    window : int >= 2
        Steps between two settings of the multiple, and over which the displacement is
        measured.
    direction : {"adam", "momentum"}
        The average that gives the step's direction; where it disagrees with the batch,
        the preconditioned gradient, at the length of the step it replaces (module
        docstring, step 1).
    betas : (float, float), each in [0, 1)
        Averaging factors of the gradient and (``"adam"``) of its square.
    smoothing : float in [0, 1)
        Weight of the past in the averages of the line minimiser's numerator and
        denominator (``secant="same"``: in the log-space average of the line minimisers).
    growth : float > 1
        During the ramp the step grows by at most this factor per step; after it, by at
        most ``growth ** (1 - smoothing)`` per measurement.
    shrink : float > 1
        ... and a measurement pulls it down by at most this factor (during the ramp), or
        ``shrink ** (1 - smoothing)`` after it, once ``patience`` fresh batches in a row
        have put their own line minimiser below the step (until then by at most ``growth
        ** (1 - smoothing)``, as it rises: module docstring, step 3); once as many in a
        row have put it above the step, it rises by up to ``shrink ** (1 - smoothing)``
        too.
    patience : int >= 1
        ``secant="fresh"``: how many measurements in a row must each find the line
        minimiser below the step before the faster cut applies (a sustained drop, not one
        noisy batch at or near 0), or above it before the faster rise applies.
    eps : float > 0
        Adam's denominator floor.
    probe_every : int >= 1
        Measure the secant on every ``probe_every``-th step (1: every step), and on every
        step of the ramp.
    secant : {"fresh", "same"}
        Measure the batch along the previous step (its line minimiser is not biased toward
        the batch), or at the trial point of this step (see the module docstring).
    process_group : None, torch.distributed.ProcessGroup or False
        The ranks that train one model on shards of each batch (data-parallel training: see
        the Notes). None (the default): the default group when :mod:`torch.distributed` is
        initialised (checked at each step), else none; a group: that one (the group
        :class:`~torch.nn.parallel.DistributedDataParallel` was given); False: none, each
        process sizes its steps on its own losses (ranks that train separate models). The
        scalars that size the step are averaged over the group's ranks; with one rank, or
        none, the step is exactly the single-process one.
    device_steps : bool
        Size each step with 0-d tensors on the parameters' device and read nothing back
        within a step (the module docstring's device path; ``secant="fresh"`` only): the
        same steps as the default host path, which reads the step's statistics back once
        per step; parameters of one dtype (several: ``ValueError`` at the step). Off by
        default: the device path adds a few dozen operations on 0-d
        tensors per step (each a kernel launch on a GPU), which on small networks may cost
        more than the synchronisation they remove (``docs/results.md``, "Minibatches").
    **torch_flags
        ``maximize``, ``foreach``, ``capturable``, ``differentiable``, ``fused``:
        torch.optim's implementation options, as code that builds optimisers generically
        passes them, accepted at their defaults (``False``; ``foreach`` and ``fused``:
        ``None``) and where they change nothing (``foreach=True``, ``fused=False``); another
        value (``maximize=True``: return ``-loss`` from the closure instead) raises a
        ``ValueError`` that says why.

    Attributes
    ----------
    last_step, last_curvature : float
        ``t`` and the secant ``C`` of the last step (NaN before the first); on the device
        path (module docstring, "The device path"), read from the device when read.
    rollbacks : int
        Steps undone: the batch after them had a non-finite loss or gradient
        (``secant="same"``: or the step's trial loss was not finite). On the device path,
        counted when the next step (or this read) reads the last step's flags.
    skipped : int
        Batches with a non-finite loss or gradient before any step (nothing to undo).
    probes : int
        Extra forward passes taken to measure the secant (``secant="fresh"``).
    steps : int
        Calls of :meth:`step` so far (the number a :class:`SkippedBatchWarning` names); a
        call that raised (its closure did) is not counted.

    Warns
    -----
    SkippedBatchWarning
        When a batch's loss or gradient is not finite: the batch is skipped, the previous
        step undone (if any) and ``s`` divided by 10, the gradient averages restarted. On
        the device path the warning comes a step later (the parameters are undone within
        the step): at the next :meth:`step`, or when :attr:`rollbacks`, :attr:`skipped` or
        :meth:`state_dict` is read.
    RuntimeWarning
        Once, when a batch's gradient is not zero but its products underflow to 0 in
        float64 (a float64 loss scaled far below 1, ``1e-200 * loss``): no step can be
        sized, the parameters stay; multiply the loss by a constant. (On the device path
        a step later, as above.)

    Notes
    -----
    The counters and ``last_step``, ``last_curvature`` are saved by :meth:`state_dict` and
    go on from there after :meth:`load_state_dict`, as the rest of the run does.

    **The closure.** ``step(closure)`` calls the closure once with a graph (after zeroing
    the gradients), and on a step that measures the secant once more, at the previous point
    (``secant="fresh"``) or the trial point (``"same"``). A gradient left in ``p.grad``
    before :meth:`step` (``loss.backward(); opt.step(closure)``, or micro-batches
    accumulated outside) is discarded: to accumulate micro-batches, call ``backward`` on
    each inside the closure and return their summed loss. Three forms are accepted, told
    apart from the first call without calling it again:

    * ``closure(backward)`` (a named positional parameter, the first: without a default, with
      a bool default, or named ``backward``; a first parameter with another default, as in
      ``def closure(idx=idx)``, which binds a loop variable, is not the flag, and such a
      closure is called without arguments): computes the batch's loss at the
      current parameters, calls ``loss.backward()`` when ``backward`` is true, and returns
      the loss. The second call is ``closure(False)`` under ``torch.no_grad()``: a forward
      pass only, the cheapest form.
    * ``closure()`` that calls ``backward`` itself (torch.optim's form, and Lightning's:
      ``opt.zero_grad(); loss = ...; loss.backward(); return loss``), recognised by the
      gradient it leaves. Its second call also runs backward (the closure asks for it): a
      measured step then costs a backward pass and a copy of the gradient more than with
      ``closure(backward)``. The gradient it leaves there is discarded: after :meth:`step`,
      ``p.grad`` is the batch's gradient at the point the step started from, in every form
      (the same tensors, holding the same values).
    * ``closure()`` that does not call ``backward`` (SLS's form), recognised by the
      gradient it does not leave: the optimiser calls ``loss.backward()`` on the loss it
      returns (which must then be a tensor) and calls it under ``torch.no_grad()`` the
      second time.

    A closure whose only parameters are ``*args, **kwargs`` is called without arguments.
    The loss may be a one-element tensor of a real floating dtype (not complex, bool or
    integer: ``loss.long()`` is refused) or, in the first two forms, a number. A closure
    that returns None and leaves no gradient (a batch a training loop skips) takes no step;
    one that returns a loss and leaves no gradient on parameters that take one (a loss
    computed under ``torch.no_grad()`` or detached, a ``closure(backward)`` that did not
    call ``backward``) raises a ``TypeError`` saying which. The closure must compute the
    same function in both calls (no new dropout mask, no new batch), and leave the
    gradient as ``backward`` made it:

    * **No gradient clipping in the closure** (``clip_grad_norm_``): the secant compares the
      closure's loss with ``p.grad``, so a clipped gradient reads as curvature and the step
      collapses. The step is sized by the measured curvature already, and a batch whose
      loss or gradient is not finite is skipped (class docstring, above).
    * **``torch.amp.GradScaler`` does not take closures**, and ``scaler.step(opt,
      closure)`` raises a ``RuntimeError`` (the scaler would unscale only the gradient
      left before the step, which is discarded). Use bfloat16 ``autocast`` without a
      scaler, or call ``backward`` on ``loss * scale`` and return that same
      scaled loss: the steps do not depend on a constant factor, and a batch that
      overflows is skipped (which also undoes the previous step and divides ``s`` by 10).
    * The probe's forward pass in ``train()`` mode updates BatchNorm's running statistics
      a second time, at the previous parameters; where that matters, save the module's
      buffers in the closure and put them back when ``backward`` is false.

    **Parameters.** Real floating parameters (a complex one is refused, naming it: keep it
    as a real parameter of shape ``(..., 2)`` and use :func:`torch.view_as_complex` of it in
    the model). A parameter that gets no gradient from a batch (an unused head) takes no
    step on it, and the probe measures the last step only on a batch whose parameters with
    a gradient are the ones that step moved (along a step over other parameters it would
    measure nothing of this batch's): heads that always alternate keep the step their first
    measurement gave. A parameter whose moments start later (a group added by
    :meth:`add_param_group` after some steps, a parameter that had no gradient until then)
    has its bias corrections count its own steps since, as :class:`torch.optim.Adam` counts
    each parameter's: its first direction is a fresh optimiser's.
    ``copy.deepcopy`` and :mod:`pickle` copy the whole optimiser, which
    then steps as the original would.

    **The param groups' ``lr``.** StochasticLFSO has no learning rate;
    ``param_groups[i]["lr"]`` is a **multiplier of the step it sizes**, ``t = lr * eta * s``,
    1 by default, there for learning-rate schedulers (``torch.optim.lr_scheduler``, which
    read and write it). The scheduler's factor scales every step, read afresh at each one:
    a warm-up, or a decay that lowers the noise floor of constant steps. ``s`` is measured
    along the steps actually taken, so it keeps estimating the line minimiser whatever
    ``lr`` is. Schedulers that set absolute values (``OneCycleLR``, ``CyclicLR``) set the
    multiplier: give them ``max_lr=1`` (and ``cycle_momentum=False``: the betas are not in
    the param groups). Why a multiplier: refusing schedulers would make a
    training loop configured with one unusable, where a factor on the step has a clear
    meaning; ``lr`` as the step taken (read-only) would leave a scheduler's write without
    one (the step taken is :attr:`last_step`). One step is taken for all parameters, so
    every group holds the same ``lr``, a finite number >= 0 (checked at each step,
    ``ValueError`` otherwise), and a group given at construction or by
    :meth:`add_param_group` with a different ``lr`` is refused (``"lr": 1e-3`` carried over
    from Adam would shorten every step 1000 times; scale the step with ``eta``).

    **Data-parallel training** (:class:`~torch.nn.parallel.DistributedDataParallel`, DDP).
    Build the optimiser on the wrapped model's parameters, on every rank; each rank's closure
    computes the loss of its own shard of the batch, and DDP averages the gradients in
    ``backward``. The losses, and the probe's losses, are each rank's own: the optimiser
    averages every scalar that sizes the step (the loss at the step's start point, the
    probe's loss at the previous point, the Gram matrix of the gradient, the direction and
    the previous direction) over ``process_group``, in one
    :func:`torch.distributed.all_reduce` per step, before it uses any of them. Every rank
    then takes the same step and undoes or skips the same batches; with shards of equal
    size and a loss that is a mean over rows, that step is the one a single process takes
    on the whole batch (up to rounding). The probe evaluates each rank's shard: with
    ``closure(backward)`` or a closure that leaves ``backward`` to the optimiser it runs
    without a graph, so DDP communicates nothing for it (beyond the buffers it broadcasts
    at every forward pass); torch.optim's ``closure()`` runs ``backward`` again, and DDP
    then all-reduces a gradient that is discarded (prefer ``closure(backward)``). Two rare
    steps take one more all-reduce: a step whose averaged direction is not a descent
    direction for the batch (its preconditioned gradient is measured instead), and a
    measured step with ``secant="same"`` (its trial loss). Every rank must call
    :meth:`step` for every batch, with closures of the same form (the all-reduce is a
    collective, as DDP's own are). :meth:`step` returns the rank's own loss.

    Examples
    --------
    A linear model trained on minibatches with torch.optim's closure (it zeroes the
    gradients and calls ``backward`` itself); no learning rate is given:

    >>> import torch, lfso.torch
    >>> _ = torch.manual_seed(0)
    >>> X = torch.randn(256, 3)
    >>> y = X @ torch.tensor([2.0, -1.0, 0.5]) + 1.0
    >>> net = torch.nn.Linear(3, 1)
    >>> opt = lfso.torch.StochasticLFSO(net.parameters())
    >>> def closure():
    ...     opt.zero_grad()
    ...     loss = torch.nn.functional.mse_loss(net(X[idx]).squeeze(1), y[idx])
    ...     loss.backward()
    ...     return loss
    >>> for epoch in range(10):
    ...     for idx in torch.randperm(256).split(32):
    ...         _ = opt.step(closure)
    >>> net.weight.detach().round(decimals=1).tolist(), round(net.bias.item(), 1), opt.steps
    ([[2.0, -1.0, 0.5]], 1.0, 80)
    """

    #: ``torch.amp.GradScaler.step`` then sets ``grad_scale`` and ``found_inf`` on the
    #: optimiser before it calls :meth:`step` (instead of unscaling ``p.grad`` and calling
    #: it as a plain one's), which :meth:`step` reads to refuse it (:func:`_refuse_scaler`).
    _step_supports_amp_scaling = True

    def __init__(
        self,
        params: Iterable[Any],
        eta: float = 1.0,
        *,
        eta_max: float | None = None,
        window: int = 100,
        direction: str = "adam",
        betas: tuple[float, float] = (0.9, 0.999),
        smoothing: float = 0.9,
        growth: float = 2.0,
        shrink: float = 10.0,
        patience: int = 3,
        eps: float = 1e-8,
        probe_every: int = 2,
        secant: str = "fresh",
        process_group: Any = None,
        device_steps: bool = False,
        **torch_flags: Any,
    ) -> None:
        _without_torch_flags("StochasticLFSO", torch_flags, others=False)
        _check_reals(eta=eta, smoothing=smoothing, growth=growth, shrink=shrink, eps=eps)
        if eta_max is not None:
            _check_reals(eta_max=eta_max)
        pair = isinstance(betas, (list, tuple)) and len(betas) == 2
        if pair:
            _check_reals(**{"betas[0]": betas[0], "betas[1]": betas[1]})
        if not 0.0 < eta < 2.0:
            raise ValueError(f"Invalid eta: {eta} (must be in (0, 2))")
        self._eta_max_given = eta_max  # (None: it follows eta, also a loaded one)
        eta_max = _default_eta_max(eta) if eta_max is None else eta_max
        if not eta <= eta_max < 2.0:
            raise ValueError(
                f"Invalid eta_max: {eta_max} (must be None or in [eta, 2) = [{eta}, 2))"
            )
        window = _count(window, "window", 2)
        if direction not in ("adam", "momentum"):
            raise ValueError(f"Invalid direction: {direction!r} (must be 'adam' or 'momentum')")
        if not (pair and all(0.0 <= b < 1.0 for b in betas)):
            raise ValueError(f"Invalid betas: {betas} (must be two numbers in [0, 1))")
        if not 0.0 <= smoothing < 1.0:
            raise ValueError(f"Invalid smoothing: {smoothing} (must be in [0, 1))")
        if not 1.0 < growth < math.inf:
            raise ValueError(f"Invalid growth: {growth} (must be finite and > 1)")
        if not 1.0 < shrink < math.inf:
            raise ValueError(f"Invalid shrink: {shrink} (must be finite and > 1)")
        patience = _count(patience, "patience", 1)
        if not (eps > 0.0 and math.isfinite(eps)):
            raise ValueError(f"Invalid eps: {eps} (must be finite and > 0)")
        if secant not in ("fresh", "same"):
            raise ValueError(f"Invalid secant: {secant!r} (must be 'fresh' or 'same')")
        probe_every = _count(probe_every, "probe_every", 1)
        if not isinstance(device_steps, (bool, np.bool_)):
            raise ValueError(f"Invalid device_steps: {device_steps!r} (must be True or False)")
        if device_steps and secant != "fresh":
            raise ValueError(
                f"Invalid device_steps=True with secant={secant!r} (the device path needs "
                "secant='fresh': the same-batch secant's trial loss decides within the step)"
            )
        if not (process_group is None or process_group is False or _is_group(process_group)):
            raise ValueError(
                f"Invalid process_group: {process_group!r} (must be None for the default "
                "group when torch.distributed is initialised, a "
                "torch.distributed.ProcessGroup, or False for none)"
            )
        self.direction, self.betas = direction, (float(betas[0]), float(betas[1]))
        self.smoothing, self.growth, self.shrink = float(smoothing), float(growth), float(shrink)
        self.patience, self.eta_max, self.window = patience, float(eta_max), window
        self.eps, self.probe_every, self.secant = float(eps), probe_every, secant
        self.process_group = process_group
        # (its groups checked against those; eta a number: a tensor's dtype stays out)
        super().__init__(params, {"eta": float(eta), "lr": 1.0})
        self._undo: tuple[list[torch.Tensor], list[torch.Tensor]] | None = None
        self._spares: dict[torch.Tensor, torch.Tensor] = {}
        self._held: dict[torch.dtype, tuple[torch.Tensor, ...]] = {}  # (_factors)
        self._last = [math.nan, math.nan]  # the host path's last_step, last_curvature
        self._counts, self.probes, self.steps = [0, 0], 0, 0  # (_counts: rollbacks, skipped)
        # The device path (module docstring, "The device path"), on any device.
        self._device_path = bool(device_steps)
        self._dev: dict[str, Any] | None = None  # its 0-d tensors (None: not built)
        self._mirror: dict[str, Any] = {}  # what the host knows of them, a step late
        self._pending: tuple[Any, ...] | None = None  # the last device step's, unread
        self._flags: dict[int, tuple[torch.Tensor, Any, Any]] = {}  # host copies of flags
        self._row_cache: tuple[Any, ...] | None = None  # the direction's buffers (_rows)
        self._underflow_told = False  # (_warn_underflow: once)

    def __getstate__(self) -> dict[str, Any]:
        """For ``copy.deepcopy`` and ``pickle``: every attribute (torch's optimisers keep
        only ``defaults``, ``state`` and ``param_groups``), after the device path's last
        flags are read, without the hooks (as torch) and the buffers that are rebuilt (the
        flags' host copies, with their NumPy views and events, and the direction's rows)."""
        self._settle()
        state = {k: v for k, v in self.__dict__.items() if not k.startswith("_optimizer_")}
        state["_flags"], state["_row_cache"] = {}, None
        return state

    @property
    def last_step(self) -> float:
        """``t``, the multiplier of the last step taken (NaN before the first); on the
        device path, read from the device when asked."""
        return self._read("last_step", 0)

    @last_step.setter
    def last_step(self, value: float) -> None:
        self._last[0] = value

    @property
    def last_curvature(self) -> float:
        """The secant curvature ``C`` last measured (NaN before the first)."""
        return self._read("last_curvature", 1)

    @last_curvature.setter
    def last_curvature(self, value: float) -> None:
        self._last[1] = value

    @property
    def rollbacks(self) -> int:
        """Steps undone (class docstring); on the device path, up to date when read."""
        self._settle()
        return self._counts[0]

    @rollbacks.setter
    def rollbacks(self, value: int) -> None:
        self._counts[0] = value

    @property
    def skipped(self) -> int:
        """Batches skipped before any step (class docstring)."""
        self._settle()
        return self._counts[1]

    @skipped.setter
    def skipped(self, value: int) -> None:
        self._counts[1] = value

    def _read(self, name: str, index: int) -> float:
        if self._dev is None:
            return self._last[index]
        value = self._dev["prev"][3] if name == "last_step" else self._dev[name]
        return float(value)  # a host round trip, when the user asks

    def add_param_group(self, param_group: dict[str, Any]) -> None:
        """As :meth:`torch.optim.Optimizer.add_param_group`; a group's ``lr`` (the step's
        multiplier) defaults to the one the other groups hold, and a different one is
        refused, as is a group ``eta`` other than the optimiser's: one step is taken for
        all parameters."""
        if isinstance(param_group, dict):
            _refuse_group_options(param_group, "StochasticLFSO", self._own_options())
            groups = self.param_groups
            own = self.defaults.get("eta")
            if "eta" in param_group and param_group["eta"] != own:
                raise ValueError(
                    f"Invalid eta in a param group: {param_group['eta']!r} (StochasticLFSO "
                    f"takes one step for all parameters, with eta={own!r}: pass eta to the "
                    "optimiser, not per group)"
                )
            if "eta" in param_group:  # (the optimiser's own number, equal to it)
                param_group = {**param_group, "eta": own}
            current = _lr(groups[0].get("lr", 1.0), "param_groups[0]") if groups else 1.0
            if groups and "lr" not in param_group:
                param_group = {**param_group, "lr": current}
            elif "lr" in param_group and _lr(param_group["lr"], "a param group") != current:
                raise ValueError(
                    f"Invalid lr in a param group: {param_group['lr']!r} (StochasticLFSO has "
                    f"no learning rate: 'lr' multiplies the step it sizes, is {current} in "
                    "the other groups (1 unless a scheduler changed it) and must be the same "
                    "in every group; to scale the step, pass eta)"
                )
        super().add_param_group(_once_each(self, param_group, "StochasticLFSO"))
        _refuse_complex(self, "StochasticLFSO")

    def _own_options(self) -> dict[str, Any]:
        """The options the optimiser takes for all parameters (eta and lr aside)."""
        return {key: getattr(self, key) for key in _OWN_OPTIONS}

    def _multiplier(self) -> float:
        """``lr``, the step's multiplier, checked: the same finite number >= 0 in every group
        (a learning-rate scheduler sets it)."""
        groups = self.param_groups
        if len(groups) == 1:  # (the usual case: one number to check)
            return _lr(groups[0].setdefault("lr", 1.0), "param_groups[0]")
        lrs = [_lr(g.setdefault("lr", 1.0), f"param_groups[{i}]") for i, g in enumerate(groups)]
        if any(lr != lrs[0] for lr in lrs):
            raise ValueError(
                f"Invalid lr in param_groups: {lrs} (StochasticLFSO takes one step for all "
                "parameters: the 'lr' multiplier must be the same in every group)"
            )
        return lrs[0]

    def _warn_skipped(
        self,
        loss: float,
        gg: float,
        undone: bool,
        step: int = 0,
        overflow: torch.dtype | None = None,
    ) -> None:
        """A :class:`SkippedBatchWarning` naming the step (``step``, or this one), what was
        not finite, and what the optimiser did about it; ``overflow``: the gradient was
        finite, but squares of its entries overflow that dtype (its squared norm, or Adam's
        second moment)."""
        parts = [f"loss is {loss}"] if not math.isfinite(loss) else []
        if not math.isfinite(gg):
            parts.append(f"gradient's squared norm is {gg}")
        what = " and its ".join(parts) or "step direction is not finite (its gradient is)"
        hint = "check the data for NaN or inf"
        if math.isinf(loss) and math.isfinite(gg):
            hint = (
                "a loss that is infinite where its gradient is finite has overflowed its "
                "dtype's range, unless the data hold inf: compute the loss in float64, or "
                "divide it by a constant"
            )
        if overflow is not None:
            what = (
                "gradient is finite, but its squared norm overflows"
                if not math.isfinite(gg)
                else "gradient is finite, but the squares of its entries may overflow Adam's "
                f"second moment (its squared norm is {gg:.3g})"
            )
            hint = (
                f"the squares reach a 16th of the largest {overflow} number, "
                f"{torch.finfo(overflow).max:.3g}: divide the loss by a constant that brings "
                "its gradient near 1"
            )
        if not parts and self.direction == "adam":  # Adam's eps may round to 0 (float16)
            lost = sorted(
                {str(p.dtype) for p in self._params() if float(p.new_tensor(self.eps)) == 0.0}
            )
            if lost:
                hint = (
                    f"eps={self.eps!r} is 0 in {', '.join(lost)}, so a coordinate whose squared "
                    "gradient underflows divides 0 by 0: pass a larger eps (1e-6 is not 0 in "
                    "float16) or train in bfloat16 or float32"
                )
        done = (
            "the previous step, which may have led there, was undone and the step scale "
            "divided by 10"
            if undone
            else "the parameters were left as they were"
        )
        warnings.warn(
            f"StochasticLFSO step {step or self.steps}: the batch's {what}; the batch was skipped, "
            f"{done}, and the gradient averages restart ({hint})",
            SkippedBatchWarning,
            stacklevel=caller_level(),
        )

    def _warn_underflow(self, loss: float, step: int = 0) -> None:
        """The ``RuntimeWarning``, once, for a batch whose gradient is not zero but whose
        products underflow to 0 in float64 (a loss scaled far below 1: ``1e-310 * loss``,
        or ``1e-200 * loss``, whose squared gradient is below the float range): no step can
        be sized from it."""
        self._underflow_told = True
        warnings.warn(
            f"StochasticLFSO step {step or self.steps}: the batch's loss {loss:.3g} and its "
            "gradient are so small that the gradient's products underflow to 0 (they are "
            "below the float range): no step can be sized from them, and the parameters "
            "were left as they were (this warning is not repeated); multiply the loss by a "
            "constant that brings it near 1",
            RuntimeWarning,
            stacklevel=caller_level(),
        )

    def _global(self) -> dict[str, Any]:
        """Step count and averaged step, kept in the first parameter's state (as LBFGS does),
        so that they round-trip through ``state_dict()``."""
        first = self.param_groups[0]["params"][0]
        state = self.state[first]
        state.setdefault("k", 0)
        state.setdefault("step_size", math.nan)
        return state

    def _params(self) -> list[torch.Tensor]:
        return [p for g in self.param_groups for p in g["params"]]

    def _stepped(self) -> tuple[list[torch.Tensor], list[int] | None]:
        """The parameters with a gradient, and their indices among all of them (``None``:
        all), so that the probe measures the last step only where it moved the same ones
        (``d_prev`` is over the last step's)."""
        everything = self._params()
        params = [p for p in everything if p.grad is not None]
        if len(params) == len(everything):
            return params, None
        return params, [i for i, p in enumerate(everything) if p.grad is not None]

    def _probe_loss(
        self,
        closure: Callable[..., Any],
        form: str,
        params: list[torch.Tensor],
        prevs: list[torch.Tensor],
        spare: list[torch.Tensor],
    ) -> torch.Tensor:
        """The batch's loss at the kept point ``prevs`` (``p_{k-1}``): it is copied into the
        parameters for the closure's call, and ``p_k`` back from ``spare`` after it, also
        where the closure raises."""
        torch._foreach_copy_(params, prevs)
        try:
            loss = self._trial(closure, form)
        finally:
            torch._foreach_copy_(params, spare)
        self.probes += 1
        return loss

    def _ranks(self) -> int:
        """How many ranks :meth:`_synced` averages over (1: none to average with)."""
        group = self.process_group
        if group is False or not (dist.is_available() and dist.is_initialized()):
            return 1
        return int(dist.get_world_size(group))

    def _synced(self, values: torch.Tensor) -> torch.Tensor:
        """``values`` averaged, in place, over the ranks of :attr:`process_group` (one
        all-reduce); unchanged without a group or with a group of one rank."""
        size = self._ranks()
        if size <= 1:
            return values
        dist.all_reduce(values, op=dist.ReduceOp.SUM, group=self.process_group)
        return values.div_(size)

    def _evaluate(self, closure: Callable[..., Any]) -> tuple[torch.Tensor | None, str]:
        """The batch's loss, its gradient in ``p.grad``, and the closure's form, told apart
        from this one call: a closure without arguments called ``backward`` itself if it left
        a gradient."""
        params = self._params()
        for p in params:  # zero_grad(set_to_none=True), without its profiler range
            if p.grad is not None:
                p.grad = None
        flag = _takes_flag(closure)
        with torch.enable_grad():
            value = closure(True) if flag else closure()
        computed = any(p.grad is not None for p in params)
        form = _FLAG if flag else _OPTIM if computed else _PLAIN
        if value is None and not computed:  # torch.optim's skipped batch: nothing to step on
            return None, form
        if form == _PLAIN and not isinstance(value, torch.Tensor):
            raise TypeError(
                "a closure without arguments that does not call loss.backward() must return "
                f"the loss tensor (the optimiser calls its backward), got {value!r}; a "
                "closure that returns the loss as a number calls loss.backward() itself"
            )
        loss = _loss(value, params[0])
        if form == _PLAIN and loss.requires_grad:
            loss.backward()
        elif not computed and any(p.requires_grad for p in params):
            _refuse_gradless(loss, form)
        return loss, form

    def _trial(self, closure: Callable[..., Any], form: str) -> torch.Tensor:
        """The closure's loss at the current parameters (not synchronised). Without a graph,
        unless the closure calls ``backward`` itself (``closure()``, torch.optim's form): it
        then runs with one, and the gradient it leaves is discarded (``p.grad`` keeps the
        batch's gradient at the point the step started from)."""
        params = self._params()
        if form == _OPTIM:
            kept = [p.grad for p in params]
            # Their values too: the closure's backward may write into the same memory (DDP's
            # gradient_as_bucket_view keeps every gradient in a bucket it reuses).
            values = [None if grad is None else grad.clone() for grad in kept]
            for p in params:  # out of the closure's reach (zero_grad may zero in place)
                p.grad = None
            try:
                with torch.enable_grad():
                    value = closure()
            finally:
                for p, grad, saved in zip(params, kept, values, strict=True):
                    if grad is not None and saved is not None:
                        grad.copy_(saved)
                    p.grad = grad
        else:
            with torch.no_grad():
                value = closure(False) if form == _FLAG else closure()
        return _loss(value, params[0]).detach()

    @torch.no_grad()
    def step(self, closure: Callable[..., Any] | None = None) -> Any:  # type: ignore[override]
        """One minibatch step; returns the batch loss at the parameters it started from.

        Parameters
        ----------
        closure : callable
            Computes the loss of the current batch at the current parameters, in one of the
            forms the class docstring lists; called once with a graph, and a second time
            on a step that measures the secant.

        Returns
        -------
        torch.Tensor or None
            The loss the first call returned (a number comes back as a float64 tensor);
            None, with no step taken, when the closure returned None and left no gradient.
        """
        _refuse_scaler(self)
        if closure is None:
            raise TypeError(
                "StochasticLFSO.step needs a closure that returns the loss of the current "
                "batch (it evaluates the batch twice: see the class docstring)"
            )
        steps, held = self.steps, self._hold()
        try:
            return self._step(closure)
        except BaseException:  # (the closure raised: the step is not taken)
            self.steps = steps
            if held is not None:
                self._put_back(held)
            raise

    def _hold(self) -> tuple[Any, ...] | None:
        """``secant="same"``, on a step whose trial may come: a copy of the optimiser's
        state, which the step changes before the closure's last call (the moments, the
        window), for :meth:`_put_back`; ``None`` where the closure's last call comes before
        the step changes anything."""
        if self.secant != "same":
            return None
        g_state = self.state.get(self.param_groups[0]["params"][0], {})
        s, k = g_state.get("step_size", math.nan), g_state.get("k", 0) + 1
        if s == s and k % self.probe_every:  # (no trial on this step)
            return None
        states = {p: dict(self.state[p]) if p in self.state else None for p in self._params()}
        copies = {
            id(v): v.clone()
            for saved in states.values()
            for v in (saved or {}).values()
            if isinstance(v, torch.Tensor)
        }
        return states, copies, self._undo, list(self._last), list(self._counts)

    def _put_back(self, held: tuple[Any, ...]) -> None:
        """The optimiser's state as :meth:`_hold` copied it (the parameters are put back
        by :meth:`_same`)."""
        states, copies, self._undo, self._last, self._counts = held
        for p, saved in states.items():
            if saved is None:
                self.state.pop(p, None)
                continue
            for v in saved.values():
                if isinstance(v, torch.Tensor):
                    v.copy_(copies[id(v)])
            state = self.state[p]
            state.clear()
            state.update(saved)

    def _step(self, closure: Callable[..., Any]) -> Any:
        """:meth:`step`'s body, on a closure."""
        self.steps += 1
        lr = self._multiplier()
        loss, form = self._evaluate(closure)
        if loss is None:
            return None
        params, which = self._stepped()
        if not params:
            return loss
        if self._device_path and self.secant == "fresh":
            return self._device_step(closure, form, loss, params, lr, which)
        grads = [_grad(p) for p in params]
        g_state = self._global()
        k = g_state["k"] + 1
        ms, vs, prevs, late = self._buffers(params, k - 1)
        s = g_state["step_size"]
        d_prev = g_state.get("d_prev")  # the last step was -t_prev * scale_prev * d_prev
        # The fresh batch at the previous point, before anything is synchronised: its loss
        # joins the step's other statistics in one host round trip.
        probe = (
            self.secant == "fresh"
            and s == s
            and d_prev is not None
            and (k % self.probe_every == 0 or g_state.get("ramp", True))
            and not g_state.get("fell", False)
            and d_prev.shape[0] == sum(p.numel() for p in params)
            and g_state.get("d_params") == which
        )
        spare: list[torch.Tensor] = []
        scalars = [loss]  # the batch's loss (and at the previous point): one element each
        if probe:  # p_k to a spare buffer, and the batch's loss at p_{k-1}
            spare = self._spare(params)
            torch._foreach_copy_(spare, params)
            scalars.append(self._probe_loss(closure, form, params, prevs, spare))
        self._window(params, g_state)  # (after the closure's last call, which may raise)
        if g_state.pop("restart", False):  # the ramp ended: its gradients count as zeros
            torch._foreach_zero_(ms + vs)
        ds, den, scale = self._moments(ms, vs, grads, k, late)
        rows = [t if t.dim() == 1 else t.reshape(-1) for t in grads + ds]
        if probe:
            rows.append(cast(torch.Tensor, d_prev))
        n_rows = 3 if probe else 2  # g, d (and d_prev)
        stats, flat, d_row = self._statistics(rows, n_rows, scalars)
        dd_raw = stats[n_rows + 1]
        f0, gd, dd = stats[n_rows * n_rows], -scale * stats[1], scale * scale * dd_raw
        if not (math.isfinite(f0) and math.isfinite(gd) and math.isfinite(dd)):
            self._restart(ms, vs, g_state, f0, stats[0], self._squares_overflow(stats[0], flat))
            return loss
        if stats[0] > _RISK_FLOOR and vs and stats[0] > _overflow_risk(vs):
            self._restart(ms, vs, g_state, f0, stats[0], _narrowest(vs))
            return loss
        g_state["k"] = k
        # s sizes the average's direction: where the batch disagrees, the preconditioned
        # gradient is taken, as long as the step it replaces, and not measured (below).
        fell = not gd < 0.0
        if fell:
            fallen = self._preconditioned(grads, den, flat[0])
            if fallen is None:  # a zero gradient: nothing to do, unless it underflowed
                if not self._underflow_told and bool(flat[0].any()):  # (a read, only here)
                    self._warn_underflow(f0)
                return loss
            ds, d_row, gd_raw, dd_raw = fallen
            if dd > 0.0:  # ||scale d||^2 = dd, the replaced step's
                scale = math.sqrt(dd / dd_raw)
            else:
                scale, dd = 1.0, dd_raw
            gd = scale * gd_raw
        g_state["fell"] = fell
        if self.secant == "fresh":
            if probe:  # Delta = -t_prev scale_prev d_prev: g . Delta and ||Delta||^2
                coef = -g_state["t_prev"] * g_state["scale_prev"]
                probed = (stats[-1], coef * stats[2 * n_rows], coef * coef * g_state["dd_prev"])
                s = self._measure(s, f0, probed, g_state, _eps(scalars))
            if spare:  # the spare buffers hold p_k: they become the kept point (no copy)
                for p, old, new in zip(params, prevs, spare, strict=True):
                    self.state[p]["prev"], self._spares[p] = new, old
                prevs = spare
            self._fresh_step(params, ds, (scale, dd, dd_raw), d_row, (s, lr), prevs, bool(spare))
            g_state["d_params"] = which
            return loss
        return self._same(closure, form, loss, params, ds, (scale, lr), (f0, gd, dd), k, fell)

    def _window(self, params: list[torch.Tensor], g_state: dict[str, Any]) -> None:
        """At the start of a step: once ``window`` steps have been taken since the window's
        start point, the multiple ``eta_now`` of the line minimiser for the next window,
        from the displacement over the last one (module docstring, step 4); the window
        then starts again at the current point."""
        g_state.setdefault("eta_now", self.param_groups[0]["eta"])
        g_state.setdefault("window_s", math.inf)  # (the first window starts before s)
        n = g_state.get("window_n", 0)
        if n == 0:  # (the first window's start point; later ones are copied in below)
            self._anchors(params)
        elif n >= self.window:
            anchors = self._anchors(params)
            sq, s = g_state.get("window_sq", 0.0), g_state["step_size"]
            b = g_state.get("secant_b", math.nan)
            if sq > 0.0:
                rho = float(self._displacement(params, anchors)) * self._free / sq
                # s rose while the averaged curvature collapsed (or was not measured): eta
                start_b = g_state.get("window_b", math.nan)
                held = s > g_state["window_s"] and not _FALL * b >= start_b
                w = 0.0 if held else min(rho, 1.0)
                eta = self.param_groups[0]["eta"]
                g_state["eta_now"] = eta + (self.eta_max - eta) * (w * w)
            torch._foreach_copy_(anchors, params)
            n, g_state["window_sq"], g_state["window_s"], g_state["window_b"] = 0, 0.0, s, b
        g_state["window_n"] = n + 1

    @property
    def _free(self) -> float:
        """``(1 - beta1) / (1 + beta1)``: the squared displacement of a free random walk of
        steps along the averaged gradient, over the sum of the steps' squared lengths, is
        the inverse (module docstring, step 4)."""
        b1 = self.betas[0]
        return (1.0 - b1) / (1.0 + b1)

    def _anchors(self, params: list[torch.Tensor]) -> list[torch.Tensor]:
        """Each parameter's value at the start of the window (created as a copy)."""
        anchors = []
        for p in params:
            state = self.state[p]
            if "anchor" not in state:
                state["anchor"] = p.detach().clone(memory_format=torch.preserve_format)
            anchors.append(state["anchor"])
        return anchors

    @staticmethod
    def _displacement(params: list[torch.Tensor], anchors: list[torch.Tensor]) -> torch.Tensor:
        """``||p - p_anchor||^2``, a 0-d float64 tensor (the differences in the parameters'
        dtype, summed in float64; the same on both paths)."""
        flat = _flat(torch._foreach_sub(params, anchors))
        return flat @ flat

    def _buffers(
        self, params: list[torch.Tensor], start: int
    ) -> tuple[list[torch.Tensor], list[torch.Tensor], list[torch.Tensor], list[tuple[int, int]]]:
        """Each parameter's first moment ``m``, second moment ``v`` (``direction="adam"``)
        and the point its last step left (``secant="fresh"``), created at the first step
        (that point created as a copy of the parameter: finite, and what the state dict
        saves before a step writes it);
        and ``(i, k0)`` for each parameter whose moments were created after ``k0 > 0``
        steps (a param group added later, a parameter that had no gradient until then):
        their bias corrections count the steps since (``start``: the steps before this)."""
        adam = self.direction == "adam"
        fresh = self.secant == "fresh"
        ms, vs, prevs, late = [], [], [], []
        for i, p in enumerate(params):
            state = self.state[p]
            if "m" not in state:
                state["m"] = torch.zeros_like(p, memory_format=torch.preserve_format)
                if adam:
                    state["v"] = torch.zeros_like(p, memory_format=torch.preserve_format)
                if start > 0:
                    state["k0"] = start
            if "k0" in state:
                late.append((i, state["k0"]))
            ms.append(state["m"])
            if adam:
                vs.append(state["v"])
            if fresh:
                if "prev" not in state:  # the point each step leaves (for the probe, the undo)
                    state["prev"] = p.detach().clone(memory_format=torch.preserve_format)
                prevs.append(state["prev"])
        return ms, vs, prevs, late

    def _moments(
        self,
        ms: list[torch.Tensor],
        vs: list[torch.Tensor],
        grads: list[torch.Tensor],
        k: int,
        late: list[tuple[int, int]],
    ) -> tuple[list[torch.Tensor], Any, float]:
        """The moments updated with this batch's gradient, and the direction they give:
        ``(d, den, scale)`` with the step along ``-scale d`` (``den``: Adam's denominator,
        ``None`` for momentum; the bias corrections folded into ``scale`` and ``den``, and
        for the moments ``late`` of :meth:`_buffers`, with their own count, into ``d``)."""
        b1, b2 = self.betas
        try:
            torch._foreach_lerp_(ms, grads, 1.0 - b1)
        except (NotImplementedError, RuntimeError):
            _refuse_sparse(grads, "StochasticLFSO")
            raise
        den: Any = None
        if self.direction == "adam":  # d = -scale * m / den
            decay, correction, eps = self._factors(vs, math.sqrt(1.0 - b2**k))
            torch._foreach_mul_(vs, decay)
            torch._foreach_addcmul_(vs, grads, grads, value=1.0 - b2)
            den = torch._foreach_sqrt(vs)
            torch._foreach_div_(den, correction)
            torch._foreach_add_(den, eps)
            ds = list(torch._foreach_div(ms, den))
        else:
            ds = ms
        if late:  # each as a fresh Adam's: bias-corrected with its own count k - k0
            ds, den = list(ds), None if den is None else list(den)
            for i, k0 in late:
                own = k - k0
                if den is not None:
                    den[i] = vs[i].sqrt().div_(math.sqrt(1.0 - b2**own)).add_(self.eps)
                    ds[i] = ms[i] / den[i]
                ds[i] = ds[i] * ((1.0 - b1**k) / (1.0 - b1**own))
        return ds, den, 1.0 / (1.0 - b1**k)

    def _factors(self, like: list[torch.Tensor], correction: float) -> tuple[Any, Any, Any]:
        """``(beta2, correction, eps)``, the factors of the second moment's decay and of
        Adam's bias correction and the term added to its denominator, as the foreach calls
        take them: on the CPU, where the tensors ``like`` share one dtype, 0-d tensors of
        that dtype (kept; ``correction`` refilled at each step; ``eps`` one per tensor, as
        the foreach addition takes a list of tensors), which PyTorch's foreach calls there
        apply in fewer calls than a Python number (a multiplication or division by a number
        costs a call per tensor); elsewhere the numbers. The same values either way: the
        number is rounded to the tensors' dtype before it is applied (PyTorch casts a
        scalar operand to the tensor's computation type)."""
        first = like[0]
        dtype = first.dtype
        if not _TENSOR_FACTORS or first.device.type != "cpu" or any(t.dtype != dtype for t in like):
            return self.betas[1], correction, self.eps
        held = self._held.get(dtype)
        if held is None:
            held = self._held[dtype] = (
                torch.tensor(self.betas[1], dtype=dtype),
                torch.tensor(correction, dtype=dtype),
                torch.tensor(self.eps, dtype=dtype),
            )
        held[1].fill_(correction)
        return held[0], held[1], [held[2]] * len(like)

    def _statistics(
        self, rows: list[torch.Tensor], n_rows: int, scalars: list[torch.Tensor]
    ) -> tuple[list[float], torch.Tensor, torch.Tensor]:
        """Every dot product of ``g``, ``d`` (and ``d_prev``) and the losses, averaged over
        the ranks in one host round trip: ``(stats, flat, d)``, ``stats`` the Gram matrix
        row by row then the losses, ``flat`` the vectors as float64 rows."""
        both = torch.cat(rows)
        n = both.shape[0] // n_rows
        d_row = both.narrow(0, n, n)
        flat = both.double().view(n_rows, n)
        gram = flat @ flat.T  # every dot product in one call
        if gram.device.type == "cpu" and self._ranks() <= 1:  # no round trip to save
            return gram.view(-1).tolist() + [x.item() for x in scalars], flat, d_row
        # Every scalar that sizes the step, averaged over the ranks (data-parallel training).
        values = torch.cat([gram.view(-1), *(x.reshape(1) for x in scalars)])
        return self._synced(values).tolist(), flat, d_row

    def _restart(
        self,
        ms: list[torch.Tensor],
        vs: list[torch.Tensor],
        g_state: dict[str, Any],
        f0: float,
        gg: float,
        overflow: torch.dtype | None = None,
    ) -> None:
        """A batch with a non-finite loss or gradient (or one whose finite gradient's squares
        overflow ``overflow``, see :meth:`_warn_skipped`): the moments restart, the last
        step is undone (with a tenth of the step size) or the batch skipped, and a warning
        says which."""
        for m, v in zip(ms, vs or ms, strict=True):  # the averages saw it: restart them
            m.zero_()
            v.zero_()
        g_state["k"] = 0
        for state in self.state.values():  # (every count starts again)
            state.pop("k0", None)
        undone = self._undo is not None
        if self._undo is not None:  # the last step led here: undo it
            torch._foreach_copy_(*self._undo)
            g_state["step_size"] /= 10.0
            self.rollbacks += 1
        else:
            self.skipped += 1
        self._undo = None
        self._warn_skipped(f0, gg, undone, overflow=overflow)

    def _squares_overflow(self, gg: float, flat: torch.Tensor) -> torch.dtype | None:
        """float64 where the gradient's squared norm ``gg`` overflows it while every entry
        is finite on every rank (a read, for a batch that is skipped only), else None."""
        if math.isfinite(gg) or gg != gg:
            return None
        finite = torch.isfinite(flat[0]).all().to(torch.float64).reshape(1)
        return torch.float64 if float(self._synced(finite)) == 1.0 else None

    def _preconditioned(
        self, grads: list[torch.Tensor], den: Any, flat_g: torch.Tensor
    ) -> tuple[list[torch.Tensor], torch.Tensor, float, float] | None:
        """The preconditioned gradient as the direction, where the average disagrees with
        this batch: ``(d, d flat, g . (-d), ||d||^2)``, or ``None`` for a zero gradient."""
        ds = list(torch._foreach_div(grads, den)) if self.direction == "adam" else grads
        both = torch.cat([t.reshape(-1) for t in ds])
        flat_d = both.double()
        pair = self._synced(torch.stack([flat_g @ flat_d, -(flat_d @ flat_d)]))
        gd, dd = (-v for v in pair.tolist())
        if not (gd < 0.0 and dd > 0.0):
            return None
        return ds, both, gd, dd

    def _spare(self, params: list[torch.Tensor]) -> list[torch.Tensor]:
        """A scratch buffer per parameter for the probe (kept, but not in ``state_dict()``)."""
        spare = self._spares
        for p in params:
            if p not in spare or spare[p].shape != p.shape:
                spare[p] = torch.empty_like(p, memory_format=torch.preserve_format)
        return [spare[p] for p in params]

    def _measure(
        self,
        s: float,
        f0: float,
        probed: tuple[float, float, float],
        g_state: dict[str, Any],
        eps: float = 0.0,
    ) -> float:
        """``secant="fresh"``: the curvature of this batch along the *previous* step
        (``eps``: the losses' relative rounding, their dtype's machine epsilon)."""
        f_prev, slope, sq = probed
        if not (math.isfinite(f_prev) and sq > 0.0):
            return s
        curvature = 2.0 * (f_prev - f0 + slope) / sq
        c = curvature * sq  # phi''(u) along u -> x_prev + u (x - x_prev)
        ramp = g_state.get("ramp", True)
        # On the ramp, a c within the two losses' rounding (a bfloat16 loss: 3 digits) is
        # not a measured curvature: the ramp goes on, as for c <= 0.
        if c > (eps * (abs(f_prev) + abs(f0)) if ramp else 0.0):  # the line minimiser
            u = 1.0 - slope / c
            star = u * g_state["t_prev"] if u > 0.0 else 0.0
        else:
            star = math.inf
        self.last_curvature = curvature
        # The line minimiser is the ratio a / b of the batch's descent rate at p_{k-1} and its
        # curvature, per unit of the step's multiplier t_prev: s* = a / b.
        t_prev = g_state["t_prev"]
        a, b = (c - slope) / t_prev, c / (t_prev * t_prev)
        if ramp:  # from the first probe, s grows by `growth` per step
            g_state["ramp"] = star > self.growth * s  # until the minimiser is within reach
            g_state["restart"] = not g_state["ramp"]
            g_state["secant_a"], g_state["secant_b"] = a, b
            return min(max(star, s / self.shrink), self.growth * s)
        # Late in training the batches disagree: s* is <= 0 on a third of them and far above
        # s on most others, so an average of clipped ratios (or of their logarithms) drifts
        # down without end. The ratio of the averages does not: it is the line minimiser of
        # the averaged quadratic model.
        rho = self.smoothing
        a = rho * g_state.get("secant_a", a) + (1.0 - rho) * a
        b = rho * g_state.get("secant_b", b) + (1.0 - rho) * b
        g_state["secant_a"], g_state["secant_b"] = a, b
        target = a / b if b > 0.0 and a > 0.0 else 0.0 if b > 0.0 else math.inf
        down, up = self.shrink ** (1.0 - rho), self.growth ** (1.0 - rho)
        # A target below s moves it down no faster than one above moves it up, so a noisy
        # target (the averaged a dipping to 0 now and then) holds s near its median; the
        # faster rate waits for a sustained change: `patience` fresh batches in a row whose
        # own line minimiser is below s for the faster cut (the averages would carry one
        # outlier's dip for many), above it for the faster rise.
        below = g_state.get("below", 0) + 1 if star < s else 0
        above = g_state.get("above", 0) + 1 if star > s else 0
        g_state["below"], g_state["above"] = below, above
        if target >= s:
            return min(target, s * (down if above >= self.patience else up))
        return max(target, s / (down if below >= self.patience else up))

    def _fresh_step(
        self,
        params: list[torch.Tensor],
        ds: list[torch.Tensor],
        norms: tuple[float, float, float],
        d_row: torch.Tensor,
        sizes: tuple[float, float],
        prevs: list[torch.Tensor],
        kept: bool,
    ) -> None:
        """Step ``t = lr eta s`` along ``d``; keep the point left and the step for the probe."""
        scale, dd, dd_raw = norms
        s, lr = sizes
        g_state = self._global()
        eta = self.param_groups[0]["eta"]
        if not s == s:  # the first step: a probe of length 1e-3 (1 + ||p||)
            pnorm = float(torch.linalg.vector_norm(_flat(params)))
            s = 1e-3 * (1.0 + pnorm) / math.sqrt(dd) / eta
        t = lr * g_state.get("eta_now", eta) * s
        length = t * scale  # the step's squared length, for the window's displacement test
        g_state["window_sq"] = g_state.get("window_sq", 0.0) + length * length * dd_raw
        if not kept:  # (in place: p_{k-1} is no longer needed)
            torch._foreach_copy_(prevs, params)
        _add_step(params, ds, -t * scale)
        # The step was Delta = -t scale d: d flat, in the parameters' dtype (it round-trips
        # unchanged through state_dict(), which casts floating state to that dtype; a view
        # into the step's concatenation of g, d and d_prev, which state_dict() saves alone).
        g_state["d_prev"], g_state["dd_prev"], g_state["scale_prev"] = d_row, dd_raw, scale
        self._undo = (params, prevs)
        g_state["step_size"], g_state["t_prev"] = s, t
        self.last_step = t

    def _same(
        self,
        closure: Callable[..., Any],
        form: str,
        loss: torch.Tensor,
        params: list[torch.Tensor],
        ds: list[torch.Tensor],
        scales: tuple[float, float],
        stats: tuple[float, float, float],
        k: int,
        fell: bool,
    ) -> Any:
        """``secant="same"``: the curvature of this batch at this step's trial point (not
        measured on a step along the preconditioned gradient, ``fell``)."""
        f0, gd, dd = stats
        scale, lr = scales
        g_state = self._global()
        s, eta = g_state["step_size"], self.param_groups[0]["eta"]
        first = not s == s
        if first:  # a probe of length 1e-3 (1 + ||p||)
            pnorm = float(torch.linalg.vector_norm(_flat(params)))
            s = 1e-3 * (1.0 + pnorm) / math.sqrt(dd) / eta
        t = lr * g_state.get("eta_now", eta) * s
        g_state["window_sq"] = g_state.get("window_sq", 0.0) + t * t * dd  # (undone: below)
        backup = list(torch._foreach_mul(params, 1.0))  # exact: p + t d - t d need not be p
        _add_step(params, ds, -t * scale)  # p + t d
        self._undo = None
        if t == 0.0 or fell or (not first and k % self.probe_every):  # no probe: s is kept
            self._undo = (params, backup)
            self.last_step, self.last_curvature = t, math.nan
            return loss
        try:
            trial = self._trial(closure, form)
        except BaseException:  # (step puts the optimiser's state back)
            torch._foreach_copy_(params, backup)
            raise
        f1 = float(self._synced(trial.reshape(1).to(torch.float64, copy=True)))
        if not math.isfinite(f1):
            torch._foreach_copy_(params, backup)
            g_state["window_sq"] -= t * t * dd
            self.rollbacks += 1
            g_state["step_size"] = s / 10.0
            self.last_step, self.last_curvature = 0.0, math.inf
            return loss
        curvature = 2.0 * (f1 - f0 - t * gd) / (t * t * dd)
        star = -gd / (curvature * dd) if curvature > 0.0 else math.inf
        if first and math.isfinite(star):
            s = star
        star = min(max(star, s / self.shrink), self.growth * s)
        s = math.exp(self.smoothing * math.log(s) + (1.0 - self.smoothing) * math.log(star))
        g_state["step_size"] = s
        self.last_step, self.last_curvature = t, curvature
        return loss

    # The device path: every quantity that sizes the step in 0-d tensors on the parameters'
    # device, and no host round trip inside a step (module docstring, "The device path").

    def state_dict(self) -> dict[str, Any]:  # type: ignore[override]
        """As :meth:`torch.optim.Optimizer.state_dict`, with the run's counters
        (:attr:`steps`, :attr:`probes`, :attr:`rollbacks`, :attr:`skipped`) and
        :attr:`last_step`, :attr:`last_curvature` as numbers in the first parameter's state;
        on the device path, the step's scalars are first written back to the state as
        numbers (one host round trip), so that the state dict is the host path's, and loads
        on either path."""
        self._store()
        out = super().state_dict()
        run: dict[str, Any] = {}
        if _first_state(out)[1] is not None:  # can the last step be undone (from "prev")
            undoable = self._mirror.get("undoable") if self._dev is not None else self._undo
            # (secant="same" keeps its copy out of the state: a loaded run cannot undo it)
            run["undoable"] = bool(undoable) and self.secant == "fresh"
        run |= {
            "steps": self.steps,
            "probes": self.probes,
            "rollbacks": self._counts[0],
            "skipped": self._counts[1],
            "last_step": float(self.last_step),
            "last_curvature": float(self.last_curvature),
        }
        key, entry = _first_state(out)
        d_prev = None if entry is None else entry.get("d_prev")
        if entry is not None and isinstance(d_prev, torch.Tensor) and _is_part(d_prev):
            out = _with_state(out, key, {**entry, "d_prev": d_prev.clone()})  # (its own)
        # (steps that left no state, batches skipped: the counters alone)
        return _with_run(out, run, bare=bool(self.steps))

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:  # type: ignore[override]
        """As :meth:`torch.optim.Optimizer.load_state_dict` (the device path rebuilds its
        scalars from the loaded state at the next step). The last direction keeps its dtype:
        torch casts floating state to its parameter's, and the direction of parameters of
        several dtypes is in the widest of them, as the step measured it. The last step can
        be undone where it could when the state was saved (``secant="fresh"``: a batch that
        is not finite right after resuming undoes it, as it would have without the save).
        The run's counters and :attr:`last_step`, :attr:`last_curvature` go on from the
        saved ones; a state dict without them keeps the current ones.

        As torch's optimisers, the groups take the saved ``eta`` and ``lr``, and the options
        given for all parameters (``window``, ``betas``, ...) stay the constructor's (a
        group added later takes the loaded ``eta``, ``defaults["eta"]``); so
        does ``eta_max`` where it was given (a saved ``eta`` above it raises a
        ``ValueError``, before anything is loaded), and where it was not, it follows the
        loaded ``eta`` (``1.9 eta``, not above 1.9 unless ``eta`` is). A state dict that
        is not StochasticLFSO's (:class:`lfso.torch.LFSO`'s, torch.optim's) raises a
        ``ValueError`` naming what makes it another optimiser's, before anything is
        loaded, and so does one whose saved moments have another shape than the parameter
        they would be loaded into (saved for another model), that has no second moment
        for Adam's direction (saved with ``direction="momentum"``), that holds the last
        direction and not the point the last step left (``prev``), or whose saved counters,
        numbers or flags are malformed (naming the entry, its value and what it must be)."""
        _refuse_foreign(state_dict)
        _refuse_bad_entries(state_dict)
        _refuse_other_shapes(state_dict, self.param_groups)
        _refuse_missing_prev(state_dict)
        if self.direction == "adam":
            _refuse_momentum_state(state_dict)
        eta_max = self._loaded_eta_max(state_dict)
        self._settle()
        # (the first parameter's state holds them; d_prev kept out of torch's cast)
        state_dict, run = _split_run(state_dict, ("d_prev", "undoable", *_RUN))
        d_prev, undoable = run.pop("d_prev", None), bool(run.pop("undoable", False))
        super().load_state_dict(state_dict)
        self.defaults["eta"] = self.param_groups[0]["eta"]  # (a group added later takes it)
        self.eta_max = eta_max
        self._resume(run)
        first = self.param_groups[0]["params"][0]
        if isinstance(d_prev, torch.Tensor):
            self.state[first]["d_prev"] = d_prev.to(device=first.device)
        self._dev, self._pending, self._mirror = None, None, {}
        # The last step's undo, as before the save: its start is each parameter's "prev"
        # (secant="fresh"; the same-batch secant keeps its copy out of the state).
        # (those the last step moved: each one's "prev" is its start)
        which, everything = self.state[first].get("d_params"), self._params()
        moved = everything if which is None else [everything[i] for i in which]
        params = [p for p in moved if "prev" in self.state[p]]
        self._undo = None
        if undoable and self.secant == "fresh" and params:
            self._undo = (params, [self.state[p]["prev"] for p in params])

    def _loaded_eta_max(self, state_dict: Any) -> float:
        """``eta_max`` for the ``eta`` of a state dict's groups (checked: one number in
        (0, 2), at most a given ``eta_max``); the current one where they hold none."""
        groups = state_dict.get("param_groups") if isinstance(state_dict, dict) else None
        etas = [g["eta"] for g in groups or () if isinstance(g, dict) and "eta" in g]
        if not etas:
            return self.eta_max
        _check_reals(eta=etas[0])
        eta, given = etas[0], getattr(self, "_eta_max_given", self.eta_max)
        if any(e != eta for e in etas) or not 0.0 < eta < 2.0:
            raise ValueError(
                f"Invalid eta in the state dict's param_groups: {etas} (StochasticLFSO takes "
                "one eta in (0, 2) for all parameters)"
            )
        if given is None:
            return _default_eta_max(eta)
        if not eta <= given:
            raise ValueError(
                f"Invalid eta in the state dict's param_groups: {eta} (above this "
                f"optimiser's eta_max={given}; eta_max must be in [eta, 2): build it with "
                "eta_max=None, which follows eta, or one >= the saved eta)"
            )
        return float(given)

    def _resume(self, run: dict[str, Any]) -> None:
        """The counters and last values of a loaded state dict (those it holds)."""
        for name in ("steps", "probes"):
            if name in run:
                setattr(self, name, int(run[name]))
        for index, name in enumerate(("rollbacks", "skipped")):
            if name in run:
                self._counts[index] = int(run[name])
        for index, name in enumerate(("last_step", "last_curvature")):
            if name in run:
                self._last[index] = float(run[name])

    def _device_state(self, like: torch.Tensor, g_state: dict[str, Any]) -> dict[str, Any]:
        """The device path's 0-d tensors, built from the state at its first step (or after
        :meth:`load_state_dict`), with the host's mirror of what sizes the next probe."""
        if self._dev is not None:
            return self._dev

        def scalar(value: float) -> torch.Tensor:
            return torch.tensor(float(value), dtype=torch.float64, device=like.device)

        s = g_state["step_size"]
        self._dev = {
            "s": scalar(s),
            "prev": torch.tensor(  # t_prev, scale_prev, dd_prev, last_step
                [*(g_state.get(key, math.nan) for key in _DEVICE_PREV), self._last[0]],
                dtype=torch.float64,
                device=like.device,
            ),
            "ab": torch.tensor(  # the averaged a and b (NaN: none yet)
                [g_state.get("secant_a", math.nan), g_state.get("secant_b", math.nan)],
                dtype=torch.float64,
                device=like.device,
            ),
            "below": scalar(g_state.get("below", 0)),
            "above": scalar(g_state.get("above", 0)),
            "eta_now": scalar(g_state.get("eta_now", self.param_groups[0]["eta"])),
            "window_sq": scalar(g_state.get("window_sq", 0.0)),
            "window_s": scalar(g_state.get("window_s", math.inf)),
            "window_b": scalar(g_state.get("window_b", math.nan)),
            "ramp": torch.tensor(bool(g_state.get("ramp", True)), device=like.device),
            "no": torch.tensor(False, device=like.device),
            "last_curvature": scalar(self._last[1]),
            "zero": scalar(0.0),
            "one": scalar(1.0),
            "inf": scalar(math.inf),
        }
        self._mirror = {
            "k": g_state["k"],
            "ramp": bool(g_state.get("ramp", True)),
            "fell": bool(g_state.get("fell", False)),
            "started": s == s,
            "undoable": self._undo is not None,
        }
        if g_state.pop("restart", False):
            self._zero_moments()
        return self._dev

    def _zero_moments(self) -> None:
        buffers = [st[key] for st in self.state.values() for key in ("m", "v") if key in st]
        if buffers:
            torch._foreach_zero_(buffers)

    def _settle(self) -> None:
        """Read the flags the last device step copied to the host (waiting, on CUDA, for that
        step's kernels only: this step's forward and backward passes are queued behind
        them): the probe's mirror, the step count, the counters, the kept point, the
        averages' restart, and the :class:`SkippedBatchWarning` of a batch that was not
        finite (whose loss and gradient norm are then read from the device: one more read,
        only for such a batch)."""
        pending, self._pending = self._pending, None
        if pending is None:
            return
        step, undoable, k, params, stats, n_rows, flags, last = pending
        _, view, event = flags
        if event is not None:
            event.synchronize()
        ok, moved, fell = bool(view[0]), bool(view[1]), bool(view[2])
        mirror = self._mirror
        restart = False
        if len(view) > 4:  # a probed step: the ramp may have ended
            mirror["ramp"], restart = bool(view[4]), bool(view[5])
        if bool(view[3]) and not self._underflow_told:  # (rare: one read of the loss)
            self._warn_underflow(float(stats[n_rows * n_rows]), step)
        if ok:
            mirror["k"] = k
            if moved:  # the spare buffers hold the point it left: they become the kept point
                mirror["fell"], mirror["started"], mirror["undoable"] = fell, True, True
                for p in params:
                    state = self.state[p]
                    state["prev"], self._spares[p] = self._spares[p], state["prev"]
                self._undo = (params, [self.state[p]["prev"] for p in params])
        else:  # the batch is skipped: the averages restart (the step was undone, or none)
            mirror["k"], mirror["undoable"] = 0, False
            for state in self.state.values():  # (every count starts again)
                state.pop("k0", None)
            self._undo = None
            self._counts[0 if undoable else 1] += 1
            restart = True
        if not (ok and moved):  # the last direction stays (the host path's keeps it)
            g_state = self._global()
            g_state["d_prev"], g_state["d_params"] = last
            if last[0] is None:
                g_state.pop("d_prev")
        if not ok:
            gg, f0 = stats[:: n_rows * n_rows][:2].tolist()  # (rare: a batch not finite)
            lost = float(stats[-1]) > 0.0 and math.isfinite(gg) and math.isfinite(f0)
            overflow = self._params()[0].dtype if lost else None
            if math.isinf(gg) and math.isfinite(f0):  # (the first moments hold g: finite?)
                ms = [self.state[p]["m"] for p in params if "m" in self.state[p]]
                overflow = self._squares_overflow(gg, torch.cat([m.reshape(-1) for m in ms])[None])
        if restart:
            self._zero_moments()
        if not ok:
            self._warn_skipped(f0, gg, undoable, step, overflow)

    def _store(self) -> None:
        """Write the device path's scalars back to the state as numbers (a host round trip,
        where the user asks for the state)."""
        if self._dev is None:
            return
        self._settle()
        dev, g_state, mirror = self._dev, self._global(), self._mirror
        names = ("s", "below", "above", "eta_now", "window_sq", "window_s", "window_b")
        values = torch.cat([torch.stack([dev[key] for key in names]), dev["ab"], dev["prev"][:3]])
        s, below, above, eta_now, window_sq, window_s, window_b, a, b, *prev = values.tolist()
        g_state["eta_now"], g_state["window_sq"], g_state["window_s"] = eta_now, window_sq, window_s
        if window_b == window_b:
            g_state["window_b"] = window_b
        g_state["step_size"] = s
        for key, value in zip((*_DEVICE_PREV, "secant_a", "secant_b"), (*prev, a, b), strict=True):
            if value == value:
                g_state[key] = value
        g_state["below"], g_state["above"] = int(below), int(above)
        g_state["k"], g_state["ramp"], g_state["fell"] = mirror["k"], mirror["ramp"], mirror["fell"]
        g_state.pop("restart", None)

    def _device_step(
        self,
        closure: Callable[..., Any],
        form: str,
        loss: torch.Tensor,
        params: list[torch.Tensor],
        lr: float,
        which: list[int] | None = None,
    ) -> Any:
        """``secant="fresh"`` with every quantity that sizes the step in 0-d tensors on the
        parameters' device: the host path's rules, each branch a ``torch.where``, the step
        and its undo applied with foreach operations scaled by a 0-d tensor."""
        _one_dtype(params)
        grads = [_grad(p) for p in params]
        g_state = self._global()
        dev = self._device_state(params[0], g_state)
        self._settle()  # the last step's flags: this step's forward pass is already queued
        mirror = self._mirror
        k = mirror["k"] + 1
        ms, vs, prevs, late = self._buffers(params, k - 1)
        numels = [p.numel() for p in params]
        n = sum(numels)
        d_prev = g_state.get("d_prev")
        if d_prev is not None and (d_prev.shape[0] != n or g_state.get("d_params") != which):
            d_prev = None
        probe = (
            mirror["started"]
            and d_prev is not None
            and (k % self.probe_every == 0 or mirror["ramp"])
            and not mirror["fell"]
        )
        # p_k to the spare buffers, which become the kept point where the step moves (the
        # host swaps them in at the next step): the kept point stays until then, for an undo.
        spare = self._spare(params)
        torch._foreach_copy_(spare, params)
        scalars = [loss.reshape(1)]
        if probe:  # the batch's loss at p_{k-1}
            scalars.append(self._probe_loss(closure, form, params, prevs, spare).reshape(1))
        self._device_window(params, dev, g_state)  # (after the closure's last call)
        ds, den, scale = self._moments(ms, vs, grads, k, late)
        stats, n_rows, both, fallen = self._device_statistics(
            grads, ds, (den, vs), d_prev if probe else None, scalars
        )
        f0, dd_raw, dd_fb = stats[n_rows * n_rows], stats[n_rows + 1], stats[-2]
        gd, dd = stats[1] * -scale, dd_raw * (scale * scale)
        # (the last: 0 unless Adam's second moment overflowed on some rank, host path's test)
        ok = torch.isfinite(torch.stack([f0, gd, dd])).all() & (stats[-1] == 0.0)
        fell = gd >= 0.0  # (NaN: not ok, which decides alone)
        # It moves unless it fell along a zero gradient (-g . d_fb = 0 or ||d_fb|| = 0).
        moved = ok & (~fell | (torch.minimum(stats[-3], dd_fb) > 0.0))
        longer = dd > 0.0  # fallen: as long as the step it replaces, ||scale d||^2 = dd
        sc = torch.where(fell, torch.where(longer, torch.sqrt(dd / dd_fb), dev["one"]), scale)
        s, ramp, restart = dev["s"], dev["ramp"], dev["ramp"]
        if probe:
            s, ramp, restart = self._device_measure(dev, stats, n_rows, f0, moved, _eps(scalars))
        eta = self.param_groups[0]["eta"]
        if not mirror["started"]:  # the first step: a probe of length 1e-3 (1 + ||p||)
            pnorm = torch.linalg.vector_norm(_flat(params))
            dd = torch.where(fell & ~longer, dd_fb, dd)
            s = 1e-3 * (1.0 + pnorm) / torch.sqrt(dd) / eta
        t = s * (lr * dev["eta_now"])
        kept = dev["s"] if not mirror["undoable"] else torch.where(ok, dev["s"], dev["s"] / 10.0)
        dev["s"] = torch.where(moved, s, kept)
        last = torch.stack([t, sc, torch.where(fell, dd_fb, dd_raw), t])
        dev["prev"] = last = torch.where(moved, last, dev["prev"])
        length = last[0] * last[1]  # the step's squared length, where it moved
        step_sq = torch.where(moved, length * length * last[2], dev["zero"])
        dev["window_sq"] = dev["window_sq"] + step_sq
        # The direction taken, flat: the preconditioned gradient where it fell; the last
        # one where it did not move (finite, and multiplied by 0). Written into the one of
        # two kept buffers that does not hold d_prev, whose views the step reads.
        d_row, views, (factor, factors), (back, backs) = self._rows(params, d_prev)
        torch.where(fell, fallen, both[n : 2 * n], out=d_row)
        torch.where(moved, d_row, d_prev if d_prev is not None else dev["zero"], out=d_row)
        last_direction = (g_state.get("d_prev"), g_state.get("d_params"))
        g_state["d_prev"], g_state["d_params"] = d_row, which
        if mirror["undoable"]:  # where the batch is not finite: p_{k-1} back (lerp by 1)
            self._device_undo(ok, params, back, backs)
        # -t scale, or 0
        factor.copy_(torch.where(moved, -last[0] * last[1], dev["zero"]))
        _add_device_step(params, views, factor, factors)
        lost = _underflowed(ok, moved, both[:n])
        flags = [ok, moved, fell, lost, ramp, restart] if probe else [ok, moved, fell, lost]
        posted = self._post(torch.stack(flags))
        undoable = mirror["undoable"]
        self._pending = (self.steps, undoable, k, params, stats, n_rows, posted, last_direction)
        return loss

    def _device_undo(
        self, ok: torch.Tensor, params: list[torch.Tensor], back: torch.Tensor, backs: Any
    ) -> None:
        """The device path's undo of the last step where this batch is not finite (``ok``
        false): the parameters that step moved (which may not be this step's ``params``,
        whose weights ``backs`` view ``back``) back to their kept point, a lerp by 1."""
        torch.logical_not(ok, out=back)
        assert self._undo is not None  # (undoable: the last step moved)
        moved_last, kept = self._undo
        same = len(moved_last) == len(params) and all(map(operator.is_, moved_last, params))
        weights = backs if same else [back.to(p.dtype).expand_as(p) for p in moved_last]
        torch._foreach_lerp_(moved_last, kept, weights)

    def _device_window(
        self, params: list[torch.Tensor], dev: dict[str, Any], g_state: dict[str, Any]
    ) -> None:
        """:meth:`_window` on 0-d tensors (the count of the window's steps is the host's)."""
        n = g_state.get("window_n", 0)
        if n == 0:  # (the first window's start point; later ones are copied in below)
            self._anchors(params)
        elif n >= self.window:
            anchors = self._anchors(params)
            sq, s = dev["window_sq"], dev["s"]
            b = dev["ab"][1].clone()
            rho = self._displacement(params, anchors) * self._free / sq
            held = (s > dev["window_s"]) & ~(_FALL * b >= dev["window_b"])
            w = torch.where(held, dev["zero"], rho.clamp(max=1.0))
            eta = self.param_groups[0]["eta"]
            dev["eta_now"] = torch.where(
                sq > 0.0, eta + (self.eta_max - eta) * (w * w), dev["eta_now"]
            )
            torch._foreach_copy_(anchors, params)
            n, dev["window_sq"], dev["window_s"], dev["window_b"] = 0, dev["zero"], s, b
        g_state["window_n"] = n + 1

    def _device_statistics(
        self,
        grads: list[torch.Tensor],
        ds: list[torch.Tensor],
        moments: tuple[Any, list[torch.Tensor]],
        d_prev: torch.Tensor | None,
        scalars: list[torch.Tensor],
    ) -> tuple[torch.Tensor, int, torch.Tensor, torch.Tensor]:
        """Every dot product of g, d (and ``d_prev``, on a probed step) in one matrix
        product, as the host path takes them; those of the preconditioned gradient (the
        fallback's direction) on every step, as the host path takes them where it falls
        back (the host no longer learns in time whether it does); all of them and the
        losses averaged over the ranks in one all-reduce: ``(stats, n_rows, both,
        fallen)``, ``stats`` the Gram matrix row by row, the losses, ``g . d_fb`` and
        ``||d_fb||^2`` and whether Adam's second moment overflowed (``moments``: Adam's
        denominator and second moment); ``both`` the rows in the parameters' dtype,
        ``fallen`` ``d_fb``."""
        adam = self.direction == "adam"
        den, vs = moments
        rows = [t.reshape(-1) for t in grads + ds]
        if d_prev is not None:
            rows.append(d_prev)
        n_rows = 2 if d_prev is None else 3
        both = torch.cat(rows)
        n = both.shape[0] // n_rows
        flat = both.double().view(n_rows, n)
        if adam:
            fallen = torch.cat([t.reshape(-1) for t in torch._foreach_div(grads, den)])
            flat_fb = fallen.double()
        else:
            fallen, flat_fb = both[:n], flat[0]
        gg_fb = flat[0] @ flat_fb  # -g . d_fb, and ||d_fb||^2
        gram = flat @ flat.T
        lost = torch.zeros_like(gg_fb)
        if adam and vs:  # (the squared norm past _overflow_risk: no pass over v)
            lost = (gram[0, 0] > _overflow_risk(vs)).to(gg_fb.dtype)
        pair = torch.stack([gg_fb, flat_fb @ flat_fb if adam else gg_fb, lost])
        stats = self._synced(torch.cat([gram.view(-1), *scalars, pair]))
        return stats, n_rows, both, fallen

    def _rows(
        self, params: list[torch.Tensor], d_prev: torch.Tensor | None
    ) -> tuple[torch.Tensor, list[torch.Tensor], tuple[Any, Any], tuple[Any, Any]]:
        """The flat buffer for this step's direction (of two, the one not holding
        ``d_prev``), its views shaped as the parameters, and two 0-d tensors in their
        dtype with their expansions to each (the step's factor, the undo's weight): made
        once, for the device path."""
        key = [(p.shape, p.dtype, p.device) for p in params]
        if self._row_cache is None or self._row_cache[0] != key:
            like = params[0]
            n = sum(p.numel() for p in params)
            rows = []
            for _ in range(2):
                row = torch.zeros(n, dtype=like.dtype, device=like.device)
                numels = [p.numel() for p in params]
                views = [v.view(p.shape) for v, p in zip(row.split(numels), params, strict=True)]
                rows.append((row, views))
            scalars = []
            for _ in range(2):
                scalar = torch.zeros((), dtype=like.dtype, device=like.device)
                scalars.append((scalar, [scalar.expand_as(p) for p in params]))
            self._row_cache = (key, rows, *scalars)
        _, rows, factor, back = self._row_cache
        row, views = rows[1] if rows[0][0] is d_prev else rows[0]
        return row, views, factor, back

    def _device_measure(
        self,
        dev: dict[str, Any],
        stats: torch.Tensor,
        n_rows: int,
        f0: torch.Tensor,
        moved: torch.Tensor,
        eps: float,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """:meth:`_measure` on 0-d tensors: ``(s, ramp, restart)``, the averages, the count
        of batches below and above and the curvature updated in ``dev`` where it measured
        (``eps``: the losses' relative rounding)."""
        s, t_prev = dev["s"], dev["prev"][0]
        coef = -t_prev * dev["prev"][1]
        f_prev, slope = stats[n_rows * n_rows + 1], coef * stats[(n_rows - 1) * n_rows]
        sq = coef * coef * dev["prev"][2]
        measured = moved & torch.isfinite(f_prev) & (sq > 0.0)
        curvature = 2.0 * (f_prev - f0 + slope) / sq
        c = curvature * sq
        u = 1.0 - slope / c
        zero, inf = dev["zero"], dev["inf"]
        star = torch.where(c > 0.0, (u * t_prev).clamp_min(0.0), inf)  # (t_prev > 0)
        ab = torch.stack([(c - slope) / t_prev, c / (t_prev * t_prev)])  # a, b
        dev["last_curvature"] = torch.where(measured, curvature, dev["last_curvature"])
        if self._mirror["ramp"]:  # (a c within the losses' rounding: as c <= 0, _measure)
            star = torch.where(c > eps * (f_prev.abs() + f0.abs()), star, inf)
            ramp = torch.where(measured, star > self.growth * s, dev["ramp"])
            target = torch.clamp(star, s / self.shrink, self.growth * s)
            restart = measured & ~ramp
        else:
            rho, old = self.smoothing, dev["ab"]
            ab = rho * torch.where(torch.isnan(old), ab, old) + (1.0 - rho) * ab
            a, b = ab[0], ab[1]
            ratio = torch.where(b > 0.0, (a / b).clamp_min(0.0), inf)
            below = torch.where(star < s, dev["below"] + 1.0, zero)
            above = torch.where(star > s, dev["above"] + 1.0, zero)
            dev["below"] = torch.where(measured, below, dev["below"])
            dev["above"] = torch.where(measured, above, dev["above"])
            down, up = self.shrink ** (1.0 - rho), self.growth ** (1.0 - rho)
            # Above s: min(ratio, s rise); below: max(ratio, s / cut); as s / cut < s <
            # s rise, one clamp.
            cut = torch.where(below >= self.patience, s / down, s / up)  # (float64, as s)
            rise = torch.where(above >= self.patience, s * down, s * up)
            target = torch.clamp(ratio, cut, rise)
            ramp, restart = dev["ramp"], dev["no"]
        dev["ramp"] = ramp
        dev["ab"] = torch.where(measured, ab, dev["ab"])
        return torch.where(measured, target, s), ramp, restart

    def _post(self, flags: torch.Tensor) -> tuple[torch.Tensor, Any, Any]:
        """Copy this step's flags to the host without waiting (on CUDA: to pinned memory,
        with an event that the next step's :meth:`_settle` waits on; on other devices the
        copy waits, as nothing would say when it landed): ``(host copy, its NumPy view,
        the event)``, one per number of flags, reused."""
        slot = self._flags.get(flags.shape[0])
        if slot is None:
            cuda = flags.device.type == "cuda"
            host = torch.empty(flags.shape, dtype=flags.dtype, pin_memory=cuda)
            slot = self._flags[flags.shape[0]] = (
                host,
                host.numpy(),
                torch.cuda.Event() if cuda else None,
            )
        host, _, event = slot
        host.copy_(flags, non_blocking=event is not None)  # (elsewhere: read at once)
        if event is not None:
            event.record()
        return slot


#: Step 4's gate: a window over which ``s`` rose holds the next at ``eta`` where the
#: averaged curvature ``b`` fell over it by more than this factor (or was not measured).
_FALL = 10.0

#: What :meth:`StochasticLFSO.state_dict` saves of the run besides its state: the counters,
#: the last step's ``t`` and the last secant curvature.
_RUN = ("steps", "probes", "rollbacks", "skipped", "last_step", "last_curvature")

#: The last step's multiplier ``t``, scale and ``||d||^2`` (of the unscaled direction), as
#: the state holds them; the device path keeps them in one vector, with ``last_step``.
_DEVICE_PREV = ("t_prev", "scale_prev", "dd_prev")

#: A parameter's saved state entries that are counters, numbers and flags.
_COUNTERS = ("k", "k0", "window_n", "below", "above", "steps", "probes", "rollbacks", "skipped")
_NUMBERS = (
    *("step_size", "eta_now", "window_sq", "window_s", "window_b", "secant_a", "secant_b"),
    *(*_DEVICE_PREV, "last_step", "last_curvature"),
)
_FLAGS = ("ramp", "fell", "restart", "undoable")

#: A parameter's state entries of the parameter's own shape (its moments, the point its last
#: step left and the window's start).
_SHAPED = ("m", "v", "prev", "anchor")

#: Everything a parameter's state can hold in :meth:`StochasticLFSO.state_dict` (the moments,
#: the kept point and the window's start; the first parameter's: the run's scalars, the last
#: direction and the counters): a state dict whose states hold anything else is another
#: optimiser's.
_STATE_KEYS = frozenset(
    {"m", "v", "prev", "anchor", "k", "k0", "step_size", "eta_now", "ramp", "fell", "restart"}
    | {"window_n", "window_sq", "window_s", "window_b", "secant_a", "secant_b", "below"}
    | {"above", "d_prev", "d_params", "undoable", *_DEVICE_PREV, *_RUN}
)
