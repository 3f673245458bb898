"""Streaming metrics: N batches accumulated == one shot == scikit-learn (or brute force)."""

from __future__ import annotations

import warnings

import keras
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn import metrics as skm

from keras_confusion import ConfusionWarning
from keras_confusion import metrics as kcm
from keras_confusion.counts import (
    _bucket_table,
    _edges_recomputed,
    _split_buckets,
    _uniform_edges,
    ceil_to,
    confusion_matrix,
    split_rule,
    threshold_buckets,
    threshold_plan,
)

from conftest import BACKEND, compiled, to_numpy

COST = np.array([[0.0, 1.0, 2.0], [4.0, 0.0, 1.0], [9.0, 3.0, 0.0]])


def _nan_to_zero(value):
    return np.nan_to_num(np.asarray(value, dtype="float64"), nan=0.0)


def _specificity_reference(y, p, w, labels, average):
    mcm = skm.multilabel_confusion_matrix(y, p, sample_weight=w, labels=labels)
    tn, fp = mcm[:, 0, 0], mcm[:, 0, 1]
    per = np.where(tn + fp > 0, tn / np.where(tn + fp > 0, tn + fp, 1), 0.0)
    if average is None:
        return per
    if average == "micro":
        return tn.sum() / (tn + fp).sum() if (tn + fp).sum() > 0 else 0.0
    if average == "macro":
        return per.mean()
    support = mcm[:, 1, 0] + mcm[:, 1, 1]
    return (per * support).sum() / support.sum() if support.sum() > 0 else 0.0


def _cases(num_classes):
    """(metric factory, scikit-learn reference on hard decisions) for every metric."""
    labels = list(range(num_classes))
    averages = ["binary"] if num_classes == 2 else []
    averages += ["macro", "micro", "weighted", None]
    cases = []
    for avg in averages:
        sk_avg = avg
        kw = {"average": avg, "num_classes": num_classes}
        sk = {"average": sk_avg, "labels": labels if avg != "binary" else None,
              "zero_division": 0.0}
        cases += [
            (lambda kw=kw: kcm.Precision(**kw),
             lambda y, p, w, sk=sk: skm.precision_score(y, p, sample_weight=w, **sk)),
            (lambda kw=kw: kcm.Sensitivity(**kw),
             lambda y, p, w, sk=sk: skm.recall_score(y, p, sample_weight=w, **sk)),
            (lambda kw=kw: kcm.FBeta(0.5, **kw),
             lambda y, p, w, sk=sk: skm.fbeta_score(y, p, beta=0.5, sample_weight=w, **sk)),
            (lambda kw=kw: kcm.Specificity(**kw),
             (lambda y, p, w: skm.recall_score(y, p, pos_label=0, sample_weight=w,
                                               zero_division=0.0)) if avg == "binary" else
             (lambda y, p, w, avg=avg: _specificity_reference(y, p, w, labels, avg))),
        ]
    cost = (COST[:num_classes, :num_classes] if num_classes <= len(COST)
            else np.subtract.outer(labels, labels) ** 2.0)
    cases += [
        (lambda: kcm.MCC(num_classes=num_classes),
         lambda y, p, w: skm.matthews_corrcoef(y, p, sample_weight=w)),
        (lambda: kcm.BalancedAccuracy(num_classes=num_classes),
         lambda y, p, w: skm.balanced_accuracy_score(y, p, sample_weight=w)),
        (lambda: kcm.CohenKappa(num_classes=num_classes, weights="quadratic"),
         lambda y, p, w: skm.cohen_kappa_score(y, p, sample_weight=w, weights="quadratic",
                                               labels=labels)),
        (lambda: kcm.ExpectedCost(cost, num_classes=num_classes),
         lambda y, p, w: (skm.confusion_matrix(y, p, sample_weight=w, labels=labels)
                          * cost).sum() / max(np.sum(w) if w is not None else len(y), 1e-300)),
        (lambda: kcm.ConfusionMatrix(num_classes=num_classes),
         lambda y, p, w: skm.confusion_matrix(y, p, sample_weight=w, labels=labels)),
    ]
    return cases


def _decisions(y_pred, num_classes):
    if num_classes == 2:
        return (y_pred >= np.float32(0.5)).astype(int)
    return y_pred.argmax(-1)


def _check_all_metrics(y, y_pred, w, num_classes, splits):
    """Every metric: batches accumulated == one shot == scikit-learn."""
    decisions = _decisions(y_pred, num_classes)
    for make, reference in _cases(num_classes):
        one_shot, batched = make(), make()
        one_shot.update_state(y, y_pred, sample_weight=w)
        for part in np.array_split(np.arange(len(y)), splits):
            batched.update_state(y[part], y_pred[part],
                                 sample_weight=None if w is None else w[part])
        got_one, got_batched = to_numpy(one_shot.result()), to_numpy(batched.result())
        if w is not None and not w.any():
            # scikit-learn refuses all-zero weights; every count is 0, so every
            # ratio takes zero_division (0.0) and the matrix is all zeros.
            expected = np.zeros_like(got_one)
        else:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # scikit-learn's zero-division warnings
                expected = _nan_to_zero(reference(y, decisions, w))
        np.testing.assert_allclose(got_batched, got_one, rtol=1e-6, atol=1e-6,
                                   err_msg=one_shot.name)
        np.testing.assert_allclose(got_one, expected, rtol=1e-5, atol=1e-5,
                                   err_msg=str(one_shot.get_config()))


def _random_data(rng, num_classes, n=48, skew=1.0, weights="int"):
    # Skewed label distributions reach "no positives" and "one class" often.
    y = rng.choice(num_classes, n, p=rng.dirichlet(np.full(num_classes, skew)))
    if num_classes == 2:
        # Scores on a coarse grid make ties at the 0.5 threshold common.
        y_pred = (rng.integers(0, 9, n) / 8).astype("float32")
    else:
        y_pred = rng.integers(0, 4, (n, num_classes)).astype("float32")  # argmax ties
    w = {"none": None, "int": rng.integers(0, 4, n).astype("float32"),
         "zeros": np.zeros(n, "float32")}[weights]
    return y, y_pred, w


@given(st.integers(0, 2**31 - 1), st.sampled_from([2, 3]), st.sampled_from([0.1, 1.0]),
       st.sampled_from(["none", "int", "zeros"]), st.sampled_from([1, 3]))
def test_confusion_matrix_accumulated_over_batches_equals_one_shot_and_sklearn(
        seed, num_classes, skew, weights, splits):
    # Every formula metric counts through this path; the formulas are checked below.
    y, y_pred, w = _random_data(np.random.default_rng(seed), num_classes, skew=skew,
                                weights=weights)
    one, batched = kcm.ConfusionMatrix(num_classes), kcm.ConfusionMatrix(num_classes)
    one.update_state(y, y_pred, sample_weight=w)
    for part in np.array_split(np.arange(len(y)), splits):
        batched.update_state(y[part], y_pred[part], None if w is None else w[part])
    expected = skm.confusion_matrix(y, _decisions(y_pred, num_classes),
                                    labels=range(num_classes),
                                    sample_weight=None if w is None or not w.any() else w)
    if w is not None and not w.any():
        expected = np.zeros_like(expected)  # scikit-learn refuses all-zero weights
    np.testing.assert_array_equal(to_numpy(batched.result()), to_numpy(one.result()))
    np.testing.assert_array_equal(to_numpy(one.result()), expected)


@pytest.mark.parametrize(("num_classes", "skew", "weights"), [
    (2, 1.0, "int"), (2, 1.0, "none"), (3, 1.0, "int"), (3, 0.05, "none")])
def test_every_metric_every_average_accumulated_equals_one_shot_and_sklearn(
        rng, num_classes, skew, weights):
    y, y_pred, w = _random_data(rng, num_classes, skew=skew, weights=weights)
    _check_all_metrics(y, y_pred, w, num_classes, 3)


def test_empty_batch_leaves_every_metric_unchanged():
    y, y_pred = np.array([0, 1, 1]), np.array([0.2, 0.6, 0.4], "float32")
    for make, _ in _cases(2):
        a, b = make(), make()
        a.update_state(y, y_pred)
        b.update_state(np.zeros(0, int), np.zeros(0, "float32"))
        b.update_state(y, y_pred)
        b.update_state(np.zeros((0, 1), int), np.zeros((0, 1), "float32"),
                       sample_weight=np.zeros(0, "float32"))
        np.testing.assert_array_equal(to_numpy(b.result()), to_numpy(a.result()))


def test_confusion_matrix_counts_score_equal_to_threshold_as_positive():
    m = kcm.ConfusionMatrix(threshold=0.25)
    m.update_state([0, 0, 1, 1], [0.25, 0.2, 0.25, 0.1])
    np.testing.assert_array_equal(to_numpy(m.result()), [[1, 1], [1, 1]])


