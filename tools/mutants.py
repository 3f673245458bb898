"""Mutation checks of the central rules: does the test suite catch each planted bug?

Each mutant is one small edit of behaviour (the decision rule ``>=`` made ``>``, a
formula that ignores ``zero_division``, the Jeffreys prior 1/2 made 1, ...), located by
file, function (or module-level name) and a regular expression inside that function, so
that a refactor which moves code updates one entry of `MUTANTS` below. For each mutant
the tool copies ``src/`` to a temporary directory, applies the edit there, and runs only
the tests that should catch it, with the copy first on the import path (it shadows the
editable install; the tool checks that the copy is what the tests import). A mutant is

* ``caught`` when those tests fail (pytest exit status 1);
* ``survived`` when they pass: a test is missing;
* ``not found`` when its pattern does not match its function exactly as often as the
  entry says: the code moved or changed and the entry must follow it;
* ``error`` for anything else (the tests could not run, the copy was not imported, a
  time-out, or a mutant that is not valid Python).

Only ``caught`` counts; the tool prints one line per mutant and ``N of M mutants caught``
last, and exits 1 unless every mutant is caught. Before the mutants it runs every
selected test once on an unmutated copy (the baseline): a test that fails without a
mutant would make every mutant look caught.

Run it from the repository root, with the development environment::

    uv run python tools/mutants.py            # every mutant (KERAS_BACKEND=jax)
    uv run python tools/mutants.py --list     # names, places and tests
    uv run python tools/mutants.py -k tie -k jeffreys   # the mutants whose names match

Speed: importing Keras and JAX takes most of a short pytest run, so the tool imports
them once and forks a child per mutant (the child imports the mutated package, which the
parent never imports). ``--spawn`` runs each in a fresh interpreter instead.
"""

from __future__ import annotations

import argparse
import ast
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = "keras_confusion"
PYTEST_ARGS = ["-x", "-q", "-p", "no:cacheprovider", "--no-header", "-W",
               "ignore::pytest.PytestAssertRewriteWarning"]
# Exit statuses of a child beyond pytest's own (0 passed, 1 failed, 2-5 could not run).
NOT_SHADOWED = 90  # the tests imported another copy of the package than the mutated one


@dataclass(frozen=True)
class Mutant:
    """One planted bug.

    Attributes:
        name: what the bug does, as a reader of the rule would say it.
        file: the module, relative to ``src/keras_confusion``.
        scope: where the edit is: a function, ``Class.method`` or a module-level name.
        pattern: a regular expression (multi-line mode) matched inside ``scope`` only.
        replacement: its replacement (``re.sub`` syntax: ``\\1`` for groups).
        tests: the test files or node ids that must catch it, relative to the root.
        count: how many times ``pattern`` must match in ``scope`` (all are replaced).
    """

    name: str
    file: str
    scope: str
    pattern: str
    replacement: str
    tests: tuple[str, ...]
    count: int = 1


T = "tests/"
CALLBACKS = T + "test_callbacks.py::"
CLI = T + "test_cli.py::"
COUNTS = T + "test_counts.py::"
DASK = T + "test_dask.py::"
DEC = T + "test_decisions.py::"
FORM = T + "test_formulas.py::"
GUARANTEE = T + "test_guarantee.py::"
LOSS = T + "test_losses.py::"
METRICS = T + "test_metrics.py::"
REPORT = T + "test_report.py::"

ZERO_DIVISION = FORM + "test_every_formula_takes_zero_division_where_its_ratio_is_0_over_0"


def _zero_division(what: str, scope: str, pattern: str, count: int = 1, *,
                   formula: str | None = None) -> Mutant:
    """``scope``'s ``zero_division`` replaced by 0.0; caught by its formula's test id."""
    return Mutant(f"{what} ignores zero_division (0/0 gives 0.0)", "formulas.py", scope,
                  pattern, r"\g<head>0.0)", (f"{ZERO_DIVISION}[{formula or scope}]",), count)


# The two branches of `_counting.decide`: NumPy arrays (under errstate), and tensors.
DECIDE_NUMPY = r"(errstate\(invalid=\"ignore\"\):\n\s+return scores )>="
DECIDE_TENSOR = r"^(    return scores )>="

