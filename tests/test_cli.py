"""The command line through main([...]): results against references, and bad input."""

from __future__ import annotations

import html
import importlib
import json
import re
import time

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from sklearn.metrics import confusion_matrix as sk_confusion_matrix

from keras_confusion import formulas
from keras_confusion._accumulate import CURVE_BINS, TUNE_BINS
from keras_confusion._guarantee import cross_fit
from keras_confusion.cli import main
from keras_confusion.decisions import tune_threshold


def _data(n=3000, seed=0):
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < 0.15).astype(np.int64)
    s = np.clip(rng.normal(0.3 + 0.35 * y, 0.2), 0, 1)
    return y, s


def _write_csv(path, columns: dict):
    names = list(columns)
    rows = zip(*(columns[c] for c in names), strict=True)
    path.write_text(",".join(names) + "\n" + "".join(",".join(map(str, r)) + "\n" for r in rows))
    return str(path)


def _write_parquet(path, columns: dict):
    pq.write_table(pa.table(columns), path)
    return str(path)


def _run_json(tmp_path, argv):
    out = tmp_path / "out.json"
    assert main([*argv, "--json", str(out), "--quiet"]) == 0
    return json.loads(out.read_text())


def test_evaluate_parquet_parts_in_small_chunks_equal_sklearn(tmp_path):
    y, s = _data()
    parts = tmp_path / "parts"
    parts.mkdir()
    for i, sl in enumerate(np.array_split(np.arange(y.size), 3)):
        _write_parquet(parts / f"part-{i}.parquet", {"y": y[sl], "p": s[sl]})
    d = _run_json(tmp_path, ["evaluate", str(parts), "--label", "y", "--score", "p",
                             "--threshold", "0.4", "--chunk-rows", "257", "--bootstrap", "0"])
    expected = sk_confusion_matrix(y, (s >= 0.4).astype(int))
    assert d["confusion_matrix"] == expected.tolist()
    assert d["threshold"] == 0.4


def test_evaluate_csv_in_chunks_equals_one_shot_and_sklearn(tmp_path):
    y, s = _data(2000, seed=1)
    path = _write_csv(tmp_path / "p.csv", {"label": y, "score": s})
    small = _run_json(tmp_path, ["evaluate", path, "--label", "label", "--score", "score",
                                 "--chunk-rows", "100", "--bootstrap", "50"])
    whole = _run_json(tmp_path, ["evaluate", path, "--label", "label", "--score", "score",
                                 "--bootstrap", "50"])
    assert small == whole
    assert whole["confusion_matrix"] == sk_confusion_matrix(y, (s >= 0.5).astype(int)).tolist()


def test_evaluate_several_files_equal_one_file(tmp_path):
    y, s = _data(1000, seed=2)
    a = _write_csv(tmp_path / "a.csv", {"y": y[:400], "p": s[:400]})
    b = _write_parquet(tmp_path / "b.parquet", {"y": y[400:], "p": s[400:]})
    d = _run_json(tmp_path, ["evaluate", a, b, "--label", "y", "--score", "p",
                             "--bootstrap", "0"])
    assert d["confusion_matrix"] == sk_confusion_matrix(y, (s >= 0.5).astype(int)).tolist()


def test_evaluate_multiclass_scores_are_argmax_named_by_column(tmp_path):
    rng = np.random.default_rng(3)
    y = rng.integers(0, 3, 500)
    scores = rng.random((500, 3))
    cols = {"y": y, "cat": scores[:, 0], "dog": scores[:, 1], "bird": scores[:, 2]}
    path = _write_parquet(tmp_path / "m.parquet", cols)
    d = _run_json(tmp_path, ["evaluate", path, "--label", "y", "--score", "cat", "--score",
                             "dog", "--score", "bird", "--bootstrap", "0"])
    assert d["class_names"] == ["cat", "dog", "bird"]
    assert d["confusion_matrix"] == sk_confusion_matrix(y, scores.argmax(1)).tolist()
    assert d["threshold"] is None


def test_evaluate_tune_equals_tune_threshold_on_the_same_rows(tmp_path):
    y, s = _data(1500, seed=4)
    path = _write_parquet(tmp_path / "t.parquet", {"y": y, "p": s})
    d = _run_json(tmp_path, ["evaluate", path, "--label", "y", "--score", "p", "--tune", "mcc",
                             "--chunk-rows", "300", "--bootstrap", "0"])
    ref = tune_threshold(y, s, "mcc")
    assert d["threshold"] == ref.threshold
    search = d["threshold_search"]
    assert search["value"] == search["in_sample"]["value"] == pytest.approx(ref.value)
    assert search["in_sample"]["confusion_matrix"] == ref.confusion_matrix.tolist()
    # The headline is cross-fitted, as the library cross-fits the same tuning.
    cf = cross_fit(y, s, lambda y, s: tune_threshold(y, s, "mcc").threshold, folds=5, seed=0)
    assert search["headline"] == "cross_fitted"
    assert d["confusion_matrix"] == search["cross_fitted"]["confusion_matrix"] == \
        cf.confusion_matrix.tolist()
    assert search["cross_fitted"]["thresholds"] == cf.thresholds.tolist()
    assert search["cross_fitted"]["value"] == pytest.approx(
        formulas.mcc(cf.confusion_matrix.astype(float)))


def test_evaluate_tune_with_constraint_meets_it(tmp_path):
    y, s = _data(1500, seed=5)
    path = _write_csv(tmp_path / "t.csv", {"y": y, "p": s})
    d = _run_json(tmp_path, ["evaluate", path, "--label", "y", "--score", "p", "--tune",
                             "precision", "--constraint", "recall=0.9", "--bootstrap", "0"])
    ref = tune_threshold(y, s, "precision", constraint=("recall", 0.9))
    assert d["threshold"] == ref.threshold
    _, (fn, tp) = d["threshold_search"]["in_sample"]["confusion_matrix"]
    assert tp / (tp + fn) >= 0.9


@pytest.mark.parametrize("weighted", [False, True])
def test_evaluate_counts_a_score_equal_to_the_threshold_as_positive(tmp_path, weighted):
    # Scores exactly at the threshold (0.5, 0.25: exact in binary) are positive, as
    # "positive when score >= X" says and scikit-learn counts.
    y = np.array([1, 0, 1, 0, 0, 1, 0, 1])
    s = np.array([0.5, 0.5, 0.25, 0.25, 0.1, 0.9, 0.75, 0.3])
    columns = {"y": y, "p": s, **({"w": np.ones(len(y))} if weighted else {})}
    path = _write_csv(tmp_path / "eq.csv", columns)
    for threshold in (0.5, 0.25):
        d = _run_json(tmp_path, ["evaluate", path, "--label", "y", "--score", "p",
                                 "--threshold", str(threshold), "--bootstrap", "0",
                                 *(["--weight", "w"] if weighted else [])])
        expected = sk_confusion_matrix(y, (s >= threshold).astype(int))
        assert d["confusion_matrix"] == expected.tolist()
    assert expected.tolist() == [[1, 3], [0, 4]]  # at 0.25, by hand


def test_evaluate_html_curve_equals_brute_force_at_every_bin_edge(tmp_path, monkeypatch):
    # At a fixed threshold the figure's curve comes from a histogram of CURVE_BINS bins:
    # its matrix k calls score >= k / CURVE_BINS positive, the bin's lower edge included.
    report = importlib.import_module("keras_confusion.report")  # the module, not report()
    curves = []

    class Recording(report.Report):
        def __init__(self, *args, curve=None, **kwargs):
            curves.append(curve)
            super().__init__(*args, curve=curve, **kwargs)

    monkeypatch.setattr(report, "Report", Recording)
    y, s = _data(1200, seed=12)
    rng = np.random.default_rng(12)
    s[:300] = rng.integers(0, CURVE_BINS + 1, 300) / CURVE_BINS  # on bin edges, 1.0 too
    path = _write_csv(tmp_path / "c.csv", {"y": y, "p": s})
    assert main(["evaluate", path, "--label", "y", "--score", "p", "--html",
                 str(tmp_path / "c.html"), "--bootstrap", "0", "--chunk-rows", "500",
                 "--quiet"]) == 0
    thresholds, cms = curves[-1]
    np.testing.assert_array_equal(thresholds, np.r_[np.arange(CURVE_BINS) / CURVE_BINS, np.inf])
    positive = s[None, :] >= thresholds[:, None]  # brute force: every edge, every sample
    tp = (positive & (y == 1)).sum(axis=1)
    fp = (positive & (y == 0)).sum(axis=1)
    n_pos, n_neg = (y == 1).sum(), (y == 0).sum()
    np.testing.assert_array_equal(cms, np.stack([np.stack([n_neg - fp, fp], -1),
                                                 np.stack([n_pos - tp, tp], -1)], -2))


def _page_data(page: str) -> dict:
    block = re.search(r'<script type="application/json" class="kc-data">(.*?)</script>',
                      page, re.S)
    return json.loads(block.group(1))


