"""A Keras model that outputs decisions: `Thresholded` (the Keras layer of `decisions`)."""

from __future__ import annotations

import keras
import numpy as np
from keras import ops

from keras_confusion import _backend
from keras_confusion._counting import decide
from keras_confusion._guarantee import check_guarantee
from keras_confusion._validation import (
    arg_error,
    ceil_to,
    check_bool,
    check_cost_matrix,
    check_num_classes,
)
from keras_confusion.decisions import bayes_decide, check_offsets

__all__ = ["Thresholded"]


# ------------------------------------------------------------------------ the model


@keras.saving.register_keras_serializable(package="keras_confusion")
class Thresholded(keras.Model):
    """A model that outputs decisions: the wrapped model's scores, thresholded.

    Binary and multilabel: ``decision = score >= threshold`` (one threshold, or one per
    label), in the units of the model's output (a probability, or a logit if the model
    outputs logits). Multiclass (or binary) with ``cost_matrix``: the Bayes decision
    ``argmin_j sum_i p_i cost[i, j] - offsets[j]`` over the class probabilities; a
    single-column binary output ``p`` is read as ``[1 - p, p]``.

    The threshold and offsets are non-trainable variables: `ThresholdTuner` updates
    them during training, and they are saved with the model. ``score >= threshold``
    decides as it does in float64 (that is, as `tune_threshold` counted): the
    threshold is kept in float64 where the backend has float64, and float32 scores
    are compared with the smallest float32 at or above it.

    Args:
        model: a Keras model that outputs scores.
        threshold: a number, or one per label; e.g. ``tune_threshold(...).threshold``.
            Defaults to `None` (0.5 unless ``cost_matrix`` is given).
        cost_matrix: ``(K, K)`` non-negative costs for cost decisions. Defaults to
            `None`.
        offsets: ``(K,)`` per-class offsets from `tune_cost_offsets`. Defaults to
            `None` (zeros: the plain Bayes rule).
        return_scores: output ``{"decisions": ..., "scores": ...}`` instead of the
            decisions alone. Defaults to `False`.
        guarantee: what the threshold guarantees, kept in the config so that it
            travels with the saved model: ``tune_threshold(..., confidence=c).guarantee``,
            a dict ``{"constraint": [name, floor], "confidence": c, "bound": b}`` (one
            bound per label for multilabel). Defaults to `None` (no guarantee stated).
        **kwargs: passed to ``keras.Model`` (e.g. ``name``).

    Example:

    >>> inner = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1, "sigmoid")])
    >>> model = Thresholded(inner, threshold=0.3)
    >>> model.predict(np.zeros((2, 3)), verbose=0).shape
    (2, 1)
    """

    def __init__(self, model, threshold=None, *, cost_matrix=None, offsets=None,
                 return_scores=False, guarantee=None, **kwargs):
        super().__init__(**kwargs)
        # The inputs go to the inner model as given (it converts them as its own layers
        # want), not first cast to this wrapper's compute dtype: under a mixed policy
        # that rounded them to float16 before a float32 model scored them. Keras'
        # functional models do the same.
        self._convert_input_args = False
        self._allow_non_tensor_positional_args = True
        if not isinstance(model, keras.Model):
            raise arg_error("model", model, "a Keras model")
        if cost_matrix is not None and threshold is not None:
            raise arg_error("threshold", threshold, "None when cost_matrix is given")
        self.model = model
        self.return_scores = check_bool("return_scores", return_scores)
        self.guarantee = guarantee
        self.cost_matrix = None
        self.threshold_variable = None
        self.offsets_variable = None
        if cost_matrix is not None:
            self.cost_matrix = check_cost_matrix(cost_matrix)
            k = check_num_classes(self.cost_matrix.shape[0])
            o = np.zeros(k) if offsets is None else check_offsets(offsets, k)
            self.offsets_variable = self.add_weight(
                shape=(k,), initializer=keras.initializers.Constant(o.astype("float32")),
                trainable=False, dtype="float32", name="offsets", autocast=False)
        else:
            if offsets is not None:
                raise arg_error("offsets", offsets, "None unless cost_matrix is given")
            # Exact (float64) where the backend has float64, so that float64 scores are
            # decided exactly too; else the float32 ceiling, exact for float32 scores.
            dtype = "float64" if _backend.has_float64(ops.zeros(())) else "float32"
            t = self._stored(self._check_threshold(0.5 if threshold is None else threshold),
                             dtype)
            self.threshold_variable = self.add_weight(
                shape=t.shape, initializer=keras.initializers.Constant(t),
                trainable=False, dtype=dtype, name="threshold", autocast=False)
        self.built = True
        # Checked now where the model's output shape is known: raised inside a compiled
        # predict step, the error came from the backend (JAX, TensorFlow), and on JAX
        # the wrapped model was left without its weights (Keras empties a model's
        # variables before the step and refills them only when it returns).
        try:
            shape = model.output_shape
        except (AttributeError, ValueError, RuntimeError):  # a model not built yet
            shape = None
        if isinstance(shape, tuple) and all(d is None or isinstance(d, int) for d in shape):
            self._check_output_shape(shape)

    def _check_output_shape(self, shape: tuple):
        """Refuse a threshold or cost matrix that does not fit scores of ``shape``."""
        last = shape[-1] if len(shape) >= 2 else None
        if self.cost_matrix is None:
            t = tuple(self.threshold_variable.shape)
            if len(t) == 1 and t[0] > 1 and (len(shape) < 2 or last not in (None, t[0])):
                raise arg_error("threshold", f"<{t[0]} thresholds>",
                                f"one threshold per output column: the model outputs "
                                f"shape {shape}")
            return
        k = self.cost_matrix.shape[0]
        if (len(shape) < 2 and k != 2) or (last not in (None, k) and not (k == 2 and last == 1)):
            columns = "one score per sample" if len(shape) < 2 else f"{last} columns"
            raise arg_error("cost_matrix", f"<array of shape ({k}, {k})>",
                            f"one row and column per class of the model's outputs, shape "
                            f"{shape} ({columns})")

    @staticmethod
    def _check_threshold(threshold):
        try:
            t = np.asarray(threshold, dtype="float64")
        except (TypeError, ValueError):
            raise arg_error("threshold", threshold, "a number or one number per label") from None
        if t.ndim > 1 or t.size == 0 or np.any(np.isnan(t)) or np.any(t == -np.inf):
            raise arg_error("threshold", threshold,
                            "a number (or +inf) or a 1-D sequence of them, one per label")
        return t

    @staticmethod
    def _stored(t, dtype):
        return t if dtype == "float64" else ceil_to(t, "float32")

    @property
    def threshold(self):
        """The threshold(s) applied, as NumPy (None for cost decisions)."""
        if self.threshold_variable is None:
            return None
        return np.asarray(ops.convert_to_numpy(self.threshold_variable.value))

    @threshold.setter
    def threshold(self, value):
        if self.threshold_variable is None:
            raise arg_error("threshold", value, "None for a model with cost_matrix")
        t = self._stored(self._check_threshold(value),
                         keras.backend.standardize_dtype(self.threshold_variable.dtype))
        if t.shape != tuple(self.threshold_variable.shape):
            raise arg_error("threshold", value,
                            f"of shape {tuple(self.threshold_variable.shape)} as at construction")
        self.threshold_variable.assign(t)

    @property
    def guarantee(self):
        """What the threshold guarantees (see ``guarantee`` above), or None."""
        return self._guarantee

    @guarantee.setter
    def guarantee(self, value):
        # Past Keras' attribute tracking: a plain dict, as get_config must return it.
        object.__setattr__(self, "_guarantee", check_guarantee(value))

    @property
    def offsets(self):
        """The per-class offsets applied, as NumPy (None for threshold decisions)."""
        if self.offsets_variable is None:
            return None
        return np.asarray(ops.convert_to_numpy(self.offsets_variable.value))

    @offsets.setter
    def offsets(self, value):
        if self.offsets_variable is None:
            raise arg_error("offsets", value, "None for a model without cost_matrix")
        self.offsets_variable.assign(check_offsets(value, self.cost_matrix.shape[0]))

    def call(self, inputs, training=False):
        scores = self.model(inputs, training=training)
        dtype = keras.backend.standardize_dtype(scores.dtype)
        if dtype != "float64":
            dtype = "float32"
        x = ops.cast(scores, dtype)
        self._check_output_shape(tuple(x.shape))  # no value read: it may be traced
        if self.cost_matrix is None:
            # In the threshold's dtype: float64 (exact for every score) where the
            # backend has it, else float32 holding the float32 ceiling of the threshold.
            t = self.threshold_variable.value
            decisions = ops.cast(decide(ops.cast(x, t.dtype), t), "int32")
        else:
            k = self.cost_matrix.shape[0]
            if k == 2 and (len(x.shape) == 1 or x.shape[-1] == 1):
                p = x if len(x.shape) == 1 else x[..., 0]
                x = ops.stack([1.0 - p, p], axis=-1)
            decisions = ops.cast(
                bayes_decide(ops, x, ops.convert_to_tensor(self.cost_matrix.astype(dtype)),
                        ops.cast(self.offsets_variable, dtype)), "int32")
        if self.return_scores:
            return {"decisions": decisions, "scores": scores}
        return decisions

    def load_own_variables(self, store):
        super().load_own_variables(store)
        if self.threshold_variable is not None:
            # A threshold saved in float64 (TensorFlow, torch) and loaded into a float32
            # variable (JAX) was rounded to nearest: 0.7 became 0.69999999, deciding
            # float32(0.7) positive. Stored again, it is the float32 ceiling.
            own = self._trainable_variables + self._non_trainable_variables
            i = next(i for i, v in enumerate(own) if v is self.threshold_variable)
            self.threshold = np.asarray(store[f"{i}"], dtype="float64")

    def get_config(self):
        threshold = self.threshold
        offsets = self.offsets
        return {
            "name": self.name,
            "model": keras.saving.serialize_keras_object(self.model),
            "threshold": None if threshold is None else threshold.tolist(),
            "cost_matrix": None if self.cost_matrix is None else self.cost_matrix.tolist(),
            "offsets": None if offsets is None else offsets.tolist(),
            "return_scores": self.return_scores,
            "guarantee": self.guarantee,
        }

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        model = keras.saving.deserialize_keras_object(config.pop("model"))
        return cls(model, **config)