# A `z)` that closes a `_div(...)` or `xp.where(...)` call, at the end of a line.
_Z_AT_END = r"(?P<head>,\s*)z\)$"

MUTANTS: tuple[Mutant, ...] = (
    # ------------------------------------- the decision rule, by the tests of each place
    # `_counting.decide` is the one rule: NumPy scores (command line, report, callbacks,
    # float64 scores on JAX without x64) take its first branch, tensors (metrics, counts,
    # Thresholded) its last. Each place's own tests must catch the same edit.
    Mutant("cli decision rule `>=` made `>`", "_counting.py", "decide", DECIDE_NUMPY, r"\1>",
           (CLI + "test_evaluate_counts_a_score_equal_to_the_threshold_as_positive",)),
    Mutant("report decision rule `>=` made `>`", "_counting.py", "decide", DECIDE_NUMPY,
           r"\1>", (REPORT + "test_report_counts_a_score_equal_to_the_threshold_as_positive",)),
    Mutant("ConfusionHistory decision rule at a tuned threshold `>=` made `>`", "_counting.py",
           "decide", DECIDE_NUMPY, r"\1>",
           (CALLBACKS + "test_confusion_history_with_tuner_on_logit_model_counts_at_the_logit_"
            "threshold",)),
    Mutant("keras layer decision rule on float64 NumPy scores `>=` made `>`", "_counting.py",
           "decide", DECIDE_NUMPY, r"\1>",
           (COUNTS + "test_float64_numpy_scores_are_decided_exactly_as_sklearn_on_every_backend",)),
    Mutant("keras layer decision rule on tensors `>=` made `>`", "_counting.py", "decide",
           DECIDE_TENSOR, r"\1>",
           (COUNTS + "test_score_equal_to_threshold_is_positive",
            METRICS + "test_confusion_matrix_counts_score_equal_to_threshold_as_positive")),
    Mutant("Thresholded decision rule `>=` made `>`", "_counting.py", "decide", DECIDE_TENSOR,
           r"\1>", (DEC + "test_thresholded_keeps_the_ge_rule_exact_for_a_float64_threshold",)),
    Mutant("decide rounds the threshold to the scores' dtype instead of its ceiling",
           "_counting.py", "decide", r"threshold = ceil_to\(threshold, scores\.dtype\)",
           "threshold = scores.dtype.type(threshold)",
           (CLI + "test_evaluate_float32_scores_decide_as_float64_at_the_threshold",)),
    # ------------------------------------------------------------ tail sums and curves
    Mutant("cli binned curve sums made exclusive", "_counting.py", "tail_sums",
           r"(tail = xp\.flip\(cumsum\(xp\.flip\(hist, axis=1\), axis=1\), axis=1\))",
           r"\1 - hist",
           (CLI + "test_evaluate_html_curve_equals_brute_force_at_every_bin_edge",)),
    Mutant("threshold-confusion tail sums made exclusive", "_counting.py", "tail_sums",
           r"(tail = xp\.flip\(cumsum\(xp\.flip\(hist, axis=1\), axis=1\), axis=1\))",
           r"\1 - hist",
           (COUNTS + "test_threshold_matrices_equal_sklearn_at_each_threshold",)),
    Mutant("tail sums off by one (matrix j counts the buckets >= j - 1)", "_counting.py",
           "tail_sums", r"xp\.concatenate\(\[tail, xp\.zeros_like\(tail\[:, :1\]\)\], axis=1\)",
           "xp.concatenate([tail[:, :1], tail], axis=1)",
           (COUNTS + "test_threshold_matrices_equal_sklearn_at_each_threshold",
            CLI + "test_evaluate_html_curve_equals_brute_force_at_every_bin_edge")),
    Mutant("exact curve does not group tied scores", "_counting.py", "exact_curve",
           r"keys\[1:\] != keys\[:-1\]", "keys[1:] == keys[1:]",
           (DEC + "test_tuned_threshold_equals_brute_force_search_with_sklearn",)),
    Mutant("exact curve joins its sign parts without their offsets", "_counting.py",
           "exact_curve", r"at \+= runs_before", "at += 0",
           (DEC + "test_exact_curve_from_sorted_label_keys_equals_the_two_sort_reference",)),
    Mutant("weighted exact curve's argsort keeps one index bit too few", "_counting.py",
           "_argsort_by_keys", r"bit_length\(\), 1\)", "bit_length() - 1, 1)",
           (DEC + "test_exact_curve_from_sorted_label_keys_equals_the_two_sort_reference",)),
    Mutant("weighted exact curve does not group tied scores", "_counting.py", "exact_curve",
           r"s_sorted\[1:\] != s_sorted\[:-1\]", "s_sorted[1:] == s_sorted[1:]",
           (DEC + "test_tuned_threshold_equals_brute_force_search_with_sklearn",)),
    Mutant("exact curve counts ties at a candidate as below it", "_counting.py",
           "exact_curve", r"tp = positives\[::-1\]\.cumsum\(\)\[::-1\]\[first\]",
           "tp = np.r_[positives[::-1].cumsum()[::-1], 0][np.r_[first[1:], len(positives)]]",
           (DEC + "test_tuned_threshold_equals_brute_force_search_with_sklearn",)),
    Mutant("cli binned scores stand for their upper bin edge", "_accumulate.py",
           "Accumulator.scores", r"edges = np\.arange\(self\.bins\) / self\.bins",
           "edges = (np.arange(self.bins) + 1) / self.bins",
           (CLI + "test_evaluate_binned_tuning_beyond_exact_limit_is_exact_at_bin_edges",)),
    # ------------------------------------------------------------- the tie rule
    Mutant("tie rule takes the upper middle of an even-length run", "decisions.py",
           "_best_index", r"lo \+ \(hi - lo - 1\) // 2", "lo + (hi - lo) // 2",
           (DEC + "test_tie_rule_takes_the_lower_middle_of_an_even_run_of_best_thresholds",)),
    Mutant("tie tolerance 0", "decisions.py", "_TIE_RTOL", r"_TIE_RTOL = 1e-12",
           "_TIE_RTOL = 0.0",
           (DEC + "test_objective_values_equal_but_for_rounding_are_ties",
            DEC + "test_tuning_is_unchanged_when_costs_or_weights_are_scaled_by_1e_minus_13")),
    Mutant("equally wide tied runs go to the highest thresholds", "decisions.py",
           "_best_index", r"widest = int\(np\.argmax\(run_ends - run_starts\)\)",
           "widest = len(run_ends) - 1 - int(np.argmax((run_ends - run_starts)[::-1]))",
           (DEC + "test_equally_wide_best_regions_choose_the_lowest_threshold",)),
    Mutant("Bayes cost decision takes the most costly class", "decisions.py", "bayes_decide",
           r"xp\.argmin\(risk, axis=-1\)", "xp.argmax(risk, axis=-1)",
           (DEC + "test_cost_decisions_equal_numpy_reference_of_bayes_rule",)),
    Mutant("a constraint met with equality counts as unmet", "decisions.py",
           "choose_threshold", r"feasible = c_values >= bound if", "feasible = c_values > bound if",
           (DEC + "test_constraint_met_exactly_at_its_bound_is_feasible",)),
    # --------------------------------------------------------- zero division, each formula
    _zero_division("precision", "precision", r"(?P<head>tp \+ fp, )z\)"),
    _zero_division("recall", "recall", r"(?P<head>tp \+ fn, )z\)"),
    _zero_division("specificity", "specificity", r"(?P<head>tn \+ fp, )z\)"),
    _zero_division("npv", "npv", r"(?P<head>tn \+ fn, )z\)"),
    _zero_division("fbeta", "fbeta", r"(?P<head>b2 \* fn \+ fp, )z\)"),
    _zero_division("jaccard", "jaccard", r"(?P<head>tp \+ fp \+ fn, )z\)"),
    _zero_division("tversky", "tversky", r"(?P<head>b \* fn, )z\)"),
    _zero_division("youden_j", "youden_j", r"(?P<head>t[pn] \+ f[np], )z\)", count=2),
    _zero_division("accuracy", "accuracy", _Z_AT_END),
    _zero_division("balanced_accuracy", "balanced_accuracy",
                   r"(?P<head>n_present, )z\)"),
    _zero_division("binary mcc", "_binary_mcc", r"(?P<head>den, 1\.0\)\), )z\)",
                   formula="mcc"),
    _zero_division("multiclass mcc", "mcc", r"(?P<head>den, 1\.0\)\), )z\)"),
    _zero_division("cohen_kappa", "cohen_kappa", r"(?P<head>expected_dis, 1\.0\), )z\)"),
    _zero_division("expected_cost", "expected_cost", _Z_AT_END),
    _zero_division("support-weighted average", "_per_class",
                   r"(?P<head>xp\.sum\(support, axis=-1\), )z\)", formula="precision"),
    # --------------------------------------------- exact buckets and the row argmax
    Mutant("float32 threshold buckets drop the score's last 8 bits", "counts.py",
           "_split_buckets", r">= -\(\(scores - p12\) \* d\)", ">= 0.0",
           (METRICS + "test_split_buckets_equal_float64_floor_on_random_float32_bit_patterns",
            METRICS + "test_threshold_bucketing_is_exact_at_and_next_to_every_threshold"
            "[linear-200-False-compiled]")),
    Mutant("argmax of few classes takes the last of equal maxima", "_backend/kernels.py",
           "_xla_small_argmax", r"\(index_a < index_b\)", "(index_a > index_b)",
           (COUNTS + "test_row_argmax_is_numpys_first_maximum_and_finiteness_on_adversarial_"
            "rows",)),
    Mutant("one-thread codes count their buffer's extra cell as invalid",
           "_backend/kernels.py", "one_thread_codes",
           r"\(n \+ 1, 1\), extra,", "(n + 1, 1), extra - 1,",
           (METRICS + "test_compiled_counts_equal_sklearn_on_both_sides_of_the_one_thread_"
            "batch_limit[True]",)),
    Mutant("carry reads the invalid tally as the samples since the last carry",
           "metrics.py", "_CountingMetric._count", r"self\.counts_int\.value\[-1\]",
           "self.counts_int.value[-2]",
           (METRICS + "test_int_counts_carried_every_carry_at_samples_equal_sklearn_after_"
            "each_batch[3-compiled]",)),
    # ------------------------------------------------------------ sample weights
    Mutant("losses drop sample_weight", "losses.py", "_batch_loss",
           r"(multilabel,\s*)sample_weight,", r"\1None,",
           (LOSS + "test_sample_weight_two_equals_duplicated_row_and_zero_equals_dropped_row",)),
    Mutant("sharpened constraint counts drop sample_weight", "losses.py", "_sharpened",
           r"x \* sharpness, fmt\.sample_weight,", "x * sharpness, None,",
           (LOSS + "test_sharpened_constraint_weight_two_equals_duplicated_row",)),
    Mutant("soft counts weigh positives only", "counts.py", "soft_counts",
           r"pos, neg = t \* w, \(1\.0 - t\) \* w", "pos, neg = t * w, (1.0 - t)",
           (LOSS + "test_sample_weight_two_equals_duplicated_row_and_zero_equals_dropped_row",)),
    Mutant("metrics drop sample_weight", "metrics.py", "ConfusionMatrix.update_state",
           r"(self\.multilabel, )sample_weight,", r"\1None,",
           (METRICS + "test_sample_weight_two_equals_duplicated_row",)),
    # ------------------------------------------------ guaranteed thresholds (_guarantee)
    Mutant("guarantee's binomial p-value off by one (P(X > k), not P(X >= k))",
           "_guarantee.py", "binomial_p_value", r"bdtrc\(x\[pos\] - 1,", "bdtrc(x[pos],",
           (GUARANTEE + "test_binomial_p_value_equals_scipy_binomial_tail",)),
    Mutant("guarantee tests at level confidence instead of 1 - confidence", "_guarantee.py",
           "guarantee", r"feasible = p <= alpha$", "feasible = p <= confidence",
           (GUARANTEE + "test_recall_floor_keeps_exactly_the_thresholds_up_to_the_order_"
            "statistic",)),
    Mutant("guarantee's Clopper-Pearson bound at the upper quantile", "_guarantee.py",
           "clopper_pearson_lower", r"1\.0 - confidence\)", "confidence)",
           (GUARANTEE + "test_clopper_pearson_lower_equals_scipy_beta_quantile_and_inverts_the_"
            "test",)),
    Mutant("fixed-sequence testing goes on past the first failure", "_guarantee.py",
           "guarantee", r"^(\s+)kept\[stop:\] = False", r"\1pass",
           (GUARANTEE + "test_fixed_sequence_stops_at_the_first_failed_threshold_from_the_top",)),
    # ----------------------------------------------------- the Dask engine's merges
    Mutant("dask merge of partition counts keeps the first partition's", "_accumulate.py",
           "Accumulator.merge", r"self\.counts = self\.counts \+ other\.counts",
           "self.counts = self.counts",
           (DASK + "test_binary_confusion_matrix_equals_sklearn_with_empty_and_one_class_"
            "partitions",)),
    Mutant("dask merge of score histograms keeps the first partition's", "dask.py",
           "_merge_hists", r"n = sum\(p\[0\] for p in parts\)", "n = parts[0][0]",
           (DASK + "test_tuned_threshold_equals_one_machine[ties-f1]",)),
    # -------------------------------------------------------- invalid scores
    Mutant("tune_threshold takes NaN scores", "decisions.py", "check_scores",
           r"bad = ~np\.isfinite\(s\)", "bad = np.isinf(s)",
           (DEC + "test_nan_score_raises_naming_the_sample",)),
    Mutant("compiled counts take NaN scores as negatives", "counts.py", "hard_codes",
           r"finite = ops\.isfinite\(fmt\.y_pred\)",
           'finite = ops.ones_like(fmt.y_pred, dtype="bool")',
           (METRICS + "test_confusion_matrix_tallies_labels_outside_0_1_and_non_finite_"
            "scores",)),
    Mutant("eager counts take NaN scores", "counts.py", "validate_values",
           r"bad = ~np\.isfinite\(y_pred\)", "bad = np.isinf(y_pred)",
           (COUNTS + "test_bad_input_raises_value_error_naming_argument_and_value",)),
    Mutant("cli takes NaN scores", "_io.py", "check_chunk",
           r"bad = ~np\.isfinite\(s\)", "bad = np.isinf(s)",
           (CLI + "test_evaluate_bad_input_exits_2_with_one_line_saying_what_and_where",)),
    # ----------------------------------------------------------------- intervals
    Mutant("Jeffreys prior 1/2 made 1 (uniform)", "report.py", "_replica_blocks",
           r"alpha = flat \+ 0\.5", "alpha = flat + 1.0",
           (REPORT + "test_bootstrap_matrices_are_jeffreys_dirichlet_draws_scaled_to_the_total",)),
    Mutant("Jeffreys prior 1/2 made 0", "report.py", "_replica_blocks",
           r"alpha = flat \+ 0\.5", "alpha = flat + 0.0",
           (REPORT + "test_bootstrap_matrices_are_jeffreys_dirichlet_draws_scaled_to_the_total",)),
    Mutant("weighted Jeffreys prior 1/2 made 1", "report.py", "_replica_blocks",
           r"(q, 1\.0\)\), 0\.0\) )\+ 0\.5", r"\1+ 1.0",
           (REPORT + "test_unit_weights_give_the_unweighted_report_draw_for_draw",)),
    Mutant("weighted cells drawn as counts, not Kish effective counts", "report.py",
           "_replica_blocks", r"flat \* \(flat / np\.where\(seen, q, 1\.0\)\)", "flat",
           (REPORT + "test_weighted_intervals_take_the_kish_effective_counts_of_the_cells",)),
)


