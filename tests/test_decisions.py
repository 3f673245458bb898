"""Threshold tuning, cost-matrix decisions and the Thresholded model."""

from __future__ import annotations

import warnings

import keras
import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st
from sklearn import metrics as skm

import keras_confusion as kc
from keras_confusion import formulas
from keras_confusion._validation import ConfusionWarning
from keras_confusion.counts import confusion_matrix
from keras_confusion.decisions import cost_decisions, tune_cost_offsets, tune_threshold
from keras_confusion.thresholded import Thresholded

from conftest import to_numpy

COST = np.array([[0.0, 1.0], [4.0, 0.0]])


@st.composite
def binary_data(draw):
    """Few distinct scores (many duplicates, hence ties), optional integer weights."""
    n = draw(st.integers(2, 40))
    scores = np.array(draw(st.lists(st.integers(0, 8), min_size=n, max_size=n))) / 8.0
    labels = np.array(draw(st.lists(st.integers(0, 1), min_size=n, max_size=n)))
    weighted = draw(st.booleans())
    weights = (np.array(draw(st.lists(st.integers(0, 3), min_size=n, max_size=n)), float)
               if weighted else None)
    return labels, scores, weights


def _brute_force(y, s, w, case):
    """Every candidate by sklearn: (thresholds, objective values, feasible mask, cms)."""
    candidates = np.concatenate([np.unique(s), [np.inf]])
    values, feasible, cms = [], [], []
    for t in candidates:
        pred = (s >= t).astype(int)
        cm = skm.confusion_matrix(y, pred, labels=[0, 1], sample_weight=w)
        cms.append(cm)
        if case == "f1":
            values.append(skm.f1_score(y, pred, zero_division=0, sample_weight=w))
        elif case == "mcc":
            values.append(skm.matthews_corrcoef(y, pred, sample_weight=w))
        elif case == "cost":
            values.append((cm * COST).sum() / cm.sum() if cm.sum() > 0 else 0.0)
        else:  # precision subject to recall >= 0.75
            p, r, _, _ = skm.precision_recall_fscore_support(
                y, pred, average="binary", zero_division=0, sample_weight=w)
            values.append(p)
            feasible.append(r >= 0.75)
    return candidates, np.array(values), np.array(feasible, bool), np.array(cms)


def _tune(y, s, w, case):
    if case == "cost":
        return tune_threshold(y, s, cost_matrix=COST, sample_weight=w)
    if case == "constraint":
        return tune_threshold(y, s, "precision", constraint=("recall", 0.75), sample_weight=w)
    return tune_threshold(y, s, case, sample_weight=w)


@pytest.mark.parametrize("case", ["f1", "mcc", "cost", "constraint"])
@given(data=binary_data())
def test_tuned_threshold_equals_brute_force_search_with_sklearn(case, data):
    y, s, w = data
    assume(w is None or w.sum() > 0)  # constant scores included: two candidates
    candidates, ref, ref_feasible, ref_cms = _brute_force(y, s, w, case)
    eligible = ref_feasible if case == "constraint" else np.ones(len(ref), bool)
    if not eligible.any():
        with pytest.raises(ValueError, match="best reachable is recall="):
            _tune(y, s, w, case)
        return
    result = _tune(y, s, w, case)
    np.testing.assert_array_equal(result.thresholds, candidates)
    np.testing.assert_allclose(result.confusion_matrices, ref_cms)
    np.testing.assert_allclose(result.values, ref, atol=1e-12)
    best = ref[eligible].min() if case == "cost" else ref[eligible].max()
    assert result.value == pytest.approx(best, abs=1e-12)
    # The chosen threshold is one of the (feasible) best candidates, and recounting
    # the decisions at it reproduces the reported matrix.
    tied = candidates[eligible & (np.abs(ref - best) <= 1e-9)]
    assert result.threshold in tied
    i = int(np.flatnonzero(candidates == result.threshold)[0])
    np.testing.assert_allclose(result.confusion_matrix, ref_cms[i])
    if case == "constraint":
        np.testing.assert_array_equal(result.feasible, ref_feasible)


def test_kc_confusion_matrix_at_tuned_threshold_reproduces_value(rng):
    y = rng.integers(0, 2, 3000)
    s = np.clip(rng.normal(0.35 + 0.3 * y, 0.2), 0, 1).astype("float32")
    result = tune_threshold(y, s, "mcc")
    cm = to_numpy(confusion_matrix(y, s, threshold=result.threshold))
    np.testing.assert_array_equal(cm, result.confusion_matrix)
    assert float(formulas.mcc(cm)) == result.value
    assert result.value == pytest.approx(skm.matthews_corrcoef(y, s >= result.threshold))
    assert result.threshold in s


def test_ties_on_a_flat_cost_region_choose_its_middle_threshold():
    # Costs per candidate 0.1: 3, 0.2: 2, 0.3: 2, 0.4: 2, inf: 3 (a 0/1 cost).
    y = [0, 0, 1, 0, 1, 1]
    s = [0.1, 0.2, 0.2, 0.3, 0.3, 0.4]
    result = tune_threshold(y, s, cost_matrix=[[0, 1], [1, 0]])
    np.testing.assert_allclose(result.values * 6, [3, 2, 2, 2, 3])
    assert result.threshold == 0.3


def test_tie_rule_takes_the_lower_middle_of_an_even_run_of_best_thresholds():
    # 0/1 cost per candidate 0.1: 2, 0.3: 1, 0.5: 1, 0.6: 2, inf: 3 errors. The best run
    # (0.3, 0.5) has two candidates: its lower middle is 0.3.
    y = [0, 1, 0, 1, 1]
    s = [0.1, 0.3, 0.3, 0.5, 0.6]
    result = tune_threshold(y, s, cost_matrix=[[0, 1], [1, 0]])
    np.testing.assert_allclose(result.values * 5, [2, 1, 1, 2, 3])
    assert result.threshold == 0.3


def test_objective_values_equal_but_for_rounding_are_ties():
    # Weighted 0/1 cost: at 0.1 the false positives weigh 0.2 + 0.1, at 0.4 the false
    # negatives 2.3 - 2.0 (a difference of sums), 0.3 both in exact arithmetic but not
    # in float64. The tie rule must see one tie (two runs of one candidate: the lowest
    # threshold wins), not a strict best at 0.4 decided by the last bit.
    y = [1, 0, 0, 1, 1]
    s = [0.1, 0.2, 0.3, 0.4, 0.5]
    w = [0.3, 0.1, 0.2, 1.0, 1.0]
    result = tune_threshold(y, s, cost_matrix=[[0, 1], [1, 0]], sample_weight=w)
    np.testing.assert_allclose(result.values * 2.6, [0.3, 0.6, 0.5, 0.3, 1.3, 2.3])
    assert result.values[0] != result.values[3]  # the rounding the tolerance is for
    assert result.threshold == 0.1


