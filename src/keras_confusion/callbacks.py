"""Keras callbacks over the whole validation set: threshold tuning and confusion history.

Per-batch figures mislead: these callbacks predict the whole validation set at the end
of each epoch and work on its confusion matrix.

* `ThresholdTuner` tunes the decision threshold (`tune_threshold`), logs it as
  ``val_threshold`` with the objective at it, and sets it on a `Thresholded` model.
* `ConfusionHistory` keeps the matrix of each epoch and logs its figures
  (``val_specificity``, ``val_sensitivity``, ...), with a plot per epoch.

Both need a model with one output. Where that output carries a Keras mask
(``Masking`` or ``Embedding(mask_zero=True)`` upstream), the masked samples (the padded
steps of a sequence) count nowhere, whatever their labels: the validation set is then
run through the model batch by batch, since ``model.predict`` drops the mask.

Values logged into ``logs`` reach ``model.fit(...).history`` and the callbacks after
these ones (pass them before e.g. ``EarlyStopping`` that monitors ``val_threshold``).
"""

from __future__ import annotations

import html

import keras
import numpy as np

from keras_confusion import formulas
from keras_confusion._backend import keras_mask
from keras_confusion._counting import decide
from keras_confusion._validation import (
    arg_error,
    check_sample_weight,
    check_task_args,
    warn,
)
from keras_confusion.counts import _logit, confusion_matrix
from keras_confusion.decisions import (
    MultilabelThresholdResult,
    check_binary_labels,
    check_scores,
    guaranteed_name,
    resolve_confidence,
    resolve_constraint,
    resolve_objective,
    tune_threshold,
)
from keras_confusion.thresholded import Thresholded

__all__ = ["ConfusionHistory", "ThresholdTuner"]

_VALIDATION_DATA = ("(x, y) or (x, y, sample_weight) of arrays, or a re-iterable of such "
                    "batches (a list, a tf.data.Dataset, a keras.utils.PyDataset)")


def _check_validation_data(validation_data):
    # As Keras' validation_data: a tuple is (x, y[, w]); a list is a sequence of batches.
    if isinstance(validation_data, tuple):
        if len(validation_data) not in (2, 3):
            raise arg_error("validation_data", f"<{type(validation_data).__name__} of "
                            f"{len(validation_data)} items>", _VALIDATION_DATA)
        return tuple(validation_data)
    if hasattr(validation_data, "shape"):
        # An array (x alone) iterates over its rows, each then taken for a batch:
        # Keras' "Invalid input shape" at the first epoch end.
        raise arg_error("validation_data", f"<array of shape {tuple(validation_data.shape)}>",
                        _VALIDATION_DATA)
    if not hasattr(validation_data, "__iter__"):
        raise arg_error("validation_data", validation_data, _VALIDATION_DATA)
    # It is read again at every epoch end: a generator would be empty at the second.
    if iter(validation_data) is validation_data:
        raise arg_error("validation_data", f"<one-shot {type(validation_data).__name__}>",
                        "re-iterable, as it is read again at every epoch end: a tuple "
                        "(x, y) of arrays, a list of batches, a tf.data.Dataset or a "
                        "keras.utils.PyDataset, not a generator or iterator")
    return validation_data


def _to_numpy(x):
    return None if x is None else np.asarray(keras.ops.convert_to_numpy(x))


def _numpy_batch(batch):
    # Batches of a tf.data.Dataset hold tf tensors, which JAX's predict refuses.
    x, y, *w = batch
    x = keras.tree.map_structure(_to_numpy, x)
    return x, keras.tree.map_structure(_to_numpy, y), (_to_numpy(w[0]) if w else None)


def _batches(validation_data, batch_size):
    """The validation set as NumPy batches ``(x, y, sample_weight or None)``."""
    if not isinstance(validation_data, tuple):
        for batch in validation_data:
            yield _numpy_batch(batch)
        return
    x, y, *w = validation_data
    w = w[0] if w else None
    n = len(keras.tree.flatten(x)[0])
    step = batch_size or 32  # Keras' default batch size
    for i in range(0, n, step):
        yield _numpy_batch(keras.tree.map_structure(lambda a, i=i: a[i:i + step],
                                                    (x, y) if w is None else (x, y, w)))


