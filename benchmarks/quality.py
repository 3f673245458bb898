"""Training quality on imbalanced data: which recipe wins for which target.

The question: does training for the confusion matrix beat cross-entropy with a tuned
threshold? Every recipe trains the same small network (standardized features, one
hidden layer of 64 ReLU units, logits out) with the same optimiser (Adam, learning rate
0.002), batch size (512) and number of gradient steps, on the same splits; only the
loss, the class weights and the decision rule differ. Each task is split per seed,
stratified, into train (50 %), validation (25 %, used only to tune thresholds) and test
(25 %, used only to report).

Tasks (all built from data scikit-learn ships, no download):

* ``breast_cancer_20``: breast cancer, malignant (positive) subsampled to 20 %;
* ``digits_8_5``: digits, "is it an 8?", the 8s subsampled to 5 %;
* ``covtype_like_2``: make_classification shaped like covertype (54 features, 10
  informative, 4 clusters per class), 2 % positives;
* ``noisy_1``: make_classification with 1 % positives and 10 % of the positive labels
  swapped with as many negative labels (label noise, rate kept at 1 %);
* ``digits_longtail_50`` (multiclass): digits with class ``k`` subsampled to
  ``180 * 50 ** (-k / 9)`` samples, a 1:50 long tail.

Targets: F1; specificity subject to sensitivity >= 0.9; expected cost per sample under
``[[0, 1], [10, 0]]`` (a missed positive costs ten false alarms); macro-F1 (multiclass).

Run: ``uv run python benchmarks/quality.py [--seeds 5] [--steps 600] [--tasks ...]``
(``KERAS_BACKEND`` defaults to jax). Prints Markdown tables of mean ± std over seeds
(``--markdown``: with the stamp line of ``benchmarks/_stamp.py`` above them);
``--json FILE`` also writes every per-seed number, and ``--from-json FILE`` prints the
tables of such a file again without training. ``--margin-check`` runs only a
supplement to the constrained target (see `margin_check`).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import time
import warnings

import numpy as np

os.environ.setdefault("KERAS_BACKEND", "jax")

COST = np.array([[0.0, 1.0], [10.0, 0.0]])
MIN_SENSITIVITY = 0.9
HIDDEN = 64
LEARNING_RATE = 0.002
BATCH_SIZE = 512
WARMUP_FRACTION = 0.25  # share of the steps trained with cross-entropy before the switch
SPLIT = (0.5, 0.25, 0.25)  # train, validation, test

# ---------------------------------------------------------------------------- tasks


def _subsample_positives(x, y, rate, rng):
    """Keep every negative and as many positives as give a positive ``rate``."""
    neg, pos = np.flatnonzero(y == 0), np.flatnonzero(y == 1)
    n_pos = round(rate * len(neg) / (1.0 - rate))
    keep = np.r_[neg, rng.choice(pos, size=n_pos, replace=False)]
    return x[keep], y[keep]


def breast_cancer_20(seed):
    from sklearn.datasets import load_breast_cancer

    x, target = load_breast_cancer(return_X_y=True)
    y = (target == 0).astype("int64")  # 0 is malignant in scikit-learn
    return _subsample_positives(x, y, 0.20, np.random.default_rng(seed))


def digits_8_5(seed):
    from sklearn.datasets import load_digits

    x, digit = load_digits(return_X_y=True)
    return _subsample_positives(x, (digit == 8).astype("int64"), 0.05,
                                np.random.default_rng(seed))


def covtype_like_2(seed):
    from sklearn.datasets import make_classification

    x, y = make_classification(n_samples=20000, n_features=54, n_informative=10,
                               n_redundant=10, n_clusters_per_class=4, weights=[0.98],
                               flip_y=0.0, class_sep=1.0, random_state=seed)
    return x, y.astype("int64")


def noisy_1(seed):
    from sklearn.datasets import make_classification

    x, y = make_classification(n_samples=40000, n_features=20, n_informative=8,
                               n_redundant=4, n_clusters_per_class=2, weights=[0.99],
                               flip_y=0.0, class_sep=1.5, random_state=seed)
    rng = np.random.default_rng(seed)
    pos, neg = np.flatnonzero(y == 1), np.flatnonzero(y == 0)
    n_flip = round(0.1 * len(pos))
    y = y.astype("int64")
    y[rng.choice(pos, n_flip, replace=False)] = 0
    y[rng.choice(neg, n_flip, replace=False)] = 1
    return x, y


def digits_longtail_50(seed):
    from sklearn.datasets import load_digits

    x, y = load_digits(return_X_y=True)
    rng = np.random.default_rng(seed)
    keep = []
    for k in range(10):
        idx = np.flatnonzero(y == k)
        n = max(3, round(180 * 50.0 ** (-k / 9)))
        keep.append(rng.choice(idx, size=min(n, len(idx)), replace=False))
    keep = np.concatenate(keep)
    return x[keep], y[keep].astype("int64")


BINARY_TASKS = {"breast_cancer_20": (breast_cancer_20, 0.20),
                "digits_8_5": (digits_8_5, 0.05),
                "covtype_like_2": (covtype_like_2, 0.02),
                "noisy_1": (noisy_1, 0.01)}
MULTICLASS_TASKS = {"digits_longtail_50": (digits_longtail_50, 50.0)}


def split(x, y, seed):
    """Stratified train/validation/test splits, standardized with the train statistics.

    Every class gets at least one sample in validation and in test.
    """
    rng = np.random.default_rng(seed + 1000)
    parts = ([], [], [])
    for c in np.unique(y):
        idx = rng.permutation(np.flatnonzero(y == c))
        n_val = max(1, round(SPLIT[1] * len(idx)))
        n_test = max(1, round(SPLIT[2] * len(idx)))
        parts[0].append(idx[n_val + n_test:])
        parts[1].append(idx[:n_val])
        parts[2].append(idx[n_val:n_val + n_test])
    out = []
    for p in parts:
        idx = rng.permutation(np.concatenate(p))
        out.append((x[idx], y[idx]))
    mean, std = out[0][0].mean(0), out[0][0].std(0)
    std[std == 0] = 1.0
    return [(((a - mean) / std).astype("float32"), b) for a, b in out]


# --------------------------------------------------------------------------- training


def train(data, loss, *, num_outputs, steps, seed, class_weight=None, warmup_loss=None,
          with_train=False):
    """Logits on validation and test (and train, ``with_train``) of the trained network.

    Every run takes ``steps`` gradient steps (whole epochs: the epoch count is rounded
    up); with ``warmup_loss`` the first ``WARMUP_FRACTION`` of the epochs use it, then
    training goes on with ``loss`` and the same optimiser state.
    """
    import keras

    (x_train, y_train), (x_val, _), (x_test, _) = data
    keras.utils.set_random_seed(seed)
    model = keras.Sequential([keras.Input((x_train.shape[1],)),
                              keras.layers.Dense(HIDDEN, activation="relu"),
                              keras.layers.Dense(num_outputs)])
    optimizer = keras.optimizers.Adam(LEARNING_RATE)
    epochs = max(1, math.ceil(steps / math.ceil(len(x_train) / BATCH_SIZE)))
    y_fit = y_train.astype("float32") if num_outputs == 1 else y_train
    schedule = [(loss, epochs)]
    if warmup_loss is not None:
        warm = max(1, round(WARMUP_FRACTION * epochs))
        schedule = [(warmup_loss, warm), (loss, epochs - warm)]
    for stage_loss, stage_epochs in schedule:
        model.compile(optimizer, loss=stage_loss)
        model.fit(x_train, y_fit, batch_size=BATCH_SIZE, epochs=stage_epochs, verbose=0,
                  class_weight=class_weight)

    def logits(x):
        out = np.asarray(keras.ops.convert_to_numpy(model(x, training=False)), "float64")
        return out[:, 0] if num_outputs == 1 else out

    if with_train:
        return logits(x_val), logits(x_test), logits(x_train)
    return logits(x_val), logits(x_test)


# --------------------------------------------------------------------------- decisions


def confusion(y, decisions, k=2):
    return np.bincount(y * k + decisions, minlength=k * k).reshape(k, k).astype("float64")


def binary_figures(y, logits, threshold):
    """Every binary figure of the decisions ``logits >= threshold``."""
    from keras_confusion import formulas

    cm = confusion(y, (logits >= threshold).astype("int64"))
    return {"f1": float(formulas.f1(cm)),
            "specificity": float(formulas.specificity(cm)),
            "sensitivity": float(formulas.recall(cm)),
            "cost": float(formulas.expected_cost(cm, COST))}


def tuned_threshold(target, y_val, s_val):
    from keras_confusion.decisions import tune_threshold

    if target == "f1":
        return tune_threshold(y_val, s_val, "f1").threshold
    if target == "spec_at_sens":
        return tune_threshold(y_val, s_val, "specificity",
                              constraint=("recall", MIN_SENSITIVITY)).threshold
    return tune_threshold(y_val, s_val, cost_matrix=COST).threshold


BAYES_LOGIT = math.log(COST[0, 1] / COST[1, 0])  # p >= 1 / 11, as a logit


# ----------------------------------------------------------------------------- recipes


def binary_runs(data, steps, seed):
    """{model name: (validation logits, test logits)} for every binary training."""
    import keras

    from keras_confusion import losses as L
    from keras_confusion.weights import class_weights

    bce = keras.losses.BinaryCrossentropy(from_logits=True)
    runs = {
        "ce": dict(loss=bce),
        "ce_cw": dict(loss=bce, class_weight=class_weights(data[0][1], "balanced")),
        "fbeta": dict(loss=L.FBetaLoss(1.0, from_logits=True)),
        "spec": dict(loss=L.SpecificityLoss(min_sensitivity=MIN_SENSITIVITY,
                                            from_logits=True)),
        "cost": dict(loss=L.CostLoss(COST, from_logits=True)),
    }
    for name in ("fbeta", "spec", "cost"):
        runs["warm_" + name] = dict(loss=runs[name]["loss"], warmup_loss=bce)
    return {name: train(data, num_outputs=1, steps=steps, seed=seed, **kw)
            for name, kw in runs.items()}


# (row label, model, decision) per target; a decision is "0.5", "tuned" or "bayes".
BINARY_RECIPES = {
    "f1": [
        ("cross-entropy @ 0.5", "ce", "0.5"),
        ("cross-entropy + class_weight @ 0.5", "ce_cw", "0.5"),
        ("cross-entropy, tuned threshold", "ce", "tuned"),
        ("cross-entropy + class_weight, tuned threshold", "ce_cw", "tuned"),
        ("FBetaLoss @ 0.5", "fbeta", "0.5"),
        ("FBetaLoss, tuned threshold", "fbeta", "tuned"),
        ("CE warm-up -> FBetaLoss @ 0.5", "warm_fbeta", "0.5"),
        ("CE warm-up -> FBetaLoss, tuned threshold", "warm_fbeta", "tuned"),
    ],
    "spec_at_sens": [
        ("cross-entropy @ 0.5", "ce", "0.5"),
        ("cross-entropy + class_weight @ 0.5", "ce_cw", "0.5"),
        ("cross-entropy, tuned threshold", "ce", "tuned"),
        ("cross-entropy + class_weight, tuned threshold", "ce_cw", "tuned"),
        ("SpecificityLoss(min_sensitivity=0.9) @ 0.5", "spec", "0.5"),
        ("SpecificityLoss(min_sensitivity=0.9), tuned threshold", "spec", "tuned"),
        ("CE warm-up -> SpecificityLoss @ 0.5", "warm_spec", "0.5"),
        ("CE warm-up -> SpecificityLoss, tuned threshold", "warm_spec", "tuned"),
    ],
    "cost": [
        ("cross-entropy @ 0.5", "ce", "0.5"),
        ("cross-entropy @ Bayes threshold p >= 1/11", "ce", "bayes"),
        ("cross-entropy + class_weight @ 0.5", "ce_cw", "0.5"),
        ("cross-entropy, tuned threshold", "ce", "tuned"),
        ("cross-entropy + class_weight, tuned threshold", "ce_cw", "tuned"),
        ("CostLoss @ 0.5", "cost", "0.5"),
        ("CostLoss, tuned threshold", "cost", "tuned"),
        ("CE warm-up -> CostLoss @ 0.5", "warm_cost", "0.5"),
        ("CE warm-up -> CostLoss, tuned threshold", "warm_cost", "tuned"),
    ],
}


def binary_results(data, runs):
    """{target: {row label: figures on test}} for one task and seed."""
    y_val, y_test = data[1][1], data[2][1]
    out = {}
    for target, rows in BINARY_RECIPES.items():
        out[target] = {}
        for label, model, decision in rows:
            s_val, s_test = runs[model]
            if decision == "0.5":
                t = 0.0  # logit of 0.5
            elif decision == "bayes":
                t = BAYES_LOGIT
            else:
                t = tuned_threshold(target, y_val, s_val)
            out[target][label] = binary_figures(y_test, s_test, t)
    return out


MULTICLASS_RECIPES = [
    ("cross-entropy, argmax", "ce", "argmax"),
    ("cross-entropy + class_weight, argmax", "ce_cw", "argmax"),
    ("cross-entropy, offsets tuned on validation", "ce", "tuned"),
    ("WeightedCrossentropy(inverse_sqrt), argmax", "wce", "argmax"),
    ("FBetaLoss(num_classes=10) macro, argmax", "fbeta", "argmax"),
    ("FBetaLoss macro, offsets tuned on validation", "fbeta", "tuned"),
    ("CE warm-up -> FBetaLoss macro, argmax", "warm_fbeta", "argmax"),
]


def multiclass_results(data, steps, seed):
    import keras

    from keras_confusion import formulas
    from keras_confusion import losses as L
    from keras_confusion.decisions import cost_decisions, tune_cost_offsets
    from keras_confusion.weights import class_weights

    y_train, y_val, y_test = data[0][1], data[1][1], data[2][1]
    k = 10
    ce = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    fbeta = L.FBetaLoss(1.0, num_classes=k, from_logits=True)
    runs = {
        "ce": dict(loss=ce),
        "ce_cw": dict(loss=ce, class_weight=class_weights(y_train, "balanced",
                                                          num_classes=k)),
        "wce": dict(loss=L.WeightedCrossentropy(
            class_weights(y_train, "inverse_sqrt", num_classes=k), num_classes=k,
            from_logits=True)),
        "fbeta": dict(loss=fbeta),
        "warm_fbeta": dict(loss=fbeta, warmup_loss=ce),
    }
    logits = {name: train(data, num_outputs=k, steps=steps, seed=seed, **kw)
              for name, kw in runs.items()}
    # Balanced error: a mistake on class i costs 1 / (its share of the training set), so
    # the tuned decision aims at the mean recall over classes, a proxy for macro-F1.
    prior = np.bincount(y_train, minlength=k) / len(y_train)
    cost = (1.0 - np.eye(k)) / prior[:, None]
    out = {}
    for label, model, decision in MULTICLASS_RECIPES:
        l_val, l_test = logits[model]
        if decision == "argmax":
            d = np.argmax(l_test, axis=1)
        else:
            p_val, p_test = _softmax(l_val), _softmax(l_test)
            offsets = tune_cost_offsets(y_val, p_val, cost).offsets
            d = cost_decisions(p_test, cost, offsets)
        out[label] = {"macro_f1": float(formulas.f1(confusion(y_test, d, k), average="macro"))}
    return {"macro_f1": out}


def _softmax(z):
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


# ------------------------------------------------------------------------------ tables


def _ms(values, digits=3):
    v = np.asarray(values)
    return f"{v.mean():.{digits}f} ± {v.std():.{digits}f}"


def tables(results, n_seeds):
    """Markdown tables: one per target, recipes as rows, tasks as columns."""
    lines = []
    titles = {"f1": "F1 on test (higher is better)",
              "spec_at_sens": ("Specificity on test, subject to sensitivity >= 0.9 "
                               "(cell: specificity mean ± std; mean sensitivity; "
                               "seeds meeting sensitivity >= 0.9 on test)"),
              "cost": "Expected cost per sample on test under [[0, 1], [10, 0]] "
                      "(lower is better)",
              "macro_f1": "Macro-F1 on test, multiclass (higher is better)"}
    for target, title in titles.items():
        tasks = [t for t in results if target in results[t][0]]
        if not tasks:
            continue
        lines += [f"### {title}", "", "| recipe | " + " | ".join(tasks) + " |",
                  "|---" * (len(tasks) + 1) + "|"]
        for label in results[tasks[0]][0][target]:
            cells = []
            for task in tasks:
                per_seed = [r[target][label] for r in results[task]]
                if target == "spec_at_sens":
                    # A guarantee the validation set cannot give is refused, not run.
                    kept = [f for f in per_seed if not f.get("refused")]
                    refused = (f"; refused on {len(per_seed) - len(kept)}/{len(per_seed)}"
                               if len(kept) < len(per_seed) else "")
                    if not kept:
                        cells.append(refused[2:])
                        continue
                    sens = [f["sensitivity"] for f in kept]
                    met = sum(s >= MIN_SENSITIVITY for s in sens)
                    cells.append(f"{_ms([f['specificity'] for f in kept])}; "
                                 f"sens {np.mean(sens):.3f}; {met}/{len(kept)}{refused}")
                else:
                    key = {"f1": "f1", "cost": "cost", "macro_f1": "macro_f1"}[target]
                    cells.append(_ms([f[key] for f in per_seed],
                                     4 if target == "cost" else 3))
            lines.append(f"| {label} | " + " | ".join(cells) + " |")
        lines.append("")
    return "\n".join(lines)


MARGIN_RECALL = 0.95
GUARANTEE_CONFIDENCE = 0.9


def margin_check(data, steps, seed):
    """Supplement to the constrained target, added after the main table was made.

    Two questions the main table raises: does tuning the threshold for recall >= 0.95
    on validation (a margin) keep sensitivity >= 0.9 on test, and does
    `SpecificityLoss` meet its constraint at 0.5 on its own training split?
    """
    import keras

    from keras_confusion import losses as L
    from keras_confusion.decisions import tune_threshold
    from keras_confusion.weights import class_weights

    bce = keras.losses.BinaryCrossentropy(from_logits=True)
    (_, y_train), (_, y_val), (_, y_test) = data
    out = {}
    for name, kw in (("cross-entropy", dict(loss=bce)),
                     ("cross-entropy + class_weight",
                      dict(loss=bce, class_weight=class_weights(y_train, "balanced")))):
        s_val, s_test = train(data, num_outputs=1, steps=steps, seed=seed, **kw)
        for bound in (MIN_SENSITIVITY, MARGIN_RECALL):
            t = tune_threshold(y_val, s_val, "specificity",
                               constraint=("recall", bound)).threshold
            out[f"{name}, tuned for recall >= {bound} on validation"] = \
                binary_figures(y_test, s_test, t)
        label = (f"{name}, recall >= {MIN_SENSITIVITY} guaranteed at confidence "
                 f"{GUARANTEE_CONFIDENCE} on validation")
        try:
            t = tune_threshold(y_val, s_val, "specificity",
                               constraint=("recall", MIN_SENSITIVITY),
                               confidence=GUARANTEE_CONFIDENCE).threshold
        except ValueError:  # too few validation positives to certify the floor
            out[label] = {"refused": True}
        else:
            out[label] = binary_figures(y_test, s_test, t)
    loss = L.SpecificityLoss(min_sensitivity=MIN_SENSITIVITY, from_logits=True)
    _, s_test, s_train = train(data, loss, num_outputs=1, steps=steps, seed=seed,
                               with_train=True)
    out["SpecificityLoss(min_sensitivity=0.9) @ 0.5, on the training split"] = \
        binary_figures(y_train, s_train, 0.0)
    out["SpecificityLoss(min_sensitivity=0.9) @ 0.5, on test"] = \
        binary_figures(y_test, s_test, 0.0)
    return {"spec_at_sens": out}


REFERENCE = {"f1": "cross-entropy, tuned threshold",
             "cost": "cross-entropy, tuned threshold",
             "macro_f1": "cross-entropy, offsets tuned on validation"}


def paired_tables(results):
    """Each recipe against cross-entropy with a tuned decision, seed by seed.

    The recipes of one seed share its split, so their difference is free of the
    split-to-split variation that dominates the std of the main tables. Cell: mean ±
    std over seeds of how much better the recipe is (higher F1, lower cost), then the
    seeds on which it is better / worse.
    """
    lines = []
    for target, reference in REFERENCE.items():
        tasks = [t for t in results if target in results[t][0]]
        if not tasks:
            continue
        sign = -1.0 if target == "cost" else 1.0
        lines += [f"### {target}: better than \"{reference}\" by (paired over seeds; "
                  "seeds better / worse)", "",
                  "| recipe | " + " | ".join(tasks) + " |", "|---" * (len(tasks) + 1) + "|"]
        for label in results[tasks[0]][0][target]:
            if label == reference:
                continue
            cells = []
            for task in tasks:
                d = np.array([sign * (r[target][label][target] - r[target][reference][target])
                              for r in results[task]])
                digits = 4 if target == "cost" else 3
                cells.append(f"{_ms(d, digits)}; {int(np.sum(d > 1e-12))}/"
                             f"{int(np.sum(d < -1e-12))}")
            lines.append(f"| {label} | " + " | ".join(cells) + " |")
        lines.append("")
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--steps", type=int, default=600,
                        help="gradient steps per training run (whole epochs)")
    parser.add_argument("--tasks", nargs="*",
                        default=[*BINARY_TASKS, *MULTICLASS_TASKS])
    parser.add_argument("--json", help="write every per-seed figure to this file")
    parser.add_argument("--from-json", help="print the tables of a --json file; no training")
    parser.add_argument("--margin-check", action="store_true",
                        help="only the supplement to the constrained target (binary tasks)")
    parser.add_argument("--markdown", action="store_true",
                        help="print the stamp line (script, commit, date, machine) above "
                             "the tables, for QUALITY.md and the README")
    args = parser.parse_args(argv)
    from _stamp import stamp  # benchmarks/ is on the path of a script run

    if args.from_json:
        with open(args.from_json) as f:
            saved = json.load(f)
        if args.markdown:  # the stamp of the run that made the file, not of today
            print(saved.get("stamp") or "<!-- this file predates stamps: re-run to stamp it -->")
        print(f"backend {saved['backend']}, {saved['args']}")
        print(tables(saved["results"], saved["args"]["seeds"]))
        if not saved["args"].get("margin_check"):
            print(paired_tables(saved["results"]))
        print(f"run time {saved['seconds'] / 60:.1f} min wall, "
              f"{saved['cpu_seconds'] / 60:.1f} min CPU")
        return

    import keras

    run_stamp = stamp("benchmarks/quality.py")  # the commit that trains, before it runs
    start, cpu_start = time.perf_counter(), time.process_time()
    print(f"backend {keras.backend.backend()}, keras {keras.__version__}, "
          f"cpu count {os.cpu_count()}, load average {os.getloadavg()[0]:.1f}, "
          f"seeds {args.seeds}, steps {args.steps}, batch {BATCH_SIZE}", flush=True)
    results = {}
    tasks = [t for t in args.tasks if t in BINARY_TASKS] if args.margin_check else args.tasks
    for task in tasks:
        builder, _ = BINARY_TASKS.get(task) or MULTICLASS_TASKS[task]
        results[task] = []
        for seed in range(args.seeds):
            t0 = time.perf_counter()
            data = split(*builder(seed), seed)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # Keras' class_weight notices
                if args.margin_check:
                    r = margin_check(data, args.steps, seed)
                elif task in BINARY_TASKS:
                    r = binary_results(data, binary_runs(data, args.steps, seed))
                else:
                    r = multiclass_results(data, args.steps, seed)
            results[task].append(r)
            sizes = "/".join(str(len(d[1])) for d in data)
            pos = "" if task not in BINARY_TASKS else \
                f", positives {'/'.join(str(int(d[1].sum())) for d in data)}"
            print(f"{task} seed {seed}: train/val/test {sizes}{pos}, "
                  f"{time.perf_counter() - t0:.0f} s", flush=True)
    elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu_start
    print()
    if args.markdown:
        print(run_stamp)
    print(tables(results, args.seeds))
    if not args.margin_check:
        print(paired_tables(results))
    # CPU time of this process: what the wall time would be with its cores to itself
    # (the training steps are small and run mostly on one thread).
    print(f"run time {elapsed / 60:.1f} min wall, {cpu / 60:.1f} min CPU, "
          f"load average {os.getloadavg()[0]:.1f}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"args": vars(args), "backend": keras.backend.backend(),
                       "stamp": run_stamp, "seconds": elapsed, "cpu_seconds": cpu,
                       "results": results}, f, indent=1)


if __name__ == "__main__":
    main()