def test_constraint_met_exactly_at_its_bound_is_feasible():
    # Recall is 3/4 = 0.75 exactly at 0.7 (precision 1) and 1 at 0.5 (precision 0.8):
    # recall >= 0.75 admits 0.7, the best precision, as the brute force finds.
    y = np.array([1, 1, 1, 0, 1, 0])
    s = np.array([0.9, 0.8, 0.7, 0.6, 0.5, 0.4])
    result = tune_threshold(y, s, "precision", constraint=("recall", 0.75))
    best = max((skm.precision_score(y, s >= t), t) for t in np.unique(s)
               if skm.recall_score(y, s >= t) >= 0.75)
    assert (result.value, result.threshold) == best == (1.0, 0.7)
    np.testing.assert_array_equal(result.feasible, np.r_[np.sort(s) <= 0.7, False])


def test_equally_wide_best_regions_choose_the_lowest_threshold():
    # Error counts per candidate: 3, 2, 1, 2, 1, 2, 3: two single best points.
    y = [0, 0, 1, 0, 1, 1]
    s = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6]
    result = tune_threshold(y, s, cost_matrix=[[0, 1], [1, 0]])
    assert result.threshold == 0.3


def test_costly_false_alarms_choose_predicting_nothing_positive():
    result = tune_threshold([0, 1, 0, 1], [0.9, 0.1, 0.8, 0.2], cost_matrix=[[0, 100], [1, 0]])
    assert result.threshold == np.inf
    np.testing.assert_array_equal(result.confusion_matrix, [[2, 0], [2, 0]])
    assert result.value == 0.5


def test_user_function_of_one_matrix_gives_same_result_as_library_formula(rng):
    y = rng.integers(0, 2, 200)
    s = rng.random(200)

    def youden(cm):
        (tn, fp), (fn, tp) = cm
        return tp / (tp + fn) + tn / (tn + fp) - 1

    mine = tune_threshold(y, s, youden)
    ref = tune_threshold(y, s, "youden_j")
    assert mine.objective == "youden"
    assert mine.threshold == ref.threshold
    np.testing.assert_allclose(mine.values, ref.values)


def test_fbeta_objective_passes_beta_to_the_formula(rng):
    y = rng.integers(0, 2, 300)
    s = rng.random(300)
    result = tune_threshold(y, s, "fbeta", beta=2.0)
    pred = s >= result.threshold
    assert result.value == pytest.approx(skm.fbeta_score(y, pred, beta=2.0))


def test_multilabel_tunes_each_label_as_its_own_binary_problem(rng):
    y = rng.integers(0, 2, (200, 3))
    s = rng.random((200, 3))
    result = tune_threshold(y, s, "f1", multilabel=True)
    for label in range(3):
        one = tune_threshold(y[:, label], s[:, label], "f1")
        assert result.threshold[label] == one.threshold
        assert result.value[label] == one.value
        np.testing.assert_array_equal(result.confusion_matrix[label], one.confusion_matrix)


def test_multilabel_result_stacks_per_label_results_with_their_guarantee(rng):
    from keras_confusion.decisions import MultilabelThresholdResult

    y = (rng.random((2000, 2)) < 0.3).astype(int)
    s = np.clip(rng.normal(0.3 + 0.4 * y, 0.15), 0, 1)
    kwargs = {"constraint": ("recall", 0.8), "confidence": 0.9}
    per_label = [tune_threshold(y[:, i], s[:, i], "specificity", **kwargs) for i in range(2)]
    tuned = tune_threshold(y, s, "specificity", multilabel=True, **kwargs)
    stacked = MultilabelThresholdResult.from_results(per_label, "specificity", 0.9)
    for result in (tuned, stacked):
        np.testing.assert_array_equal(result.threshold, [r.threshold for r in per_label])
        np.testing.assert_array_equal(result.value, [r.value for r in per_label])
        np.testing.assert_array_equal(result.confusion_matrix,
                                      [r.confusion_matrix for r in per_label])
        np.testing.assert_array_equal(result.bound, [r.bound for r in per_label])
        assert result.objective == "specificity" and result.confidence == 0.9
        assert [r.threshold for r in result.results] == [r.threshold for r in per_label]
        assert result.guarantee == {"constraint": ["recall", 0.8], "confidence": 0.9,
                                    "bound": [float(r.bound) for r in per_label],
                                    "family": "label"}
    plain = MultilabelThresholdResult.from_results(iter(per_label), "specificity")
    assert plain.confidence is None and plain.bound is None and plain.guarantee is None
    assert plain.family is None and len(plain.results) == 2
    with pytest.raises(ValueError, match=r"`family` must be \"label\" or \"all\""):
        MultilabelThresholdResult.from_results(per_label, "specificity", 0.9, "each")


@pytest.mark.parametrize(("family", "scope"), [("label", "for each label"),
                                                ("all", "for all labels at once")])
def test_multilabel_guarantee_records_whom_its_confidence_covers_through_save_and_load(
        tmp_path, family, scope):
    # 90 % for each label and 90 % for all labels at once are different promises (the
    # second tunes each label at 1 - 0.1 / L); the guarantee, its sentence and a saved
    # model's config said only "90 %".
    from keras_confusion._text import guarantee_text

    rng = np.random.default_rng(3)
    y = (rng.random((3000, 2)) < 0.3).astype(int)
    s = np.clip(rng.normal(0.3 + 0.4 * y, 0.15), 0, 1)
    result = tune_threshold(y, s, "specificity", constraint=("recall", 0.8), confidence=0.9,
                            multilabel=True, family=family)
    assert result.family == family and result.guarantee["family"] == family
    assert f"with 90 % confidence {scope}; lower bound" in guarantee_text(result.guarantee)
    inner = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2, "sigmoid")])
    model = Thresholded(inner, result.threshold, guarantee=result.guarantee)
    model.save(tmp_path / "multilabel.keras")
    loaded = keras.saving.load_model(tmp_path / "multilabel.keras")
    assert loaded.guarantee == result.guarantee
    # A guarantee saved before the family was recorded still loads, and says nothing.
    old = {k: v for k, v in result.guarantee.items() if k != "family"}
    assert Thresholded(inner, result.threshold, guarantee=old).guarantee == old
    assert " for " not in guarantee_text(old).split(";")[0]
    for bad in ({**result.guarantee, "family": "each"},
                {**result.guarantee, "bound": 0.9}):  # a family for one bound
        with pytest.raises(ValueError, match=r"`guarantee` must be None or a dict"):
            Thresholded(inner, result.threshold, guarantee=bad)


