"""Writing outputs: each file whole, the old one or the new one, never partial.

A regular file is written to a temporary file beside it, flushed to disk and renamed
over it (`os.replace`, atomic within a directory); the directory is flushed after the
rename. Several outputs are all staged before any is renamed, so an output that cannot
be written changes none. A rename per file is atomic, the set of them is not: a run
killed (SIGKILL, power loss) between two renames leaves some outputs new and the
others old, each whole.

What is at the path decides how it is written:

* ``-``: standard output.
* a symbolic link: the file it points to is written (as a shell's ``>`` does); the
  link stays. Replacing the link with a regular file would silently cut whatever
  the link was for (a report served from elsewhere, a dotfile repository).
* an existing regular file: its permission bits (and owner, where allowed) are kept;
  a read-only file (no write bit, or not writable by this user) is refused with
  `PermissionError` naming it, not replaced.
* anything else that exists (a FIFO, a character device such as ``/dev/null`` or
  ``/dev/stdout``, a socket), and any path under ``/dev`` or ``/proc``: opened and
  written directly. Renaming a file over it would replace the device node.

Temporary files are named ``.keras-confusion-<pid>-<space>-<random>.tmp``. A run
killed before its renames leaves them behind; the next run that writes into the same
directory removes those whose process is gone. ``<space>`` names the process-id space
the pid belongs to (the machine's boot and, on Linux, the pid namespace: a container
has its own), so that a run never judges, by a pid of its own space, the temporary
file of a live run on another machine or in another container sharing the directory
(a network file system, a mounted volume). Those are left alone.
"""

from __future__ import annotations

import errno
import os
import re
import secrets
import stat
import sys

TMP_PREFIX = ".keras-confusion-"
_TMP_NAME = re.compile(re.escape(TMP_PREFIX) + r"(\d+)-([0-9a-f]{8})-[0-9a-f]+\.tmp\Z")
_STREAM_ROOTS = ("/dev/", "/proc/")


def write_atomic(path, data: bytes) -> None:
    """Write ``data`` to ``path`` whole: the old file or the new one, never partial."""
    write_all_atomic([(path, data)])


def _read(path: str) -> str:
    try:
        with open(path) as f:
            return f.read().strip()
    except OSError:
        return ""


_SPACE = []  # `_pid_space`'s value, once computed


def _pid_space() -> str:
    """8 hex digits naming the space this process's id belongs to: a hash of the
    machine's boot id (Linux; the host name elsewhere) and of its pid namespace, so
    two containers on one machine differ, and so do two machines."""
    if not _SPACE:
        import hashlib
        import socket

        boot = _read("/proc/sys/kernel/random/boot_id") or socket.gethostname()
        try:
            namespace = str(os.stat("/proc/self/ns/pid").st_ino)
        except OSError:
            namespace = ""
        _SPACE.append(hashlib.sha256(f"{boot}/{namespace}".encode()).hexdigest()[:8])
    return _SPACE[0]


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # PermissionError: another user's process, alive
        return True
    return True


def clean_stale_temporaries(directory: str) -> list[str]:
    """Remove this library's temporary files in ``directory`` whose writing process is
    gone (a run killed before its rename), among those written in this process's pid
    space (`_pid_space`); returns their paths."""
    removed = []
    try:
        names = os.listdir(directory)
    except OSError:
        return removed
    for name in names:
        m = _TMP_NAME.match(name)
        if m and m.group(2) == _pid_space() and not _alive(int(m.group(1))):
            path = os.path.join(directory, name)
            try:
                os.unlink(path)
                removed.append(path)
            except OSError:
                pass  # another run removed it, or no permission: not ours to insist
    return removed


def is_stdout(path: str) -> bool:
    """Whether ``path`` is standard output: ``-``, or a path such as ``/dev/stdout``
    that opens the file standard output already writes (written through
    ``sys.stdout``, so that the two share one offset instead of overwriting)."""
    if path == "-":
        return True
    if not os.path.abspath(path).startswith(_STREAM_ROOTS):
        return False
    try:
        return os.path.samestat(os.stat(path), os.fstat(sys.stdout.fileno()))
    except (OSError, ValueError, AttributeError):  # no stdout file (a test's capture)
        return False


def _is_stream(path: str) -> bool:
    """Whether ``path`` is written directly: stdout, or an existing path that is not
    a regular file (a FIFO, a device), or a path under /dev or /proc."""
    if path == "-":
        return True
    real = os.path.realpath(path)
    if os.path.abspath(path).startswith(_STREAM_ROOTS) or real.startswith(_STREAM_ROOTS):
        return True
    try:
        st = os.stat(path)  # follows links
    except FileNotFoundError:
        return False
    return not stat.S_ISREG(st.st_mode) and not stat.S_ISDIR(st.st_mode)


