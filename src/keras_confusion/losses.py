"""Losses built from soft confusion counts.

A loss here is a formula of `keras_confusion.formulas` applied to the soft (expected)
confusion matrix of the batch, ``C[i, j] = sum_n w_n * y[n, i] * p[n, j]``: ``1 - value``
for a score (specificity, F-beta, MCC, ...), the value itself for a cost
(`formulas.expected_cost`). Hard counts have no gradient; soft counts do, and equal the
hard ones when the probabilities are exactly 0 or 1.

Three things set these losses apart from Keras' per-sample losses:

* The value is one number for the whole batch, not a mean of per-sample values, so
  ``sample_weight`` is folded into the counts (a weight of 2 counts a row twice, a
  weight of 0 drops it), and large batches give steadier gradients.
* ``smoothing`` adds a pseudo-count to every cell of the matrix before the formula, so
  every ratio has a positive denominator and gradients stay finite on a batch with no
  positives, no negatives or a single sample.
* Counting runs in float32 at least, whatever the dtype policy (``mixed_float16``
  counts overflow at 65,504).

`WeightedCrossentropy` is the exception: an ordinary per-sample loss with one weight
per class, which also works for multilabel and per-pixel outputs where
``fit(class_weight=...)`` does not.
"""

from __future__ import annotations

import dataclasses

import keras
import numpy as np
from keras import ops

from keras_confusion import _backend, counts, formulas
from keras_confusion._validation import (
    arg_error,
    check_cost_matrix,
    check_non_negative,
    check_positive,
    check_probability,
    check_task_args,
    warn,
)

__all__ = [
    "BalancedAccuracyLoss",
    "ConfusionLoss",
    "CostLoss",
    "FBetaLoss",
    "MCCLoss",
    "PrecisionLoss",
    "SensitivityLoss",
    "SpecificityLoss",
    "TverskyLoss",
    "WeightedCrossentropy",
    "confusion_loss",
]

_register = keras.saving.register_keras_serializable(package="keras_confusion")

# Classes whose trivial-optimum warning was already given in this process.
_WARNED: set[str] = set()

# Rates whose optimum alone is trivial: what minimises ``1 - rate``, and the named loss
# that offers the constrained form.
_TRIVIAL = {
    "specificity": ("predicting every sample negative", "SpecificityLoss(min_sensitivity=...)"),
    "sensitivity": ("predicting every sample positive", "SensitivityLoss(min_specificity=...)"),
    "recall": ("predicting every sample positive", "SensitivityLoss(min_specificity=...)"),
    "precision": ("predicting positive only the few surest samples",
                  "PrecisionLoss(min_recall=...)"),
    "npv": ("predicting negative only the few surest samples",
            'constraint=("specificity", ...)'),
}

_AVERAGES = ("auto", "binary", "macro", "micro", "weighted")


def _serialize_formula(fn):
    name = formulas.name_of(fn)
    if formulas.BY_NAME.get(name) is fn:
        return name
    return keras.saving.serialize_keras_object(fn)


def _deserialize_formula(value):
    if isinstance(value, dict):
        return keras.saving.deserialize_keras_object(value)
    return value


def _is_per_class(fn) -> bool:
    """Whether ``fn`` is one of the library's per-class formulas (takes ``average``)."""
    name = formulas.name_of(fn)
    return name in formulas.PER_CLASS and formulas.BY_NAME.get(name) is fn


def _plain(value):
    """A JSON-friendly copy of a formula argument (cost matrices become lists)."""
    return value.tolist() if isinstance(value, np.ndarray) else value


def _nan_where_invalid(fmt, from_logits: bool):
    """``fmt`` with every score that is no probability in [0, 1] (with ``from_logits``:
    no finite logit), and the scores of every sample whose label is no label, made
    NaN, so that the loss is NaN (`_batch_loss`'s NaN rule) where a compiled step
    cannot raise. A probability of 1.5 was a soft count of 1.5; the constrained losses
    clipped inf and 1.5 to 1 - eps: a model whose outputs overflowed trained on with a
    finite loss, unseen by ``TerminateOnNaN``. A multiclass label of 5 of 3 classes was
    a row of zeros (JAX, TensorFlow) or a RuntimeError (torch). A negative or infinite
    sample weight is made NaN too: -1 was a negative mass (a ``1 - F1`` of 2.2)."""
    y, valid = _valid_inputs(fmt, from_logits)
    return dataclasses.replace(fmt, y_true=y, y_pred=ops.where(valid, fmt.y_pred, np.nan),
                               sample_weight=_nan_where_invalid_weight(fmt.sample_weight))


def _nan_where_invalid_weight(w):
    """``w`` with every weight that is not finite and >= 0 made NaN (None stays None)."""
    if w is None:
        return None
    return ops.where(ops.isfinite(w) & (w >= 0), w, np.nan)