@pytest.mark.parametrize(("y", "s", "cost", "expected"), [
    ([0, 1, 1], [0.5, 0.5, 0.5], None, 0.5),  # all positive: F1 0.8, none: 0
    ([0, 0, 0, 0, 0, 1], [0.3] * 6, COST, np.inf),  # all positive costs 5/6, none 4/6
    ([1], [0.7], COST, 0.7),  # a single sample
])
def test_constant_scores_choose_between_all_positive_and_none_as_brute_force(
        y, s, cost, expected):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConfusionWarning)
        result = tune_threshold(y, s, cost_matrix=cost)
    assert result.threshold == expected
    candidates, values, _, _ = _brute_force(np.array(y), np.array(s), None,
                                            "f1" if cost is None else "cost")
    best = values.max() if cost is None else values.min()
    assert result.value == pytest.approx(best)
    assert values[list(candidates).index(expected)] == pytest.approx(best)


def test_objective_under_an_expected_cost_constraint_equals_brute_force(rng):
    y = rng.integers(0, 2, 300)
    s = np.round(np.clip(0.3 * y + rng.random(300) * 0.7, 0, 1), 2)
    bound = 0.6
    result = tune_threshold(y, s, "f1", cost_matrix=COST, constraint=("expected_cost", bound))
    candidates, costs, _, _ = _brute_force(y, s, None, "cost")
    _, f1, _, _ = _brute_force(y, s, None, "f1")
    feasible = costs <= bound
    assert feasible.any() and not feasible.all()
    assert result.value == pytest.approx(f1[feasible].max())
    assert costs[list(candidates).index(result.threshold)] <= bound
    with pytest.raises(ValueError, match=r"`objective`.*constraint on \"expected_cost\""):
        tune_threshold(y, s, "f1", cost_matrix=COST)


def test_tuning_is_unchanged_when_costs_or_weights_are_scaled_by_1e_minus_13(rng):
    y = rng.integers(0, 2, 200)
    s = np.round(rng.random(200), 2)
    w = rng.choice([1.0, 2.0, 5.0], 200)
    one = tune_threshold(y, s, cost_matrix=COST, sample_weight=w)
    tiny = tune_threshold(y, s, cost_matrix=COST * 1e-13, sample_weight=w)
    assert tiny.threshold == one.threshold
    assert tiny.value == pytest.approx(one.value * 1e-13)
    labels, p, cost = _synthetic_multiclass(rng, n=600)
    base = tune_cost_offsets(labels, p, cost)
    scaled = tune_cost_offsets(labels, p, cost, sample_weight=np.full(len(labels), 1e-13))
    assert scaled.value == pytest.approx(base.value)
    np.testing.assert_array_equal(cost_decisions(p, cost, scaled.offsets),
                                  cost_decisions(p, cost, base.offsets))


def test_nan_score_raises_naming_the_sample():
    with pytest.raises(ValueError, match=r"`y_score` must be finite.*nan at sample 1"):
        tune_threshold([0, 1, 1], [0.2, np.nan, 0.7])


def test_weights_that_are_all_zero_are_refused_as_report_refuses_them():
    # tune_threshold returned threshold 0.4, a zero matrix and a warning that "y_true
    # holds only class 0"; report() and the command line refuse such weights.
    match = r"`sample_weight` must be a positive weight on at least one sample"
    with pytest.raises(ValueError, match=match):
        tune_threshold([0, 1, 1], [0.2, 0.4, 0.9], sample_weight=[0, 0, 0])
    with pytest.raises(ValueError, match=match):
        tune_cost_offsets([0, 1, 2], np.eye(3), 1 - np.eye(3), sample_weight=[0.0] * 3)
    with pytest.raises(ValueError, match=match):
        kc.report([0, 1, 1], [0.2, 0.4, 0.9], sample_weight=[0, 0, 0])
    # One positive weight is enough.
    r = tune_threshold([0, 1, 1], [0.2, 0.4, 0.9], sample_weight=[1, 0, 2])
    assert r.value == 1.0 and r.confusion_matrix.tolist() == [[1, 0], [0, 2]]


def test_weights_whose_sum_overflows_are_refused_and_scaled_ones_tune_alike():
    # Weights of 1.7e308 summed to inf: MCC was tuned to a value of 0.0 at threshold
    # 0.497 without a word, and F1 failed blaming the objective. Below the bound, the
    # same weights scaled down tune to the same threshold as unit weights.
    rng = np.random.default_rng(3)
    y, s = rng.integers(0, 2, 1000), rng.random(1000)
    for objective in ("mcc", "f1"):
        with pytest.raises(ValueError, match=r"`sample_weight` must be weights summing "
                           r"to at most 1e\+300.*Received: sample_weight=<weights summing to inf>"):
            tune_threshold(y, s, objective, sample_weight=np.full(1000, 1.7e308))
        unit = tune_threshold(y, s, objective)
        big = tune_threshold(y, s, objective, sample_weight=np.full(1000, 1e297))
        assert big.threshold == unit.threshold
        assert big.value == pytest.approx(unit.value, rel=1e-12)
    with pytest.raises(ValueError, match=r"`sample_weight` must be weights summing"):
        tune_cost_offsets([0, 1], np.eye(2), 1 - np.eye(2), sample_weight=[1e300, 1e300])


def test_text_scores_logit_probabilities_and_costs_without_stakes_are_refused():
    # NumPy reads ["0.1", "0.9"] as numbers; the command line refuses text in a score
    # column, and so does the API now.
    with pytest.raises(ValueError, match=r"`y_score` must be an array of numbers \(text is "
                                         r"not a score\)"):
        tune_threshold([0, 1], ["0.1", "0.9"])
    with pytest.raises(ValueError, match=r"`y_score` must be an array of numbers"):
        kc.report([0, 1], np.array(["0.1", "0.9"], dtype=object))
    # Logits as probabilities: Bayes decisions of meaningless "expected costs".
    with pytest.raises(ValueError, match=r"`y_prob` must be probabilities in \[0, 1\] "
                                         r"\(logits\? .*Received: y_prob=<1.5 at sample 1>"):
        cost_decisions(np.array([[0.3, 0.7], [1.5, -0.5]]), [[0, 1], [1, 0]])
    with pytest.raises(ValueError, match=r"`y_prob` must be probabilities"):
        tune_cost_offsets([0, 1], np.array([[2.0, -1.0], [0.2, 0.8]]), 1 - np.eye(2))
    # A float32 softmax may round a hair past 1; that is still a probability.
    assert cost_decisions(np.array([[1 + 1e-7, 0.0]]), [[0, 1], [1, 0]]).tolist() == [0]
    # No decision costs more than another: every threshold tied, 0.5 was returned.
    for cost in ([[0, 0], [0, 0]], [[1, 1], [3, 3]]):
        with pytest.raises(ValueError, match=r"`cost_matrix` must be a cost matrix under "
                                             r"which decisions differ"):
            tune_threshold([0, 1, 1], [0.2, 0.4, 0.9], cost_matrix=cost)
        with pytest.raises(ValueError, match=r"`cost_matrix` must be a cost matrix under"):
            tune_cost_offsets([0, 1], np.eye(2), cost)


