"""Streaming metrics: confusion counts accumulated over the whole data set.

A metric computed per batch and averaged "lies": on a batch with no positives recall
is undefined, and the mean of per-batch F1 scores is not the F1 score of the data set
(keras#5794). These metrics keep the counts themselves as state, summed over every
batch of an epoch or of ``evaluate``, and apply one formula of `keras_confusion.formulas`
to them in ``result()``.

Counting:

* `ConfusionMatrix` (and every formula metric) turns each sample into the code of its
  cell, ``true * K + pred`` (``label * 4 + true * 2 + pred`` when multilabel), and adds
  the codes into the state: O(N) per batch. Large matrices (K = 1,000) are updated by a
  scatter-add at the codes, never through a fresh K*K array per batch.
* `ThresholdConfusion` keeps a histogram of how many thresholds lie below each score
  (one O(1) bucketing pass, `counts.threshold_buckets`) and turns it into the
  ``(T, 2, 2)`` matrices with a reverse cumulative sum in ``result()``: O(N + T).

On eager torch on a CPU, an unweighted batch is counted in torch's own ops
(`_backend.eager_torch`): the same codes, the whole batch checked with one scalar read
per check, added in place. Through ``keras.ops`` each op pays Keras' Python, and an
update of 8,192 samples took several times the bare kernel's time. A batch with an
invalid sample, or one this path does not take, goes the general way.

Exact counts: a float32 variable stops counting whole samples exactly at 2**24
(16.7 M). Unweighted batches are counted in an int32 state, exact to 2**31 per cell;
before a batch could take a cell past that, the int32 counts are carried (exactly)
into an unevaluated sum of two float32 variables, ``hi + lo``, which holds integer
counts exactly up to 2**47 on every backend, JAX's default 32-bit mode included.
No per-batch pass over the whole state: one scalar comparison decides the carry.
``result()`` is float32 (float64, and exact, with ``dtype="float64"`` where the
backend has float64); ``counts()`` returns the exact float64 counts.

Sample weights: ``update_state`` takes ``sample_weight`` everywhere; in
``model.compile`` Keras passes sample weights only to ``weighted_metrics=[...]``.
Weighted batches go to the compensated pair (TwoSum at each update); integer weights
are counted exactly while the weights one chunk of 2**20 samples adds to a cell stay
below 2**24 (each chunk is histogrammed in float32); other weights carry float32
rounding.

Invalid samples: NaN or inf scores, labels outside the classes and non-finite or
negative weights are never counted as decisions. They go to an ``invalid`` tally (one
per sample, whatever its weight), and ``result()`` warns with the count when it runs
eagerly. Compiled steps cannot raise, so nothing in ``update_state`` raises on values.
"""

from __future__ import annotations

import keras
import numpy as np
from keras import ops

from keras_confusion import _backend, counts, formulas
from keras_confusion._backend import eager_torch
from keras_confusion._counting import cell_codes, decide, tail_sums
from keras_confusion._validation import (
    arg_error,
    check_average,
    check_bool,
    check_cost_matrix,
    check_num_classes,
    check_positive,
    check_task_args,
    check_threshold,
    warn,
)
from keras_confusion.counts import (
    DecisionThreshold,
    drop_trailing_one,
    floor_rule,
    format_inputs,
    hard_codes,
    prepare_plan,
    threshold_codes,
    threshold_matrices,
    threshold_plan,
    thresholds_grid,
)

__all__ = [
    "MCC",
    "BalancedAccuracy",
    "CohenKappa",
    "ConfusionMatrix",
    "ConfusionMetric",
    "ExpectedCost",
    "FBeta",
    "Precision",
    "Sensitivity",
    "Specificity",
    "ThresholdConfusion",
]

_register = keras.saving.register_keras_serializable(package="keras_confusion")

# Above this many cells, a batch is added at its codes only (O(N)); below it, one
# elementwise pass over all cells is cheaper than gathers and scatters.
_DENSE_CELLS = 1 << 17
# The unweighted int32 counts hold at most this many samples (no cell can overflow)
# before they are carried into the float32 pair; a batch of more is added in chunks.
_CARRY_AT = 2**31 - 1
_CHUNK = 1 << 30


