"""Validity and power of guaranteed thresholds, beside the empirical rule and MAPIE.

Every rule sees the same calibration draws from known score distributions (positives
Beta(5, 2), negatives Beta(2, 5)), where the population recall, specificity and
precision at any threshold are exact (scipy.stats.beta). For each floor:

* "floor held": in how many draws the population value at the chosen threshold meets
  the floor (a rule that refuses makes no claim, so a refusal counts as held; the
  refusals are shown on their own);
* "mean population <objective>": the population value of the objective at the chosen
  threshold, averaged over the draws (0 where a rule refused: no usable threshold).

Rules: the empirical choice (`tune_threshold` without a confidence: the floor met on
the calibration data), ours (``tune_threshold(..., confidence=c)``: the floor
guaranteed), and, when
``mapie`` is importable (it is not a dependency), MAPIE's
``BinaryClassificationController`` with its default 100-point grid, under
Bonferroni-Holm and under fixed-sequence testing.

Run: ``uv run python benchmarks/bench_guarantee.py [--draws 1000] [--markdown]``.
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np

os.environ.setdefault("KERAS_BACKEND", "jax")

# (floor formula, floor, objective, prevalence, n samples)
SCENARIOS = [
    ("recall", 0.9, "specificity", 0.05, 1000),
    ("specificity", 0.95, "recall", 0.2, 1000),
    ("precision", 0.9, "recall", 0.2, 1000),
]


def population(t, prevalence):
    from scipy import stats

    recall = stats.beta(5, 2).sf(t)
    fpr = stats.beta(2, 5).sf(t)
    tp, fp = prevalence * recall, (1 - prevalence) * fpr
    precision = tp / (tp + fp) if tp + fp > 0 else 1.0
    return {"recall": recall, "specificity": 1 - fpr, "precision": precision}


def draw(rng, n, prevalence):
    from scipy import stats

    y = (rng.random(n) < prevalence).astype("int64")
    s = np.where(y == 1, stats.beta(5, 2).rvs(n, random_state=rng),
                 stats.beta(2, 5).rvs(n, random_state=rng))
    return y, s


def empirical(y, s, name, floor, objective, confidence):
    from keras_confusion import tune_threshold

    return tune_threshold(y, s, objective, constraint=(name, floor)).threshold


def guaranteed(y, s, name, floor, objective, confidence):
    from keras_confusion import tune_threshold

    return tune_threshold(y, s, objective, constraint=(name, floor),
                          confidence=confidence).threshold


def mapie_rule(fwer_method):
    def rule(y, s, name, floor, objective, confidence):
        from mapie.risk_control import BinaryClassificationController

        risk, target = {"recall": ("recall", floor), "precision": ("precision", floor),
                        "specificity": ("fpr", 1.0 - floor)}[name]
        choice = {"specificity": "fpr", "recall": "recall"}[objective]
        controller = BinaryClassificationController(
            predict_function=lambda x: np.c_[1.0 - x[:, 0], x[:, 0]], risk=risk,
            target_level=float(target), confidence_level=confidence,
            best_predict_param_choice=choice,
            fwer_method=fwer_method)
        controller.calibrate(s[:, None], y)
        if controller.best_predict_param is None:
            raise ValueError("no valid threshold")
        return float(controller.best_predict_param)

    return rule


def run(draws, confidence, seed):
    rules = {"empirical (tune_threshold)": empirical, "guaranteed (ours)": guaranteed}
    try:
        import mapie  # noqa: F401

        rules["MAPIE, Bonferroni-Holm"] = mapie_rule("bonferroni_holm")
        rules["MAPIE, fixed sequence"] = mapie_rule("fixed_sequence")
    except ImportError:
        pass
    rows = []
    for name, floor, objective, prevalence, n in SCENARIOS:
        rng = np.random.default_rng(seed)
        data = [draw(rng, n, prevalence) for _ in range(draws)]
        for label, rule in rules.items():
            held, refused, value = 0, 0, []
            start = time.perf_counter()
            for y, s in data:
                try:
                    t = rule(y, s, name, floor, objective, confidence)
                except ValueError:
                    refused += 1
                    held += 1
                    value.append(0.0)
                    continue
                pop = population(t, prevalence)
                held += pop[name] >= floor
                value.append(pop[objective])
            rows.append({
                "floor": f"{name} >= {floor:g}", "objective": objective,
                "setting": f"n={n}, {prevalence:.0%} positives", "rule": label,
                "held": held / draws, "refused": refused / draws,
                "value": float(np.mean(value)),
                "ms": 1e3 * (time.perf_counter() - start) / draws})
    return rules, rows


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--draws", type=int, default=1000)
    parser.add_argument("--confidence", type=float, default=0.9)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--markdown", action="store_true", help="print a Markdown table")
    args = parser.parse_args(argv)
    rules, rows = run(args.draws, args.confidence, args.seed)
    if "MAPIE, fixed sequence" not in rules:
        print("(mapie is not installed: its rows are left out)")
    print(f"{args.draws} draws per floor, confidence {args.confidence:g}, seed {args.seed}")
    if args.markdown:
        print("\n| floor (objective; data) | rule | floor held | refused "
              "| mean population objective |")
        print("|---|---|---|---|---|")
        for r in rows:
            print(f"| {r['floor']} ({r['objective']}; {r['setting']}) | {r['rule']} "
                  f"| {r['held']:.1%} | {r['refused']:.1%} | {r['value']:.3f} |")
        return 0
    width = max(len(r["rule"]) for r in rows)
    for floor in dict.fromkeys(r["floor"] for r in rows):
        group = [r for r in rows if r["floor"] == floor]
        print(f"\n{floor}, maximise {group[0]['objective']} ({group[0]['setting']})")
        print(f"  {'rule':<{width}}  held    refused  mean pop. {group[0]['objective']:<11}"
              "  ms/draw")
        for r in group:
            print(f"  {r['rule']:<{width}}  {r['held']:6.1%}  {r['refused']:6.1%}   "
                  f"{r['value']:.3f}{'':<14}  {r['ms']:.1f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