@pytest.mark.parametrize("threshold", [0.3, 0.5, 1e-9, 0.999999])
def test_evaluate_html_explorer_opens_on_the_reports_own_matrix(tmp_path, threshold):
    # The curve's candidates are bin edges k / 4096; 0.3 is none. The page opens at the
    # smallest candidate >= the threshold: it must be the threshold itself, with the
    # matrix of the report (scikit-learn's), not the next edge's (0.300048828125).
    y, s = _data(2000, seed=21)
    s[:6] = [0.3, np.nextafter(0.3, 1), 0.30002, np.nextafter(0.3, 0), threshold, 0.3001]
    path = _write_csv(tmp_path / "t.csv", {"y": y, "p": s})
    page = tmp_path / "t.html"
    assert main(["evaluate", path, "--label", "y", "--score", "p", "--threshold",
                 str(threshold), "--html", str(page), "--bootstrap", "0", "--quiet"]) == 0
    data = _page_data(page.read_text())
    i = data["chosen"]
    assert float(data["thresholds"][i]) == threshold
    tp, fp = data["tp"][i], data["fp"][i]
    shown = [[data["negatives"] - fp, fp], [data["positives"] - tp, tp]]
    assert shown == sk_confusion_matrix(y, (s >= threshold).astype(int)).tolist()
    # The bin edges are all still there, the threshold once.
    edges = [float(t) for t in data["thresholds"] if t != "inf"]
    assert edges == sorted(set(edges)) and edges.count(threshold) == 1


def test_evaluate_tune_html_explorer_says_its_counts_are_in_sample_beside_cross_fitting(
        tmp_path):
    # The explorer opened at the tuned threshold on the in-sample matrix, unlabelled,
    # above the tables of the cross-fitted one: two matrices for one threshold.
    y, s = _data(500, seed=31)
    path = _write_csv(tmp_path / "t.csv", {"y": y, "p": s})
    pages = {}
    for folds in ("5", "0"):
        page, report = tmp_path / f"t{folds}.html", tmp_path / f"t{folds}.json"
        assert main(["evaluate", path, "--label", "y", "--score", "p", "--tune", "f1",
                     "--folds", folds, "--html", str(page), "--json", str(report),
                     "--bootstrap", "0", "--quiet"]) == 0
        pages[folds] = (page.read_text(), json.loads(report.read_text())["threshold_search"])
    text, search = pages["5"]
    assert search["headline"] == "cross_fitted"
    assert search["cross_fitted"]["confusion_matrix"] != search["in_sample"]["confusion_matrix"]
    caution = re.findall(r'<p class="kc-caution">(.*?)</p>', text)
    assert len(caution) == 1 and caution[0].startswith("In-sample: the explorer counts "
                                                       "every row"), caution
    assert "cross-fitted over 5 folds" in caution[0], caution
    # What the explorer shows at the tuned threshold is the in-sample matrix
    # (scikit-learn's at that threshold), the one the caution speaks of.
    data = _page_data(text)
    i, t = data["chosen"], search["threshold"]
    shown = [[data["negatives"] - data["fp"][i], data["fp"][i]],
             [data["positives"] - data["tp"][i], data["tp"][i]]]
    assert shown == sk_confusion_matrix(y, (s >= t).astype(int)).tolist()
    assert shown == search["in_sample"]["confusion_matrix"]
    # In-sample figures throughout (--folds 0): nothing to set apart.
    assert pages["0"][1]["headline"] == "in_sample"
    assert 'class="kc-caution"' not in pages["0"][0]


def test_evaluate_html_of_logits_says_why_it_has_no_explorer(tmp_path, capsys):
    # The curve at a fixed threshold is a histogram over [0, 1]: logits get no explorer,
    # and the page said nothing of it.
    y, s = _data(400, seed=27)
    logits = np.log(s + 1e-3) - np.log1p(-s + 1e-3)
    note = "No threshold explorer: the curve at a fixed threshold is a histogram"
    for scores, threshold, explorer in ((logits, "0", False), (s, "0.5", True)):
        path = _write_csv(tmp_path / "l.csv", {"y": y, "p": scores})
        page = tmp_path / "l.html"
        assert main(["evaluate", path, "--label", "y", "--score", "p", "--threshold",
                     threshold, "--html", str(page), "--bootstrap", "0", "--quiet"]) == 0
        text = page.read_text()
        assert ('"kind":"binary"' in text) == explorer  # the slider over the curve
        assert (note in text) != explorer and (note in capsys.readouterr().out) != explorer


def test_evaluate_tune_states_the_cross_fitted_matrix_is_at_no_one_threshold(
        tmp_path, capsys):
    # "1000 samples, positive when score >= 0.605" headed the cross-fitted matrix, which
    # is each fold's at the threshold tuned on the others, not 0.605's.
    y, s = _data(1000, seed=28)
    path = _write_csv(tmp_path / "t.csv", {"y": y, "p": s})
    page, js = tmp_path / "t.html", tmp_path / "t.json"
    assert main(["evaluate", path, "--label", "y", "--score", "p", "--tune", "f1",
                 "--bootstrap", "0", "--html", str(page), "--json", str(js)]) == 0
    t = tune_threshold(y, s, "f1").threshold
    stated = (f"threshold {float(t)!r} tuned on all rows; the matrix and figures "
              "cross-fitted over 5 folds (see below)")
    assert capsys.readouterr().out.splitlines()[0] == f"1000 samples, {stated}"
    d = json.loads(js.read_text())
    assert d["decision"] == stated and d["threshold_search"]["headline"] == "cross_fitted"
    assert f"1000 samples, {html.escape(stated)}." in page.read_text()
    # In-sample (--folds 0), the matrix is the threshold's own: stated as such.
    assert main(["evaluate", path, "--label", "y", "--score", "p", "--tune", "f1",
                 "--bootstrap", "0", "--folds", "0", "--json", str(js), "--quiet"]) == 0
    d = json.loads(js.read_text())
    assert d["decision"] == f"positive when score >= {float(t)!r}"
    assert d["confusion_matrix"] == sk_confusion_matrix(y, (s >= t).astype(int)).tolist()


def test_evaluate_binned_tuning_beyond_exact_limit_is_exact_at_bin_edges(tmp_path):
    y, s = _data(4000, seed=6)
    path = _write_parquet(tmp_path / "b.parquet", {"y": y, "p": s})
    d = _run_json(tmp_path, ["evaluate", path, "--label", "y", "--score", "p", "--tune", "f1",
                             "--exact-limit", "1000", "--chunk-rows", "700",
                             "--bootstrap", "0"])
    assert "binned" in d["threshold_search"]["method"]
    # Reference: the exact search over scores snapped down to their bin edge.
    ref = tune_threshold(y, np.floor(s * TUNE_BINS) / TUNE_BINS, "f1")
    assert d["threshold"] == ref.threshold
    # The reported matrix is the true one of the original scores at that threshold.
    truth = sk_confusion_matrix(y, (s >= d["threshold"]).astype(int))
    assert d["confusion_matrix"] == truth.tolist()


def test_evaluate_cost_without_threshold_tunes_minimum_expected_cost(tmp_path):
    y, s = _data(1500, seed=7)
    path = _write_parquet(tmp_path / "c.parquet", {"y": y, "p": s})
    d = _run_json(tmp_path, ["evaluate", path, "--label", "y", "--score", "p", "--cost",
                             "0,1;10,0", "--bootstrap", "0"])
    ref = tune_threshold(y, s, cost_matrix=[[0, 1], [10, 0]])
    assert d["threshold"] == ref.threshold
    assert d["threshold_search"]["in_sample"]["value"] == pytest.approx(ref.value)
    cf = cross_fit(y, s, lambda y, s: tune_threshold(y, s, cost_matrix=[[0, 1], [10, 0]])
                   .threshold, folds=5, seed=0)
    assert d["overall"]["expected_cost"]["value"] == pytest.approx(
        formulas.expected_cost(cf.confusion_matrix.astype(float), [[0, 1], [10, 0]]))
    assert d["cost_matrix"] == [[0, 1], [10, 0]]


@pytest.mark.parametrize(("name", "magic"), [("c.svg", b"<?xml"), ("c.pdf", b"%PDF"),
                                             ("c.PNG", b"\x89PNG"), ("c.out", b"\x89PNG")])
def test_tune_plot_is_written_in_the_format_its_suffix_names(name, magic, tmp_path):
    # 'out.svg' and 'out.pdf' held PNG bytes.
    y, s = _data(300, seed=26)
    path = _write_csv(tmp_path / "t.csv", {"y": y, "p": s})
    assert main(["tune", path, "--label", "y", "--score", "p", "--plot", str(tmp_path / name),
                 "--quiet"]) == 0
    assert (tmp_path / name).read_bytes().startswith(magic)


def test_tune_prints_threshold_and_its_confusion_matrix(tmp_path, capsys):
    y, s = _data(800, seed=8)
    path = _write_csv(tmp_path / "t.csv", {"y": y, "p": s})
    png = tmp_path / "curve.png"
    assert main(["tune", path, "--label", "y", "--score", "p", "--objective", "f1",
                 "--plot", str(png), "--quiet"]) == 0
    out = capsys.readouterr().out
    ref = tune_threshold(y, s, "f1")
    (tn, fp), (fn, tp) = ref.confusion_matrix
    assert f"threshold  {float(ref.threshold)!r}  " in out
    lines = out.splitlines()
    i = lines.index("confusion matrix (rows: true, columns: predicted)")
    assert lines[i + 2].split() == ["0", str(tn), str(fp)]
    assert lines[i + 3].split() == ["1", str(fn), str(tp)]
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_evaluate_writes_html_and_json_reports(tmp_path, capsys):
    y, s = _data(600, seed=9)
    path = _write_parquet(tmp_path / "r.parquet", {"y": y, "p": s})
    html, js = tmp_path / "r.html", tmp_path / "r.json"
    assert main(["evaluate", path, "--label", "y", "--score", "p", "--html", str(html),
                 "--json", str(js), "--bootstrap", "100", "--class-names", "ok,fraud"]) == 0
    assert "data:image/png;base64," in html.read_text()
    assert json.loads(js.read_text())["class_names"] == ["ok", "fraud"]
    out = capsys.readouterr().out
    assert "fraud" in out and "balanced_accuracy" in out


