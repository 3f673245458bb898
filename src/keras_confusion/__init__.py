"""keras-confusion: the confusion matrix as a first-class part of Keras 3."""

from keras_confusion import formulas
from keras_confusion._validation import ConfusionWarning
from keras_confusion.counts import (
    confusion_matrix,
    soft_confusion_matrix,
    threshold_confusion_matrices,
)

__version__ = "0.1.0"

__all__ = [
    "ConfusionWarning",
    "__version__",
    "confusion_matrix",
    "formulas",
    "soft_confusion_matrix",
    "threshold_confusion_matrices",
]