def test_threshold_other_than_default_refuses_two_class_scores_it_would_ignore(rng):
    # Two class scores are decided by their argmax: ConfusionMatrix(threshold=0.3) and
    # (threshold=0.9) gave the same counts on a softmax's output, without a word.
    p = np.array([[0.6, 0.4], [0.2, 0.8]], "float32")
    y = np.array([1, 1])
    refused = r"Argument `threshold` must be 0\.5 \(the default\) for y_pred of shape " \
              r"\(2, 2\): two class scores .* argmax.*Received: threshold=0\.[39]"
    for metric in (kcm.ConfusionMatrix(threshold=0.9), kcm.Sensitivity(threshold=0.3)):
        with pytest.raises(ValueError, match=refused):
            metric.update_state(y, p)
    # The scores of class 1 are decided at the threshold; the default keeps the argmax.
    for t in (0.3, 0.9):
        m = kcm.ConfusionMatrix(threshold=t)
        m.update_state(y, p[:, 1])
        np.testing.assert_array_equal(m.counts(), skm.confusion_matrix(
            y, p[:, 1] >= t, labels=[0, 1]))
    m = kcm.ConfusionMatrix()
    m.update_state(y, p)
    np.testing.assert_array_equal(m.counts(), skm.confusion_matrix(y, p.argmax(-1),
                                                                   labels=[0, 1]))
    # In a compiled evaluation step too (refused when the step is traced).
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2, activation="softmax")])
    model.compile(loss="sparse_categorical_crossentropy",
                  metrics=[kcm.Sensitivity(threshold=0.3)])
    with pytest.raises(ValueError, match=r"Argument `threshold` must be 0\.5"):
        model.evaluate(rng.normal(size=(8, 3)), rng.integers(0, 2, 8), verbose=0)


def test_sample_weight_two_equals_duplicated_row():
    a, b = kcm.ConfusionMatrix(num_classes=3), kcm.ConfusionMatrix(num_classes=3)
    y_pred = np.eye(3, dtype="float32")[[0, 2, 1]]
    a.update_state([0, 1, 1], y_pred, sample_weight=[1.0, 2.0, 1.0])
    b.update_state([0, 1, 1, 1], y_pred[[0, 1, 1, 2]])
    np.testing.assert_array_equal(to_numpy(a.result()), to_numpy(b.result()))


def test_multilabel_metrics_with_per_label_thresholds_equal_sklearn(rng):
    y = rng.integers(0, 2, (40, 3))
    y_pred = rng.uniform(0, 1, (40, 3)).astype("float32")
    w = rng.integers(0, 3, 40).astype("float32")
    thr = [0.3, 0.5, 0.7]
    decisions = (y_pred >= np.array(thr, "float32")).astype(int)
    for avg in ("macro", "micro", "weighted", None):
        m = kcm.Precision(multilabel=True, num_labels=3, threshold=thr, average=avg)
        for part in np.array_split(np.arange(40), 3):
            m.update_state(y[part], y_pred[part], sample_weight=w[part])
        expected = skm.precision_score(y, decisions, average=avg, sample_weight=w,
                                       zero_division=0.0)
        np.testing.assert_allclose(to_numpy(m.result()), expected, rtol=1e-5)
    cm = kcm.ConfusionMatrix(multilabel=True, num_labels=3, threshold=thr)
    cm.update_state(y, y_pred, sample_weight=w)
    np.testing.assert_array_equal(
        to_numpy(cm.result()), skm.multilabel_confusion_matrix(y, decisions, sample_weight=w))


def test_large_confusion_matrix_scatter_path_equals_sklearn(rng):
    # K = 400 has 160,000 cells: updated at the codes only, not through a dense pass.
    k = 400
    assert k * k + 1 > kcm._DENSE_CELLS
    y = rng.integers(0, k, 3000)
    y_pred = rng.normal(size=(3000, k)).astype("float32")
    w = rng.integers(0, 3, 3000).astype("float32")
    m = kcm.ConfusionMatrix(num_classes=k)
    for part in np.array_split(np.arange(3000), 3):
        m.update_state(y[part], y_pred[part], sample_weight=w[part])
    expected = skm.confusion_matrix(y, y_pred.argmax(-1), labels=range(k), sample_weight=w)
    np.testing.assert_array_equal(to_numpy(m.result()), expected)
    np.testing.assert_array_equal(m.counts(), expected)


@pytest.mark.skipif(BACKEND != "tensorflow", reason="a stateful update in a compiled step")
@pytest.mark.parametrize("jit_compile", [False, True])
def test_large_confusion_matrix_updated_in_tf_function_equals_sklearn(rng, jit_compile):
    # Inside a tf.function the K = 400 state is updated in place at the codes; rows
    # with NaN or inf are tallied, and rows whose sum overflows are still counted.
    k = 400
    y = rng.integers(0, k, 3000)
    y_pred = rng.normal(size=(3000, k)).astype("float32")
    y_pred[5, 7] = np.nan
    y_pred[6, 9] = -np.inf
    y_pred[7, :] = 3e38  # finite; the row sum overflows; a tie: class 0
    w = rng.integers(0, 3, 3000).astype("float32")
    m = kcm.ConfusionMatrix(num_classes=k)
    import tensorflow as tf

    step = tf.function(m.update_state, jit_compile=jit_compile)
    for part in np.array_split(np.arange(3000), 3):
        step(y[part], y_pred[part], sample_weight=w[part])
    ok = np.isfinite(y_pred).all(-1)
    expected = skm.confusion_matrix(y[ok], y_pred[ok].argmax(-1), labels=range(k),
                                    sample_weight=w[ok])
    np.testing.assert_array_equal(m.counts(), expected)
    assert m.invalid == 2


def _xla_calls(graph):
    """Names of the functions that a TensorFlow graph calls with ``_XlaMustCompile`` set,
    in its own ops or in the branches of its conditionals."""
    graph_def = graph.as_graph_def()
    library = {f.signature.name: f for f in graph_def.library.function}
    names = []

    def visit(nodes):
        for node in nodes:
            if node.op in ("PartitionedCall", "StatefulPartitionedCall"):
                name = node.attr["f"].func.name
                attr = library[name].attr
                if "_XlaMustCompile" in attr and attr["_XlaMustCompile"].b:
                    names.append(name)
                else:
                    visit(library[name].node_def)
            elif node.op in ("If", "StatelessIf"):
                for branch in ("then_branch", "else_branch"):
                    visit(library[node.attr[branch].func.name].node_def)

    visit(graph_def.node)
    return names


@pytest.mark.skipif(BACKEND != "tensorflow", reason="TensorFlow's plain graph only")
@pytest.mark.parametrize(("num_classes", "weights"), [(2, "none"), (2, "int"), (3, "int"),
                                                     (80, "none")])  # 80: NumPy's argmax
def test_every_metric_updated_in_plain_tf_function_equals_eager_and_sklearn(
        monkeypatch, num_classes, weights):
    # In a plain graph on a machine with CPUs only (Keras' choice there) the cell codes
    # of a large enough batch are computed by one XLA kernel (`_backend.kernels.fused`); the
    # counts must not change. Here "large enough" is 64 values: the 150-sample batches
    # take the kernel, the empty one TensorFlow's ops.
    import tensorflow as tf

    from keras_confusion._backend import kernels

    monkeypatch.setattr(kernels, "_FUSED_MIN_SIZE", 64)
    rng = np.random.default_rng(num_classes)
    y, y_pred, w = _random_data(rng, num_classes, n=300, weights=weights)
    decisions = _decisions(y_pred, num_classes)
    specs = [tf.TensorSpec([None], tf.int64), tf.TensorSpec([None, *y_pred.shape[1:]],
                                                            tf.float32)]
    if w is not None:
        specs.append(tf.TensorSpec([None], tf.float32))
    for make, reference in _cases(num_classes):
        eager, graph = make(), make()
        step = tf.function(graph.update_state, input_signature=specs, jit_compile=False)
        assert len(_xla_calls(step.get_concrete_function().graph)) == 1
        for part in np.array_split(np.arange(len(y)), [0, 0, 150]):
            args = [y[part], y_pred[part]] + ([] if w is None else [w[part]])
            step(*args)
        eager.update_state(y, y_pred, sample_weight=w)
        np.testing.assert_allclose(to_numpy(graph.result()), to_numpy(eager.result()),
                                   rtol=1e-6, atol=1e-6, err_msg=graph.name)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # scikit-learn's zero-division warnings
            expected = _nan_to_zero(reference(y, decisions, w))
        np.testing.assert_allclose(to_numpy(graph.result()), expected, rtol=1e-5, atol=1e-5,
                                   err_msg=graph.name)