def _valid_inputs(fmt, from_logits: bool):
    """``(y_true, valid)``: the labels, a sparse multiclass one that is no class made 0
    (in range for a one-hot encoding), and, shaped as the scores, where the score is a
    probability in [0, 1] (a finite logit) and its sample's label a label."""
    x, y = fmt.y_pred, fmt.y_true
    valid = ops.isfinite(x) if from_logits else (x >= 0.0) & (x <= 1.0)
    if fmt.task == "multiclass" and not fmt.one_hot:
        label = ops.cast(y, "float32")
        known = (label >= 0) & (label < fmt.num_classes) & (label == ops.floor(label))
        y = ops.where(known, y, ops.zeros_like(y))  # in range for the one-hot encoding
        valid = valid & ops.expand_dims(known, -1)
    elif fmt.task == "multiclass":  # one-hot (or a distribution) over the classes
        label = ops.cast(y, x.dtype)
        valid = valid & ops.expand_dims(ops.all((label >= 0) & (label <= 1), axis=-1), -1)
    else:  # binary or multilabel: 0, 1 or a soft label between
        label = ops.cast(y, x.dtype)
        valid = valid & (label >= 0) & (label <= 1)
    return y, valid


def _sharpened(fmt, from_logits: bool, sharpness: float):
    """``fmt`` with its scores turned into logits multiplied by ``sharpness``.

    ``sigmoid(s * logit)`` (``softmax(s * logits)`` for multiclass) is closer to the
    hard decision at 0.5 (at the argmax) than the probability itself, so a rate
    computed from it is close to the rate at 0.5 while keeping a gradient.
    """
    x = ops.cast(fmt.y_pred, counts.float_dtype(fmt.y_pred))
    if not from_logits:
        # Probabilities to logits; clipping keeps log() finite at exactly 0 and 1.
        eps = keras.config.epsilon()
        p = ops.clip(x, eps, 1.0 - eps)
        x = ops.log(p) if fmt.task == "multiclass" else ops.log(p) - ops.log1p(-p)
    return counts.Formatted(fmt.task, fmt.num_classes, fmt.num_labels, fmt.y_true,
                             x * sharpness, fmt.sample_weight, fmt.one_hot)


# ------------------------------------------------------ the loss of a batch, a function


def _check_loss_args(formula, *, num_classes=None, multilabel=False, from_logits=False,
                     average="auto", smoothing=1.0, constraint=None, penalty=2.0,
                     sharpness=1.0, owner="ConfusionLoss", **formula_kwargs) -> dict:
    """The keyword arguments of `_batch_loss`, checked and normalised.

    The one check of `ConfusionLoss` (once, when it is built) and of `confusion_loss`
    (at each call). A bad argument raises ``ValueError`` naming it (``owner`` names
    who took it); the formula and the constraint are tried on a dummy matrix, so that
    a bad formula argument fails here, not in the first training step.
    """
    formula = formulas.get(_deserialize_formula(formula))
    task = check_task_args(num_classes=num_classes, multilabel=multilabel,
                           from_logits=from_logits)
    if average not in _AVERAGES:
        raise arg_error("average", average,
                        'one of "auto", "binary", "macro", "micro", "weighted"')
    smoothing = check_non_negative("smoothing", smoothing)
    if "reduction" in formula_kwargs:
        raise arg_error("reduction", formula_kwargs["reduction"],
                        "not given: a confusion loss is one value per batch (a formula "
                        "of the batch's counts), so there is nothing to reduce")
    formulas.check_kwargs(formula, formula_kwargs, given_by=("average", "multilabel"),
                          owner=owner)
    formula_kwargs = {k: _plain(v) for k, v in formula_kwargs.items()}
    penalty = check_non_negative("penalty", penalty)
    sharpness = check_positive("sharpness", sharpness)
    if constraint is not None:
        if not (isinstance(constraint, (tuple, list)) and len(constraint) == 2):
            raise arg_error("constraint", constraint,
                            'None or a pair (formula, minimum) such as ("sensitivity", 0.9)')
        c_fn = formulas.get(_deserialize_formula(constraint[0]))
        constraint = (c_fn, check_probability("constraint", constraint[1]))
    if average != "auto" and not _is_per_class(formula):
        raise arg_error("average", average,
                        f'"auto" for formula {formulas.name_of(formula)!r}, '
                        "which is not averaged over classes")
    averaging = (average, task["num_classes"], task["multilabel"])
    dummy = np.ones((3, 2, 2) if task["multilabel"] else (task["num_classes"] or 2,) * 2)
    formula(dummy, **_formula_kwargs(formula, formula_kwargs, *averaging))
    if constraint is not None:
        constraint[0](dummy, **_formula_kwargs(constraint[0], {}, *averaging))
    return {"formula": formula, "formula_kwargs": formula_kwargs, **task, "average": average,
            "smoothing": smoothing, "constraint": constraint, "penalty": penalty,
            "sharpness": sharpness}


def _formula_kwargs(fn, extra, average, num_classes, multilabel) -> dict:
    """The keyword arguments ``fn`` gets: ``average`` (``"auto"`` resolved for the
    task) and ``multilabel`` go to the library's per-class formulas only."""
    if not _is_per_class(fn):
        return dict(extra)
    if average == "auto":
        binary = not multilabel and num_classes in (None, 2)
        average = "binary" if binary else "macro"
    return {"average": average, "multilabel": multilabel, **extra}


def _score(fn, cm, kwargs):
    """``fn(cm, **kwargs)`` as a scalar tensor of ``cm``'s dtype: the mean over the
    labels of a multilabel stack."""
    value = ops.convert_to_tensor(fn(cm, **kwargs), dtype=cm.dtype)
    if len(value.shape):
        value = ops.mean(value)  # one value per label of a multilabel stack
    return value


