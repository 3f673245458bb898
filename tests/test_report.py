"""report(): figures against scikit-learn, bootstrap against brute force and coverage."""

from __future__ import annotations

import base64
import json
import os
import re

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from sklearn import metrics as skm

from keras_confusion import formulas
from keras_confusion._files import write_atomic
from keras_confusion.report import Report, bootstrap_matrices, report


def _binary_data(seed, n, pos_rate=0.2):
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < pos_rate).astype(int)
    s = np.clip(rng.normal(0.35 + 0.3 * y, 0.2), 0, 1)
    return y, s


@given(seed=st.integers(0, 10_000), n=st.integers(5, 300),
       threshold=st.sampled_from([0.3, 0.5, 0.7]))
def test_report_binary_figures_equal_sklearn(seed, n, threshold):
    y, s = _binary_data(seed, n)
    r = report(y, s, threshold=threshold, bootstrap=0)
    _assert_binary_report_equals_sklearn(r, y, (s >= threshold).astype(int))


def test_report_counts_a_score_equal_to_the_threshold_as_positive():
    # 0.5 and 0.3 are scores and thresholds both: positive when score >= threshold.
    y = np.array([0, 1, 0, 1, 1, 0])
    s = np.array([0.5, 0.5, 0.3, 0.7, 0.3, 0.1])
    for threshold, hand_worked in ((0.5, [[2, 1], [1, 2]]), (0.3, [[1, 2], [0, 3]])):
        r = report(y, s, threshold=threshold, bootstrap=0)
        expected = skm.confusion_matrix(y, (s >= threshold).astype(int))
        np.testing.assert_array_equal(r.confusion_matrix, expected)
        np.testing.assert_array_equal(r.confusion_matrix, hand_worked)


def _assert_binary_report_equals_sklearn(r, y, pred):
    np.testing.assert_array_equal(r.confusion_matrix,
                                  skm.confusion_matrix(y, pred, labels=[0, 1]))
    p, rc, f, sup = skm.precision_recall_fscore_support(y, pred, labels=[0, 1],
                                                        zero_division=0)
    np.testing.assert_allclose(r.table["precision"], p)
    np.testing.assert_allclose(r.table["recall"], rc)
    np.testing.assert_allclose(r.table["f1"], f)
    np.testing.assert_array_equal(r.table["support"], sup)
    # Specificity of class c is the recall of "not c".
    spec = [skm.recall_score(y != c, pred != c, zero_division=0) for c in (0, 1)]
    np.testing.assert_allclose(r.table["specificity"], spec)
    assert r.overall["accuracy"][0] == pytest.approx(skm.accuracy_score(y, pred))
    assert r.overall["mcc"][0] == pytest.approx(skm.matthews_corrcoef(y, pred), abs=1e-12)
    with np.errstate(all="ignore"):
        kappa = skm.cohen_kappa_score(y, pred)
    if np.isfinite(kappa):  # scikit-learn gives NaN where the formula's zero_division is 0
        assert r.overall["cohen_kappa"][0] == pytest.approx(kappa, abs=1e-12)
    if len(np.unique(y)) == 2:
        assert r.overall["balanced_accuracy"][0] == pytest.approx(
            skm.balanced_accuracy_score(y, pred))


@given(seed=st.integers(0, 10_000), k=st.integers(3, 8), n=st.integers(20, 300))
def test_report_multiclass_figures_equal_sklearn(seed, k, n):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, k, n)
    scores = rng.random((n, k))
    scores[np.arange(n), y] += 0.4
    r = report(y, scores, bootstrap=0)
    pred = scores.argmax(axis=1)
    labels = list(range(k))
    np.testing.assert_array_equal(r.confusion_matrix,
                                  skm.confusion_matrix(y, pred, labels=labels))
    p, rc, f, sup = skm.precision_recall_fscore_support(y, pred, labels=labels,
                                                        zero_division=0)
    np.testing.assert_allclose(r.table["precision"], p)
    np.testing.assert_allclose(r.table["recall"], rc)
    np.testing.assert_allclose(r.table["f1"], f)
    np.testing.assert_array_equal(r.table["support"], sup)
    assert r.overall["accuracy"][0] == pytest.approx(skm.accuracy_score(y, pred))
    assert r.overall["mcc"][0] == pytest.approx(skm.matthews_corrcoef(y, pred), abs=1e-12)
    assert r.overall["cohen_kappa"][0] == pytest.approx(skm.cohen_kappa_score(y, pred),
                                                        abs=1e-12)
    if len(np.unique(y)) == k:
        assert r.overall["balanced_accuracy"][0] == pytest.approx(
            skm.balanced_accuracy_score(y, pred))


def test_report_one_hot_labels_equal_integer_labels(rng):
    y = rng.integers(0, 4, 100)
    scores = rng.random((100, 4))
    a = report(y, scores, bootstrap=50)
    b = report(np.eye(4)[y], scores, bootstrap=50)
    np.testing.assert_array_equal(a.confusion_matrix, b.confusion_matrix)
    assert a.table == b.table


def test_report_expected_cost_per_class_and_overall_equal_brute_force(rng):
    y = rng.integers(0, 3, 200)
    scores = rng.random((200, 3))
    cost = np.array([[0, 1, 4], [2, 0, 1], [8, 3, 0]], dtype=float)
    r = report(y, scores, cost_matrix=cost, bootstrap=0)
    per_sample = cost[y, scores.argmax(axis=1)]
    np.testing.assert_allclose(r.table["expected_cost"],
                               [per_sample[y == c].mean() for c in range(3)])
    assert r.overall["expected_cost"][0] == pytest.approx(per_sample.mean())


