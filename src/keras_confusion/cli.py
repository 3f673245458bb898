"""The ``keras-confusion`` command line: evaluate and tune on prediction files, and a demo.

::

    keras-confusion evaluate preds.parquet --label y --score p --tune f1 --html report.html
    keras-confusion evaluate parts/ --label y --score p --cost "0,1;20,0" --json report.json
    keras-confusion evaluate preds.csv --label y --score p0 --score p1 --score p2
    keras-confusion tune preds.csv --label y --score p --objective precision \\
        --constraint recall=0.95
    keras-confusion tune calib.csv --label y --score p --objective specificity \\
        --constraint recall=0.9 --confidence 0.95
    keras-confusion evaluate preds.csv --label y --score p --weight w
    keras-confusion evaluate lake/ --label y --score p --tune f1 --scheduler tcp://host:8786
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

``--tune`` (or ``--cost``) without ``--threshold`` chooses the threshold on the same
rows it reports on, so the figures at that threshold are optimistic. ``evaluate``
then reports cross-fitted figures as the headline (``--folds`` folds: each fold is
counted at the threshold tuned on the others, and the held-out matrices summed) and
the in-sample ones beside them. ``--confidence C`` with a floor ``--constraint``
chooses a threshold whose floor holds on new data with probability >= C (see
`keras_confusion.decisions.tune_threshold`).

``--weight COL`` weights every sample (finite, >= 0): the matrix holds sums of
weights, the search and the curves are weighted, and the intervals take each cell's
Kish effective count (see `keras_confusion.report`).

``--scheduler ADDRESS`` (``evaluate`` and ``tune``; ``pip install
'keras-confusion[dask]'``) runs the same work on a Dask cluster through
`keras_confusion.dask`, one task per file, each read in chunks on a worker; the JSON
is the one-machine JSON, bar cross-fitting and ``--confidence``, which need every score
on one machine (``evaluate --tune`` reports in-sample figures there, and says so).
Tuning there is exact at any size (the one-machine search bins beyond
``--exact-limit``; the cluster's counts only the bins that can win), so
``--exact-limit`` is refused beside it.

Bad input exits with status 2 and one line saying what and where (file, column, row);
each output file is written whole (a temporary file, then a rename): a killed run
leaves the old file or the new one, never a partial one. The files are written before
the text is printed, and ``-`` as an output path is standard output.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import warnings
from collections.abc import Sequence

import numpy as np

from keras_confusion._accumulate import EXACT_LIMIT, TUNE_BINS, Accumulator
from keras_confusion._counting import count_matrix, decide
from keras_confusion._io import (
    DEFAULT_CHUNK_ROWS,
    InputError,
    check_chunk,
    count_rows,
    expand_paths,
    iter_chunks,
    read_cost_matrix,
)

PROGRESS_MIN_ROWS = 2_000_000
CONNECT_TIMEOUT = "20s"  # --scheduler: how long to wait for the scheduler


class _ClusterRun:
    """What `_stream` returns with ``--scheduler``: the same counts, taken by the Dask
    engine (`keras_confusion.dask`) on the cluster, one task per file; tuning is its
    exact search. An error on a worker names the file and row as on one machine."""

    def __init__(self, args, paths, num_classes, threshold, *, tune, curve):
        args.connect()
        from keras_confusion import dask as engine

        self.engine, self.paths = engine, paths
        self.sources = engine.file_sources(paths, args.chunk_rows)
        self.cols = engine._Columns(args.label, tuple(args.score), args.weight, num_classes)
        self.weighted = args.weight is not None
        self.kept = True  # every search is exact ("exact over N scores")
        self.no_rows = InputError(f"{', '.join(paths)}: no data rows")
        self.no_weight = None if args.weight is None else InputError(
            f"{', '.join(paths)}: column {args.weight!r}: every weight is 0; expected a "
            "positive weight on at least one row")
        if not tune:
            acc = engine.count(self.sources, self.cols, threshold, curve=curve,
                               no_rows=self.no_rows)
            self.counts, self.squares, self.rows = acc.counts, acc.squares, acc.rows
            self.outside = acc.outside
            self.histogram_curve = acc.histogram_curve
            if self.weighted and float(acc.counts.sum()) == 0:
                raise self.no_weight
        else:
            self.counts = self.squares = None
            self.rows = 0

    def tune(self, objective, cost, constraint, formula_kwargs):
        result, self.rows = self.engine.tune_sources(
            self.sources, self.cols, objective, cost_matrix=cost, constraint=constraint,
            no_rows=self.no_rows, no_weight=self.no_weight, formula_kwargs=formula_kwargs)
        return result

    def matrices_at(self, threshold):
        acc = self.engine.count(self.sources, self.cols, threshold)
        return acc.counts, acc.squares


def _connect(address):
    """A ``distributed.Client`` of the scheduler at ``address`` (a context manager)."""
    try:
        from distributed import Client
    except ImportError:
        raise InputError("--scheduler needs dask and distributed: "
                         "pip install 'keras-confusion[dask]'") from None
    try:
        return Client(address, timeout=CONNECT_TIMEOUT)
    except (OSError, TimeoutError, ValueError) as e:
        raise InputError(f"--scheduler {address!r}: cannot connect ({_one_line(e)})") from None


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


def _check_roles(args):
    columns = [args.label, *args.score] + ([args.weight] if args.weight is not None else [])
    for c in columns:
        if columns.count(c) > 1:
            raise InputError(f"column {c!r} is named {columns.count(c)} times in --label, "
                             "--score and --weight; each column has one role")


def _stream(args, num_classes, threshold, *, tune, curve):
    _check_roles(args)
    if args.scheduler is not None and _was_given(args, "exact_limit"):
        raise InputError(f"--exact-limit {args.exact_limit} with --scheduler: the cluster's "
                         "search is always exact (it gathers only the rows of the bins that "
                         "can win), so the limit would be ignored; drop --exact-limit")
    paths = expand_paths(args.files)
    _check_not_inputs(args, paths)
    if args.scheduler is not None:
        return _ClusterRun(args, paths, num_classes, threshold, tune=tune, curve=curve)
    acc = Accumulator(num_classes, threshold, tune=tune, curve=curve,
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
    name = name.strip()
    if name.endswith(("<", "!")):
        raise InputError(f"--constraint {text!r}: a constraint is a bound to reach, written "
                         "NAME=BOUND or NAME>=BOUND (at least BOUND; at most for "
                         "expected_cost); '<=' and '!=' are not constraints")
    name = name.rstrip(">").strip()
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


def _figure_format(path: str, fig) -> str:
    """The format of a figure written to ``path``: by its suffix where matplotlib writes
    that format (``.svg``, ``.pdf``, ...; ``out.svg`` held PNG bytes), else PNG."""
    suffix = os.path.splitext(path)[1].lower().lstrip(".")
    return suffix if suffix in fig.canvas.get_supported_filetypes() else "png"


def _cost_matrix(args, k: int):
    """``--cost`` as a checked ``(k, k)`` array, or None."""
    if args.cost is None:
        return None
    from keras_confusion._validation import check_cost_matrix

    try:
        return check_cost_matrix(read_cost_matrix(args.cost), k, name="--cost")
    except InputError:
        raise
    except ValueError as e:
        e = ValueError(str(e).replace(f"num_classes={k}", f"the {k} classes of --score"))
        raise _as_options(e, "--cost", {"--cost": args.cost}) from None


def _check_tuning(option, objective, cost, constraint, confidence=None, weighted=False,
                  scheduler=None, *, given, tune=True, formula_kwargs=None):
    """Everything about tuning that needs no data, before any file is read; ``given``:
    the options' texts (`_given`), ``tune``: whether the run tunes a threshold."""
    pair = _constraint(constraint)
    if objective is not None:
        _check_formula(option, objective)
        if objective == "expected_cost" and cost is None:
            raise InputError(f"{option} expected_cost needs --cost MATRIX")
        if cost is not None and objective != "expected_cost" and (
                pair is None or pair[0] != "expected_cost"):
            raise InputError(f"{option} {objective!r} with --cost: the cost matrix is the "
                             f"objective (drop {option}, or give {option} expected_cost), or "
                             f"bounds it with --constraint expected_cost=MAX")
    if tune:
        # What `tune_threshold` refuses of these options alone (an expected_cost
        # constraint without --cost, a cost matrix under which every decision costs
        # the same), refused as it would refuse it, before the data is read.
        from keras_confusion.decisions import resolve_constraint, resolve_objective

        try:
            resolve_constraint(pair, cost)
            fn, _, kwargs, _, _ = resolve_objective(
                objective or ("expected_cost" if cost is not None else "f1"), cost,
                formula_kwargs or {}, None, None, constraint=pair)
            if formula_kwargs:  # their values are checked where the formula runs
                fn(np.ones((2, 2)), **kwargs)
        except ValueError as e:
            raise _as_options(e, option, given) from None
    if confidence is not None and scheduler is not None:
        raise InputError("--confidence cannot be used with --scheduler yet: the guarantee's "
                         "tests run on the client over every score; tune on one machine")
    if confidence is None:
        return
    from keras_confusion import _guarantee
    from keras_confusion.decisions import resolve_confidence, resolve_constraint

    floors = ", ".join(_guarantee.GUARANTEED)
    if not 0 < confidence < 1:
        raise InputError(f"--confidence {confidence!r}: expected a number in the open "
                         "interval (0, 1), e.g. 0.95")
    if pair is None:
        raise InputError(f"--confidence needs --constraint NAME=FLOOR, a floor on {floors}")
    if pair[0] not in _guarantee.GUARANTEED:
        raise InputError(f"--confidence needs a floor --constraint on {floors}; got "
                         f"{constraint!r}")
    if weighted:
        raise InputError("--confidence cannot be used with --weight: the exact tests count "
                         "rows")
    try:
        resolve_confidence(confidence, resolve_constraint(pair, cost))
    except ValueError as e:
        raise _as_options(e, option, {"--constraint": constraint,
                                      "--confidence": str(confidence)}) from None