def _check_one_output(model, outputs, owner):
    if keras.tree.is_nested(outputs):
        flat = keras.tree.flatten(outputs)
        names = list(outputs) if isinstance(outputs, dict) else getattr(
            model, "output_names", None)
        named = f" {names}" if names else ""
        raise ValueError(
            f"{owner} must be used with a model with one output (a tensor of scores). "
            f"Received: a model with {len(flat)} outputs{named}. Pass a model of the "
            f"output to evaluate, e.g. keras.Model(model.inputs, model.outputs[0]).")


def _predict_all(model, validation_data, batch_size):
    """(y_true, scores, sample_weight) over the whole validation set, as NumPy."""
    if isinstance(validation_data, tuple):
        x, y, *w = validation_data
        scores = model.predict(x, batch_size=batch_size, verbose=0)
        return np.asarray(y), np.asarray(scores), (np.asarray(w[0]) if w else None)
    ys, ss, ws = [], [], []
    for x, y, w in _batches(validation_data, batch_size):
        ss.append(_to_numpy(model.predict_on_batch(x)))
        ys.append(y)
        ws.append(w)
    w = None if any(v is None for v in ws) else np.concatenate(ws)
    return np.concatenate(ys), np.concatenate(ss), w


def _weights_per_sample(w, shape):
    """Sample weights broadcast to the sample axes ``shape`` (a mask's, say)."""
    w = np.asarray(w)
    while w.ndim > len(shape) and w.shape[-1] == 1:
        w = w[..., 0]
    try:
        return np.broadcast_to(w.reshape(w.shape + (1,) * (len(shape) - w.ndim)), shape)
    except ValueError:
        raise arg_error("validation_data", f"<sample_weight of shape {w.shape}>",
                        f"sample weights of shape {shape[:1]} or {shape}, to match the "
                        f"samples of the model's output") from None


def _call_unmasked(model, validation_data, batch_size):
    """As `_predict_all`, calling the model batch by batch and leaving out the samples
    that its output's Keras mask marks as padding."""
    ys, ss, ws = [], [], []
    for x, y, w in _batches(validation_data, batch_size):
        out = model(x, training=False)
        s, mask = _to_numpy(out), _to_numpy(keras_mask(out))
        y = np.asarray(y)
        if mask is not None:
            mask = mask.astype(bool)
            if y.shape[:mask.ndim] != mask.shape:
                raise arg_error("validation_data", f"<labels of shape {y.shape}>",
                                f"labels whose leading axes {mask.shape} are those of the "
                                f"mask of the model's output")
            s, y = s[mask], y[mask]
            w = None if w is None else _weights_per_sample(w, mask.shape)[mask]
        ss.append(s)
        ys.append(y)
        ws.append(w)
    w = None if any(v is None for v in ws) else np.concatenate(ws)
    y, s = np.concatenate(ys), np.concatenate(ss)
    if s.shape[0] == 0:
        raise arg_error("validation_data", "<every sample masked>",
                        "at least one sample that the mask of the model's output keeps")
    return y, s, w


class _ValidationCallback(keras.callbacks.Callback):
    """Reads the validation set at each epoch end, honouring the output's mask."""

    def __init__(self, validation_data, batch_size):
        super().__init__()
        self.validation_data = _check_validation_data(validation_data)
        if batch_size is not None and (isinstance(batch_size, (bool, np.bool_)) or not
                                       isinstance(batch_size, (int, np.integer))
                                       or batch_size < 1):
            # 0 was read as Keras' default 32, and -5 as an empty validation set.
            raise arg_error("batch_size", batch_size, "an integer >= 1, or None (32)")
        self.batch_size = batch_size
        self._masked = None  # whether the model's output carries a mask, once seen

    def set_model(self, model):
        super().set_model(model)
        self._masked = None

    def _validation_samples(self):
        """(y_true, scores, sample_weight) as NumPy, masked samples left out."""
        if self._masked is None:
            # One eager call on the first batch: the structure of the output, and
            # whether it carries a mask (which predict would drop).
            x = next(iter(_batches(self.validation_data, self.batch_size)), None)
            if x is None:
                raise arg_error("validation_data", "<empty iterable>", "at least one batch")
            out = self.model(x[0], training=False)
            _check_one_output(self.model, out, type(self).__name__)
            self._masked = keras_mask(out) is not None
        if self._masked:
            return _call_unmasked(self.model, self.validation_data, self.batch_size)
        return _predict_all(self.model, self.validation_data, self.batch_size)