def test_bootstrap_matrices_are_jeffreys_dirichlet_draws_scaled_to_the_total():
    # Reference: the posterior Dirichlet(cm + 1/2) of the cell probabilities has means
    # (cm + 1/2) / (N + K*K/2); each replica is a draw of it times N.
    cm = np.array([[40, 2], [0, 9]])
    draws = bootstrap_matrices(cm, 40_000, seed=3)
    assert draws.shape == (40_000, 2, 2) and np.all(draws > 0)
    np.testing.assert_allclose(draws.sum(axis=(1, 2)), cm.sum())
    np.testing.assert_allclose(draws.mean(axis=0) / cm.sum(), (cm + 0.5) / (cm.sum() + 2),
                               atol=2e-3)
    # Leading axes: one stack of replicas per matrix, each summing to its own total.
    stack = bootstrap_matrices(np.stack([cm, 2 * cm]), 5, seed=1)
    assert stack.shape == (5, 2, 2, 2)
    np.testing.assert_allclose(stack.sum(axis=(2, 3)), [[cm.sum(), 2 * cm.sum()]] * 5)


@pytest.mark.parametrize("cm", [[[40, 2], [3, 9]], [[50, 0], [2, 8]], [[7, 1], [2, 1]]])
def test_binary_recall_and_precision_intervals_are_jeffreys_beta_quantiles(cm):
    # Reference: scipy's Beta(a + 1/2, b + 1/2) quantiles, a / (a + b) the figure; within
    # Monte-Carlo error of 40,000 draws. A figure at its bound (precision 8/8) has
    # upper end 1 (the modified Jeffreys interval).
    from scipy import stats

    r = Report(cm, bootstrap=40_000, seed=0, confidence=0.9)
    (tn, fp), (fn, tp) = cm
    for fig, a, b in (("recall", tp, fn), ("precision", tp, fp), ("specificity", tn, fp)):
        low, high = stats.beta.ppf([0.05, 0.95], a + 0.5, b + 0.5)
        if a / (a + b) == 1.0:
            high = 1.0
        assert r.table[f"{fig}_low"][1] == pytest.approx(low, abs=6e-3), fig
        assert r.table[f"{fig}_high"][1] == pytest.approx(high, abs=6e-3), fig
    low, high = stats.beta.ppf([0.05, 0.95], tn + 0.5, fn + 0.5)  # precision of class 0
    assert r.table["precision_low"][0] == pytest.approx(low, abs=6e-3)
    assert r.table["precision_high"][0] == pytest.approx(high, abs=6e-3)


def test_intervals_cover_at_accuracy_near_1_and_for_a_rare_class():
    # 300 data sets per scenario drawn from known cell probabilities; the percentile
    # bootstrap covered accuracy 0.99 at N=100 less than 2 times in 3.
    rng = np.random.default_rng(123)
    for population, n in (([[0.495, 0.005], [0.005, 0.495]], 100),
                          ([[0.97, 0.01], [0.002, 0.018]], 1000)):
        population = np.array(population)
        data = rng.multinomial(n, population.ravel(), size=300).reshape(300, 2, 2)
        replicas = bootstrap_matrices(data, 1000, seed=7)  # (R, 300, 2, 2)
        for fn in (formulas.accuracy, formulas.recall, formulas.precision):
            low, high = np.quantile(fn(replicas), [0.025, 0.975], axis=0)
            truth = fn(population)
            coverage = np.mean((low <= truth) & (truth <= high))
            assert coverage >= 0.9, (fn.__name__, n, coverage)


def test_a_perfect_matrix_has_intervals_of_non_zero_width():
    # Reference: Jeffreys lower bound of 500/500 is Beta(500.5, 0.5).ppf(0.025).
    from scipy import stats

    r = Report([[500, 0], [0, 500]], bootstrap=20_000, seed=0)
    low = stats.beta.ppf(0.025, 500.5, 0.5)
    assert r.table["recall_low"] == pytest.approx([low, low], abs=5e-4)
    assert r.table["recall_high"] == [1.0, 1.0]
    assert 0.99 < r.overall["accuracy"][1] < 0.999 and r.overall["accuracy"][2] == 1.0


def test_bootstrap_95_intervals_cover_true_values_at_nominal_rate():
    # 200 data sets of 400 samples from known cell probabilities; all replicas of all
    # data sets are drawn in one vectorised call.
    rng = np.random.default_rng(123)
    population = np.array([[0.60, 0.10], [0.08, 0.22]])
    data = rng.multinomial(400, population.ravel(), size=200).reshape(200, 2, 2)
    replicas = bootstrap_matrices(data, 1000, seed=7)  # (R, 200, 2, 2)
    for fn in (formulas.precision, formulas.recall, formulas.specificity, formulas.f1,
               formulas.mcc, formulas.balanced_accuracy):
        low, high = np.quantile(fn(replicas), [0.025, 0.975], axis=0)
        truth = fn(population)
        coverage = np.mean((low <= truth) & (truth <= high))
        assert 0.90 <= coverage <= 0.99, (fn.__name__, coverage)


def test_report_intervals_are_percentiles_of_its_replicas(rng):
    y, s = _binary_data(2, 500)
    r = report(y, s, bootstrap=300, seed=11, confidence=0.9)
    stack = bootstrap_matrices(r.confusion_matrix, 300, seed=11)
    np.testing.assert_array_equal(r.bootstrap_matrices, stack)
    low, high = np.quantile(formulas.recall(stack, average=None), [0.05, 0.95], axis=0)
    np.testing.assert_allclose(r.table["recall_low"], low)
    np.testing.assert_allclose(r.table["recall_high"], high)
    assert all(lo <= v <= hi for v, lo, hi in zip(r.table["recall"], low, high, strict=True))


@pytest.mark.parametrize("weighted", [False, True])
def test_figures_from_replicas_in_small_blocks_equal_those_from_one_stack(
        weighted, monkeypatch):
    # The figures of one (R, K, K) stack took several arrays of its size: K = 300 with
    # R = 1000 peaked at 3.5 GB, K = 2000 ran out of memory. Computed block by block,
    # they must be the very same numbers.
    import importlib

    report_module = importlib.import_module("keras_confusion.report")  # not report()
    rng = np.random.default_rng(8)
    k, n = 6, 3000
    y = rng.integers(0, k, n)
    s = rng.random((n, k)) + 0.4 * np.eye(k)[y]
    w = rng.uniform(0.2, 2.0, n) if weighted else None
    kwargs = {"sample_weight": w, "bootstrap": 203, "seed": 4, "cost_matrix": 1 - np.eye(k)}
    whole = report(y, s, **kwargs)
    monkeypatch.setattr(report_module, "_BLOCK_CELLS", 3 * k * k)  # blocks of 3 replicas
    blocked = report(y, s, **kwargs)
    assert blocked.table == whole.table and blocked.overall == whole.overall
    np.testing.assert_array_equal(blocked.bootstrap_matrices, whole.bootstrap_matrices)


