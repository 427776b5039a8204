"""Atomic file writes: a temp file in the same folder, then ``os.replace``.

A reader (a server, a resumed run) never sees a half-written file.
:func:`check_outputs` makes sure a command's outputs never overwrite its
inputs or each other.
"""

from __future__ import annotations

import json
import os
import tempfile

__all__ = ["MAX_SMALL_FILE_BYTES", "atomic_write_bytes", "atomic_write_text", "check_outputs",
           "read_json", "read_small_file"]

#: The largest config, label-space, opt.txt or other small text file read (bytes).
MAX_SMALL_FILE_BYTES = 16 * 1024 * 1024


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def atomic_write_bytes(path: str, data: bytes) -> None:
    """Writes ``data`` to ``path`` through a temp file + rename."""
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=directory)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; give a normal file's mode
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise


def atomic_write_text(path: str, text: str) -> None:
    """Writes UTF-8 ``text`` to ``path`` through a temp file + rename."""
    atomic_write_bytes(path, text.encode("utf-8"))


def read_small_file(path: str, what: str = "file", error: type = ValueError,
                    max_bytes: int = MAX_SMALL_FILE_BYTES) -> str:
    """The UTF-8 text of a small regular file. Devices, FIFOs and folders
    (``/dev/zero``), files over ``max_bytes`` and undecodable bytes raise
    ``error`` naming the file; at most ``max_bytes + 1`` bytes are ever read."""
    import stat

    try:
        info = os.stat(path)
    except FileNotFoundError:
        raise error(f"{path}: {what} not found") from None
    except OSError as err:
        raise error(f"{path}: cannot read the {what} ({err.strerror or err})") from None
    if not stat.S_ISREG(info.st_mode):
        raise error(f"{path}: the {what} must be a regular file")
    try:
        with open(path, "rb") as f:
            data = f.read(max_bytes + 1)
    except OSError as err:
        raise error(f"{path}: cannot read the {what} ({err.strerror or err})") from None
    if len(data) > max_bytes:
        raise error(f"{path}: the {what} is larger than {max_bytes} bytes")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as err:
        raise error(f"{path}: the {what} is not UTF-8 text ({err.reason} at byte "
                    f"{err.start})") from None


def read_json(path: str, what: str = "file", error: type = ValueError):
    """Parsed JSON of ``path`` (a small regular file, ``read_small_file``); a
    missing, oversized or malformed file raises ``error`` naming it."""
    text = read_small_file(path, what, error)
    try:
        return json.loads(text)
    except json.JSONDecodeError as err:
        raise error(f"{path}: not valid JSON: {err}") from None
    except RecursionError:
        raise error(f"{path}: the JSON is nested too deep") from None


def check_outputs(outputs, inputs) -> None:
    """Before anything is written: ``outputs`` (output path, what it is made from)
    must not name an input file (``inputs``) or the same file twice. Raises
    ValueError naming both files."""
    taken = {os.path.realpath(p): f"the input {p}" for p in inputs if p}
    for path, source in outputs:
        real = os.path.realpath(path)
        if real in taken:
            raise ValueError(f"{path}: the output for {source} would overwrite {taken[real]}; "
                             "choose another --out (outputs never replace inputs or each other)")
        taken[real] = f"the output for {source}"
