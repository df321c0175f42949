"""Finding the `mira` binary the wheel installed (or one the user points at)."""

from __future__ import annotations

import os
import shutil
import sys
import sysconfig
from pathlib import Path


class MiraNotFound(RuntimeError):
    """No `mira` binary could be found."""


def find_mira_bin() -> str:
    """The path of the `mira` binary: `$MIRA_BIN` when set, else the one this package's wheel
    installed into the environment's scripts folder (also the user scheme's), else `mira` on
    PATH.

    Raises:
        MiraNotFound: none of them exists.
    """
    exe = "mira" + (sysconfig.get_config_var("EXE") or "")
    override = os.environ.get("MIRA_BIN")
    if override:
        if Path(override).is_file():
            return override
        raise MiraNotFound(f"MIRA_BIN={override} is not a file")
    candidates = [Path(sysconfig.get_path("scripts")) / exe]
    user_scheme = {"nt": "nt_user", "posix": "posix_user"}.get(os.name)
    if user_scheme and user_scheme in sysconfig.get_scheme_names():
        candidates.append(Path(sysconfig.get_path("scripts", scheme=user_scheme)) / exe)
    candidates.append(Path(sys.prefix) / "bin" / exe)
    for c in candidates:
        if c.is_file():
            return str(c)
    found = shutil.which(exe)
    if found:
        return found
    raise MiraNotFound(
        "the mira binary was not found: install the wheel (`pip install mira-robustness`, or "
        "`bash scripts/build_wheel.sh` then `pip install dist/*.whl`), or set MIRA_BIN"
    )