def test_replicas_drawn_from_a_generator_are_the_ones_the_figures_used():
    # The replicas are drawn again when read: from a copy of the Generator as it was.
    y, s = _binary_data(4, 400)
    gen = np.random.default_rng(12)
    r = report(y, s, bootstrap=50, seed=gen)
    expected = bootstrap_matrices(r.confusion_matrix, 50, seed=np.random.default_rng(12))
    np.testing.assert_array_equal(r.bootstrap_matrices, expected)
    np.testing.assert_array_equal(r.bootstrap_matrices, expected)  # read twice: the same
    low = np.quantile(formulas.recall(expected, average=None), 0.025, axis=0)
    np.testing.assert_allclose(r.table["recall_low"], np.minimum(low, r.table["recall"]))
    # The report drew from the caller's Generator, which moved on (as before).
    assert gen.random() != np.random.default_rng(12).random()
    # Unseeded (fresh entropy), the replicas read are still those the figures used.
    r = report(y, s, bootstrap=50, seed=None)
    again = r.bootstrap_matrices
    np.testing.assert_array_equal(again, r.bootstrap_matrices)
    low = np.quantile(formulas.recall(again, average=None), 0.025, axis=0)
    np.testing.assert_allclose(r.table["recall_low"], np.minimum(low, r.table["recall"]))


def test_per_class_expected_cost_is_the_cost_of_its_row_alone():
    cm = np.array([[5, 1, 0], [0, 0, 0], [2, 3, 7]])  # class 1 never seen: 0
    cost = np.array([[0, 1, 4], [2, 0, 1], [9, 3, 0]])
    r = Report(cm, cost_matrix=cost, bootstrap=0)
    rows = [formulas.expected_cost(np.where(np.arange(3)[:, None] == i, cm, 0), cost)
            for i in range(3)]
    np.testing.assert_allclose(r.table["expected_cost"], rows, rtol=1e-15)
    assert r.table["expected_cost"] == [1 / 6, 0.0, (2 * 9 + 3 * 3) / 12]


def test_report_without_bootstrap_has_no_intervals(rng):
    y, s = _binary_data(3, 50)
    r = report(y, s, bootstrap=0)
    assert r.bootstrap_matrices is None
    assert np.all(np.isnan(r.table["f1_low"]))
    assert "[" not in r.to_text().split("\n\n")[2]


def test_report_to_dict_is_json_and_agrees_with_table(rng):
    y, s = _binary_data(4, 200)
    r = report(y, s, class_names=["neg", "pos"], cost_matrix=[[0, 1], [5, 0]], bootstrap=100)
    d = json.loads(r.to_json())
    assert d["confusion_matrix"] == r.confusion_matrix.tolist()
    assert [c["class"] for c in d["classes"]] == ["neg", "pos"]
    assert d["classes"][1]["recall"]["value"] == r.table["recall"][1]
    assert d["classes"][1]["expected_cost"]["high"] == r.table["expected_cost_high"][1]
    assert d["overall"]["mcc"]["low"] == r.overall["mcc"][1]
    assert d["intervals"]["replicas"] == 100


def test_report_text_shows_every_class_and_figure(rng):
    y = rng.integers(0, 20, 2000)
    scores = rng.random((2000, 20))
    names = [f"class_{i}" for i in range(20)]
    text = report(y, scores, class_names=names, bootstrap=50).to_text()
    for name in names:
        assert name in text
    for fig in ("precision", "recall", "specificity", "f1", "balanced_accuracy", "mcc"):
        assert fig in text


def test_report_to_html_is_one_file_with_embedded_png(tmp_path, rng):
    y, s = _binary_data(5, 300)
    path = tmp_path / "report.html"
    page = report(y, s, class_names=["ok", "fraud"], bootstrap=50).to_html(path)
    assert path.read_text(encoding="utf-8") == page
    match = re.search(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"', page)
    assert match and base64.b64decode(match.group(1))[:8] == b"\x89PNG\r\n\x1a\n"
    assert "http://" not in page and "https://" not in page
    assert "fraud" in page
    assert list(tmp_path.iterdir()) == [path]  # no temporary file left behind


def test_write_atomic_gives_the_file_the_usual_mode(tmp_path):
    path = tmp_path / "out.txt"
    write_atomic(path, b"data")
    umask = os.umask(0)
    os.umask(umask)
    assert path.read_bytes() == b"data"
    assert path.stat().st_mode & 0o777 == 0o666 & ~umask


def test_write_atomic_leaves_old_file_when_writing_fails(tmp_path, monkeypatch):
    path = tmp_path / "out.json"
    path.write_text("old")

    def broken(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr("os.replace", broken)
    with pytest.raises(OSError, match="disk full"):
        write_atomic(path, b"new")
    assert path.read_text() == "old"
    assert list(tmp_path.iterdir()) == [path]


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"y_score": [0.1, np.nan, 0.3]}, r"`y_score`.*nan at sample 1"),
        ({"y_true": [0, 2, 1]}, r"`y_true`.*\{0, \.\.\., 1\}.*2.0 at sample 1"),
        ({"y_true": [0, 1]}, r"`y_true`.*shape \(3,\)"),
        ({"class_names": ["a"]}, r"`class_names`.*2 names"),
        ({"cost_matrix": [[0, 1], [-1, 0]]}, r"`cost_matrix`.*non-negative"),
        ({"cost_matrix": [[0, 1, 2], [1, 0, 2], [1, 1, 0]]}, r"`cost_matrix`.*\(2, 2\)"),
        ({"bootstrap": 1}, r"`bootstrap`"),
        ({"confidence": 1.0}, r"`confidence`"),
        ({"threshold": float("nan")}, r"`threshold`"),
        # A string was read as a number here and refused by Report(...) itself.
        ({"threshold": "0.5"}, r"`threshold` must be a number, not NaN.*Received: "
                               r"threshold='0\.5'"),
        ({"threshold": True}, r"`threshold` must be a number"),
        ({"y_score": []}, r"`y_score`.*at least one sample"),
        ({"num_classes": 3}, r"`num_classes`"),
        ({"y_score": np.eye(3), "threshold": 0.3}, r"`threshold`.*multiclass"),
        ({"y_score": np.eye(3), "threshold": "junk"}, r"`threshold`.*multiclass"),
        ({"seed": -1}, r"`seed`.*integer >= 0"),
        ({"seed": 1.5}, r"`seed`.*integer >= 0"),
        ({"seed": "abc"}, r"`seed`.*integer >= 0"),
        ({"seed": True}, r"`seed`.*integer >= 0"),
    ],
)
def test_report_rejects_bad_input_naming_the_argument(kwargs, match):
    args = {"y_true": [0, 1, 1], "y_score": [0.1, 0.6, 0.3]}
    args.update(kwargs)
    with pytest.raises(ValueError, match=match):
        report(args.pop("y_true"), args.pop("y_score"), **args)


