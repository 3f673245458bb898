"""Eager torch counts in torch's own ops (`_backend.eager_torch`): the same counts as
the general path and as a brute-force NumPy count, batched and in one shot, on random
data and every edge case; batches with an invalid sample go the general path."""

from __future__ import annotations

import numpy as np
import pytest

from keras_confusion import metrics as kcm
from keras_confusion._backend import kernels
from keras_confusion.counts import thresholds_grid

from conftest import BACKEND

pytestmark = pytest.mark.skipif(BACKEND != "torch", reason="eager torch only")

GRID = thresholds_grid(200)
EXPLICIT = np.array([0.9, 0.1, 0.5, 0.30000001, 0.7])


def _reference(kind, y, p, threshold=0.5):
    """Brute force in float64 NumPy: the counts of the valid samples, and the number of
    invalid ones. A float score is at or above ``t`` exactly when its float64 value is."""
    y = np.asarray(y, dtype="float64")
    p = np.asarray(p, dtype="float64")
    if kind == "multiclass":
        k = p.shape[-1]
        valid = np.isfinite(p).all(-1) & (y == np.round(y)) & (y >= 0) & (y < k)
        cm = np.zeros((k, k))
        np.add.at(cm, (y[valid].astype(int), p[valid].argmax(-1)), 1)
        return cm, float((~valid).sum())
    valid = np.isfinite(p) & ((y == 0) | (y == 1))
    if kind.startswith("thresholds"):
        t = np.sort(threshold)
        pos = p[valid][:, None] >= t[None, :]
        truth = y[valid][:, None] == 1
        cms = np.stack([np.stack([(~truth & ~pos).sum(0), (~truth & pos).sum(0)], -1),
                        np.stack([(truth & ~pos).sum(0), (truth & pos).sum(0)], -1)], -2)
        order = np.argsort(np.argsort(threshold, kind="stable"))
        return cms[order].astype("float64"), float((~valid).sum())
    # binary or multilabel, (N,) or (N, L): one (2, 2) per label
    y2, p2, v2 = (a.reshape(len(a), -1) for a in (y, p, valid))
    t = np.broadcast_to(np.asarray(threshold, dtype="float64"), (y2.shape[1],))
    cms = np.zeros((y2.shape[1], 2, 2))
    for j in range(y2.shape[1]):
        v = v2[:, j]
        np.add.at(cms[j], (y2[v, j].astype(int), (p2[v, j] >= t[j]).astype(int)), 1)
    return (cms[0] if kind == "binary" else cms), float((~valid).sum())


def _metric(kind, **kw):
    if kind.startswith("thresholds"):
        return kcm.ThresholdConfusion(**kw)
    if kind == "binary":
        return kcm.ConfusionMatrix(**kw)
    if kind == "multilabel":
        return kcm.ConfusionMatrix(multilabel=True, num_labels=3, **kw)
    return kcm.ConfusionMatrix(**{"num_classes": 5, **kw})  # multiclass


def _count(make, y, p, splits, eager, convert, monkeypatch):
    """Counts and invalid tally of a metric fed ``splits`` batches, and how many of its
    batches the eager path counted."""
    import torch

    monkeypatch.setitem(kernels.TRICKS, "torch_eager_update", eager)
    metric = make()
    taken = []
    inner = type(metric)._eager_codes

    def spy(self, *a):
        codes = inner(self, *a)
        taken.append(codes is not None)
        return codes

    monkeypatch.setattr(type(metric), "_eager_codes", spy)
    for part in np.array_split(np.arange(len(y)), splits):
        yb, pb = y[part], p[part]
        if convert == "torch":
            yb, pb = torch.from_numpy(yb), torch.from_numpy(pb)
        elif convert == "bfloat16":
            yb, pb = torch.from_numpy(yb), torch.from_numpy(pb).to(torch.bfloat16)
        metric.update_state(yb, pb)
    return metric.counts(), metric.invalid, sum(taken)