@pytest.mark.parametrize("labels", [np.array(["0", "1", "1"]), np.array([b"0", b"1", b"1"]),
                                    np.array(["0", "1", "1"], dtype=object)])
def test_text_labels_are_refused_alike_by_report_tuning_and_cost_offsets(labels):
    # report and tune_cost_offsets read ["0", "1"] as the classes 0 and 1 (NumPy
    # converts), while tune_threshold and the command line refused text labels.
    s = np.array([0.2, 0.7, 0.6])
    text = r"`y_true` must be integer class labels \(numbers; text is not a label\)"
    with pytest.raises(ValueError, match=text):
        kc.report(labels, s)
    with pytest.raises(ValueError, match=text):
        tune_cost_offsets(labels, np.stack([1 - s, s], axis=1), [[0, 1], [5, 0]])
    with pytest.raises(ValueError, match=r"`y_true` must be binary labels"):
        tune_threshold(labels, s)
    # Numbers stay numbers, whatever their dtype.
    for numbers in ([0, 1, 1], np.array([0.0, 1.0, 1.0]), np.array([0, 1, 1], dtype=object)):
        assert kc.report(numbers, s, bootstrap=0).confusion_matrix.tolist() == [[1, 0], [0, 2]]


def test_result_repr_shows_the_choice_not_every_candidate(rng):
    # The dataclass repr printed every candidate's matrix: thousands of lines.
    y, s = rng.integers(0, 2, (5000, 2)), rng.random((5000, 2))
    r = tune_threshold(y[:, 0], s[:, 0], "f1")
    text = repr(r)
    assert len(text.splitlines()) == 1 and len(text) < 400, text
    assert text.startswith(f"ThresholdResult(threshold={r.threshold!r}, value={r.value!r}, "
                           f"objective='f1', confusion_matrix="
                           f"{r.confusion_matrix.tolist()!r}, constraint=None")
    assert text.endswith("<5001 candidates in .thresholds, .values, .confusion_matrices>)")
    multi = repr(tune_threshold(y, s, "f1", multilabel=True))
    assert len(multi) < 500 and multi.endswith("<2 labels' results in .results>)")


def test_objective_returning_nan_raises_naming_the_threshold():
    with pytest.raises(ValueError, match=r"`objective`.*returned NaN at threshold 0\.2"):
        tune_threshold([0, 1, 1], [0.2, 0.4, 0.7], lambda cm: np.nan)


def test_single_class_labels_warn_that_the_objective_may_be_degenerate():
    with pytest.warns(ConfusionWarning, match="only class 0"):
        result = tune_threshold([0, 0, 0], [0.2, 0.4, 0.7], "f1")
    np.testing.assert_array_equal(result.values, 0.0)


def test_infeasible_constraint_raises_with_best_reachable_value():
    y = [0, 1, 0, 1, 0, 1]
    s = [0.9, 0.8, 0.7, 0.6, 0.5, 0.4]  # the top score is a negative: precision < 1
    with pytest.raises(ValueError, match=r"best reachable is precision=0\.5 at threshold"):
        tune_threshold(y, s, "recall", constraint=("precision", 0.9))


@pytest.mark.parametrize(
    ("cost", "match"),
    [([[0, 1, 2], [1, 0, 2], [1, 1, 0]], r"shape \(2, 2\)"),
     ([[0, -1], [1, 0]], "non-negative"),
     ([0, 1], "square")],
)
def test_malformed_cost_matrix_raises(cost, match):
    with pytest.raises(ValueError, match=match):
        tune_threshold([0, 1, 1, 0], [0.1, 0.2, 0.3, 0.4], cost_matrix=cost)


def test_objective_other_than_cost_with_cost_matrix_raises():
    with pytest.raises(ValueError, match="`objective` must be None or \"expected_cost\""):
        tune_threshold([0, 1, 1, 0], [0.1, 0.2, 0.3, 0.4], "f1", cost_matrix=COST)


# ------------------------------------------------------------------ multiclass costs


def _bayes_reference(p, cost):
    """The Bayes rule sample by sample: the decision of least expected cost."""
    k = cost.shape[0]
    out = []
    for row in p:
        risks = [sum(row[i] * cost[i, j] for i in range(k)) for j in range(k)]
        out.append(int(np.argmin(risks)))
    return np.array(out)


def _synthetic_multiclass(rng, n=3000, k=4):
    """Calibrated probabilities: each label is drawn from the sample's own p."""
    logits = rng.normal(0.0, 1.5, (n, k))
    p = np.exp(logits) / np.exp(logits).sum(-1, keepdims=True)
    y = (rng.random((n, 1)) > np.cumsum(p, axis=1)).sum(axis=1)
    cost = np.array([[0, 1, 1, 1], [10, 0, 2, 2], [2, 1, 0, 1], [20, 5, 5, 0]], float)
    return y, p, cost


def _mean_cost(y, decisions, cost):
    return cost[y, decisions].mean()


def test_cost_decisions_equal_numpy_reference_of_bayes_rule(rng):
    _, p, cost = _synthetic_multiclass(rng, n=300)
    expected = _bayes_reference(p, cost)
    np.testing.assert_array_equal(cost_decisions(p, cost), expected)
    tensor = keras.ops.convert_to_tensor(p.astype("float32"))
    np.testing.assert_array_equal(to_numpy(cost_decisions(tensor, cost)), expected)


def test_bayes_cost_decision_costs_less_than_argmax_on_seeded_task(rng):
    y, p, cost = _synthetic_multiclass(rng)
    bayes = _mean_cost(y, cost_decisions(p, cost), cost)
    argmax = _mean_cost(y, np.argmax(p, axis=1), cost)
    assert bayes < 0.9 * argmax


def test_tuned_offsets_lower_cost_of_miscalibrated_probabilities_and_recount_matches(rng):
    y, p, cost = _synthetic_multiclass(rng)
    # An overconfident model: sharpened probabilities mislead the Bayes rule.
    sharp = p**3 / (p**3).sum(-1, keepdims=True)
    result = tune_cost_offsets(y, sharp, cost)
    bayes = _mean_cost(y, cost_decisions(sharp, cost), cost)
    tuned = _mean_cost(y, cost_decisions(sharp, cost, result.offsets), cost)
    assert result.bayes_value == pytest.approx(bayes)
    assert result.value == pytest.approx(tuned)
    assert tuned < bayes
    np.testing.assert_array_equal(
        result.confusion_matrix,
        skm.confusion_matrix(y, cost_decisions(sharp, cost, result.offsets), labels=range(4)))