@pytest.mark.parametrize(
    ("matrix", "kwargs", "match"),
    [
        ([[1, 2], [3, 4]], {"threshold": "abc"},
         r"`threshold` must be None \(argmax\) or a number.*Received: threshold='abc'"),
        ([[1, 2], [3, 4]], {"threshold": float("nan")},
         r"`threshold` must be .*not NaN.*Received: threshold=nan"),
        ([[1, 2], [3, 4]], {"curve": "junk"},
         r"`curve` must be None or a pair \(thresholds.*Received: curve='junk'"),
        ([[1, 2], [3, 4]], {"curve": ([0.1, 0.5], np.zeros((3, 2, 2)))},
         r"`curve` must be .*shapes \(2,\) and \(3, 2, 2\)"),
        ([["a", "b"], ["c", "d"]], {},
         r"`confusion_matrix` must be .*integer counts.*Received: confusion_matrix=<non-num"),
        ([[1, None], [3, 4]], {}, r"`confusion_matrix` must be .*non-negative integer counts"),
        ([[1, 2], [3, 4]], {"class_names": "ab"},
         r"`class_names` must be a sequence of 2 names .*not one string.*Received: "
         r"class_names='ab'"),
        ([[1, 2], [3, 4]], {"bootstrap": 10 ** 9},
         r"`bootstrap` must be .*from 2 to 100000.*Received: bootstrap=1000000000"),
        ([[1, 2], [3, 4]], {"zero_division": float("nan")}, r"`zero_division` must be"),
    ],
)
def test_report_class_rejects_bad_arguments_with_value_error_naming_them(matrix, kwargs,
                                                                         match):
    with pytest.raises(ValueError, match=match):
        Report(matrix, **kwargs)


def test_report_function_refuses_one_string_as_class_names():
    with pytest.raises(ValueError, match=r"`class_names`.*not one string"):
        report([0, 1, 1], [0.1, 0.6, 0.3], class_names="ab", bootstrap=0)


@pytest.mark.parametrize(("confidence", "shown"),
                         [(0.999, "99.9%"), (0.95, "95%"), (0.995, "99.5%"),
                          (0.9999, "99.99%")])
def test_report_states_the_confidence_level_exactly(confidence, shown):
    r = Report([[40, 3], [5, 30]], bootstrap=50, confidence=confidence)
    assert f"{shown} intervals" in r.to_text()
    assert f"{shown} intervals" in r.to_html()
    assert "100%" not in r.to_text()
    assert "Jeffreys" in r.to_text() and "percentile" not in r.to_text()


def test_report_from_confusion_matrix_equals_report_on_samples(rng):
    y, s = _binary_data(6, 400)
    a = report(y, s, bootstrap=200, seed=5)
    b = Report.from_confusion_matrix(a.confusion_matrix, bootstrap=200, seed=5)
    assert a.table == b.table and a.overall == b.overall


def test_counts_past_int64_are_refused_not_wrapped_around():
    # 1e19 does not fit int64: cast, it would wrap to a negative count.
    with pytest.raises(ValueError, match=r"`confusion_matrix`.*below 2\*\*62"):
        Report([[1e19, 5], [3, 1e19]], bootstrap=0)
    with pytest.raises(ValueError, match=r"`confusion_matrix`"):
        Report(np.full((2, 2), 2 ** 62), bootstrap=0)  # each fits; the total does not
    big = Report([[2 ** 40, 5], [3, 2 ** 40]], bootstrap=0)
    assert big.num_samples == 2 ** 41 + 8


def test_all_zero_counts_are_refused_like_an_empty_report():
    with pytest.raises(ValueError, match=r"`y_score`.*at least one sample"):
        report(np.array([], dtype=int), np.array([]))
    with pytest.raises(ValueError, match=r"`confusion_matrix`.*at least one sample.*all zero"):
        Report.from_confusion_matrix(np.zeros((3, 3)))
    assert Report.from_confusion_matrix([[0, 0], [0, 1]], bootstrap=0).num_samples == 1


def test_numpy_integer_seed_is_the_same_seed_and_a_json_number():
    a = Report([[50, 5], [3, 40]], bootstrap=100, seed=np.int64(3))
    b = Report([[50, 5], [3, 40]], bootstrap=100, seed=3)
    assert a.table == b.table and a.overall == b.overall
    assert json.loads(a.to_json())["intervals"]["seed"] == 3


def test_write_all_atomic_writes_every_output_or_none(tmp_path):
    from keras_confusion._files import write_all_atomic

    a = tmp_path / "a.json"
    a.write_text("old")
    with pytest.raises(FileNotFoundError) as err:
        write_all_atomic([(a, b"new"), (tmp_path / "nodir" / "b.html", b"x")])
    assert err.value.filename == str(tmp_path / "nodir" / "b.html")
    assert a.read_text() == "old" and sorted(p.name for p in tmp_path.iterdir()) == ["a.json"]
    write_all_atomic([(a, b"new"), (tmp_path / "b.html", b"x")])
    assert a.read_text() == "new" and (tmp_path / "b.html").read_text() == "x"


