"""keras-confusion: the confusion matrix as a first-class part of Keras 3.

One representation, a ``(..., K, K)`` count tensor (rows true, columns predicted), and
one formula per metric (`keras_confusion.formulas`), shared by the losses (soft
counts), the metrics (counts over the whole data set), threshold tuning and reports.

Two layers (DESIGN.md): a core that imports no Keras and no backend (formulas,
decisions, report, plot, files, the command line) and a Keras layer on top (counts of
tensors, losses, metrics, callbacks, `Thresholded`). This package imports its names
lazily, so that ``keras-confusion --help``, the command line's ``evaluate`` and
``tune``, and Dask workers never pay for Keras. Keras objects are still registered
for ``keras.saving.load_model`` by ``import keras_confusion`` alone: at once when
Keras is already imported, otherwise the moment Keras is (an import hook that runs
once, then removes itself).
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.util
import sys

# The core is light (NumPy): imported now. ``report`` must be bound here in any case:
# importing the submodule ``keras_confusion.report`` would otherwise shadow the function.
from keras_confusion.report import Report, report

__version__ = "0.1.0"

# name -> the module that defines it (a module's own name maps to itself).
_WHERE = {
    "ConfusionWarning": "_validation",
    "CostDecisionResult": "decisions",
    "MultilabelThresholdResult": "decisions",
    "ThresholdResult": "decisions",
    "Thresholded": "thresholded",
    "calibration_size": "_guarantee",
    "callbacks": "callbacks",
    "class_weights": "weights",
    "confusion_matrix": "counts",
    "cost_decisions": "decisions",
    "decisions": "decisions",
    "formulas": "formulas",
    "losses": "losses",
    "metrics": "metrics",
    "plot": "plot",
    "soft_confusion_matrix": "counts",
    "threshold_confusion_matrices": "counts",
    "tune_cost_offsets": "decisions",
    "tune_threshold": "decisions",
}

__all__ = [
    "ConfusionWarning",
    "CostDecisionResult",
    "MultilabelThresholdResult",
    "Report",
    "ThresholdResult",
    "Thresholded",
    "__version__",
    "calibration_size",
    "callbacks",
    "class_weights",
    "confusion_matrix",
    "cost_decisions",
    "decisions",
    "formulas",
    "losses",
    "metrics",
    "plot",
    "report",
    "soft_confusion_matrix",
    "threshold_confusion_matrices",
    "tune_cost_offsets",
    "tune_threshold",
]

# The modules whose import registers Keras objects (losses, metrics, the model).
_KERAS_LAYER = ("losses", "metrics", "thresholded")


def __getattr__(name):
    if name not in _WHERE:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    module = importlib.import_module(f"{__name__}.{_WHERE[name]}")
    value = module if _WHERE[name] == name else getattr(module, name)
    globals()[name] = value  # resolved once
    return value


def __dir__():
    return __all__


def _register_keras_objects() -> None:
    counts = sys.modules.get(f"{__name__}.counts")
    if counts is not None and not getattr(counts, "_COMPLETE", False):
        # `counts` imported Keras first: the Keras layer imports names from it that it
        # has not defined yet. It registers the layer at its end (`_register_deferred`).
        _DEFERRED.append(True)
        return
    for name in _KERAS_LAYER:
        importlib.import_module(f"{__name__}.{name}")


_DEFERRED = []  # a registration `counts` must finish


def _register_deferred() -> None:
    """The registration the import hook left to `counts` (imported before Keras)."""
    if _DEFERRED:
        _DEFERRED.clear()
        _register_keras_objects()


class _RegisteringLoader(importlib.abc.Loader):
    """Runs Keras' own loader, then imports our Keras layer (which registers it)."""

    def __init__(self, inner):
        self._inner = inner

    def create_module(self, spec):
        return self._inner.create_module(spec)

    def exec_module(self, module):
        self._inner.exec_module(module)
        module.__loader__ = module.__spec__.loader = self._inner
        _register_keras_objects()

    def __getattr__(self, name):
        return getattr(self._inner, name)


class _OnKerasImport(importlib.abc.MetaPathFinder):
    def find_spec(self, fullname, path=None, target=None):
        if fullname != "keras":
            return None
        sys.meta_path.remove(self)
        spec = importlib.util.find_spec("keras")
        if spec is not None and spec.loader is not None:
            spec.loader = _RegisteringLoader(spec.loader)
        return spec


if "keras" in sys.modules:
    _register_keras_objects()
elif not any(isinstance(f, _OnKerasImport) for f in sys.meta_path):
    sys.meta_path.insert(0, _OnKerasImport())