# ----------------------------------------------------------------------- bad input


def _bad_inputs(tmp_path):
    """(name, files, extra args, regex the one-line error must match)."""
    y, s = _data(50, seed=10)
    good = _write_csv(tmp_path / "good.csv", {"y": y, "p": s})
    text = (tmp_path / "good.csv").read_text().splitlines()
    text[8] = "1,abc"
    (tmp_path / "nonnum.csv").write_text("\n".join(text) + "\n")
    s_nan = s.copy()
    s_nan[20] = np.nan
    y_out = y.copy()
    y_out[30] = 3
    s_out = s.copy()
    s_out[5] = 1.5
    (tmp_path / "empty.csv").write_text("")
    (tmp_path / "header.csv").write_text("y,p\n")
    nulls = pa.table({"y": pa.array(y), "p": pa.array([*s[:11].tolist(), None,
                                                       *s[12:].tolist()])})
    pq.write_table(nulls, tmp_path / "nulls.parquet")
    strings = pa.table({"y": y, "p": [str(v) for v in s]})
    pq.write_table(strings, tmp_path / "strings.parquet")
    text = (tmp_path / "good.csv").read_text().splitlines()
    text[0] += ",p"
    (tmp_path / "twice.csv").write_text(
        "\n".join([text[0], *(line + ",0.5" for line in text[1:])]) + "\n")
    pq.write_table(pa.Table.from_arrays([pa.array(y), pa.array(s), pa.array(s)],
                                        names=["y", "p", "p"]), tmp_path / "twice.parquet")
    text = (tmp_path / "good.csv").read_text().splitlines()
    text[13] += ",7"
    (tmp_path / "wide.csv").write_text("\n".join(text) + "\n")
    return [
        ("missing column", [good], ["--score", "prob"],
         r"good\.csv: no column 'prob' \(columns: 'y', 'p'\)"),
        ("non-numeric score", [str(tmp_path / "nonnum.csv")], ["--score", "p"],
         r"nonnum\.csv: column 'p', row 8: 'abc' is not a number"),
        ("string column", [str(tmp_path / "strings.parquet")], ["--score", "p"],
         r"strings\.parquet: column 'p' has type string; expected numbers"),
        ("NaN score", [_write_parquet(tmp_path / "nan.parquet", {"y": y, "p": s_nan})],
         ["--score", "p"], r"nan\.parquet: column 'p', row 21: score nan is not a finite"),
        ("label outside", [_write_csv(tmp_path / "lab.csv", {"y": y_out, "p": s})],
         ["--score", "p"], r"lab\.csv: column 'y', row 31: label 3 is not a class in "
                           r"\{0, \.\.\., 1\}"),
        ("missing value", [str(tmp_path / "nulls.parquet")], ["--score", "p"],
         r"nulls\.parquet: column 'p', row 12: missing value"),
        ("empty file", [str(tmp_path / "empty.csv")], ["--score", "p"],
         r"empty\.csv: empty file"),
        ("header only", [str(tmp_path / "header.csv")], ["--score", "p"],
         r"header\.csv: no data rows"),
        ("no such file", [str(tmp_path / "nope.csv")], ["--score", "p"],
         r"nope\.csv: no such file"),
        ("cost not square", [good], ["--score", "p", "--cost", "0,1;10"],
         r"--cost '0,1;10': rows have different lengths"),
        ("cost negative", [good], ["--score", "p", "--cost", "0,-1;10,0"],
         r"--cost '0,-1;10,0': must be non-negative"),
        ("cost not numbers", [good], ["--score", "p", "--cost", "0,x;1,0"],
         r"--cost '0,x;1,0': not a matrix of numbers"),
        ("cost wrong size", [good], ["--score", "p", "--cost", "0,1,1;1,0,1;1,1,0"],
         r"--cost '0,1,1;1,0,1;1,1,0': must be of shape \(2, 2\) to match the 2 classes "
         r"of --score"),
        ("bad constraint", [good], ["--score", "p", "--tune", "f1", "--constraint", "recall"],
         r"--constraint 'recall': expected NAME=BOUND"),
        ("tune multiclass", [good], ["--score", "p", "--score", "p2", "--tune", "f1"],
         r"--tune: threshold tuning needs one --score column"),
        ("threshold multiclass", [good], ["--score", "p", "--score", "p2", "--threshold",
                                          "0.3"],
         r"--threshold: a threshold needs one --score column"),
        ("CSV header names the score twice", [str(tmp_path / "twice.csv")], ["--score", "p"],
         r"twice\.csv: column 'p' appears 2 times; expected one column"),
        ("Parquet schema names the score twice", [str(tmp_path / "twice.parquet")],
         ["--score", "p"], r"twice\.parquet: column 'p' appears 2 times"),
        ("row with a field too many", [str(tmp_path / "wide.csv")], ["--score", "p"],
         r"wide\.csv: row 13 has 3 fields; expected 2, as in the header"),
        ("column twice", [good], ["--score", "p", "--score", "y"],
         r"column 'y' is named 2 times"),
        # Found when the kept rows are binned, past --exact-limit: still file and row.
        ("score outside past exact limit",
         [_write_parquet(tmp_path / "out.parquet", {"y": y, "p": s_out})],
         ["--score", "p", "--tune", "f1", "--exact-limit", "20", "--chunk-rows", "10"],
         r"out\.parquet: row 6: score 1\.5 is outside \[0, 1\]"),
    ]


def test_evaluate_bad_input_exits_2_with_one_line_saying_what_and_where(tmp_path, capsys):
    html, js = tmp_path / "out.html", tmp_path / "out.json"
    js.write_text("old")  # an existing output is left as it was
    for name, files, extra, pattern in _bad_inputs(tmp_path):
        rc = main(["evaluate", *files, "--label", "y", *extra, "--html", str(html), "--json",
                   str(js), "--quiet"])
        err = capsys.readouterr().err
        assert rc == 2, name
        assert err.count("\n") == 1 and err.startswith("keras-confusion: error: "), (name, err)
        assert __import__("re").search(pattern, err), (name, err)
        assert not html.exists(), name
        assert js.read_text() == "old", name
    assert _leftovers(tmp_path) == []


def _leftovers(directory):
    return [p.name for p in directory.iterdir() if p.name.startswith((".tmp-", ".keras-"))]


def _one_error_line(capsys):
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("keras-confusion: error: "), err
    return err


@pytest.mark.parametrize("case", ["missing directory", "directory", "tune plot"])
def test_unwritable_output_exits_2_naming_it_and_writes_no_output(case, tmp_path, capsys):
    y, s = _data(300, seed=12)
    path = _write_csv(tmp_path / "d.csv", {"y": y, "p": s})
    js = tmp_path / "out.json"
    js.write_text("old")
    (tmp_path / "adir.html").mkdir()
    bad = {"missing directory": ["--html", str(tmp_path / "nodir" / "r.html")],
           "directory": ["--html", str(tmp_path / "adir.html")],
           "tune plot": ["--plot", str(tmp_path / "nodir" / "curve.png")]}[case]
    command = "tune" if case == "tune plot" else "evaluate"
    extra = [] if command == "tune" else ["--bootstrap", "0"]
    rc = main([command, path, "--label", "y", "--score", "p", *extra, "--json", str(js),
               *bad, "--quiet"])
    err = _one_error_line(capsys)
    assert rc == 2
    assert bad[1] in err
    assert js.read_text() == "old"  # the output that could be written was not
    assert _leftovers(tmp_path) == [] and _leftovers(tmp_path / "adir.html") == []


def test_output_name_near_the_file_name_limit_is_written(tmp_path):
    y, s = _data(300, seed=13)
    path = _write_csv(tmp_path / "d.csv", {"y": y, "p": s})
    out = tmp_path / ("r" * 245 + ".json")
    assert main(["evaluate", path, "--label", "y", "--score", "p", "--bootstrap", "0",
                 "--json", str(out), "--quiet"]) == 0
    expected = sk_confusion_matrix(y, (s >= 0.5).astype(int))
    assert json.loads(out.read_text())["confusion_matrix"] == expected.tolist()


@pytest.mark.parametrize("form", ["gzip", "byte-order mark"])
def test_gzip_and_byte_order_mark_csv_equal_sklearn(form, tmp_path):
    import gzip

    y, s = _data(400, seed=14)
    text = "y,p\n" + "".join(f"{a},{b}\n" for a, b in zip(y, s, strict=True))
    if form == "gzip":
        path = tmp_path / "d.csv.gz"
        path.write_bytes(gzip.compress(text.encode()))
    else:  # as Excel writes "CSV UTF-8"
        path = tmp_path / "d.csv"
        path.write_bytes(text.encode("utf-8-sig"))
    d = _run_json(tmp_path, ["evaluate", str(path), "--label", "y", "--score", "p",
                             "--chunk-rows", "64", "--bootstrap", "0"])
    assert d["confusion_matrix"] == sk_confusion_matrix(y, (s >= 0.5).astype(int)).tolist()


def test_corrupt_parquet_is_named_with_the_progress_bar_on(tmp_path, capsys):
    bad = tmp_path / "bad.parquet"
    bad.write_bytes(b"PAR1 not really")
    assert main(["evaluate", str(bad), "--label", "y", "--score", "p"]) == 2
    assert "bad.parquet: not a readable Parquet file" in _one_error_line(capsys)