@pytest.mark.skipif(BACKEND != "tensorflow", reason="TensorFlow's graphs only")
@pytest.mark.parametrize("batch", [1024, 16384, None])  # None: known when the step runs
@pytest.mark.parametrize("jit_compile", [False, True])
@pytest.mark.parametrize("metric", ["thresholds", "binary", "multilabel", "k10", "k80"])
def test_tf_update_fuses_cell_codes_into_one_xla_kernel_only_in_a_plain_graph(
        metric, jit_compile, batch):
    import tensorflow as tf

    make, shape = {
        "thresholds": (lambda: kcm.ThresholdConfusion(num_thresholds=200), []),
        "binary": (lambda: kcm.ConfusionMatrix(), []),
        "multilabel": (lambda: kcm.ConfusionMatrix(multilabel=True, num_labels=3), [3]),
        "k10": (lambda: kcm.ConfusionMatrix(num_classes=10), [10]),
        "k80": (lambda: kcm.ConfusionMatrix(num_classes=80), [80]),
    }[metric]
    label_shape = [batch, *shape] if metric == "multilabel" else [batch]
    step = tf.function(make().update_state, jit_compile=jit_compile)
    graph = step.get_concrete_function(tf.TensorSpec(label_shape, tf.int32),
                                       tf.TensorSpec([batch, *shape], tf.float32)).graph
    # Under jit_compile=True the whole step is one XLA computation already; in a plain
    # graph, a batch of 16,384 score values and more is one kernel (the argmax with it).
    values = batch and batch * {"multilabel": 3, "k10": 10, "k80": 80}.get(metric, 1)
    large = batch is None or values >= 16384
    assert len(_xla_calls(graph)) == (0 if jit_compile or not large else 1)
    # No call back into Python: the update can be exported in a SavedModel.
    assert not any(op.type.startswith("PyFunc") for op in graph.get_operations())
    # The counting itself is in the calling graph: in a plain one, TensorFlow's kernel;
    # under XLA, for a batch of known size and few enough scores, a scatter of codes
    # kept on one thread (`kernels.one_thread_codes`).
    from keras_confusion._backend import kernels

    one_thread = jit_compile and batch and values <= kernels._ONE_THREAD_MAX
    counting = "ResourceScatterNdAdd" if one_thread else "DenseBincount"
    assert counting in {op.type for op in graph.get_operations()}


@pytest.mark.parametrize("num_classes", [2, 400])
def test_counts_stay_exact_past_float32_integer_limit(num_classes):
    # 2**24 + 1 is not a float32; a plain float32 state would round it to 2**24.
    m = kcm.ConfusionMatrix(num_classes=num_classes)
    y_pred = np.array([0.9], "float32") if num_classes == 2 else np.eye(num_classes,
                                                                       dtype="float32")[[1]]
    m.update_state([1], y_pred, sample_weight=[2.0**24])
    for _ in range(3):
        m.update_state([1], y_pred)
    assert m.counts()[1, 1] == 2**24 + 3
    # Far beyond: the state as after 2**40 samples, then single samples on top, the
    # last ones after a carry of the int32 counts into the float32 pair.
    cell = num_classes + 1
    hi = np.where(np.arange(m.counts_pair.shape[1]) == cell, 2.0**40, 0.0)
    m.counts_pair.assign(keras.ops.convert_to_tensor(np.stack([hi, 0 * hi]), dtype="float32"))
    m.counts_int.assign(keras.ops.zeros(m.counts_int.shape, dtype="int32"))
    for _ in range(5):
        m.update_state([1], y_pred)
    assert m.counts()[1, 1] == 2**40 + 5
    state = np.array(to_numpy(m.counts_int.value))
    state[-1] = kcm._CARRY_AT  # samples since the last carry: the next batch carries first
    m.counts_int.assign(keras.ops.convert_to_tensor(state))
    for _ in range(2):
        m.update_state([1], y_pred)
    assert to_numpy(m.counts_int.value)[cell] == 2
    assert m.counts()[1, 1] == 2**40 + 7


@pytest.mark.parametrize("n", [2**24 + 1, 2**25 + 3])
def test_one_unweighted_batch_past_2_24_in_one_cell_is_counted_exactly(n):
    # A float32 histogram of one batch stopped at 2**24 (16,777,216 counted for
    # 2**24 + 1), and on JAX a batch of 2**25 + 3 counted half.
    m = kcm.ConfusionMatrix()
    m.update_state(np.zeros(n, "int8"), np.full(n, 0.1, "float32"))
    np.testing.assert_array_equal(m.counts(), [[n, 0], [0, 0]])
    assert to_numpy(m.result())[0, 0] == np.float32(n)
    if n == 2**24 + 1:
        t = kcm.ThresholdConfusion(thresholds=[0.05, 0.5])
        t.update_state(np.ones(n, "int8"), np.full(n, 0.1, "float32"))
        np.testing.assert_array_equal(t.counts(), [[[0, 0], [0, n]], [[0, 0], [n, 0]]])


def test_batch_larger_than_the_chunk_is_counted_in_chunks_exactly(monkeypatch, rng):
    from keras_confusion import metrics as metrics_module

    monkeypatch.setattr(metrics_module, "_CHUNK", 1000)
    y = rng.integers(0, 3, 2500)
    p = rng.normal(size=(2500, 3)).astype("float32")
    m = kcm.ConfusionMatrix(num_classes=3)
    m.update_state(y, p)
    np.testing.assert_array_equal(m.counts(), skm.confusion_matrix(y, p.argmax(-1)))


def test_carry_into_the_float32_pair_is_exact_below_2_47(rng):
    from keras_confusion._backend.compensated import carried

    # Pairs as the state holds them (hi an integer float32, |lo| <= ulp(hi) / 2), plus
    # int32 counts up to 2**31 - 1: hi + lo + counts, compared in exact integers.
    total = rng.integers(0, 2**47 - 2**31, 2000, dtype=np.int64)
    total[:4] = [0, 2**24 - 1, 2**24 + 1, 2**46 + 12345]
    hi = total.astype("float32")
    lo = (total - hi.astype(np.int64)).astype("float32")
    assert np.all(hi.astype(np.int64) + lo.astype(np.int64) == total)
    counts = rng.integers(0, 2**31 - 1, 2000, dtype=np.int64)
    counts[:4] = [2**31 - 1, 1, 255, 256]
    s, err = carried(keras.ops.convert_to_tensor(hi), keras.ops.convert_to_tensor(lo),
                     keras.ops.convert_to_tensor(counts.astype("int32")))
    s, err = to_numpy(s), to_numpy(err)
    np.testing.assert_array_equal(s.astype(np.int64) + err.astype(np.int64), total + counts)
    assert np.all(s == (s.astype("float64") + err).astype("float32"))  # renormalised


def test_float64_dtype_makes_result_exact_past_2_24_where_the_backend_has_float64():
    from keras_confusion import _backend

    wide = _backend.has_float64(keras.ops.zeros(()))
    y_pred = np.array([0.9], "float32")
    for make in [lambda d: kcm.ConfusionMatrix(dtype=d),
                 lambda d: kcm.Sensitivity(dtype=d),
                 lambda d: kcm.ThresholdConfusion(thresholds=[0.5], dtype=d)]:
        results = {}
        for dtype in ["float32", "float64", "float16"]:
            m = make(dtype)
            m.update_state([1, 0], np.array([0.9, 0.9], "float32"), sample_weight=[2.0**24, 1])
            for _ in range(3):
                m.update_state([1], y_pred)
            results[dtype] = to_numpy(m.result())
        tp = lambda r: np.asarray(r).reshape(-1, 2, 2)[0, 1, 1]  # noqa: E731
        if isinstance(m, kcm.Sensitivity):
            # recall = TP / (TP + FN) = 1 either way; the figure's dtype follows.
            assert results["float64"].dtype == (np.float64 if wide else np.float32)
            continue
        assert tp(results["float32"]) == np.float32(2**24 + 3)  # 2**24 + 4: rounded
        assert tp(results["float64"]) == (2**24 + 3 if wide else np.float32(2**24 + 3))
        assert results["float16"].dtype == np.float32  # counts never in half precision


def test_threshold_confusion_counts_stay_exact_past_float32_integer_limit():
    m = kcm.ThresholdConfusion(num_thresholds=3)
    m.update_state([1], [0.7], sample_weight=[2.0**24])
    m.update_state([1, 0], [0.7, 0.7])
    counts = m.counts()
    assert counts[1, 1, 1] == 2**24 + 1  # TP at threshold 0.5
    assert counts[1, 0, 1] == 1  # FP