class _CountingMetric(keras.metrics.Metric):
    """Keeps ``num_cells`` counts plus an invalid tally, in two variables.

    Unweighted batches are added to ``counts_int``, int32 and exact: the cells, the
    tally, then the number of samples added since the last carry. Before a batch could
    overflow a cell, the cells and the tally are carried into ``counts_pair``, a
    compensated float32 pair (rows ``hi`` and ``lo``, exact for integer counts to
    2**47), where weighted batches go too. Two variables, not four: on JAX every state
    array is an argument of the compiled step, and each costs about 1 us a call (an
    update of 64 samples: 5.2 us with one array, 6.3 with two, 8.1 with four).
    """

    def __init__(self, num_cells: int, *, name=None, dtype=None):
        super().__init__(name=name, dtype=dtype)
        self._num_cells = int(num_cells)
        self.counts_int = self.add_variable(
            shape=(self._num_cells + 2,), initializer="zeros", dtype="int32",
            aggregation="sum", name="counts_int")
        self.counts_pair = self.add_variable(
            shape=(2, self._num_cells + 1), initializer="zeros", dtype="float32",
            aggregation="sum", name="counts_pair")
        self._views = (None, None)  # `_eager_state`'s torch tensor and its views
        self._warned_invalid = False  # whether result() warned since the last reset

    def _cell_codes(self, codes, valid, weights):
        """Flat codes with the invalid ones sent to the tally cell, and their weights."""
        valid = ops.reshape(valid, (-1,))
        codes = ops.where(valid, ops.reshape(codes, (-1,)), self._num_cells)
        if weights is not None:
            # An invalid sample is tallied once, whatever its (possibly NaN) weight.
            weights = ops.where(valid, ops.reshape(ops.cast(weights, "float32"), (-1,)), 1.0)
        return codes, weights

    def _accumulate(self, codes, weights, scores=None):
        """Add one batch from `_cell_codes`: flat codes in [0, num_cells], weights or None;
        ``scores``, the batch's scores, measures the work behind the codes."""
        n = codes.shape[0]
        chunk = _CHUNK if weights is None else counts.WEIGHTED_CHUNK
        if n is not None and n > chunk:
            # Unweighted, an int32 cell holds 2**31 - 1. Weighted, a float32 histogram
            # adds one weight at a time: a cell past 2**24 would stop growing exactly
            # (6 M weights of 3 counted 18,407,592). Either way, chunk by chunk. No
            # ``scores``: they only matter under `one_thread_codes`' 65,536 values.
            for i in range(0, n, chunk):
                self._accumulate(codes[i:i + chunk], weights[i:i + chunk]
                                 if weights is not None else None)
            return
        if weights is None:
            self._count(codes, scores)
        else:
            self._add_weighted(codes, weights)

    def _eager_state(self):
        """``(cells and tally, pending)``: views of the eager torch storage of
        ``counts_int`` (`eager_torch.states`), or None. The views are kept while the
        storage is the same tensor (making two costs about 1 us an update)."""
        state = eager_torch.states(self.counts_int)
        if state is None:
            return None
        tensor, views = self._views
        if tensor is not state[0]:
            views = (state[0][:-1], state[0][-1:])
            self._views = (state[0], views)
        return views

    def _update_eagerly(self, y_true, y_pred, sample_weight) -> bool:
        """Count the batch in torch's own ops (`eager_torch`: eager torch on a CPU,
        unweighted, no Keras mask, a batch the subclass's ``_eager_codes`` takes).
        False when it is left to the general path."""
        if sample_weight is not None:
            return False
        state = self._eager_state()
        tensors = None if state is None else eager_torch.inputs(y_true, y_pred)
        if tensors is None or tensors[1].numel() > _CHUNK \
                or _backend.keras_mask(y_pred) is not None:
            return False
        codes = self._eager_codes(*tensors)
        if codes is None:
            return False
        self._count_eagerly(state, codes)
        return True

    def _count_eagerly(self, state, codes):
        """`_count` on the storage of an eager torch state (`_eager_state`)."""
        counts_now, pending = state
        codes = eager_torch.flat(codes)
        if pending.item() > _CARRY_AT - codes.shape[0]:
            _backend.carry_counts(self.counts_int, self.counts_pair, full=True)
        eager_torch.add_codes_(counts_now, pending, codes)

    def _count(self, codes, scores=None):
        """Unweighted: the codes' histogram added to the int32 ``counts``, after carrying
        them into the float32 pair if this batch could overflow a cell."""
        state = self._eager_state()
        if state is not None:
            self._count_eagerly(state, codes.to(state[0].device))
            return
        dense = self._num_cells + 1 <= _DENSE_CELLS
        n = ops.cast(ops.shape(codes)[0], "int32")
        _backend.carry_counts(self.counts_int, self.counts_pair,
                              full=self.counts_int.value[-1] > _CARRY_AT - n)
        _backend.add_codes(self.counts_int, codes, dense=dense, scores=scores)

    def _add_weighted(self, codes, weights):
        """Weighted: added to the small part of the pair, then renormalised (every cell
        of a dense state; the touched cells of a large one)."""
        cells = self._num_cells + 1
        pair_now = _backend.in_place_tensor(self.counts_pair)
        if pair_now is not None:
            # A torch tensor or a tf.Variable: the same arithmetic, in the state's storage.
            _backend.compensated_add_(pair_now, codes, weights, dense=cells <= _DENSE_CELLS)
            return
        pair = self.counts_pair.value
        hi, lo = pair[0], pair[1]
        if cells <= _DENSE_CELLS:
            lo = _backend.add_counts(lo, codes, weights)
            hi, lo = _backend.two_sum(hi, lo)
        else:
            lo = _backend.scatter_add(lo, codes, weights)
            # Only the touched cells change; the duplicates of a code all compute the
            # same pair, so scattering it back is safe.
            s, err = _backend.two_sum(ops.take(hi, codes), ops.take(lo, codes))
            index = ops.expand_dims(codes, -1)
            hi = ops.scatter_update(hi, index, s)
            lo = ops.scatter_update(lo, index, err)
        self.counts_pair.assign(ops.stack([hi, lo]))

    def _cells(self):
        """The counts (without the invalid tally) as float32, or float64 with
        ``dtype="float64"`` where the backend has it; warns about invalid samples."""
        pair = self.counts_pair.value
        wide = "float64" if self.dtype == "float64" and _backend.has_float64(pair) else "float32"
        pair = ops.cast(pair, wide)  # in float64, hi + lo is exact
        # Inside a data-parallel step each replica holds only its own counts.
        total = _backend.replica_sum(
            pair[0] + (pair[1] + ops.cast(self.counts_int.value[:-1], wide)), processes=False)
        invalid = total[self._num_cells]
        # Once per accumulation: Keras reads result() after every batch of an eager
        # evaluate, and each read warned again (3 batches, 4 warnings).
        if not self._warned_invalid and _backend.has_value(invalid):
            n = float(ops.convert_to_numpy(invalid))
            if n > 0:
                self._warned_invalid = True
                warn(f"{type(self).__name__} `{self.name}` left {n:.0f} invalid samples out "
                     "of its counts so far (NaN or inf scores, labels outside the classes, "
                     "or non-finite or negative sample weights); `.invalid` holds the "
                     "total.", stacklevel=4)
        return total[: self._num_cells]

    def reset_state(self):
        super().reset_state()
        self._warned_invalid = False

    def _exact(self) -> np.ndarray:
        pair = np.asarray(ops.convert_to_numpy(self.counts_pair.value), dtype="float64")
        ints = np.asarray(ops.convert_to_numpy(self.counts_int.value), dtype="float64")
        return pair[0] + pair[1] + ints[:-1]

    @property
    def invalid(self) -> float:
        """Number of samples left out as invalid since the last ``reset_state``."""
        return float(self._exact()[self._num_cells])