@given(data=st.data())
def test_tuned_offsets_are_never_worse_than_bayes_on_tuning_data(data):
    n = data.draw(st.integers(1, 30))
    k = data.draw(st.integers(2, 4))
    seed = data.draw(st.integers(0, 2**16))
    rng = np.random.default_rng(seed)
    p = rng.dirichlet(np.ones(k), n)
    y = rng.integers(0, k, n)
    cost = rng.integers(0, 5, (k, k)).astype(float)
    cost[0, 1] += cost[0, 0] == cost[0, 1]  # decisions differ in cost (else refused)
    result = tune_cost_offsets(y, p, cost)
    assert result.value <= result.bayes_value + 1e-12
    assert result.bayes_value == pytest.approx(_mean_cost(y, _bayes_reference(p, cost), cost))
    assert result.value == pytest.approx(
        _mean_cost(y, cost_decisions(p, cost, result.offsets), cost))


# ------------------------------------------------------------------- the model


def _scorer(outputs, activation):
    inputs = keras.Input((5,))
    hidden = keras.layers.Dense(8, activation="relu")(inputs)
    return keras.Model(inputs, keras.layers.Dense(outputs, activation=activation)(hidden))


@pytest.mark.parametrize("kind", ["binary", "multilabel", "cost"])
def test_thresholded_save_and_load_give_identical_decisions(kind, tmp_path, rng):
    x = rng.normal(size=(64, 5)).astype("float32")
    # Thresholds halfway between two scores: a last-bit difference between a direct call
    # and predict cannot flip a decision.
    if kind in ("binary", "multilabel"):
        inner = _scorer(1 if kind == "binary" else 3, "sigmoid")
        scores = to_numpy(inner(x))
        ordered = np.sort(scores, axis=0).astype("float64")
        thresholds = (ordered[31] + ordered[32]) / 2
        threshold = thresholds.tolist() if kind == "multilabel" else float(thresholds[0])
        model = Thresholded(inner, threshold=threshold)
        expected = (scores >= thresholds).astype("int32")
    else:
        inner = _scorer(4, "softmax")
        scores = to_numpy(inner(x)).astype("float64")
        cost = np.array([[0, 1, 1, 1], [10, 0, 2, 2], [2, 1, 0, 1], [20, 5, 5, 0]], float)
        offsets = [0.0, 0.1, -0.05, 0.2]
        model = Thresholded(inner, cost_matrix=cost, offsets=offsets)
        expected = cost_decisions(scores, cost, offsets)
    decisions = model.predict(x, verbose=0)
    np.testing.assert_array_equal(decisions, expected)
    path = str(tmp_path / "model.keras")
    model.save(path)
    loaded = keras.saving.load_model(path)
    assert isinstance(loaded, Thresholded)
    # Calling the model runs the same call() as predict, without compiling it again.
    np.testing.assert_array_equal(to_numpy(loaded(x)), decisions)
    np.testing.assert_array_equal(loaded.threshold, model.threshold)


def test_thresholded_returns_scores_on_request_and_config_round_trips(rng):
    inner = _scorer(1, "sigmoid")
    model = Thresholded(inner, threshold=0.4, return_scores=True)
    x = rng.normal(size=(16, 5)).astype("float32")
    out = {key: to_numpy(value) for key, value in model(x).items()}
    np.testing.assert_allclose(out["scores"], to_numpy(inner(x)), rtol=1e-6)
    np.testing.assert_array_equal(out["decisions"], (out["scores"] >= np.float32(0.4)))
    clone = Thresholded.from_config(model.get_config())
    assert clone.return_scores
    assert clone.threshold == model.threshold


@pytest.mark.parametrize(("threshold", "expected"), [(0.7, [0, 0, 1]), (0.1, [0, 1, 1])])
def test_thresholded_keeps_the_ge_rule_exact_for_a_float64_threshold(threshold, expected):
    # float32(0.7) < 0.7: a float32 score equal to it is below the threshold 0.7;
    # float32(0.1) > 0.1: a float32 score equal to it is above the threshold 0.1.
    near = np.float32(threshold)
    x = np.array([[np.nextafter(near, np.float32(0))], [near],
                  [np.nextafter(near, np.float32(1))]], dtype="float32")
    inner = keras.Sequential([keras.Input((1,)), keras.layers.Identity()])
    model = Thresholded(inner, threshold=threshold)
    decisions = to_numpy(model(x))[:, 0]
    np.testing.assert_array_equal(decisions, (x[:, 0].astype("float64") >= threshold))
    assert decisions.tolist() == expected
    # Saved and loaded through the config, the same decisions.
    clone = Thresholded.from_config(model.get_config())
    assert to_numpy(clone(x))[:, 0].tolist() == expected


def test_thresholded_decides_float64_scores_exactly_at_a_tuned_threshold():
    from keras_confusion import _backend

    if not _backend.has_float64(keras.ops.zeros(())):
        pytest.skip("no float64 on this backend (JAX without x64)")
    # The inner model computes in float64: 1 / 3 is no float32.
    inner = keras.Sequential([keras.Input((1,)),
                              keras.layers.Lambda(lambda v: v / 3.0, dtype="float64")])
    x = np.array([[0.6], [1.0], [1.5]], dtype="float32")
    scores = to_numpy(inner(x))[:, 0]
    assert scores.dtype == np.float64 and scores[1] == 1 / 3
    y = np.array([0, 1, 1])
    result = tune_threshold(y, scores, "f1")
    assert result.threshold == 1 / 3
    model = Thresholded(inner, threshold=result.threshold)
    decisions = to_numpy(model(x))[:, 0]
    # tune_threshold's own matrix and NumPy agree: the score at the threshold is positive.
    np.testing.assert_array_equal(decisions, (scores >= result.threshold).astype(int))
    assert decisions.tolist() == [0, 1, 1]


@pytest.mark.parametrize("policy", ["mixed_float16", "mixed_bfloat16"])
def test_thresholded_under_a_mixed_policy_decides_with_the_exact_threshold(policy, rng):
    """Keras autocasts a layer's float variables to the compute dtype of a mixed policy:
    the threshold must not be read rounded to float16 / bfloat16."""
    x = rng.uniform(size=(20_000, 1)).astype("float32")
    threshold = 0.41234
    previous = keras.mixed_precision.global_policy()
    keras.mixed_precision.set_global_policy(policy)
    try:
        inp = keras.Input((1,))
        inner = keras.Model(inp, keras.layers.Activation("linear", dtype="float32")(inp))
        model = Thresholded(inner, threshold=threshold)
        called = to_numpy(model(x))[:, 0]
        predicted = np.asarray(model.predict(x, batch_size=4096, verbose=0))[:, 0]
    finally:
        keras.mixed_precision.set_global_policy(previous)
    expected = (x[:, 0].astype("float64") >= threshold).astype(int)
    np.testing.assert_array_equal(called, expected)
    np.testing.assert_array_equal(predicted, expected)