def _loss_of_counts(cm, formula, kwargs, smoothing):
    """``1 - formula`` of the smoothed counts for a score, the formula itself for a cost."""
    value = _score(formula, cm + smoothing, kwargs)
    return 1.0 - value if formulas.greater_is_better(formula) else value


def _batch_loss(y_true, y_pred, sample_weight=None, mask=None, *, formula, formula_kwargs,
                num_classes, multilabel, from_logits, average, smoothing, constraint,
                penalty, sharpness, check_values=True):
    """The loss of one batch, from arguments `_check_loss_args` checked.

    format -> check values -> soft counts -> replica sum -> formula -> penalty -> NaN
    rule. ``sample_weight`` and ``mask`` (a Keras mask, True where a sample counts) are
    folded into the counts; with ``check_values`` the values are checked when they are
    eager (`counts.validate_values`).
    """
    fmt = counts.format_inputs(y_true, y_pred, num_classes, multilabel, sample_weight,
                               mask, hard=False)
    if check_values:
        counts.validate_values(fmt, from_logits=from_logits, soft=True, allow_nan=True)
    fmt = _nan_where_invalid(fmt, from_logits)
    if sharpness != 1.0:
        cm = counts.soft_counts(_sharpened(fmt, from_logits, sharpness), True)
    else:
        cm = counts.soft_counts(fmt, from_logits)
    # Data parallel: every replica applies the formula to the global batch's counts.
    cm = _backend.replica_sum(cm)
    averaging = (average, num_classes, multilabel)
    loss = _loss_of_counts(cm, formula, _formula_kwargs(formula, formula_kwargs, *averaging),
                           smoothing)
    if constraint is not None:
        c_fn, minimum = constraint
        value = _score(c_fn, cm + smoothing, _formula_kwargs(c_fn, {}, *averaging))
        loss = loss + penalty * ops.relu(minimum - value)
    # A NaN anywhere in the batch is the loss, as in Keras' losses (and so
    # TerminateOnNaN sees it): the formulas' zero_division took NaN counts for empty
    # ones (FBeta read 1.0, Cost 0.0, its best value).
    total = ops.sum(cm)
    loss = ops.where(ops.isnan(total), ops.cast(total, loss.dtype), loss)
    return _backend.replica_loss_share(loss)


def _warn_trivial(call: str, formula) -> None:
    """Warn once per process when ``formula`` alone, a rate of `_TRIVIAL`, has a
    trivial optimum; ``call`` shows how it was asked for. Called from `ConfusionLoss`
    and `confusion_loss`, the warning points at their caller's line."""
    name = formulas.name_of(formula)
    if name not in _TRIVIAL or f"ConfusionLoss:{name}" in _WARNED:
        return
    _WARNED.add(f"ConfusionLoss:{name}")
    trivial, named = _TRIVIAL[name]
    warn(f"{call.format(name=repr(name))} alone is minimised by {trivial}. Pass a "
         f"constraint (e.g. constraint=(\"sensitivity\", 0.9)), or use {named}.",
         stacklevel=4)