def test_tune_with_several_score_columns_exits_2_naming_score(tmp_path, capsys):
    y, s = _data(100, seed=15)
    path = _write_parquet(tmp_path / "t.parquet", {"y": y, "p": s, "q": 1 - s})
    assert main(["tune", path, "--label", "y", "--score", "p", "--score", "q",
                 "--quiet"]) == 2
    assert "--score: tune needs one score column" in _one_error_line(capsys)


def test_float16_scores_binned_tuning_equals_float32_of_the_same_values(tmp_path):
    y, s = _data(3000, seed=16)
    s16 = s.astype(np.float16)
    runs = []
    for dtype in (np.float16, np.float32):
        path = _write_parquet(tmp_path / f"{np.dtype(dtype).name}.parquet",
                              {"y": y, "p": s16.astype(dtype)})
        runs.append(_run_json(tmp_path, ["tune", path, "--label", "y", "--score", "p",
                                         "--exact-limit", "500", "--chunk-rows", "400"]))
    assert "binned" in runs[0]["method"]
    assert runs[0] == runs[1]
    truth = sk_confusion_matrix(y, (s16.astype(np.float64) >= runs[0]["threshold"]).astype(int))
    assert runs[0]["confusion_matrix"] == truth.tolist()


def test_tune_unreachable_constraint_exits_2_with_the_best_reachable(tmp_path, capsys):
    y, s = _data(200, seed=11)
    path = _write_csv(tmp_path / "t.csv", {"y": y, "p": s})
    rc = main(["tune", path, "--label", "y", "--score", "p", "--objective", "recall",
               "--constraint", "mcc=0.99", "--quiet"])
    err = capsys.readouterr().err
    assert rc == 2 and err.count("\n") == 1 and "mcc" in err and "reachable" in err


def test_bad_arguments_exit_2(capsys):
    assert main(["evaluate", "x.csv", "--label", "y"]) == 2  # no --score
    assert main(["evaluate", "x.csv", "--label", "y", "--score", "p", "--threshold",
                 "nan"]) == 2
    assert main(["evaluate", "x.csv", "--label", "y", "--score", "p", "--threshold", "0.3",
                 "--tune", "f1"]) == 2
    assert "not allowed with argument" in capsys.readouterr().err
    assert main(["evaluate", "x.csv", "--label", "y", "--score", "p", "--seed", "-1"]) == 2
    assert "argument --seed: expected a number >= 0" in capsys.readouterr().err


def test_evaluate_float32_scores_decide_as_float64_at_the_threshold(tmp_path):
    # float32(0.7) < 0.7: exactly at the threshold's float32 neighbour, a float32
    # comparison would call it positive; score >= 0.7 in float64 says negative.
    s = np.array([0.7, 0.7, 0.71, 0.2], dtype=np.float32)
    y = np.array([1, 0, 1, 0], dtype=np.int8)
    path = _write_parquet(tmp_path / "f32.parquet", {"y": y, "p": s})
    d = _run_json(tmp_path, ["evaluate", path, "--label", "y", "--score", "p", "--threshold",
                             "0.7", "--bootstrap", "0"])
    expected = sk_confusion_matrix(y, (s.astype(np.float64) >= 0.7).astype(int))
    assert d["confusion_matrix"] == expected.tolist() == [[2, 0], [1, 1]]


@pytest.mark.backend
def test_demo_quick_trains_compares_and_writes_the_html_report(tmp_path, capsys):
    html = tmp_path / "demo.html"
    assert main(["demo", "--quick", "--html", str(html)]) == 0
    out = capsys.readouterr().out
    assert "BCE, 0.5" in out and "threshold tuned for cost" in out
    assert "F1 loss (soft counts)" in out
    assert "expected_cost" in out and "wrote" in out
    assert "data:image/png;base64," in html.read_text()
    # The model is chosen on validation: the starred row has the lowest validation cost.
    table = out.split("chosen on validation (", 1)[1].split("* chosen:", 1)[0]
    rows = [line for line in table.splitlines()[2:] if line.strip()]
    costs = [float(re.split(r"\s{2,}", line[2:].strip())[1]) for line in rows]
    starred = [i for i, line in enumerate(rows) if line.startswith("* ")]
    assert starred == [int(np.argmin(costs))]
    name = re.split(r"\s{2,}", rows[starred[0]][2:].strip())[0]
    assert f"chosen on validation (lowest expected validation cost): {name}" in out
    # The page: the recipes' table, then the chosen model's report with its explorer.
    page = html.read_text()
    assert page.index("recipes chosen on validation") < page.index(
        f"<h1>The chosen model on the test set: {name}") < page.index("data-kc-explorer")
    assert page.count("(chosen)</td>") == 1 and f"{name} (chosen)</td>" in page


def test_tune_help_describes_score_as_one_column_as_tune_takes(capsys):
    def score_help(command):
        assert main([command, "--help"]) == 0
        out = " ".join(capsys.readouterr().out.split())
        return out.rsplit("--score COL ", 1)[1].split(" --", 1)[0]  # the options list

    assert "repeat" in score_help("evaluate")
    tune_help = score_help("tune")
    assert "repeat" not in tune_help and "multiclass" not in tune_help
    assert "one column" in tune_help and "class-1 scores" in tune_help


def test_tune_prints_the_threshold_exactly_as_its_repr(tmp_path, capsys):
    y, s = _data(500, seed=9)
    path = _write_csv(tmp_path / "t.csv", {"y": y, "p": [repr(float(v)) for v in s]})
    assert main(["tune", path, "--label", "y", "--score", "p", "--quiet"]) == 0
    line = next(x for x in capsys.readouterr().out.splitlines() if x.startswith("threshold"))
    printed = float(line.split()[1])
    ref = tune_threshold(y, s, "f1")
    assert printed == ref.threshold
    assert np.sum(s >= printed) == ref.confusion_matrix[:, 1].sum()


@pytest.mark.parametrize(
    ("argv", "pattern"),
    [
        (["--bogus"], r"unrecognized arguments: --bogus"),
        (["--threshold", "nan"], r"argument --threshold: expected a finite number"),
        # The second replaced the first: the recall floor was silently dropped.
        (["--tune", "f1", "--constraint", "recall=0.9", "--constraint", "precision=0.3"],
         r"argument --constraint: given twice; expected once \(the second would replace"),
        (["--confidence", "0.95", "--confidence", "0.5"], r"argument --confidence: given twice"),
        # "-1e-3" was taken for an option: "expected one argument".
        (["--threshold", "-1e-3", "--bogus"], r"unrecognized arguments: --bogus"),
        (["--threshold", "-inf"], r"argument --threshold: expected a finite number"),
        # 1e-400 read as 0.0 would call a score of exactly 0 positive.
        (["--threshold", "1e-400"], r"argument --threshold: expected a number float64 can "
                                    r"hold, got '1e-400' \(it rounds to 0\)"),
        (["--chunk-rows", "x"], r"argument --chunk-rows: expected a whole number"),
    ],
)
def test_argument_errors_print_one_line_without_usage_and_exit_2(argv, pattern, capsys):
    rc = main(["evaluate", "x.csv", "--label", "y", "--score", "p", *argv])
    err = _one_error_line(capsys)
    assert rc == 2 and "usage" not in err and __import__("re").search(pattern, err), err
    assert main(["evaluate", "x.csv", "--label", "y"]) == 2  # no --score
    assert "--score" in _one_error_line(capsys)


@pytest.mark.parametrize(
    ("command", "argv", "pattern"),
    [
        ("evaluate", ["--tune", "nosuch"], r"--tune 'nosuch': unknown formula; expected one "
                                           r"of .*'?f1"),
        ("evaluate", ["--tune", "f1", "--constraint", "nosuch=0.5"],
         r"--constraint 'nosuch=0\.5': unknown formula 'nosuch'"),
        ("evaluate", ["--tune", "expected_cost"], r"--tune expected_cost needs --cost"),
        ("evaluate", ["--bootstrap", "1"], r"argument --bootstrap: expected 0 .*from 2 to "
                                           r"100000, got '1'"),
        ("evaluate", ["--bootstrap", str(10 ** 9)], r"argument --bootstrap: .*to 100000"),
        ("evaluate", ["--seed", "-1"], r"argument --seed: expected a number >= 0"),
        ("evaluate", ["--chunk-rows", "0"], r"argument --chunk-rows: expected a whole number "
                                            r">= 1, got '0'"),
        # It said "a number >= 0" here, and then refused 0.
        ("evaluate", ["--chunk-rows", "-5"], r"argument --chunk-rows: expected a whole "
                                             r"number >= 1, got '-5'"),
        ("evaluate", ["--class-names", "a,b,c"], r"--class-names 'a,b,c': 3 names for 2"),
        ("evaluate", ["--class-names", ""], r"--class-names '': 1 names for 2 classes \(some "
                                            r"empty\); expected 2 non-empty names"),
        ("evaluate", ["--class-names", "a,"], r"--class-names 'a,': 2 names .*some empty"),
        ("evaluate", ["--class-names", "a, a"], r"--class-names 'a, a': 'a' is given 2 times; "
                                                r"expected 2 distinct names"),
        ("tune", ["--objective", "nosuch"], r"--objective 'nosuch': unknown formula"),
        ("tune", ["--constraint", "nosuch=0.5"], r"--constraint 'nosuch=0\.5': unknown"),
        ("tune", ["--chunk-rows", "0"], r"argument --chunk-rows: expected a whole number"),
        # 'recall<=0.9' said "unknown formula 'recall<'".
        ("tune", ["--constraint", "recall<=0.9"], r"--constraint 'recall<=0\.9': a "
                                                  r"constraint is a bound to reach.*'<='"),
        # An empty field was skipped: '0,,1;10,0' was read as [[0, 1], [10, 0]].
        ("evaluate", ["--cost", "0,,1;10,0"], r"--cost '0,,1;10,0': row 1 has an empty "
                                              r"value"),
        ("evaluate", ["--cost", "0,1,;10,0"], r"--cost '0,1,;10,0': row 1 has an empty"),
        # These two were refused by the search, after every row was read.
        ("evaluate", ["--tune", "f1", "--constraint", "expected_cost=0.3"],
         r"--cost must be given for an expected_cost constraint"),
        ("tune", ["--constraint", "expected_cost=0.3"],
         r"--cost must be given for an expected_cost constraint"),
        ("evaluate", ["--cost", "0,0;0,0"], r"--cost '0,0;0,0': must be a cost matrix under "
                                            r"which decisions differ"),
        ("tune", ["--cost", "1,1;2,2"], r"--cost '1,1;2,2': must be a cost matrix under "
                                        r"which decisions differ"),
    ],
)
def test_options_that_need_no_data_are_refused_before_the_input_is_read(
        command, argv, pattern, tmp_path, capsys):
    # The input does not exist: an error about the option, not the file, shows that the
    # option was checked before any file was opened.
    missing = str(tmp_path / "missing.csv")
    rc = main([command, missing, "--label", "y", "--score", "p", *argv, "--quiet"])
    err = _one_error_line(capsys)
    assert rc == 2 and __import__("re").search(pattern, err), err
    assert "missing.csv" not in err and "Argument `" not in err, err


