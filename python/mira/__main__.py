"""`python -m mira ...` runs the `mira` binary with the same arguments."""

import os
import sys

from mira._binary import find_mira_bin

if __name__ == "__main__":
    binary = find_mira_bin()
    if sys.platform == "win32":
        import subprocess

        sys.exit(subprocess.call([binary, *sys.argv[1:]]))
    os.execv(binary, [binary, *sys.argv[1:]])