def _target(path: str):
    """``(file to replace, its stat or None)`` for a regular-file output: a symbolic
    link is followed to the file it points to."""
    if os.path.isdir(path) or os.fspath(path).endswith(("/", os.sep)):
        # A path ending in "/" names a directory even where none exists: writing it as
        # a file (abspath drops the "/") made a file where a directory was meant.
        raise IsADirectoryError(errno.EISDIR, os.strerror(errno.EISDIR), path)
    target = os.path.realpath(path) if os.path.islink(path) else os.path.abspath(path)
    try:
        st = os.stat(target)
    except FileNotFoundError:
        return target, None
    if not (st.st_mode & 0o222) or not os.access(target, os.W_OK):
        raise PermissionError(
            errno.EACCES, f"read-only file (mode {stat.S_IMODE(st.st_mode):04o}); not "
            "replaced (make it writable, or write elsewhere)", path)
    return target, st


def _fsync_directory(directory: str) -> None:
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return  # a platform or file system without directory handles
    try:
        os.fsync(fd)
    except OSError:
        pass  # some file systems refuse fsync on directories; the rename stands
    finally:
        os.close(fd)


def _stage(path: str, data: bytes):
    """Write ``data`` to a new temporary file beside ``path``'s target; returns
    ``(temporary, target)``. Raises OSError naming ``path``."""
    target, st = _target(path)
    directory = os.path.dirname(target)
    clean_stale_temporaries(directory)
    # A short name: the output's own name may be near NAME_MAX.
    tmp = os.path.join(directory,
                       f"{TMP_PREFIX}{os.getpid()}-{_pid_space()}-{secrets.token_hex(4)}.tmp")
    if st is not None:
        mode = stat.S_IMODE(st.st_mode)
    else:
        umask = os.umask(0)
        os.umask(umask)
        mode = 0o666 & ~umask
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
            os.fchmod(f.fileno(), mode)
            if st is not None and (st.st_uid, st.st_gid) != (os.getuid(), os.getgid()):
                try:
                    os.fchown(f.fileno(), st.st_uid, st.st_gid)
                except OSError:
                    pass  # only root may give a file away; the mode is kept regardless
    except BaseException:
        os.unlink(tmp)
        raise
    return tmp, target


def _write_stream(path: str, data: bytes) -> None:
    if is_stdout(path):
        out = sys.stdout.buffer if hasattr(sys.stdout, "buffer") else None
        if out is None:  # a replaced sys.stdout (a test's capture) takes text
            sys.stdout.write(data.decode("utf-8", "replace"))
            sys.stdout.flush()
            return
        sys.stdout.flush()
        out.write(data)
        out.flush()
        return
    # No O_CREAT: a path under /dev or /proc that is not there is not created (as
    # root, `/dev/nul` would become a file); O_TRUNC is ignored by devices and FIFOs.
    fd = os.open(path, os.O_WRONLY | os.O_TRUNC)
    with os.fdopen(fd, "wb") as f:
        f.write(data)


def write_all_atomic(outputs) -> None:
    """Write each ``(path, data)`` of ``outputs``: each output whole, old or new.

    Every regular file is first written in full (and flushed to disk) to a temporary
    file beside it; only then are they renamed into place, and their directories
    flushed. An output that cannot be written (no such directory, a directory of
    that name, a read-only file, no permission, a full disk) raises `OSError` naming
    its path before any output is changed, and the temporary files are removed.
    Streams (``-``, FIFOs, devices) are written last, directly. See the module
    docstring for what a killed run leaves.
    """
    outputs = [(os.fspath(p) if p != "-" else p, d) for p, d in outputs]
    staged, streams = [], []
    try:
        for path, data in outputs:
            if _is_stream(path):
                streams.append((path, data))
                continue
            try:
                staged.append(_stage(path, data))
            except OSError as e:
                if e.filename == path:
                    raise
                # Name the output, not the temporary file.
                raise type(e)(e.errno, e.strerror or str(e), path) from None
        directories = set()
        for tmp, target in staged:
            os.replace(tmp, target)
            directories.add(os.path.dirname(target))
        staged = []
        for directory in sorted(directories):
            _fsync_directory(directory)
    except BaseException:
        for tmp, _ in staged:
            try:
                os.unlink(tmp)
            except FileNotFoundError:
                pass
        raise
    for path, data in streams:
        try:
            _write_stream(path, data)
        except BrokenPipeError:
            raise
        except OSError as e:
            if e.filename is None:
                raise type(e)(e.errno, e.strerror or str(e), path) from None
            raise