@_register
class ConfusionMatrix(_CountingMetric):
    """Confusion matrix accumulated over every batch (the whole data set).

    Rows are the true class, columns the predicted class (scikit-learn's orientation):
    binary is ``[[TN, FP], [FN, TP]]``. A binary sample is positive when
    ``score >= threshold``; a multiclass decision is the argmax of the scores.
    Samples that a Keras mask on ``y_pred`` marks out are left out (not counted, not
    tallied as invalid), as are those of every metric here.

    Args:
        num_classes: number of classes ``K``. With ``K = 2``, ``y_pred`` is the score of
            class 1 (or two class scores on a last axis of 2, decided by their argmax).
            Defaults to `2`.
        threshold: decision threshold in [0, 1] for binary and multilabel tasks; a
            sequence gives one per label. Two class scores on a last axis of 2 refuse
            any but the default (their argmax decides). Defaults to `0.5`.
        from_logits: whether ``y_pred`` holds logits (the threshold stays a
            probability). Defaults to `False`.
        multilabel: count one ``(2, 2)`` matrix per label of ``(N, L)`` inputs.
            Defaults to `False`.
        num_labels: ``L``, required when ``multilabel=True`` (the state is created
            before any data is seen). Defaults to `None`.
        name: name of the metric. Defaults to `"confusion_matrix"`.
        dtype: `"float64"` makes ``result()`` float64 (exact counts past 2**24) where
            the backend has float64 (not JAX without x64); any other dtype leaves it
            float32 (counting in half precision would overflow). Defaults to `None`.

    Returns:
        ``result()``: float32 ``(K, K)`` counts, or ``(L, 2, 2)`` when multilabel.
        Weighted by ``sample_weight`` when one is given.

    Example:

    >>> m = ConfusionMatrix()
    >>> m.update_state([0, 1, 1, 0], [0.2, 0.7, 0.4, 0.5])
    >>> m.update_state([1], [0.9])
    >>> keras.ops.convert_to_numpy(m.result()).tolist()
    [[1.0, 1.0], [1.0, 2.0]]
    """

    def __init__(self, num_classes=2, threshold=0.5, from_logits=False, multilabel=False,
                 num_labels=None, *, name="confusion_matrix", dtype=None):
        num_classes = check_num_classes(num_classes, allow_none=False)
        check_task_args(num_classes=num_classes, multilabel=multilabel, from_logits=from_logits,
                        binary_num_classes=2)
        if multilabel:
            if isinstance(num_labels, bool) or not isinstance(num_labels, (int, np.integer)) \
                    or num_labels < 1:
                raise arg_error("num_labels", num_labels,
                                "an integer >= 1 (the number of labels) when multilabel=True")
            shape = (int(num_labels), 2, 2)
        else:
            if num_labels is not None:
                raise arg_error("num_labels", num_labels, "None unless multilabel=True")
            shape = (num_classes, num_classes)
        threshold = check_threshold(threshold)
        if num_classes > 2 and not multilabel and not (np.ndim(threshold) == 0
                                                       and threshold == 0.5):
            # It was accepted and ignored.
            raise arg_error("threshold", threshold, f"0.5 (the default) with num_classes="
                            f"{num_classes}: multiclass decisions are the argmax")
        if np.ndim(threshold) == 1 and len(threshold) not in (1, shape[0] if multilabel else 1):
            raise arg_error("threshold", list(threshold),
                            "a number, or one threshold per label when multilabel=True")
        self.num_classes = num_classes
        self.threshold = threshold
        self._decision = DecisionThreshold(threshold, from_logits)
        # Two class scores on a last axis of 2 are decided by their argmax: a threshold
        # other than the default has no effect on them (`_check_two_scores`).
        self._threshold_set = not multilabel and not (np.ndim(threshold) == 0
                                                      and threshold == 0.5)
        self.from_logits = from_logits
        self.multilabel = multilabel
        self.num_labels = shape[0] if multilabel else None
        self._shape = shape
        super().__init__(int(np.prod(shape)), name=name, dtype=dtype)

    def update_state(self, y_true, y_pred, sample_weight=None):
        """Add a batch of labels, scores and optional weights to the counts."""
        if self._threshold_set:
            self._check_two_scores(y_pred)
        if self._update_eagerly(y_true, y_pred, sample_weight):
            return
        num_classes = self.num_classes
        if num_classes == 2 and len(getattr(y_pred, "shape", np.shape(y_pred))) < 2:
            # A 1-D batch of two scores is two samples, not the two class scores of one.
            num_classes = None
        fmt = format_inputs(y_true, y_pred, num_classes, self.multilabel, sample_weight,
                      _backend.keras_mask(y_pred))
        if fmt.num_labels != (self.num_labels or 1):
            raise arg_error("y_pred", f"<tensor with {fmt.num_labels} labels>",
                            f"of shape (..., {self.num_labels}) to match num_labels")

        def codes_and_weights():
            codes, valid = hard_codes(fmt, self._decision, self.from_logits)
            weights = fmt.sample_weight
            if weights is not None and fmt.task != "multiclass":
                weights = ops.broadcast_to(weights, ops.shape(codes))
            return self._cell_codes(codes, valid, weights)

        classes = fmt.num_classes if fmt.task == "multiclass" else None
        self._accumulate(*_backend.fused(codes_and_weights, fmt.y_pred, classes), fmt.y_pred)

    def _check_two_scores(self, y_pred):
        """Refuse two class scores on a last axis of 2 under a threshold that is not
        the default: their argmax decides, and the threshold was accepted and ignored
        (``ConfusionMatrix(threshold=0.9)`` counted a softmax's [0.2, 0.8] positive)."""
        shape = getattr(y_pred, "shape", None)
        shape = np.shape(y_pred) if shape is None else tuple(shape)
        if len(shape) >= 2 and shape[-1] == 2:
            raise arg_error(
                "threshold", self.threshold,
                f"0.5 (the default) for y_pred of shape {shape}: two class scores on a "
                "last axis of 2 are decided by their argmax; for a threshold, pass the "
                "scores of class 1, y_pred[..., 1] (or [..., 1:])")

    def _eager_codes(self, y, p):
        """The cell codes of a batch of CPU torch tensors, as `hard_codes` makes them,
        or None for the general path: shapes it should check, one-hot labels, and
        batches with an invalid sample."""
        ps, ts = tuple(p.shape), tuple(y.shape)
        k = self.num_classes
        if not ps and (self.multilabel or k > 2):
            return None  # one score: no class or label axis, which the general path says
        if not self.multilabel and (k > 2 or (len(ps) >= 2 and ps[-1] == 2)):
            if ps[-1] != k or ts not in (ps[:-1], (*ps[:-1], 1)):
                return None
            true = eager_torch.classes(eager_torch.flat(y), k)
            if true is None:
                return None
            pred, finite = _backend.row_argmax(p.reshape(-1, k))
            return cell_codes(true, pred, k) if bool(finite.all()) else None
        if self.multilabel:
            if ts != ps or ps[-1] != self.num_labels:
                return None
        elif drop_trailing_one(ts) != drop_trailing_one(ps):
            return None
        else:  # (N,) against (N, 1): one axis each, or the codes would broadcast
            y, p = eager_torch.flat(y), eager_torch.flat(p)
        true = eager_torch.classes(y, 2)
        if true is None or eager_torch.score_range(p) is None:
            return None
        thr = self._decision.by_dtype[eager_torch.dtype_name(p)]
        codes = cell_codes(true, decide(p, eager_torch.threshold(thr, p)), 2)
        if self.multilabel:
            codes = codes + eager_torch.label_offsets(self.num_labels)
        return codes

    def _matrix(self):
        return ops.reshape(self._cells(), self._shape)

    def result(self):
        return self._matrix()

    def counts(self) -> np.ndarray:
        """The exact accumulated counts as a float64 NumPy array (eager only).

        ``result()`` is float32, which rounds counts above 2**24; the state itself
        does not, and this reads it without rounding.
        """
        return self._exact()[: self._num_cells].reshape(self._shape)

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        # Saved before a multiclass threshold was refused: it had no effect, and the
        # metric loads as it counted.
        if not config.get("multilabel") and (config.get("num_classes") or 2) > 2:
            config["threshold"] = 0.5
        return cls(**config)

    def get_config(self):
        threshold = self.threshold
        return {
            "num_classes": self.num_classes,
            "threshold": threshold.tolist() if isinstance(threshold, np.ndarray) else threshold,
            "from_logits": self.from_logits,
            "multilabel": self.multilabel,
            "num_labels": self.num_labels,
            "name": self.name,
            "dtype": self.dtype,
        }


