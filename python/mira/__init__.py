"""Mira from Python: the `mira` command's runs, attacks and predictions as functions, their
results as pandas data frames, and a checked PyTorch → ONNX export.

    import mira
    onnx = mira.export(net, torch.rand(1, 4, 64, 64), "unet.onnx")
    out = mira.attack(onnx, "data/images", labels="data/labels", eps=[0, 0.01, 0.02])
    df = mira.records(out)

Every function runs the `mira` binary the wheel installed (`find_mira_bin`); its output is
passed through, and a failure raises `MiraError` with mira's own message and exit code (2:
invalid input, 1: runtime failure). docs/python.md has the whole API.
"""

from mira._api import attack, phantom_folder, predict, run
from mira._binary import MiraNotFound, find_mira_bin
from mira._cli import MiraError
from mira._frames import records, summary
from mira.export import ExportError, export

__all__ = [
    "ExportError",
    "MiraError",
    "MiraNotFound",
    "attack",
    "export",
    "find_mira_bin",
    "phantom_folder",
    "predict",
    "records",
    "run",
    "summary",
]
