"""Keras callbacks over the whole validation set: threshold tuning and confusion history.

Per-batch figures mislead: these callbacks predict the whole validation set at the end
of each epoch and work on its confusion matrix.

* `ThresholdTuner` tunes the decision threshold (`tune_threshold`), logs it as
  ``val_threshold`` with the objective at it, and sets it on a `Thresholded` model.
* `ConfusionHistory` keeps the matrix of each epoch and logs its figures
  (``val_specificity``, ``val_sensitivity``, ...), with a plot per epoch.

Values logged into ``logs`` reach ``model.fit(...).history`` and the callbacks after
these ones (pass them before e.g. ``EarlyStopping`` that monitors ``val_threshold``).
"""

from __future__ import annotations

import keras
import numpy as np

from keras_confusion import formulas
from keras_confusion._validation import arg_error, check_num_classes, warn
from keras_confusion.counts import confusion_matrix
from keras_confusion.thresholds import (
    MultilabelThresholdResult,
    Thresholded,
    _resolve_constraint,
    _resolve_objective,
    tune_threshold,
)

__all__ = ["ConfusionHistory", "ThresholdTuner"]


def _check_validation_data(validation_data):
    # As Keras' validation_data: a tuple is (x, y[, w]); a list is a sequence of batches.
    if isinstance(validation_data, tuple):
        if len(validation_data) not in (2, 3):
            raise arg_error("validation_data", f"<{type(validation_data).__name__} of "
                            f"{len(validation_data)} items>",
                            "(x, y) or (x, y, sample_weight), or an iterable of such batches")
        return tuple(validation_data)
    if not hasattr(validation_data, "__iter__"):
        raise arg_error("validation_data", validation_data,
                        "(x, y) or (x, y, sample_weight), or an iterable of such batches")
    return validation_data


def _to_numpy(x):
    return None if x is None else np.asarray(keras.ops.convert_to_numpy(x))


def _predict_all(model, validation_data, batch_size):
    """(y_true, scores, sample_weight) over the whole validation set, as NumPy."""
    if isinstance(validation_data, tuple):
        x, y, *w = validation_data
        scores = model.predict(x, batch_size=batch_size, verbose=0)
        return np.asarray(y), np.asarray(scores), (np.asarray(w[0]) if w else None)
    # An iterable of batches (tf.data.Dataset, PyDataset, a list): it must be
    # re-iterable, since it is read again at every epoch end.
    ys, ss, ws = [], [], []
    for batch in validation_data:
        x, y, *w = batch
        ss.append(_to_numpy(model.predict_on_batch(x)))
        ys.append(_to_numpy(y))
        ws.append(_to_numpy(w[0]) if w else None)
    if not ys:
        raise arg_error("validation_data", "<empty iterable>", "at least one batch")
    w = None if any(v is None for v in ws) else np.concatenate(ws)
    return np.concatenate(ys), np.concatenate(ss), w