def _data(kind, case, rng, n=1000):
    """Labels and scores of one edge case (float32 scores unless the case says)."""
    if kind == "multiclass":
        y = rng.integers(0, 5, n).astype("int32")
        p = rng.normal(size=(n, 5)).astype("float32")
        p[: n // 4, 1] = p[: n // 4, 3] = 9.0  # ties: the first maximum
    else:
        shape = (n, 3) if kind == "multilabel" else (n,)
        y = rng.integers(0, 2, shape).astype("int32")
        p = rng.random(shape).astype("float32")
        if kind.startswith("thresholds"):
            # Every float32 threshold and its neighbours: the ties of the rule.
            t = np.concatenate([GRID, EXPLICIT]).astype("float32")
            ties = np.concatenate([t, np.nextafter(t, np.float32(-1)),
                                   np.nextafter(t, np.float32(2)), [1.5, -0.0]])
            p[: len(ties)] = ties.astype("float32")
            p[-1] = -0.5  # in the last batch only: the others have no negative score
        else:
            p.reshape(-1)[:30] = np.float32(0.5)
            p.reshape(-1)[30:60] = np.nextafter(np.float32(0.5), np.float32(0))
    if case == "nan":
        p.reshape(-1)[[5, 400]] = np.nan
    elif case == "inf":
        p.reshape(-1)[7] = -np.inf
    elif case == "label_out_of_range":
        y.reshape(-1)[9] = 5 if kind == "multiclass" else 2
        y.reshape(-1)[450] = -1
    elif case == "float_labels":
        y = y.astype("float32")
        y.reshape(-1)[11] = 0.5
    elif case == "int64_labels":
        y = y.astype("int64")
        y.reshape(-1)[13] = 2 ** 32  # no class (int32 would wrap it to 0)
    elif case in ("int8_labels", "uint8_labels", "int16_labels"):
        # Every label valid: the eager path counts them (codes y * (T + 1) + bucket
        # wrapped around in int8; index_add_ refused int8, uint8 and int16 codes).
        y = y.astype(case.split("_")[0])
    elif case == "float64_scores":
        p = p.astype("float64")
        p.reshape(-1)[:5] = 0.5 + np.array([-1e-12, 0, 1e-12, 1 - 1e-16, 1e-17])
    elif case == "float16_scores":
        p = p.astype("float16")
    elif case == "one_class":
        y[...] = 0
    elif case == "all_valid_one_sample":
        y, p = y[:1], p[:1]
    return y, p


KINDS = ["binary", "multilabel", "multiclass", "thresholds", "thresholds_explicit"]
CASES = ["random", "nan", "inf", "label_out_of_range", "float_labels", "int64_labels",
         "int8_labels", "uint8_labels", "int16_labels", "float64_scores", "float16_scores",
         "one_class", "all_valid_one_sample"]


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("kind", KINDS)
def test_eager_counts_equal_general_path_and_brute_force_batched_and_one_shot(
        kind, case, rng, monkeypatch):
    y, p = _data(kind, case, rng)
    kw = {}
    if kind == "multilabel":
        kw = {"threshold": [0.5, 0.25, 0.7]}
    elif kind == "thresholds":
        kw = {"num_thresholds": 200}  # a uniform grid: the floor rule
    elif kind == "thresholds_explicit":
        kw = {"thresholds": np.concatenate([GRID, EXPLICIT])}  # the bucket table

    def make():
        return _metric(kind, **kw)

    expected, invalid = _reference(kind, y, p, GRID if kind == "thresholds" else
                                   kw.get("thresholds", kw.get("threshold", 0.5)))
    runs = {}
    for eager in (True, False):
        for splits in (1, 7):
            for convert in ("numpy", "torch"):
                runs[eager, splits, convert] = _count(make, y, p, splits, eager, convert,
                                                      monkeypatch)
    for key, (counts, tally, _) in runs.items():
        np.testing.assert_array_equal(counts, expected, err_msg=str(key))
        assert tally == invalid, key
    # The eager path counted every batch without an invalid sample, and only those.
    batches = np.array_split(np.arange(len(y)), 7)
    clean = _reference_clean_batches(kind, y, p, batches)
    assert runs[True, 7, "torch"][2] == clean
    assert runs[False, 7, "torch"][2] == 0


@pytest.mark.parametrize(("dtype", "k"), [("int8", 128), ("uint8", 100), ("int16", 200)])
def test_eager_multiclass_counts_of_narrow_integer_labels_equal_sklearn(dtype, k, rng,
                                                                         monkeypatch):
    # The codes y * K + pred kept the labels' type: uint8 labels of 100 classes (as
    # keras.datasets.cifar100 has them) left 1,222 cells wrong, with nothing tallied.
    import sklearn.metrics as skm

    y = rng.integers(0, k, 3000).astype(dtype)
    y[:k] = np.arange(k)  # every class, the largest codes among them
    p = rng.normal(size=(3000, k)).astype("float32")
    for splits in (1, 7):
        counts, tally, taken = _count(lambda: kcm.ConfusionMatrix(num_classes=k), y, p,
                                      splits, True, "numpy", monkeypatch)
        np.testing.assert_array_equal(
            counts, skm.confusion_matrix(y, p.argmax(-1), labels=np.arange(k)))
        assert tally == 0 and taken == splits


def _reference_clean_batches(kind, y, p, batches):
    count = 0
    for part in batches:
        if not len(part):
            continue
        _, bad = _reference("binary" if kind.startswith("thresholds") else kind,
                            y[part], p[part])
        count += bad == 0
    return count


@pytest.mark.parametrize("kind", ["binary", "thresholds"])
def test_eager_counts_bfloat16_scores_like_the_general_path(kind, rng, monkeypatch):
    y, p = _data(kind, "random", rng)

    def make():
        return _metric(kind)

    eager = _count(make, y, p, 5, True, "bfloat16", monkeypatch)
    general = _count(make, y, p, 5, False, "bfloat16", monkeypatch)
    np.testing.assert_array_equal(eager[0], general[0])
    assert eager[2] == 5 and general[2] == 0


def test_eager_floor_rule_buckets_match_searchsorted_for_every_float32_near_a_threshold():
    """`uniform_buckets` against NumPy's searchsorted on the float32 thresholds, at each
    threshold and its float32 neighbours, for grids of 2 to 10,001 thresholds."""
    import torch

    from keras_confusion._backend import eager_torch
    from keras_confusion.counts import ceil_to, floor_rule, threshold_plan

    for t in (2, 3, 7, 200, 1000, 9999, 10001, 40_001, 65_537):
        plan = threshold_plan(thresholds_grid(t), False)
        d = floor_rule(plan)
        assert d == t - 1
        edges = ceil_to(plan.sorted_edges, "float32")
        near = np.concatenate([edges, np.nextafter(edges, np.float32(-1)),
                               np.nextafter(edges, np.float32(2))]).astype("float32")
        # Each branch: scores in [0, 1]; some above 1; some negative (as small as the
        # least subnormal, whose product with d rounds to 0 when 1 is added first).
        for s in (near[(near >= 0) & (near <= 1)],
                  np.concatenate([near[near >= 0], [1.5, 1e30]]).astype("float32"),
                  np.concatenate([near, [-1e30, 1e30, -0.0, -1e-40]]).astype("float32")):
            low, high = float(s.min()), float(s.max())
            got = eager_torch.uniform_buckets(torch.from_numpy(s), d, low, high).numpy()
            np.testing.assert_array_equal(got, np.searchsorted(edges, s, side="right"))


def test_floor_rule_refuses_grids_it_cannot_decide_exactly():
    from keras_confusion.counts import floor_rule, threshold_plan

    assert floor_rule(threshold_plan(EXPLICIT, False)) is None  # not uniform
    assert floor_rule(threshold_plan(GRID, True)) is None  # logits
    shifted = thresholds_grid(200).copy()
    shifted[100] = np.nextafter(np.float32(shifted[100]), np.float32(1))  # one edge off
    assert floor_rule(threshold_plan(shifted, False)) is None


@pytest.mark.parametrize("layout", ["scores_column", "labels_column", "both_columns", "maps"])
@pytest.mark.parametrize("kind", ["binary", "thresholds", "multiclass"])
def test_eager_counts_of_column_and_map_shapes_equal_flat_ones_and_brute_force(
        kind, layout, rng, monkeypatch):
    """(N,) labels against (N, 1) scores and the like: one sample a row, never the
    (N, N) grid that broadcasting the two would count."""
    y, p = _data(kind, "random", rng, n=720)
    expected, _ = _reference(kind, y, p, GRID if kind == "thresholds" else 0.5)
    if kind == "multiclass":  # scores keep their class axis
        shapes = {"scores_column": (y.shape, p.shape), "labels_column": ((720, 1), p.shape),
                  "both_columns": ((720, 1), p.shape), "maps": ((8, 9, 10), (8, 9, 10, 5))}
    else:
        shapes = {"scores_column": ((720,), (720, 1)), "labels_column": ((720, 1), (720,)),
                  "both_columns": ((720, 1), (720, 1)), "maps": ((8, 9, 10), (8, 9, 10, 1))}
    y_shape, p_shape = shapes[layout]
    yb, pb = y.reshape(y_shape), p.reshape(p_shape)

    def make():
        return _metric(kind, **({"num_thresholds": 200} if kind == "thresholds" else {}))

    counts, invalid, taken = _count(make, yb, pb, 3, True, "torch", monkeypatch)
    np.testing.assert_array_equal(counts, expected)
    assert invalid == 0 and taken == 3


@pytest.mark.parametrize("make", [lambda: kcm.ConfusionMatrix(num_classes=3),
                                  lambda: kcm.ConfusionMatrix(multilabel=True, num_labels=2)],
                         ids=["multiclass", "multilabel"])
@pytest.mark.parametrize("shapes", [((), ()), ((4,), (4,)), ((4, 3), (4, 3))],
                         ids=["scalar", "one_axis", "one_hot_or_wrong_labels"])
def test_shapes_the_eager_path_does_not_take_get_the_general_paths_answer(
        make, shapes, monkeypatch):
    """The same counts or the same ValueError with the eager path on as with it off."""
    y = np.ones(shapes[0], dtype="float32")
    p = np.full(shapes[1], 0.7, dtype="float32")
    outcomes = []
    for eager in (True, False):
        monkeypatch.setitem(kernels.TRICKS, "torch_eager_update", eager)
        metric = make()
        try:
            metric.update_state(y, p)
            outcomes.append(metric.counts().tolist())
        except ValueError as error:
            outcomes.append(str(error))
    assert outcomes[0] == outcomes[1]