def test_nan_scores_and_invalid_labels_are_tallied_not_counted_and_result_warns():
    m = kcm.Sensitivity()
    m.update_state([1, 1, 0, 2, 1, 0], [np.nan, 0.9, np.inf, 0.8, 0.2, 0.6],
                   sample_weight=[1, 1, 1, 1, 1, -1])
    assert m.invalid == 4
    with pytest.warns(ConfusionWarning, match="4 invalid samples"):
        value = float(m.result())
    assert value == 0.5  # TP = 1 (0.9), FN = 1 (0.2); the NaN is not a negative
    t = kcm.ThresholdConfusion(num_thresholds=3)
    t.update_state([1, 1, 0.5], [np.nan, 0.9, 0.4])
    with pytest.warns(ConfusionWarning, match="2 invalid samples"):
        np.testing.assert_array_equal(to_numpy(t.result())[0], [[0, 0], [0, 1]])


def test_text_labels_or_scores_raise_value_error_naming_them():
    # Each backend failed its own way: "Invalid dtype: str32" (torch), "Cast string to
    # double is not supported" (TensorFlow), a TypeError (JAX), naming no argument.
    from keras_confusion import losses

    with pytest.raises(ValueError, match=r"`y_true` must be an array of numbers\. "
                                         r"Received: y_true=<array of text"):
        kcm.ConfusionMatrix().update_state(np.array(["0", "1"]), np.array([0.2, 0.7]))
    with pytest.raises(ValueError, match=r"`y_pred` must be an array of numbers"):
        kcm.ConfusionMatrix().update_state([0, 1], ["0.2", "0.7"])
    with pytest.raises(ValueError, match=r"`y_true` must be an array of numbers"):
        losses.FBetaLoss()(np.array(["0", "1"]), np.array([0.2, 0.7]))


def test_multiclass_config_saved_with_a_threshold_still_loads():
    # Before 67d8058 ConfusionMatrix(3, threshold=0.3) was accepted (and the threshold
    # ignored); a model saved then must still load, counting as it did.
    for cls, extra in ((kcm.ConfusionMatrix, {}), (kcm.Precision, {"average": "macro"})):
        config = cls(num_classes=3, **extra).get_config()
        config["threshold"] = 0.3
        restored = cls.from_config(config)
        assert restored.threshold == 0.5
        restored.update_state([0, 1, 2, 2], np.eye(3)[[0, 1, 1, 2]])
        np.testing.assert_array_equal(restored.counts(),
                                      skm.confusion_matrix([0, 1, 2, 2], [0, 1, 1, 2]))


def test_invalid_samples_warn_once_per_accumulation_not_at_every_result():
    # Keras reads result() after each batch of an eager evaluate: three batches with a
    # NaN score warned four times per metric.
    m = kcm.Sensitivity()
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        for _ in range(3):
            m.update_state([1, 0], [np.nan, 0.2])
            m.result()
        m.result()
    assert [str(r.message)[:48] for r in record if r.category is ConfusionWarning] == [
        "Sensitivity `sensitivity` left 1 invalid samples"]
    assert m.invalid == 3
    m.reset_state()
    m.update_state([1], [np.inf])
    with pytest.warns(ConfusionWarning, match="left 1 invalid samples out of its counts so "
                                              r"far .*`\.invalid` holds the total"):
        m.result()


@pytest.mark.parametrize("task", ["binary", "multilabel", "thresholds"])
def test_bool_labels_accumulated_equal_one_shot_and_sklearn(task, rng):
    y = rng.random((40, 3) if task == "multilabel" else 40) < 0.4
    p = rng.choice(np.arange(11) / 10, y.shape).astype("float32")
    if task == "thresholds":
        make = lambda: kcm.ThresholdConfusion(thresholds=[0.3, 0.5])  # noqa: E731
        ref = np.stack([skm.confusion_matrix(y, p >= t, labels=[0, 1]) for t in (0.3, 0.5)])
    elif task == "multilabel":
        make = lambda: kcm.ConfusionMatrix(multilabel=True, num_labels=3)  # noqa: E731
        ref = skm.multilabel_confusion_matrix(y, p >= 0.5)
    else:
        make = kcm.ConfusionMatrix
        ref = skm.confusion_matrix(y, p >= 0.5, labels=[0, 1])
    one, batched = make(), make()
    one.update_state(y, p)
    for part in np.array_split(np.arange(40), 3):
        batched.update_state(y[part], p[part])
    np.testing.assert_array_equal(to_numpy(one.result()), ref)
    np.testing.assert_array_equal(to_numpy(batched.result()), ref)


def test_labels_beyond_int32_are_tallied_invalid_not_wrapped_around():
    # Wrapped into int32 (JAX without x64), 2**32 would read as class 0, 2**32 + 1 as 1.
    y = np.array([0, 1, 2 ** 32, 2 ** 32 + 1, 2 ** 33 + 2], dtype=np.int64)
    p = np.array([0.2, 0.9, 0.1, 0.8, 0.3], "float32")
    m = kcm.ConfusionMatrix()
    m.update_state(y, p)
    assert m.invalid == 3
    np.testing.assert_array_equal(m.counts(), skm.confusion_matrix(y[:2], p[:2] >= 0.5))
    multi = kcm.ConfusionMatrix(num_classes=3)
    multi.update_state(y, np.eye(3, dtype="float32")[[0, 1, 0, 1, 2]])
    assert multi.invalid == 3
    with pytest.raises(ValueError, match="`y_true`"):
        confusion_matrix(y, p)


@pytest.mark.parametrize("threshold", [np.float64(1.5), np.float32(-0.1), np.array([1.5]),
                                       np.array(2.0)])
def test_numpy_thresholds_are_checked_like_python_numbers(threshold):
    with pytest.raises(ValueError, match=r"`threshold`.*range"):
        kcm.ConfusionMatrix(threshold=threshold)
    with pytest.raises(ValueError, match=r"`threshold`.*range"):
        confusion_matrix([0, 1], [0.2, 0.8], threshold=threshold)


def test_threshold_confusion_refuses_an_integer_as_its_threshold_list():
    with pytest.raises(ValueError, match=r"`thresholds`.*num_thresholds=N"):
        kcm.ThresholdConfusion(thresholds=5)


def test_compiled_update_tallies_invalid_samples_instead_of_raising():
    m = kcm.ConfusionMatrix(num_classes=3)

    def step(variables, y, p):
        return m.stateless_update_state(variables, y, p)

    y = np.array([0, 1, 3, 2, -1], "int32")
    p = np.eye(3, dtype="float32")[[0, 1, 1, 2, 0]]
    p[3, 0] = np.nan
    variables = compiled(step)([v.value for v in m.variables], y, p)
    for var, value in zip(m.variables, variables, strict=True):
        var.assign(value)
    assert m.invalid == 3
    np.testing.assert_array_equal(m.counts(), np.diag([1, 1, 0]))


def test_reset_state_zeroes_counts_and_invalid_tally():
    for metric in (kcm.ConfusionMatrix(num_classes=3), kcm.MCC(),
                   kcm.ThresholdConfusion(num_thresholds=4)):
        y_pred = np.eye(3, dtype="float32")[[0, 2]] if metric.name == "confusion_matrix" \
            else np.array([0.3, np.nan], "float32")
        metric.update_state([0, 1], y_pred)
        metric.reset_state()
        assert not any(to_numpy(v.value).any() for v in metric.variables)
        assert metric.invalid == 0
    metric = kcm.ConfusionMatrix(num_classes=400)
    metric.update_state([0, 1], np.eye(400, dtype="float32")[[0, 2]])
    metric.update_state([0], np.eye(400, dtype="float32")[[0]], sample_weight=[0.5])
    metric.reset_state()
    assert not any(to_numpy(v.value).any() for v in metric.variables)


@pytest.mark.parametrize("mode", ["eager", "graph", "xla"] if BACKEND == "tensorflow"
                         else ["eager", "compiled"])
@pytest.mark.parametrize("k", [3, 400])  # a dense and a scattered state update
def test_int_counts_carried_every_carry_at_samples_equal_sklearn_after_each_batch(
        monkeypatch, mode, k):
    from keras_confusion import metrics as metrics_module

    # 1,000 instead of 2**31 - 1, so that carries into the float32 pair come every few
    # batches, and a NaN row each time, tallied as invalid across carries too.
    monkeypatch.setattr(metrics_module, "_CARRY_AT", 1000)
    rng = np.random.default_rng(7)
    m = kcm.ConfusionMatrix(num_classes=k)
    update = m.update_state
    if mode in ("graph", "xla"):
        import tensorflow as tf

        update = tf.function(m.update_state, jit_compile=mode == "xla")
    elif mode == "compiled":
        step = compiled(m.stateless_update_state)

        def update(y, p, sample_weight=None):
            new = step([v.value for v in m.variables], y, p, sample_weight=sample_weight)
            for variable, value in zip(m.variables, new, strict=True):
                variable.assign(value)

    # Unweighted, then weighted (quarters: their sums are exact), then unweighted again.
    plan = [(300, False)] * 5 + [(200, True), (300, False), (300, False), (300, False)]
    pending = [300, 600, 900, 300, 600, 600, 900, 300, 600]
    ys, ps, ws = [], [], []
    for (n, weighted), expected_pending in zip(plan, pending, strict=True):
        y = rng.integers(0, k, n)
        p = rng.normal(size=(n, k)).astype("float32")
        p[0, 0] = np.nan
        w = (rng.integers(1, 8, n) / 4).astype("float32") if weighted else np.ones(n, "float32")
        if weighted:
            update(y, p, sample_weight=w)
        else:
            update(y, p)
        ys.append(y[1:]), ps.append(p[1:]), ws.append(w[1:])
        y_all, p_all = np.concatenate(ys), np.concatenate(ps)
        expected = skm.confusion_matrix(y_all, p_all.argmax(-1), labels=range(k),
                                        sample_weight=np.concatenate(ws))
        np.testing.assert_array_equal(m.counts(), expected)
        assert m.invalid == len(ys)
        assert int(to_numpy(m.counts_int.value)[-1]) == expected_pending