# ----------------------------------------------------------------------- applying


class NotFound(Exception):
    """A mutant's scope or pattern is not where its entry says."""


def _scope_span(tree: ast.Module, scope: str) -> tuple[int, int]:
    """First and last line (1-based) of a function, ``Class.method`` or module name."""
    parts = scope.split(".")
    body = tree.body
    node = None
    for i, part in enumerate(parts):
        node = None
        for candidate in body:
            if isinstance(candidate, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                if candidate.name == part:
                    node = candidate
            elif i == len(parts) - 1 and isinstance(candidate, (ast.Assign, ast.AnnAssign)):
                targets = (candidate.targets if isinstance(candidate, ast.Assign)
                           else [candidate.target])
                if any(isinstance(t, ast.Name) and t.id == part for t in targets):
                    node = candidate
        if node is None:
            raise NotFound(f"no {scope!r}")
        body = getattr(node, "body", [])
    return node.lineno, node.end_lineno


def mutate(source: str, mutant: Mutant) -> str:
    """``source`` with the mutant's edit, or NotFound."""
    first, last = _scope_span(ast.parse(source), mutant.scope)
    lines = source.splitlines(keepends=True)
    start, end = sum(map(len, lines[:first - 1])), sum(map(len, lines[:last]))
    segment = source[start:end]
    edited, n = re.subn(mutant.pattern, mutant.replacement, segment, flags=re.MULTILINE)
    if n != mutant.count:
        raise NotFound(f"pattern {mutant.pattern!r} matches {n} times in {mutant.scope} "
                       f"(expected {mutant.count})")
    if edited == segment:
        raise NotFound(f"pattern {mutant.pattern!r} in {mutant.scope}: the edit changes nothing")
    mutated = source[:start] + edited + source[end:]
    compile(mutated, mutant.file, "exec")  # a SyntaxError is the table's fault: an error
    return mutated


def copy_package(dest: Path) -> Path:
    """A copy of ``src/keras_confusion`` under ``dest``; returns the import root."""
    shutil.copytree(ROOT / "src" / PACKAGE, dest / PACKAGE,
                    ignore=shutil.ignore_patterns("__pycache__"))
    return dest


# ---------------------------------------------------------------------- running


class _FirstFailure:
    """A pytest plugin: Hypothesis reports the first failing example without shrinking
    it. A mutant only has to fail; shrinking its example can take minutes."""

    def pytest_configure(self, config):  # after tests/conftest.py has loaded its profile
        from hypothesis import Phase, settings

        settings.register_profile("mutants", parent=settings.default,
                                  phases=[Phase.explicit, Phase.reuse, Phase.generate])
        settings.load_profile("mutants")


def child(import_root: str, module: str, pytest_args: list[str]) -> int:
    """In the process that runs the tests: import the copy, check it, run pytest."""
    os.environ["PYTHONPATH"] = os.pathsep.join(
        [import_root, *filter(None, [os.environ.get("PYTHONPATH")])])
    sys.path.insert(0, import_root)
    import pytest

    import keras_confusion

    root = Path(import_root).resolve()
    if not Path(keras_confusion.__file__).resolve().is_relative_to(root):
        print(f"{PACKAGE} was imported from {keras_confusion.__file__}, not {root}")
        return NOT_SHADOWED
    rc = int(pytest.main([*PYTEST_ARGS, *pytest_args], plugins=[_FirstFailure()]))
    loaded = sys.modules.get(f"{PACKAGE}.{module}")
    if loaded is not None and not Path(loaded.__file__).resolve().is_relative_to(root):
        print(f"{PACKAGE}.{module} was imported from {loaded.__file__}, not {root}")
        return NOT_SHADOWED
    return rc


def _run_forked(import_root, module, tests, log, timeout):
    pid = os.fork()
    if pid == 0:  # the child: its own process group, output to the log
        rc = 3
        try:
            os.setpgid(0, 0)
            fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
            os.dup2(fd, 1)
            os.dup2(fd, 2)
            rc = child(import_root, module, tests)
        except BaseException as e:  # reported through the exit status
            print(f"mutants: child failed: {e!r}", flush=True)
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(rc)
    deadline = time.monotonic() + timeout
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return os.waitstatus_to_exitcode(status)
        if time.monotonic() > deadline:
            _kill_group(pid)
            os.waitpid(pid, 0)
            return None
        time.sleep(0.05)


def _kill_group(pid):
    try:
        os.killpg(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def _run_spawned(import_root, module, tests, log, timeout):
    cmd = [sys.executable, str(Path(__file__).resolve()), "--child", import_root, module,
           "--", *tests]
    with open(log, "wb") as out:
        proc = subprocess.Popen(cmd, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True)
        try:
            return proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            _kill_group(proc.pid)
            proc.wait()
            return None


def _summary(log: Path, lines: int = 15) -> str:
    try:
        text = log.read_text(errors="replace").rstrip().splitlines()
    except OSError:
        return ""
    return "\n".join("      " + line for line in text[-lines:])


def _verdict(rc) -> str:
    if rc is None:
        return "error"  # timed out
    return {0: "survived", 1: "caught"}.get(rc, "error")


def _warm_imports():
    """Import what every test run imports, once, before forking (never the package)."""
    import keras  # noqa: F401 - the slow part: Keras and its backend
    import numpy  # noqa: F401
    import pytest  # noqa: F401
    import sklearn.metrics  # noqa: F401

    assert PACKAGE not in sys.modules, "the parent must not import the package"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-k", action="append", default=[], metavar="TEXT",
                        help="only the mutants whose names contain TEXT (repeatable)")
    parser.add_argument("--list", action="store_true", help="list the mutants and exit")
    parser.add_argument("--spawn", action="store_true",
                        help="a fresh interpreter per mutant instead of a fork")
    parser.add_argument("--no-baseline", action="store_true",
                        help="skip the run of the selected tests without mutants")
    parser.add_argument("--timeout", type=float, default=300.0,
                        help="seconds per mutant (default 300)")
    parser.add_argument("--child", nargs=2, metavar=("ROOT", "MODULE"), help=argparse.SUPPRESS)
    parser.add_argument("tests", nargs="*", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        return child(args.child[0], args.child[1], args.tests)

    mutants = [m for m in MUTANTS if not args.k or any(k.lower() in m.name.lower()
                                                      for k in args.k)]
    if args.list:
        for m in mutants:
            try:
                mutate((ROOT / "src" / PACKAGE / m.file).read_text(), m)
                where = ""
            except (NotFound, OSError, SyntaxError) as e:
                where = f"  NOT FOUND: {m.file}: {e}"
            print(f"{m.name}{where}\n    {m.file}:{m.scope}  /{m.pattern}/ -> {m.replacement!r}")
            for t in m.tests:
                print(f"    {t}")
        return 0
    if not mutants:
        print("no mutant matches", file=sys.stderr)
        return 1
    os.environ.setdefault("KERAS_BACKEND", "jax")
    os.chdir(ROOT)
    fork = hasattr(os, "fork") and not args.spawn
    if fork:
        _warm_imports()
    run = _run_forked if fork else _run_spawned
    print(f"{len(mutants)} mutants, KERAS_BACKEND={os.environ['KERAS_BACKEND']}, "
          f"{'forked from one warm process' if fork else 'one fresh process each'}", flush=True)
    work = Path(tempfile.mkdtemp(prefix="mutants-"))
    verdicts = []
    width = max(len(v) for v in ("caught", "survived", "not found", "error"))
    try:
        if not args.no_baseline:
            base = copy_package(work / "baseline")
            tests = sorted({t for m in mutants for t in m.tests})
            log = work / "baseline.log"
            start = time.monotonic()
            rc = run(str(base), "__init__", tests, log, args.timeout * 4)
            took = time.monotonic() - start
            print(f"{'baseline':<{width}} {took:6.1f} s  {len(tests)} test selections, "
                  "no mutant", flush=True)
            if rc != 0:
                print(f"the tests fail without a mutant (exit status {rc}):\n{_summary(log)}")
                return 1
        for i, m in enumerate(mutants):
            start = time.monotonic()
            detail = ""
            try:
                source = (ROOT / "src" / PACKAGE / m.file).read_text()
                mutated = mutate(source, m)
            except (NotFound, FileNotFoundError) as e:
                verdict, detail = "not found", f"{m.file}: {e}"
            except (OSError, SyntaxError) as e:
                verdict, detail = "error", f"{m.file}: {e}"
            else:
                dest = copy_package(work / f"m{i}")
                (dest / PACKAGE / m.file).write_text(mutated)
                log = work / f"m{i}.log"
                module = m.file.removesuffix(".py").replace("/", ".")
                rc = run(str(dest), module, list(m.tests), log, args.timeout)
                verdict = _verdict(rc)
                if verdict != "caught":
                    why = ("timed out" if rc is None else "the tests pass" if rc == 0
                           else f"exit status {rc}")
                    detail = f"{why}; {log}\n{_summary(log)}"
                else:
                    shutil.rmtree(dest, ignore_errors=True)
            took = time.monotonic() - start
            print(f"{verdict:<{width}} {took:6.1f} s  {m.name}", flush=True)
            if detail:
                print(f"      {detail}", flush=True)
            verdicts.append(verdict)
    finally:
        if all(v == "caught" for v in verdicts) and len(verdicts) == len(mutants):
            shutil.rmtree(work, ignore_errors=True)
    caught = verdicts.count("caught")
    print(f"{caught} of {len(mutants)} mutants caught")
    return 0 if caught == len(mutants) else 1


if __name__ == "__main__":
    sys.exit(main())