# Python argument names in messages from the library, as the options that set them.
_OPTION_NAMES = {"constraint": "--constraint", "cost_matrix": "--cost",
                 "confidence": "--confidence", "folds": "--folds", "beta": "--beta",
                 "alpha": "--alpha"}


def _as_options(e: ValueError, objective_option: str, given=None) -> InputError:
    """The library's ``ValueError`` in the command line's words: each Python argument
    named as the option that sets it, and, where ``given`` (option -> text) has that
    option's text, "--option 'text': must be ..." instead of its Python value
    ("Received: --constraint=('npv', 0.99)", "--cost=array([[0., -1.], ...])")."""
    import re

    text = str(e)
    names = {**_OPTION_NAMES, "objective": objective_option, "formula": objective_option,
             **{o: o for o in given or {}}}
    m = re.fullmatch(r"Argument `([^`]+)` must be (.*)\. Received: \1=.*", text, re.S)
    if m and names.get(m.group(1)) in (given or {}):
        option = names[m.group(1)]
        return InputError(f"{option} {given[option]!r}: must be {m.group(2)}")
    for arg, option in names.items():
        text = text.replace(f"Argument `{arg}`", option).replace(f"Received: {arg}=",
                                                                 f"Received: {option}=")
    return InputError(text)


def _given(args, objective_option) -> dict:
    """The text of the tuning options given, by option, for `_as_options`."""
    texts = {"--constraint": args.constraint, "--cost": args.cost,
             "--confidence": args.confidence,
             **{f"--{n}": _number_text(getattr(args, n, None)) for n in ("beta", "alpha")},
             objective_option: getattr(args, objective_option[2:])}
    return {o: str(v) for o, v in texts.items() if v is not None}


