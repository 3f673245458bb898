"""Writing outputs: each file whole or not at all (a temporary file, then a rename)."""

from __future__ import annotations

import errno
import os
import tempfile


def write_atomic(path, data: bytes) -> None:
    """Write ``data`` to ``path`` whole or not at all: a temporary file in the same
    directory, then `os.replace`."""
    write_all_atomic([(path, data)])


def write_all_atomic(outputs) -> None:
    """Write each ``(path, data)`` of ``outputs`` whole, and all of them or none.

    Every file is first written in full to a temporary file in its own directory; only
    then are they moved into place (`os.replace`, atomic within a directory). An
    output that cannot be written (no such directory, a directory of that name, no
    permission, a full disk) raises `OSError` naming its path before any output is
    replaced, and the temporary files are removed.
    """
    staged = []
    try:
        for path, data in outputs:
            path = os.fspath(path)
            try:
                if os.path.isdir(path):
                    raise IsADirectoryError(errno.EISDIR, os.strerror(errno.EISDIR), path)
                directory = os.path.dirname(os.path.abspath(path))
                # A short temporary name: the output's own name may be near NAME_MAX.
                fd, tmp = tempfile.mkstemp(dir=directory, prefix=".keras-confusion-",
                                           suffix=".tmp")
                staged.append((tmp, path))
                # mkstemp makes the file private (0600); give it a new file's usual mode.
                umask = os.umask(0)
                os.umask(umask)
                os.chmod(tmp, 0o666 & ~umask)
                with os.fdopen(fd, "wb") as f:
                    f.write(data)
            except OSError as e:
                if e.filename == path:
                    raise
                # Name the output, not the temporary file.
                raise type(e)(e.errno, e.strerror or str(e), path) from None
        for tmp, path in staged:
            os.replace(tmp, path)
    except BaseException:
        for tmp, _ in staged:
            if os.path.exists(tmp):
                os.unlink(tmp)
        raise