@_register
class ConfusionMetric(ConfusionMatrix):
    """Any formula of `keras_confusion.formulas` over the whole-data-set matrix.

    Args:
        formula: a formula name (``"f1"``, ``"mcc"``, ...) or a callable
            ``(..., K, K) -> (...)``; see `keras_confusion.formulas.get`.
        formula_kwargs: keyword arguments of the formula (``beta``, ``average``,
            ``zero_division``, ...). Defaults to `None`.
        num_classes, threshold, from_logits, multilabel, num_labels: how to count, as
            `ConfusionMatrix`.
        name: name of the metric. Defaults to the formula's name.
        dtype: `"float64"` makes ``result()`` float64 (exact counts past 2**24) where
            the backend has float64 (not JAX without x64); any other dtype leaves it
            float32 (counting in half precision would overflow). Defaults to `None`.

    Example:

    >>> m = ConfusionMetric("npv")
    >>> m.update_state([0, 1, 1, 0], [0.2, 0.7, 0.4, 0.5])
    >>> float(m.result())
    0.5
    """

    def __init__(self, formula, formula_kwargs=None, num_classes=2, threshold=0.5,
                 from_logits=False, multilabel=False, num_labels=None, *, name=None,
                 dtype=None):
        if isinstance(formula, dict):  # a serialized callable, from get_config
            formula = keras.saving.deserialize_keras_object(formula)
        fn = formulas.get(formula)
        if formula_kwargs is not None and not isinstance(formula_kwargs, dict):
            raise arg_error("formula_kwargs", formula_kwargs,
                            "a dict of the formula's keyword arguments, or None")
        kwargs = dict(formula_kwargs or {})
        formulas.check_kwargs(fn, kwargs, given_by=("multilabel",),
                              owner="ConfusionMetric's formula_kwargs")
        # The task first: the formula's arguments are checked against it.
        num_classes = check_num_classes(num_classes, allow_none=False)
        check_task_args(num_classes=num_classes, multilabel=multilabel, from_logits=from_logits,
                        binary_num_classes=2)
        per_class = formulas.name_of(fn) in formulas.PER_CLASS
        if per_class:
            average = check_average(kwargs.get("average", "binary"))
            if average == "binary" and num_classes != 2 and not multilabel:
                raise arg_error("average", average,
                                f'"macro", "micro", "weighted" or None for num_classes='
                                f'{num_classes} ("binary" scores class 1 of two classes)')
            if multilabel:
                kwargs["multilabel"] = True
        if "cost_matrix" in kwargs:
            kwargs["cost_matrix"] = check_cost_matrix(
                kwargs["cost_matrix"], None if multilabel else num_classes)
        # Fail now on bad formula arguments, not inside the first compiled step.
        k = 2 if multilabel else num_classes
        fn(np.ones((2, k, k) if multilabel else (k, k)), **kwargs)
        super().__init__(num_classes, threshold, from_logits, multilabel, num_labels,
                         name=name or formulas.name_of(fn), dtype=dtype)
        self.formula = fn
        self.formula_kwargs = kwargs

    def result(self):
        return self.formula(self._matrix(), **self.formula_kwargs)

    def get_config(self):
        name = formulas.name_of(self.formula)
        try:
            registered = formulas.get(name) is self.formula
        except ValueError:
            registered = False
        formula = name if registered else keras.saving.serialize_keras_object(self.formula)
        return {**super().get_config(), "formula": formula,
                "formula_kwargs": self._formula_config()}

    def _formula_config(self):
        return {k: (v.tolist() if isinstance(v, np.ndarray) else v)
                for k, v in self.formula_kwargs.items() if k != "multilabel"}