def _number_text(v):
    """A number as typed: ``2`` for 2.0, ``0.25`` as it is; None stays None."""
    return None if v is None else str(int(v)) if float(v).is_integer() else str(v)


def _was_given(args, dest: str) -> bool:
    """Whether the option of ``dest`` was on the command line (`_StoreOnce`)."""
    return dest in getattr(args, "_given_options", ())


def _class_names(args, k):
    if args.class_names is not None:
        names = [n.strip() for n in args.class_names.split(",")]
        if len(names) != k or not all(names):
            empty = "" if all(names) else " (some empty)"
            raise InputError(f"--class-names {args.class_names!r}: {len(names)} names for "
                             f"{k} classes{empty}; expected {k} non-empty names separated "
                             "by commas")
        twice = next((n for n in names if names.count(n) > 1), None)
        if twice is not None:
            raise InputError(f"--class-names {args.class_names!r}: {twice!r} is given "
                             f"{names.count(twice)} times; expected {k} distinct names")
        return names
    return list(args.score) if k > 2 else None


# The formulas' own parameters the command line sets, by objective.
_OBJECTIVE_ARGS = {"fbeta": ("beta",), "tversky": ("alpha", "beta")}


def _objective_args(args, option) -> dict:
    """The objective's parameters given (``--beta``, ``--alpha``), as the formula's
    keyword arguments; InputError for one the objective does not take (it was
    ignored: ``--objective fbeta`` could only ever mean f1)."""
    taken = _OBJECTIVE_ARGS.get(args.objective, ())
    out = {}
    for name in ("alpha", "beta"):
        value = getattr(args, name, None)
        if value is None:
            continue
        if name not in taken:
            which = " or ".join(o for o, a in _OBJECTIVE_ARGS.items() if name in a)
            raise InputError(f"--{name} {_number_text(value)}: the parameter of {option} "
                             f"{which}; got {option} {args.objective or '(none)'}")
        out[name] = value
    constrained = args.constraint.partition("=")[0].rstrip(">").strip() \
        if getattr(args, "constraint", None) else None
    if out and constrained in _OBJECTIVE_ARGS:
        raise InputError(f"--{next(iter(out))} with --constraint {args.constraint!r}: the "
                         f"parameters apply to {option} only, and the constraint's "
                         f"{constrained} would take its defaults; constrain another formula")
    return out