@_register
class ConfusionLoss(keras.losses.Loss):
    """Any confusion-matrix formula as a loss, over the soft counts of the batch.

    The loss is ``1 - formula(C)`` for a score (``formulas.greater_is_better``) and
    ``formula(C)`` for a cost, where ``C`` is the soft confusion matrix of the batch
    plus ``smoothing`` in every cell. Per-class formulas are averaged (``average``);
    a multilabel stack gives one value per label, and the loss is their mean.

    Sharpness: with ``sharpness=s`` the counts are made of ``sigmoid(s * logit)``
    (``softmax(s * logits)`` for multiclass) instead of the probabilities. ``s = 1`` gives
    the exact expected counts; a larger ``s`` brings the soft counts closer to the hard
    counts at the 0.5 threshold (at the argmax) while keeping a gradient, so that a
    rate of 0.9 in the loss means a rate near 0.9 at 0.5.

    Constraint (optional): ``constraint=("sensitivity", 0.9)`` adds
    ``penalty * max(0, 0.9 - sensitivity(C))``: a penalty with a fixed multiplier,
    the Lagrangian of Eban et al. (2017), "Scalable Learning of Non-Decomposable
    Objectives", with its multiplier held constant rather than learned (the loss keeps
    no state, so it stays a plain, serializable function of the batch). On the exact
    soft counts (``sharpness=1``) a soft sensitivity of 0.9 needs most positives far
    above 0.5 and overshoots the target at 0.5, at a high cost in specificity; the
    named constrained losses therefore default to ``penalty=2`` and ``sharpness=4``.

    A fixed multiplier holds the floor only where it exceeds the trade-off at the
    floor: how much of the objective one unit of the constrained rate costs there (the
    Lagrange multiplier, the slope of the ROC curve for specificity against
    sensitivity). Well-separated classes need little; overlapping ones need more. On
    one feature with 5 % positives, positives drawn from N(1, 1) and negatives from
    N(0, 1) (slope about 2.2 at sensitivity 0.9), ``SpecificityLoss(min_sensitivity=0.9)``
    trained to a sensitivity at 0.5 of 0.85 on its own training data with ``penalty=2``
    and of 0.94 with ``penalty=10`` (tests/test_training_losses.py). Raise ``penalty``
    when the floor is missed, or hold it exactly with the threshold: `tune_threshold`
    or `callbacks.ThresholdTuner` with ``constraint=("recall", 0.9)`` on validation
    data.

    Masks: samples that a Keras mask on ``y_pred`` marks out (padded steps behind a
    ``Masking`` layer) are left out of the counts, whatever their labels.

    Args:
        formula: a name from `keras_confusion.formulas` (``"f1"``, ``"mcc"``,
            ``"expected_cost"``, ...) or a callable from a ``(..., K, K)`` matrix to a
            value (``(...)``); a callable may set ``greater_is_better = False``.
        num_classes: ``K`` for a multiclass task (softmax outputs, sparse or one-hot
            labels). Defaults to `None` (binary, one sigmoid output).
        multilabel: one ``(2, 2)`` matrix per label of an ``(N, L)`` output.
            Defaults to `False`.
        from_logits: whether ``y_pred`` holds logits. Defaults to `False`.
        average: for per-class formulas: ``"binary"``, ``"macro"``, ``"micro"`` or
            ``"weighted"``; ``"auto"`` is ``"binary"`` for a binary task and
            ``"macro"`` otherwise. Defaults to `"auto"`.
        smoothing: pseudo-count added to every cell of the matrix. Defaults to `1.0`.
        constraint: `None`, or ``(formula, minimum)``: a formula that should stay at
            or above ``minimum`` (e.g. ``("sensitivity", 0.9)``). Defaults to `None`.
        penalty: multiplier of the constraint's shortfall. Defaults to `2.0`.
        sharpness: factor on the logits before counting. Defaults to `1.0`.
        name: name of the loss. Defaults to `None` (from the class name).
        dtype: dtype of the returned loss. Defaults to `None` (``floatx``).
        **formula_kwargs: passed to the formula (``beta``, ``cost_matrix``,
            ``zero_division``, ...).

    Example:

    >>> loss = ConfusionLoss("f1")
    >>> y_true, y_pred = np.array([0.0, 1.0, 1.0]), np.array([0.0, 1.0, 1.0])
    >>> float(loss(y_true, y_pred))  # smoothing 1: [[2, 1], [1, 3]], F1 = 6 / 8
    0.25
    """

    def __init__(
        self,
        formula,
        *,
        num_classes=None,
        multilabel=False,
        from_logits=False,
        average="auto",
        smoothing=1.0,
        constraint=None,
        penalty=2.0,
        sharpness=1.0,
        name=None,
        dtype=None,
        **formula_kwargs,
    ):
        super().__init__(name=name, reduction="none", dtype=dtype)
        self._values_checked = False
        # Checked once and bound to every call, as Keras' LossFunctionWrapper binds its
        # function's keyword arguments; the attributes are what get_config lists.
        self._fn_kwargs = _check_loss_args(
            formula, num_classes=num_classes, multilabel=multilabel,
            from_logits=from_logits, average=average, smoothing=smoothing,
            constraint=constraint, penalty=penalty, sharpness=sharpness,
            owner=type(self).__name__, **formula_kwargs)
        for key, value in self._fn_kwargs.items():
            setattr(self, key, value)
        if constraint is None and type(self) is ConfusionLoss:
            _warn_trivial("ConfusionLoss({name})", self.formula)

    def __call__(self, y_true, y_pred, sample_weight=None):
        # Keras' Loss.__call__ would multiply what `call` returns by ``sample_weight``; a
        # loss of the batch's counts folds the weights (and the Keras mask) into them.
        with keras.name_scope(self.name):
            return ops.cast(self._bound_loss(y_true, y_pred, sample_weight), self.dtype)

    def call(self, y_true, y_pred):
        """The loss of one batch without weights (Keras' `Loss.call`)."""
        return self._bound_loss(y_true, y_pred, None)

    def _bound_loss(self, y_true, y_pred, sample_weight):
        # Values are checked on the first eager call only: that catches set-up mistakes
        # (logits without from_logits, labels outside the classes) without a host copy at
        # every step of an eager (torch) fit; compiled steps cannot check values at all,
        # and a loss that comes out symbolic had symbolic inputs, left unchecked.
        check = not self._values_checked
        loss = _batch_loss(y_true, y_pred, sample_weight, _backend.keras_mask(y_pred),
                           check_values=check, **self._fn_kwargs)
        if check:
            self._values_checked = not _backend.is_symbolic(loss)
        return loss

    def call_on_counts(self, cm):
        """The loss of a soft confusion matrix ``cm`` (before ``smoothing``)."""
        kwargs = _formula_kwargs(self.formula, self.formula_kwargs, self.average,
                                 self.num_classes, self.multilabel)
        return _loss_of_counts(cm, self.formula, kwargs, self.smoothing)

    def _base_config(self):
        config = {
            "name": self.name,
            "dtype": self._dtype_policy.name,
            "num_classes": self.num_classes,
            "multilabel": self.multilabel,
            "from_logits": self.from_logits,
            "average": self.average,
            "smoothing": self.smoothing,
            "sharpness": self.sharpness,
        }
        return config

    def _formula_config(self):
        """`_base_config` plus the formula's keyword arguments and the constraint: the
        whole config of a subclass whose formula is fixed (`FBetaLoss`, ...), which
        takes them all as keyword arguments."""
        config = {**self._base_config(), **self.formula_kwargs}
        if self.constraint is not None:
            config.update(constraint=[_serialize_formula(self.constraint[0]),
                                      self.constraint[1]],
                          penalty=self.penalty)
        return config

    def get_config(self):
        return {"formula": _serialize_formula(self.formula), **self._formula_config()}