class _NamedMetric(ConfusionMetric):
    """A `ConfusionMetric` whose formula is fixed and whose arguments are its own."""

    def get_config(self):
        return {**ConfusionMatrix.get_config(self), **self._formula_config()}


@_register
class Specificity(_NamedMetric):
    """Specificity, ``TN / (TN + FP)``, over the whole data set.

    Args:
        num_classes, threshold, from_logits, multilabel, num_labels: how to count, as
            `ConfusionMatrix`.
        average: ``"binary"`` (class 1 of two), ``"macro"``, ``"micro"``,
            ``"weighted"`` or `None` (one value per class or label). Defaults to
            `"binary"`.
        zero_division: value when ``TN + FP == 0``. Defaults to `0.0`.
        name: name of the metric. Defaults to `"specificity"`.
        dtype: `"float64"` makes ``result()`` float64 (exact counts past 2**24) where
            the backend has float64 (not JAX without x64); any other dtype leaves it
            float32 (counting in half precision would overflow). Defaults to `None`.

    Example:

    >>> m = Specificity()
    >>> m.update_state([0, 0, 0, 1], [0.1, 0.6, 0.2, 0.9])
    >>> round(float(m.result()), 4)
    0.6667
    """

    def __init__(self, num_classes=2, threshold=0.5, from_logits=False, multilabel=False,
                 num_labels=None, *, average="binary", zero_division=0.0,
                 name="specificity", dtype=None):
        super().__init__(formulas.specificity,
                         {"average": average, "zero_division": zero_division},
                         num_classes, threshold, from_logits, multilabel, num_labels,
                         name=name, dtype=dtype)