def _args_text(kwargs) -> str:
    """``" (beta=2)"`` for an objective's parameters, or ``""``."""
    return f" ({', '.join(f'{k}={v:g}' for k, v in kwargs.items())})" if kwargs else ""


def _objective(args, cost):
    return args.objective if args.objective else ("expected_cost" if cost is not None
                                                  else "f1")


def _tuner(args, cost):
    """``tune(y, s, w) -> ThresholdResult`` with the command line's options."""
    from keras_confusion.decisions import tune_threshold

    kwargs = _objective_args(args, "--objective")

    def tune(y, s, w=None):
        return tune_threshold(y, s, _objective(args, cost), cost_matrix=cost,
                              constraint=_constraint(args.constraint), sample_weight=w,
                              confidence=args.confidence, **kwargs)

    return tune


def _tune(acc, args, cost, option):
    try:
        if isinstance(acc, _ClusterRun):
            return acc.tune(_objective(args, cost), cost, _constraint(args.constraint),
                            _objective_args(args, option))
        if args.confidence is not None and acc.kept is None:
            raise InputError(f"--confidence: a guarantee needs the exact search over every "
                             f"score; {acc.rows} rows exceed --exact-limit {args.exact_limit} "
                             "(raise it)")
        y, s, w = acc.scores()
        return _tuner(args, cost)(y, s, w)
    except InputError:
        raise
    except ValueError as e:
        raise _as_options(e, option, _given(args, option)) from None


def _cross_fit(acc, args, cost, result):
    """Cross-fitted counts of the tuning as the command line runs it, with the notes
    that say so; ``(None, None, notes)`` when they cannot be had."""
    from keras_confusion import _guarantee

    if args.folds == 0:
        return None, None, ["in-sample figures at the tuned threshold (--folds 0): "
                            "optimistic, the threshold was chosen on these same rows"]
    if isinstance(acc, _ClusterRun):
        return None, None, ["in-sample figures at the tuned threshold (--scheduler: "
                            "cross-fitting would gather every score on the client), "
                            "optimistic: the threshold was chosen on these same rows"]
    if acc.kept is None:
        return None, None, [f"in-sample figures at the tuned threshold: {acc.rows} rows "
                            "were binned, so no cross-fitting (the optimism of one "
                            "threshold chosen on that many rows is small)"]
    y, s, w = acc.scores()
    if args.folds > len(y) and _was_given(args, "folds"):
        raise InputError(f"--folds {args.folds}: more folds than rows ({len(y)}); expected "
                         f"at most {len(y)}, or 0 for in-sample figures")
    tune = _tuner(args, cost)
    try:
        cf = _guarantee.cross_fit(
            y, s, lambda *a: tune(*a).threshold, folds=args.folds, seed=args.seed,
            sample_weight=w)
    except ValueError as e:
        why = _one_line(_as_options(e, "--tune", {"--folds": str(args.folds)}))
        return None, None, [f"in-sample figures at the tuned threshold, optimistic: no "
                            f"cross-fitted estimate ({why})"]
    squares = None
    if w is not None:
        squares = sum(count_matrix(y[cf.fold == f], decide(s[cf.fold == f], t), 2,
                                   w[cf.fold == f] ** 2)
                      for f, t in enumerate(cf.thresholds))
    k = cf.folds
    notes = [f"figures: cross-fitted over {k} folds (each fold counted at the threshold "
             f"tuned on the other {k - 1}, the held-out matrices summed); the threshold "
             "shown is tuned on all rows",
             f"in-sample at that threshold (optimistic: chosen on these same rows): "
             f"{result.objective} {result.value:.4g}, matrix "
             f"{np.asarray(result.confusion_matrix).tolist()}"]
    return cf, squares, notes