def test_tune_constraint_errors_found_on_the_data_name_the_option(tmp_path, capsys):
    y, s = _data(200, seed=3)
    path = _write_csv(tmp_path / "p.csv", {"y": y, "p": s})
    assert main(["evaluate", path, "--label", "y", "--score", "p", "--tune", "f1",
                 "--constraint", "mcc=0.99", "--quiet"]) == 2
    err = _one_error_line(capsys)
    # The constraint as it was given, not its Python value ("('mcc', 0.99)").
    assert err.startswith("keras-confusion: error: --constraint 'mcc=0.99': must be "
                          "reachable"), err


@pytest.mark.parametrize("chunk_rows", ["1000", "5000", "1048576"])
def test_csv_with_line_breaks_in_quoted_fields_equals_sklearn_at_any_block_size(
        chunk_rows, tmp_path):
    # A text field holding a line break is quoted (Python's csv module and pandas
    # write it so). With blocks of 64 KB (--chunk-rows 1000) one fell across a
    # boundary: "CSV parser got out of sync with chunker", or "Expected 3 columns, got
    # 1" on a larger file at the default size.
    import csv

    y, s = _data(6000, seed=25)
    path = tmp_path / "notes.csv"
    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["y", "note", "p"])
        writer.writerows([a, 'free text\nsecond, line "quoted"\r\n3rd', repr(float(b))]
                         for a, b in zip(y, s, strict=True))
    assert path.stat().st_size > 4 * (1 << 16)
    d = _run_json(tmp_path, ["evaluate", str(path), "--label", "y", "--score", "p",
                             "--chunk-rows", chunk_rows, "--bootstrap", "0"])
    assert d["confusion_matrix"] == sk_confusion_matrix(y, (s >= 0.5).astype(int)).tolist()


@pytest.mark.parametrize("suffix", [".tsv", ".tsv.gz"])
def test_tsv_input_is_read_tab_separated_and_equals_sklearn(suffix, tmp_path):
    import gzip

    y, s = _data(500, seed=21)
    text = "y\tp\n" + "".join(f"{a}\t{float(b)!r}\n" for a, b in zip(y, s, strict=True))
    path = tmp_path / f"preds{suffix}"
    path.write_bytes(gzip.compress(text.encode()) if suffix.endswith(".gz")
                     else text.encode())
    out = _run_json(tmp_path, ["evaluate", str(path), "--label", "y", "--score", "p",
                               "--threshold", "0.45", "--chunk-rows", "64",
                               "--bootstrap", "0"])
    assert out["confusion_matrix"] == sk_confusion_matrix(y, s >= 0.45).tolist()


# ------------------------------------------------------------------- sample weights


def _weighted(n, seed):
    y, s = _data(n, seed)
    w = np.round(np.random.default_rng(seed).gamma(0.7, 2.0, n), 3)
    w[::17] = 0.0
    return y, s, w


def test_weighted_evaluate_in_chunks_equals_report_with_sample_weight(tmp_path):
    from keras_confusion.report import report

    y, s, w = _weighted(2000, 20)
    path = _write_csv(tmp_path / "w.csv", {"y": y, "p": s, "w": w})
    d = _run_json(tmp_path, ["evaluate", path, "--label", "y", "--score", "p", "--weight",
                             "w", "--threshold", "0.45", "--chunk-rows", "300",
                             "--bootstrap", "200"])
    np.testing.assert_allclose(d["confusion_matrix"],
                               sk_confusion_matrix(y, (s >= 0.45).astype(int), sample_weight=w))
    ref = report(y, s, threshold=0.45, sample_weight=w, bootstrap=200).to_dict()
    assert d["weighted"] is True
    # num_samples is the total weight; the rows it sums are num_rows (zero weights too).
    assert d["num_samples"] == pytest.approx(w.sum()) and d["num_rows"] == 2000 == ref["num_rows"]
    for got, want in zip(d["classes"], ref["classes"], strict=True):
        for fig in ("recall", "precision", "f1"):
            for end in ("value", "low", "high"):
                assert got[fig][end] == pytest.approx(want[fig][end], rel=1e-9), (fig, end)


def test_weighted_evaluate_multiclass_parquet_equals_sklearn(tmp_path):
    rng = np.random.default_rng(21)
    y = rng.integers(0, 3, 600)
    scores = rng.random((600, 3))
    w = rng.integers(0, 5, 600)  # integer weights, in a Parquet int column
    cols = {"y": y, "a": scores[:, 0], "b": scores[:, 1], "c": scores[:, 2], "w": w}
    path = _write_parquet(tmp_path / "m.parquet", cols)
    d = _run_json(tmp_path, ["evaluate", path, "--label", "y", "--score", "a", "--score", "b",
                             "--score", "c", "--weight", "w", "--chunk-rows", "128",
                             "--bootstrap", "0"])
    np.testing.assert_allclose(d["confusion_matrix"], sk_confusion_matrix(
        y, scores.argmax(axis=1), sample_weight=w))


@pytest.mark.parametrize("limit", ["5000000", "500"])  # exact, then binned
def test_weighted_tuning_equals_tune_threshold_with_sample_weight(tmp_path, limit):
    y, s, w = _weighted(1500, 22)
    path = _write_parquet(tmp_path / "t.parquet", {"y": y, "p": s, "w": w})
    d = _run_json(tmp_path, ["evaluate", path, "--label", "y", "--score", "p", "--weight", "w",
                             "--tune", "f1", "--exact-limit", limit, "--chunk-rows", "400",
                             "--bootstrap", "100"])
    scores = s if limit != "500" else np.floor(s * TUNE_BINS) / TUNE_BINS
    ref = tune_threshold(y, scores, "f1", sample_weight=w)
    assert d["threshold"] == ref.threshold
    assert d["threshold_search"]["value"] == pytest.approx(ref.value)
    # The in-sample matrix is the weighted one of the original scores at that threshold.
    np.testing.assert_allclose(d["threshold_search"]["in_sample"]["confusion_matrix"],
                               sk_confusion_matrix(y, (s >= d["threshold"]).astype(int),
                                                   sample_weight=w))
    if limit == "500":  # binned: no rows kept to cross-fit on
        assert d["threshold_search"]["headline"] == "in_sample"
        return
    cf = cross_fit(y, s, lambda y, s, w: tune_threshold(y, s, "f1", sample_weight=w)
                   .threshold, folds=5, seed=0, sample_weight=w)
    np.testing.assert_allclose(d["confusion_matrix"], cf.confusion_matrix)


def test_weighted_tune_prints_the_weighted_matrix(tmp_path, capsys):
    y, s = np.array([0, 0, 1, 1, 1]), np.array([0.1, 0.7, 0.8, 0.3, 0.9])
    path = _write_csv(tmp_path / "t.csv", {"y": y, "p": s, "w": [1.5, 0.25, 2, 1, 0.5]})
    js = tmp_path / "t.json"
    assert main(["tune", path, "--label", "y", "--score", "p", "--weight", "w",
                 "--json", str(js), "--quiet"]) == 0
    out = capsys.readouterr().out
    ref = tune_threshold(y, s, "f1", sample_weight=[1.5, 0.25, 2, 1, 0.5])
    lines = out.splitlines()
    i = lines.index("confusion matrix (rows: true, columns: predicted)")
    (tn, fp), (fn, tp) = ref.confusion_matrix
    assert lines[i + 2].split() == ["0", f"{tn:g}", f"{fp:g}"]
    assert lines[i + 3].split() == ["1", f"{fn:g}", f"{tp:g}"]
    d = json.loads(js.read_text())
    assert d["weighted"] is True and d["confusion_matrix"] == ref.confusion_matrix.tolist()


