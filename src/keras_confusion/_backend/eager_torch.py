"""Counting on eager torch on a CPU, in torch's own ops (the `torch_eager_update` trick).

Eager torch runs one kernel per op and pays Python for every call. Through
``keras.ops`` and Keras variables, an unweighted binary `ConfusionMatrix` update of
8,192 samples took 260 us where the bare kernel (codes, one bincount, an in-place add)
takes 33 us: formatting the inputs 45 us, codes and checks 74 us, adding into the
state 77 us (five variable lookups through Keras for the carry test alone).

Here the metric computes the same codes with the same definitions
(`_counting.decide`, `_counting.cell_codes`) on the tensors themselves, and this module
supplies what is torch's own:

* `states`: the storage of the metric's variables, when an update may run here;
* `inputs`: the labels and scores as CPU tensors (NumPy arrays viewed, not copied);
* `score_range` and `classes`: the checks of a whole batch, one pass each, instead
  of a mask per sample;
* `uniform_buckets`: the threshold buckets of a uniform grid, exact for float32 scores;
* `add_codes_`: the histogram added in place.

A batch that fails a check (a NaN or an inf score, a label that is no class) is not
counted here: the caller gives it to the general path, which sends each invalid
sample to the tally.
"""

from __future__ import annotations

import math

import numpy as np

# The package, not names from it: the metrics import this module while the package
# may still be importing (its ``import keras`` registers the library's objects).
from keras_confusion import _backend

# NumPy arrays of these dtypes are viewed as tensors; others go the general path.
_NUMPY_DTYPES = ("int8", "int16", "int32", "int64", "uint8", "float16", "float32", "float64")


def states(*variables):
    """The torch tensors that hold ``variables`` (Keras variables of int32), when an
    update may add into them here: the `torch_eager_update` trick on, eager torch (not
    inside ``torch.compile`` or a ``keras.StatelessScope``), every tensor on a CPU and
    not requiring grad. Else None."""
    if not _backend.kernels.TRICKS["torch_eager_update"] or _backend.backend() != "torch":
        return None
    torch = _torch()
    if torch.compiler.is_compiling() or _backend._in_stateless_scope():
        return None
    out = [getattr(v, "_value", None) for v in variables]
    for t in out:
        # int32: never autocast, so the storage is what ``v.value`` reads.
        if not isinstance(t, torch.Tensor) or not t.is_cpu or t.requires_grad \
                or t.dtype is not torch.int32:
            return None
    return out


def _torch():
    global _TORCH, _SCORE_DTYPES
    if _TORCH is None:
        import torch

        _TORCH = torch
        _SCORE_DTYPES = (torch.float16, torch.bfloat16, torch.float32, torch.float64)
        _DTYPE_NAMES.update({d: str(d).removeprefix("torch.") for d in _SCORE_DTYPES})
    return _TORCH


_TORCH = None  # torch, imported when first needed
_SCORE_DTYPES = ()  # the score dtypes counted here
_DTYPE_NAMES = {}  # their names


def _tensor(x, torch):
    if isinstance(x, torch.Tensor):
        if not x.is_cpu:
            return None
        return x.detach() if x.requires_grad else x
    if isinstance(x, np.ndarray) and x.dtype.name in _NUMPY_DTYPES and x.flags.writeable \
            and x.flags.c_contiguous:
        return torch.from_numpy(x)
    return None


def inputs(y_true, y_pred):
    """``(labels, scores)`` as CPU torch tensors (NumPy arrays of plain dtypes viewed
    without a copy), when both can be counted here: integer or float labels, float
    scores, a non-empty batch. Else None."""
    torch = _torch()
    y, p = _tensor(y_true, torch), _tensor(y_pred, torch)
    if y is None or p is None or p.dtype not in _SCORE_DTYPES or not p.numel() \
            or y.dtype == torch.bool or y.dtype.is_complex:
        return None
    return y, p


