"""Deprecated: `decisions` (tuning, cost decisions) and `thresholded` (the Keras model).

``keras_confusion.thresholds`` held both the NumPy search and a Keras model; they now
live in the core (`keras_confusion.decisions`) and the Keras layer
(`keras_confusion.thresholded`). The names stay importable from here, with a
`DeprecationWarning`; ``kc.tune_threshold`` and ``kc.Thresholded`` are unchanged.
"""

from __future__ import annotations

import warnings

_MOVED = {
    "CostDecisionResult": "decisions",
    "MultilabelThresholdResult": "decisions",
    "ThresholdResult": "decisions",
    "cost_decisions": "decisions",
    "tune_cost_offsets": "decisions",
    "tune_threshold": "decisions",
    "Thresholded": "thresholded",
}


def __getattr__(name):
    if name not in _MOVED:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import importlib

    where = f"keras_confusion.{_MOVED[name]}"
    warnings.warn(f"keras_confusion.thresholds.{name} moved to {where}.{name}",
                  DeprecationWarning, stacklevel=2)
    return getattr(importlib.import_module(where), name)