def confusion_loss(y_true, y_pred, formula, *, sample_weight=None, name=None, dtype=None,
                   **kwargs):
    """The loss of `ConfusionLoss` on one batch, as a function.

    ``confusion_loss(y, p, "f1", beta=...)`` equals ``ConfusionLoss("f1", ...)(y, p)``;
    ``sample_weight`` is folded into the counts. Both check their arguments with the
    same checks and compute with the same function; the class checks once and binds
    them, and is what ``model.compile`` and saving need, while the function checks at
    each call (values too, when eager) and suits a custom loop.

    Args:
        y_true: labels, as for `ConfusionLoss`.
        y_pred: probabilities, or logits with ``from_logits=True``.
        formula: a formula name or callable, as for `ConfusionLoss`.
        sample_weight: optional weights folded into the counts. Defaults to `None`.
        name: name scope of the computation. Defaults to `None` (``"confusion_loss"``).
        dtype: dtype of the returned loss. Defaults to `None` (``floatx``).
        **kwargs: `ConfusionLoss`'s other arguments (``num_classes``, ``smoothing``,
            ``constraint``, the formula's keyword arguments, ...).

    Returns:
        The scalar loss.

    Example:

    >>> float(confusion_loss(np.array([0.0, 1.0, 1.0]), np.array([0.0, 1.0, 1.0]), "f1"))
    0.25
    """
    args = _check_loss_args(formula, owner="confusion_loss", **kwargs)
    if args["constraint"] is None:
        _warn_trivial("confusion_loss(y_true, y_pred, {name})", args["formula"])
    # The dtype a Keras loss returns (Loss(dtype=...)'s compute dtype).
    dtype = keras.dtype_policies.get(dtype or keras.config.floatx()).compute_dtype
    with keras.name_scope(name or "confusion_loss"):
        loss = _batch_loss(y_true, y_pred, sample_weight, _backend.keras_mask(y_pred), **args)
        return ops.cast(loss, dtype)


class _FixedFormulaLoss(ConfusionLoss):
    """A loss whose class fixes the formula: its config is that of `ConfusionLoss`
    without ``formula`` (the formula's keyword arguments, the constraint, the penalty)."""

    def get_config(self):
        return self._formula_config()


class _ConstrainedRateLoss(ConfusionLoss):
    """One rate to maximise, optionally subject to a minimum of another rate."""

    _objective = ""
    _constraint = ""
    _constraint_arg = ""

    def __init__(self, minimum, *, penalty, sharpness, zero_division, **kwargs):
        name = self._constraint_arg
        if "constraint" in kwargs:
            raise arg_error("constraint", kwargs["constraint"],
                            f"not given to {type(self).__name__}: pass {name}= (or use "
                            "ConfusionLoss for another constraint)")
        if minimum is not None:
            minimum = check_probability(name, minimum)
            constraint = (self._constraint, minimum)
        else:
            constraint = None
        super().__init__(self._objective, constraint=constraint, penalty=penalty,
                         sharpness=sharpness, zero_division=zero_division, **kwargs)
        self.minimum = minimum
        cls = type(self).__name__
        if minimum is None and cls not in _WARNED:
            _WARNED.add(cls)
            warn(f"{cls}() alone is minimised by {_TRIVIAL[self._objective][0]}. Pass {name}= "
                 f"(e.g. {cls}({name}=0.9)) to maximise {self._objective} subject to a "
                 f"minimum {self._constraint}.", stacklevel=4)

    def get_config(self):
        # The constraint is rebuilt from the minimum, and penalty is kept without one.
        config = {**self._base_config(), **self.formula_kwargs}
        config.update({self._constraint_arg: self.minimum, "penalty": self.penalty})
        return config


_RATE_ARGS = """
    Args:
        {arg}: the smallest acceptable {constraint}, in [0, 1]; `None` for
            {objective} alone (which warns: its optimum is trivial). Defaults to `None`.
        penalty: multiplier of the constraint's shortfall. Defaults to `2.0`.
        sharpness: factor on the logits before counting (see `ConfusionLoss`); 4
            puts the constrained rate near the rate at 0.5. Defaults to `4.0`.
        zero_division: value of a rate whose denominator is 0 (only without
            smoothing). Defaults to `0.0`.
        **kwargs: `ConfusionLoss`'s counting arguments (``num_classes``,
            ``multilabel``, ``from_logits``, ``average``, ``smoothing``, ``name``,
            ``dtype``).
"""