@pytest.mark.parametrize("greater", [True, False])
def test_objective_whose_best_value_is_infinite_picks_that_threshold(greater):
    y = np.array([0, 0, 0, 1, 1, 1])
    s = np.array([0.1, 0.2, 0.3, 0.6, 0.7, 0.8])

    def score(cm):  # +inf for a perfect split, else minus the error count
        errors = cm[0, 1] + cm[1, 0]
        return np.inf if errors == 0 else -float(errors)

    # Brute force: the candidates are the scores and +inf; only 0.6 splits perfectly.
    cands = np.r_[np.unique(s), np.inf]
    values = [score(np.array([[np.sum((s < t) & (y == 0)), np.sum((s >= t) & (y == 0))],
                              [np.sum((s < t) & (y == 1)), np.sum((s >= t) & (y == 1))]]))
              for t in cands]
    assert cands[int(np.argmax(values))] == 0.6
    if greater:
        result = tune_threshold(y, s, score)
    else:
        result = tune_threshold(y, s, lambda cm: -score(cm), greater_is_better=False)
    assert result.threshold == 0.6
    assert result.value == (np.inf if greater else -np.inf)


def test_thresholded_binary_cost_matrix_reads_one_column_as_positive_probability(rng):
    inner = _scorer(1, "sigmoid")
    x = rng.normal(size=(200, 5)).astype("float32")
    p = to_numpy(inner(x))[:, 0].astype("float64")
    model = Thresholded(inner, cost_matrix=[[0, 1], [4, 0]])
    expected = cost_decisions(np.stack([1 - p, p], axis=1), [[0, 1], [4, 0]])
    np.testing.assert_array_equal(to_numpy(model(x)), expected)
    # The Bayes rule here is p > 1/5.
    np.testing.assert_array_equal(expected, p > 0.2)


def test_thresholded_rejects_threshold_with_cost_matrix():
    with pytest.raises(ValueError, match="`threshold` must be None when cost_matrix"):
        Thresholded(_scorer(2, "softmax"), threshold=0.5, cost_matrix=np.ones((2, 2)))


def test_bfloat16_scores_labels_and_weights_tune_as_their_float64_values(rng):
    """Backend bfloat16 tensors (torch cannot hand them to NumPy) and bfloat16 NumPy
    arrays (ml_dtypes, dtype kind "V") are read as the numbers they hold."""
    import ml_dtypes

    n = 300
    y = rng.integers(0, 2, n)
    s = rng.random(n).astype(ml_dtypes.bfloat16)
    w = rng.choice([0.5, 1.0, 2.0], n).astype(ml_dtypes.bfloat16)
    expected = tune_threshold(y, s.astype("float64"), "f1", sample_weight=w.astype("float64"))
    for got in [
        tune_threshold(keras.ops.convert_to_tensor(y.astype("float32"), dtype="bfloat16"),
                       keras.ops.convert_to_tensor(s.astype("float32"), dtype="bfloat16"),
                       "f1", sample_weight=keras.ops.convert_to_tensor(
                           w.astype("float32"), dtype="bfloat16")),
        tune_threshold(y.astype(ml_dtypes.bfloat16), s, "f1", sample_weight=w),
    ]:
        assert got.threshold == expected.threshold and got.value == expected.value
        np.testing.assert_array_equal(got.confusion_matrix, expected.confusion_matrix)
    k = 3
    yk = rng.integers(0, k, n)
    p = rng.dirichlet(np.ones(k), n).astype("float32")
    cost = 1 - np.eye(k)
    offsets = tune_cost_offsets(yk, p.astype(ml_dtypes.bfloat16).astype("float64"), cost)
    got = tune_cost_offsets(keras.ops.convert_to_tensor(yk),
                            keras.ops.convert_to_tensor(p, dtype="bfloat16"), cost)
    np.testing.assert_array_equal(got.offsets, offsets.offsets)
    np.testing.assert_array_equal(got.confusion_matrix, offsets.confusion_matrix)


def test_thresholded_threshold_loaded_from_float64_is_the_float32_ceiling():
    # A model saved where the threshold is float64 (TensorFlow, torch) and loaded where
    # it is float32 (JAX): Keras assigned 0.7 rounded to nearest (0.69999999), which
    # called float32(0.7) positive.
    identity = keras.Sequential([keras.Input((1,)), keras.layers.Identity()])
    model = Thresholded(identity, threshold=0.3)
    own = model._trainable_variables + model._non_trainable_variables
    index = next(i for i, v in enumerate(own) if v is model.threshold_variable)
    model.load_own_variables({str(index): np.asarray(0.7, dtype="float64")})
    scores = np.array([[0.7], [0.70000005], [0.69999993]], "float32")
    np.testing.assert_array_equal(to_numpy(model(scores)),
                                  (scores.astype("float64") >= 0.7).astype("int32"))
    assert model.threshold >= 0.7


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"offsets": [0.0, np.nan, 0.0]}, r"`offsets` must be 3 finite numbers"),
    ({"offsets": [0.0, 1.0]}, r"`offsets` must be 3 finite numbers"),
    # Said NumPy's "could not convert string to float: 'ab'", a TypeError for the dict,
    # and read the text numbers as numbers.
    ({"offsets": "ab"}, r"`offsets` must be 3 finite numbers.*Received: offsets='ab'"),
    ({"offsets": {0: 1.0}}, r"`offsets` must be 3 finite numbers"),
    ({"offsets": ["0", "1", "2"]}, r"`offsets` must be 3 finite numbers"),
    ({"nan_prob": True}, r"`y_prob` must be finite"),
])
def test_cost_decisions_of_eager_tensors_check_offsets_and_probabilities(kwargs, match):
    p = np.array([[0.2, 0.5, 0.3], [0.6, 0.3, 0.1]], "float32")
    if kwargs.pop("nan_prob", False):
        p[1, 0] = np.nan
    with pytest.raises(ValueError, match=match):
        cost_decisions(keras.ops.convert_to_tensor(p), 1 - np.eye(3), **kwargs)
    with pytest.raises(ValueError, match=match):
        cost_decisions(p, 1 - np.eye(3), **kwargs)


def test_cost_decisions_read_a_probability_column_as_class_1_and_refuse_1d_input():
    p1 = np.array([[0.1], [0.3], [0.9]])
    both = np.concatenate([1 - p1, p1], axis=-1)
    expected = cost_decisions(both, COST)
    np.testing.assert_array_equal(cost_decisions(p1, COST), expected)
    np.testing.assert_array_equal(
        to_numpy(cost_decisions(keras.ops.convert_to_tensor(p1.astype("float32")), COST)),
        expected)
    with pytest.raises(ValueError, match=r"`y_prob` must be of shape \(n_samples, K\)"):
        cost_decisions(np.array([0.3, 0.9]), COST)


