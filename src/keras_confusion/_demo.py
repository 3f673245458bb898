"""``keras-confusion demo``: the whole workflow on a small imbalanced data set.

The data set is derived at run time from scikit-learn's bundled digits (no download):
"is this digit an 8?", with the 8s subsampled to about 5 % of the samples, split
stratified into train (60 %), validation (20 %) and test (20 %). Missing an 8 is taken
to cost 5 times a false alarm (cost matrix ``[[0, 1], [5, 0]]``).

The same small network is trained with

1. binary cross-entropy, decided at 0.5;
2. binary cross-entropy with balanced class weights, at 0.5;
3. the model of (1) with its threshold tuned on the validation set for the cost;
4. the library's losses over soft confusion counts (F1, MCC, and specificity subject
   to a sensitivity of at least 0.8), with larger batches (a batch-level figure needs
   positives in each batch) and 1.5 times the epochs,

then the model with the lowest expected cost on the validation set is chosen (the test
set takes no part in the choice), every model is scored on the test set with bootstrap
intervals, the comparison is printed, and the HTML report of the chosen model is
written, the comparison above it.
"""

from __future__ import annotations

import time

import numpy as np

COST = np.array([[0.0, 1.0], [5.0, 0.0]])
CLASS_NAMES = ["other digit", "8"]