@_register
class Sensitivity(_NamedMetric):
    """Sensitivity (recall, true positive rate), ``TP / (TP + FN)``, over the data set.

    Args as `Specificity`; ``zero_division`` applies when ``TP + FN == 0``. Name
    defaults to `"sensitivity"`.

    Example:

    >>> m = Sensitivity()
    >>> m.update_state([1, 1, 0, 1], [0.1, 0.6, 0.2, 0.9])
    >>> round(float(m.result()), 4)
    0.6667
    """

    def __init__(self, num_classes=2, threshold=0.5, from_logits=False, multilabel=False,
                 num_labels=None, *, average="binary", zero_division=0.0,
                 name="sensitivity", dtype=None):
        super().__init__(formulas.recall,
                         {"average": average, "zero_division": zero_division},
                         num_classes, threshold, from_logits, multilabel, num_labels,
                         name=name, dtype=dtype)


@_register
class Precision(_NamedMetric):
    """Precision, ``TP / (TP + FP)``, over the whole data set.

    Args as `Specificity`; ``zero_division`` applies when ``TP + FP == 0``. Name
    defaults to `"precision"`.

    Example:

    >>> m = Precision()
    >>> m.update_state([1, 0, 0, 1], [0.1, 0.6, 0.2, 0.9])
    >>> float(m.result())
    0.5
    """

    def __init__(self, num_classes=2, threshold=0.5, from_logits=False, multilabel=False,
                 num_labels=None, *, average="binary", zero_division=0.0,
                 name="precision", dtype=None):
        super().__init__(formulas.precision,
                         {"average": average, "zero_division": zero_division},
                         num_classes, threshold, from_logits, multilabel, num_labels,
                         name=name, dtype=dtype)


@_register
class FBeta(_NamedMetric):
    """F-beta score over the whole data set; ``beta > 1`` weighs recall higher.

    Args:
        beta: positive weight of recall. Defaults to `1.0`.
        Other args as `Specificity`. Name defaults to `"fbeta"`.

    Example:

    >>> m = FBeta(beta=2.0)
    >>> m.update_state([1, 0, 0, 1], [0.1, 0.6, 0.2, 0.9])
    >>> float(m.result())
    0.5
    """

    def __init__(self, beta=1.0, num_classes=2, threshold=0.5, from_logits=False,
                 multilabel=False, num_labels=None, *, average="binary", zero_division=0.0,
                 name="fbeta", dtype=None):
        super().__init__(formulas.fbeta,
                         {"beta": check_positive("beta", beta), "average": average,
                          "zero_division": zero_division},
                         num_classes, threshold, from_logits, multilabel, num_labels,
                         name=name, dtype=dtype)