def test_small_argument_errors_are_value_errors_naming_the_argument(rng):
    with pytest.raises(ValueError, match=r"`bata`.*formula 'fbeta' \(which takes beta"):
        tune_threshold([0, 1, 1], [0.2, 0.4, 0.7], "fbeta", bata=2.0)
    with pytest.raises(ValueError, match=r"`beta`.*formula 'mcc'"):
        tune_threshold([0, 1, 1], [0.2, 0.4, 0.7], "mcc", beta=2.0)
    with pytest.raises(ValueError, match=r"`greater_is_better` must be True, False or None"):
        tune_threshold([0, 1, 1], [0.2, 0.4, 0.7], greater_is_better="no")
    with pytest.raises(ValueError, match=r"`y_prob` must be at least one sample"):
        tune_cost_offsets(np.zeros(0, int), np.zeros((0, 3)), 1 - np.eye(3))


class _LateModel(keras.Model):
    """A model whose output shape is known only once it is called."""

    def __init__(self):
        super().__init__(name="late")  # TensorFlow refuses the default "__late_model"
        self.dense = keras.layers.Dense(1, activation="sigmoid")

    def call(self, x):
        return self.dense(x)


def test_thresholded_refuses_thresholds_or_costs_that_do_not_fit_and_keeps_the_model(rng):
    x = rng.normal(size=(40, 5)).astype("float32")
    inner = _scorer(1, "sigmoid")
    before = inner.predict(x, verbose=0)
    # Raised inside predict's compiled step, the error was the backend's (JAX:
    # TracerArrayConversionError; TensorFlow: NotImplementedError) and JAX's predict
    # left `inner` without its weights ("'NoneType' object is not callable" after).
    with pytest.raises(ValueError, match=r"`threshold` must be one threshold per output "
                       r"column: the model outputs shape \(None, 1\)\. Received: "
                       r"threshold=<2 thresholds>"):
        Thresholded(inner, threshold=[0.3, 0.6])
    with pytest.raises(ValueError, match=r"`cost_matrix` must be one row and column per "
                       r"class of the model's outputs, shape \(None, 3\) \(3 columns\)"):
        Thresholded(_scorer(3, "softmax"), cost_matrix=1 - np.eye(2))
    with pytest.raises(ValueError, match=r"`cost_matrix`.*shape \(None, 1\) \(1 columns\)"):
        Thresholded(inner, cost_matrix=1 - np.eye(3))
    # Outputs known only when called: refused in predict, and the model keeps its weights.
    late = _LateModel()
    with pytest.raises(ValueError, match=r"`threshold` must be one threshold per output"):
        Thresholded(late, threshold=[0.3, 0.6]).predict(x, verbose=0)
    late_scores = late.predict(x, verbose=0)
    assert late_scores.shape == (40, 1) and np.all(np.isfinite(late_scores))
    np.testing.assert_array_equal(inner.predict(x, verbose=0), before)
    # bool("no") is True: the decisions came back as a dict with the scores.
    with pytest.raises(ValueError, match=r"`return_scores` must be True or False"):
        Thresholded(inner, 0.5, return_scores="no")
    # What fits is taken: a (2, 2) matrix on one column of class-1 scores, and one
    # threshold per column of two.
    decided = Thresholded(inner, cost_matrix=1 - np.eye(2)).predict(x, verbose=0)
    # (A score of exactly 0.5, all hidden units at 0, ties: the lower class, 0.)
    np.testing.assert_array_equal(decided, cost_decisions(before, 1 - np.eye(2)))
    assert Thresholded(_scorer(2, "sigmoid"), threshold=[0.3, 0.6]).predict(
        x, verbose=0).shape == (40, 2)


def test_thresholded_keeps_the_guarantee_through_save_and_load(tmp_path):
    rng = np.random.default_rng(0)
    y = (rng.random(400) < 0.3).astype("int64")
    s = np.clip(rng.normal(0.3 + 0.4 * y, 0.2), 0, 1)
    result = tune_threshold(y, s, "specificity", constraint=("recall", 0.8), confidence=0.95)
    inner = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1, "sigmoid")])
    model = Thresholded(inner, result.threshold, guarantee=result.guarantee)
    assert model.guarantee == {"constraint": ["recall", 0.8], "confidence": 0.95,
                               "bound": result.bound}
    path = tmp_path / "guaranteed.keras"
    model.save(path)
    loaded = keras.saving.load_model(path)
    assert loaded.guarantee == result.guarantee
    assert loaded.get_config()["guarantee"] == result.guarantee
    with pytest.raises(ValueError, match=r"`guarantee` must be None or a dict"):
        Thresholded(inner, 0.5, guarantee={"constraint": ["f1", 0.8], "confidence": 0.9,
                                           "bound": 0.9})


@pytest.mark.parametrize(("objective", "extreme", "other"), [
    ("recall", "positive every sample down to the lowest-scored positive", "precision"),
    ("sensitivity", "positive every sample down to", "precision"),
    ("specificity", "negative every sample up to the highest-scored negative", "recall"),
    ("precision", "positive only the few surest", "recall"),
    ("npv", "negative only the few surest", "specificity"),
])
def test_a_rate_tuned_alone_warns_that_its_best_threshold_is_trivial(objective, extreme,
                                                                     other, rng):
    # `tune --objective recall` returned threshold 0.0 (every row positive), exit 0,
    # without a word; the losses warn about the same formulas alone.
    y = rng.integers(0, 2, 400)
    s = np.clip(rng.normal(0.35 + 0.3 * y, 0.2), 0, 1)
    with pytest.warns(ConfusionWarning, match=rf"{objective} alone is maximised at an extreme "
                                              rf"threshold, by calling {extreme}.*a floor "
                                              rf"on {other}") as caught:
        result = tune_threshold(y, s, objective)
    assert caught[0].filename == __file__  # it points at the call
    if objective in ("recall", "sensitivity"):  # every positive in, whatever it costs
        assert result.value == 1.0 and result.threshold <= s[y == 1].min()
    if objective == "specificity":
        assert result.value == 1.0 and result.threshold > s[y == 0].max()
    with warnings.catch_warnings():
        warnings.filterwarnings("error", category=ConfusionWarning)
        tune_threshold(y, s, objective, constraint=(other, 0.5))  # constrained: silent
        tune_threshold(y, s, "f1")


def test_constant_scores_warn_that_the_model_output_is_constant():
    # scikit-learn refuses constant predictions; a collapsed model went unnoticed.
    with pytest.warns(ConfusionWarning, match=r"every score is 0\.3 \(4 samples\).*constant"):
        result = tune_threshold([0, 1, 0, 1], [0.3] * 4, "f1")
    assert result.threshold == 0.3  # the documented choice stays: every sample positive
    with warnings.catch_warnings():
        warnings.filterwarnings("error", "tune_threshold: every score", ConfusionWarning)
        warnings.filterwarnings("ignore", "tune_threshold: y_true holds only", ConfusionWarning)
        tune_threshold([1], [0.7], "f1")  # one sample is no sign of a collapsed model
        tune_threshold([0, 1], [0.3, 0.7], "f1")


