"""The stamp a benchmark's ``--markdown`` output starts with.

One HTML comment line, pasted into the README right above the table it belongs to
(here wrapped; it is one line)::

    <!-- measured by benchmarks/bench_startup.py at commit 1a2b3c4d5e6f on 2026-12-05,
    x86_64, 2 cores, load 1.2 -->

``tests/test_readme_figures.py`` reads it and fails once a file the figures depend on
has changed after that commit, so re-measuring is part of changing the measured code.
A measurement of uncommitted source is stamped ``<commit>-dirty``, which the test
refuses: commit, then measure.
"""

from __future__ import annotations

import datetime
import os
import platform
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _git(*args: str) -> str:
    try:
        done = subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True,
                              check=True)
    except (OSError, subprocess.CalledProcessError):
        return ""
    return done.stdout.strip()


def stamp(script: str) -> str:
    """The stamp line for ``script`` (its path from the repository root)."""
    commit = _git("rev-parse", "--short=12", "HEAD") or "unknown"
    if _git("status", "--porcelain", "--untracked-files=no", "--", "src", script):
        commit += "-dirty"
    load = f", load {os.getloadavg()[0]:.1f}" if hasattr(os, "getloadavg") else ""
    return (f"<!-- measured by {script} at commit {commit} on {datetime.date.today()}, "
            f"{platform.machine()}, {os.cpu_count()} cores{load} -->")


def commit() -> str:
    """The short commit of HEAD, or "unknown" outside a git checkout."""
    return _git("rev-parse", "--short", "HEAD") or "unknown"


def machine() -> str:
    """Platform, CPU model and core count, for a benchmark's caption."""
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(line.split(":", 1)[1].strip() for line in f
                       if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return f"{platform.platform()}, {cpu}, {os.cpu_count()} cores"