def _threshold_reference(y, scores, w, thresholds):
    """Brute force of the exact rule: the scores' values against float64 thresholds."""
    pos = scores.astype("float64")[:, None] >= np.asarray(thresholds, "float64")[None, :]
    yt = (y == 1)[:, None]
    w = np.ones(len(y)) if w is None else w
    cells = [[~yt & ~pos, ~yt & pos], [yt & ~pos, yt & pos]]
    return np.stack([np.stack([(w[:, None] * c).sum(0) for c in row], -1) for row in cells],
                    -2)


@settings(max_examples=12)  # each example builds two metrics; 12 cover the 12 combinations
@given(st.integers(0, 2**31 - 1), st.sampled_from([None, "int"]), st.sampled_from([1, 3]),
       st.sampled_from(["linear", "logit", "explicit"]))
def test_threshold_confusion_accumulated_equals_one_shot_and_brute_force(seed, weighted,
                                                                        splits, spacing):
    rng = np.random.default_rng(seed)
    n = 60
    y = rng.integers(0, 2, n)
    if spacing == "explicit":
        thresholds = [0.7, 0.0, 0.25, 1.0, 0.25, 0.5]  # unsorted, with a duplicate
        metric = lambda: kcm.ThresholdConfusion(thresholds=thresholds)  # noqa: E731
    else:
        thresholds = kcm.ThresholdConfusion(num_thresholds=7, spacing=spacing).thresholds
        metric = lambda: kcm.ThresholdConfusion(num_thresholds=7, spacing=spacing)  # noqa: E731
    # Half the scores sit on thresholds as float32 holds them: rounded to nearest (0.7
    # becomes 0.69999999, below 0.7) or up (the smallest float32 >= 0.7, a tie).
    near = np.concatenate([np.asarray(thresholds, "float32"), ceil_to(thresholds, "float32")])
    scores = np.where(rng.uniform(size=n) < 0.5, near[rng.integers(0, len(near), n)],
                      rng.uniform(0, 1, n)).astype("float32")
    w = rng.integers(0, 3, n).astype("float32") if weighted else None
    one, batched = metric(), metric()
    one.update_state(y, scores, sample_weight=w)
    for part in np.array_split(np.arange(n), splits):
        batched.update_state(y[part], scores[part], None if w is None else w[part])
    expected = _threshold_reference(y, scores, w, thresholds)
    np.testing.assert_array_equal(to_numpy(batched.result()), to_numpy(one.result()))
    np.testing.assert_array_equal(to_numpy(one.result()), expected)
    i = len(thresholds) // 2
    np.testing.assert_array_equal(
        expected[i], skm.confusion_matrix(y, scores.astype("float64") >= thresholds[i],
                                          labels=[0, 1], sample_weight=w))


# How the bucketing can run: eagerly, compiled as Keras compiles a step (jax.jit, XLA),
# and on TensorFlow also as a plain tf.function, whose graph optimiser rewrites arithmetic,
# and as the XLA kernel a metric's update calls from a plain tf.function (`fused`).
_BUCKETING_MODES = {"jax": ["eager", "compiled"],
                    "tensorflow": ["eager", "compiled", "graph", "fused"],
                    "torch": ["eager"]}.get(BACKEND, ["eager"])

# Grids of both bucketing paths: uniform on [0, 1] (one rounding, one comparison) and
# the table path (logit spacing, logits, grids that are not uniform).
_GRIDS = {
    # 65,537 thresholds: d = 2**16, the largest grid `_split_buckets` counts; 65,538
    # takes the float64 or the gather path.
    **{f"linear-{t}": ("linear", t) for t in (2, 3, 7, 200, 10_000, 65_537, 65_538)},
    **{f"logit-{t}": ("logit", t) for t in (3, 200, 10_000)},
    "quarters-unsorted": [0.75, 0.0, 1.0, 0.25, 0.5],
    "near-uniform": [0.0, 0.26, 0.5, 0.74, 1.0],  # within a quarter step of i / 4
    "not-uniform": [0.0, 0.4, 0.5, 1.0],  # 0.5 is half a step from 2 / 3
}


def _grid(name):
    from keras_confusion.counts import thresholds_grid

    grid = _GRIDS[name]
    if isinstance(grid, tuple):
        return thresholds_grid(grid[1], spacing=grid[0])
    return np.asarray(grid)


@pytest.mark.parametrize("mode", _BUCKETING_MODES)
@pytest.mark.parametrize("from_logits", [False, True])
@pytest.mark.parametrize("grid", list(_GRIDS))
def test_threshold_bucketing_is_exact_at_and_next_to_every_threshold(rng, monkeypatch, mode,
                                                                     from_logits, grid):
    plan = threshold_plan(_grid(grid), from_logits)
    # Probed at, and next to, each threshold rounded to float32 both ways.
    edges = np.concatenate([plan.sorted_edges.astype("float32"),
                            ceil_to(plan.sorted_edges, "float32")])
    finite = edges[np.isfinite(edges)]
    if from_logits:
        random = np.concatenate([rng.normal(0, 6, 5000), rng.uniform(-20, 20, 500)])
    else:
        # Scores outside [0, 1] are not validated inside a compiled step; they are
        # still counted against every threshold.
        random = np.concatenate([rng.uniform(0, 1, 5000), rng.uniform(0, 1e-6, 500),
                                 1 - rng.uniform(0, 1e-5, 500),
                                 [-0.0, -1e-3, -1.0, 1.0 + 1e-6, 1.5, 1e30, -1e30]])
    up, down = np.float32(np.inf), np.float32(-np.inf)
    scores = np.concatenate([random.astype("float32"), finite, np.nextafter(finite, up),
                             np.nextafter(finite, down), [0.0, 1.0]]).astype("float32")
    # XLA flushes subnormals to zero; they are not scores a model produces.
    scores = scores[(scores == 0) | (np.abs(scores) >= np.finfo("float32").tiny)]

    def buckets(s):
        return threshold_buckets(s, plan)

    if mode == "compiled":
        buckets = compiled(buckets)
    elif mode == "graph":
        import tensorflow as tf

        buckets = tf.function(buckets, jit_compile=False)
    elif mode == "fused":
        import tensorflow as tf

        from keras_confusion._backend import kernels

        monkeypatch.setattr(kernels, "_FUSED_MIN_SIZE", 0)  # whatever the batch's size
        buckets = tf.function(lambda s: kernels.fused(lambda: threshold_buckets(s, plan), s),
                              jit_compile=False)
        graph = buckets.get_concrete_function(tf.TensorSpec(scores.shape, tf.float32)).graph
        assert len(_xla_calls(graph)) == kernels._tf_cpu_only()
    got = to_numpy(buckets(keras.ops.convert_to_tensor(scores)))
    # The exact rule: float32 scores against the float64 thresholds.
    expected = np.searchsorted(plan.sorted_edges, scores.astype("float64"), side="right")
    np.testing.assert_array_equal(got, expected)
    # The O(1) path the grid should take was the one used.
    # (The 3-point logit grid, 1e-7, 0.5 and 1 - 1e-7, is uniform to within 1e-7.)
    uniform = not from_logits and grid not in ("logit-200", "logit-10000", "not-uniform")
    assert (_uniform_edges(plan, "float32") is not None) == uniform
    if not uniform:
        assert _bucket_table(plan, "float32") is not None
    else:
        # Edges that are float32(i / d) are recomputed (where float64 is available);
        # those only near i / d (within a quarter step) are gathered.
        assert _edges_recomputed(plan, "float32") == (grid not in ("near-uniform", "logit-3"))
    # Float32 scores on a grid of float32(i / d), d <= 2**16, can be split rather than
    # looked up (`_split_buckets`, tested below on every backend).
    split = uniform and grid not in ("near-uniform", "logit-3", "linear-65538")
    assert (split_rule(plan) is not None) == split


