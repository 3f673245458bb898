"""The Dask engine on a LocalCluster of 2 worker processes: every result equals the
one-machine function (and scikit-learn) on the same rows.

Keras-free (marker ``keras_free``): CI runs this file once, not once per backend.
"""

from __future__ import annotations

import json
import subprocess
import sys
import warnings

import numpy as np
import pytest

dd = pytest.importorskip("dask.dataframe")
distributed = pytest.importorskip("distributed")
pd = pytest.importorskip("pandas")
pa = pytest.importorskip("pyarrow")
pq = pytest.importorskip("pyarrow.parquet")

import dask  # noqa: E402
from sklearn.metrics import confusion_matrix as sk_confusion_matrix  # noqa: E402
from sklearn.metrics import multilabel_confusion_matrix  # noqa: E402

from keras_confusion import dask as kd  # noqa: E402
from keras_confusion import formulas  # noqa: E402
from keras_confusion.cli import main  # noqa: E402
from keras_confusion.decisions import tune_threshold  # noqa: E402
from keras_confusion.report import report  # noqa: E402

pytestmark = pytest.mark.keras_free


@pytest.fixture(scope="module")
def client():
    cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                       dashboard_address=None, worker_dashboard_address=None)
    with distributed.Client(cluster) as c:
        yield c
    cluster.close()


def _frame(frames):
    """A Dask DataFrame whose partitions are exactly ``frames`` (empty ones kept)."""
    meta = frames[0].iloc[:0]
    return dd.from_delayed([dask.delayed(f) for f in frames], meta=meta, verify_meta=False)


def _split(df, cuts):
    return [df.iloc[a:b] for a, b in zip([0, *cuts], [*cuts, len(df)], strict=True)]