@_register
class MCC(_NamedMetric):
    """Matthews correlation coefficient (K-class R_K for K > 2) over the data set.

    Args:
        num_classes, threshold, from_logits, multilabel, num_labels: how to count, as
            `ConfusionMatrix` (multilabel gives one value per label).
        zero_division: value when a marginal is constant. Defaults to `0.0`.
        name: name of the metric. Defaults to `"mcc"`.
        dtype: `"float64"` makes ``result()`` float64 (exact counts past 2**24) where
            the backend has float64 (not JAX without x64); any other dtype leaves it
            float32 (counting in half precision would overflow). Defaults to `None`.

    Example:

    >>> m = MCC()
    >>> m.update_state([1, 0, 0, 1], [0.1, 0.6, 0.2, 0.9])
    >>> float(m.result())
    0.0
    """

    def __init__(self, num_classes=2, threshold=0.5, from_logits=False, multilabel=False,
                 num_labels=None, *, zero_division=0.0, name="mcc", dtype=None):
        super().__init__(formulas.mcc, {"zero_division": zero_division},
                         num_classes, threshold, from_logits, multilabel, num_labels,
                         name=name, dtype=dtype)


@_register
class BalancedAccuracy(_NamedMetric):
    """Balanced accuracy (mean recall over the classes present) over the data set.

    Args:
        num_classes, threshold, from_logits, multilabel, num_labels: how to count, as
            `ConfusionMatrix`.
        adjusted: rescale so that chance scores 0. Defaults to `False`.
        zero_division: value when no class is present. Defaults to `0.0`.
        name: name of the metric. Defaults to `"balanced_accuracy"`.
        dtype: `"float64"` makes ``result()`` float64 (exact counts past 2**24) where
            the backend has float64 (not JAX without x64); any other dtype leaves it
            float32 (counting in half precision would overflow). Defaults to `None`.

    Example:

    >>> m = BalancedAccuracy()
    >>> m.update_state([1, 0, 0, 0], [0.9, 0.6, 0.2, 0.1])
    >>> round(float(m.result()), 4)
    0.8333
    """

    def __init__(self, num_classes=2, threshold=0.5, from_logits=False, multilabel=False,
                 num_labels=None, *, adjusted=False, zero_division=0.0,
                 name="balanced_accuracy", dtype=None):
        super().__init__(formulas.balanced_accuracy,
                         {"adjusted": check_bool("adjusted", adjusted),
                          "zero_division": zero_division},
                         num_classes, threshold, from_logits, multilabel, num_labels,
                         name=name, dtype=dtype)


@_register
class CohenKappa(_NamedMetric):
    """Cohen's kappa between truth and decisions over the whole data set.

    Args:
        num_classes, threshold, from_logits, multilabel, num_labels: how to count, as
            `ConfusionMatrix`.
        weights: `None`, ``"linear"`` or ``"quadratic"`` disagreement weights.
            Defaults to `None`.
        zero_division: value when the expected disagreement is 0. Defaults to `0.0`.
        name: name of the metric. Defaults to `"cohen_kappa"`.
        dtype: `"float64"` makes ``result()`` float64 (exact counts past 2**24) where
            the backend has float64 (not JAX without x64); any other dtype leaves it
            float32 (counting in half precision would overflow). Defaults to `None`.

    Example:

    >>> m = CohenKappa()
    >>> m.update_state([1, 0, 0, 1], [0.9, 0.6, 0.2, 0.8])
    >>> float(m.result())
    0.5
    """

    def __init__(self, num_classes=2, threshold=0.5, from_logits=False, multilabel=False,
                 num_labels=None, *, weights=None, zero_division=0.0, name="cohen_kappa",
                 dtype=None):
        super().__init__(formulas.cohen_kappa,
                         {"weights": weights, "zero_division": zero_division},
                         num_classes, threshold, from_logits, multilabel, num_labels,
                         name=name, dtype=dtype)


@_register
class ExpectedCost(_NamedMetric):
    """Expected cost per sample under a cost matrix, over the data set. Lower is better.

    Args:
        cost_matrix: ``(K, K)`` non-negative costs, rows the true class, columns the
            decision; ``[[0, 1], [10, 0]]`` makes a missed positive cost ten false alarms.
        Other args as `MCC`. Name defaults to `"expected_cost"`.

    Example:

    >>> m = ExpectedCost([[0, 1], [10, 0]])
    >>> m.update_state([1, 0, 0, 1], [0.1, 0.6, 0.2, 0.9])
    >>> float(m.result())
    2.75
    """

    def __init__(self, cost_matrix, num_classes=2, threshold=0.5, from_logits=False,
                 multilabel=False, num_labels=None, *, zero_division=0.0,
                 name="expected_cost", dtype=None):
        super().__init__(formulas.expected_cost,
                         {"cost_matrix": cost_matrix, "zero_division": zero_division},
                         num_classes, threshold, from_logits, multilabel, num_labels,
                         name=name, dtype=dtype)


