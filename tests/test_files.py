"""Writing outputs: each file whole (old or new), what is at the path respected, no
temporary file outliving its run."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import threading
import time

import numpy as np
import pytest

from keras_confusion import _files
from keras_confusion._files import TMP_PREFIX, _pid_space, write_all_atomic
from keras_confusion.cli import main


def _temporaries(directory):
    return sorted(p.name for p in directory.iterdir() if p.name.startswith(TMP_PREFIX))


def _csv(tmp_path):
    rng = np.random.default_rng(0)
    path = tmp_path / "d.csv"
    path.write_text("y,p\n" + "".join(f"{a},{b:.4f}\n" for a, b in
                                     zip(rng.integers(0, 2, 200), rng.random(200),
                                         strict=True)))
    return str(path)


def _evaluate_json(tmp_path, out):
    return main(["evaluate", _csv(tmp_path), "--label", "y", "--score", "p", "--bootstrap",
                 "0", "--quiet", "--json", str(out)])


def test_existing_output_keeps_its_mode(tmp_path):
    # A 0600 report became 0644: a private result made readable by everyone.
    out = tmp_path / "private.json"
    out.write_text("old")
    out.chmod(0o600)
    assert _evaluate_json(tmp_path, out) == 0
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    assert out.read_text().startswith("{")


def test_read_only_output_is_refused_on_one_line_and_left_as_it_was(tmp_path, capsys):
    out = tmp_path / "frozen.json"
    out.write_text("old")
    out.chmod(0o444)
    other = tmp_path / "other.html"
    rc = main(["evaluate", _csv(tmp_path), "--label", "y", "--score", "p", "--bootstrap",
               "0", "--quiet", "--json", str(out), "--html", str(other)])
    err = capsys.readouterr().err
    assert rc == 2 and err.count("\n") == 1
    assert f"{out}: read-only file (mode 0444); not replaced" in err
    assert out.read_text() == "old" and stat.S_IMODE(out.stat().st_mode) == 0o444
    assert not other.exists() and _temporaries(tmp_path) == []


def test_symlink_output_is_written_through_to_its_target(tmp_path):
    target_dir = tmp_path / "served"
    target_dir.mkdir()
    target = target_dir / "report.json"
    target.write_text("old")
    link = tmp_path / "report.json"
    link.symlink_to(target)
    assert _evaluate_json(tmp_path, link) == 0
    assert link.is_symlink() and os.readlink(link) == str(target)
    assert target.read_text().startswith("{")
    dangling = tmp_path / "dangling.json"
    dangling.symlink_to(target_dir / "new.json")
    assert _evaluate_json(tmp_path, dangling) == 0
    assert dangling.is_symlink() and (target_dir / "new.json").read_text().startswith("{")


def test_fifo_output_is_written_into_not_replaced(tmp_path):
    fifo = tmp_path / "pipe.json"
    os.mkfifo(fifo)
    got = []
    # A daemon: were the FIFO replaced, nothing would ever open it for writing.
    reader = threading.Thread(target=lambda: got.append(fifo.read_bytes()), daemon=True)
    reader.start()
    assert _evaluate_json(tmp_path, fifo) == 0
    reader.join(10)
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode)
    assert got and got[0].startswith(b"{")


def test_character_device_output_is_written_into_not_replaced(tmp_path):
    # As root, `--json /dev/null` replaced the device node with a regular file. A copy
    # of the null device in tmp_path shows it without touching /dev.
    node = tmp_path / "null"
    try:
        os.mknod(node, stat.S_IFCHR | 0o666, os.makedev(1, 3))
    except (PermissionError, OSError) as e:
        pytest.skip(f"cannot make a device node here: {e}")
    assert _evaluate_json(tmp_path, node) == 0
    assert stat.S_ISCHR(os.lstat(node).st_mode)
    assert _evaluate_json(tmp_path, "/dev/null") == 0
    assert stat.S_ISCHR(os.lstat("/dev/null").st_mode)


def test_missing_path_under_dev_is_refused_not_created(tmp_path, capsys):
    missing = "/dev/keras-confusion-no-such-device"
    assert _evaluate_json(tmp_path, missing) == 2
    assert f"{missing}: No such file or directory" in capsys.readouterr().err
    assert not os.path.lexists(missing)


def test_file_is_flushed_before_its_rename_and_directory_after(tmp_path, monkeypatch):
    events = []
    real_fsync, real_replace = os.fsync, os.replace

    def fsync(fd):
        kind = "dir" if stat.S_ISDIR(os.fstat(fd).st_mode) else "file"
        events.append(f"fsync {kind}")
        real_fsync(fd)

    def replace(a, b):
        events.append("rename")
        real_replace(a, b)

    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(os, "replace", replace)
    write_all_atomic([(tmp_path / "a", b"1"), (tmp_path / "b", b"2")])
    assert events == ["fsync file", "fsync file", "rename", "rename", "fsync dir"]


def test_a_path_ending_in_a_slash_is_a_directory_not_a_file_name(tmp_path):
    # abspath dropped the "/": "out/" was written as a file named "out".
    with pytest.raises(IsADirectoryError):
        write_all_atomic([(str(tmp_path / "out") + "/", b"{}")])
    assert list(tmp_path.iterdir()) == []


def _dead_pid():
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_temporaries_of_a_dead_run_are_removed_by_the_next_run(tmp_path):
    space = _pid_space()
    dead = tmp_path / f"{TMP_PREFIX}{_dead_pid()}-{space}-0badc0de.tmp"
    dead.write_bytes(b"partial")
    alive = tmp_path / f"{TMP_PREFIX}{os.getppid()}-{space}-00c0ffee.tmp"  # a live process's
    alive.write_bytes(b"in progress")
    foreign = tmp_path / ".keras-confusion-notours.tmp"
    foreign.write_bytes(b"?")
    write_all_atomic([(tmp_path / "out.json", b"{}")])
    assert _temporaries(tmp_path) == sorted([alive.name, foreign.name])


def test_temporaries_of_another_machine_or_container_are_left_alone(tmp_path):
    # In a directory shared over NFS or a mounted volume, a pid that is dead here may
    # be a live run's on another machine or in another container: its file is kept.
    dead = _dead_pid()
    other = "ffffffff" if _pid_space() != "ffffffff" else "00000000"
    theirs = tmp_path / f"{TMP_PREFIX}{dead}-{other}-0badc0de.tmp"
    theirs.write_bytes(b"in progress elsewhere")
    ours = tmp_path / f"{TMP_PREFIX}{dead}-{_pid_space()}-0badc0de.tmp"
    ours.write_bytes(b"partial")
    write_all_atomic([(tmp_path / "out.json", b"{}")])
    assert _temporaries(tmp_path) == [theirs.name]


def test_pid_space_differs_between_pid_namespaces_and_machines(monkeypatch):
    import keras_confusion._files as files

    real_stat = os.stat

    def space(boot, namespace):
        monkeypatch.setattr(files, "_SPACE", [])
        monkeypatch.setattr(files, "_read", lambda path: boot)
        monkeypatch.setattr(os, "stat", lambda path, **kw: os.stat_result(
            (0, namespace, 0, 0, 0, 0, 0, 0, 0, 0)) if path == "/proc/self/ns/pid"
            else real_stat(path, **kw))
        return files._pid_space()

    here = space("boot-a", 4026531836)
    assert len(here) == 8 and int(here, 16) >= 0
    assert space("boot-a", 4026531836) == here
    assert space("boot-a", 4026532999) != here  # a container on the same machine
    assert space("boot-b", 4026531836) != here  # another machine, its first namespace


_CHILD = """
import importlib.util
import sys