def _binary(n=4000, seed=0, decimals=2, weights=False):
    """Scores rounded to ``decimals`` (ties), one partition empty, one of one class."""
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < 0.2).astype(np.int64)
    s = np.round(np.clip(rng.normal(0.3 + 0.3 * y, 0.2), 0, 1), decimals)
    df = pd.DataFrame({"y": y, "p": s})
    if weights:
        df["w"] = rng.integers(0, 4, n).astype(np.float64)
    order = np.argsort(df["y"].to_numpy(), kind="stable")
    one_class = df.iloc[order[: n // 10]]  # negatives only
    rest = df.drop(one_class.index)
    frames = [one_class, rest.iloc[:0], *_split(rest, [n // 3, n // 2, n // 2 + 1])]
    full = pd.concat(frames)
    return full, _frame(frames)


def test_module_imports_no_keras_or_backend():
    code = ("import sys, keras_confusion.dask; "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in "
            "('keras', 'jax', 'tensorflow', 'torch')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    assert out.strip() == "[]"


def test_binary_confusion_matrix_equals_sklearn_with_empty_and_one_class_partitions(client):
    df, ddf = _binary()
    for threshold in (0.0, 0.37, 0.5, 1.0, np.inf):
        got = kd.confusion_matrix(ddf, label="y", score="p", threshold=threshold)
        expected = sk_confusion_matrix(df["y"], (df["p"] >= threshold).astype(int),
                                       labels=[0, 1])
        assert got.dtype == np.int64
        np.testing.assert_array_equal(got, expected)


def test_weighted_confusion_matrix_equals_sklearn(client):
    df, ddf = _binary(weights=True)
    got = kd.confusion_matrix(ddf, label="y", score="p", threshold=0.45, sample_weight="w")
    expected = sk_confusion_matrix(df["y"], (df["p"] >= 0.45).astype(int),
                                   sample_weight=df["w"], labels=[0, 1])
    np.testing.assert_array_equal(got, expected)


def test_multiclass_confusion_matrix_is_the_argmax_counted_as_sklearn(client):
    rng = np.random.default_rng(3)
    n, k = 3000, 4
    y = rng.integers(0, k, n)
    p = rng.dirichlet(np.ones(k), n)
    df = pd.DataFrame({"y": y, **{f"p{i}": p[:, i] for i in range(k)}})
    ddf = _frame(_split(df, [0, 700, 700, 2000]))
    got = kd.confusion_matrix(ddf, label="y", score=[f"p{i}" for i in range(k)])
    np.testing.assert_array_equal(got, sk_confusion_matrix(y, p.argmax(1), labels=range(k)))


def test_multilabel_confusion_matrix_equals_sklearn(client):
    rng = np.random.default_rng(4)
    n = 2000
    y = (rng.random((n, 3)) < 0.3).astype(int)
    s = np.clip(rng.normal(0.3 + 0.3 * y, 0.2), 0, 1)
    df = pd.DataFrame({**{f"y{i}": y[:, i] for i in range(3)},
                       **{f"s{i}": s[:, i] for i in range(3)}})
    ddf = _frame(_split(df, [500, 1500]))
    got = kd.confusion_matrix(ddf, label=["y0", "y1", "y2"], score=["s0", "s1", "s2"],
                              multilabel=True, threshold=[0.4, 0.5, 0.6])
    expected = multilabel_confusion_matrix(y, (s >= [0.4, 0.5, 0.6]).astype(int))
    np.testing.assert_array_equal(got, expected)


@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
def test_report_equals_one_machine_report_intervals_included(client, weighted):
    df, ddf = _binary(weights=weighted)
    w = df["w"].to_numpy() if weighted else None
    one = report(df["y"].to_numpy(), df["p"].to_numpy(), threshold=0.42, bootstrap=300,
                 seed=7, cost_matrix=[[0, 1], [4, 0]], sample_weight=w)
    got = kd.report(ddf, label="y", score="p", threshold=0.42, bootstrap=300, seed=7,
                    cost_matrix=[[0, 1], [4, 0]], sample_weight="w" if weighted else None)
    assert got.to_dict() == one.to_dict()
    # The figure's curve: exact at each of its thresholds k / 4096.
    thresholds, cms = got.curve
    for i in (0, 1000, 2048, 4000):
        expected = sk_confusion_matrix(df["y"], (df["p"] >= thresholds[i]).astype(int),
                                       sample_weight=w, labels=[0, 1])
        np.testing.assert_array_equal(cms[i], expected)


def test_multiclass_report_equals_one_machine_report(client):
    rng = np.random.default_rng(5)
    y = rng.integers(0, 3, 1500)
    p = rng.dirichlet(np.ones(3), 1500)
    df = pd.DataFrame({"y": y, "a": p[:, 0], "b": p[:, 1], "c": p[:, 2]})
    got = kd.report(_frame(_split(df, [400, 400])), label="y", score=["a", "b", "c"],
                    class_names=["a", "b", "c"], bootstrap=200, seed=1)
    assert got.to_dict() == report(y, p, class_names=["a", "b", "c"], bootstrap=200,
                                   seed=1).to_dict()


TUNINGS = {
    "f1": dict(objective="f1"),
    "mcc": dict(objective="mcc"),
    "cohen_kappa": dict(objective="cohen_kappa"),
    "balanced_accuracy": dict(objective="balanced_accuracy"),
    "fbeta2": dict(objective="fbeta", beta=2.0),
    "npv": dict(objective="npv", constraint=("recall", 0.9)),
    "precision_at_recall": dict(objective="precision", constraint=("recall", 0.95)),
    "cost": dict(cost_matrix=[[0, 1], [8, 0]]),
    "accuracy_zero_division": dict(objective="accuracy", zero_division=1.0),
}


def _same(a, b):
    assert a.threshold == b.threshold
    assert a.value == b.value
    np.testing.assert_array_equal(a.confusion_matrix, b.confusion_matrix)
    assert a.objective == b.objective


@pytest.mark.parametrize("name", list(TUNINGS))
@pytest.mark.parametrize("decimals", [2, 6], ids=["ties", "distinct"])
def test_tuned_threshold_equals_one_machine(client, name, decimals):
    df, ddf = _binary(decimals=decimals, seed=11)
    kwargs = TUNINGS[name]
    one = tune_threshold(df["y"].to_numpy(), df["p"].to_numpy(), **kwargs)
    got = kd.tune_threshold(ddf, label="y", score="p", bins=256, **kwargs)
    _same(got, one)


def test_weighted_tuning_equals_one_machine(client):
    df, ddf = _binary(weights=True, seed=12)
    for kwargs in (dict(objective="f1"), dict(cost_matrix=[[0, 1], [5, 0]]),
                   dict(objective="precision", constraint=("recall", 0.8))):
        one = tune_threshold(df["y"].to_numpy(), df["p"].to_numpy(),
                             sample_weight=df["w"].to_numpy(), **kwargs)
        got = kd.tune_threshold(ddf, label="y", score="p", sample_weight="w", bins=128,
                                **kwargs)
        _same(got, one)


@pytest.mark.parametrize("scores", ["two values", "uniform"])
def test_fractional_weights_tune_as_one_machine_with_no_phantom_counts(client, scores):
    # Weights of no exact sum: the gathered candidates' TN and FN were the total less the
    # positives, which left +-1e-12 where every row is positive. NPV read 2.0 there, FN
    # went below zero (recall 1.0000000000000002), and that phantom candidate won.
    rng = np.random.default_rng(28)
    n = 2000
    y = (rng.random(n) < 0.3).astype(np.int64)
    s = np.where(rng.random(n) < 0.5, 0.2, 0.8) if scores == "two values" else rng.random(n)
    w = rng.random(n) * 10
    ddf = dd.from_pandas(pd.DataFrame({"y": y, "p": s, "w": w}), npartitions=4)
    for kwargs in (dict(objective="npv"), dict(objective="mcc"),
                   dict(objective="recall", constraint=("npv", 0.7))):
        one = tune_threshold(y, s, sample_weight=w, **kwargs)
        got = kd.tune_threshold(ddf, label="y", score="p", sample_weight="w", bins=64,
                                **kwargs)
        assert got.threshold == one.threshold, kwargs
        assert got.value == pytest.approx(one.value, rel=1e-12, abs=0), kwargs
        np.testing.assert_allclose(got.confusion_matrix, one.confusion_matrix, rtol=1e-12)
        assert (got.confusion_matrix >= 0).all(), kwargs
        # Where every row is positive, nothing is negative: exactly.
        lowest = got.confusion_matrices[0]
        assert lowest[0, 0] == 0 and lowest[1, 0] == 0, lowest


def test_tie_run_across_partitions_takes_the_one_machine_middle(client):
    # Every score ties with its neighbours and a flat run of equal F1 spans partitions.
    y = np.array([0, 0, 1, 1, 1, 1, 0, 1, 1, 1] * 30)
    s = np.repeat(np.arange(30) / 29, 10)
    df = pd.DataFrame({"y": y, "p": s})
    one = tune_threshold(y, s, "recall", constraint=("precision", 0.5))
    for bins in (1, 3, 7, 64):
        got = kd.tune_threshold(_frame(_split(df, [5, 155, 155, 299])), "recall",
                                label="y", score="p", constraint=("precision", 0.5),
                                bins=bins)
        _same(got, one)


def test_user_objective_without_a_bound_gathers_and_equals_one_machine(client):
    df, ddf = _binary(seed=13)

    def gain(cm):
        return 3.0 * cm[1, 1] - cm[0, 1]

    one = tune_threshold(df["y"].to_numpy(), df["p"].to_numpy(), gain)
    _same(kd.tune_threshold(ddf, gain, label="y", score="p"), one)


def test_logit_scores_tune_as_on_one_machine(client):
    rng = np.random.default_rng(14)
    y = (rng.random(5000) < 0.1).astype(int)
    s = rng.normal(2.0 * y - 1.0, 1.5)  # logits: any real number
    df = pd.DataFrame({"y": y, "p": s})
    one = tune_threshold(y, s, "mcc")
    got = kd.tune_threshold(_frame(_split(df, [1000, 3000])), "mcc", label="y", score="p")
    _same(got, one)
    # Branch and bound: far fewer candidates counted than distinct scores.
    assert len(got.thresholds) < len(one.thresholds) / 10


def test_split_bins_gather_fewer_rows_and_tune_as_one_machine(client):
    df, ddf = _binary(6000, decimals=6, seed=17, weights=True)
    for kwargs in (dict(objective="f1"), dict(objective="mcc"),
                   dict(objective="precision", constraint=("recall", 0.9))):
        one = tune_threshold(df["y"].to_numpy(), df["p"].to_numpy(),
                             sample_weight=df["w"].to_numpy(), **kwargs)
        coarse = kd.tune_threshold(ddf, label="y", score="p", sample_weight="w", bins=16,
                                   gather_rows=10**9, **kwargs)
        split = kd.tune_threshold(ddf, label="y", score="p", sample_weight="w", bins=16,
                                  gather_rows=50, **kwargs)
        _same(coarse, one)
        _same(split, one)
        assert len(split.thresholds) < len(coarse.thresholds)


def test_multilabel_tuning_equals_one_machine(client):
    rng = np.random.default_rng(15)
    y = (rng.random((2000, 2)) < 0.3).astype(int)
    s = np.round(np.clip(rng.normal(0.3 + 0.3 * y, 0.2), 0, 1), 3)
    df = pd.DataFrame({"y0": y[:, 0], "y1": y[:, 1], "s0": s[:, 0], "s1": s[:, 1]})
    one = tune_threshold(y, s, "f1", multilabel=True)
    got = kd.tune_threshold(_frame(_split(df, [900])), "f1", label=["y0", "y1"],
                            score=["s0", "s1"], multilabel=True)
    np.testing.assert_array_equal(got.threshold, one.threshold)
    np.testing.assert_array_equal(got.value, one.value)
    np.testing.assert_array_equal(got.confusion_matrix, one.confusion_matrix)
    assert got.objective == one.objective == "f1"
    assert got.confidence is None and got.bound is None and got.guarantee is None
    assert [r.threshold for r in got.results] == list(one.threshold)


def test_one_class_data_warns_and_tunes_as_one_machine(client):
    df = pd.DataFrame({"y": np.zeros(50, int), "p": np.linspace(0, 1, 50)})
    with pytest.warns(Warning, match="only class 0"):
        one = tune_threshold(df["y"].to_numpy(), df["p"].to_numpy(), "specificity")
    with pytest.warns(Warning, match="only class 0"):
        got = kd.tune_threshold(_frame(_split(df, [20])), "specificity", label="y",
                                score="p")
    _same(got, one)


def test_unreachable_constraint_gives_the_one_machine_error(client):
    df, ddf = _binary(seed=16)
    with pytest.raises(ValueError) as one:
        tune_threshold(df["y"].to_numpy(), df["p"].to_numpy(), "f1",
                       constraint=("accuracy", 0.999))
    with pytest.raises(ValueError) as got:
        kd.tune_threshold(ddf, "f1", label="y", score="p", constraint=("accuracy", 0.999))
    assert str(got.value) == str(one.value)


def test_bad_score_in_one_partition_names_the_partition_and_row(client):
    df, _ = _binary(400)
    frames = _split(df, [100, 300])
    frames[1] = frames[1].copy()
    frames[1].iloc[6, frames[1].columns.get_loc("p")] = np.nan
    with pytest.raises(ValueError, match=r"partition 1: column 'p', row 7: score nan"):
        kd.confusion_matrix(_frame(frames), label="y", score="p")
    with pytest.raises(ValueError, match=r"partition 1: column 'p', row 7: score nan"):
        kd.tune_threshold(_frame(frames), "f1", label="y", score="p")


def test_text_missing_labels_and_empty_data_read_as_the_command_line_reads_them(client):
    # Text labels "0"/"1" were read as numbers (the files' reader and the one-machine
    # API refuse them); pandas' <NA> was "label nan is not a class" where the command
    # line says "missing value"; and tune_threshold of empty partitions blamed an
    # argument `y_score` that the Dask API does not have.
    df, _ = _binary(400)
    text = df.assign(y=df["y"].astype(str))
    for fn in (kd.confusion_matrix, kd.tune_threshold, kd.report):
        with pytest.raises(ValueError, match=r"partition \d: column 'y' has dtype \w+; "
                                             r"expected numbers \(text is not a label"):
            fn(_frame(_split(text, [200])), label="y", score="p")
    missing = df.assign(y=df["y"].astype("Int64"))
    missing.iloc[210, missing.columns.get_loc("y")] = pd.NA
    gap = df.assign(y=df["y"].astype("float64"))  # as dd.read_csv reads an empty cell
    gap.iloc[210, gap.columns.get_loc("y")] = np.nan
    for frame in (missing, gap):
        for fn in (kd.confusion_matrix, kd.tune_threshold):
            with pytest.raises(ValueError, match=r"partition 1: column 'y', row 11: missing "
                                                 r"value"):
                fn(_frame(_split(frame, [200])), label="y", score="p")
    # Nullable dtypes without a missing value count as the plain ones.
    got = kd.confusion_matrix(_frame(_split(df.assign(y=df["y"].astype("Int64")), [200])),
                              label="y", score="p")
    np.testing.assert_array_equal(got, sk_confusion_matrix(df["y"], df["p"] >= 0.5))
    empty = _frame([df.iloc[:0], df.iloc[:0]])
    for fn in (kd.report, kd.tune_threshold):
        with pytest.raises(ValueError, match=r"no data rows \(every partition is empty\)"):
            fn(empty, label="y", score="p")


def test_bad_arguments_are_value_errors_naming_them(client):
    _, ddf = _binary(100)
    with pytest.raises(ValueError, match="`sample_weight`"):
        kd.report(ddf, label="y", score="p", sample_weight=np.ones(100))
    with pytest.raises(ValueError, match="`bins`"):
        kd.tune_threshold(ddf, label="y", score="p", bins=0)
    with pytest.raises(ValueError, match="`gather_rows`"):
        kd.tune_threshold(ddf, label="y", score="p", gather_rows=-1)
    with pytest.raises(ValueError, match="`label`"):
        kd.confusion_matrix(ddf, label=["y", "y"], score="p")
    with pytest.raises(ValueError, match="`ddf`"):
        kd.confusion_matrix(np.zeros(3), label="y", score="p")
    with pytest.raises(ValueError, match="`threshold`"):
        kd.report(ddf, label="y", score="p", threshold="high")
    for fn in (kd.report, kd.confusion_matrix):  # "0.5" was read as 0.5 by these two
        with pytest.raises(ValueError, match="`threshold` must be a number"):
            fn(ddf, label="y", score="p", threshold="0.5")
    # It said "`confidence` must be not given: it is neither an argument of
    # tune_threshold nor of formula 'specificity'".
    with pytest.raises(ValueError, match=r"`confidence` must be None: a guaranteed floor "
                                         r"is chosen on one machine only"):
        kd.tune_threshold(ddf, "specificity", label="y", score="p",
                          constraint=("recall", 0.9), confidence=0.95)


BOUNDED = [("accuracy", {}), ("precision", {}), ("recall", {}), ("specificity", {}),
           ("npv", {}), ("f1", {}), ("fbeta", {"beta": 0.5}), ("jaccard", {}),
           ("tversky", {"alpha": 0.3, "beta": 0.7}), ("balanced_accuracy", {}),
           ("youden_j", {}), ("mcc", {}), ("cohen_kappa", {}),
           ("expected_cost", {"cost_matrix": np.array([[0.0, 1.0], [6.0, 0.5]])})]


@pytest.mark.parametrize("name,kwargs", BOUNDED, ids=[b[0] for b in BOUNDED])
def test_bin_bounds_hold_at_every_candidate_inside_the_bin(name, kwargs):
    # Every (TP, FP) a bin's inside can reach, enumerated: the bound holds at each.
    fn = formulas.get(name)
    rng = np.random.default_rng(0)
    p, n = 7, 9
    for _ in range(300):
        tp_hi, fp_hi = rng.integers(0, p + 1), rng.integers(0, n + 1)
        tp_lo, fp_lo = rng.integers(tp_hi, p + 1), rng.integers(fp_hi, n + 1)
        if tp_lo + fp_lo - tp_hi - fp_hi < 2:
            continue
        edge = np.array([[[n - fp_lo, fp_lo], [p - tp_lo, tp_lo]]])
        nxt = np.array([[[n - fp_hi, fp_hi], [p - tp_hi, tp_hi]]])
        low, up = kd._bounds(fn, kwargs, nxt, edge, weighted=False)
        for tp in range(tp_hi, tp_lo + 1):
            for fp in range(fp_hi, fp_lo + 1):
                q = tp + fp
                if not (tp_hi + fp_hi < q < tp_lo + fp_lo):
                    continue  # not inside: the edges are counted exactly
                v = float(fn(np.array([[n - fp, fp], [p - tp, tp]]), **kwargs))
                assert low[0] <= v <= up[0], (tp, fp, low, up, v)


# ------------------------------------------------------------------- command line


def _write(tmp_path, df, name):
    path = tmp_path / name
    pq.write_table(pa.Table.from_pandas(df, preserve_index=False), path)
    return str(path)


def _json(tmp_path, argv):
    out = tmp_path / "out.json"
    assert main([*argv, "--json", str(out), "--quiet"]) == 0
    return json.loads(out.read_text())


@pytest.mark.parametrize("argv", [
    ["evaluate", "--threshold", "0.4", "--bootstrap", "200"],
    ["evaluate", "--tune", "f1"],
    ["evaluate", "--tune", "precision", "--constraint", "recall=0.9", "--weight", "w"],
    ["evaluate", "--cost", "0,1;5,0", "--weight", "w"],
    ["tune", "--objective", "mcc"],
    ["tune", "--cost", "0,1;5,0", "--weight", "w"],
    ["tune", "--objective", "fbeta", "--beta", "2"],
], ids=["evaluate", "evaluate-tune", "evaluate-constraint-weighted", "evaluate-cost",
        "tune", "tune-cost-weighted", "tune-fbeta-beta"])
def test_cli_scheduler_json_equals_one_machine_json(client, tmp_path, argv):
    """Tuned evaluations compare in-sample (``--folds 0``): one machine cross-fits its
    headline figures by default, and a cluster run does not gather the scores."""
    if argv[0] == "evaluate" and ("--tune" in argv or "--cost" in argv):
        argv = [*argv, "--folds", "0"]
    df, _ = _binary(3000, seed=21, weights=True)
    parts = tmp_path / "parts"
    parts.mkdir()
    for i, f in enumerate(_split(df, [1000, 1000, 2500])):
        _write(parts, f, f"part-{i}.parquet")
    files = [str(parts), "--label", "y", "--score", "p"]
    one = _json(tmp_path, [argv[0], *files, *argv[1:]])
    got = _json(tmp_path, [argv[0], *files, *argv[1:], "--scheduler",
                           client.scheduler.address])
    assert got == one


def test_cli_scheduler_tuned_evaluate_says_its_figures_are_in_sample(client, tmp_path):
    df, _ = _binary(3000, seed=24)
    path = _write(tmp_path, df, "p.parquet")
    got = _json(tmp_path, ["evaluate", path, "--label", "y", "--score", "p", "--tune", "f1",
                           "--scheduler", client.scheduler.address])
    assert any("--scheduler" in n and "optimistic" in n for n in got["notes"]), got["notes"]


def test_cli_scheduler_refuses_confidence_before_reading(client, tmp_path, capsys):
    assert main(["tune", str(tmp_path / "missing.parquet"), "--label", "y", "--score", "p",
                 "--objective", "specificity", "--constraint", "recall=0.9",
                 "--confidence", "0.9", "--scheduler", client.scheduler.address]) == 2
    assert "--confidence cannot be used with --scheduler" in capsys.readouterr().err


def test_cli_scheduler_multiclass_csv_equals_one_machine(client, tmp_path):
    rng = np.random.default_rng(22)
    y = rng.integers(0, 3, 900)
    p = rng.dirichlet(np.ones(3), 900)
    lines = ["y,a,b,c"] + [f"{a},{b},{c},{d}" for a, (b, c, d) in zip(y, p, strict=True)]
    (tmp_path / "m.csv").write_text("\n".join(lines) + "\n")
    files = [str(tmp_path / "m.csv"), "--label", "y", "--score", "a", "--score", "b",
             "--score", "c", "--chunk-rows", "100"]
    one = _json(tmp_path, ["evaluate", *files])
    got = _json(tmp_path, ["evaluate", *files, "--scheduler", client.scheduler.address])
    assert got == one


def test_cli_scheduler_bad_value_names_the_file_and_row(client, tmp_path, capsys):
    df, _ = _binary(600, seed=23)
    parts = tmp_path / "parts"
    parts.mkdir()
    _write(parts, df.iloc[:300], "a.parquet")
    bad = df.iloc[300:].copy()
    bad.iloc[41, bad.columns.get_loc("y")] = 3
    _write(parts, bad, "b.parquet")
    messages = []
    for extra in ([], ["--scheduler", client.scheduler.address]):
        for command in (["evaluate"], ["tune"]):
            argv = [*command, str(parts), "--label", "y", "--score", "p", "--quiet", *extra]
            assert main(argv) == 2
            messages.append(capsys.readouterr().err)
    assert "b.parquet: column 'y', row 42: label 3 is not a class" in messages[0]
    assert messages[2:] == messages[:2]


def test_cli_scheduler_unreachable_exits_2_naming_the_option(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr("keras_confusion.cli.CONNECT_TIMEOUT", "1s")
    df, _ = _binary(50)
    path = _write(tmp_path, df, "a.parquet")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        code = main(["evaluate", path, "--label", "y", "--score", "p", "--quiet",
                     "--scheduler", "tcp://127.0.0.1:9"])
    assert code == 2
    assert "--scheduler 'tcp://127.0.0.1:9': cannot connect" in capsys.readouterr().err


def test_a_rate_tuned_alone_warns_at_the_callers_line_as_on_one_machine(client):
    # The warning pointed inside the library (dask.py) from the Dask engine.
    from keras_confusion._validation import ConfusionWarning

    df, ddf = _binary(400)
    with pytest.warns(ConfusionWarning, match=r"recall alone is maximised at an extreme "
                                              r"threshold") as caught:
        got = kd.tune_threshold(ddf, "recall", label="y", score="p")
    assert caught[0].filename == __file__
    _same(got, tune_threshold(df["y"].to_numpy(), df["p"].to_numpy(), "recall"))