@_register
class SpecificityLoss(_ConstrainedRateLoss):
    __doc__ = """``1 - specificity`` of the soft counts, optionally with a minimum sensitivity.

    ``SpecificityLoss(min_sensitivity=0.9)`` maximises specificity subject to
    sensitivity >= 0.9 at the 0.5 threshold, as a penalty on the shortfall of the
    sharpened soft sensitivity (see `ConfusionLoss`, ``constraint``). On the imbalanced
    task of the end-to-end tests (6 % positives) it reached a held-out sensitivity of
    0.87-0.88 at 0.5, with a specificity (0.89) above that of cross-entropy at the
    threshold tuned for sensitivity 0.9 (0.84-0.87). Where the classes overlap,
    ``penalty=2`` can miss the floor even on the training data (see `ConfusionLoss`,
    on the penalty). With few training positives it does not hold the floor reliably
    on new data: on the tasks of
    ``benchmarks/QUALITY.md`` (43-200 training positives) the held-out sensitivity at
    0.5 was 0.49-0.87, and cross-entropy with `tune_threshold(...,
    constraint=("recall", 0.9))` on validation data did as well or better.

    The constraint is evaluated on the smoothed counts: a batch with ``P`` positives
    reaches a smoothed sensitivity of at most ``(P + s) / (P + 2 s)`` (``s`` the
    smoothing), so for a floor of 0.9 with ``smoothing=1`` use batches that hold at
    least 8 positives, or a smaller ``smoothing``.
    """ + _RATE_ARGS.format(arg="min_sensitivity", constraint="sensitivity",
                            objective="specificity") + """
    Example:

    >>> loss = SpecificityLoss(min_sensitivity=0.9, from_logits=True)
    """

    _objective, _constraint, _constraint_arg = "specificity", "sensitivity", "min_sensitivity"

    def __init__(self, min_sensitivity=None, *, penalty=2.0, sharpness=4.0,
                 zero_division=0.0, **kwargs):
        super().__init__(min_sensitivity, penalty=penalty, sharpness=sharpness,
                         zero_division=zero_division, **kwargs)


@_register
class SensitivityLoss(_ConstrainedRateLoss):
    __doc__ = """``1 - sensitivity`` (recall) of the soft counts, optionally with a minimum
    specificity.
    """ + _RATE_ARGS.format(arg="min_specificity", constraint="specificity",
                            objective="sensitivity") + """
    Example:

    >>> loss = SensitivityLoss(min_specificity=0.8)
    """

    _objective, _constraint, _constraint_arg = "sensitivity", "specificity", "min_specificity"

    def __init__(self, min_specificity=None, *, penalty=2.0, sharpness=4.0,
                 zero_division=0.0, **kwargs):
        super().__init__(min_specificity, penalty=penalty, sharpness=sharpness,
                         zero_division=zero_division, **kwargs)


@_register
class PrecisionLoss(_ConstrainedRateLoss):
    __doc__ = """``1 - precision`` of the soft counts, optionally with a minimum recall.
    """ + _RATE_ARGS.format(arg="min_recall", constraint="recall",
                            objective="precision") + """
    Example:

    >>> loss = PrecisionLoss(min_recall=0.5)
    """

    _objective, _constraint, _constraint_arg = "precision", "recall", "min_recall"

    def __init__(self, min_recall=None, *, penalty=2.0, sharpness=4.0, zero_division=0.0,
                 **kwargs):
        super().__init__(min_recall, penalty=penalty, sharpness=sharpness,
                         zero_division=zero_division, **kwargs)


@_register
class FBetaLoss(_FixedFormulaLoss):
    """``1 - F-beta`` of the soft counts (soft F1, or Dice loss, with ``beta=1``).

    Args:
        beta: weight of recall against precision, > 0. Defaults to `1.0`.
        **kwargs: `ConfusionLoss`'s counting arguments.

    Example:

    >>> loss = FBetaLoss(beta=2.0, from_logits=True)
    """

    def __init__(self, beta=1.0, **kwargs):
        super().__init__("fbeta", beta=check_positive("beta", beta), **kwargs)



@_register
class TverskyLoss(_FixedFormulaLoss):
    """``1 - TP / (TP + alpha FP + beta FN)`` of the soft counts.

    ``alpha`` weighs false positives, as in Salehi et al. (2017) and as Keras documents
    its ``keras.losses.Tversky``; Keras 3's code multiplies ``alpha`` with the false
    negatives, so ``keras.losses.Tversky(alpha=a, beta=b)`` equals
    ``TverskyLoss(alpha=b, beta=a, smoothing=0)``.

    Args:
        alpha: weight of false positives, >= 0. Defaults to `0.5`.
        beta: weight of false negatives, >= 0. Defaults to `0.5`.
        **kwargs: `ConfusionLoss`'s counting arguments.

    Example:

    >>> loss = TverskyLoss(alpha=0.3, beta=0.7)
    """

    def __init__(self, alpha=0.5, beta=0.5, **kwargs):
        super().__init__("tversky", alpha=check_non_negative("alpha", alpha),
                         beta=check_non_negative("beta", beta), **kwargs)



@_register
class MCCLoss(_FixedFormulaLoss):
    """``1 - MCC`` of the soft counts (in [0, 2]); K-class MCC for multiclass.

    Args:
        **kwargs: `ConfusionLoss`'s counting arguments.

    Example:

    >>> loss = MCCLoss(from_logits=True)
    """

    def __init__(self, **kwargs):
        super().__init__("mcc", **kwargs)



@_register
class BalancedAccuracyLoss(_FixedFormulaLoss):
    """``1 - balanced accuracy`` (mean recall over the classes) of the soft counts.

    Args:
        **kwargs: `ConfusionLoss`'s counting arguments.

    Example:

    >>> loss = BalancedAccuracyLoss(num_classes=3)
    """

    def __init__(self, **kwargs):
        super().__init__("balanced_accuracy", **kwargs)



