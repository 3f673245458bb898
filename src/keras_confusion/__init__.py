"""keras-confusion: the confusion matrix as a first-class part of Keras 3.

One representation, a ``(..., K, K)`` count tensor (rows true, columns predicted), and
one formula per metric (`keras_confusion.formulas`), shared by the losses (soft
counts), the metrics (counts over the whole data set), threshold tuning and reports.
"""

from keras_confusion import callbacks, formulas, losses, metrics, plot
from keras_confusion._validation import ConfusionWarning
from keras_confusion.counts import (
    confusion_matrix,
    soft_confusion_matrix,
    threshold_confusion_matrices,
)
from keras_confusion.report import Report, report
from keras_confusion.thresholds import (
    CostDecisionResult,
    MultilabelThresholdResult,
    Thresholded,
    ThresholdResult,
    cost_decisions,
    tune_cost_offsets,
    tune_threshold,
)
from keras_confusion.weights import class_weights

__version__ = "0.1.0"

__all__ = [
    "ConfusionWarning",
    "CostDecisionResult",
    "MultilabelThresholdResult",
    "Report",
    "ThresholdResult",
    "Thresholded",
    "__version__",
    "callbacks",
    "class_weights",
    "confusion_matrix",
    "cost_decisions",
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
