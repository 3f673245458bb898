"""The explorer's HTML and data, without a browser (tests/test_browser.py runs them)."""

from __future__ import annotations

import base64
import hashlib
import json
import re

import numpy as np
import pytest

from keras_confusion import _explorer

pytestmark = pytest.mark.keras_free


def _curve(n=50_000, seed=0):
    """Exact curve of ``n`` scores: candidates ascending (then inf) and their counts."""
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < 0.3).astype(int)
    s = np.clip(rng.normal(0.4 + 0.2 * y, 0.2), 0, 1)
    t = np.append(np.unique(s), np.inf)
    order = np.argsort(s)
    s_sorted, y_sorted = s[order], y[order]
    # Samples at or above each candidate: those from its first occurrence on.
    first = np.searchsorted(s_sorted, t, side="left")
    tp = np.append(np.cumsum(y_sorted[::-1])[::-1], 0)[first]
    fp = np.append(np.cumsum(1 - y_sorted[::-1])[::-1], 0)[first]
    p, q = y.sum(), (1 - y).sum()
    cms = np.stack([np.stack([q - fp, fp], -1), np.stack([p - tp, tp], -1)], -2)
    return y, s, t, cms


def _data(fragment: str) -> dict:
    block = re.search(r'<script type="application/json" class="kc-data">(.*?)</script>',
                      fragment, re.S)
    return json.loads(block.group(1))


def test_data_block_cannot_be_closed_by_a_class_name():
    names = ["</script><script>alert(1)</script>", "<!-- & \u2028 </SCRIPT >"]
    _, _, t, cms = _curve(200)
    fragment = _explorer.binary_explorer(t, cms, class_names=names, threshold=0.5)
    # One data block and one script: no name opens or closes another.
    assert len(re.findall(r"</script", fragment, re.I)) == 2
    assert "<!--" not in fragment
    assert _data(fragment)["classes"] == names


def test_note_is_escaped_text_under_the_heading():
    _, _, t, cms = _curve(200)
    fragment = _explorer.binary_explorer(t, cms, threshold=0.5, note="<b>in-sample</b> & co")
    assert '<p class="kc-caution">&lt;b&gt;in-sample&lt;/b&gt; &amp; co</p>' in fragment
    assert "kc-caution\"" not in _explorer.binary_explorer(t, cms, threshold=0.5)


def test_policy_allows_the_explorer_script_by_its_hash_and_nothing_else():
    _, _, t, cms = _curve(200)
    fragment = _explorer.binary_explorer(t, cms, threshold=0.5)
    script = re.search(r"<script>(.*?)</script>", fragment, re.S).group(1)
    digest = base64.b64encode(hashlib.sha256(script.encode()).digest()).decode()
    assert f"script-src 'sha256-{digest}';" in _explorer.CSP
    assert _explorer.CSP.startswith("default-src 'none';")
    assert "unsafe-eval" not in _explorer.CSP and "http" not in _explorer.CSP
    page = _explorer.page("a <title>", fragment)
    assert "<title>a &lt;title&gt;</title>" in page
    assert page.index("Content-Security-Policy") < page.index("<script")


def test_integer_counts_keep_tp_and_fp_with_exact_totals():
    _, _, t, cms = _curve(2000)
    d = _data(_explorer.binary_explorer(t, cms, threshold=0.5))
    assert "tn" not in d and "fn" not in d
    tp, fp = np.array(d["tp"]), np.array(d["fp"])
    np.testing.assert_array_equal(d["positives"] - tp, cms[:, 1, 0])
    np.testing.assert_array_equal(d["negatives"] - fp, cms[:, 0, 0])
    assert d["thresholds"][-1] == "Infinity"


def test_weighted_counts_keep_all_four_cells():
    _, _, t, cms = _curve(500)
    w = cms * 0.37
    d = _data(_explorer.binary_explorer(t, w, threshold=0.5))
    np.testing.assert_array_equal(np.stack([d["tn"], d["fp"], d["fn"], d["tp"]], -1),
                                  w.reshape(-1, 4))


def test_long_curve_is_thinned_to_drawn_points_keeping_the_marked_candidates():
    _, s, t, cms = _curve(50_000)
    tuned = float(np.unique(s)[12_345])
    d = _data(_explorer.binary_explorer(t, cms, threshold=0.5, tuned=tuned,
                                        guarantee={"name": "recall", "floor": 0.9,
                                                   "confidence": 0.95, "bound": 0.91}))
    kept = np.array([float(x) for x in d["thresholds"]])
    assert kept.size <= 4_100
    # Each stored candidate keeps its own counts.
    index = np.searchsorted(t, kept)
    np.testing.assert_array_equal(t[index], kept)
    np.testing.assert_array_equal(d["tp"], cms[index, 1, 1])
    np.testing.assert_array_equal(d["fp"], cms[index, 0, 1])
    # The chosen threshold decides as the smallest score >= 0.5; the tuned one is kept.
    assert kept[d["chosen"]] == s[s >= 0.5].min()
    marks = {m["label"]: m for m in d["marks"]}
    assert kept[marks["tuned"]["index"]] == tuned
    assert marks["chosen"]["index"] == d["chosen"]
    assert kept[d["guarantee"]["index"]] == tuned and d["guarantee"]["holds"] == "below"


def test_multiclass_matrix_and_names_are_kept():
    cm = np.array([[5, 1, 0], [2, 7, 1], [0, 3, 9]])
    d = _data(_explorer.multiclass_explorer(cm, class_names=["a", "b", "<c>"]))
    assert d["matrix"] == cm.tolist() and d["classes"] == ["a", "b", "<c>"]


@pytest.mark.parametrize(("kwargs", "name"), [
    ({"thresholds": [0.5, 0.2]}, "thresholds"),
    ({"thresholds": [0.2, np.nan]}, "thresholds"),
    ({"threshold": np.nan}, "threshold"),
    ({"tuned": "0.4"}, "tuned"),
    ({"class_names": ["one"]}, "class_names"),
    ({"cost_matrix": [[0, 1]]}, "cost_matrix"),
    ({"guarantee": {"name": "recall", "floor": 0.9}}, "guarantee"),
    ({"guarantee": {"name": "recall", "floor": 0.9, "confidence": 1.5, "bound": 0.9}},
     "guarantee\\['confidence'\\]"),
])
def test_bad_arguments_raise_value_errors_naming_them(kwargs, name):
    args = {"thresholds": [0.2, 0.5], "confusion_matrices": np.ones((2, 2, 2)),
            "threshold": 0.5, **kwargs}
    with pytest.raises(ValueError, match=f"Argument `{name}`"):
        _explorer.binary_explorer(args.pop("thresholds"), args.pop("confusion_matrices"),
                                  **args)