@_register
class CostLoss(_FixedFormulaLoss):
    """Expected cost per sample of the soft counts, ``sum(C * cost) / sum(C)``.

    Minimising it moves probability mass away from the costly cells: with
    ``[[0, 1], [10, 0]]`` a missed positive costs ten false alarms.

    Args:
        cost_matrix: ``(K, K)`` non-negative costs, rows the true class, columns the
            decision.
        **kwargs: `ConfusionLoss`'s counting arguments (``num_classes`` must be ``K``
            for ``K > 2``).

    Example:

    >>> loss = CostLoss([[0, 1], [10, 0]])
    >>> y_true, y_pred = np.array([0.0, 1.0]), np.array([0.0, 1.0])
    >>> round(float(loss(y_true, y_pred)), 4)  # smoothing 1: [[2, 1], [1, 2]], 11 / 6
    1.8333
    """

    def __init__(self, cost_matrix, **kwargs):
        cost = check_cost_matrix(cost_matrix)
        k = kwargs.get("num_classes") or 2
        if cost.shape[0] != k:
            given = kwargs.get("num_classes")
            hint = (f" (binary, num_classes not given: pass num_classes={cost.shape[0]} for a "
                    f"{cost.shape[0]}-class matrix)" if given is None else
                    f" to match num_classes={given}")
            raise arg_error("cost_matrix", f"<array of shape {cost.shape}>",
                            f"of shape ({k}, {k}){hint}")
        super().__init__("expected_cost", cost_matrix=cost, **kwargs)



# ------------------------------------------------------------ weighted cross-entropy


def _check_class_weight(class_weight, num_classes: int, multilabel: bool):
    """Weights as a float array ``(K,)`` (or ``(L, 2)`` per label when multilabel)."""
    expected = (f"a dict {{class: weight}} with classes in 0..{num_classes - 1}, or a "
                f"sequence of {num_classes} weights >= 0"
                + (", or an (L, 2) array of per-label weights" if multilabel else ""))
    if isinstance(class_weight, dict):
        w = np.ones(num_classes)
        for key, value in class_weight.items():
            try:
                c = int(key)
            except (TypeError, ValueError):
                raise arg_error("class_weight", class_weight, expected) from None
            if c != key or not 0 <= c < num_classes:
                raise arg_error("class_weight", class_weight, expected)
            if isinstance(value, (str, bytes, bool, np.bool_)):
                raise arg_error("class_weight", class_weight, expected)
            try:
                w[c] = float(value)
            except (TypeError, ValueError):
                raise arg_error("class_weight", class_weight, expected) from None
    else:
        try:
            w = np.asarray(class_weight, dtype="float64")
        except (TypeError, ValueError):
            raise arg_error("class_weight", class_weight, expected) from None
        ok_shape = w.shape == (num_classes,) or (multilabel and w.ndim == 2 and w.shape[1] == 2)
        if not ok_shape:
            raise arg_error("class_weight", f"<array of shape {w.shape}>", expected)
    if not np.all(np.isfinite(w)) or np.any(w < 0):
        raise arg_error("class_weight", class_weight, "weights that are finite and >= 0")
    return w


