"""Shared plumbing of the command-line tools: quiet TF logs, one-line errors.

Import this module before TensorFlow in a CLI's ``__main__`` so TF's C++
warnings stay out of the user's way (``TF_CPP_MIN_LOG_LEVEL`` is only set if
the user has not set it).
"""

from __future__ import annotations

import os
import re
import sys
from typing import Callable, Optional, Sequence

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

__all__ = ["error_line", "run_cli"]

_PY_ERROR = re.compile(r"\b(?:DataError|ConfigError|ValueError|TypeError|FileNotFoundError): (.+)")


def error_line(err: BaseException) -> str:
    """The one line a user needs from an error, also from inside a tf.data op."""
    message = getattr(err, "message", None) or str(err)
    match = _PY_ERROR.search(message)
    if match and not isinstance(err, (ValueError, TypeError, OSError)):
        return match.group(1).strip()
    lines = [line.strip() for line in message.strip().splitlines() if line.strip()]
    first = lines[0] if lines else type(err).__name__
    if first.endswith("in user code:"):  # a traced function's error: the cause is at the end
        causes = [line for line in lines if re.match(r"^\w+(Error|Exception): ", line)]
        first = causes[-1] if causes else lines[-1]
    return re.sub(r"^\{\{function_node [^}]*\}\}\s*", "", first)


def run_cli(main: Callable[[Optional[Sequence[str]]], int], argv=None) -> int:
    """Runs ``main(argv)``; user-facing errors become ``error: ...`` and exit code 2."""
    import tensorflow as tf

    try:
        return int(main(argv) or 0)
    except (ValueError, TypeError, OSError, tf.errors.OpError) as err:
        print(f"error: {error_line(err)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
