"""The ``keras-confusion`` command line: evaluate and tune on prediction files, and a demo.

::

    keras-confusion evaluate preds.parquet --label y --score p --tune f1 --html report.html
    keras-confusion evaluate parts/ --label y --score p --cost "0,1;20,0" --json report.json
    keras-confusion evaluate preds.csv --label y --score p0 --score p1 --score p2
    keras-confusion tune preds.csv --label y --score p --objective precision \\
        --constraint recall=0.95
    keras-confusion evaluate preds.csv --label y --score p --weight w
    keras-confusion demo

Files are CSV or Parquet (several files, or a directory of Parquet parts), read in
chunks so memory stays bounded for any number of rows:

* at a fixed threshold (or argmax, with several ``--score`` columns) each chunk is
  counted into the ``(K, K)`` matrix with one NumPy bincount and dropped;
* the bootstrap needs no second pass: replicas are drawn from the counts (see
  `keras_confusion.report`), so ``--bootstrap 1000`` costs the same on 100 rows or
  100 M rows;
* ``--tune`` (and ``--cost`` without ``--threshold``) needs the scores. Up to
  ``--exact-limit`` rows (5 M by default) they are kept in memory and the search is
  exact over every distinct score; beyond, scores must be probabilities in [0, 1] and
  are counted into 2**20 bins per class, so the search is exact over the thresholds
  ``k / 2**20`` (a resolution of about 1e-6) in 16 MB.

``--weight COL`` weights every sample (finite, >= 0): the matrix holds sums of
weights, the search and the curves are weighted, and the intervals take each cell's
Kish effective count (see `keras_confusion.report`).

Bad input exits with status 2 and one line saying what and where (file, column, row);
each output file is written whole (a temporary file, then a rename): a killed run
leaves the old file or the new one, never a partial one. The files are written before
the text is printed, and ``-`` as an output path is standard output.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

import numpy as np

from keras_confusion._counting import count_matrix, decide, tail_sums
from keras_confusion._io import (
    DEFAULT_CHUNK_ROWS,
    Chunk,
    InputError,
    check_chunk,
    count_rows,
    expand_paths,
    iter_chunks,
    read_cost_matrix,
)

EXACT_LIMIT = 5_000_000
TUNE_BINS = 1 << 20  # a power of two: score * bins is exact, so bins are exact thresholds
CURVE_BINS = 1 << 12  # curves for the HTML figure at a fixed threshold
PROGRESS_MIN_ROWS = 2_000_000


# --------------------------------------------------------------------- accumulation


class _Accumulator:
    """Counts a stream of chunks; keeps what tuning or the curves need, bounded."""

    def __init__(self, num_classes, threshold, *, tune, curve, exact_limit, weighted=False):
        self.k = num_classes
        self.threshold = threshold
        self.weighted = weighted
        self.counts = np.zeros((num_classes, num_classes),
                               dtype=np.float64 if weighted else np.int64)
        # Sums of squared weights per cell (weighted only): the intervals need them.
        self.squares = np.zeros((num_classes, num_classes)) if weighted else None
        self.rows = 0
        self.tune = tune
        self.exact_limit = exact_limit
        self.kept: list[tuple] | None = [] if tune else None  # (y, score, weights, origin)
        self.hist = None  # (2, bins) counts (sums of weights) of binary scores
        self.hist_sq = None  # (2, bins) sums of squared weights (weighted tuning)
        self.bins = TUNE_BINS if tune else CURVE_BINS
        self.curve = curve or tune

    def add(self, chunk, y):
        s, w = chunk.scores, chunk.weights
        n = len(y)
        self.rows += n
        if self.k == 2 and s.shape[1] == 1:
            score = s[:, 0]
            if self.tune:
                self._keep(chunk, y, score, w)
                return
            pred = decide(score, self.threshold)
            if w is not None:
                pred = pred.view(np.int8)
                self.counts += count_matrix(y, pred, 2, w)
                self.squares += count_matrix(y, pred, 2, w * w)
            else:
                # K = 2: three counts of booleans read 1 byte per row, several times
                # faster than building int64 codes for a bincount.
                pos = y.view(bool) if y.dtype.itemsize == 1 else y != 0
                tp, n_pos, n_pred = (np.count_nonzero(pred & pos), np.count_nonzero(pos),
                                     np.count_nonzero(pred))
                self.counts += np.array([[n - n_pos - n_pred + tp, n_pred - tp],
                                         [n_pos - tp, tp]])
            if self.curve:
                self._histogram(chunk, y, score, w, strict=False)
        else:
            pred = s.argmax(axis=1)
            self.counts += count_matrix(y, pred, self.k, w)
            if w is not None:
                self.squares += count_matrix(y, pred, self.k, w * w)

    def _keep(self, chunk, y, score, w):
        if self.kept is not None and self.rows <= self.exact_limit:
            # With where it came from: an error found when binning it names the row.
            self.kept.append((y.astype(np.int8), score.astype(np.float64), w,
                              Chunk(chunk.path, chunk.start, None, None)))
            return
        if self.kept is not None:  # past the limit: move what was kept into bins
            kept, self.kept = self.kept, None
            for ky, ks, kw, origin in kept:
                self._histogram(origin, ky, ks, kw, strict=True)
        self._histogram(chunk, y, score, w, strict=True)

    def _histogram(self, chunk, y, score, w, *, strict):
        if not self.curve:
            return
        outside = (score < 0) | (score > 1)
        if outside.any():
            if strict:
                row = int(np.argmax(outside))
                where = f"{chunk.path}: row {chunk.start + row + 1}: " if chunk else ""
                raise InputError(
                    f"{where}score {score[row]} is outside [0, 1]: tuning more than "
                    f"{self.exact_limit} rows bins probabilities in [0, 1]; pass "
                    "probabilities, or a larger --exact-limit")
            self.curve, self.hist = False, None  # no curve for scores that are not in [0, 1]
            return
        if self.hist is None:
            self.hist = np.zeros((2, self.bins), dtype=np.float64 if self.weighted else np.int64)
            self.hist_sq = np.zeros((2, self.bins)) if self.weighted else None
        if score.dtype.itemsize < 4:  # float16 * bins would overflow to inf
            score = score.astype(np.float32)
        b = np.minimum((score * self.bins).astype(np.intp), self.bins - 1)
        self.hist += count_matrix(y, b, 2, w, num_columns=self.bins)
        if w is not None:
            self.hist_sq += count_matrix(y, b, 2, w * w, num_columns=self.bins)

    def scores(self):
        """``(labels, scores, weights)`` for an exact search or from the bins."""
        if self.kept is not None:
            if not self.kept:
                return np.zeros(0, np.int8), np.zeros(0), None
            return (np.concatenate([k[0] for k in self.kept]),
                    np.concatenate([k[1] for k in self.kept]),
                    np.concatenate([k[2] for k in self.kept]) if self.weighted else None)
        # Each bin stands for its lower edge: score >= k / bins exactly when bin >= k.
        edges = np.arange(self.bins) / self.bins
        nz0, nz1 = np.flatnonzero(self.hist[0]), np.flatnonzero(self.hist[1])
        y = np.r_[np.zeros(nz0.size, np.int8), np.ones(nz1.size, np.int8)]
        return y, np.r_[edges[nz0], edges[nz1]], np.r_[self.hist[0, nz0], self.hist[1, nz1]]

    def total_weight(self) -> float:
        """The sum of the weights read so far (weighted only)."""
        if self.kept is not None:
            return float(sum(k[2].sum() for k in self.kept))
        if self.tune:
            return float(self.hist.sum()) if self.hist is not None else 0.0
        return float(self.counts.sum())

    def matrices_at(self, threshold):
        """Weighted tuning: ``(2, 2)`` sums of the weights and of their squares at
        ``score >= threshold``, each summed directly (not as a difference of sums, which
        could leave a residue in a cell that has no sample)."""
        if self.kept is not None:
            y, s, w = self.scores()
            pred = decide(s, threshold).view(np.int8)
            return count_matrix(y, pred, 2, w), count_matrix(y, pred, 2, w * w)
        # Binned: the threshold is an edge k / bins (or inf, k = bins).
        k = int(np.searchsorted(np.arange(self.bins) / self.bins, threshold, side="left"))
        return tuple(np.stack([h[:, :k].sum(axis=1), h[:, k:].sum(axis=1)], axis=1)
                     for h in (self.hist, self.hist_sq))

    def histogram_curve(self):
        """Candidates ascending and ``(T, 2, 2)`` counts at the bin edges."""
        if self.hist is None:
            return None
        # Bin k holds the scores in [k / bins, (k + 1) / bins): matrix k is at k / bins.
        return np.r_[np.arange(self.bins) / self.bins, np.inf], tail_sums(self.hist)


def _progress(paths, quiet):
    """A rich progress bar on long inputs in a terminal, else a no-op."""
    total = None if quiet else count_rows(paths)
    big = (total is not None and total >= PROGRESS_MIN_ROWS) or (
        total is None and sum(os.path.getsize(p) for p in paths) > 50 << 20)
    if quiet or not big or not sys.stderr.isatty():
        return None
    try:
        from rich.progress import Progress
    except ImportError:  # rich is optional: no bar
        return None
    return Progress(transient=True), total


def _stream(args, num_classes, threshold, *, tune, curve):
    columns = [args.label, *args.score] + ([args.weight] if args.weight is not None else [])
    for c in columns:
        if columns.count(c) > 1:
            raise InputError(f"column {c!r} is named {columns.count(c)} times in --label, "
                             "--score and --weight; each column has one role")
    paths = expand_paths(args.files)
    acc = _Accumulator(num_classes, threshold, tune=tune, curve=curve,
                       exact_limit=args.exact_limit, weighted=args.weight is not None)
    bar = _progress(paths, args.quiet)
    task = None
    if bar:
        bar[0].start()
        task = bar[0].add_task("reading", total=bar[1])
    try:
        for chunk in iter_chunks(paths, args.label, args.score, args.chunk_rows, args.weight):
            if len(chunk.labels) == 0:
                continue
            y = check_chunk(chunk, args.label, args.score, num_classes, args.weight)
            acc.add(chunk, y)
            if task is not None:
                bar[0].advance(task, len(y))
    finally:
        if bar:
            bar[0].stop()
    if acc.rows == 0:
        raise InputError(f"{', '.join(paths)}: no data rows")
    if acc.weighted and acc.total_weight() == 0:
        raise InputError(f"{', '.join(paths)}: column {args.weight!r}: every weight is 0; "
                         "expected a positive weight on at least one row")
    return acc


# ---------------------------------------------------------------------- arguments


def _formula_names():
    from keras_confusion import formulas

    return sorted(formulas.BY_NAME)


def _check_formula(option, name):
    """``name`` as a formula an option names, or InputError listing the known ones."""
    names = _formula_names()
    if name not in names:
        raise InputError(f"{option} {name!r}: unknown formula; expected one of "
                         f"{', '.join(names)}")
    return name


def _constraint(text):
    if text is None:
        return None
    name, sep, bound = text.partition("=")
    try:
        value = float(bound)
    except ValueError:
        value = None
    if not sep or not name.strip() or value is None or not np.isfinite(value):
        raise InputError(f"--constraint {text!r}: expected NAME=BOUND with a finite "
                         "BOUND, e.g. recall=0.95")
    name = name.strip().rstrip(">").strip()
    if name not in _formula_names():
        raise InputError(f"--constraint {text!r}: unknown formula {name!r}; expected one "
                         f"of {', '.join(_formula_names())}")
    lo, hi = _BOUND_RANGE.get(name, (0.0, 1.0))
    if not lo <= value <= hi:
        where = f"in [{lo:g}, {hi:g}]" if np.isfinite(hi) else f">= {lo:g}"
        raise InputError(f"--constraint {text!r}: a bound on {name} must be {where}; no "
                         "threshold on any data can meet this one")
    return (name, value)


# The values a formula can take, for checking a --constraint bound before any file is
# read; every other formula is a rate in [0, 1].
_BOUND_RANGE = {"mcc": (-1.0, 1.0), "cohen_kappa": (-1.0, 1.0), "youden_j": (-1.0, 1.0),
                "expected_cost": (0.0, np.inf)}


def _check_tuning(option, objective, cost, constraint):
    """Everything about tuning that needs no data, before any file is read."""
    if objective is not None:
        _check_formula(option, objective)
        if objective == "expected_cost" and cost is None:
            raise InputError(f"{option} expected_cost needs --cost MATRIX")
    _constraint(constraint)


# Python argument names in messages from the library, as the options that set them.
_OPTION_NAMES = {"constraint": "--constraint", "cost_matrix": "--cost"}


def _as_options(e: ValueError, objective_option: str) -> InputError:
    text = str(e)
    for arg, option in {**_OPTION_NAMES, "objective": objective_option,
                        "formula": objective_option}.items():
        text = text.replace(f"Argument `{arg}`", option).replace(f"Received: {arg}=",
                                                                 f"Received: {option}=")
    return InputError(text)


def _class_names(args, k):
    if args.class_names:
        names = [n.strip() for n in args.class_names.split(",")]
        if len(names) != k:
            raise InputError(f"--class-names {args.class_names!r}: {len(names)} names for "
                             f"{k} classes")
        return names
    return list(args.score) if k > 2 else None


def _tune(acc, args, cost, option):
    from keras_confusion.decisions import tune_threshold

    y, s, w = acc.scores()
    objective = args.objective if args.objective else ("expected_cost" if cost is not None
                                                       else "f1")
    try:
        return tune_threshold(y, s, objective, cost_matrix=cost,
                              constraint=_constraint(args.constraint), sample_weight=w)
    except InputError:
        raise
    except ValueError as e:
        raise _as_options(e, option) from None


def _check_outputs(args):
    """At most one output goes to standard output (``-``); checked before reading."""
    options = [f"--{o}" for o in ("json", "html", "plot") if getattr(args, o, None) == "-"]
    if len(options) > 1:
        raise InputError(f"{' and '.join(options)} are both '-': only one output can go "
                         "to standard output")


def _write(outputs):
    """Write the outputs (each whole, old or new); returns their paths."""
    from keras_confusion._files import write_all_atomic

    write_all_atomic(outputs)
    return [p for p, _ in outputs]


def _say(lines, written):
    """Print the text report after the files are written (so that a closed stdout,
    ``... | head``, loses no output); to stderr when an output took stdout (``-``)."""
    from keras_confusion._files import is_stdout

    to_stdout = [is_stdout(p) for p in written]
    out = sys.stderr if any(to_stdout) else sys.stdout
    for line in lines:
        print(line, file=out)
    for path, stdout in zip(written, to_stdout, strict=True):
        if not stdout:
            print(f"wrote {path}", file=out)


def _render(report_obj, extra, args):
    """Render every requested output and write them (each whole, old or new)."""
    outputs = []
    if getattr(args, "json", None):
        import json

        data = report_obj.to_dict()
        data.update(extra)
        outputs.append((args.json, json.dumps(data, indent=2).encode()))
    if getattr(args, "html", None):
        outputs.append((args.html, report_obj.to_html().encode("utf-8")))
    return _write(outputs)


def _evaluate(args) -> int:
    from keras_confusion.report import Report

    k = 2 if len(args.score) == 1 else len(args.score)
    cost = None
    if args.cost is not None:
        from keras_confusion._validation import check_cost_matrix

        cost = check_cost_matrix(read_cost_matrix(args.cost), k, name="--cost")
    binary = len(args.score) == 1
    tune = binary and (args.tune is not None or (cost is not None and args.threshold is None))
    if args.tune is not None and not binary:
        raise InputError("--tune: threshold tuning needs one --score column (binary); "
                         f"got {k} score columns (multiclass: decisions are the argmax)")
    if args.threshold is not None and not binary:
        raise InputError(f"--threshold: a threshold needs one --score column (binary); got {k} "
                         "score columns (multiclass: decisions are the argmax)")
    args.objective = args.tune
    if args.constraint and not tune:
        raise InputError("--constraint needs --tune OBJECTIVE")
    _check_tuning("--tune", args.tune, cost, args.constraint)
    _check_outputs(args)
    class_names = _class_names(args, k)
    threshold = 0.5 if args.threshold is None else args.threshold
    acc = _stream(args, k, threshold, tune=tune, curve=bool(args.html) and binary)
    extra, curve, cm, squares = {}, None, acc.counts, acc.squares
    if tune:
        result = _tune(acc, args, cost, "--tune")
        threshold = result.threshold
        if acc.weighted:
            cm, squares = acc.matrices_at(threshold)
        else:
            cm = np.rint(result.confusion_matrix).astype(np.int64)
        curve = (result.thresholds, result.confusion_matrices) if args.html else None
        extra["threshold_search"] = _result_dict(result, acc)
    elif args.html and binary:
        curve = acc.histogram_curve()
    report_obj = Report(cm, class_names=class_names, cost_matrix=cost,
                        bootstrap=args.bootstrap, seed=args.seed,
                        threshold=threshold if binary else None, curve=curve,
                        squared_weights=squares)
    lines = [report_obj.to_text()]
    if tune:
        lines.append(f"threshold tuned for {extra['threshold_search']['objective']}"
                     + _subject_to(args.constraint)
                     + f" ({extra['threshold_search']['method']})")
    _say(lines, _render(report_obj, extra, args))
    return 0


def _subject_to(constraint) -> str:
    """`` subject to recall >= 0.95``, from the parsed option (never its raw text)."""
    if not constraint:
        return ""
    name, bound = _constraint(constraint)
    return f" subject to {name} {'<=' if name == 'expected_cost' else '>='} {bound:g}"


def _result_dict(result, acc):
    from keras_confusion.report import json_number

    method = (f"exact over {acc.rows} scores" if acc.kept is not None
              else f"exact at thresholds k/{TUNE_BINS} (binned scores)")
    return {"objective": result.objective, "value": float(result.value),
            "threshold": json_number(float(result.threshold)),
            "constraint": None if result.constraint is None else list(result.constraint),
            "method": method}


def _tune_command(args) -> int:
    if len(args.score) != 1:
        raise InputError(f"--score: tune needs one score column (binary); got "
                         f"{len(args.score)} ({', '.join(args.score)})")
    cost = None
    if args.cost is not None:
        from keras_confusion._validation import check_cost_matrix

        cost = check_cost_matrix(read_cost_matrix(args.cost), 2, name="--cost")
    _check_tuning("--objective", args.objective, cost, args.constraint)
    _check_outputs(args)
    acc = _stream(args, 2, 0.5, tune=True, curve=False)
    result = _tune(acc, args, cost, "--objective")
    info = _result_dict(result, acc)
    from keras_confusion._counting import count_text

    if acc.weighted:
        tn, fp, fn, tp = acc.matrices_at(result.threshold)[0].ravel().tolist()
    else:
        tn, fp, fn, tp = np.rint(result.confusion_matrix).astype(np.int64).ravel().tolist()
    tn_, fp_, fn_, tp_ = (count_text(c) for c in (tn, fp, fn, tp))
    width = max(6, max(len(c) for c in (tn_, fp_, fn_, tp_)) + 2)
    lines = [f"threshold  {float(result.threshold)!r}  (positive when score >= threshold)",
             f"{result.objective:<10} {result.value:.6g}"
             + (f" {_subject_to(args.constraint)}" if args.constraint else ""),
             f"search     {info['method']}",
             "confusion matrix (rows: true, columns: predicted)",
             f"{'':<6}{'0':>{width}}{'1':>{width}}",
             f"{'0':<6}{tn_:>{width}}{fp_:>{width}}",
             f"{'1':<6}{fn_:>{width}}{tp_:>{width}}"]
    outputs = []
    if args.json:
        import json

        info["confusion_matrix"] = [[tn, fp], [fn, tp]]
        info["weighted"] = acc.weighted
        outputs.append((args.json, json.dumps(info, indent=2).encode()))
    if args.plot:
        import io

        from keras_confusion import plot

        buf = io.BytesIO()
        plot.threshold_curve(result).savefig(buf, format="png", dpi=100)
        outputs.append((args.plot, buf.getvalue()))
    _say(lines, _write(outputs))
    return 0


def _demo(args) -> int:
    from keras_confusion import _demo

    return _demo.run(html=args.html, epochs=args.epochs, seed=args.seed, quick=args.quick,
                     png=args.png)


def _positive_int(text):
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if v < 0:
        raise argparse.ArgumentTypeError(f"expected a number >= 0, got {text!r}")
    return v


def _at_least_one(text):
    v = _positive_int(text)
    if v < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 1, got {text!r}")
    return v


def _replicas(text):
    from keras_confusion.report import MAX_BOOTSTRAP

    v = _positive_int(text)
    if v == 1 or v > MAX_BOOTSTRAP:
        raise argparse.ArgumentTypeError(
            f"expected 0 (no intervals) or a number of replicas from 2 to {MAX_BOOTSTRAP}"
            f", got {text!r}")
    return v


def _finite(text):
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not np.isfinite(v):
        raise argparse.ArgumentTypeError(f"expected a finite number, got {text!r}")
    return v


def _input_args(p, score_help="score column; repeat once per class for multiclass scores"):
    p.add_argument("files", nargs="+", metavar="FILE",
                   help="CSV or Parquet files, or directories of Parquet parts "
                        "(Hive partitions included); each file is read once")
    p.add_argument("--label", required=True, metavar="COL",
                   help="column of true labels: 0/1, or class indices 0..K-1")
    p.add_argument("--score", required=True, action="append", metavar="COL",
                   help=score_help)
    p.add_argument("--weight", metavar="COL",
                   help="column of sample weights (finite, >= 0): weighted counts, search, "
                        "curves and intervals")
    p.add_argument("--cost", metavar="MATRIX",
                   help="cost matrix, rows true class, columns decision: '0,1;10,0', "
                        "JSON '[[0,1],[10,0]]', or a file holding either")
    p.add_argument("--constraint", metavar="NAME=BOUND",
                   help="with tuning: e.g. recall=0.95 (then the best objective)")
    p.add_argument("--json", metavar="PATH",
                   help="write the result as JSON ('-': standard output)")
    p.add_argument("--chunk-rows", type=_at_least_one, default=DEFAULT_CHUNK_ROWS,
                   help=f"rows per chunk (default {DEFAULT_CHUNK_ROWS})")
    p.add_argument("--exact-limit", type=_positive_int, default=EXACT_LIMIT,
                   help=f"tune exactly up to this many rows, binned beyond "
                        f"(default {EXACT_LIMIT})")
    p.add_argument("--quiet", action="store_true", help="no progress bar")


class _Parser(argparse.ArgumentParser):
    """argparse with errors on one line: ``keras-confusion: error: ...``, exit 2."""

    def error(self, message):
        self.exit(2, f"keras-confusion: error: {' '.join(message.split())}\n")


def _parser():
    parser = _Parser(
        prog="keras-confusion",
        description="Confusion matrices, reports and thresholds for model predictions.")
    sub = parser.add_subparsers(dest="command", required=True)

    ev = sub.add_parser("evaluate", help="report on a file of labels and scores")
    _input_args(ev)
    mode = ev.add_mutually_exclusive_group()
    mode.add_argument("--threshold", type=_finite, metavar="X",
                      help="binary: positive when score >= X (default 0.5)")
    mode.add_argument("--tune", metavar="OBJECTIVE",
                      help="binary: tune the threshold for a formula (f1, mcc, ...)")
    ev.add_argument("--class-names", metavar="A,B,...", help="comma-separated class names")
    ev.add_argument("--bootstrap", type=_replicas, default=1000, metavar="R",
                    help="draws for the intervals (Bayesian bootstrap, Jeffreys prior), "
                         "2 to 100000; 0 for none (default 1000)")
    ev.add_argument("--seed", type=_positive_int, default=0,
                    help="bootstrap seed (default 0)")
    ev.add_argument("--html", metavar="PATH",
                    help="write a self-contained HTML report ('-': standard output)")
    ev.set_defaults(func=_evaluate)

    tu = sub.add_parser("tune", help="tune a binary threshold and print its matrix")
    _input_args(tu, score_help="column of class-1 scores (one column: tuning is binary)")
    tu.add_argument("--objective", default=None, metavar="NAME",
                    help="formula to optimise (default f1; expected_cost with --cost)")
    tu.add_argument("--plot", metavar="PATH",
                    help="write the objective-versus-threshold PNG ('-': standard output)")
    tu.set_defaults(func=_tune_command)

    de = sub.add_parser("demo", help="train on a bundled imbalanced set and compare losses")
    de.add_argument("--html", default="keras-confusion-demo.html", metavar="PATH",
                    help="where to write the HTML report (default keras-confusion-demo.html)")
    de.add_argument("--png", metavar="PATH", help="also write the report's figure as PNG")
    de.add_argument("--epochs", type=_positive_int, default=None,
                    help="training epochs per model")
    de.add_argument("--seed", type=int, default=0)
    de.add_argument("--quick", action="store_true",
                    help="a reduced run (fewer epochs and models), for tests")
    de.set_defaults(func=_demo)
    return parser


def _detach_stdout():
    """Point a closed standard output at /dev/null, so that Python's flush at exit
    does not report the broken pipe again."""
    if sys.stdout is not sys.__stdout__ or sys.__stdout__ is None:
        return
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.__stdout__.fileno())
        os.close(devnull)
    except (OSError, ValueError):
        pass


def _one_line(e: BaseException) -> str:
    return " ".join(str(e).split()) or type(e).__name__


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status (2 for bad input).

    Args:
        argv: arguments without the program name. Defaults to `None` (``sys.argv``).

    Returns:
        0 on success, 2 when the input or the arguments are wrong.
    """
    parser = _parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as e:  # argparse has printed its one-line usage error
        return int(e.code or 0)
    try:
        return args.func(args)
    except (InputError, ValueError) as e:
        print(f"keras-confusion: error: {_one_line(e)}", file=sys.stderr)
        return 2
    except BrokenPipeError:
        # Standard output closed early (``... | head``): the output files are already
        # written. Quiet, with the status of a tool killed by SIGPIPE (128 + 13).
        _detach_stdout()
        return 141
    except OSError as e:  # an output that cannot be written (none was)
        what = f"{e.filename}: {e.strerror}" if e.filename and e.strerror else _one_line(e)
        print(f"keras-confusion: error: {what}", file=sys.stderr)
        return 2
    except ImportError as e:  # an optional dependency (pyarrow, matplotlib, scikit-learn)
        print(f"keras-confusion: error: {_one_line(e)}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