@pytest.mark.parametrize("threshold", [0.7008977144997484, 0.7, 0.1 + 0.2])
def test_report_text_and_html_state_the_threshold_exactly_as_its_repr(threshold):
    # The score at the threshold is counted positive: the rule stated must say so.
    y = np.array([0, 1, 0, 1])
    s = np.array([0.1, threshold, 0.3, 0.9])
    r = report(y, s, threshold=threshold, bootstrap=0)
    assert r.confusion_matrix[1].tolist() == [0, 2]
    head = r.to_text().splitlines()[0]
    assert head == f"4 samples, positive when score >= {threshold!r}"
    stated = float(head.rsplit(" ", 1)[1])
    assert stated == threshold and threshold >= stated  # the boundary score is positive
    assert f"positive when score &ge; {threshold!r}." in r.to_html()
    if threshold == 0.7:
        assert head.endswith(">= 0.7")


def test_class_names_given_twice_are_refused():
    # Accepted: the table, the JSON's per-class keys and the page mixed the two up.
    with pytest.raises(ValueError, match=r"`class_names` must be 2 distinct names \('a' is "
                                         r"given 2 times\)"):
        Report([[5, 1], [2, 3]], class_names=["a", "a"], bootstrap=0)
    assert Report([[5, 1], [2, 3]], class_names=["a", "b"], bootstrap=0).class_names == [
        "a", "b"]


def test_decision_statement_defaults_to_the_rule_and_can_be_given():
    cm = [[5, 1], [2, 3]]
    assert Report(cm, bootstrap=0).decision == "decision: argmax"
    assert Report(cm, threshold=0.25, bootstrap=0).decision == "positive when score >= 0.25"
    r = Report(cm, threshold=0.25, bootstrap=0, decision="cross-fitted <5 folds>")
    assert r.to_text().splitlines()[0] == "11 samples, cross-fitted <5 folds>"
    assert "11 samples, cross-fitted &lt;5 folds&gt;." in r.to_html()
    assert r.to_dict()["decision"] == "cross-fitted <5 folds>"
    assert r.to_dict()["threshold"] == 0.25
    for bad in ("", "  ", 3):
        with pytest.raises(ValueError, match="`decision` must be None or a non-empty"):
            Report(cm, bootstrap=0, decision=bad)


def test_report_from_confusion_matrix_docstring_lists_the_keywords_it_takes():
    import inspect

    doc = Report.from_confusion_matrix.__doc__
    taken = [name for name, p in inspect.signature(Report).parameters.items()
             if p.kind is inspect.Parameter.KEYWORD_ONLY]
    assert taken == ["class_names", "cost_matrix", "bootstrap", "seed", "confidence",
                     "threshold", "curve", "zero_division", "squared_weights", "guarantee",
                     "notes", "decision", "num_rows"]
    for name in taken:
        assert f"``{name}``" in doc
    assert "as `report`" not in doc
    # What the docstring says of threshold=None and of num_classes.
    cm = np.array([[50, 3], [7, 40]])
    assert "argmax" in doc
    assert "decision: argmax" in Report.from_confusion_matrix(cm, bootstrap=0).to_text()
    assert "positive when score >= 0.5" in Report.from_confusion_matrix(
        cm, threshold=0.5, bootstrap=0).to_text()
    with pytest.raises(TypeError, match="num_classes"):
        Report.from_confusion_matrix(cm, num_classes=2)


def _backend_tensor(values, dtype):
    import keras

    return keras.ops.convert_to_tensor(np.asarray(values), dtype=dtype)


def _tensor_values(x):
    """The float64 values a backend tensor holds (exact: float32 holds any bfloat16)."""
    import keras

    return keras.ops.convert_to_numpy(keras.ops.cast(x, "float32")).astype("float64")


@pytest.mark.backend
@pytest.mark.parametrize("dtype", ["bfloat16", "float16", "float32"])
def test_report_of_backend_low_precision_tensors_equals_sklearn_on_the_same_values(dtype):
    y, s = _binary_data(21, 500)
    scores = _backend_tensor(s, dtype)
    values = _tensor_values(scores)
    threshold = float(np.median(values))  # a score of the tensor: ties at the boundary
    r = report(y, scores, threshold=threshold, bootstrap=0)
    pred = (values >= threshold).astype(int)
    _assert_binary_report_equals_sklearn(r, y, pred)
    # Labels as a tensor of the same dtype, and multiclass scores of that dtype.
    same = report(_backend_tensor(y, dtype), scores, threshold=threshold, bootstrap=0)
    np.testing.assert_array_equal(same.confusion_matrix, r.confusion_matrix)
    rng = np.random.default_rng(22)
    yk = rng.integers(0, 4, 300)
    sk = rng.random((300, 4)) + 0.5 * np.eye(4)[yk]
    tensor_k = _backend_tensor(sk, dtype)
    rk = report(yk, tensor_k, bootstrap=0)
    np.testing.assert_array_equal(
        rk.confusion_matrix,
        skm.confusion_matrix(yk, _tensor_values(tensor_k).argmax(axis=1), labels=range(4)))


def test_report_of_bfloat16_numpy_labels_and_scores_equals_sklearn_on_the_same_values():
    import ml_dtypes

    y, s = _binary_data(23, 400)
    s16 = s.astype(ml_dtypes.bfloat16)
    values = s16.astype("float64")
    r = report(y.astype(ml_dtypes.bfloat16), s16, threshold=0.5, bootstrap=0)
    np.testing.assert_array_equal(
        r.confusion_matrix, skm.confusion_matrix(y, (values >= 0.5).astype(int), labels=[0, 1]))


# ------------------------------------------------------------------- sample weights