@pytest.mark.parametrize("command", ["evaluate", "tune"])
@pytest.mark.parametrize(("weights", "pattern"), [
    (["1", "-2", "1"], r"w\.csv: column 'w', row 2: weight -2\.0 is not a finite number >= 0"),
    (["1", "inf", "1"], r"column 'w', row 2: weight inf is not a finite number >= 0"),
    (["1", "", "1"], r"column 'w', row 2: missing value"),
    (["1", "1e-170", "1"], r"column 'w', row 2: weight 1e-170 is outside \[1e-100, 1e\+100\]"),
    (["0", "0", "0"], r"w\.csv: column 'w': every weight is 0"),
])
def test_bad_weights_exit_2_naming_column_and_row(tmp_path, capsys, weights, pattern,
                                                  command):
    path = tmp_path / "w.csv"
    path.write_text("y,p,w\n" + "".join(f"{a},{b},{c}\n" for a, b, c in
                                         zip([0, 1, 1], [0.2, 0.6, 0.9], weights, strict=True)))
    assert main([command, str(path), "--label", "y", "--score", "p", "--weight", "w",
                 "--quiet"]) == 2
    assert __import__("re").search(pattern, _one_error_line(capsys))


def test_weight_column_named_as_label_or_missing_exits_2(tmp_path, capsys):
    path = _write_csv(tmp_path / "w.csv", {"y": [0, 1], "p": [0.2, 0.7]})
    assert main(["evaluate", path, "--label", "y", "--score", "p", "--weight", "y",
                 "--quiet"]) == 2
    assert "column 'y' is named 2 times in --label, --score and --weight" in \
        _one_error_line(capsys)
    assert main(["evaluate", path, "--label", "y", "--score", "p", "--weight", "w",
                 "--quiet"]) == 2
    assert "no column 'w'" in _one_error_line(capsys)


# ------------------------------------------------------------ guarantees (--confidence)


def test_tune_with_confidence_equals_the_library_and_states_the_guarantee(tmp_path, capsys):
    y, s = _data(3000, seed=30)
    path = _write_csv(tmp_path / "c.csv", {"y": y, "p": s})
    argv = ["tune", path, "--label", "y", "--score", "p", "--objective", "specificity",
            "--constraint", "recall=0.9", "--confidence", "0.95"]
    d = _run_json(tmp_path, argv)
    ref = tune_threshold(y, s, "specificity", constraint=("recall", 0.9), confidence=0.95)
    assert d["threshold"] == ref.threshold and d["value"] == pytest.approx(ref.value)
    assert d["confusion_matrix"] == ref.confusion_matrix.tolist()
    g = d["guarantee"]
    assert (g["constraint"], g["confidence"], g["bound"]) == (["recall", 0.9], 0.95, ref.bound)
    png = tmp_path / "bound.png"
    assert main([*argv, "--quiet", "--plot", str(png)]) == 0
    out = capsys.readouterr().out
    assert (f"guarantee  recall >= 0.9 with 95 % confidence; lower bound {ref.bound:.3f} at "
            "this threshold") in out
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"  # plot.guarantee_curve's figure


def test_evaluate_tune_with_confidence_reports_the_guarantee_in_text_json_html(
        tmp_path, capsys):
    y, s = _data(2000, seed=31)
    path = _write_parquet(tmp_path / "c.parquet", {"y": y, "p": s})
    html_path = tmp_path / "r.html"
    d = _run_json(tmp_path, ["evaluate", path, "--label", "y", "--score", "p", "--tune",
                             "precision", "--constraint", "recall=0.8", "--confidence", "0.9",
                             "--bootstrap", "0", "--html", str(html_path)])
    ref = tune_threshold(y, s, "precision", constraint=("recall", 0.8), confidence=0.9)
    text = (f"recall >= 0.8 with 90 % confidence; lower bound {ref.bound:.3f} at this "
            "threshold")
    assert d["threshold"] == ref.threshold
    assert d["guarantee"]["bound"] == ref.bound and d["guarantee"]["text"] == text
    assert d["threshold_search"]["guarantee"]["text"] == text
    assert f"guarantee: {text}" in capsys.readouterr().out
    assert f"Guarantee: {html.escape(text)}." in html_path.read_text()


@pytest.mark.parametrize(("options", "match"), [
    (["--confidence", "1.5"], r"--confidence 1.5: expected a number in the open interval"),
    (["--confidence", "0.9"], r"--confidence needs --constraint NAME=FLOOR"),
    (["--constraint", "f1=0.5", "--confidence", "0.9"],
     r"--confidence needs a floor --constraint on recall, .*; got 'f1=0\.5'"),
    (["--constraint", "recall=0.9", "--confidence", "0.9", "--weight", "w"],
     r"--confidence cannot be used with --weight"),
    (["--constraint", "expected_cost=0.2", "--cost", "0,1;5,0", "--confidence", "0.9"],
     r"--confidence needs a floor --constraint on recall, .*; got 'expected_cost=0\.2'"),
])
def test_bad_confidence_exits_2_before_reading_any_file(tmp_path, capsys, options, match):
    missing = str(tmp_path / "no-such-file.csv")  # read after the options are checked
    rc = main(["tune", missing, "--label", "y", "--score", "p", "--objective", "specificity",
               *options])
    assert rc == 2
    assert re.search(match, _one_error_line(capsys))


@pytest.mark.parametrize(("command", "options", "match"), [
    # Each was accepted and then ignored (exit 0): no tuning, so no folds or exact search.
    ("evaluate", ["--folds", "3"], r"--folds applies to tuning: it needs --tune"),
    ("evaluate", ["--exact-limit", "10"], r"--exact-limit applies to tuning"),
    # In-sample figures on the cluster, however many folds were asked for; and the
    # refusal came only after a 20 s wait for the (here unreachable) scheduler.
    ("evaluate", ["--tune", "f1", "--folds", "3", "--scheduler", "tcp://127.0.0.1:9"],
     r"--folds 3 with --scheduler: cross-fitting runs on one machine"),
    # The cluster's search is always exact: a limit was ignored (exit 0, "search exact
    # over 5000 scores" where one machine binned them).
    ("tune", ["--exact-limit", "100", "--scheduler", "tcp://127.0.0.1:9"],
     r"--exact-limit 100 with --scheduler: .*the limit would be ignored"),
    ("evaluate", ["--tune", "f1", "--exact-limit", "100", "--scheduler", "tcp://127.0.0.1:9"],
     r"--exact-limit 100 with --scheduler"),
    # "--tune must be None or "expected_cost" when cost_matrix is given".
    ("evaluate", ["--tune", "recall", "--cost", "0,1;1,0"],
     r"--tune 'recall' with --cost: the cost matrix is the objective \(drop --tune, or "
     r"give --tune expected_cost\), or bounds it with --constraint expected_cost=MAX"),
    ("tune", ["--objective", "f1", "--cost", "0,1;1,0"], r"--objective 'f1' with --cost"),
])
def test_options_that_would_be_ignored_or_clash_exit_2_before_reading(
        command, options, match, tmp_path, capsys):
    missing = str(tmp_path / "no-such-file.csv")  # read after the options are checked
    start = time.perf_counter()
    assert main([command, missing, "--label", "y", "--score", "p", *options]) == 2
    assert re.search(match, _one_error_line(capsys))
    assert time.perf_counter() - start < 5


def test_cross_fitting_folds_beyond_the_rows_and_cost_without_stakes_are_refused(
        tmp_path, capsys):
    path = _write_csv(tmp_path / "s.csv", {"y": [0, 1, 1, 0], "p": [0.2, 0.7, 0.4, 0.5]})
    args = ["evaluate", path, "--label", "y", "--score", "p", "--bootstrap", "0", "--quiet"]
    # Asked for: refused (it was exit 0, in-sample figures and a Python-worded note).
    assert main([*args, "--tune", "f1", "--folds", "5"]) == 2
    assert _one_error_line(capsys) == ("keras-confusion: error: --folds 5: more folds than "
                                       "rows (4); expected at most 4, or 0 for in-sample "
                                       "figures\n")
    # The default 5: in-sample figures, the note in the command line's words.
    assert main([*args, "--tune", "f1"]) == 0
    out = capsys.readouterr().out
    assert "no cross-fitted estimate (--folds '5': must be an integer in [2, 4]" in out
    assert "Argument" not in out
    # Every decision costs the same: "tuned" to 0.5 before.
    assert main(["tune", path, "--label", "y", "--score", "p", "--cost", "0,0;0,0"]) == 2
    assert re.search(r"--cost '0,0;0,0': must be a cost matrix under which decisions "
                     r"differ", _one_error_line(capsys))


def test_evaluate_confidence_needs_tuning_and_exact_search(tmp_path, capsys):
    y, s = _data(600, seed=32)
    path = _write_csv(tmp_path / "c.csv", {"y": y, "p": s})
    assert main(["evaluate", path, "--label", "y", "--score", "p", "--confidence", "0.9",
                 "--constraint", "recall=0.9"]) == 2
    assert "--constraint needs --tune" in _one_error_line(capsys)
    assert main(["evaluate", path, "--label", "y", "--score", "p", "--tune", "specificity",
                 "--constraint", "recall=0.9", "--confidence", "0.9", "--exact-limit", "100",
                 "--quiet"]) == 2
    assert "--confidence: a guarantee needs the exact search" in _one_error_line(capsys)