@pytest.mark.parametrize("mode", [m for m in _BUCKETING_MODES if m != "fused"])
@pytest.mark.parametrize("d", [1, 2, 3, 199, 4095, 4096, 9_999, 40_000, 65_535, 65_536])
def test_split_buckets_equal_float64_floor_on_random_float32_bit_patterns(mode, d):
    # `_split_buckets` against ``floor(score * d) + 1``, exact in float64, on float32
    # values drawn uniformly over their bit patterns (every exponent of [2**-126, 4]
    # equally likely, both signs) and on the float32 values next to every ``i / d``.
    # (The whole of [-1, 2.5] agreed for d = 1, 2, 199, 4095, 9999, 12345, 40000,
    # 65535 and 65536 when the rule was written, about 30 s per d.)
    rng = np.random.default_rng(d)
    bits = rng.integers(0x00800000, 0x40800000, 200_000, dtype=np.uint32)
    bits[::2] |= np.uint32(0x80000000)
    near = (np.arange(d + 1) / d).astype("float32")
    scores = np.concatenate([
        bits.view("float32"), near, np.nextafter(near, np.float32(2)),
        np.nextafter(near, np.float32(-1)), rng.uniform(0, 1, 20_000).astype("float32"),
        [0.0, -0.0, 1.0, 4.0, 1e30, -1e30]]).astype("float32")
    # XLA flushes subnormals to zero (next to 0); they are not scores a model produces.
    scores = scores[(scores == 0) | (np.abs(scores) >= np.finfo("float32").tiny)]
    count = lambda s: _split_buckets(s, d)  # noqa: E731
    if mode == "compiled":
        count = compiled(count)
    elif mode == "graph":
        import tensorflow as tf

        count = tf.function(count, jit_compile=False)
    got = to_numpy(count(keras.ops.convert_to_tensor(scores)))
    expected = np.clip(np.floor(scores.astype("float64") * d) + 1, 0, d + 1)
    np.testing.assert_array_equal(got, expected)


def test_edges_are_recomputed_in_float64_only_where_the_device_has_it():
    from keras_confusion import _backend

    x = keras.ops.zeros((3,))
    if BACKEND == "jax":
        import jax

        assert _backend.has_float64(x) == bool(jax.config.jax_enable_x64)
    elif BACKEND == "torch":
        import torch

        assert _backend.has_float64(x) == (x.device.type in ("cpu", "cuda"))
        # Apple's MPS has no float64; the "meta" device stands for such a device here.
        assert not _backend.has_float64(torch.zeros(3, device="meta"))
    else:
        import tensorflow as tf

        assert _backend.has_float64(x) == (not tf.config.list_logical_devices("TPU"))


def test_float64_recomputed_edges_equal_every_linear_grid_up_to_10001_thresholds():
    # The claim behind computing ``edges[r]`` rather than gathering it, for every grid
    # size the default spacing can make here; a size it failed for would gather.
    failed = [t for t in range(2, 10_002)
              if not _edges_recomputed(threshold_plan(np.linspace(0, 1, t), False),
                                       "float32")]
    assert failed == []


def _update_in_thirds(m, mode, y, s):
    """Add ``y, s`` to the metric ``m`` in three batches: eagerly, in a step compiled as
    Keras compiles one ("compiled"), or in a plain tf.function ("graph")."""
    update = m.update_state
    if mode == "compiled":
        step = compiled(lambda variables, a, b: m.stateless_update_state(variables, a, b))

        def update(a, b):
            new = step([v.value for v in m.variables], a, b)
            for var, value in zip(m.variables, new, strict=True):
                var.assign(value)
    elif mode == "graph":
        import tensorflow as tf

        update = tf.function(m.update_state, jit_compile=False)
    for part in np.array_split(np.arange(len(y)), 3):
        update(keras.ops.convert_to_tensor(y[part]), keras.ops.convert_to_tensor(s[part]))


# A metric's update in a plain graph ("graph") is the fused kernel already.
@pytest.mark.parametrize("mode", [m for m in _BUCKETING_MODES if m != "fused"])
@pytest.mark.parametrize("label_dtype", ["int32", "int64", "uint8", "float32"])
def test_threshold_confusion_tallies_labels_outside_0_1_and_non_finite_scores(
        mode, label_dtype):
    if label_dtype == "int64" and BACKEND == "jax":
        pytest.skip("JAX holds int64 as int32 unless x64 is enabled")
    info = np.iinfo(label_dtype) if label_dtype != "float32" else None
    labels = [0, 1, 2, 3] + ([info.max, info.max - 1] if info else [0.5, -1.0])
    if info is not None and info.min < 0:
        labels += [-1, -2, info.min, info.min + 1]
    if label_dtype == "int64":
        labels += [2**32, 2**32 + 1, 2**31]  # an int32 cast would read 0, 1, negative
    rng = np.random.default_rng(len(labels))
    y = np.array(labels * 40, dtype=label_dtype)
    s = rng.uniform(0, 1, len(y)).astype("float32")
    s[::7] = np.nan
    s[1::11] = np.inf
    s[2::13] = -np.inf
    s[3::5] = 1e30  # finite: counted as above every threshold
    m = kcm.ThresholdConfusion(num_thresholds=11)
    _update_in_thirds(m, mode, y, s)
    ok = np.isfinite(s) & ((y == 0) | (y == 1))
    thresholds = np.linspace(0, 1, 11)
    expected = _threshold_reference(y[ok].astype("int64"), s[ok], None, thresholds)
    np.testing.assert_array_equal(m.counts(), expected)
    assert m.invalid == np.sum(~ok)


@pytest.mark.parametrize("mode", [m for m in _BUCKETING_MODES if m != "fused"])
@pytest.mark.parametrize("label_dtype", ["int32", "int64", "uint8", "float32"])
@pytest.mark.parametrize("multilabel", [False, True])
def test_confusion_matrix_tallies_labels_outside_0_1_and_non_finite_scores(
        mode, label_dtype, multilabel):
    # Binary and multilabel codes use an integer label as it is (`hard_codes`): every
    # label that is not 0 or 1 must still reach the tally, whatever its dtype.
    if label_dtype == "int64" and BACKEND == "jax":
        pytest.skip("JAX holds int64 as int32 unless x64 is enabled")
    info = np.iinfo(label_dtype) if label_dtype != "float32" else None
    labels = [0, 1, 2, 3] + ([info.max, info.max - 1] if info else [0.5, -1.0, 1.5])
    if info is not None and info.min < 0:
        labels += [-1, -2, info.min, info.min + 1]
    if label_dtype == "int64":
        labels += [2**32, 2**32 + 1, 2**31]  # an int32 cast would read 0, 1, negative
    rng = np.random.default_rng(len(labels))
    shape = (len(labels) * 12, 3) if multilabel else (len(labels) * 12,)
    y = rng.choice(np.array(labels, dtype=label_dtype), shape)
    s = rng.uniform(0, 1, shape).astype("float32")
    s.flat[::7] = np.nan
    s.flat[1::11] = np.inf
    s.flat[2::13] = 0.5  # ties at the threshold count as positive
    m = kcm.ConfusionMatrix(multilabel=multilabel, num_labels=3 if multilabel else None)
    _update_in_thirds(m, mode, y, s)
    ok = np.isfinite(s) & ((y == 0) | (y == 1))
    if multilabel:
        expected = np.stack([skm.confusion_matrix(y[ok[:, j], j].astype("int64"),
                                                  s[ok[:, j], j] >= 0.5, labels=[0, 1])
                             for j in range(3)])
    else:
        expected = skm.confusion_matrix(y[ok].astype("int64"), s[ok] >= 0.5, labels=[0, 1])
    np.testing.assert_array_equal(m.counts(), expected)
    assert m.invalid == np.sum(~ok)