def _file_key(path: str):
    """What an output path writes: standard output, an existing file (its device and
    inode, links followed) or a new file (its absolute path, links resolved)."""
    from keras_confusion._files import is_stdout

    if is_stdout(path):
        return "standard output"
    try:
        st = os.stat(path)
    except OSError:
        return os.path.realpath(path)
    return (st.st_dev, st.st_ino)


def _check_outputs(args, options=("json", "html", "plot")):
    """The outputs, checked before anything is read: each a path (``-``: standard
    output); no two writing one file (``-`` and ``/dev/stdout`` included: the
    second would silently replace or garble the first). `_stream` checks that none
    is an input file."""
    given = [(f"--{o}", getattr(args, o)) for o in options
             if getattr(args, o, None) is not None]
    seen = {}
    for option, path in given:
        if not path.strip():
            raise InputError(f"{option} {path!r}: expected a file path, or '-' for "
                             "standard output")
        if path.endswith(("/", os.sep)):  # the path of a directory, which may not exist
            raise InputError(f"{option} {path!r}: expected a file path, not a directory "
                             "(it ends with '/')")
        key = _file_key(path)
        if key in seen:
            other = seen[key]
            if key == "standard output":
                raise InputError(f"{other} and {option} both write to standard output: "
                                 "only one output can go to standard output")
            raise InputError(f"{other} and {option} both write to {path!r}: each output "
                             "needs its own file")
        seen[key] = option


def _check_not_inputs(args, paths):
    """No output is one of the input files (a typo such as ``--json preds.csv``
    replaced the data with the report), nor the file ``--cost`` reads, nor a new part
    of an input folder (``--json parts/report.csv``: the next run over ``parts/`` read
    the report as data, and failed on it)."""
    from keras_confusion._io import is_part_of

    inputs = {_file_key(f): (f"the input file {f!r}", "the data") for f in paths}
    cost = getattr(args, "cost", None)
    if cost is not None and os.path.isfile(cost):
        inputs.setdefault(_file_key(cost), (f"the --cost file {cost!r}", "the cost matrix"))
    folders = [f for f in args.files if os.path.isdir(f)]
    for option in ("json", "html", "plot"):
        path = getattr(args, option, None)
        same = None if path is None else inputs.get(_file_key(path))
        if same is not None:
            raise InputError(f"--{option} {path!r} is {same[0]}: writing it would destroy "
                             f"{same[1]}; choose another path")
        folder = None if path is None else next(
            (f for f in folders if is_part_of(path, f)), None)
        if folder is not None:
            raise InputError(f"--{option} {path!r} would be a part of the input folder "
                             f"{folder!r} (a data file's name in it): the next run over that "
                             "folder would read it as data; choose another path")


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


def _render(report_obj, extra, args, tuned=None):
    """Render every requested output and write them (each whole, old or new); ``tuned``,
    the `ThresholdResult` of --tune, is marked in the HTML's explorer."""
    outputs = []
    if getattr(args, "json", None):
        import json

        data = report_obj.to_dict()
        data.update(extra)
        outputs.append((args.json, json.dumps(data, indent=2).encode()))
    if getattr(args, "html", None):
        outputs.append((args.html, report_obj.to_html(tuned=tuned).encode("utf-8")))
    return _write(outputs)