def _weighted_data(seed, n, k=2):
    rng = np.random.default_rng(seed)
    w = rng.gamma(0.7, 2.0, n) * (rng.random(n) < 0.9)  # some zero weights
    if k == 2:
        y, s = _binary_data(seed, n)
        return y, s, w, (s >= 0.5).astype(int)
    y = rng.integers(0, k, n)
    scores = rng.random((n, k))
    scores[np.arange(n), y] += 0.4
    return y, scores, w, scores.argmax(axis=1)


@pytest.mark.parametrize(("seed", "k"), [(0, 2), (1, 2), (2, 4), (3, 6)])
def test_weighted_report_figures_equal_sklearn_with_sample_weight(seed, k):
    y, scores, w, pred = _weighted_data(seed, 400, k)
    r = report(y, scores, sample_weight=w, bootstrap=0)
    labels = list(range(k))
    np.testing.assert_allclose(
        r.confusion_matrix, skm.confusion_matrix(y, pred, labels=labels, sample_weight=w))
    p, rc, f, _ = skm.precision_recall_fscore_support(y, pred, labels=labels,
                                                      sample_weight=w, zero_division=0)
    np.testing.assert_allclose(r.table["precision"], p)
    np.testing.assert_allclose(r.table["recall"], rc)
    np.testing.assert_allclose(r.table["f1"], f)
    np.testing.assert_allclose(r.table["support"], np.bincount(y, weights=w, minlength=k))
    assert r.overall["accuracy"][0] == pytest.approx(skm.accuracy_score(y, pred,
                                                                        sample_weight=w))
    assert r.overall["mcc"][0] == pytest.approx(
        skm.matthews_corrcoef(y, pred, sample_weight=w), abs=1e-12)
    assert r.overall["cohen_kappa"][0] == pytest.approx(
        skm.cohen_kappa_score(y, pred, sample_weight=w), abs=1e-12)
    assert r.overall["balanced_accuracy"][0] == pytest.approx(
        skm.balanced_accuracy_score(y, pred, sample_weight=w))
    assert r.weighted and r.num_samples == pytest.approx(w.sum())


def test_unit_weights_give_the_unweighted_report_draw_for_draw():
    y, s = _binary_data(7, 300)
    a = report(y, s, bootstrap=400, seed=3)
    b = report(y, s, bootstrap=400, seed=3, sample_weight=np.ones(len(y)))
    np.testing.assert_array_equal(a.confusion_matrix, b.confusion_matrix)
    for name in a.table:
        if name != "class":
            np.testing.assert_allclose(b.table[name], a.table[name], rtol=1e-12, err_msg=name)
    for name, values in a.overall.items():
        np.testing.assert_allclose(b.overall[name], values, rtol=1e-12, err_msg=name)


def test_scaling_every_weight_changes_no_figure_and_no_interval():
    y, scores, w, _ = _weighted_data(8, 300, k=3)
    a = report(y, scores, sample_weight=w, bootstrap=300, seed=1)
    b = report(y, scores, sample_weight=w * 1024.0, bootstrap=300, seed=1)  # exact scaling
    for name in a.table:
        if name not in ("class", "support"):
            np.testing.assert_allclose(b.table[name], a.table[name], rtol=1e-12, err_msg=name)
    for name, values in a.overall.items():
        np.testing.assert_allclose(b.overall[name], values, rtol=1e-12, err_msg=name)


@pytest.mark.parametrize("perfect_class", [None, 2])
def test_class_weights_leave_every_recall_interval_as_without_them(perfect_class):
    # Reference: the unweighted report. Weights constant within each true class scale
    # every cell of the class's row alike, in the matrix and in every replica; an empty
    # cell (a class never missed) takes its row's weight too.
    rng = np.random.default_rng(9)
    y = rng.integers(0, 3, 600)
    scores = rng.random((600, 3))
    scores[np.arange(600), y] += 0.3
    if perfect_class is not None:
        scores[y == perfect_class, perfect_class] += 2.0
    a = report(y, scores, bootstrap=500, seed=4)
    assert np.all(a.confusion_matrix > 0) == (perfect_class is None)
    b = report(y, scores, bootstrap=500, seed=4, sample_weight=np.array([1.0, 3.0, 20.0])[y])
    for name in ("recall", "recall_low", "recall_high"):
        np.testing.assert_allclose(b.table[name], a.table[name], rtol=1e-12, err_msg=name)
    assert b.table["precision"] != a.table["precision"]  # columns mix the weights


def test_zero_weights_are_the_same_as_leaving_those_samples_out():
    y, scores, w, _ = _weighted_data(10, 300, k=3)
    assert np.any(w == 0)
    keep = w > 0
    a = report(y, scores, sample_weight=w, bootstrap=300, seed=2)
    b = report(y[keep], scores[keep], sample_weight=w[keep], bootstrap=300, seed=2)
    np.testing.assert_array_equal(a.confusion_matrix, b.confusion_matrix)
    assert a.table == b.table and a.overall == b.overall


def test_weighted_intervals_take_the_kish_effective_counts_of_the_cells():
    # Reference: each cell's replicas are (Q / W) * Gamma(W**2 / Q + 1/2), normalised to
    # the total weight; an empty cell takes its row's unit Q / W (hand-worked).
    cm = np.array([[10.0, 2.0], [0.0, 6.0]])
    q = np.array([[20.0, 4.0], [0.0, 9.0]])  # Kish counts 5, 1, -, 4
    draws = bootstrap_matrices(cm, 50_000, seed=0, squared_weights=q)
    np.testing.assert_allclose(draws.sum(axis=(1, 2)), cm.sum())
    unit = np.array([[2.0, 2.0], [1.5, 1.5]])
    shape = np.array([[5.0, 1.0], [0.0, 4.0]]) + 0.5
    mean = unit * shape
    np.testing.assert_allclose(draws.mean(axis=0), mean / mean.sum() * cm.sum(), rtol=0.02)