def test_evaluate_tune_too_few_positives_names_the_count_needed(tmp_path, capsys):
    y = np.r_[np.ones(20, "int64"), np.zeros(200, "int64")]
    s = np.r_[np.linspace(0.5, 1, 20), np.linspace(0, 0.7, 200)]
    path = _write_csv(tmp_path / "c.csv", {"y": y, "p": s})
    assert main(["evaluate", path, "--label", "y", "--score", "p", "--tune", "specificity",
                 "--constraint", "recall=0.9", "--confidence", "0.95", "--quiet"]) == 2
    assert "needs at least 29 positives" in _one_error_line(capsys)


def test_evaluate_tune_folds_zero_keeps_the_in_sample_headline_and_says_so(tmp_path, capsys):
    y, s = _data(800, seed=33)
    path = _write_csv(tmp_path / "c.csv", {"y": y, "p": s})
    d = _run_json(tmp_path, ["evaluate", path, "--label", "y", "--score", "p", "--tune", "f1",
                             "--folds", "0", "--bootstrap", "0"])
    ref = tune_threshold(y, s, "f1")
    assert d["threshold_search"]["headline"] == "in_sample"
    assert d["threshold_search"]["cross_fitted"] is None
    assert d["confusion_matrix"] == ref.confusion_matrix.tolist()
    assert any("optimistic" in note for note in d["notes"])


def test_evaluate_help_says_the_in_sample_figure_is_optimistic(capsys):
    assert main(["evaluate", "--help"]) == 0
    out = " ".join(capsys.readouterr().out.split())
    assert "in-sample figures at a threshold tuned on the same rows are optimistic" in out
    assert "--confidence" in out and "--folds" in out


def test_evaluate_keeps_the_in_sample_headline_when_a_fold_cannot_be_guaranteed(tmp_path):
    # 30 positives certify recall >= 0.9 at 0.95 (29 needed); a fold's 24 cannot.
    y = np.r_[np.ones(30, "int64"), np.zeros(300, "int64")]
    s = np.r_[np.linspace(0.4, 1, 30), np.linspace(0, 0.7, 300)]
    path = _write_csv(tmp_path / "c.csv", {"y": y, "p": s})
    d = _run_json(tmp_path, ["evaluate", path, "--label", "y", "--score", "p", "--tune",
                             "specificity", "--constraint", "recall=0.9", "--confidence",
                             "0.95", "--bootstrap", "0"])
    ref = tune_threshold(y, s, "specificity", constraint=("recall", 0.9), confidence=0.95)
    assert d["threshold"] == ref.threshold
    assert d["threshold_search"]["headline"] == "in_sample"
    assert d["confusion_matrix"] == ref.confusion_matrix.tolist()
    assert any("optimistic: no cross-fitted estimate" in n and "needs at least 29 positives"
               in n for n in d["notes"])


# -------------------------------------------------------- reliability of the outputs