@pytest.mark.parametrize("one_thread", [True, False])
def test_compiled_counts_equal_sklearn_on_both_sides_of_the_one_thread_batch_limit(
        monkeypatch, one_thread):
    # Under XLA on a CPU, the codes of a batch of up to `_ONE_THREAD_MAX` scores go into
    # a buffer one cell longer, whose extra cell counts the batch's samples
    # (`kernels.one_thread_codes`); larger batches, and torch, take the plain histogram.
    # Batches on both sides of a lowered limit, empty and of one sample, against
    # scikit-learn and the count of invalid samples.
    from keras_confusion._backend import kernels

    monkeypatch.setitem(kernels.TRICKS, "xla_cpu_one_thread_codes", one_thread)
    monkeypatch.setattr(kernels, "_ONE_THREAD_MAX", 64)
    rng = np.random.default_rng(64)
    sizes = [0, 1, 63, 64, 65, 200]
    n = sum(sizes)
    y = rng.integers(0, 4, n)  # 2 and 3 are invalid binary labels, 3 an invalid class
    s = rng.uniform(0, 1, n).astype("float32")
    s[::9] = np.nan
    p = rng.uniform(0, 1, (n, 3)).astype("float32")
    p[1::8, 1] = np.inf
    thresholds = kcm.ThresholdConfusion(num_thresholds=11)
    matrix = kcm.ConfusionMatrix(num_classes=3)
    for m, scores in ((thresholds, s), (matrix, p)):
        step = compiled(lambda variables, a, b, m=m: m.stateless_update_state(variables, a, b))
        start = 0
        for size in sizes:
            part = slice(start, start + size)
            start += size
            new = step([v.value for v in m.variables], keras.ops.convert_to_tensor(y[part]),
                       keras.ops.convert_to_tensor(scores[part]))
            for var, value in zip(m.variables, new, strict=True):
                var.assign(value)
    ok = np.isfinite(s) & (y < 2)
    np.testing.assert_array_equal(thresholds.counts(), _threshold_reference(
        y[ok], s[ok], None, np.linspace(0, 1, 11)))
    assert thresholds.invalid == np.sum(~ok)
    ok = np.isfinite(p).all(axis=1) & (y < 3)
    np.testing.assert_array_equal(matrix.counts(), skm.confusion_matrix(
        y[ok], p[ok].argmax(axis=1), labels=[0, 1, 2]))
    assert matrix.invalid == np.sum(~ok)


@pytest.mark.skipif(BACKEND == "jax", reason="JAX computes in float32 unless x64 is enabled")
@pytest.mark.parametrize("grid", ["linear-7", "linear-10000", "quarters-unsorted"])
def test_float64_scores_are_bucketed_against_float64_thresholds(rng, grid):
    plan = threshold_plan(_grid(grid), False)
    edges = plan.sorted_edges
    scores = np.concatenate([rng.uniform(-0.1, 1.1, 5000), edges,
                             np.nextafter(edges, np.inf), np.nextafter(edges, -np.inf)])
    # TensorFlow's CPU kernels flush subnormals to zero, as XLA does.
    scores = scores[(scores == 0) | (np.abs(scores) >= np.finfo("float64").tiny)]
    tensor = keras.ops.convert_to_tensor(scores, dtype="float64")
    got = to_numpy(threshold_buckets(tensor, plan))
    np.testing.assert_array_equal(got, np.searchsorted(edges, scores, side="right"))
    assert _uniform_edges(plan, "float64") is not None


@pytest.mark.parametrize("make", [
    lambda: kcm.ConfusionMatrix(num_classes=4),
    lambda: kcm.ConfusionMatrix(multilabel=True, num_labels=2, threshold=[0.2, 0.6],
                                from_logits=True),
    lambda: kcm.Specificity(num_classes=3, average="weighted", zero_division=1.0),
    lambda: kcm.Sensitivity(), lambda: kcm.Precision(threshold=0.3),
    lambda: kcm.FBeta(2.0, average="micro", num_classes=3), lambda: kcm.MCC(num_classes=3),
    lambda: kcm.BalancedAccuracy(adjusted=True), lambda: kcm.CohenKappa(weights="linear"),
    lambda: kcm.ExpectedCost([[0, 1], [7, 0]], name="cost"),
    lambda: kcm.ConfusionMetric("tversky", {"alpha": 0.3, "beta": 0.7}),
    lambda: kcm.ThresholdConfusion(num_thresholds=9, spacing="logit", from_logits=True),
    lambda: kcm.ThresholdConfusion(thresholds=[0.9, 0.1]),
])
def test_get_config_round_trip_gives_same_config_and_result(make):
    metric = make()
    restored = type(metric).from_config(metric.get_config())
    assert restored.get_config() == metric.get_config()
    assert keras.saving.get_registered_object(
        f"keras_confusion>{type(metric).__name__}") is type(metric)
    # The same batches give the same result (thresholds, logits and task kept).
    rng = np.random.default_rng(4)
    k = getattr(metric, "num_classes", 2)
    if getattr(metric, "multilabel", False):
        y, s = rng.integers(0, 2, (40, 2)), rng.normal(size=(40, 2)).astype("float32")
    elif k > 2:
        y, s = rng.integers(0, k, 40), rng.dirichlet(np.ones(k), 40).astype("float32")
    else:
        y = rng.integers(0, 2, 40)
        s = (rng.normal(size=40) if metric.from_logits else rng.random(40)).astype("float32")
    for m in (metric, restored):
        m.update_state(y[:20], s[:20])
        m.update_state(y[20:], s[20:])
    np.testing.assert_array_equal(to_numpy(restored.result()), to_numpy(metric.result()))


@pytest.mark.parametrize(("make", "match"), [
    (lambda: kcm.ConfusionMatrix(num_classes=1), "num_classes.*Received: num_classes=1"),
    (lambda: kcm.Precision(num_classes=3), "average.*Received: average='binary'"),
    (lambda: kcm.ConfusionMatrix(multilabel=True), "num_labels.*Received: num_labels=None"),
    (lambda: kcm.ConfusionMatrix(threshold=1.5), "threshold.*Received: threshold=1.5"),
    # Accepted and ignored: multiclass decisions are the argmax.
    (lambda: kcm.ConfusionMatrix(3, threshold=0.3), r"`threshold` must be 0\.5 \(the "
     r"default\) with num_classes=3: multiclass decisions are the argmax"),
    (lambda: kcm.Precision(num_classes=3, average="macro", threshold=[0.3]), r"`threshold`"),
    (lambda: kcm.ExpectedCost([[0, 1], [1, 0]], num_classes=3), "cost_matrix.*\\(3, 3\\)"),
    (lambda: kcm.FBeta(beta=0.0), "beta.*Received: beta=0.0"),
    (lambda: kcm.CohenKappa(weights="cubic"), "weights.*Received: weights='cubic'"),
    (lambda: kcm.ThresholdConfusion(num_thresholds=1), "num_thresholds.*Received"),
    (lambda: kcm.ThresholdConfusion(spacing="log"), "spacing.*Received: spacing='log'"),
    (lambda: kcm.ThresholdConfusion(thresholds=[0.5, 2.0]), "thresholds.*\\[0, 1\\]"),
    (lambda: kcm.ConfusionMetric("nope"), "formula.*Received: formula='nope'"),
    # Text and truthy strings were taken: FBeta kept beta '2' in its config, and
    # BalancedAccuracy(adjusted="no") computed the adjusted value (0.5, not 0.75).
    (lambda: kcm.FBeta(beta="2"), r"`beta` must be a number > 0\. Received: beta='2'"),
    (lambda: kcm.BalancedAccuracy(adjusted="no"),
     r"`adjusted` must be True or False\. Received: adjusted='no'"),
    (lambda: kcm.ConfusionMatrix(threshold="0.5"), r"`threshold` must be a number in "
                                                   r"\[0, 1\].*Received: threshold='0\.5'"),
    (lambda: kcm.Specificity(zero_division="1"), r"`zero_division` must be a finite number"),
    # A TypeError from inside the formula ("f1() got an unexpected keyword argument").
    (lambda: kcm.ConfusionMetric("f1", {"bogus": 1}),
     r"`bogus` must be not given: it is neither an argument of ConfusionMetric's "
     r"formula_kwargs nor of formula 'f1'"),
    (lambda: kcm.ConfusionMetric("f1", [1]), r"`formula_kwargs` must be a dict of the "
                                             r"formula's keyword arguments, or None"),
])
def test_bad_arguments_raise_value_error_naming_argument_and_value(make, match):
    with pytest.raises(ValueError, match=match):
        make()


def test_update_with_wrong_number_of_labels_raises_value_error():
    m = kcm.ConfusionMatrix(multilabel=True, num_labels=3)
    with pytest.raises(ValueError, match="num_labels"):
        m.update_state(np.zeros((4, 2)), np.zeros((4, 2), "float32"))


@pytest.mark.skipif(BACKEND == "torch", reason="Keras compiles torch steps only on request")
def test_threshold_confusion_compiled_update_equals_eager(rng):
    y = rng.integers(0, 2, 500)
    scores = rng.uniform(0, 1, 500).astype("float32")
    eager, jitted = kcm.ThresholdConfusion(200), kcm.ThresholdConfusion(200)
    eager.update_state(y, scores)
    step = compiled(lambda v, a, b: jitted.stateless_update_state(v, a, b))
    values = step([v.value for v in jitted.variables], y, scores)
    for var, value in zip(jitted.variables, values, strict=True):
        var.assign(value)
    np.testing.assert_array_equal(jitted.counts(), eager.counts())


