"""The HTML report (`Report.to_html`) in a real headless Chromium, against NumPy counts.

Needs Debian's ``chromium`` and the ``playwright`` package (no browser download:
Playwright drives the system executable). Outside CI the tests skip when either is
missing; under CI (``CI`` set) they fail instead. Keras-free: CI runs them once.
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import numpy as np
import pytest

from keras_confusion import formulas

try:
    from playwright.sync_api import expect, sync_playwright
except ImportError:  # the browser fixture skips, or fails under CI
    expect = sync_playwright = None
from keras_confusion.report import report

pytestmark = pytest.mark.keras_free

CHROMIUM = os.environ.get("KC_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
COST = [[0.0, 1.0], [5.0, 0.0]]
WIDTHS = (1280, 390)


def _in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


@pytest.fixture(scope="module")
def browser():
    missing = []
    if sync_playwright is None:
        missing.append("the playwright package is not installed (uv sync installs it)")
    if not (os.path.isfile(CHROMIUM) and os.access(CHROMIUM, os.X_OK)):
        missing.append(f"no chromium at {CHROMIUM} (apt-get install chromium, as root)")
    if missing:
        reason = "browser tests need a headless Chromium: " + "; ".join(missing)
        if _in_ci():
            pytest.fail(reason + " (CI is set: not skipped)")
        pytest.skip(reason)
    with sync_playwright() as p:
        # --no-sandbox: CI and these machines run as root, where Chromium's sandbox refuses.
        b = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield b
        b.close()


class Page:
    """A page in a fresh context that records console errors and every request."""

    def __init__(self, browser, width, shots: Path):
        self.context = browser.new_context(viewport={"width": width, "height": 900})
        self.page = self.context.new_page()
        self.errors, self.requests, self.opened, self.shots = [], [], set(), shots
        self.page.on("console", lambda m: m.type == "error" and self.errors.append(m.text))
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        self.page.on("dialog", lambda d: (self.errors.append(f"dialog: {d.message}"),
                                          d.dismiss()))
        self.context.on("request", lambda r: self.requests.append(r.url))

    def open(self, path: Path, fragment: str = ""):
        self.opened.add(path.as_uri())
        self.page.goto(path.as_uri() + fragment)
        self.page.wait_for_selector("[data-kc=tp]")

    def number(self, key: str) -> float:
        return float(self.page.locator(f"[data-kc-explorer] [data-kc={key}]").first.inner_text())

    def shown(self):
        """The shown threshold and ``[[TN, FP], [FN, TP]]``."""
        return self.number("threshold"), self.matrix()

    def matrix(self):
        return np.array([[self.number("tn"), self.number("fp")],
                         [self.number("fn"), self.number("tp")]])

    def fits(self) -> bool:
        width, client = self.page.evaluate(
            "[document.documentElement.scrollWidth, document.documentElement.clientWidth]")
        return width <= client

    def shot(self, name: str):
        self.page.screenshot(path=str(self.shots / f"{name}.png"), full_page=True)

    def close(self):
        self.context.close()
        # Only the page itself: no request to any server, nor for any file beside it.
        others = [u for u in self.requests
                  if u not in self.opened and not u.startswith("data:")]
        assert others == [], others
        assert self.errors == [], self.errors


@pytest.fixture
def open_page(browser, tmp_path):
    pages = []

    def make(width=1280):
        pages.append(Page(browser, width, tmp_path))
        return pages[-1]

    yield make
    for p in pages:
        p.close()


# ------------------------------------------------------------------------- data


def _binary_data(n=6000, seed=0):
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < 0.2).astype(int)
    # Rounded: ties, and more distinct scores than the report keeps (it thins them).
    s = np.round(np.clip(rng.normal(0.35 + 0.3 * y, 0.2), 0, 1), 4)
    return y, s


def _count(y, s, t, w=None):
    """Brute force: ``[[TN, FP], [FN, TP]]`` of ``score >= t`` (weighted sums with w)."""
    w = np.ones(y.shape) if w is None else w
    pos = s >= t
    return np.array([[w[(y == 0) & ~pos].sum(), w[(y == 0) & pos].sum()],
                     [w[(y == 1) & ~pos].sum(), w[(y == 1) & pos].sum()]])


def _nearest(candidates, x):
    """The stored candidate nearest ``x`` (the lower one on a tie), as the page picks."""
    i = int(np.searchsorted(candidates, x, side="left"))
    if i == candidates.size:
        i -= 1
    elif i > 0 and candidates[i] != x and x - candidates[i - 1] <= candidates[i] - x:
        i -= 1
    return float(candidates[i])


@pytest.fixture(scope="module")
def pages(tmp_path_factory):
    """Where the pages are written; each page is built once (matplotlib takes ~1 s)."""
    return tmp_path_factory.mktemp("pages"), {}


def _built(pages, key, build):
    folder, done = pages
    if key not in done:
        path = folder / f"page-{len(done)}.html"
        done[key] = path, build(path)
    return done[key]


def _binary_page(pages, y, s, *, threshold=0.5, tuned=None, class_names=("ok", "fraud"),
                 sample_weight=None, guarantee=None):
    def build(path):
        r = report(y, s, threshold=threshold, class_names=list(class_names),
                   cost_matrix=COST, bootstrap=0, sample_weight=sample_weight)
        r.to_html(path, tuned=tuned, guarantee=guarantee)
        return r

    key = (y.tobytes(), s.tobytes(), threshold, tuned, class_names,
           None if sample_weight is None else sample_weight.tobytes(), repr(guarantee))
    return _built(pages, key, build)


def _multiclass_page(pages, y, scores, class_names):
    def build(path):
        r = report(y, scores, class_names=class_names, bootstrap=0)
        r.to_html(path)
        return r

    return _built(pages, (y.tobytes(), scores.tobytes(), tuple(class_names)), build)


def _assert_figures_match(page, cm):
    """The shown figures equal keras_confusion.formulas on ``cm`` (to the 4 digits shown)."""
    for name, fn in (("precision", formulas.precision), ("recall", formulas.recall),
                     ("specificity", formulas.specificity), ("f1", formulas.f1),
                     ("mcc", formulas.mcc), ("accuracy", formulas.accuracy)):
        assert page.number(name) == pytest.approx(float(fn(cm)), abs=5.1e-5), name


# ------------------------------------------------------------------------ tests


@pytest.mark.parametrize("fragment", ["0.5", "0.123", "0.90001", "0%2E3", "-5", "2",
                                      "inf", "1e-3"])
def test_linked_threshold_shows_nearest_candidate_with_numpy_counts(open_page, pages, fragment):
    y, s = _binary_data()
    path, r = _binary_page(pages, y, s)
    page = open_page()
    page.open(path, f"#threshold={fragment}")
    t, cm = page.shown()
    wanted = float(fragment.replace("%2E", "."))
    assert t == _nearest(r.curve[0], wanted)
    np.testing.assert_array_equal(cm, _count(y, s, t))
    _assert_figures_match(page, cm)
    cost = np.sum(cm * np.array(COST)) / cm.sum()
    assert page.number("expected_cost") == pytest.approx(cost, abs=5.1e-5)
    page.shot(f"binary-threshold-{fragment}")


def test_page_without_fragment_opens_at_the_reports_threshold(open_page, pages):
    y, s = _binary_data()
    path, r = _binary_page(pages, y, s, threshold=0.437)
    page = open_page()
    page.open(path)
    t, cm = page.shown()
    # The stored candidate that decides as 0.437 does: the smallest score >= 0.437.
    assert t == s[s >= 0.437].min()
    np.testing.assert_array_equal(cm, _count(y, s, 0.437))
    np.testing.assert_array_equal(cm, r.confusion_matrix)
    assert "the same decisions as the chosen threshold 0.437" in page.page.locator(
        ".kc-where").inner_text()


def test_arrow_keys_step_candidates_and_update_matrix_and_fragment(open_page, pages):
    y, s = _binary_data()
    path, r = _binary_page(pages, y, s)
    candidates = list(r.curve[0])
    page = open_page()
    page.open(path, "#threshold=0.5")
    start = candidates.index(page.number("threshold"))
    slider = page.page.locator(".kc-slider")
    slider.focus()
    for _ in range(3):
        slider.press("ArrowRight")
    t, cm = page.shown()
    assert t == candidates[start + 3]
    np.testing.assert_array_equal(cm, _count(y, s, t))
    assert page.page.evaluate("location.hash") == f"#threshold={t!r}"
    slider.press("ArrowLeft")
    t, cm = page.shown()
    assert t == candidates[start + 2]
    np.testing.assert_array_equal(cm, _count(y, s, t))
    assert page.page.evaluate("location.hash") == f"#threshold={t!r}"
    page.shot("binary-after-arrow-keys")
    # With nothing focused, the arrow keys step the explorer too.
    page.page.evaluate("document.activeElement.blur()")
    page.page.keyboard.press("ArrowLeft")
    assert page.number("threshold") == candidates[start + 1]
    np.testing.assert_array_equal(page.matrix(), _count(y, s, candidates[start + 1]))


def test_slider_ends_are_everything_and_nothing_positive(open_page, pages):
    y, s = _binary_data()
    path, _ = _binary_page(pages, y, s)
    page = open_page()
    page.open(path)
    slider = page.page.locator(".kc-slider")
    slider.focus()
    slider.press("Home")
    t, cm = page.shown()
    assert t == s.min()
    np.testing.assert_array_equal(cm, [[0, (y == 0).sum()], [0, (y == 1).sum()]])
    slider.press("End")
    t, cm = page.shown()
    assert t == np.inf
    np.testing.assert_array_equal(cm, [[(y == 0).sum(), 0], [(y == 1).sum(), 0]])
    assert page.page.evaluate("location.hash") == "#threshold=inf"


def test_typed_threshold_snaps_to_nearest_candidate(open_page, pages):
    y, s = _binary_data()
    path, r = _binary_page(pages, y, s)
    page = open_page()
    page.open(path)
    field = page.page.locator(".kc-field")
    field.fill("0.61234")
    field.press("Enter")
    t, cm = page.shown()
    assert t == _nearest(r.curve[0], 0.61234)
    np.testing.assert_array_equal(cm, _count(y, s, t))
    assert page.page.evaluate("location.hash") == f"#threshold={t!r}"
    field.fill("not a number")
    field.press("Enter")
    assert page.number("threshold") == t  # unchanged, and said so
    assert "not a number" in page.page.locator(".kc-status").inner_text()


def test_changed_fragment_moves_the_explorer(open_page, pages):
    y, s = _binary_data()
    path, r = _binary_page(pages, y, s)
    page = open_page()
    page.open(path, "#threshold=0.2")
    page.page.evaluate("location.hash = '#threshold=0.7'")
    expect(page.page.locator("[data-kc=threshold]")).to_have_text(
        repr(_nearest(r.curve[0], 0.7)))
    t, cm = page.shown()
    np.testing.assert_array_equal(cm, _count(y, s, t))


def test_tuned_and_chosen_marks_jump_to_their_exact_counts(open_page, pages):
    y, s = _binary_data()
    # A tuned threshold from the scores, as tune_threshold chooses one.
    tuned = float(np.unique(s)[1234])
    path, _ = _binary_page(pages, y, s, threshold=0.5, tuned=tuned)
    page = open_page()
    page.open(path, "#threshold=0.9")
    page.page.locator("[data-kc-mark=tuned]").click()
    t, cm = page.shown()
    assert t == tuned
    np.testing.assert_array_equal(cm, _count(y, s, tuned))
    page.page.locator("[data-kc-mark=chosen]").click()
    np.testing.assert_array_equal(page.matrix(), _count(y, s, 0.5))
    page.shot("binary-marks")


def test_copy_button_copies_the_shown_threshold(open_page, pages):
    y, s = _binary_data()
    path, _ = _binary_page(pages, y, s)
    page = open_page()
    page.open(path, "#threshold=0.42")
    page.page.locator("button", has_text="copy threshold").click()
    shown = page.page.locator("[data-kc=threshold]").inner_text()
    # Copied through the clipboard API, or (no clipboard permission) its fallback.
    expect(page.page.locator(".kc-status")).to_have_text(
        re.compile(f"^(copied|copy this:) {re.escape(shown)}$"))


def test_weighted_counts_shown_equal_numpy_weighted_sums(open_page, pages):
    y, s = _binary_data(n=3000, seed=1)
    w = np.random.default_rng(2).uniform(0.5, 3.0, y.size)
    path, r = _binary_page(pages, y, s, sample_weight=w)
    page = open_page()
    for x in ("0.3", "0.55", "0.8"):
        page.open(path, f"#threshold={x}")
        t, cm = page.shown()
        assert t == _nearest(r.curve[0], float(x))
        # Shown to 6 significant digits.
        np.testing.assert_allclose(cm, _count(y, s, t, w), rtol=5e-6)


@pytest.mark.parametrize("name", ["recall", "precision"])
def test_guarantee_floor_is_shown_with_where_it_holds(open_page, pages, name):
    y, s = _binary_data()
    tuned = 0.4
    path, _ = _binary_page(pages, y, s, tuned=tuned, guarantee={
        "name": name, "floor": 0.9, "confidence": 0.95, "bound": 0.912})
    page = open_page()
    page.open(path, "#threshold=0.4")
    assert page.number("floor") == 0.9
    status = page.page.locator(".kc-guarantee-status")
    assert "This is the guaranteed threshold" in status.inner_text()
    page.open(path, "#threshold=0.2")
    # Recall can only be higher at a lower threshold; precision can be anything.
    assert ("holds here too" in status.inner_text()) == (name == "recall")
    page.open(path, "#threshold=0.6")
    assert "Not guaranteed" in status.inner_text()
    page.shot(f"binary-guarantee-{name}")


def test_page_policy_refuses_network_requests(open_page, pages):
    y, s = _binary_data(n=500)
    path, _ = _binary_page(pages, y, s)
    page = open_page()
    page.open(path)
    policy = page.page.locator("meta[http-equiv=Content-Security-Policy]").get_attribute(
        "content")
    assert "default-src 'none'" in policy and "connect-src" not in policy
    # A request the page's script might make is refused by the policy, before any network.
    violations = page.page.evaluate("""() => new Promise(resolve => {
        const seen = [];
        document.addEventListener('securitypolicyviolation', e => seen.push(e.violatedDirective));
        const img = new Image();
        img.src = 'http://127.0.0.1:9/pixel.png';
        document.body.appendChild(img);
        fetch('http://127.0.0.1:9/').catch(() => null).finally(
            () => setTimeout(() => resolve(seen), 200));
    })""")
    assert sorted(set(violations)) == ["connect-src", "img-src"]
    page.errors.clear()  # the refusals, logged as errors, are what this test provoked
    page.requests = [u for u in page.requests if "127.0.0.1:9" not in u]


@pytest.mark.parametrize("width", WIDTHS)
def test_binary_page_fits_the_window_without_horizontal_scroll(open_page, pages, width):
    y, s = _binary_data()
    long = "fraudulent transactions flagged by the review team"
    path, _ = _binary_page(pages, y, s, class_names=("legitimate", long), tuned=0.4,
                           guarantee={"name": "recall", "floor": 0.9, "confidence": 0.95,
                                      "bound": 0.91})
    page = open_page(width)
    page.open(path, "#threshold=0.4")
    assert page.fits()
    figure = page.page.locator(".kc-plot").first.bounding_box()
    assert figure["x"] + figure["width"] <= width
    page.shot(f"binary-{width}px")


@pytest.mark.parametrize("width", WIDTHS)
def test_multiclass_page_fits_the_window_without_horizontal_scroll(open_page, pages,
                                                                  width):
    y, scores = _multiclass_data(k=12)
    names = [f"species number {i} of the survey" for i in range(12)]
    path, _ = _multiclass_page(pages, y, scores, names)
    page = open_page(width)
    page.open(path)
    assert page.fits()
    page.shot(f"multiclass-{width}px")


def _multiclass_data(k=5, n=3000, seed=3):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, k, n)
    scores = rng.random((n, k))
    scores[np.arange(n), y] += 0.5
    return y, scores


def test_multiclass_click_shows_one_vs_rest_numpy_counts(open_page, pages):
    y, scores = _multiclass_data()
    pred = scores.argmax(axis=1)
    names = ["cat", "dog", "bird", "fish", "newt"]
    path, _ = _multiclass_page(pages, y, scores, names)
    page = open_page()
    page.open(path)
    for c in (0, 3, 4, 1):
        # Row headers and column headers both select the class.
        header = page.page.locator(f"[data-kc-class='{c}']").nth(c % 2)
        header.click()
        assert page.page.locator("[data-kc=class]").inner_text() == names[c]
        cm = _count((y == c).astype(int), (pred == c).astype(float), 0.5)
        np.testing.assert_array_equal(page.matrix(), cm)
        _assert_figures_match(page, cm)
    page.shot("multiclass-one-vs-rest")


def test_class_names_are_shown_as_written_and_never_run(open_page, pages):
    y, s = _binary_data(n=800)
    names = ("</script><script>alert(1)</script>", "<img src=x onerror=alert(2)> & \u2028")
    path, _ = _binary_page(pages, y, s, class_names=names)
    page = open_page()
    page.open(path)
    heads = page.page.locator(".kc-matrix thead th").all_inner_texts()
    assert heads[1:] == [f"predicted {n}" for n in names]
    assert page.page.locator("img[src=x]").count() == 0
    y3, scores = _multiclass_data(k=3, n=300)
    path, _ = _multiclass_page(pages, y3, scores, [*names, "a\"b'c"])
    page.open(path)
    assert page.page.locator("[data-kc-class]").all_inner_texts()[:3] == [
        *names, "a\"b'c"]
    # The dialog handler records any alert() as an error: close() asserts there is none.


def test_command_line_html_opens_at_the_tuned_threshold_with_numpy_counts(open_page, tmp_path):
    from keras_confusion.cli import main
    from keras_confusion.decisions import tune_threshold

    y, s = _binary_data(n=4000, seed=5)
    csv = tmp_path / "scores.csv"
    csv.write_text("y,p\n" + "".join(f"{a},{float(b)!r}\n" for a, b in zip(y, s, strict=True)))
    html = tmp_path / "cli.html"
    assert main(["evaluate", str(csv), "--label", "y", "--score", "p", "--tune", "f1",
                 "--bootstrap", "0", "--html", str(html), "--quiet"]) == 0
    tuned = tune_threshold(y, s, "f1").threshold
    page = open_page()
    page.open(html)
    t, cm = page.shown()
    assert t == tuned
    np.testing.assert_array_equal(cm, _count(y, s, tuned))
    assert page.page.locator("[data-kc-mark=tuned]").inner_text() == f"tuned {tuned!r}"
    page.page.locator(".kc-slider").focus()
    page.page.keyboard.press("ArrowLeft")
    t, cm = page.shown()
    assert t < tuned
    np.testing.assert_array_equal(cm, _count(y, s, t))
    page.shot("command-line-tuned")


def test_command_line_multiclass_html_shows_one_vs_rest_numpy_counts(open_page, tmp_path):
    from keras_confusion.cli import main

    y, scores = _multiclass_data(k=3, n=900)
    csv = tmp_path / "scores.csv"
    csv.write_text("y,a,b,c\n" + "".join(f"{t}," + ",".join(repr(float(v)) for v in r) + "\n"
                                          for t, r in zip(y, scores, strict=True)))
    html = tmp_path / "cli.html"
    assert main(["evaluate", str(csv), "--label", "y", "--score", "a", "--score", "b",
                 "--score", "c", "--bootstrap", "0", "--html", str(html), "--quiet"]) == 0
    page = open_page()
    page.open(html)
    page.page.locator("[data-kc-class='2']").first.click()
    pred = scores.argmax(axis=1)
    np.testing.assert_array_equal(page.matrix(),
                                  _count((y == 2).astype(int), (pred == 2).astype(float), 0.5))
