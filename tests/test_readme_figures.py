"""The README's measured tables are no older than the code they measure.

Each table of figures in the README (speed, start-up, training quality) carries, on the
line right above it, the stamp its script prints with ``--markdown``
(``benchmarks/_stamp.py``)::

    <!-- measured by benchmarks/bench_startup.py at commit 1a2b3c4d5e6f on ... -->

The test fails when a file the figures depend on (listed below, per script) changed in a
commit that is not in the stamped commit's history: re-measuring is part of changing the
measured code. It
needs the repository's history, and skips, saying so, where there is none.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

pytestmark = pytest.mark.keras_free

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = "src/keras_confusion/"
STAMP = re.compile(r"^<!-- measured by (?P<script>\S+) at commit (?P<commit>\S+) .*-->$",
                   re.MULTILINE)


@dataclass(frozen=True)
class Table:
    section: str  # the start of the README heading the table sits under
    script: str  # the benchmark that prints it, with --markdown
    depends_on: tuple[str, ...]  # paths whose change makes the figures stale


TABLES = {
    "speed": Table("## Speed", "benchmarks/bench_counting.py", (
        # The metric updates it times, and the counting they run.
        PACKAGE + "_counting.py", PACKAGE + "counts.py", PACKAGE + "metrics.py",
        PACKAGE + "_validation.py", PACKAGE + "_backend", "benchmarks/bench_counting.py")),
    "start-up": Table("## Speed", "benchmarks/bench_startup.py", (
        # What `keras-confusion evaluate` and `tune` import and run on a small file.
        # (test_start_up_figures_depend_on_every_module_the_command_line_imports)
        PACKAGE + "__init__.py", PACKAGE + "cli.py", PACKAGE + "_io.py",
        PACKAGE + "_files.py", PACKAGE + "_accumulate.py", PACKAGE + "_counting.py",
        PACKAGE + "_validation.py", PACKAGE + "_guarantee.py", PACKAGE + "report.py",
        PACKAGE + "_text.py", PACKAGE + "decisions.py", PACKAGE + "formulas.py",
        "benchmarks/bench_startup.py")),
    "tuning": Table("## Speed", "benchmarks/bench_tuning.py", (
        # What `tune_threshold` runs on 10 M scores: validation, the exact curve, the
        # formulas, the choice.
        PACKAGE + "_counting.py", PACKAGE + "decisions.py", PACKAGE + "formulas.py",
        PACKAGE + "_validation.py", "benchmarks/bench_tuning.py")),
    "quality": Table("## Which recipe?", "benchmarks/quality.py", (
        # The losses it trains with, the decisions it tunes, the figures it reports.
        PACKAGE + "losses.py", PACKAGE + "counts.py", PACKAGE + "formulas.py",
        PACKAGE + "decisions.py", PACKAGE + "_counting.py", PACKAGE + "weights.py",
        PACKAGE + "_validation.py", PACKAGE + "_backend", "benchmarks/quality.py")),
}


def _section(readme: str, heading: str) -> str:
    """The text under the first heading that starts with ``heading``, to the next one."""
    start = readme.find("\n" + heading)
    if start < 0:
        return ""
    level = heading.split()[0] + " "
    end = readme.find("\n" + level, start + 1)
    return readme[start:end if end >= 0 else len(readme)]


def _git(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True)


def _history_or_skip():
    if shutil.which("git") is None:
        pytest.skip("git is not installed: the stamps cannot be compared with the history")
    top = _git("rev-parse", "--show-toplevel")
    if top.returncode != 0 or Path(top.stdout.strip()).resolve() != ROOT.resolve():
        pytest.skip("no git history here (no .git): the stamps cannot be checked")
    if _git("rev-parse", "--is-shallow-repository").stdout.strip() == "true":
        pytest.skip("a shallow clone: the history the stamps refer to may be missing")


def _stamps(table: Table) -> list[str]:
    """The commits stamped above the tables of ``table.script`` (one per backend, say),
    or a failure saying why."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = _section(readme, table.section)
    assert section, f"README.md has no section {table.section!r}"
    how = (f"run `uv run python {table.script} --markdown` and paste its stamp line and "
           "table into the README")
    stamps = [m for m in STAMP.finditer(section) if m.group("script") == table.script]
    assert stamps, (f"README.md: the figures of {table.script} under {table.section!r} "
                    f"carry no stamp; {how}")
    for stamp in stamps:
        after = section[stamp.end():].lstrip("\n")
        assert after.startswith("|"), (
            f"README.md: no table right below the stamp {stamp.group(0)}")
    return [stamp.group("commit") for stamp in stamps]


@pytest.mark.parametrize("name", list(TABLES))
def test_readme_table_was_measured_after_the_last_change_to_what_it_measures(name):
    table = TABLES[name]
    _history_or_skip()
    missing = [p for p in table.depends_on if not (ROOT / p).exists()]
    assert not missing, f"the figures of {table.script} depend on paths that are gone: {missing}"
    for commit in _stamps(table):
        _check_stamp(table, commit)


def _check_stamp(table: Table, commit: str) -> None:
    how = f"re-measure with `uv run python {table.script} --markdown` and paste its output"
    resolved = _git("rev-parse", "--verify", "--quiet", f"{commit}^{{commit}}")
    assert resolved.returncode == 0, (
        f"README.md: the figures of {table.script} are stamped with {commit!r}, which is "
        f"no commit of this repository (measured on uncommitted code, or on a branch "
        f"since rebased?); {how}")
    stamped = resolved.stdout.strip()
    assert _git("merge-base", "--is-ancestor", stamped, "HEAD").returncode == 0, (
        f"README.md: the figures of {table.script} are stamped with {commit}, which is not "
        f"in the history of HEAD (a branch since rebased?); {how}")
    # Every commit of HEAD's history that touches the files must be in the stamped
    # commit's history: `git log -1` and `merge-base --is-ancestor` would check only the
    # newest, and miss an older change merged from a parallel branch.
    after = _git("log", "--format=%h %cs %s", f"{stamped}..HEAD", "--", *table.depends_on)
    assert after.returncode == 0, after.stderr
    changes = after.stdout.strip().splitlines()
    assert not changes, (
        f"README.md: the figures of {table.script} were measured at {commit}, but what they "
        f"measure changed after it, in {len(changes)} commit(s), the last {changes[0]}; {how}")


def test_start_up_figures_depend_on_every_module_the_command_line_imports(tmp_path):
    # The start-up table's list must follow the code: every module of the package that
    # `evaluate` and `tune` import (as Python's -X importtime reports them) is on it.
    path = tmp_path / "p.csv"
    path.write_text("y,p\n0,0.1\n1,0.8\n0,0.4\n1,0.6\n")
    imported = set()
    for command in (["evaluate", str(path), "--bootstrap", "0"], ["tune", str(path)]):
        done = subprocess.run(
            [sys.executable, "-X", "importtime", "-m", "keras_confusion.cli", *command,
             "--label", "y", "--score", "p", "--quiet"], capture_output=True, text=True)
        assert done.returncode == 0, done.stderr
        imported |= set(re.findall(r"\| +(keras_confusion[\w.]*)$", done.stderr, re.MULTILINE))
    files = {PACKAGE + (m.split(".", 1)[1].replace(".", "/") + ".py" if "." in m
                        else "__init__.py") for m in imported}
    files.add(PACKAGE + "cli.py")  # run as __main__, so not reported as imported
    assert "keras_confusion.report" in imported  # the parse found the modules
    missing = sorted(files - set(TABLES["start-up"].depends_on))
    assert not missing, f"add to the start-up table's depends_on: {missing}"