class ThresholdTuner(keras.callbacks.Callback):
    """Tunes the decision threshold on the whole validation set at each epoch end.

    Logs ``val_threshold`` and ``val_<objective>_at_threshold`` (one of each per label,
    suffixed ``_<label>``, with ``multilabel=True``) into the logs and so into the
    history, keeps the latest `ThresholdResult` in ``result``, and assigns the
    threshold to ``thresholded`` if given, so that the model that applies it is
    up to date when training stops (e.g. by early stopping) and is saved.

    An epoch where tuning is impossible (constant predictions early in training, a
    constraint no threshold meets) warns, logs NaN and keeps the previous threshold.

    Args:
        validation_data: a tuple ``(x, y)`` or ``(x, y, sample_weight)`` of arrays,
            or a re-iterable of such batches (a list, a ``tf.data.Dataset``).
        objective: as in `tune_threshold`. Defaults to `None` (``"f1"``, or
            ``"expected_cost"`` with ``cost_matrix``).
        cost_matrix: ``(2, 2)`` costs, as in `tune_threshold`. Defaults to `None`.
        constraint: e.g. ``("recall", 0.95)``, as in `tune_threshold`. Defaults to
            `None`.
        thresholded: a `Thresholded` model (wrapping the model being trained) whose
            threshold is set at each epoch end. Defaults to `None`.
        multilabel: one threshold per label. Defaults to `False`.
        batch_size: batch size for predicting the validation arrays. Defaults to
            `None` (Keras' default).
        **formula_kwargs: passed to the objective (e.g. ``beta=2.0``).

    Example:

    >>> tuner = ThresholdTuner((x_val, y_val), "f1")        # doctest: +SKIP
    >>> model.fit(x, y, epochs=5, callbacks=[tuner])        # doctest: +SKIP
    >>> deployable = tuner.thresholded_model()              # doctest: +SKIP
    """

    def __init__(self, validation_data, objective=None, *, cost_matrix=None, constraint=None,
                 thresholded=None, multilabel=False, batch_size=None, **formula_kwargs):
        super().__init__()
        self.validation_data = _check_validation_data(validation_data)
        if thresholded is not None and not isinstance(thresholded, Thresholded):
            raise arg_error("thresholded", thresholded, "a Thresholded model or None")
        self.objective = objective
        self.cost_matrix = cost_matrix
        self.constraint = constraint
        self.thresholded = thresholded
        self.multilabel = bool(multilabel)
        self.batch_size = batch_size
        self.formula_kwargs = formula_kwargs
        self.result = None
        # Fail now, not after the first epoch, on a malformed objective or constraint.
        self._objective_name = _resolve_objective(objective, cost_matrix, formula_kwargs,
                                                  None, None)[1]
        _resolve_constraint(constraint, cost_matrix)
        if thresholded is not None:
            t = thresholded.threshold
            if t is None or t.ndim != int(self.multilabel):
                raise arg_error(
                    "thresholded", thresholded,
                    "a Thresholded model with one threshold per label (threshold=[...]) "
                    "when multilabel=True" if self.multilabel else
                    "a Thresholded model with one threshold (no cost_matrix) when "
                    "multilabel=False")

    @property
    def threshold(self):
        """The latest tuned threshold (``(L,)`` when multilabel), or None before any."""
        return None if self.result is None else self.result.threshold

    def _tune(self, y, scores, w):
        return tune_threshold(y, scores, self.objective, cost_matrix=self.cost_matrix,
                              constraint=self.constraint, sample_weight=w,
                              multilabel=self.multilabel, **self.formula_kwargs)

    def on_epoch_end(self, epoch, logs=None):
        y, scores, w = _predict_all(self.model, self.validation_data, self.batch_size)
        try:
            result = self._tune(y, scores, w)
        except ValueError as e:
            warn(f"ThresholdTuner: epoch {epoch + 1}: no threshold tuned ({e}); keeping "
                 f"the previous one.")
            result = None
        if result is not None:
            self.result = result
            if self.thresholded is not None:
                self.thresholded.threshold = result.threshold
        if logs is None:
            return
        # The same keys every epoch, so that history lists line up with epochs.
        name = self._objective_name
        if result is None:
            labels = [f"_{i}" for i in range(scores.shape[-1])] if self.multilabel else [""]
            for label in labels:
                logs[f"val_threshold{label}"] = float("nan")
                logs[f"val_{name}_at_threshold{label}"] = float("nan")
        elif isinstance(result, MultilabelThresholdResult):
            for label, (t, v) in enumerate(zip(result.threshold, result.value, strict=True)):
                logs[f"val_threshold_{label}"] = float(t)
                logs[f"val_{name}_at_threshold_{label}"] = float(v)
        else:
            logs["val_threshold"] = result.threshold
            logs[f"val_{name}_at_threshold"] = result.value

    def thresholded_model(self, *, return_scores=False):
        """A `Thresholded` model applying the latest tuned threshold to the model."""
        if self.result is None:
            raise ValueError("ThresholdTuner has not tuned a threshold yet: call it "
                             "through model.fit(..., callbacks=[tuner]) first.")
        return Thresholded(self.model, threshold=self.threshold, return_scores=return_scores)


DEFAULT_FIGURES = ("specificity", "sensitivity", "precision", "f1", "mcc",
                   "balanced_accuracy")