# The module alone (standard library only): a child that starts in milliseconds.
spec = importlib.util.spec_from_file_location("_files", sys.argv[1])
module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)
write_all_atomic = module.write_all_atomic
paths = sys.argv[2:]
print("ready", flush=True)
for version in range(1, 10**9):
    # Each output: its name, the version, then a body whose length the version sets.
    write_all_atomic([(p, b"%s %d\\n" % (p.encode(), version) + b"x" * (version % 7 * 200_000
                                                                      + 300_000))
                      for p in paths])
"""


def _whole(path, data):
    head, _, body = data.partition(b"\n")
    name, version = head.rsplit(b" ", 1)
    v = int(version)
    return name == str(path).encode() and body == b"x" * (v % 7 * 200_000 + 300_000)


def test_sigkill_at_random_points_never_leaves_a_partial_output_or_a_temporary(tmp_path):
    rng = np.random.default_rng(5)
    paths = [tmp_path / name for name in ("report.json", "report.html", "curve.png")]
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
    killed_with_temporaries = 0
    for run in range(50):
        child = subprocess.Popen([sys.executable, "-c", _CHILD, _files.__file__,
                                  *map(str, paths)], env=env, stdout=subprocess.PIPE)
        assert child.stdout.readline() == b"ready\n"
        time.sleep(float(rng.uniform(0.0, 0.15)))  # a few write cycles at most
        child.kill()
        child.wait()
        child.stdout.close()
        for p in paths:
            if p.exists():
                assert _whole(p, p.read_bytes()), (run, p.name)
        killed_with_temporaries += bool(_temporaries(tmp_path))
        # The next run writes into the same directory and cleans what the killed one left.
        write_all_atomic([(tmp_path / "next.json", b"{}")])
        assert _temporaries(tmp_path) == [], run
    assert all(p.exists() for p in paths)
    assert killed_with_temporaries > 0  # kills did land mid-write


def test_stdout_dash_is_written_after_the_files(tmp_path, capsys):
    write_all_atomic([("-", b"to stdout\n"), (tmp_path / "f", b"file")])
    assert capsys.readouterr().out == "to stdout\n"
    assert (tmp_path / "f").read_bytes() == b"file"
    assert _files._is_stream("-") and not _files._is_stream(str(tmp_path / "f"))


def test_dev_stdout_redirected_to_a_file_holds_the_whole_json(tmp_path):
    # Opened anew with O_TRUNC, /dev/stdout would have its own offset: the text printed
    # afterwards through stdout overwrote the JSON. It is written as '-' is.
    import json

    out = tmp_path / "out.txt"
    script = "import sys; from keras_confusion.cli import main; sys.exit(main(sys.argv[1:]))"
    with open(out, "wb") as f:
        rc = subprocess.run([sys.executable, "-c", script, "evaluate", _csv(tmp_path),
                             "--label", "y", "--score", "p", "--bootstrap", "0", "--quiet",
                             "--json", "/dev/stdout"], stdout=f,
                            stderr=subprocess.PIPE).returncode
    assert rc == 0
    assert json.loads(out.read_text())["num_samples"] == 200