def load_data(seed: int = 0):
    """``(x, y)`` splits for train, validation and test: digits, 8 against the rest."""
    try:
        from sklearn.datasets import load_digits
    except ImportError:  # pragma: no cover - depends on the environment
        raise ImportError("the demo needs scikit-learn: pip install scikit-learn") from None
    x, digit = load_digits(return_X_y=True)
    rng = np.random.default_rng(seed)
    pos = np.flatnonzero(digit == 8)
    keep = np.r_[np.flatnonzero(digit != 8), rng.choice(pos, size=len(pos) // 2, replace=False)]
    x, y = (x[keep] / 16.0).astype("float32"), (digit[keep] == 8).astype("int64")
    splits = {}
    parts = {"train": [], "val": [], "test": []}
    for c in (0, 1):  # stratified 60/20/20
        idx = rng.permutation(np.flatnonzero(y == c))
        a, b = int(0.6 * len(idx)), int(0.8 * len(idx))
        parts["train"].append(idx[:a])
        parts["val"].append(idx[a:b])
        parts["test"].append(idx[b:])
    for name, idx in parts.items():
        idx = rng.permutation(np.concatenate(idx))
        splits[name] = (x[idx], y[idx])
    return splits


def _model(seed: int, loss, n_features: int, learning_rate: float):
    import keras

    keras.utils.set_random_seed(seed)
    model = keras.Sequential([
        keras.Input((n_features,)),
        keras.layers.Dense(32, activation="relu"),
        keras.layers.Dense(1, activation="sigmoid"),
    ])
    model.compile(optimizer=keras.optimizers.Adam(learning_rate), loss=loss)
    return model


def _library_losses(quick: bool):
    """(name, loss) pairs from keras_confusion.losses, or [] with a note if missing."""
    try:
        from keras_confusion import losses
    except ImportError as e:
        print(f"note: keras_confusion.losses is not available ({e}); "
              "skipping the library's losses")
        return []
    pairs = [("F1 loss (soft counts), 0.5", losses.FBetaLoss(beta=1.0))]
    if not quick:
        pairs += [("MCC loss (soft counts), 0.5", losses.MCCLoss()),
                  ("specificity loss, sensitivity >= 0.8, 0.5",
                   losses.SpecificityLoss(min_sensitivity=0.8))]
    return pairs


def validation_cost(y, s, threshold) -> float:
    """Expected cost per sample of deciding ``s >= threshold`` on labels ``y``."""
    from keras_confusion import formulas
    from keras_confusion._counting import count_matrix, decide

    cm = count_matrix(y, decide(s, threshold).astype(np.intp), 2)
    return float(formulas.expected_cost(cm, COST))


#: The comparison's test figures (class "8").
FIGURES = ("precision", "recall", "f1")


def comparison_text(comparison, chosen: int, n_val: int, n_test: int) -> str:
    """The recipes as text: ``comparison`` holds (name, validation cost, test report)."""
    from keras_confusion._text import cell_text

    width = max(len(name) for name, _, _ in comparison) + 2
    lines = [f"chosen on validation ({n_val} samples), reported on test ({n_test} samples): "
             "class '8', 95 % intervals, Bayesian bootstrap",
             f"{'model':<{width}}  {'val. cost':<9}" + "".join(f"  {f:<21}" for f in FIGURES)
             + f"  {'test expected cost':<21}  {'MCC':<6}"]
    for i, (name, val_cost, r) in enumerate(comparison):
        cost = r.overall["expected_cost"]
        mark = "* " if i == chosen else "  "
        lines.append(f"{mark + name:<{width}}  {val_cost:<9.3f}"
                     + "".join(f"  {cell_text(r, f, 1):<21}" for f in FIGURES)
                     + f"  {cost[0]:.3f} [{cost[1]:.3f}, {cost[2]:.3f}]"
                     + f"  {r.overall['mcc'][0]:.3f}")
    lines.append("* chosen: lowest expected cost on validation (the tuned threshold was "
                 "tuned there, so its validation cost is optimistic)")
    return "\n".join(lines)


def comparison_html(comparison, chosen: int, n_val: int, n_test: int) -> str:
    """The recipes as an HTML section (as `comparison_text`), the chosen one marked."""
    import html

    from keras_confusion._html import table
    from keras_confusion._text import cell_text

    esc = html.escape
    rows = []
    for i, (name, val_cost, r) in enumerate(comparison):
        cost = r.overall["expected_cost"]
        mark = ' class="kc-chosen"' if i == chosen else ""
        rows.append([f"<td{mark}>{esc(name)}{' (chosen)' if i == chosen else ''}</td>",
                     f"<td>{val_cost:.3f}</td>",
                     *(f"<td>{esc(cell_text(r, f, 1))}</td>" for f in FIGURES),
                     f"<td>{cost[0]:.3f} [{cost[1]:.3f}, {cost[2]:.3f}]</td>",
                     f"<td>{r.overall['mcc'][0]:.3f}</td>"])
    head = ["recipe", "validation expected cost", *(f"test {f} (class 8)" for f in FIGURES),
            "test expected cost", "test MCC"]
    return (f"<h1>keras-confusion demo: recipes chosen on validation, reported on test</h1>"
            f"<p>Digits, &quot;8&quot; against the rest; a missed 8 costs {COST[1, 0]:g} "
            f"false alarms. The recipe with the lowest expected cost on the validation set "
            f"({n_val} samples) is chosen; the test set ({n_test} samples) only reports, "
            "with 95% intervals (Bayesian bootstrap). The tuned threshold was tuned on the "
            "validation set, so its validation cost is optimistic.</p>"
            + table(head, rows))


def run(html: str | None = "keras-confusion-demo.html", epochs: int | None = None,
        seed: int = 0, quick: bool = False, png: str | None = None) -> int:
    """Train, compare and report; returns 0. ``quick`` trains fewer models for fewer
    epochs (for tests); ``png`` also writes the report's figure (docs/report.png)."""
    import keras

    from keras_confusion.decisions import tune_threshold
    from keras_confusion.report import report

    start = time.perf_counter()
    epochs = epochs or (1 if quick else 40)
    data = load_data(seed)
    (x_tr, y_tr), (x_val, y_val), (x_te, y_te) = data["train"], data["val"], data["test"]
    print(f"data: scikit-learn digits, '8' against the rest, 8s subsampled: "
          f"train {len(y_tr)} ({y_tr.sum()} positive), validation {len(y_val)} "
          f"({y_val.sum()}), test {len(y_te)} ({y_te.sum()}); cost of a miss = "
          f"{COST[1, 0]:g} x a false alarm; backend {keras.backend.backend()}, "
          f"{epochs} epochs per model")
    # Cross-entropy is a mean over samples: small batches, more steps. A soft-count
    # loss is one figure of the whole batch: larger batches hold enough positives.
    per_sample = {"epochs": epochs, "batch_size": 64, "learning_rate": 1e-2}
    per_batch = {"epochs": epochs if quick else int(1.5 * epochs), "batch_size": 256,
                 "learning_rate": 3e-3}

    rows = []  # (name, threshold, validation scores, test scores)

    def train(loss, settings, **kwargs):
        model = _model(seed, loss, x_tr.shape[1], settings["learning_rate"])
        # Labels as (N, 1), the shape of the sigmoid output.
        model.fit(x_tr, y_tr.astype("float32")[:, None], epochs=settings["epochs"],
                  batch_size=settings["batch_size"], verbose=0, **kwargs)
        return (lambda x: np.asarray(model.predict(x, batch_size=512, verbose=0),
                                     dtype="float64").ravel())

    def scores(predict):
        return predict(x_val), predict(x_te)

    predict = train("binary_crossentropy", per_sample)
    rows.append(("BCE, 0.5", 0.5, *scores(predict)))
    tuned = tune_threshold(y_val, rows[0][2], cost_matrix=COST)
    rows.append((f"BCE, threshold tuned for cost ({tuned.threshold:.3f})", tuned.threshold,
                 *rows[0][2:]))
    if not quick:
        from keras_confusion.weights import class_weights

        predict = train("binary_crossentropy", per_sample, class_weight=class_weights(y_tr))
        rows.append(("BCE + class weights, 0.5", 0.5, *scores(predict)))
    for name, loss in _library_losses(quick):
        predict = train(loss, per_batch)
        rows.append((name, 0.5, *scores(predict)))

    # Chosen on validation: the test set only reports. The tuned threshold was tuned on
    # the same validation set, so its validation cost is optimistic.
    val_costs = [validation_cost(y_val, s, t) for _, t, s, _ in rows]
    chosen = int(np.argmin(val_costs))
    reports = [(name, report(y_te, s, threshold=t, class_names=CLASS_NAMES, cost_matrix=COST,
                             bootstrap=1000, seed=seed)) for name, t, _, s in rows]
    comparison = [(name, cost, r) for (name, r), cost in zip(reports, val_costs, strict=True)]
    print()
    print(comparison_text(comparison, chosen, len(y_val), len(y_te)))
    best_name, best = reports[chosen]
    print()
    print(f"chosen on validation (lowest expected validation cost): {best_name}")
    print(best.to_text())
    if html:
        from keras_confusion._files import write_atomic
        from keras_confusion._html import report_html

        # The tuned threshold belongs to the cross-entropy model (rows 0 and 1).
        page = report_html(best, tuned=tuned if chosen < 2 else None,
                           title=f"The chosen model on the test set: {best_name}",
                           before=comparison_html(comparison, chosen, len(y_val), len(y_te)))
        write_atomic(html, page.encode("utf-8"))
        print(f"wrote {html}")
    if png:
        import io

        from keras_confusion._files import write_atomic

        buf = io.BytesIO()
        best.plot().savefig(buf, format="png", dpi=72)
        write_atomic(png, buf.getvalue())
        print(f"wrote {png}")
    print(f"demo took {time.perf_counter() - start:.0f} s")
    return 0
