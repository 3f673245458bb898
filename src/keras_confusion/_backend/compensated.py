"""Exact counts in a compensated float32 pair ``hi + lo`` (TwoSum), written once.

float32 is the one float every backend and device has, and a float32 count stops
growing at 2**24; the pair is exact for integer counts: ``lo`` holds what ``hi`` cannot.
"""

from __future__ import annotations

from keras_confusion._backend import add_counts, backend
from keras_confusion._backend.kernels import _tf_in_xla


def two_sum(a, b):
    """``a + b`` as ``(s, err)`` with ``s + err`` exact (Knuth's TwoSum, no branch)."""
    s = a + b
    b_virtual = s - a
    err = (a - (s - b_virtual)) + (b - b_virtual)
    return s, err


def compensated_add_(hi, lo, indices, updates, *, dense: bool, pending=None,
                     renorm_at: float = 0.0):
    """In place: add ``updates`` (None: ones) at ``indices`` into the pair ``hi + lo``
    (from `in_place_tensor`), then renormalise with `two_sum`: every cell when
    ``dense``, else only the touched ones.

    ``pending`` (a scalar from `in_place_tensor`, with a sparse state): the number of
    samples added to ``lo`` since every cell was last renormalised, or -1 once a
    weighted batch has come. Then an unweighted batch is only added to ``lo`` (its
    cells stay exact integers below 2**24 while fewer than ``renorm_at`` samples are
    pending) and every cell is renormalised once ``renorm_at`` are: that saves two
    gathers and two scatters per batch on a large state. A weighted batch renormalises
    its own cells, as without ``pending``, after renormalising every cell once if any
    samples were pending (a fraction added to a large ``lo`` would round); an
    unweighted batch after a weighted one renormalises every cell (slower, and rare:
    Keras passes weights with every batch of a data set or with none).
    Used on TensorFlow outside XLA and on torch's CPU. Elsewhere ``pending`` is left
    as it is: under XLA, the conditional whole-state renormalisation would copy the
    state every batch (1,000 classes, TensorFlow jit_compile: 1.4x torchmetrics instead
    of 1.8x), and on a GPU, reading ``pending`` would wait for the device.
    """
    if backend() == "tensorflow":
        import tensorflow as tf

        if dense:
            s, err = two_sum(tf.convert_to_tensor(hi), add_counts(lo, indices, updates))
            hi.assign(s)
            lo.assign(err)
            return

        def renormalise_all():
            s, err = two_sum(tf.convert_to_tensor(hi), tf.convert_to_tensor(lo))
            hi.assign(s)
            lo.assign(err)
            return tf.constant(True)

        def unchanged():
            return tf.constant(False)

        if pending is not None and _tf_in_xla() is False:
            waiting = tf.convert_to_tensor(pending)
            if updates is None:
                lo.scatter_add(tf.IndexedSlices(tf.ones(tf.shape(indices), lo.dtype), indices))
                n = tf.cast(tf.shape(indices)[0], pending.dtype)
                full = (waiting < 0) | (waiting + n >= renorm_at)
                pending.assign(tf.where(waiting < 0, waiting,
                                        tf.where(full, tf.zeros_like(n), waiting + n)))
                tf.cond(full, renormalise_all, unchanged)
                return
            tf.cond(waiting > 0, renormalise_all, unchanged)
            pending.assign(-tf.ones_like(waiting))
        if updates is None:
            updates = tf.ones(tf.shape(indices), lo.dtype)
        lo.scatter_add(tf.IndexedSlices(tf.cast(updates, lo.dtype), indices))
        # The duplicates of an index all compute the same pair: writing it back is safe.
        s, err = two_sum(tf.gather(hi, indices), tf.gather(lo, indices))
        hi.scatter_update(tf.IndexedSlices(s, indices))
        lo.scatter_update(tf.IndexedSlices(err, indices))
        return
    import torch

    def renormalise_all_():
        s, err = two_sum(hi, lo)
        hi.copy_(s)
        lo.copy_(err)

    indices = indices.long().to(lo.device)
    waiting = None
    if not dense and pending is not None and lo.device.type == "cpu":
        waiting = float(pending)
        if updates is not None:
            if waiting > 0:
                renormalise_all_()
            pending.fill_(-1.0)
            waiting = None  # this batch: every touched cell, as below
    if updates is None:
        updates = torch.ones((), dtype=lo.dtype, device=lo.device).expand(indices.shape[0])
    lo.index_add_(0, indices, updates.to(lo.device, lo.dtype))
    if waiting is not None:
        n = indices.shape[0]
        if waiting < 0 or waiting + n >= renorm_at:
            renormalise_all_()
            pending.fill_(waiting if waiting < 0 else 0.0)
        else:
            pending.fill_(waiting + n)
    elif dense:
        renormalise_all_()
    else:
        # The duplicates of an index all compute the same pair: writing it back is safe.
        # index_select / index_copy_ rather than indexing: on a CPU, torch runs
        # ``hi[indices]`` on its OpenMP threads, which then spin for milliseconds on
        # the cores that the next batch's NumPy argmax needs (`_numpy_rows`).
        s, err = two_sum(hi.index_select(0, indices), lo.index_select(0, indices))
        hi.index_copy_(0, indices, s)
        lo.index_copy_(0, indices, err)