def test_weighted_report_shows_its_weighted_counts_and_says_it_is_weighted():
    r = report([0, 0, 1, 1], [0.2, 0.7, 0.8, 0.1], sample_weight=[1.5, 0.25, 2.0, 1.0],
               bootstrap=20)
    np.testing.assert_array_equal(r.confusion_matrix, [[1.5, 0.25], [1.0, 2.0]])
    text = r.to_text()
    # The JSON's num_samples is the total weight; how many rows it sums was nowhere.
    assert text.startswith("total weight 4.75 over 4 rows (weighted samples)")
    assert r.num_rows == 4 and json.loads(r.to_json())["num_rows"] == 4
    assert report([0, 1, 1], [0.2, 0.7, 0.8], bootstrap=0).num_rows == 3
    assert Report.from_confusion_matrix([[2, 1], [0, 3]], bootstrap=0).num_rows == 6
    given = Report(r.confusion_matrix, squared_weights=r.squared_weights, bootstrap=0)
    assert given.num_rows is None and given.to_text().startswith("total weight 4.75 (w")
    for bad, kwargs in ((5, {}), (-1, {"squared_weights": r.squared_weights}),
                        (2.5, {"squared_weights": r.squared_weights})):
        with pytest.raises(ValueError, match=r"`num_rows` must be"):
            Report([[2, 1], [0, 3]] if not kwargs else r.confusion_matrix, bootstrap=0,
                   num_rows=bad, **kwargs)
    assert "0.25" in text and "Kish" in text
    html = r.to_html()
    assert "<td>0.25</td>" in html and "total weight 4.75" in html
    d = json.loads(r.to_json())
    assert d["weighted"] is True and d["confusion_matrix"] == [[1.5, 0.25], [1.0, 2.0]]
    assert "Kish" in d["intervals"]["method"]
    unweighted = report([0, 0, 1, 1], [0.2, 0.7, 0.8, 0.1], bootstrap=20)
    assert json.loads(unweighted.to_json())["weighted"] is False
    assert "Kish" not in unweighted.to_text()


@pytest.mark.parametrize(
    ("weights", "match"),
    [([1.0, -1.0, 1.0], r"`sample_weight` must be finite and >= 0.*-1.0 at sample 1"),
     ([0.0, 0.0, 0.0], r"`sample_weight` must be a positive weight on at least one sample"),
     ([1.0, 1e-170, 1.0], r"`sample_weight` must be 0, or from 1e-100 to 1e\+100.*1e-170"),
     ([1.0, 1e170, 1.0], r"`sample_weight` must be 0, or from 1e-100 .*at sample 1"),
     ([1.0, np.nan, 1.0], r"`sample_weight` must be finite and >= 0.*nan at sample 1"),
     ([1.0, 1.0], r"`sample_weight` must be of shape \(3,\)"),
     (["a", "b", "c"], r"`sample_weight` must be an array of numbers")],
)
def test_report_refuses_bad_sample_weight_naming_it(weights, match):
    with pytest.raises(ValueError, match=match):
        report([0, 1, 1], [0.1, 0.6, 0.3], sample_weight=weights)


@pytest.mark.parametrize(
    ("matrix", "squared", "match"),
    [([[1.5, 2], [3, 4]], None, r"`confusion_matrix` must be non-negative integer counts"),
     ([[1.5, 2], [3, 4]], [[1, 2], [3]], r"`squared_weights` must be"),
     ([[1.5, 2], [3, 4]], [[1, 0], [3, 4]], r"`squared_weights` must be .*positive exactly"),
     ([[1.5, 2], [3, 4]], [[3, 2], [3, 4]], r"`squared_weights` must be .*at most"),
     ([[1.5, -2], [3, 4]], [[1, 2], [3, 4]], r"`confusion_matrix` must be finite non-neg")],
)
def test_report_class_refuses_inconsistent_weighted_counts_naming_them(matrix, squared, match):
    with pytest.raises(ValueError, match=match):
        Report(matrix, squared_weights=squared, bootstrap=0)



def test_weighted_95_intervals_cover_the_weighted_figures_at_nominal_rate():
    # 300 data sets of 400 samples from known cell probabilities, each sample weighted
    # by a Gamma draw whose mean depends on its true class; the truth is the formula of
    # the expected weighted cells. Taking the weighted cells as counts covers 0.76-0.84.
    rng = np.random.default_rng(5)
    population = np.array([[0.60, 0.10], [0.08, 0.22]])
    scale = np.array([1.0, 1.0, 3.0, 3.0])
    for shape in (0.5, 2.0):
        cells = np.array([rng.choice(4, size=400, p=population.ravel()) for _ in range(300)])
        w = rng.gamma(shape, scale[cells])
        sums = np.array([np.bincount(c, x, 4) for c, x in zip(cells, w, strict=True)])
        squares = np.array([np.bincount(c, x * x, 4) for c, x in zip(cells, w, strict=True)])
        sums, squares = sums.reshape(300, 2, 2), squares.reshape(300, 2, 2)
        replicas = bootstrap_matrices(sums, 1000, seed=7, squared_weights=squares)
        as_counts = bootstrap_matrices(sums, 1000, seed=7)
        truth_cm = population * (shape * scale).reshape(2, 2)
        for fn in (formulas.precision, formulas.recall, formulas.specificity, formulas.f1,
                   formulas.mcc, formulas.accuracy):
            truth = fn(truth_cm)
            low, high = np.quantile(fn(replicas), [0.025, 0.975], axis=0)
            coverage = np.mean((low <= truth) & (truth <= high))
            assert 0.89 <= coverage <= 0.99, (shape, fn.__name__, coverage)
        low, high = np.quantile(formulas.precision(as_counts), [0.025, 0.975], axis=0)
        truth = formulas.precision(truth_cm)
        assert np.mean((low <= truth) & (truth <= high)) < 0.88


def test_weights_past_the_int64_limit_give_the_intervals_of_smaller_ones():
    # 300 weights of 2**57 sum past 2**62 (the limit of integer counts); scaling by a
    # power of two is exact, so every figure and interval is the same.
    y, scores, w, _ = _weighted_data(11, 300, k=3)
    a = report(y, scores, sample_weight=w + 1.0, bootstrap=200, seed=6)
    b = report(y, scores, sample_weight=(w + 1.0) * 2.0 ** 57, bootstrap=200, seed=6)
    assert b.num_samples > 2.0 ** 62
    for name in a.table:
        if name not in ("class", "support"):
            np.testing.assert_allclose(b.table[name], a.table[name], rtol=1e-12, err_msg=name)