def _exact_curve_reference(y, s, w=None):
    """The exact curve as it was computed before the sorted label keys (two sorts and
    a binary search unweighted; an argsort and reverse cumulative sums weighted)."""
    n = len(s)
    if w is None:
        s_sorted = np.sort(s)
        starts = np.flatnonzero(np.concatenate([[True], s_sorted[1:] != s_sorted[:-1]]))
        thresholds = s_sorted[starts]
        pos = y == 1
        n_pos = int(np.count_nonzero(pos))
        tp = n_pos - np.searchsorted(np.sort(s[pos]), thresholds, side="left")
        fp = (n - starts) - tp
    else:
        order = np.argsort(s)
        s_sorted = s[order]
        starts = np.flatnonzero(np.concatenate([[True], s_sorted[1:] != s_sorted[:-1]]))
        thresholds = s_sorted[starts]
        pos = w[order] * y[order]
        tp = np.cumsum(pos[::-1])[::-1][starts]
        fp = np.cumsum((w[order] - pos)[::-1])[::-1][starts]
    cms = np.zeros((len(tp) + 1, 2, 2), dtype=tp.dtype)
    cms[:-1, 1, 1], cms[:-1, 0, 1] = tp, fp
    cms[:, 1, 0] = tp[0] - cms[:, 1, 1]
    cms[:, 0, 0] = fp[0] - cms[:, 0, 1]
    return np.concatenate([thresholds, [np.inf]]), cms


def _tie_heavy_scores(rng, kind, n, dtype):
    if kind == "probabilities":
        s = rng.integers(0, 9, n) / 8.0  # nine values, heavy ties, 0 and 1 included
        s[: n // 2] = rng.random(n // 2)
    elif kind == "logits":
        s = rng.integers(-4, 5, n) * 1.5
        s[: n // 2] = rng.normal(0.0, 30.0, n // 2)
        s[rng.random(n) < 0.1] = -0.0  # equal to 0.0, not below it
    else:  # the extremes of the dtype, both signs, and the smallest subnormals
        info = np.finfo(dtype)
        s = rng.choice([-info.max, info.max, -info.smallest_subnormal,
                        info.smallest_subnormal, 0.0, -0.0, 1.0, -1.0], n)
    return s.astype(dtype)


@pytest.mark.parametrize("dtype", ["float16", "float32", "float64"])
@pytest.mark.parametrize("kind", ["probabilities", "logits", "extremes"])
@pytest.mark.parametrize("weighted", [False, True])
def test_exact_curve_from_sorted_label_keys_equals_the_two_sort_reference(dtype, kind,
                                                                          weighted):
    from keras_confusion._counting import exact_curve

    rng = np.random.default_rng(3)
    for n in [1, 2, 3, 50, 5000]:
        y = rng.integers(0, 2, n).astype("int8")
        s = _tie_heavy_scores(rng, kind, n, dtype)
        w = rng.integers(0, 4, n).astype("float64") if weighted else None
        thresholds, cms = exact_curve(y, s, w)
        ref_thresholds, ref_cms = _exact_curve_reference(y, s, w)
        assert thresholds.dtype == ref_thresholds.dtype and cms.dtype == ref_cms.dtype
        np.testing.assert_array_equal(thresholds, ref_thresholds)
        np.testing.assert_array_equal(cms, ref_cms)
        # And a brute force of the rule at every candidate: positive when s >= t.
        if n <= 50:
            decide = s.astype("float64")[None, :] >= thresholds[:, None]
            wt = np.ones(n) if w is None else w
            np.testing.assert_array_equal(cms[:, 1, 1], (decide * (y * wt)).sum(1))
            np.testing.assert_array_equal(cms[:, 0, 1], (decide * ((1 - y) * wt)).sum(1))


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_sorted_label_keys_split_wide_scores_by_sign_into_half_width_parts(dtype):
    # Logits of both signs span more than half the keys' range: sorted as one part
    # they left no room for the label bit, and the exact curve fell back to an
    # argsort (10 M float32 logits: 2.0 s, against 1.1 s split). Split by sign, each
    # part keeps the scores' own width, holds its scores in order, -0.0 with 0.0.
    from keras_confusion._counting import _sorted_label_keys

    rng = np.random.default_rng(5)
    s = rng.normal(0.0, 30.0, 1000).astype(dtype)
    s[:3] = [-0.0, 0.0, np.finfo(dtype).max]
    s[3] = -np.finfo(dtype).max
    y = rng.integers(0, 2, 1000).astype("int8")
    parts = _sorted_label_keys(y, s)
    assert parts is not None and len(parts) == 2
    negative = s < 0
    for (packed, to_scores), where in zip(parts, [negative, ~negative], strict=True):
        assert packed.dtype.itemsize == s.dtype.itemsize
        np.testing.assert_array_equal(to_scores(packed >> packed.dtype.type(1)),
                                      np.sort(s[where] + s.dtype.type(0)))
        np.testing.assert_array_equal(np.sort(packed & packed.dtype.type(1)),
                                      np.sort(y[where]))
    # Scores that fit leave one part.
    assert len(_sorted_label_keys(y[4:], np.abs(s[4:]))) == 1


@pytest.mark.parametrize("dtype", ["float16", "float32"])
def test_argsort_by_keys_is_a_permutation_that_sorts_the_scores(dtype):
    # The weighted exact curve's argsort as one sort of key-and-index integers: every
    # index once, the scores in order (ties, -0.0 with 0.0, and extremes included).
    from keras_confusion._counting import _argsort_by_keys

    rng = np.random.default_rng(6)
    for n in [0, 1, 2, 3, 50, 5000]:
        s = _tie_heavy_scores(rng, ["logits", "extremes"][n % 2], n, dtype)
        order = _argsort_by_keys(s)
        np.testing.assert_array_equal(np.sort(order), np.arange(n))
        np.testing.assert_array_equal(s[order], np.sort(s))
    assert _argsort_by_keys(s.astype("float64")) is None  # no room beside 64-bit keys


@pytest.mark.parametrize("dtype", ["float16", "float32", "float64"])
@pytest.mark.parametrize("objective", ["f1", "mcc"])
def test_tune_threshold_picks_what_the_reference_curve_picks(dtype, objective):
    from keras_confusion.decisions import _best_index

    rng = np.random.default_rng(4)
    y = rng.integers(0, 2, 20000).astype("int8")
    s = _tie_heavy_scores(rng, "probabilities", 20000, dtype)
    result = tune_threshold(y, s, objective)
    thresholds, cms = _exact_curve_reference(y, s.astype("float64"))
    values = np.asarray(formulas.get(objective)(cms), "float64")
    i = _best_index(values, np.ones(len(values), bool), True)
    assert result.threshold == thresholds[i] and result.value == values[i]
    np.testing.assert_array_equal(result.confusion_matrix, cms[i])
    np.testing.assert_array_equal(result.thresholds, thresholds)
    np.testing.assert_array_equal(result.values, values)
