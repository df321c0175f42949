"""Running the `mira` binary: its output passed through line by line (so progress shows in a
notebook cell as in a terminal), its exit code turned into an exception."""

from __future__ import annotations

import subprocess
import sys
from collections import deque
from pathlib import Path
from typing import Iterable, Optional, Sequence, Union

from mira._binary import find_mira_bin

PathLike = Union[str, Path]


class MiraError(RuntimeError):
    """`mira` exited with an error: `code` 2 for invalid input, 1 for a runtime failure."""

    def __init__(self, code: int, message: str, args: Sequence[str]) -> None:
        super().__init__(f"mira exited with {code}: {message}")
        self.code = code
        self.message = message
        self.command = list(args)


def call(args: Sequence[str], quiet: bool = False) -> str:
    """Runs `mira ARGS`, echoing its output (unless `quiet`) and returning it.

    Raises:
        MiraError: a non-zero exit; the message is mira's own error line(s).
    """
    cmd = [find_mira_bin(), *args]
    tail: deque = deque(maxlen=40)
    lines = []
    with subprocess.Popen(
        cmd,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        bufsize=1,
    ) as proc:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.append(line)
            tail.append(line.rstrip("\n"))
            if not quiet:
                sys.stdout.write(line)
                sys.stdout.flush()
        code = proc.wait()
    if code != 0:
        errors = [t for t in tail if t.startswith("error")] or list(tail)[-3:]
        raise MiraError(code, "\n".join(errors), cmd)
    return "".join(lines)


def flag(name: str, value: object) -> list:
    """`--name value` (lists comma-joined); nothing for None or False; `--name` for True."""
    if value is None or value is False:
        return []
    if value is True:
        return [f"--{name}"]
    if isinstance(value, (list, tuple)):
        return [f"--{name}", ",".join(str(v) for v in value)]
    return [f"--{name}", str(value)]


def flags(pairs: Iterable[tuple]) -> list:
    """The flags of `(name, value)` pairs (see [`flag`])."""
    out: list = []
    for name, value in pairs:
        out += flag(name, value)
    return out


def as_path(p: Optional[PathLike]) -> Optional[str]:
    return None if p is None else str(p)