def test_closed_stdout_still_writes_the_output_files(tmp_path):
    # `evaluate ... --json out.json | head -2` exited 2 "Broken pipe" and wrote no JSON:
    # the text was printed before the files were written.
    import subprocess
    import sys

    y, s = _data(2000, seed=21)
    path = _write_csv(tmp_path / "d.csv", {"y": y, "p": s})
    out = tmp_path / "out.json"
    script = ("import sys; from keras_confusion.cli import main; sys.exit(main(sys.argv[1:]))")
    proc = subprocess.Popen([sys.executable, "-c", script, "evaluate", path, "--label", "y",
                             "--score", "p", "--bootstrap", "0", "--quiet", "--json",
                             str(out)], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    proc.stdout.close()  # as `| head -0` does: the first print meets a closed pipe
    err = proc.stderr.read().decode()
    rc = proc.wait()
    assert rc == 141 and err == ""
    expected = sk_confusion_matrix(y, (s >= 0.5).astype(int))
    assert json.loads(out.read_text())["confusion_matrix"] == expected.tolist()


@pytest.mark.parametrize("case", ["json on the CSV", "html through a link", "plot on a part",
                                  "json on the Parquet"])
def test_output_that_is_an_input_file_is_refused_and_the_input_kept(case, tmp_path, capsys):
    # `--json preds.csv` replaced the predictions with the report (exit 0).
    y, s = _data(300, seed=23)
    csv_path = _write_csv(tmp_path / "preds.csv", {"y": y, "p": s})
    parts = tmp_path / "parts"
    parts.mkdir()
    part = _write_parquet(parts / "part-0.parquet", {"y": y, "p": s})
    (tmp_path / "link.html").symlink_to(csv_path)
    command, files, option, out = {
        "json on the CSV": ("evaluate", [csv_path], "--json", csv_path),
        "html through a link": ("evaluate", [csv_path], "--html", str(tmp_path / "link.html")),
        "plot on a part": ("tune", [str(parts)], "--plot", part),
        "json on the Parquet": ("tune", [csv_path, part], "--json",
                                str(parts / ".." / "parts" / "part-0.parquet"))}[case]
    before = {f: open(f, "rb").read() for f in (csv_path, part)}
    assert main([command, *files, "--label", "y", "--score", "p", option, out,
                 "--quiet"]) == 2
    err = _one_error_line(capsys)
    assert f"{option} {out!r} is the input file" in err and "destroy the data" in err, err
    assert {f: open(f, "rb").read() for f in (csv_path, part)} == before


@pytest.mark.parametrize(("command", "option"), [("evaluate", "--json"), ("tune", "--plot"),
                                               ("evaluate", "--html")])
def test_output_that_is_the_cost_file_is_refused_and_the_file_kept(command, option, tmp_path,
                                                                     capsys, monkeypatch):
    # `--cost cost.txt --json cost.txt` replaced the cost matrix with the report (exit 0).
    y, s = _data(300, seed=24)
    csv_path = _write_csv(tmp_path / "preds.csv", {"y": y, "p": s})
    cost = tmp_path / "cost.txt"
    cost.write_text("0,1;5,0\n")
    extra = ["--tune", "expected_cost"] if command == "evaluate" else []
    assert main([command, csv_path, "--label", "y", "--score", "p", "--cost", str(cost),
                 *extra, option, str(cost), "--quiet"]) == 2
    err = _one_error_line(capsys)
    assert f"{option} {str(cost)!r} is the --cost file" in err, err
    assert "destroy the cost matrix" in err, err
    assert cost.read_text() == "0,1;5,0\n"
    # The same matrix given inline is no file: an output of that very name is written.
    monkeypatch.chdir(tmp_path)
    assert main([command, csv_path, "--label", "y", "--score", "p", "--cost", "0,1;5,0",
                 *extra, option, "0,1;5,0", "--quiet"]) == 0
    capsys.readouterr()
    assert (tmp_path / "0,1;5,0").stat().st_size > 0


@pytest.mark.parametrize(("objective", "options", "kwargs"), [
    ("fbeta", ["--beta", "2"], {"beta": 2.0}),
    ("fbeta", [], {"beta": 1.0}),
    ("tversky", ["--alpha", "0.3", "--beta", "0.7"], {"alpha": 0.3, "beta": 0.7}),
    ("tversky", ["--beta", "0.8"], {"alpha": 0.5, "beta": 0.8}),
])
def test_fbeta_and_tversky_objectives_take_their_parameters_as_tune_threshold(
        tmp_path, objective, options, kwargs, capsys):
    # --objective fbeta and tversky were listed, but nothing set beta or alpha: both
    # could only ever mean f1, and the output said "fbeta".
    y, s = _data(2000, seed=26)
    path = _write_csv(tmp_path / "p.csv", {"y": y, "p": s})
    want = tune_threshold(y, s, objective, **kwargs)
    d = _run_json(tmp_path, ["tune", path, "--label", "y", "--score", "p", "--objective",
                             objective, *options])
    assert (d["threshold"], d["value"]) == (want.threshold, want.value)
    assert d["objective"] == objective and d["objective_args"] == kwargs
    e = _run_json(tmp_path, ["evaluate", path, "--label", "y", "--score", "p", "--tune",
                             objective, *options, "--bootstrap", "0"])
    assert e["threshold_search"]["threshold"] == want.threshold
    assert e["threshold_search"]["objective_args"] == kwargs
    # The headline, cross-fitted, is the same formula: it was f1 whatever --beta said.
    crossed = e["threshold_search"]["cross_fitted"]
    assert crossed["value"] == pytest.approx(float(formulas.get(objective)(
        np.array(crossed["confusion_matrix"], dtype="float64"), **kwargs)), rel=1e-12)
    assert main(["tune", path, "--label", "y", "--score", "p", "--objective", objective,
                 *options, "--quiet"]) == 0
    shown = ", ".join(f"{k}={v:g}" for k, v in kwargs.items())
    assert f"{objective:<10} {want.value:.6g} ({shown})" in capsys.readouterr().out


@pytest.mark.parametrize(("options", "match"), [
    (["--objective", "f1", "--beta", "2"],
     r"--beta 2: the parameter of --objective fbeta or tversky; got --objective f1"),
    (["--objective", "fbeta", "--alpha", "0.3"],
     r"--alpha 0\.3: the parameter of --objective tversky; got --objective fbeta"),
    (["--objective", "fbeta", "--beta", "-1"], r"--beta '-1': must be a number > 0"),
    (["--beta", "2"], r"--beta 2: the parameter of --objective fbeta or tversky; got "
                      r"--objective \(none\)"),
    (["--objective", "fbeta", "--beta", "0"], r"--beta '0': must be a number > 0"),
    # The constraint's own fbeta took beta=1, while the output showed "(beta=3)".
    (["--objective", "fbeta", "--beta", "3", "--constraint", "fbeta=0.6"],
     r"--beta with --constraint 'fbeta=0\.6': the parameters apply to --objective only"),
])
def test_objective_parameters_it_would_ignore_or_refuse_exit_2_before_reading(
        tmp_path, capsys, options, match):
    missing = str(tmp_path / "no-such-file.csv")  # read after the options are checked
    assert main(["tune", missing, "--label", "y", "--score", "p", *options]) == 2
    assert re.search(match, _one_error_line(capsys))
    assert main(["evaluate", missing, "--label", "y", "--score", "p", "--beta", "2"]) == 2
    assert re.search(r"--beta 2: the parameter of --tune fbeta or tversky",
                     _one_error_line(capsys))


def test_output_that_would_be_a_new_part_of_an_input_folder_is_refused(tmp_path, capsys):
    # `evaluate parts/ --json parts/report.csv` wrote the report beside the parts; the
    # next `evaluate parts/` read it as a part and failed on it.
    y, s = _data(300, seed=25)
    parts = tmp_path / "parts"
    (parts / "year=2024").mkdir(parents=True)
    _write_parquet(parts / "part-0.parquet", {"y": y[:150], "p": s[:150]})
    _write_parquet(parts / "year=2024" / "part-1.parquet", {"y": y[150:], "p": s[150:]})
    argv = ["evaluate", str(parts), "--label", "y", "--score", "p", "--bootstrap", "0",
            "--quiet"]
    # A dangling link in the folder: writing through it makes it a part too.
    (parts / "link.csv").symlink_to(tmp_path / "elsewhere.csv")
    for out in (parts / "report.csv", parts / "year=2024" / "r.parquet",
                parts / ".." / "parts" / "r.tsv.gz", parts / "link.csv"):
        assert main([*argv, "--json", str(out)]) == 2
        err = _one_error_line(capsys)
        assert f"--json {str(out)!r} would be a part of the input folder" in err, err
        assert "read it as data" in err, err
        assert not out.exists() and not (tmp_path / "elsewhere.csv").exists()
    # Names the next run does not read as parts are written, and it reads the same.
    for out in (parts / "report.json", parts / "_report.csv", tmp_path / "parts.csv"):
        assert main([*argv, "--json", str(out)]) == 0
        assert json.loads(out.read_text())["confusion_matrix"] == \
            sk_confusion_matrix(y, (s >= 0.5).astype(int)).tolist()
    capsys.readouterr()


@pytest.mark.parametrize(("outputs", "pattern"), [
    (["--json", "r.out", "--html", "r.out"], r"--json and --html both write to 'r\.out'"),
    (["--json", "r.out", "--html", "./sub/../r.out"], r"--json and --html both write to"),
    (["--json", "", "--html", "r.html"], r"--json '': expected a file path, or '-'"),
    (["--html", " "], r"--html ' ': expected a file path"),
    # Written as a file named "newdir" (exit 0, "wrote newdir/"), a directory meant.
    (["--json", "newdir/"], r"--json 'newdir/': expected a file path, not a directory "
                            r"\(it ends with '/'\)"),
    (["--html", "sub/"], r"--html 'sub/': expected a file path, not a directory"),
])
def test_two_outputs_on_one_file_or_an_empty_path_are_refused_before_reading(
        outputs, pattern, tmp_path, capsys, monkeypatch):
    # `--json r.out --html r.out` wrote both, the HTML last: the JSON was lost (exit 0);
    # `--json ''` wrote nothing and said nothing.
    monkeypatch.chdir(tmp_path)
    (tmp_path / "sub").mkdir()
    missing = str(tmp_path / "missing.csv")  # refused before the input is opened
    assert main(["evaluate", missing, "--label", "y", "--score", "p", *outputs,
                 "--quiet"]) == 2
    err = _one_error_line(capsys)
    assert re.search(pattern, err) and "missing.csv" not in err, err
    assert not (tmp_path / "r.out").exists() and not (tmp_path / "r.html").exists()
    assert not (tmp_path / "newdir").exists()


def test_scores_outside_0_1_at_the_default_threshold_warn_of_logits(tmp_path, capsys):
    # Logits were decided at 0.5 as if they were probabilities, without a word.
    path = _write_csv(tmp_path / "logits.csv", {"y": [0, 1, 1, 0], "p": [-1.2, 0.7, 2.4, 0.1]})
    args = ["evaluate", path, "--label", "y", "--score", "p", "--bootstrap", "0", "--quiet"]
    assert main(args) == 0
    assert capsys.readouterr().err == (
        "keras-confusion: warning: 2 of 4 scores lie outside [0, 1], decided at the default "
        "threshold 0.5 as if they were probabilities: for logits give --threshold 0 (or the "
        "logit of the threshold meant)\n")
    assert main([*args, "--threshold", "0"]) == 0  # a threshold given: no warning
    assert capsys.readouterr().err == ""


def test_warnings_are_one_line_each_like_errors(tmp_path, capsys):
    # They came as Python prints them: two lines, with cli.py's path and source line.
    path = _write_csv(tmp_path / "neg.csv", {"y": [0, 0, 0], "p": [0.1, 0.7, 0.4]})
    assert main(["tune", path, "--label", "y", "--score", "p", "--quiet"]) == 0
    assert capsys.readouterr().err == (
        "keras-confusion: warning: tune_threshold: y_true holds only class 0 (with non-zero "
        "weight); f1 may not depend on the threshold.\n")


def test_demo_refuses_its_page_and_figure_on_one_file_before_training(tmp_path, capsys):
    out = str(tmp_path / "demo.out")
    assert main(["demo", "--quick", "--html", out, "--png", out]) == 2
    assert "--html and --png both write to" in _one_error_line(capsys)
    assert not (tmp_path / "demo.out").exists()


def test_dev_stdout_and_dash_together_are_refused_as_two_outputs_on_stdout(tmp_path):
    # `--json /dev/stdout --html -` put the JSON and the page together on stdout.
    import subprocess
    import sys

    y, s = _data(200, seed=24)
    path = _write_csv(tmp_path / "d.csv", {"y": y, "p": s})
    script = "import sys; from keras_confusion.cli import main; sys.exit(main(sys.argv[1:]))"
    proc = subprocess.run([sys.executable, "-c", script, "evaluate", path, "--label", "y",
                           "--score", "p", "--quiet", "--json", "/dev/stdout", "--html", "-"],
                          capture_output=True, text=True, check=False)
    assert proc.returncode == 2 and proc.stdout == "", proc
    assert proc.stderr == ("keras-confusion: error: --json and --html both write to standard "
                           "output: only one output can go to standard output\n")


def test_dash_as_output_path_writes_to_stdout_and_the_report_to_stderr(tmp_path, capsys):
    y, s = _data(300, seed=22)
    path = _write_csv(tmp_path / "d.csv", {"y": y, "p": s})
    assert main(["evaluate", path, "--label", "y", "--score", "p", "--bootstrap", "0",
                 "--json", "-", "--quiet"]) == 0
    captured = capsys.readouterr()
    expected = sk_confusion_matrix(y, (s >= 0.5).astype(int))
    assert json.loads(captured.out)["confusion_matrix"] == expected.tolist()
    assert "confusion matrix" in captured.err
    assert not (tmp_path / "-").exists()
    assert main(["evaluate", path, "--label", "y", "--score", "p", "--json", "-", "--html",
                 "-", "--quiet"]) == 2
    assert "only one output can go to standard output" in _one_error_line(capsys)


@pytest.mark.parametrize(("bound", "pattern"), [
    ("recall=1.5", r"--constraint 'recall=1\.5': a bound on recall must be in \[0, 1\]"),
    ("precision=-0.1", r"a bound on precision must be in \[0, 1\]"),
    ("mcc=1.2", r"a bound on mcc must be in \[-1, 1\]"),
    ("expected_cost=-1", r"a bound on expected_cost must be >= 0"),
])
def test_constraint_bound_outside_its_formula_range_is_refused_before_reading(
        bound, pattern, tmp_path, capsys):
    # recall=1.5 was refused only after the data was read ("must be reachable").
    missing = str(tmp_path / "missing.csv")
    cost = ["--cost", "0,1;5,0"] if bound.startswith("expected_cost") else []
    for command, option in (("evaluate", "--tune"), ("tune", "--objective")):
        rc = main([command, missing, "--label", "y", "--score", "p", option, "f1",
                   "--constraint", bound, *cost, "--quiet"])
        err = _one_error_line(capsys)
        assert rc == 2 and __import__("re").search(pattern, err), err
        assert "missing.csv" not in err


def test_escape_sequences_in_class_and_column_names_are_not_printed_raw(tmp_path, capsys):
    rng = np.random.default_rng(23)
    y = rng.integers(0, 3, 200)
    cols = {"y": y, "cat\x1b[2J": rng.random(200), "dog\nfake line": rng.random(200),
            "bird\u202e": rng.random(200)}
    path = _write_parquet(tmp_path / "m.parquet", cols)
    assert main(["evaluate", path, "--label", "y", "--score", "cat\x1b[2J", "--score",
                 "dog\nfake line", "--score", "bird\u202e", "--bootstrap", "0",
                 "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "\x1b" not in out and "\u202e" not in out and "\nfake line" not in out
    assert "cat\\x1b[2J" in out and "dog\\nfake line" in out and "bird\\u202e" in out
    assert main(["evaluate", path, "--label", "y", "--score", "cat\x1b[2J", "--score",
                 "dog\nfake line", "--score", "bird\u202e", "--bootstrap", "0",
                 "--class-names", "a\x1b]0;title\x07,b,c", "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "\x1b" not in out and "\x07" not in out and "a\\x1b]0;title\\x07" in out