def flat(x):
    """``x`` as one axis (a 1-D tensor as it is: a reshape costs 0.8 us of Python)."""
    return x if x.dim() == 1 else x.reshape(-1)


def dtype_name(x) -> str:
    """The name of a tensor's dtype as Keras writes it (``"float32"``)."""
    return _DTYPE_NAMES.get(x.dtype) or str(x.dtype).removeprefix("torch.")


def score_range(p):
    """The least and the greatest score, as Python floats, when every score is finite
    (one pass: a NaN makes both NaN), else None."""
    low, high = _torch().aminmax(p)
    low, high = low.item(), high.item()
    return (low, high) if math.isfinite(low) and math.isfinite(high) else None


def classes(y, k: int):
    """The labels as int32 or int64 integers when every one is a class of ``k`` (an
    integer in ``[0, k)``), else None. Not in a narrower type: the codes ``y * K +
    pred`` keep the labels' type (int8 labels under 201 thresholds wrapped around,
    and ``index_add_`` refuses int8, uint8 and int16 indices)."""
    torch = _torch()
    if y.dtype.is_floating_point:
        # A label that is no integer has a fractional part (NaN for NaN and inf).
        if torch.count_nonzero(torch.frac(y)).item():
            return None
    low, high = torch.aminmax(y)
    if not (low.item() >= 0 and high.item() < k):
        return None
    return y if y.dtype in (torch.int32, torch.int64) else y.to(torch.int32)


def threshold(value, p):
    """A decision threshold of `DecisionThreshold.by_dtype` for the scores ``p``: a
    number as it is, one per label as a tensor of the scores' dtype."""
    return value if isinstance(value, float) else _torch().tensor(value, dtype=p.dtype)


def label_offsets(num_labels: int):
    """``l * 4`` for each label ``l``: multilabel codes ``l * 4 + true * 2 + pred``."""
    torch = _torch()
    return torch.arange(num_labels, dtype=torch.int32) * 4


def uniform_buckets(p, d: int, low: float, high: float):
    """For finite float32 scores ``p`` from ``low`` to ``high`` and the thresholds
    ``ceil_to(i / d)``, i = 0..d (`counts.floor_rule`), the number of thresholds at or
    below each score, ``floor(p * d) + 1`` clipped to ``[0, d + 1]``, int32.

    Exact: ``p * d`` is exact in float64 (24 + 29 bits at most), and a float32 score
    is at or above the smallest float32 at or above ``i / d`` exactly when it is at or
    above ``i / d`` itself. The 1 is added to the integer (added to the product, it
    would round one as small as -2**-140 to 1). Scores of at least 0 need no floor (the
    conversion to int32 truncates: 2.1 us of 57 at 8,192 scores), scores within
    [0, 1] no clipping.
    """
    torch = _torch()
    x = p.to(torch.float64).mul_(d)
    if low < 0:
        x.floor_()
    if low < 0 or high > 1:
        x.clamp_(-1.0, float(d))
    return x.to(torch.int32).add_(1)


def add_codes_(counts, pending, codes):
    """Add the histogram of the 1-D integer ``codes`` to ``counts`` in place, and their
    number to ``pending``.

    An index-add at the codes for up to 10,000 codes or more cells than codes, else a
    bincount, which makes and adds a whole histogram but on two threads (8,192 codes:
    9.3 us against 10.7 us into 403 cells, 9.8 against 28.7 into 20,002; 65,536 codes:
    66 against 41 us into 403 cells, 74 against 67 into 20,002).
    """
    n = codes.shape[0]
    if n > 10_000 and n >= counts.shape[0]:
        counts.add_(_torch().bincount(codes, minlength=counts.shape[0]))
    else:
        counts.index_add_(0, codes, _one().expand(n))
    pending.add_(n)


def _one():
    global _ONE
    if _ONE is None:
        _ONE = _torch().ones((), dtype=_torch().int32)
    return _ONE


_ONE = None  # int32 1, expanded as the weights of an index-add