class ConfusionHistory(keras.callbacks.Callback):
    """The whole-validation-set confusion matrix at each epoch end, and its figures.

    Each epoch's matrix is appended to ``matrices``; each figure is logged as
    ``val_<name>`` (so it appears in ``model.fit(...).history``) and kept in
    ``history``; ``plot()`` draws them per epoch.

    Args:
        validation_data: a tuple ``(x, y)`` or ``(x, y, sample_weight)`` of arrays,
            or a re-iterable of such batches (a list, a ``tf.data.Dataset``).
        num_classes: ``K`` for a multiclass model with ``(n, K)`` outputs. Defaults to
            `None` (binary).
        threshold: binary decision threshold on the model's output, or a
            `ThresholdTuner` (placed before this callback) whose latest threshold is
            used. Defaults to `0.5`.
        from_logits: whether the model outputs logits. Defaults to `False`.
        figures: formula names to log. Defaults to
            ``("specificity", "sensitivity", "precision", "f1", "mcc",
            "balanced_accuracy")``.
        average: averaging of per-class formulas when ``K > 2``. Defaults to
            `"macro"`.
        batch_size: batch size for predicting the validation arrays. Defaults to
            `None`.

    Example:

    >>> history = ConfusionHistory((x_val, y_val))          # doctest: +SKIP
    >>> model.fit(x, y, epochs=5, callbacks=[history])      # doctest: +SKIP
    >>> history.matrices[-1], history.plot()                # doctest: +SKIP
    """

    def __init__(self, validation_data, *, num_classes=None, threshold=0.5, from_logits=False,
                 figures=DEFAULT_FIGURES, average="macro", batch_size=None):
        super().__init__()
        self.validation_data = _check_validation_data(validation_data)
        self.num_classes = check_num_classes(num_classes)
        if isinstance(threshold, ThresholdTuner):
            if from_logits:
                raise arg_error("from_logits", from_logits,
                                "False when threshold is a ThresholdTuner (its threshold is "
                                "in the units of the model's output)")
        else:
            # Checked here through the counting path itself: the message names threshold.
            confusion_matrix([0, 1], [0.0, 1.0], threshold=threshold)
        self.threshold = threshold
        self.from_logits = bool(from_logits)
        if isinstance(figures, str) or not figures:
            raise arg_error("figures", figures, "a non-empty sequence of formula names")
        self.figures = tuple(figures)
        for name in self.figures:
            fn = formulas.get(name)
            if fn is formulas.expected_cost:
                raise arg_error("figures", figures,
                                "formula names that need no cost matrix")
        self.average = average
        self.batch_size = batch_size
        self.matrices = []
        self.history = {name: [] for name in self.figures}

    def on_train_begin(self, logs=None):
        self.matrices = []
        self.history = {name: [] for name in self.figures}

    def _current_threshold(self):
        if isinstance(self.threshold, ThresholdTuner):
            t = self.threshold.threshold
            return 0.5 if t is None else t
        return self.threshold

    def _matrix(self, y, scores, w):
        t = self._current_threshold()
        from_logits = self.from_logits
        if self.num_classes is None and (isinstance(self.threshold, ThresholdTuner)
                                         or np.any(np.isinf(t))):
            # A tuned threshold is in the model's output units (a logit, say), and +inf
            # predicts nothing positive: count the decisions ``score >= t`` themselves,
            # as 0/1 scores at 0.5 (a NaN score stays NaN: invalid, not a negative).
            scores = np.asarray(scores, dtype="float64")
            scores = np.where(np.isnan(scores), np.nan, (scores >= t).astype("float64"))
            t, from_logits = 0.5, False
        cm = confusion_matrix(y, scores, self.num_classes, threshold=t,
                              from_logits=from_logits, sample_weight=w)
        return np.asarray(keras.ops.convert_to_numpy(cm))

    def on_epoch_end(self, epoch, logs=None):
        y, scores, w = _predict_all(self.model, self.validation_data, self.batch_size)
        cm = self._matrix(y, scores, w)
        self.matrices.append(cm)
        k = cm.shape[-1]
        for name in self.figures:
            kwargs = {"average": self.average} if name in formulas.PER_CLASS and k > 2 else {}
            value = float(formulas.get(name)(cm, **kwargs))
            self.history[name].append(value)
            if logs is not None:
                logs[f"val_{name}"] = value

    def plot(self, *, title=None):
        """The figures per epoch, a matplotlib Figure (`keras_confusion.plot`)."""
        from keras_confusion.plot import metric_history

        if not self.matrices:
            raise ValueError("ConfusionHistory has no epochs to plot yet: call it through "
                             "model.fit(..., callbacks=[history]) first.")
        return metric_history(self.history, title=title or "validation figures per epoch")