def _evaluate(args) -> int:
    from keras_confusion._text import json_number
    from keras_confusion.report import Report

    k = 2 if len(args.score) == 1 else len(args.score)
    cost = _cost_matrix(args, k)
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
    for dest, option in (("folds", "--folds"), ("exact_limit", "--exact-limit")):
        if _was_given(args, dest) and not tune:  # else silently ignored
            raise InputError(f"{option} applies to tuning: it needs --tune OBJECTIVE (or "
                             "--cost without --threshold)")
    if _was_given(args, "folds") and args.folds and args.scheduler is not None:
        raise InputError(f"--folds {args.folds} with --scheduler: cross-fitting runs on one "
                         "machine (it needs every score on the client); with --scheduler "
                         "the figures are in-sample (drop --folds, or --scheduler)")
    if args.confidence is not None and not tune:
        raise InputError("--confidence needs --tune OBJECTIVE and --constraint NAME=FLOOR")
    _check_tuning("--tune", args.tune, cost, args.constraint, args.confidence,
                  weighted=args.weight is not None, scheduler=args.scheduler,
                  given=_given(args, "--tune"), tune=tune,
                  formula_kwargs=_objective_args(args, "--tune"))
    _check_outputs(args)
    class_names = _class_names(args, k)
    threshold = 0.5 if args.threshold is None else args.threshold
    acc = _stream(args, k, threshold, tune=tune, curve=bool(args.html) and binary)
    outside = getattr(acc, "outside", 0)
    if binary and not tune and args.threshold is None and outside:
        warnings.warn(f"{outside} of {acc.rows} scores lie outside [0, 1], decided at the "
                      "default threshold 0.5 as if they were probabilities: for logits give "
                      "--threshold 0 (or the logit of the threshold meant)", stacklevel=2)
    extra, curve, cm, squares, result = {}, None, acc.counts, acc.squares, None
    notes, guarantee, decision = [], None, None
    if tune:
        result = _tune(acc, args, cost, "--tune")
        threshold = result.threshold
        if acc.weighted:
            cm, squares = acc.matrices_at(threshold)
        else:
            cm = np.rint(result.confusion_matrix).astype(np.int64)
        curve = (result.thresholds, result.confusion_matrices) if args.html else None
        extra["threshold_search"] = _result_dict(result, acc, args)
        guarantee = result.guarantee
        cf, cf_squares, notes = _cross_fit(acc, args, cost, result)
        extra["threshold_search"]["in_sample"] = {
            "value": float(result.value),
            "confusion_matrix": (cm if acc.weighted else result.confusion_matrix).tolist()}
        extra["threshold_search"]["cross_fitted"] = None
        extra["threshold_search"]["headline"] = "in_sample"
        if cf is not None:
            from keras_confusion import formulas

            kwargs = _objective_args(args, "--tune") if cost is None or \
                result.objective != "expected_cost" else {"cost_matrix": cost}
            value = float(formulas.get(result.objective)(
                cf.confusion_matrix.astype("float64"), **kwargs))
            extra["threshold_search"]["cross_fitted"] = {
                "value": value, "confusion_matrix": cf.confusion_matrix.tolist(),
                "folds": cf.folds, "seed": args.seed,
                "thresholds": [json_number(float(x)) for x in cf.thresholds]}
            extra["threshold_search"]["headline"] = "cross_fitted"
            cm, squares = cf.confusion_matrix, cf_squares
            # The matrix is at no one threshold: "positive when score >= t" above it
            # read as if it were t's (it is each fold's, tuned on the other folds).
            decision = (f"threshold {threshold!r} tuned on all rows; the matrix and "
                        f"figures cross-fitted over {cf.folds} folds (see below)")
    elif args.html and binary:
        curve = _through(acc.histogram_curve(), threshold, cm)
        if curve is None:  # the page had no explorer and did not say why
            notes.append("No threshold explorer: the curve at a fixed threshold is a "
                         "histogram of scores in [0, 1], and some scores are outside it "
                         "(logits?); --tune gives the exact curve of any scores.")
    report_obj = Report(cm, class_names=class_names, cost_matrix=cost,
                        bootstrap=args.bootstrap, seed=args.seed,
                        threshold=threshold if binary else None, curve=curve,
                        squared_weights=squares, guarantee=guarantee, notes=notes,
                        decision=decision, num_rows=acc.rows if squares is not None else None)
    lines = [report_obj.to_text()]
    if tune:
        lines.append(f"threshold tuned for {extra['threshold_search']['objective']}"
                     + _args_text(extra["threshold_search"]["objective_args"])
                     + _subject_to(args.constraint)
                     + f" ({extra['threshold_search']['method']})")
    _say(lines, _render(report_obj, extra, args, tuned=result))
    return 0


def _through(curve, threshold, cm):
    """The histogram's curve (candidates ``k / bins``) with the report's own matrix at
    ``threshold`` among them: the explorer opens at the smallest candidate at or above
    the threshold, which must then decide as the threshold does (0.3 is no bin edge:
    without it the page opened at 0.300048828125 and showed that edge's counts)."""
    if curve is None:
        return None
    thresholds, cms = curve
    i = int(np.searchsorted(thresholds, threshold, side="left"))
    if i < thresholds.size and thresholds[i] == threshold:
        return curve
    return np.insert(thresholds, i, threshold), np.insert(cms, i, cm, axis=0)


def _subject_to(constraint) -> str:
    """`` subject to recall >= 0.95``, from the parsed option (never its raw text)."""
    if not constraint:
        return ""
    name, bound = _constraint(constraint)
    return f" subject to {name} {'<=' if name == 'expected_cost' else '>='} {bound:g}"


