"""Decisions: exact threshold tuning and cost-matrix decisions (NumPy; no Keras).

* `tune_threshold`: the best binary threshold for a formula, a cost matrix or a
  constraint, searched exactly over every distinct score (sort once, cumulative counts
  give a ``(T, 2, 2)`` stack, the formula is applied to the stack). With
  ``multilabel=True``, one threshold per label.
* `cost_decisions` and `tune_cost_offsets`: the multiclass Bayes decision under a cost
  matrix, ``argmin_j sum_i p_i cost[i, j]``, and per-class offsets tuned on validation
  data where they lower the cost.

`keras_confusion.thresholded.Thresholded` is the Keras model that applies these
decisions; it lives in the Keras layer, this module in the core.

The search runs offline on NumPy arrays in float64 (so that every distinct float64
score stays distinct, which JAX's default float32 would not guarantee). Only
`cost_decisions` handed a backend tensor imports ``keras.ops``.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass

import numpy as np

from keras_confusion import _guarantee, formulas
from keras_confusion._counting import exact_curve
from keras_confusion._validation import (
    TEXT_LABELS,
    arg_error,
    as_numpy,
    check_cost_matrix,
    check_sample_weight,
    is_backend_tensor,
    is_text,
    not_text,
    warn,
)

__all__ = [
    "CostDecisionResult",
    "MultilabelThresholdResult",
    "ThresholdResult",
    "cost_decisions",
    "tune_cost_offsets",
    "tune_threshold",
]

# Objective values closer than this (relative to the best) count as ties.
_TIE_RTOL = 1e-12


# ------------------------------------------------------------------------- results


def _short_repr(obj, fields, curves: str) -> str:
    """``Name(field=value, ..., <curves>)``: the chosen figures, not the whole curve
    (a dataclass's own repr printed every candidate's matrix)."""
    def show(v):
        return repr(np.asarray(v).tolist()) if isinstance(v, np.ndarray) else repr(v)

    parts = [f"{f}={show(getattr(obj, f))}" for f in fields]
    return f"{type(obj).__name__}({', '.join(parts)}, {curves})"


@dataclass(frozen=True, repr=False)
class ThresholdResult:
    """The outcome of `tune_threshold`: the chosen threshold and the whole curve.

    Attributes:
        threshold: the chosen threshold, a score from the data (``inf`` when the best
            decision is to predict nothing positive); positive when
            ``score >= threshold``.
        value: the objective at ``threshold``.
        confusion_matrix: ``(2, 2)`` counts at ``threshold``, ``[[TN, FP], [FN, TP]]``.
        objective: the objective's name (``"f1"``, ``"expected_cost"``, ...).
        thresholds: ``(T,)`` every candidate, ascending: each distinct score, then
            ``inf`` (predict nothing positive).
        values: ``(T,)`` the objective at each candidate.
        confusion_matrices: ``(T, 2, 2)`` counts at each candidate.
        feasible: ``(T,)`` bool mask of the candidates that meet the constraint, or
            `None` without a constraint.
        greater_is_better: whether the objective was maximised (False for costs).
        constraint: the constraint as ``(name, bound)``, or `None`.
        confidence: with a guaranteed constraint, the probability that its floor
            holds on new data from the same distribution at ``threshold``; else `None`.
        bound: with a guaranteed constraint, the exact one-sided lower confidence bound
            (Clopper-Pearson, at ``confidence``) of the constrained formula at
            ``threshold``, at or above the floor; else `None`. ``feasible`` then marks the
            candidates that carry the guarantee.
    """

    threshold: float
    value: float
    confusion_matrix: np.ndarray
    objective: str
    thresholds: np.ndarray
    values: np.ndarray
    confusion_matrices: np.ndarray
    feasible: np.ndarray | None = None
    greater_is_better: bool = True
    constraint: tuple | None = None
    confidence: float | None = None
    bound: float | None = None

    def __repr__(self) -> str:
        return _short_repr(self, ("threshold", "value", "objective", "confusion_matrix",
                                  "constraint", "confidence", "bound"),
                           f"<{len(self.thresholds)} candidates in .thresholds, .values, "
                           ".confusion_matrices>")

    @property
    def guarantee(self) -> dict | None:
        """The guarantee as a plain dict (``constraint``, ``confidence``, ``bound``), as
        `Thresholded` keeps it in its config; `None` without a confidence."""
        if self.confidence is None:
            return None
        return {"constraint": [self.constraint[0], float(self.constraint[1])],
                "confidence": float(self.confidence), "bound": float(self.bound)}


@dataclass(frozen=True, repr=False)
class MultilabelThresholdResult:
    """One `ThresholdResult` per label, with the chosen figures stacked.

    Attributes:
        threshold: ``(L,)`` thresholds, ready for ``Thresholded(model, threshold)``.
        value: ``(L,)`` objective of each label at its threshold.
        confusion_matrix: ``(L, 2, 2)`` counts at the chosen thresholds.
        objective: the objective's name.
        results: the per-label `ThresholdResult`s (each with its whole curve).
        confidence: with a guaranteed constraint, the probability that each label's
            floor holds (``family="label"``), or that all labels' floors hold at once
            (``family="all"``); else `None`.
        bound: ``(L,)`` each label's lower confidence bound at its threshold, at the
            per-label confidence, or `None`.
        family: with a confidence, what it is for: ``"label"`` (each label's floor)
            or ``"all"`` (every label's at once); else `None`.
    """

    threshold: np.ndarray
    value: np.ndarray
    confusion_matrix: np.ndarray
    objective: str
    results: tuple
    confidence: float | None = None
    bound: np.ndarray | None = None
    family: str | None = None

    def __repr__(self) -> str:
        return _short_repr(self, ("threshold", "value", "objective", "confusion_matrix",
                                  "confidence", "family", "bound"),
                           f"<{len(self.results)} labels' results in .results>")

    @classmethod
    def from_results(cls, results, objective: str, confidence: float | None = None,
                     family: str = "label") -> MultilabelThresholdResult:
        """The labels' `ThresholdResult`s, in label order, with their figures stacked.

        Args:
            results: one `ThresholdResult` per label.
            objective: the objective's name.
            confidence: with a guaranteed constraint, the confidence the labels' floors
                hold at (each, or all at once, as tuned); the ``bound`` is then
                stacked from the results. Defaults to `None`.
            family: with a confidence, ``"label"`` when it is each label's (each was
                tuned at ``confidence``) or ``"all"`` when it is every label's at once
                (each was tuned at a higher one). Defaults to `"label"`.
        """
        if family not in ("label", "all"):
            raise arg_error("family", family, '"label" or "all"')
        results = tuple(results)
        return cls(
            threshold=np.array([r.threshold for r in results]),
            value=np.array([r.value for r in results]),
            confusion_matrix=np.stack([r.confusion_matrix for r in results]),
            objective=objective,
            results=results,
            confidence=confidence,
            bound=None if confidence is None else np.array([r.bound for r in results]),
            family=None if confidence is None else family,
        )

    @property
    def guarantee(self) -> dict | None:
        """As `ThresholdResult.guarantee`, with one bound per label and the ``family``
        the confidence is for (``"label"`` or ``"all"``)."""
        if self.confidence is None:
            return None
        first = self.results[0].constraint
        return {"constraint": [first[0], float(first[1])], "confidence": float(self.confidence),
                "bound": [float(b) for b in self.bound], "family": self.family}


@dataclass(frozen=True)
class CostDecisionResult:
    """The outcome of `tune_cost_offsets`.

    Attributes:
        offsets: ``(K,)`` per-class offsets for ``cost_decisions(..., offsets=...)``.
        value: expected cost per sample with the offsets, on the tuning data.
        bayes_value: expected cost per sample of the plain Bayes rule (zero offsets);
            ``value <= bayes_value`` always.
        confusion_matrix: ``(K, K)`` counts of the decisions with the offsets.
        cost_matrix: the ``(K, K)`` cost matrix used.
    """

    offsets: np.ndarray
    value: float
    bayes_value: float
    confusion_matrix: np.ndarray
    cost_matrix: np.ndarray


# ----------------------------------------------------------------- input checks


def _first_bad(name, arr, bad, expected):
    idx = np.unravel_index(int(np.argmax(bad)), bad.shape)
    return arg_error(name, f"<{arr[idx].item()} at sample {idx[0]}>", expected)


def check_scores(y_score, name="y_score", *, keep_float32=False, probabilities=False
                 ) -> np.ndarray:
    """Finite scores as float64; ``keep_float32``: float16 and float32 stay as they are
    (the same numbers, sorted twice as fast as float64). ``probabilities``: each in
    [0, 1] (to 1e-6, a float32 softmax's rounding): logits or scores of another scale
    give Bayes decisions that mean nothing."""
    try:
        s = as_numpy(y_score)
    except (TypeError, ValueError):
        raise arg_error(name, y_score, "an array of numbers") from None
    not_text(s, name)
    try:
        if not (keep_float32 and s.dtype in (np.float16, np.float32)):
            s = np.asarray(s, dtype="float64")
    except (TypeError, ValueError):
        raise arg_error(name, y_score, "an array of numbers") from None
    bad = ~np.isfinite(s)
    if bad.any():
        raise _first_bad(name, s, bad, "finite scores (NaN or inf is not a score)")
    if probabilities:
        bad = (s < -1e-6) | (s > 1 + 1e-6)
        if bad.any():
            raise _first_bad(name, s, bad, "probabilities in [0, 1] (logits? apply a "
                                           "softmax first)")
    return s


def check_binary_labels(y_true, shape, name="y_true") -> np.ndarray:
    y = as_numpy(y_true)
    if y.shape != shape:
        raise arg_error(name, f"<array of shape {y.shape}>",
                        f"of the same shape as y_score {shape}")
    if y.dtype.kind not in "biuf":
        raise arg_error(name, f"<array of dtype {y.dtype}>", "binary labels in {0, 1}")
    bad = (y != 0) & (y != 1)
    if bad.any():
        raise _first_bad(name, y, bad, "binary labels in {0, 1}")
    return y.astype("int8")


# ------------------------------------------------------------------ curve and choice


def _best_index(values, eligible, greater):
    """Index of the best eligible value; ties go to the middle of the widest flat run.

    Among candidates whose values tie with the best, the ones adjacent in threshold
    order form flat runs; the middle of the widest run is farthest (in samples) from a
    change of the objective, so it is the choice least sensitive to small shifts of the
    scores on new data. Equally wide runs: the lowest thresholds win (more positives).
    """
    vals = np.where(eligible, values if greater else -values, -np.inf)
    best = np.max(vals)
    if np.isfinite(best):
        # Relative to the largest eligible magnitude, so that scaling a cost matrix or
        # the weights (by 1e-13, say) ties the same candidates.
        finite = vals[eligible & np.isfinite(vals)]
        tied = eligible & (np.abs(vals - best) <= _TIE_RTOL * np.max(np.abs(finite)))
    else:  # a user objective at +-inf: a relative tolerance would tie every finite value
        tied = eligible & (vals == best)
    idx = np.flatnonzero(tied)
    # Runs of consecutive indices.
    breaks = np.flatnonzero(np.diff(idx) != 1)
    run_starts = np.concatenate([[0], breaks + 1])
    run_ends = np.concatenate([breaks + 1, [len(idx)]])
    widest = int(np.argmax(run_ends - run_starts))
    lo, hi = run_starts[widest], run_ends[widest]
    return int(idx[lo + (hi - lo - 1) // 2])


def _evaluate(fn, cms, kwargs, vectorized):
    if vectorized:
        return np.asarray(fn(cms, **kwargs), dtype="float64").reshape(len(cms))
    # A user function of one (2, 2) matrix: called once per candidate.
    return np.array([float(fn(cm, **kwargs)) for cm in cms], dtype="float64")


def _is_library_formula(fn) -> bool:
    return any(fn is f for f in formulas.BY_NAME.values())


def _constrains_cost(constraint) -> bool:
    """Whether ``constraint`` is a well-formed pair on the expected cost."""
    if not (isinstance(constraint, (tuple, list)) and len(constraint) == 2):
        return False
    try:
        return formulas.get(constraint[0]) is formulas.expected_cost
    except (TypeError, ValueError):
        return False


def resolve_objective(objective, cost_matrix, formula_kwargs, vectorized, greater_is_better,
                       constraint=None):
    if greater_is_better not in (None, True, False):
        raise arg_error("greater_is_better", greater_is_better, "True, False or None")
    cost_objective = objective in (None, "expected_cost", formulas.expected_cost)
    if cost_matrix is not None and (cost_objective or not _constrains_cost(constraint)):
        # The cost matrix is the objective unless it serves an expected_cost constraint.
        if not cost_objective:
            raise arg_error("objective", objective,
                            'None or "expected_cost" when cost_matrix is given (or a '
                            'constraint on "expected_cost" for the cost matrix to bound)')
        objective = "expected_cost"
        formula_kwargs = {**formula_kwargs,
                          "cost_matrix": _costs_differ(check_cost_matrix(cost_matrix, 2))}
    elif objective is None:
        objective = "f1"
    if objective in ("expected_cost", formulas.expected_cost) and \
            "cost_matrix" not in formula_kwargs:
        raise arg_error("cost_matrix", None, 'a (2, 2) cost matrix when objective="expected_cost"')
    if not (isinstance(objective, str) or callable(objective)):
        raise arg_error("objective", objective, "a formula name such as \"f1\" or a callable")
    fn = formulas.get(objective)
    formulas.check_kwargs(fn, formula_kwargs, owner="tune_threshold")
    name = objective if isinstance(objective, str) else formulas.name_of(fn)
    if vectorized is None:
        vectorized = _is_library_formula(fn)
    if greater_is_better is None:
        greater_is_better = formulas.greater_is_better(fn)
    return fn, name, formula_kwargs, vectorized, bool(greater_is_better)


def resolve_constraint(constraint, cost_matrix):
    if constraint is None:
        return None
    ok = isinstance(constraint, (tuple, list)) and len(constraint) == 2
    if ok:
        metric, bound = constraint
        try:
            bound = float(bound)
            fn = formulas.get(metric)
        except (TypeError, ValueError):
            ok = False
        else:
            ok = np.isfinite(bound)
    if not ok:
        raise arg_error("constraint", constraint,
                        'a pair (formula, bound) such as ("recall", 0.95) with a finite bound')
    kwargs = {}
    if fn is formulas.expected_cost:
        if cost_matrix is None:
            raise arg_error("cost_matrix", None, "given for an expected_cost constraint")
        kwargs["cost_matrix"] = check_cost_matrix(cost_matrix, 2)
    name = metric if isinstance(metric, str) else formulas.name_of(fn)
    return fn, name, bound, kwargs, formulas.greater_is_better(fn)


def guaranteed_name(constraint):
    """The name `_guarantee` knows the resolved constraint by, or None."""
    fn, name = constraint[0], constraint[1]
    for candidate in (name, formulas.name_of(fn)):
        if candidate in _guarantee.GUARANTEED:
            return candidate
    return None


def resolve_confidence(confidence, constraint, sample_weight=None):
    """``confidence`` checked against the constraint it guarantees (resolved by
    `resolve_constraint`), or None; a ValueError naming the argument at fault."""
    if confidence is None:
        return None
    confidence = _guarantee.check_confidence(confidence)
    if constraint is None:
        raise arg_error("confidence", confidence,
                        "None unless a constraint such as ('recall', 0.9) is given: the "
                        "confidence is that the constraint's floor holds on new data")
    fn, name, bound = constraint[0], constraint[1], constraint[2]
    if fn is formulas.expected_cost:
        raise arg_error("confidence", confidence,
                        "None for a constraint on expected_cost: a confidence guarantees "
                        "a floor on " + ", ".join(_guarantee.GUARANTEED))
    if guaranteed_name(constraint) is None:
        raise arg_error("constraint", (name, bound),
                        "a floor on one of " + ", ".join(_guarantee.GUARANTEED)
                        + " when confidence is given")
    if not 0 < bound < 1:
        raise arg_error("constraint", (name, bound), _guarantee.floor_expected(bound))
    if sample_weight is not None:
        raise arg_error("sample_weight", "<array>",
                        "None when confidence is given: the exact tests count samples, and "
                        "weighted sums have no exact binomial law")
    return confidence


def _tune_binary(y, s, w, fn, name, kwargs, vectorized, greater, constraint,
                 confidence=None):
    if s.size == 0:
        raise arg_error("y_score", "<empty array>", "at least one score")
    present = np.unique(y if w is None else y[w > 0])
    if len(present) < 2:
        warn(f"tune_threshold: y_true holds only class {int(present[0]) if len(present) else 0}"
             f" (with non-zero weight); {name} may not depend on the threshold.", stacklevel=4)
    if s.size > 1 and s.min() == s.max():
        # scikit-learn's TunedThresholdClassifierCV refuses constant predictions; the
        # result stays defined (all positive or none), but a collapsed model is news.
        warn(f"tune_threshold: every score is {float(s.flat[0])!r} ({s.size} samples): the "
             "model's output is constant, so the only choices are every sample "
             "positive or none; check the model (a collapsed output?) before using "
             "this threshold.", stacklevel=4)
    thresholds, cms = exact_curve(y, s, w)
    return choose_threshold(thresholds, cms, fn, name, kwargs, vectorized, greater, constraint,
                            confidence=confidence)


# Rates whose best threshold alone is an extreme one: what it calls, and the rate of the
# other kind of error that a constraint should hold up.
_TRIVIAL = {
    "recall": ("calling positive every sample down to the lowest-scored positive",
               "precision"),
    "specificity": ("calling negative every sample up to the highest-scored negative",
                    "recall"),
    "precision": ("calling positive only the few surest samples", "recall"),
    "npv": ("calling negative only the few surest samples", "specificity"),
}


def _warn_trivial(fn, name, greater, constraint) -> None:
    """Warn when ``fn`` alone, a rate of `_TRIVIAL` maximised, is tuned without a
    constraint: its best threshold is trivial (the losses warn alike for their
    formulas). The warning points at the first caller outside this package
    (`tune_threshold`'s, the Dask engine's, a callback's)."""
    canonical = formulas.name_of(fn)
    if constraint is not None or canonical not in _TRIVIAL or not greater:
        return
    trivial, other = _TRIVIAL[canonical]
    frame, level = sys._getframe(1), 3  # 1: `warn`, 2: this function
    while frame is not None and frame.f_globals.get("__name__", "").startswith(
            "keras_confusion."):
        frame, level = frame.f_back, level + 1
    warn(f"tune_threshold: {name} alone is maximised at an extreme threshold, by {trivial}; "
         f"add a constraint (a floor on {other}: constraint=, or --constraint), or tune "
         "f1, mcc or a cost matrix.", stacklevel=level)


def choose_threshold(thresholds, cms, fn, name, kwargs, vectorized, greater, constraint,
                     known=None, confidence=None) -> ThresholdResult:
    """The `ThresholdResult` of candidates ``(T,)`` ascending and their ``(T, 2, 2)``
    stack: the objective on the stack, the constraint's mask, then the tie rule.

    Every exact search ends here: `tune_threshold` on the whole curve, the Dask engine
    (`keras_confusion.dask`) on the candidates it has counted exactly. ``known``
    ``(T,)`` marks those; a candidate not known only holds its place in the order (it
    breaks a run of ties and is never chosen), and the result's curve leaves it out.
    ``fn``, ``kwargs`` and ``constraint`` are as `resolve_objective` and
    `resolve_constraint` return them. Defaults to every candidate known.
    ``confidence`` (with a floor constraint): the eligible candidates are those where
    the floor is guaranteed (`_guarantee.guarantee`) instead of met on the data.
    """
    _warn_trivial(fn, name, greater, constraint)
    known = np.ones(len(thresholds), dtype=bool) if known is None else np.asarray(known)
    values = _evaluate(fn, cms, kwargs, vectorized)
    nan = np.isnan(values) & known
    if nan.any():
        i = int(np.argmax(nan))
        raise arg_error("objective", name, f"a function that returns numbers (it returned NaN "
                        f"at threshold {thresholds[i]:.6g}, confusion matrix "
                        f"{cms[i].tolist()})")
    feasible = None
    eligible = known.copy()
    guarantee = None
    if confidence is not None:
        # The guarantee's tests need every candidate's counts: a Dask search does not
        # pass `known` with a confidence.
        guarantee = _guarantee.guarantee(guaranteed_name(constraint), constraint[2],
                                         confidence, cms)
        feasible = guarantee.feasible
        eligible &= feasible
    elif constraint is not None:
        c_fn, c_name, bound, c_kwargs, c_greater = constraint
        c_values = _evaluate(c_fn, cms, c_kwargs, _is_library_formula(c_fn))
        feasible = c_values >= bound if c_greater else c_values <= bound
        if not (feasible & known).any():
            reach = np.where(known, c_values if c_greater else -c_values, -np.inf)
            i = int(np.argmax(reach))
            relation = ">=" if c_greater else "<="
            raise arg_error(
                "constraint", (c_name, bound),
                f"reachable on this data: no threshold gives {c_name} {relation} {bound}; "
                f"the best reachable is {c_name}={c_values[i]:.6g} at threshold "
                f"{thresholds[i]:.6g}")
        eligible &= feasible
    i = _best_index(values, eligible, greater)
    keep = slice(None) if known.all() else known
    return ThresholdResult(
        threshold=float(thresholds[i]),
        value=float(values[i]),
        confusion_matrix=cms[i],
        objective=name,
        thresholds=thresholds[keep],
        values=values[keep],
        confusion_matrices=cms[keep],
        feasible=None if feasible is None else feasible[keep],
        greater_is_better=greater,
        constraint=None if constraint is None else (constraint[1], constraint[2]),
        confidence=confidence,
        bound=None if guarantee is None else float(guarantee.bound[i]),
    )


def tune_threshold(
    y_true,
    y_score,
    objective=None,
    *,
    cost_matrix=None,
    constraint=None,
    sample_weight=None,
    multilabel=False,
    vectorized=None,
    greater_is_better=None,
    confidence=None,
    family="label",
    **formula_kwargs,
):
    """The best decision threshold, searched exactly over every distinct score.

    Every distinct score is a candidate threshold (a sample is positive when
    ``score >= threshold``), plus ``inf`` (predict nothing positive, which can be the
    cheapest decision under a cost matrix). The scores are sorted once
    (O(N log N)); cumulative counts give the ``(T, 2, 2)`` stack of confusion matrices
    and the objective is the formula applied to that stack, in float64. The returned
    threshold is a score from the data and reproduces ``value`` on the data given.

    Ties: among candidates whose objective equals the best (to 1e-12 relative), the
    middle of the widest run of adjacent candidates is chosen, the threshold farthest
    from a change of the objective; equally wide runs go to the lowest thresholds.

    Args:
        y_true: binary labels in {0, 1}, array-like of shape ``(n_samples,)`` (or
            ``(n_samples, L)`` with ``multilabel=True``).
        y_score: scores of class 1 (probabilities or logits: the threshold is in the
            same units), same shape as ``y_true``.
        objective: a formula name (``"f1"``, ``"mcc"``, ``"fbeta"``, ...), a formula
            from `keras_confusion.formulas`, or a function of one ``(2, 2)`` matrix
            returning a number. Defaults to `"f1"`, or `"expected_cost"` when
            ``cost_matrix`` is given.
        cost_matrix: ``(2, 2)`` non-negative costs, rows the true class, columns the
            decision: the threshold of minimum expected cost. Defaults to `None`.
        constraint: ``(formula, bound)``, e.g. ``("recall", 0.95)``: optimise the
            objective among thresholds where the formula is ``>= bound`` (``<= bound``
            for a cost). Defaults to `None`.
        sample_weight: optional weights of shape ``(n_samples,)``, finite and >= 0,
            at least one positive, summing to at most 1e300. Defaults to `None`.
        multilabel: tune one threshold per label of ``(n_samples, L)`` inputs, each on
            its own ``(2, 2)`` matrix. Defaults to `False`.
        vectorized: whether ``objective`` accepts a ``(T, 2, 2)`` stack and returns
            ``(T,)`` (true of every library formula, and much faster); a user function
            is otherwise called once per candidate. Defaults to `None` (library
            formulas only).
        greater_is_better: maximise (True) or minimise (False) the objective.
            Defaults to `None` (False for costs, True otherwise).
        confidence: with a floor ``constraint`` on ``"recall"`` (``"sensitivity"``),
            ``"specificity"``, ``"precision"`` or ``"npv"``: choose among the
            thresholds where the floor holds on new data from the same distribution
            with probability at least ``confidence`` (exact, finite-sample,
            distribution-free; see below). The data must be a calibration set used for
            nothing else (not to train, not to pick the epoch), unweighted. Defaults to
            `None` (the floor is met on the data given, which on new data fails about
            half the time).
        family: with ``multilabel=True`` and a confidence, ``"label"`` gives each
            label its own guarantee (each floor holds with probability
            ``confidence``); ``"all"`` makes all of them hold at once with that
            probability (each label tested at ``1 - (1 - confidence) / L``).
            Defaults to `"label"`.
        **formula_kwargs: passed to the objective, e.g. ``beta=2.0`` for ``"fbeta"``
            or ``zero_division=1.0``.

    Returns:
        A `ThresholdResult` (``threshold``, ``value``, ``confusion_matrix`` and the
        whole curve), or with ``multilabel=True`` a `MultilabelThresholdResult`.

    Constant scores (a single sample, say) leave two candidates: the score itself (every
    sample positive) and ``inf`` (none); with more than one sample a
    `ConfusionWarning` says that the model's output is constant.

    Guarantees (``confidence``): a threshold tuned so that the floor is just met on
    the data misses it on new data about half the time. With a confidence, recall and
    specificity floors keep the thresholds where the exact binomial test of
    ``rate < floor`` rejects at level ``1 - confidence`` (the order-statistic rule, the
    most powerful distribution-free choice; they all hold at once, so the objective
    picks among them freely); precision and npv floors use exact binomial p-values
    given the number of samples predicted positive (negative), tested in a fixed
    sequence from the highest threshold down (npv: from the lowest up). The result's
    ``bound`` is the Clopper-Pearson lower bound at the chosen threshold. Too few
    samples for any threshold to carry the guarantee is an error that names how many
    would do (`calibration_size`), never a silent "everything positive".

    Raises:
        ValueError: for empty or NaN scores, labels outside {0, 1}, a cost matrix of the
            wrong shape or with negative entries, a constraint no threshold meets
            (the message gives the best reachable value), or a guarantee that cannot be
            given (the message names the smallest number of samples that would allow
            it); for a confidence outside (0, 1), without a floor constraint, or with
            ``sample_weight``.

    Example:

    >>> r = tune_threshold([0, 0, 1, 1, 0, 1], [0.1, 0.4, 0.35, 0.8, 0.6, 0.9])
    >>> r.threshold, round(r.value, 4)
    (0.8, 0.8)
    """
    fn, name, kwargs, vectorized, greater = resolve_objective(
        objective, cost_matrix, formula_kwargs, vectorized, greater_is_better, constraint)
    constraint = resolve_constraint(constraint, cost_matrix)
    confidence = resolve_confidence(confidence, constraint, sample_weight)
    if family not in ("label", "all"):
        raise arg_error("family", family, '"label" or "all"')
    s = check_scores(y_score, keep_float32=True)
    if multilabel:
        if s.ndim != 2:
            raise arg_error("y_score", f"<array of shape {s.shape}>",
                            "of shape (n_samples, num_labels) when multilabel=True")
    elif s.ndim == 2 and s.shape[1] == 1:
        s = s[:, 0]
    elif s.ndim != 1:
        raise arg_error("y_score", f"<array of shape {s.shape}>",
                        "of shape (n_samples,) (pass multilabel=True for (n_samples, L); "
                        "for multiclass scores see cost_decisions and tune_cost_offsets)")
    y_arr = as_numpy(y_true)
    if not multilabel and y_arr.ndim == 2 and y_arr.shape[1] == 1:
        y_arr = y_arr[:, 0]
    y = check_binary_labels(y_arr, s.shape)
    w = check_sample_weight(sample_weight, s.shape[0], some_positive=True)
    if not multilabel:
        return _tune_binary(y, s, w, fn, name, kwargs, vectorized, greater, constraint,
                            confidence)
    per_label = confidence
    if confidence is not None and family == "all":  # Bonferroni over the labels
        per_label = 1.0 - (1.0 - confidence) / s.shape[1]
    results = []
    for label in range(s.shape[1]):
        try:
            results.append(_tune_binary(y[:, label], s[:, label], w, fn, name, kwargs,
                                        vectorized, greater, constraint, per_label))
        except ValueError as e:
            raise ValueError(f"Label {label}: {e}") from None
    return MultilabelThresholdResult.from_results(results, name, confidence, family)


# ------------------------------------------------------------- cost-matrix decisions


def bayes_decide(xp, y_prob, cost, offsets):
    """``argmin_j (sum_i p_i cost[i, j] - offsets[j])`` in NumPy or keras.ops."""
    risk = xp.matmul(y_prob, cost)
    if offsets is not None:
        risk = risk - offsets
    return xp.argmin(risk, axis=-1)


def cost_decisions(y_prob, cost_matrix, offsets=None):
    """Bayes decisions under a cost matrix: ``argmin_j sum_i p_i cost[i, j] - offsets[j]``.

    With calibrated probabilities this is the decision of minimum expected cost
    (ties go to the lowest class index). ``offsets`` (from `tune_cost_offsets`) shift
    the decision towards classes with a larger offset.

    Args:
        y_prob: class probabilities of shape ``(n_samples, K)`` (or ``(n_samples, 1)``,
            the probability of class 1, with a ``(2, 2)`` cost matrix); NumPy (computed
            in float64) or a backend tensor (computed with ``keras.ops``).
        cost_matrix: ``(K, K)`` non-negative costs, rows the true class, columns the
            decision.
        offsets: optional ``(K,)`` offsets subtracted from each decision's expected
            cost. Defaults to `None`.

    Returns:
        Integer decisions of shape ``(n_samples,)``.

    Example:

    >>> cost_decisions(np.array([[0.7, 0.3], [0.95, 0.05]]), [[0, 1], [5, 0]]).tolist()
    [1, 0]
    """
    expected = ("of shape (n_samples, K), or (n_samples, 1) probabilities of class 1 with a "
                "(2, 2) cost matrix")
    tensor = is_backend_tensor(y_prob)
    if not tensor or not _is_symbolic(y_prob):
        # Eager tensors too: NaN is no probability.
        p = check_scores(y_prob, "y_prob", probabilities=True)
    shape = tuple(y_prob.shape) if tensor else p.shape
    if len(shape) != 2:
        raise arg_error("y_prob", f"<array of shape {shape}>", expected)
    k = int(shape[-1])
    cost = check_cost_matrix(cost_matrix, 2 if k == 1 else k)
    offsets_tensor = is_backend_tensor(offsets)
    if offsets is not None and not offsets_tensor:
        offsets = check_offsets(offsets, cost.shape[0])
    if not tensor:
        if k == 1:  # the probability of class 1, as `Thresholded` reads it
            p = np.concatenate([1.0 - p, p], axis=-1)
        return bayes_decide(np, p, cost, offsets)
    import keras
    from keras import ops

    dtype = keras.backend.standardize_dtype(y_prob.dtype)
    dtype = dtype if dtype == "float64" else "float32"
    p = ops.cast(y_prob, dtype)
    if k == 1:
        p = ops.concatenate([1.0 - p, p], axis=-1)
    o = None if offsets is None else ops.cast(offsets, dtype)
    return bayes_decide(ops, p, ops.convert_to_tensor(cost.astype(dtype)), o)


def _is_symbolic(x) -> bool:
    from keras_confusion._backend import is_symbolic

    return is_symbolic(x)


def check_offsets(offsets, k):
    expected = f"{k} finite numbers (one per class)"
    try:
        if isinstance(offsets, dict) or is_text(np.asarray(offsets)):
            raise TypeError  # NumPy reads "12" as a number; a dict is no sequence
        o = np.asarray(offsets, dtype="float64")
    except (TypeError, ValueError):
        raise arg_error("offsets", offsets, expected) from None
    if o.shape != (k,) or not np.all(np.isfinite(o)):
        raise arg_error("offsets", offsets, expected)
    return o


def _costs_differ(cost: np.ndarray) -> np.ndarray:
    """``cost``, refused where no decision costs more than another (each row constant,
    all zero say): every threshold or offset then ties, and a search would return an
    arbitrary one ("tuned" to 0.5 under ``[[0, 0], [0, 0]]``)."""
    if np.all(cost == cost[:, :1]):
        raise arg_error("cost_matrix", cost.tolist(),
                        "a cost matrix under which decisions differ: some row with two "
                        "different costs (with each row constant, every decision costs the "
                        "same)")
    return cost


def _check_multiclass(y_true, y_prob, cost_matrix, sample_weight):
    p = check_scores(y_prob, "y_prob", probabilities=True)
    if p.ndim != 2:
        raise arg_error("y_prob", f"<array of shape {p.shape}>", "of shape (n_samples, K)")
    n, k = p.shape
    if n == 0:
        raise arg_error("y_prob", "<empty array>", "at least one sample")
    cost = _costs_differ(check_cost_matrix(cost_matrix, k))
    y = not_text(as_numpy(y_true), "y_true", TEXT_LABELS)
    if y.shape == (n, k):
        y = np.argmax(y, axis=-1)
    if y.ndim == 2 and y.shape[1] == 1:
        y = y[:, 0]
    if y.shape != (n,):
        raise arg_error("y_true", f"<array of shape {y.shape}>",
                        f"integer labels of shape ({n},) or one-hot of shape ({n}, {k})")
    y = y.astype("float64")
    bad = ~((y >= 0) & (y < k) & (y == np.round(y)))
    if bad.any():
        raise _first_bad("y_true", y, bad, f"integer class labels in {{0, ..., {k - 1}}}")
    w = check_sample_weight(sample_weight, n, some_positive=True)
    return y.astype("int64"), p, cost, np.ones(n) if w is None else w


def _split_search(key, cost_in, cost_out):
    """Best split of samples sorted by ``key``: those below it take ``cost_in``.

    Returns (offset, total cost): an offset strictly between two distinct keys (or
    beyond them), chosen as the middle of the widest flat run of best splits.
    """
    order = np.argsort(key, kind="stable")
    ks = key[order]
    # total(i) = the i lowest keys switch: sum(cost_in[:i]) + sum(cost_out[i:]).
    totals = np.concatenate([[0.0], np.cumsum(cost_in[order] - cost_out[order])]) + cost_out.sum()
    valid = np.concatenate([[True], ks[1:] != ks[:-1], [True]])
    i = _best_index(totals, valid, greater=False)
    if i == 0:
        offset = ks[0] - 1.0
    elif i == len(ks):
        offset = ks[-1] + 1.0
    else:
        offset = 0.5 * (ks[i - 1] + ks[i])
    return float(offset), float(totals[i])


def tune_cost_offsets(y_true, y_prob, cost_matrix, *, sample_weight=None, max_rounds=10):
    """Per-class offsets to the Bayes cost decision, tuned on validation data.

    Starts from the Bayes rule (zero offsets) and runs a coordinate search: for one
    class at a time, the exact best offset (every sample's switching point is a
    candidate, as in `tune_threshold`), kept only when it lowers the total cost. The
    result is never worse than the Bayes rule on the tuning data; it helps most when the
    probabilities are miscalibrated.

    Args:
        y_true: integer labels ``(n_samples,)`` or one-hot ``(n_samples, K)``.
        y_prob: class probabilities ``(n_samples, K)``.
        cost_matrix: ``(K, K)`` non-negative costs, rows true class, columns decision.
        sample_weight: optional weights ``(n_samples,)``, finite and >= 0, at least
            one positive, summing to at most 1e300. Defaults to `None`.
        max_rounds: passes over the classes, at most. Defaults to `10`.

    Returns:
        A `CostDecisionResult`; pass its ``offsets`` to `cost_decisions` or
        `Thresholded`.

    Example:

    >>> y = np.array([0, 1, 2, 1])
    >>> p = np.array([[.8, .1, .1], [.5, .4, .1], [.2, .2, .6], [.3, .6, .1]])
    >>> r = tune_cost_offsets(y, p, 1 - np.eye(3))
    >>> r.bayes_value, r.value
    (0.25, 0.0)
    """
    y, p, cost, w = _check_multiclass(y_true, y_prob, cost_matrix, sample_weight)
    if isinstance(max_rounds, bool) or not isinstance(max_rounds, (int, np.integer)) \
            or max_rounds < 0:
        raise arg_error("max_rounds", max_rounds, "an integer >= 0")
    k = cost.shape[0]
    risk = p @ cost
    sample_cost = cost[y] * w[:, None]  # (N, K): cost of each decision for each sample
    rows = np.arange(len(y))

    def total(offsets):
        return float(sample_cost[rows, bayes_decide(np, p, cost, offsets)].sum())

    offsets = np.zeros(k)
    bayes = best = total(offsets)
    for _ in range(max_rounds):
        improved = False
        for j in range(k):
            adj = risk - offsets
            adj[:, j] = np.inf
            other = np.argmin(adj, axis=1)
            # Sample n takes j when offsets[j] > risk[n, j] - min over the others.
            key = risk[:, j] - adj[rows, other]
            offset, _ = _split_search(key, sample_cost[:, j], sample_cost[rows, other])
            trial = offsets.copy()
            trial[j] = offset
            value = total(trial)  # recount: the decision itself is the reference
            if value < best * (1.0 - _TIE_RTOL):  # relative: costs and weights may be tiny
                offsets, best, improved = trial, value, True
        if not improved:
            break
    decisions = bayes_decide(np, p, cost, offsets)
    cm = np.zeros((k, k))
    np.add.at(cm, (y, decisions), w)
    total_w = float(w.sum())
    return CostDecisionResult(
        offsets=offsets,
        value=best / total_w if total_w > 0 else 0.0,
        bayes_value=bayes / total_w if total_w > 0 else 0.0,
        confusion_matrix=cm,
        cost_matrix=cost,
    )