def test_bootstrap_matrices_of_unit_weights_equal_counts_draw_for_draw_past_2_53():
    cm = np.array([[95_000_001.0, 3.0], [5.0, 2e8 + 1]])  # W * W / W is not W for these
    np.testing.assert_array_equal(bootstrap_matrices(cm, 50, seed=2, squared_weights=cm),
                                  bootstrap_matrices(cm, 50, seed=2))


def test_bootstrap_matrices_check_squared_weights_and_give_an_empty_matrix_zeros():
    cm = np.array([[4.0, 2.0], [0.0, 6.0]])
    for q, match in (([[4.0, 0.0], [0.0, 6.0]], "positive exactly"),
                     ([[4.0, np.nan], [0.0, 6.0]], "finite"),
                     ([4.0, 2.0, 0.0, 6.0], r"a \(2, 2\) matrix")):
        with pytest.raises(ValueError, match=rf"`squared_weights` must be .*{match}"):
            bootstrap_matrices(cm, 5, squared_weights=q)
    stack = np.stack([cm, np.zeros((2, 2))])
    draws = bootstrap_matrices(stack, 5, seed=1, squared_weights=stack * 2)
    np.testing.assert_array_equal(draws[:, 1], 0.0)
    np.testing.assert_array_equal(bootstrap_matrices(stack, 5, seed=1)[:, 1], 0.0)


def test_count_text_prints_integer_counts_whole_and_weighted_sums_to_6_digits():
    from keras_confusion._counting import count_text

    assert count_text(np.int64(2 ** 53 + 1)) == "9007199254740993"
    assert count_text(12.0) == "12" and count_text(0.25) == "0.25"
    assert count_text(1234.56789) == "1234.57"



def _explorer_data(page: str) -> dict:
    block = re.search(r'<script type="application/json" class="kc-data">(.*?)</script>', page)
    return json.loads(block.group(1))


def test_report_html_explorer_marks_a_tuned_result_and_states_its_guarantee():
    from types import SimpleNamespace

    from keras_confusion.decisions import tune_threshold

    y, s = _binary_data(7, 400)
    result = tune_threshold(y, s, "f1")
    r = report(y, s, threshold=result.threshold, bootstrap=0)
    data = _explorer_data(r.to_html(tuned=result))
    assert data["kind"] == "binary" and "guarantee" not in data
    tuned = {m["label"]: m for m in data["marks"]}["tuned"]
    assert tuned["threshold"] == result.threshold == data["thresholds"][tuned["index"]]
    # A result that states a guarantee (a confidence and its bound under a constraint).
    stated = SimpleNamespace(threshold=result.threshold, constraint=("recall", 0.8),
                             confidence=0.95, bound=0.83)
    g = _explorer_data(r.to_html(tuned=stated))["guarantee"]
    assert (g["name"], g["floor"], g["confidence"], g["bound"]) == ("recall", 0.8, 0.95, 0.83)
    assert g["threshold"] == result.threshold


def test_report_html_of_a_matrix_without_curve_has_the_heat_table_explorer():
    r = Report.from_confusion_matrix([[5, 1, 0], [2, 7, 1], [0, 3, 9]], bootstrap=0)
    data = _explorer_data(r.to_html())
    assert data["kind"] == "multiclass" and data["matrix"] == r.confusion_matrix.tolist()
    binary = Report.from_confusion_matrix([[50, 3], [7, 40]], threshold=0.5, bootstrap=0)
    assert _explorer_data(binary.to_html())["kind"] == "multiclass"  # no curve to slide on


def test_report_states_a_guarantee_and_notes_in_text_json_and_html():
    guarantee = {"constraint": ["recall", 0.9], "confidence": 0.95, "bound": 0.9134}
    r = Report([[50, 5], [2, 43]], threshold=0.4, bootstrap=0, guarantee=guarantee,
               notes=["figures: cross-fitted over 5 folds"])
    sentence = "recall >= 0.9 with 95 % confidence; lower bound 0.913 at this threshold"
    assert f"guarantee: {sentence}" in r.to_text()
    assert "figures: cross-fitted over 5 folds" in r.to_text()
    d = r.to_dict()
    assert d["guarantee"] == {**guarantee, "text": sentence}
    assert d["notes"] == ["figures: cross-fitted over 5 folds"]
    page = r.to_html()
    assert "Guarantee: recall &gt;= 0.9 with 95 % confidence; lower bound 0.913" in page
    assert Report([[1, 0], [0, 1]], bootstrap=0).to_dict()["guarantee"] is None


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"guarantee": {"constraint": ["f1", 0.9], "confidence": 0.95, "bound": 0.9}},
     r"`guarantee` must be None or a dict"),
    ({"guarantee": {"constraint": ["recall", 0.9], "confidence": 1.5, "bound": 0.9}},
     r"`guarantee` must be None or a dict"),
    ({"notes": "one string"}, r"`notes` must be None or a list of strings"),
])
def test_report_refuses_a_malformed_guarantee_or_notes(kwargs, match):
    with pytest.raises(ValueError, match=match):
        Report([[1, 0], [0, 1]], bootstrap=0, **kwargs)


def test_report_html_explorer_shows_the_guarantee_the_report_states():
    from keras_confusion.decisions import tune_threshold

    y, s = _binary_data(8, 600)
    result = tune_threshold(y, s, "specificity", constraint=("recall", 0.8), confidence=0.9)
    r = report(y, s, threshold=result.threshold, bootstrap=0)
    stated = Report(r.confusion_matrix, threshold=result.threshold, curve=r.curve,
                    bootstrap=0, guarantee=result.guarantee)
    g = _explorer_data(stated.to_html())["guarantee"]
    assert (g["name"], g["floor"], g["confidence"], g["bound"]) == (
        "recall", 0.8, 0.9, result.bound)
    # The same as handing the tuning result itself to to_html.
    assert _explorer_data(r.to_html(tuned=result))["guarantee"]["bound"] == result.bound