@pytest.mark.parametrize("k", [3, 400])  # a dense and a scattered state update
def test_stateless_update_returns_new_counts_and_leaves_given_state_and_variables_unchanged(
        rng, k):
    y = rng.integers(0, k, 50)
    p = rng.normal(size=(50, k)).astype("float32")
    m = kcm.ConfusionMatrix(num_classes=k)
    m.update_state(y[:10], p[:10])
    before = [to_numpy(v.value).copy() for v in m.variables]
    # The variables' own tensors, as a caller of the stateless API may pass them.
    given = [v.value for v in m.variables]
    new = m.stateless_update_state(given, y[10:], p[10:])
    for tensor, variable, old in zip(given, m.variables, before, strict=True):
        np.testing.assert_array_equal(to_numpy(tensor), old)
        np.testing.assert_array_equal(to_numpy(variable.value), old)
    # counts_int (cells, tally, samples since the last carry) and counts_pair (hi, lo).
    assert len(new) == 2
    counts, pair = (np.asarray(to_numpy(v), "float64") for v in new)
    assert counts[-1] == 50  # every sample since the last carry
    np.testing.assert_array_equal(
        (pair[0] + pair[1] + counts[:-1])[: k * k].reshape(k, k),
        skm.confusion_matrix(y, p.argmax(-1), labels=range(k)))


@pytest.mark.parametrize("dtype", ["float16", "bfloat16", "float32"])
@pytest.mark.parametrize("threshold", [0.7, 0.1, 0.9, 0.41234])
def test_scores_of_any_dtype_are_decided_by_the_exact_rule_as_report_does(dtype, threshold):
    """A float32 / float16 / bfloat16 score equal to the threshold rounded to nearest is
    below it when rounding went down (float32(0.7) < 0.7): the metrics decide as
    `report` and scikit-learn do on the same values, not against the rounded threshold."""
    import ml_dtypes

    np_dtype = ml_dtypes.bfloat16 if dtype == "bfloat16" else np.dtype(dtype)
    near = np.asarray(threshold).astype(np_dtype)
    up = ceil_to(threshold, dtype)
    values = [near, up, np.nextafter(up, np.asarray(np.inf, up.dtype)),
              np.nextafter(near, np.asarray(-np.inf, near.dtype)), 0.0, 1.0]
    s = np.array([float(v) for v in values] * 3).astype(np_dtype)
    y = np.array([0, 1, 1] * 6)
    s64 = s.astype("float64")
    expected = skm.confusion_matrix(y, s64 >= threshold, labels=[0, 1])
    tensor = keras.ops.convert_to_tensor(s, dtype=dtype)
    cm = kcm.ConfusionMatrix(threshold=threshold)
    cm.update_state(y, tensor)
    np.testing.assert_array_equal(to_numpy(cm.result()), expected)
    curve = kcm.ThresholdConfusion(thresholds=[0.05, threshold, 0.95])
    curve.update_state(y, tensor)
    np.testing.assert_array_equal(curve.counts()[1], expected)
    np.testing.assert_array_equal(to_numpy(confusion_matrix(y, tensor, threshold=threshold)),
                                  expected)
    from keras_confusion import report

    np.testing.assert_array_equal(report(y, s64, threshold=threshold, bootstrap=0)
                                  .confusion_matrix, expected)


def test_float64_threshold_matrices_stay_float64_and_exact_past_2_24():
    # Keras' torch cumsum summed float64 in float32: 16777217 came back as 16777216.
    from keras_confusion import _backend, threshold_confusion_matrices

    if not _backend.has_float64(keras.ops.zeros(())):
        pytest.skip("no float64 on this backend (JAX without x64)")
    w = np.array([2.0**24, 1.0])
    got = threshold_confusion_matrices([0, 0], [0.2, 0.3], [0.5], sample_weight=w)
    assert keras.backend.standardize_dtype(got.dtype) == "float64"
    assert to_numpy(got)[0, 0, 0] == 2**24 + 1
    metric = kcm.ThresholdConfusion(thresholds=[0.5], dtype="float64")
    metric.update_state([0], [0.2], sample_weight=[2.0**24])
    metric.update_state([0], [0.3], sample_weight=[1.0])
    result = metric.result()
    assert keras.backend.standardize_dtype(result.dtype) == "float64"
    assert to_numpy(result)[0, 0, 0] == 2**24 + 1


@pytest.mark.skipif(BACKEND != "torch", reason="torch.compile")
@pytest.mark.parametrize("make", [
    lambda: kcm.ConfusionMatrix(),
    lambda: kcm.ConfusionMatrix(num_classes=3),
    lambda: kcm.ConfusionMatrix(multilabel=True, num_labels=2, threshold=[0.3, 0.6]),
    lambda: kcm.FBeta(beta=2.0, from_logits=True),
    lambda: kcm.ThresholdConfusion(thresholds=[0.7, 0.2, 0.5]),
    lambda: kcm.ThresholdConfusion(num_thresholds=50, spacing="logit"),
], ids=["binary", "multiclass", "multilabel", "fbeta_logits", "thresholds", "logit_grid"])
def test_torch_compiled_update_and_result_trace_whole_and_equal_eager(rng, make):
    # Issue 23 item 13: NumPy calls and a bincount inside update_state broke the graph
    # under torch.compile; each broken frame was compiled again for every metric of a
    # model (recompile_limit (8) hit while evaluating). fullgraph=True fails on any break.
    import torch

    compiled_metric, eager = make(), make()
    k = getattr(eager, "num_classes", 2)
    p_shape = (64, 3) if k == 3 else (64, 2) if getattr(eager, "multilabel", False) else (64,)
    y = rng.integers(0, k, p_shape[:1] if k == 3 else p_shape).astype("float32")
    p = rng.random(p_shape).astype("float32")
    update = torch.compile(compiled_metric.update_state, fullgraph=True)
    result = torch.compile(compiled_metric.result, fullgraph=True)
    for part in np.array_split(np.arange(64), 2):
        yt, pt = torch.from_numpy(y[part]), torch.from_numpy(p[part])
        update(yt, pt)
        eager.update_state(yt, pt)
    np.testing.assert_array_equal(to_numpy(result()), to_numpy(eager.result()))


def _step_as_keras_compiles_it_by_default(fn):
    """``fn`` as Keras compiles a step with ``jit_compile="auto"`` on a CPU: a plain
    TensorFlow graph (no XLA), ``jax.jit``, eager torch."""
    if BACKEND == "tensorflow":
        import tensorflow as tf

        return tf.function(fn, jit_compile=False)
    return compiled(fn)


@pytest.mark.parametrize("k", [320, 1000])
@pytest.mark.parametrize("mode", ["eager", "step"])
def test_many_classes_accumulated_equal_one_shot_and_sklearn_with_ties_and_invalid_rows(
        k, mode, monkeypatch):
    # From 320 classes a plain TensorFlow graph takes the row argmax by blocks of 40
    # (`kernels._tf_blocked_argmax`), eagerly from 6 M scores only: here from any. XLA
    # and torch rebuild it their own ways. Batches of 0, 1, 63 and 200 rows: ties within
    # and across blocks, -0.0 against 0.0, NaN and infinite scores, labels out of range.
    from keras_confusion._backend import kernels

    monkeypatch.setattr(kernels, "_BLOCKED_EAGER_MIN_SCORES", 0)
    rng = np.random.default_rng(k)
    sizes = [0, 1, 63, 200]
    n = sum(sizes)
    p = rng.integers(0, 3, (n, k)).astype("float32")  # ties everywhere
    p[::7] = rng.normal(size=p[::7].shape)
    p[3::11, 5] = np.nan
    p[4::13, k - 1] = np.inf
    p[5::17, 41] = -np.inf
    p[6] = -1.0
    p[6, [45, 2]] = [0.0, -0.0]  # a tie: the first index is 2
    y = rng.integers(0, k + 1, n)  # k: not a class
    ok = np.isfinite(p).all(axis=1) & (y < k)
    expected = skm.confusion_matrix(y[ok], p[ok].argmax(axis=1), labels=range(k))

    one_shot = kcm.ConfusionMatrix(num_classes=k)
    one_shot.update_state(y, p)
    batches = kcm.ConfusionMatrix(num_classes=k)
    step = _step_as_keras_compiles_it_by_default(
        lambda variables, a, b: batches.stateless_update_state(variables, a, b))
    start = 0
    for size in sizes:
        a = keras.ops.convert_to_tensor(y[start:start + size])
        b = keras.ops.convert_to_tensor(p[start:start + size])
        start += size
        if mode == "eager":
            batches.update_state(a, b)
            continue
        new = step([v.value for v in batches.variables], a, b)
        for var, value in zip(batches.variables, new, strict=True):
            var.assign(value)
    for m in (one_shot, batches):
        np.testing.assert_array_equal(m.counts(), expected)
        assert m.invalid == np.sum(~ok)