def _tuning_samples(y, scores, w, multilabel):
    """Sequence outputs as samples, as `ConfusionHistory` counts them: ``(B, ..., 1)``
    scores become ``(n,)`` (``(B, ..., L)`` become ``(n, L)`` when multilabel), the
    labels alike, and ``(B,)`` weights are repeated over the steps."""
    y, s = np.asarray(y), np.asarray(scores)
    if multilabel:
        samples = s.shape[:-1]
    elif s.ndim >= 2 and s.shape[-1] == 1:
        s = s[..., 0]  # one score per sample
        if y.shape == (*s.shape, 1):
            y = y[..., 0]
        samples = s.shape
    else:
        return y, s, w
    if len(samples) < 2 or y.shape != s.shape:
        return y, s, w  # already (n,) or (n, L); a mismatch is reported by the check
    n = int(np.prod(samples))
    if w is not None:
        w = _weights_per_sample(w, samples).reshape(n)
    rest = s.shape[len(samples):]
    return y.reshape((n, *rest)), s.reshape((n, *rest)), w


class ThresholdTuner(_ValidationCallback):
    """Tunes the decision threshold on the whole validation set at each epoch end.

    Logs ``val_threshold`` and ``val_<objective>_at_threshold`` (one of each per label,
    suffixed ``_<label>``, with ``multilabel=True``) into the logs and so into the
    history, keeps the latest `ThresholdResult` in ``result``, and assigns the
    threshold to ``thresholded`` if given, so that the model that applies it is
    up to date when training stops (e.g. by early stopping) and is saved.

    An epoch where tuning is impossible on this epoch's predictions (constant
    predictions early in training, a constraint no threshold meets) warns, logs NaN
    and keeps the previous threshold. Set-up errors raise at the epoch end where they
    are seen: a model with several outputs, an output of the wrong shape for
    ``multilabel``, labels outside {0, 1}, NaN scores, an objective that returns NaN.

    The model has one output: ``(batch, 1)`` scores, or ``(batch, L)`` with
    ``multilabel=True``. Extra axes are samples, as in `ConfusionHistory`: each step
    of a ``(batch, steps, 1)`` output is a sample, with labels of the same shape (or
    without the last axis) and ``(batch,)`` weights repeated over the steps. Steps
    masked by the output's Keras mask are left out, whatever their labels.

    Args:
        validation_data: a tuple ``(x, y)`` or ``(x, y, sample_weight)`` of arrays,
            or a re-iterable of such batches (a list, a ``tf.data.Dataset``, a
            ``keras.utils.PyDataset``; not a generator, which would be empty at the
            second epoch).
        objective: as in `tune_threshold`. Defaults to `None` (``"f1"``, or
            ``"expected_cost"`` with ``cost_matrix``).
        cost_matrix: ``(2, 2)`` costs, as in `tune_threshold`. Defaults to `None`.
        constraint: e.g. ``("recall", 0.95)``, as in `tune_threshold`. Defaults to
            `None`.
        confidence: guarantee the constraint's floor on new data with this
            probability, as in `tune_threshold`. The guarantee holds only for a
            calibration set used for nothing else: if ``validation_data`` also picks
            the epoch (early stopping, the best checkpoint), the epoch was chosen on it
            and the figure is optimistic again; keep a separate calibration set, or
            tune once after training with ``tune_threshold(..., confidence=c)`` on
            data that played no part. The guarantee is logged as
            ``val_<constraint>_bound`` and kept in ``thresholded``'s config. Defaults
            to `None`.
        thresholded: a `Thresholded` model (wrapping the model being trained) whose
            threshold is set at each epoch end. Defaults to `None`.
        multilabel: one threshold per label. Defaults to `False`.
        batch_size: batch size for predicting the validation arrays. Defaults to
            `None` (Keras' default, 32).
        **formula_kwargs: passed to the objective (e.g. ``beta=2.0``).

    Example:

    >>> tuner = ThresholdTuner((x_val, y_val), "f1")        # doctest: +SKIP
    >>> model.fit(x, y, epochs=5, callbacks=[tuner])        # doctest: +SKIP
    >>> deployable = tuner.thresholded_model()              # doctest: +SKIP
    """

    def __init__(self, validation_data, objective=None, *, cost_matrix=None, constraint=None,
                 confidence=None, thresholded=None, multilabel=False, batch_size=None,
                 **formula_kwargs):
        super().__init__(validation_data, batch_size)
        if thresholded is not None and not isinstance(thresholded, Thresholded):
            raise arg_error("thresholded", thresholded, "a Thresholded model or None")
        self.objective = objective
        self.cost_matrix = cost_matrix
        self.constraint = constraint
        self.thresholded = thresholded
        self.multilabel = check_task_args(multilabel=multilabel)["multilabel"]
        self.formula_kwargs = formula_kwargs
        self.result = None
        # Fail now, not after the first epoch, on a malformed objective or constraint.
        self._objective_name = resolve_objective(objective, cost_matrix, formula_kwargs,
                                                  None, None, constraint)[1]
        resolved = resolve_constraint(constraint, cost_matrix)
        self.confidence = resolve_confidence(confidence, resolved)
        self._bound_name = None if self.confidence is None else guaranteed_name(resolved)
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

    def _tune(self, y, scores, w, constraint):
        return tune_threshold(y, scores, self.objective, cost_matrix=self.cost_matrix,
                              constraint=constraint, sample_weight=w,
                              multilabel=self.multilabel,
                              confidence=None if constraint is None else self.confidence,
                              **self.formula_kwargs)

    def _check_tunable(self, y, s, w):
        """Raises on what no epoch can tune: set-up errors, not to become warnings."""
        if s.ndim != 1 + self.multilabel:
            raise ValueError(
                "ThresholdTuner needs model outputs of shape (batch, 1) (each step a "
                "sample for (batch, steps, 1)), or (batch, num_labels) with "
                f"multilabel=True. Received: outputs of shape {s.shape} with "
                f"multilabel={self.multilabel}.")
        try:
            check_scores(s)
            check_binary_labels(y, s.shape)
            check_sample_weight(w, s.shape[0])
            if self.confidence is not None and w is not None:
                raise arg_error("sample_weight", "<weights in validation_data>",
                                "None when confidence is given: the exact tests count "
                                "samples")
        except ValueError as e:
            raise ValueError(f"ThresholdTuner: the validation data cannot be tuned on: "
                             f"{e}") from None

    def on_epoch_end(self, epoch, logs=None):
        y, scores, w = _tuning_samples(*self._validation_samples(), self.multilabel)
        self._check_tunable(y, scores, w)
        # What can fail on a sound set-up is this epoch's predictions: constant scores,
        # or a constraint that no threshold meets on them.
        constant = [i for i, col in enumerate(scores.reshape(len(scores), -1).T)
                    if np.all(col == col[0])]
        result = None
        if constant:
            what = f" (label {constant[0]})" if self.multilabel else ""
            warn(f"ThresholdTuner: epoch {epoch + 1}: no threshold tuned (constant "
                 f"predictions{what}: a threshold could only call every sample positive "
                 f"or none); keeping the previous one.")
        else:
            try:
                result = self._tune(y, scores, w, self.constraint)
            except ValueError as e:
                if self.constraint is None:
                    raise
                # Without the constraint it tunes, or raises the set-up error it hides.
                self._tune(y, scores, w, None)
                warn(f"ThresholdTuner: epoch {epoch + 1}: no threshold tuned ({e}); "
                     f"keeping the previous one.")
        if result is not None:
            self.result = result
            if self.thresholded is not None:
                self.thresholded.threshold = result.threshold
                self.thresholded.guarantee = result.guarantee
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
        if self.confidence is not None:
            bound_key = f"val_{self._bound_name}_bound"
            bounds = (np.full(scores.shape[-1] if self.multilabel else 1, np.nan)
                      if result is None else np.atleast_1d(result.bound))
            if self.multilabel:
                for label, b in enumerate(bounds):
                    logs[f"{bound_key}_{label}"] = float(b)
            else:
                logs[bound_key] = float(bounds[0])

    def thresholded_model(self, *, return_scores=False):
        """A `Thresholded` model applying the latest tuned threshold to the model."""
        if self.result is None:
            raise ValueError("ThresholdTuner has not tuned a threshold yet: call it "
                             "through model.fit(..., callbacks=[tuner]) first.")
        return Thresholded(self.model, threshold=self.threshold, return_scores=return_scores,
                           guarantee=self.result.guarantee)


