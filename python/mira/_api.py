"""The commands of `mira` as Python functions: each builds the command line, runs the binary
(output passed through) and returns the folder it wrote."""

from __future__ import annotations

from pathlib import Path
from typing import Optional, Sequence, Union

from mira._cli import PathLike, as_path, call, flags

Numbers = Union[float, Sequence[float]]


def run(
    experiment: PathLike,
    out: Optional[PathLike] = None,
    *,
    seed: Optional[int] = None,
    shard: Optional[str] = None,
    quiet: bool = False,
    extra_args: Sequence[str] = (),
) -> Path:
    """`mira run EXPERIMENT`: trains what has no checkpoint, attacks every cell, writes the
    records, summaries and report; resumes a folder it finds. Returns the run folder
    (`runs/NAME` unless `out` is given).

    Raises:
        MiraError: invalid input (code 2) or a runtime failure (code 1).
    """
    args = ["run", str(experiment)] + flags([("out", as_path(out)), ("seed", seed), ("shard", shard)])
    text = call(args + list(extra_args), quiet=quiet)
    if out is not None:
        return Path(out)
    for line in text.splitlines():
        if line.startswith("Report") and ": " in line:
            return Path(line.rsplit(": ", 1)[1]).parent
    for line in text.splitlines():
        if "Records: " in line:
            return Path(line.split("Records: ", 1)[1].split(";")[0]).parent
    raise RuntimeError("mira run did not say where it wrote; pass out=")


def _eps(values: Optional[Numbers]) -> Optional[list]:
    if values is None:
        return None
    return list(values) if isinstance(values, (list, tuple)) else [values]


def attack(
    model: PathLike,
    input: Optional[PathLike] = None,
    *,
    eps: Optional[Numbers] = None,
    eps_hu: Optional[Numbers] = None,
    eps_percent: Optional[Numbers] = None,
    attack: str = "apgd",
    loss: Optional[Union[str, Sequence[str]]] = None,
    steps: Optional[int] = None,
    queries: Optional[int] = None,
    norm: str = "linf",
    out: PathLike = "runs/attack",
    labels: Optional[PathLike] = None,
    channels: Optional[Sequence[str]] = None,
    label_values: Optional[Sequence[int]] = None,
    normalise: Optional[str] = None,
    roi: Optional[Sequence[int]] = None,
    overlap: Optional[float] = None,
    blend: Optional[str] = None,
    window_attack: Optional[str] = None,
    seed: Optional[int] = None,
    quiet: bool = False,
    extra_args: Sequence[str] = (),
) -> Path:
    """`mira attack`: attacks `model` (an `.onnx` file or a checkpoint folder) on the files of
    `input` (NIfTI, DICOM, PNG; without `input`, on phantom slices) at each budget, writes the
    adversarial files under `out/eps_<ε>/` and the records. Budgets: `eps` in model units,
    `eps_hu` (with `normalise="ct:CENTER,WIDTH"`) or `eps_percent`. `loss`: `ce`, `margin`,
    `segpgd`, `cospgd`, `dice`, or several with `attack="auto"`. Returns `out`.

    Raises:
        MiraError: invalid input (code 2) or a runtime failure (code 1).
    """
    args = ["attack", "--model", str(model)] + flags(
        [
            ("input", as_path(input)),
            ("attack", attack),
            ("eps", _eps(eps)),
            ("eps-hu", _eps(eps_hu)),
            ("eps-percent", _eps(eps_percent)),
            ("loss", [loss] if isinstance(loss, str) else loss),
            ("steps", steps),
            ("queries", queries),
            ("norm", norm),
            ("out", str(out)),
            ("labels", as_path(labels)),
            ("channels", channels),
            ("label-values", label_values),
            ("normalise", normalise),
            ("roi", roi),
            ("overlap", overlap),
            ("blend", blend),
            ("window-attack", window_attack),
            ("seed", seed),
        ]
    )
    call(args + list(extra_args), quiet=quiet)
    return Path(out)


def predict(
    model: PathLike,
    input: PathLike,
    out: PathLike = "runs/predict",
    *,
    channels: Optional[Sequence[str]] = None,
    normalise: Optional[str] = None,
    axes: Optional[str] = None,
    roi: Optional[Sequence[int]] = None,
    overlap: Optional[float] = None,
    blend: Optional[str] = None,
    quiet: bool = False,
    extra_args: Sequence[str] = (),
) -> Path:
    """`mira predict`: an ONNX model's logits and labels for every case of `input`, as NIfTI
    under `out`. Returns `out`.

    Raises:
        MiraError: invalid input (code 2) or a runtime failure (code 1).
    """
    args = ["predict", "--model", str(model), "--input", str(input), "--out", str(out)]
    args += flags(
        [
            ("channels", channels),
            ("normalise", normalise),
            ("axes", axes),
            ("roi", roi),
            ("overlap", overlap),
            ("blend", blend),
        ]
    )
    call(args + list(extra_args), quiet=quiet)
    return Path(out)


def phantom_folder(
    out: PathLike,
    *,
    cases: int = 12,
    slices: int = 8,
    size: int = 64,
    format: str = "nifti",
    seed: int = 0,
    quiet: bool = False,
) -> Path:
    """`mira phantom-folder`: a BraTS-layout folder of seeded phantom cases (`images/` with
    `<case>_<t1|t1c|t2|flair>.nii.gz`, `labels/` with values 0, 1, 2, 4). Returns `out`."""
    args = ["phantom-folder", str(out)] + flags(
        [("cases", cases), ("slices", slices), ("size", size), ("format", format), ("seed", seed)]
    )
    call(args, quiet=quiet)
    return Path(out)