@_register
class WeightedCrossentropy(keras.losses.Loss):
    """Cross-entropy with one weight per class; a per-sample (per-pixel) loss.

    ``-sum_k w_k y_k log p_k`` for each sample: binary (``w_0`` for negatives, ``w_1``
    for positives), multiclass (sparse or one-hot labels), multilabel (the mean over
    labels, with the same two weights for every label or an ``(L, 2)`` array) and
    segmentation maps, whose every pixel is a sample. ``fit(class_weight=...)`` only
    handles one label per sample; this loss does the rest. Weights from the data:
    `keras_confusion.class_weights`.

    Args:
        class_weight: a dict ``{class: weight}`` (missing classes weigh 1), a sequence
            of ``K`` weights, or for multilabel an ``(L, 2)`` array.
        num_classes: ``K`` for a multiclass task. Defaults to `None` (binary).
        multilabel: ``(N, L)`` outputs, one sigmoid per label. Defaults to `False`.
        from_logits: whether ``y_pred`` holds logits. Defaults to `False`.
        reduction: as Keras losses. Defaults to `"sum_over_batch_size"`.
        name: name of the loss. Defaults to `None`.
        dtype: dtype of the computation. Defaults to `None` (``floatx``).

    Example:

    >>> loss = WeightedCrossentropy({0: 1.0, 1: 10.0})
    >>> round(float(loss(np.array([1.0]), np.array([0.5]))), 4)  # 10 * log(2)
    6.9315
    """

    def __init__(self, class_weight, *, num_classes=None, multilabel=False, from_logits=False,
                 reduction="sum_over_batch_size", name=None, dtype=None):
        super().__init__(name=name, reduction=reduction, dtype=dtype)
        task = check_task_args(num_classes=num_classes, multilabel=multilabel,
                               from_logits=from_logits)
        self.num_classes, self.multilabel, self.from_logits = task.values()
        self.class_weight = _check_class_weight(class_weight, self.num_classes or 2,
                                                self.multilabel)
        self._values_checked = False

    def _multiclass(self, y_pred) -> bool:
        # A 1-D batch is one score per sample, even a batch of two (as in counting).
        k = self.num_classes
        return not self.multilabel and k is not None and len(y_pred.shape) >= 2 and (
            k > 2 or y_pred.shape[-1] == 2)

    def __call__(self, y_true, y_pred, sample_weight=None):
        given_weight = sample_weight
        if sample_weight is not None and hasattr(y_pred, "shape"):
            # Per-image weights (B,) of (B, H, W) maps weigh every pixel of their image,
            # as for the confusion losses. Keras lines a weight up with the last axis of
            # the loss instead (an error, or silently per column when W == B).
            rank = len(y_pred.shape) - int(
                self._multiclass(y_pred) or self.multilabel
                or (len(y_pred.shape) > 1 and y_pred.shape[-1] == 1))
            sample_weight = ops.convert_to_tensor(sample_weight)
            while 0 < len(sample_weight.shape) < rank:
                sample_weight = ops.expand_dims(sample_weight, -1)
            # As the confusion losses: a weight that is negative or not finite makes
            # the loss NaN (-1 gave a cross-entropy below zero).
            sample_weight = _nan_where_invalid_weight(sample_weight)
        if not self._values_checked:
            # As the confusion losses: values checked on the first eager call only, the
            # weights too.
            fmt = counts.format_inputs(y_true, y_pred, self.num_classes, self.multilabel,
                                       given_weight, hard=False)
            counts.validate_values(fmt, from_logits=self.from_logits, soft=True,
                                   allow_nan=True)
            self._values_checked = not _backend.is_symbolic(fmt.y_pred)
        return super().__call__(y_true, y_pred, sample_weight=sample_weight)

    def call(self, y_true, y_pred):
        # At least float32: in float16, 1 - epsilon rounds to 1, so a saturated
        # probability gave log(0) (NaN or inf loss) where float32 is finite.
        if keras.backend.standardize_dtype(y_pred.dtype) in ("float16", "bfloat16"):
            y_pred = ops.cast(y_pred, "float32")
        w = ops.convert_to_tensor(self.class_weight, dtype=y_pred.dtype)
        eps = keras.config.epsilon()
        k = self.num_classes
        if self._multiclass(y_pred):
            if y_pred.shape[-1] != k:
                raise arg_error("y_pred", f"<tensor of shape {tuple(y_pred.shape)}>",
                                f"of shape (..., {k}) to match num_classes={k}")
            one_hot = len(y_true.shape) == len(y_pred.shape) and y_true.shape[-1] == k
            if not one_hot and len(y_true.shape) == len(y_pred.shape) \
                    and y_true.shape[-1] == 1:
                y_true = ops.squeeze(y_true, -1)
            y_true, valid = self._valid("multiclass", y_true, y_pred, one_hot)
            if one_hot:
                y = ops.cast(y_true, y_pred.dtype)
            else:
                y = ops.one_hot(ops.cast(y_true, "int32"), k, dtype=y_pred.dtype)
            if self.from_logits:
                log_p = ops.log_softmax(y_pred, axis=-1)
            else:
                log_p = ops.log(ops.clip(y_pred, eps, 1.0))
            return ops.where(ops.all(valid, axis=-1), -ops.sum(y * w * log_p, axis=-1), np.nan)
        y_true = ops.cast(y_true, y_pred.dtype)
        if not self.multilabel:
            # A 1-D batch is one score (label) per sample, even a batch of one: only
            # a trailing axis of 1 past the samples is dropped, never the samples'.
            if len(y_pred.shape) >= 2 and y_pred.shape[-1] == 1:
                y_pred = ops.squeeze(y_pred, -1)
            if len(y_true.shape) > max(1, len(y_pred.shape)) and y_true.shape[-1] == 1:
                y_true = ops.squeeze(y_true, -1)
        if tuple(y_true.shape) != tuple(y_pred.shape) and None not in y_true.shape:
            raise arg_error("y_true", f"<tensor of shape {tuple(y_true.shape)}>",
                            f"of the same shape as y_pred {tuple(y_pred.shape)}")
        if self.from_logits:
            log_p, log_q = -ops.softplus(-y_pred), -ops.softplus(y_pred)
        else:
            p = ops.clip(y_pred, eps, 1.0 - eps)
            log_p, log_q = ops.log(p), ops.log1p(-p)
        w0, w1 = (w[:, 0], w[:, 1]) if w.ndim == 2 else (w[0], w[1])
        loss = -(w1 * y_true * log_p + w0 * (1.0 - y_true) * log_q)
        loss = ops.where(self._valid("binary", y_true, y_pred)[1], loss, np.nan)
        return ops.mean(loss, axis=-1) if self.multilabel else loss

    def _valid(self, task, y_true, y_pred, one_hot=False):
        """``(y_true, valid)`` by the confusion losses' rule (`_valid_inputs`): the loss
        of the other samples is NaN. The clip before the log read an inf score (or 1.5) as
        1 - eps, a label of -1 gave a negative loss, and the label 5 of 3 classes a row
        of zeros (a RuntimeError on torch)."""
        k = self.num_classes if task == "multiclass" else 2
        y, valid = _valid_inputs(counts.Formatted(task, k, 1, y_true, y_pred, None, one_hot),
                                 self.from_logits)
        return y, valid

    def get_config(self):
        return {
            "class_weight": self.class_weight.tolist(),
            "num_classes": self.num_classes,
            "multilabel": self.multilabel,
            "from_logits": self.from_logits,
            "reduction": self.reduction,
            "name": self.name,
            "dtype": self._dtype_policy.name,
        }
