"""Exporting a PyTorch network to ONNX for Mira, checked against ONNX Runtime before the file is
written (`scripts/export_onnx.py` is the command-line front of the same function).

Needs torch, onnx, onnxruntime and numpy (`pip install 'mira-robustness[export]'`); Mira
itself needs none of them.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any, Sequence, Tuple, Union

PathLike = Union[str, Path]


class ExportError(RuntimeError):
    """The export failed its check (ONNX Runtime disagrees with PyTorch) or could not run."""


def _imports() -> Tuple[Any, Any, Any, Any]:
    try:
        import numpy as np
        import onnx
        import onnxruntime as ort
        import torch
    except ImportError as e:
        raise ImportError(
            f"mira.export needs torch, onnx, onnxruntime and numpy ({e.name} is missing): "
            "pip install 'mira-robustness[export]'"
        ) from e
    return np, onnx, ort, torch


def export(
    module: Any,
    example_input: Any,
    path: PathLike,
    *,
    opset: int = 17,
    dynamic_spatial: bool = False,
    tolerance: float = 1e-4,
    verbose: bool = True,
) -> Path:
    """Exports `module` (a `torch.nn.Module`, put in eval mode) traced on `example_input` (a
    tensor `[B, C, …]`, or a shape) to `path`, with a dynamic batch axis (and dynamic spatial
    axes with `dynamic_spatial`). The file is written only after ONNX Runtime, on seeded random
    inputs at batch 1 and 2, matches PyTorch within `tolerance` of the output's range. Returns
    `path`; then `mira info PATH` says whether Mira runs every operator.

    Raises:
        ExportError: ONNX Runtime disagrees with PyTorch (nothing is written).
    """
    np, onnx, ort, torch = _imports()
    shape: Sequence[int] = (
        tuple(example_input.shape) if hasattr(example_input, "shape") else tuple(example_input)
    )
    net = module.eval()
    torch.manual_seed(0)
    x = example_input if hasattr(example_input, "shape") else torch.rand(*shape)
    axes = {0: "batch"}
    if dynamic_spatial:
        axes.update({i: f"s{i}" for i in range(2, len(shape))})
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(suffix=".onnx", dir=str(out.parent))
    os.close(fd)
    try:
        with torch.no_grad():
            torch.onnx.export(
                net, (x,), tmp, opset_version=opset, dynamo=False,
                input_names=["input"], output_names=["output"],
                dynamic_axes={"input": axes, "output": {0: "batch"}},
            )
        onnx.checker.check_model(onnx.load(tmp))
        sess = ort.InferenceSession(tmp, providers=["CPUExecutionProvider"])
        worst = 0.0
        for b in (1, 2):
            xb = torch.rand(b, *shape[1:])
            with torch.no_grad():
                want = net(xb)
            if isinstance(want, (list, tuple)):
                want = want[0]
            got = sess.run(None, {"input": xb.numpy()})[0]
            want = want.numpy()
            if got.shape != want.shape:
                raise ExportError(f"ONNX Runtime gives {got.shape}, PyTorch {want.shape} at batch {b}")
            worst = max(worst, float(np.abs(got - want).max() / max(np.abs(want).max(), 1e-12)))
        if worst > tolerance:
            raise ExportError(
                f"ONNX Runtime differs from PyTorch by {worst:.1e} of the range; not written"
            )
        os.chmod(tmp, 0o644)  # mkstemp's file is private; the export is an ordinary file
        os.replace(tmp, out)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
    if verbose:
        model = onnx.load(str(out))
        ops = sorted({n.op_type for n in model.graph.node})
        print(f"wrote {out} ({out.stat().st_size / 1e6:.1f} MB, opset {opset}); "
              f"ONNX Runtime matches PyTorch within {worst:.1e} of the range")
        print(f"input [batch, {', '.join(map(str, shape[1:]))}], operators: {', '.join(ops)}")
        print(f"next: mira info {out}")
    return out