@_register
class ThresholdConfusion(_CountingMetric):
    """Binary confusion matrices at many thresholds, accumulated over the data set.

    Counting is one O(1) bucketing pass per score and a reverse cumulative sum over
    the thresholds in ``result()``: O(N + T), never O(N * T). A sample is positive at
    threshold ``t`` when ``score >= t``.

    Args:
        num_thresholds: number of thresholds in [0, 1], both ends included. Defaults
            to `200`.
        thresholds: explicit thresholds in [0, 1], in any order; overrides
            ``num_thresholds`` and ``spacing``. Defaults to `None`.
        spacing: ``"linear"`` (uniform in probability) or ``"logit"`` (uniform in logit
            between 1e-7 and 1 - 1e-7, resolving the scores of rare events). Defaults to
            `"linear"`.
        from_logits: whether ``y_pred`` holds logits (thresholds stay probabilities).
            Defaults to `False`.
        name: name of the metric. Defaults to `"threshold_confusion"`.
        dtype: `"float64"` makes ``result()`` float64 (exact counts past 2**24) where
            the backend has float64 (not JAX without x64); any other dtype leaves it
            float32 (counting in half precision would overflow). Defaults to `None`.

    Returns:
        ``result()``: float32 ``(T, 2, 2)``, one ``[[TN, FP], [FN, TP]]`` per threshold,
        in the order of ``thresholds``.

    Example:

    >>> m = ThresholdConfusion(thresholds=[0.0, 0.5])
    >>> m.update_state([0, 1, 1], [0.1, 0.4, 0.8])
    >>> keras.ops.convert_to_numpy(m.result()).tolist()
    [[[0.0, 1.0], [0.0, 2.0]], [[1.0, 0.0], [1.0, 1.0]]]
    """

    def __init__(self, num_thresholds=200, thresholds=None, spacing="linear",
                 from_logits=False, *, name="threshold_confusion", dtype=None):
        if thresholds is None:
            grid = thresholds_grid(num_thresholds, spacing=spacing)
        else:
            if spacing not in ("linear", "logit"):
                raise arg_error("spacing", spacing, '"linear" or "logit"')
            if np.ndim(thresholds) != 1:
                raise arg_error("thresholds", thresholds,
                                "a 1-D sequence of thresholds (for a grid of N thresholds, "
                                "pass num_thresholds=N)")
            grid = thresholds
        check_task_args(from_logits=from_logits)
        self._plan = threshold_plan(grid, from_logits)
        prepare_plan(self._plan)
        self._floor_rule = floor_rule(self._plan)  # float32 buckets on eager torch
        self.thresholds = np.asarray(grid, dtype="float64")
        self.num_thresholds = len(self.thresholds)
        self.spacing = spacing
        self.from_logits = from_logits
        self._explicit = thresholds is not None
        super().__init__(2 * (self.num_thresholds + 1), name=name, dtype=dtype)

    def update_state(self, y_true, y_pred, sample_weight=None):
        """Add a batch of binary labels, scores and optional weights."""
        if self._update_eagerly(y_true, y_pred, sample_weight):
            return
        fmt = format_inputs(y_true, y_pred, None, False, sample_weight, _backend.keras_mask(y_pred))
        self._accumulate(*_backend.fused(lambda: self._cell_codes(
            *threshold_codes(fmt, self._plan), fmt.sample_weight), fmt.y_pred), fmt.y_pred)

    def _eager_codes(self, y, p):
        """The histogram codes of a batch of CPU torch tensors, as `threshold_codes`
        makes them, or None for the general path (as `ConfusionMatrix._eager_codes`)."""
        if drop_trailing_one(tuple(y.shape)) != drop_trailing_one(tuple(p.shape)):
            return None
        true = eager_torch.classes(eager_torch.flat(y), 2)
        span = eager_torch.score_range(p)
        if true is None or span is None:
            return None
        scores = eager_torch.flat(p)
        d = self._floor_rule if eager_torch.dtype_name(p) == "float32" else None
        bucket = (eager_torch.uniform_buckets(scores, d, *span) if d is not None
                  else counts.threshold_buckets(scores, self._plan))
        return cell_codes(true, bucket, self.num_thresholds + 1)

    def result(self):
        return threshold_matrices(ops.reshape(self._cells(), (2, -1)), self._plan)

    def counts(self) -> np.ndarray:
        """The exact ``(T, 2, 2)`` counts as a float64 NumPy array (eager only)."""
        hist = self._exact()[: self._num_cells].reshape(2, -1)
        return tail_sums(hist)[1:-1][self._plan.restore]

    def get_config(self):
        return {
            "num_thresholds": self.num_thresholds,
            "thresholds": self.thresholds.tolist() if self._explicit else None,
            "spacing": self.spacing,
            "from_logits": self.from_logits,
            "name": self.name,
            "dtype": self.dtype,
        }
