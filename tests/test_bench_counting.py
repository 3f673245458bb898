"""How benchmarks/bench_counting.py times its contenders (not how fast anything is).

The README's speed tables are its output: a contender timed in fewer rounds than the
bare kernel beside it, or a ratio of two bests from different spells of the machine,
moves the headline ``ours / bare`` with no change to the code it measures.
"""

from __future__ import annotations

import importlib.util
import sys
import time
from pathlib import Path

import pytest

_DIR = Path(__file__).resolve().parents[1] / "benchmarks"
sys.path.insert(0, str(_DIR))  # bench_counting imports _stamp from its own folder
_spec = importlib.util.spec_from_file_location("bench_counting", _DIR / "bench_counting.py")
bench = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(bench)


def _contender(log, name, first_call_s=0.0, call_s=0.0):
    """A contender of one batch of 10 samples whose first call takes ``first_call_s``
    (tracing and compiling) and every call ``call_s``; calls are logged by name."""
    calls = []

    def update(y, p):
        calls.append(None)
        log.append(name)
        time.sleep(first_call_s if len(calls) == 1 else call_s)

    return update, lambda: None, [([0] * 10, [0.0] * 10)]


def test_a_contender_whose_first_call_compiles_is_timed_in_every_round(monkeypatch):
    monkeypatch.setattr(bench.time, "sleep", _no_pause(bench.time.sleep))
    log = []
    rates = bench._rates({"ours": _contender(log, "ours", first_call_s=0.3),
                          "bare": _contender(log, "bare")}, budget_s=0.15, rounds=3)
    # Before 6b4a324 the compiling first call made "ours" slow: one round against three.
    assert len(rates.rounds["ours"]) == len(rates.rounds["bare"]) == 3


def test_a_contender_slower_than_a_round_is_timed_in_the_first_round_only(monkeypatch):
    monkeypatch.setattr(bench.time, "sleep", _no_pause(bench.time.sleep))
    log = []
    rates = bench._rates({"ours": _contender(log, "ours"),
                          "slow": _contender(log, "slow", call_s=0.25)},
                         budget_s=0.15, rounds=3)
    assert len(rates.rounds["slow"]) == 1
    assert len(rates.rounds["ours"]) == 3


def test_rounds_alternate_their_order(monkeypatch):
    monkeypatch.setattr(bench.time, "sleep", _no_pause(bench.time.sleep))
    log = []
    bench._rates({"a": _contender(log, "a", call_s=0.02), "b": _contender(log, "b", call_s=0.02)},
                 budget_s=0.2, rounds=4)
    # After each contender's warm-up and second call, rounds of a then b, b then a, ...:
    # runs of calls a, b, a, b, a (a fixed order would give a, b eight times over).
    timed = log[4:]
    runs = [name for i, name in enumerate(timed) if i == 0 or timed[i - 1] != name]
    assert runs == ["a", "b", "a", "b", "a"]


def test_paired_ratio_is_the_median_of_each_rounds_own_ratio_not_the_ratio_of_bests():
    # Worked by hand: the rounds' ratios are 2, 1 and 0.5, so the median is 1; the best
    # rounds (10 and 8) come from different rounds and give 1.25.
    rates = bench.Rates({"ours": 10.0, "bare": 8.0},
                        {"ours": [10.0, 1.0, 4.0], "bare": [5.0, 1.0, 8.0]})
    assert rates.paired("ours", "bare") == pytest.approx(1.0)
    assert rates["ours"] / rates["bare"] == pytest.approx(1.25)


def _no_pause(sleep):
    """``time.sleep`` without the 0.2 s pause between contenders (kept for calls)."""
    return lambda s: None if s == 0.2 else sleep(s)