def _result_dict(result, acc, args):
    import inspect

    from keras_confusion import formulas
    from keras_confusion._text import guarantee_text, json_number

    method = (f"exact over {acc.rows} scores" if acc.kept is not None
              else f"exact at thresholds k/{TUNE_BINS} (binned scores)")
    guarantee = result.guarantee
    # Every parameter of the objective, the defaults too: "fbeta" alone is beta=1.
    given = _objective_args(args, "--objective")
    shown = {name: given.get(name, inspect.signature(formulas.get(result.objective))
                             .parameters[name].default)
             for name in _OBJECTIVE_ARGS.get(result.objective, ())}
    return {"objective": result.objective, "objective_args": shown,
            "value": float(result.value),
            "threshold": json_number(float(result.threshold)),
            "constraint": None if result.constraint is None else list(result.constraint),
            "method": method,
            "guarantee": None if guarantee is None else {
                **guarantee, "text": guarantee_text(guarantee)}}


def _tune_command(args) -> int:
    if len(args.score) != 1:
        raise InputError(f"--score: tune needs one score column (binary); got "
                         f"{len(args.score)} ({', '.join(args.score)})")
    cost = _cost_matrix(args, 2)
    _check_tuning("--objective", args.objective, cost, args.constraint, args.confidence,
                  weighted=args.weight is not None, scheduler=args.scheduler,
                  given=_given(args, "--objective"),
                  formula_kwargs=_objective_args(args, "--objective"))
    _check_outputs(args)
    acc = _stream(args, 2, 0.5, tune=True, curve=False)
    result = _tune(acc, args, cost, "--objective")
    info = _result_dict(result, acc, args)
    from keras_confusion._counting import count_text

    if acc.weighted:
        tn, fp, fn, tp = acc.matrices_at(result.threshold)[0].ravel().tolist()
    else:
        tn, fp, fn, tp = np.rint(result.confusion_matrix).astype(np.int64).ravel().tolist()
    tn_, fp_, fn_, tp_ = (count_text(c) for c in (tn, fp, fn, tp))
    width = max(6, max(len(c) for c in (tn_, fp_, fn_, tp_)) + 2)
    lines = [f"threshold  {float(result.threshold)!r}  (positive when score >= threshold)",
             f"{result.objective:<10} {result.value:.6g}"
             + _args_text(info["objective_args"])
             + (f" {_subject_to(args.constraint)}" if args.constraint else ""),
             f"search     {info['method']}",
             *([f"guarantee  {info['guarantee']['text']}"] if info["guarantee"] else []),
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
        fig = (plot.guarantee_curve(result) if result.confidence is not None
               else plot.threshold_curve(result))
        fig.savefig(buf, format=_figure_format(args.plot, fig), dpi=100)
        outputs.append((args.plot, buf.getvalue()))
    _say(lines, _write(outputs))
    return 0


def _demo(args) -> int:
    from keras_confusion import _demo

    _check_outputs(args, ("html", "png"))
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
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
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


def _folds(text):
    v = _positive_int(text)
    if v == 1:
        raise argparse.ArgumentTypeError("expected 0 (no cross-fitting) or at least 2 folds")
    return v


def _finite(text):
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not np.isfinite(v):
        raise argparse.ArgumentTypeError(f"expected a finite number, got {text!r}")
    if v == 0 and any(c in "123456789" for c in text.lower().partition("e")[0]):
        # 1e-400 reads as 0.0, which calls a score of 0 positive: not what was asked.
        raise argparse.ArgumentTypeError(
            f"expected a number float64 can hold, got {text!r} (it rounds to 0)")
    return v


def _input_args(p, score_help="score column; repeat once per class for multiclass scores"):
    p.add_argument("files", nargs="+", metavar="FILE",
                   help="CSV, TSV or Parquet files, or directories of their parts "
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
    p.add_argument("--beta", type=_finite, metavar="B",
                   help="the beta of an fbeta objective (default 1: f1; 2 weighs recall "
                        "twice) or of tversky (default 0.5, the weight of FN)")
    p.add_argument("--alpha", type=_finite, metavar="A",
                   help="the alpha of a tversky objective (default 0.5, the weight of FP)")
    p.add_argument("--confidence", type=_finite, metavar="C",
                   help="with a floor --constraint on recall, sensitivity, specificity, "
                        "precision or npv: choose a threshold whose floor holds on new data "
                        "with probability >= C (exact, distribution-free), e.g. 0.95; the "
                        "rows must be a calibration set used for nothing else")
    p.add_argument("--json", metavar="PATH",
                   help="write the result as JSON ('-': standard output)")
    p.add_argument("--chunk-rows", type=_at_least_one, default=DEFAULT_CHUNK_ROWS,
                   help=f"rows per chunk (default {DEFAULT_CHUNK_ROWS})")
    p.add_argument("--exact-limit", type=_positive_int, default=EXACT_LIMIT,
                   help=f"tune exactly up to this many rows, binned beyond "
                        f"(default {EXACT_LIMIT})")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument("--scheduler", metavar="ADDRESS",
                   help="run on the Dask cluster of this distributed scheduler "
                        "(tcp://host:8786): the same results, one task per file; tuning "
                        "is exact at any size, in-sample (no --folds, --confidence or "
                        "--exact-limit) (needs keras-confusion[dask])")


class _StoreOnce(argparse.Action):
    """argparse's ``store``, refusing an option given twice: the second replaced the
    first, and ``--constraint recall=0.9 --constraint precision=0.3`` tuned with no
    recall floor at all."""

    def __call__(self, parser, namespace, values, option_string=None):
        seen = namespace.__dict__.setdefault("_given_options", set())
        if self.dest in seen:
            parser.error(f"argument {'/'.join(self.option_strings)}: given twice; expected "
                         "once (the second would replace the first)")
        seen.add(self.dest)
        setattr(namespace, self.dest, values)


class _Parser(argparse.ArgumentParser):
    """argparse with errors on one line: ``keras-confusion: error: ...``, exit 2; an
    option that takes a value may be given once (`_StoreOnce`)."""

    def __init__(self, *args, **kwargs):
        import re  # argparse's own import: no cost

        super().__init__(*args, **kwargs)
        self.register("action", None, _StoreOnce)
        self.register("action", "store", _StoreOnce)
        # "--threshold -1e-3" read "-1e-3" as an option ("expected one argument"):
        # argparse (before Python 3.13) knows negative numbers without exponents only.
        self._negative_number_matcher = re.compile(
            r"^-(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$|^-inf(inity)?$", re.IGNORECASE)

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
                      help="binary: tune the threshold for a formula (f1, mcc, ...). The "
                           "in-sample figures at a threshold tuned on the same rows are "
                           "optimistic: the report's headline is cross-fitted (see --folds), "
                           "the in-sample figure is shown beside it")
    ev.add_argument("--class-names", metavar="A,B,...", help="comma-separated class names")
    ev.add_argument("--bootstrap", type=_replicas, default=1000, metavar="R",
                    help="draws for the intervals (Bayesian bootstrap, Jeffreys prior), "
                         "2 to 100000; 0 for none (default 1000)")
    ev.add_argument("--seed", type=_positive_int, default=0,
                    help="bootstrap seed (default 0)")
    ev.add_argument("--folds", type=_folds, default=5, metavar="K",
                    help="with --tune (or --cost without --threshold): cross-fit over K "
                         "folds, stratified, seeded by --seed (default 5); 0 reports the "
                         "optimistic in-sample figures only")
    ev.add_argument("--html", metavar="PATH",
                    help="write a self-contained HTML report ('-': standard output)")
    ev.set_defaults(func=_evaluate)

    tu = sub.add_parser("tune", help="tune a binary threshold and print its matrix")
    _input_args(tu, score_help="column of class-1 scores (one column: tuning is binary)")
    tu.add_argument("--objective", default=None, metavar="NAME",
                    help="formula to optimise (default f1; expected_cost with --cost)")
    tu.add_argument("--plot", metavar="PATH",
                    help="write the objective-versus-threshold PNG (with --confidence: the "
                         "constrained figure and its guaranteed lower bound versus "
                         "threshold; '-': standard output)")
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
    with warnings.catch_warnings():
        warnings.showwarning = _warning_line
        return _run(args)


def _warning_line(message, category, filename, lineno, file=None, line=None):
    """A warning as one line, as errors are: ``keras-confusion: warning: ...`` (Python's
    own format took two, with the source file and line of the call)."""
    print(f"keras-confusion: warning: {_one_line(message)}", file=sys.stderr)


def _run(args) -> int:
    try:
        with contextlib.ExitStack() as stack:
            # Connected when the files are read, after every check of the options (an
            # option refused after a 20 s wait for an unreachable scheduler, else).
            args.connect = lambda: stack.enter_context(_connect(args.scheduler))
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