DEFAULT_FIGURES = ("specificity", "sensitivity", "precision", "f1", "mcc",
                   "balanced_accuracy")


class ConfusionHistory(_ValidationCallback):
    """The whole-validation-set confusion matrix at each epoch end, and its figures.

    Each epoch's matrix is appended to ``matrices``; each figure is logged as
    ``val_<name>`` (so it appears in ``model.fit(...).history``) and kept in
    ``history``; ``plot()`` draws them per epoch. Where the model already logs
    ``val_<name>`` (a compiled ``kc.metrics.Specificity`` logs ``val_specificity``),
    the figure is logged as ``val_<name>_1`` instead, with a `ConfusionWarning`, as
    Keras names a second compiled metric of the same name; ``logged_names`` maps each
    figure to its key.

    The model has one output (a ``ValueError`` names its outputs otherwise); extra
    axes of it are samples, e.g. each step of a ``(batch, steps, 1)`` output. Steps
    masked by the output's Keras mask count nowhere, whatever their labels (padding
    labelled ``-1`` included), as in `keras_confusion.metrics` under ``evaluate``.

    Args:
        validation_data: a tuple ``(x, y)`` or ``(x, y, sample_weight)`` of arrays,
            or a re-iterable of such batches (a list, a ``tf.data.Dataset``, a
            ``keras.utils.PyDataset``; not a generator, which would be empty at the
            second epoch).
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
            `None` (Keras' default, 32).

    Example:

    >>> history = ConfusionHistory((x_val, y_val))          # doctest: +SKIP
    >>> model.fit(x, y, epochs=5, callbacks=[history])      # doctest: +SKIP
    >>> history.matrices[-1], history.plot()                # doctest: +SKIP
    """

    def __init__(self, validation_data, *, num_classes=None, threshold=0.5, from_logits=False,
                 figures=DEFAULT_FIGURES, average="macro", batch_size=None):
        super().__init__(validation_data, batch_size)
        self.num_classes, from_logits = check_task_args(
            num_classes=num_classes, from_logits=from_logits).values()
        if isinstance(threshold, ThresholdTuner):
            if from_logits:
                raise arg_error("from_logits", from_logits,
                                "False when threshold is a ThresholdTuner (its threshold is "
                                "in the units of the model's output)")
        else:
            # Checked here through the counting path itself: the message names threshold.
            confusion_matrix([0, 1], [0.0, 1.0], threshold=threshold)
        self.threshold = threshold
        self.from_logits = from_logits
        if isinstance(figures, str) or not figures:
            raise arg_error("figures", figures, "a non-empty sequence of formula names")
        self.figures = tuple(figures)
        for name in self.figures:
            fn = formulas.get(name)
            if fn is formulas.expected_cost:
                raise arg_error("figures", figures,
                                "formula names that need no cost matrix")
        self.average = average
        self.matrices = []
        self.history = {name: [] for name in self.figures}
        self._last = None  # binary: the last epoch's curve, for to_html
        self.logged_names = {}

    def on_train_begin(self, logs=None):
        self.matrices = []
        self.history = {name: [] for name in self.figures}
        self._last = None
        self.logged_names = {}

    def _key(self, name, logs):
        """``val_<name>``, or the first free ``val_<name>_<i>`` where the model (a
        compiled metric of that name) has logged it: never written over."""
        if name not in self.logged_names:
            key, i = f"val_{name}", 0
            while key in logs:
                i += 1
                key = f"val_{name}_{i}"
            if i:
                warn(f"ConfusionHistory: the model already logs 'val_{name}' (a compiled "
                     f"metric of that name); this callback's {name} is logged as "
                     f"{key!r}")
            self.logged_names[name] = key
        return self.logged_names[name]

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
            scores = np.where(np.isnan(scores), np.nan, decide(scores, t).astype("float64"))
            t, from_logits = 0.5, False
        cm = confusion_matrix(y, scores, self.num_classes, threshold=t,
                              from_logits=from_logits, sample_weight=w)
        return np.asarray(keras.ops.convert_to_numpy(cm))

    def on_epoch_end(self, epoch, logs=None):
        y, scores, w = self._validation_samples()
        cm = self._matrix(y, scores, w)
        self.matrices.append(cm)
        if self.num_classes is None:
            self._last = self._curve(y, scores, w)
        k = cm.shape[-1]
        for name in self.figures:
            kwargs = {"average": self.average} if name in formulas.PER_CLASS and k > 2 else {}
            value = float(formulas.get(name)(cm, **kwargs))
            self.history[name].append(value)
            if logs is not None:
                logs[self._key(name, logs)] = value

    def _curve(self, y, scores, w):
        """The epoch's binary curve as a report keeps it (`plot.drawn_points`), in the
        model's output units, with the threshold in those units and, for weighted
        samples, the sums of squared weights of the matrix (what a report's intervals
        need)."""
        from keras_confusion._counting import exact_curve
        from keras_confusion.plot import drawn_points

        t = float(self._current_threshold())
        squares = None if w is None else self._matrix(y, scores, np.square(w))
        if self.from_logits:  # the exact rule: logit >= log(t / (1 - t))
            t = _logit(t)
        y, s, w = _tuning_samples(y, scores, w, False)
        y = np.asarray(y, dtype="float64").reshape(-1)
        s = np.asarray(s, dtype="float64").reshape(-1)
        # Samples the matrix counts: finite scores, labels 0 or 1 (others are invalid).
        ok = np.isfinite(s) & ((y == 0) | (y == 1))
        w = None if w is None else np.asarray(w, dtype="float64").reshape(-1)[ok]
        thresholds, cms = exact_curve(y[ok].astype(np.intp), s[ok], w)
        keep = drawn_points(thresholds, cms, t)
        return thresholds[keep], cms[keep], squares, t

    def to_html(self, path=None, *, class_names=None, cost_matrix=None, bootstrap=1000,
                seed=0):
        """The last epoch's validation report as one self-contained HTML page (as
        `Report.to_html`), with the figures per epoch after it.

        A binary model's page has the threshold explorer over that epoch's validation
        scores, in the model's output units (logits with ``from_logits=True``), at the
        threshold of the last epoch (a `ThresholdTuner`'s, marked "tuned"); a
        multiclass model's has the matrix as a heat table.

        Args:
            path: where to write the page (whole or not at all); `None` only returns
                it. Defaults to `None`.
            class_names: ``K`` class names. Defaults to `None` (``"0"``, ``"1"``, ...).
            cost_matrix: ``(K, K)`` costs for the expected cost. Defaults to `None`.
            bootstrap: replicas for the intervals (`keras_confusion.report`). Defaults
                to `1000`.
            seed: seed of the replicas. Defaults to `0`.

        Returns:
            The HTML text.
        """
        from keras_confusion._files import write_atomic
        from keras_confusion._html import figure_png, report_html, table
        from keras_confusion.report import Report

        if not self.matrices:
            raise ValueError("ConfusionHistory has no epochs to report yet: call it through "
                             "model.fit(..., callbacks=[history]) first.")
        curve = squares = threshold = None
        if self._last is not None:
            thresholds, cms, squares, threshold = self._last
            curve = (thresholds, cms)
        report = Report(self.matrices[-1], class_names=class_names, cost_matrix=cost_matrix,
                        bootstrap=bootstrap, seed=seed, threshold=threshold, curve=curve,
                        squared_weights=squares)
        tuned = self.threshold.threshold if isinstance(self.threshold, ThresholdTuner) \
            else None
        epochs = table(["epoch", *(html.escape(f) for f in self.figures)],
                       [[f"<td>{i + 1}</td>",
                         *(f"<td>{self.history[f][i]:.4f}</td>" for f in self.figures)]
                        for i in range(len(self.matrices))])
        after = (f"<h2>Validation figures per epoch</h2>{epochs}"
                 f"{figure_png(self.plot())}")
        page = report_html(report, tuned=tuned, after=after,
                           title=f"Validation report after epoch {len(self.matrices)}")
        if path is not None:
            write_atomic(path, page.encode("utf-8"))
        return page

    def plot(self, *, title=None):
        """The figures per epoch, a matplotlib Figure (`keras_confusion.plot`)."""
        from keras_confusion.plot import metric_history

        if not self.matrices:
            raise ValueError("ConfusionHistory has no epochs to plot yet: call it through "
                             "model.fit(..., callbacks=[history]) first.")
        return metric_history(self.history, title=title or "validation figures per epoch")
