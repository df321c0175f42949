"""A run folder's records and summary as pandas data frames."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Dict, List

from mira._cli import PathLike


def _pandas() -> Any:
    try:
        import pandas
    except ImportError as e:  # pragma: no cover - exercised where pandas is absent
        raise ImportError(
            "mira.records and mira.summary need pandas: pip install 'mira-robustness[frames]'"
        ) from e
    return pandas


def _flatten(row: Dict[str, Any]) -> Dict[str, Any]:
    """One record as flat columns: nested objects as `parent.child`, lists that pair with the
    record's `labels` as one column per label (`clean_dice_core`), the perturbation's SSIM per
    channel as `perceptibility.ssim_channels_0`, …; other lists stay lists."""
    labels: List[str] = row.get("labels") or []
    out: Dict[str, Any] = {}

    def put(key: str, value: Any) -> None:
        if isinstance(value, dict):
            for k, v in value.items():
                put(f"{key}.{k}", v)
        elif isinstance(value, list) and labels and len(value) == len(labels) and key != "labels":
            for label, v in zip(labels, value):
                out[f"{key}_{label}"] = v
        elif isinstance(value, list) and key.endswith("ssim_channels"):
            for i, v in enumerate(value):
                out[f"{key}_{i}"] = v
        else:
            out[key] = value

    for k, v in row.items():
        put(k, v)
    return out


def read_jsonl(path: PathLike) -> List[Dict[str, Any]]:
    """The JSON lines of `path` (a trailing partial line, as an interrupted writer may leave,
    is refused: mira writes whole lines atomically)."""
    rows = []
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            if line.strip():
                try:
                    rows.append(json.loads(line))
                except json.JSONDecodeError as e:
                    raise ValueError(f"{path}:{n}: not a JSON line: {e}") from e
    return rows


def records(run_dir: PathLike) -> Any:
    """`RUN_DIR/records.jsonl` as a data frame: one row per record (case × cell), nested fields
    flattened and per-label values as columns (`adv_dice_core`, `hd95.adv_edema`, …)."""
    pd = _pandas()
    rows = [_flatten(r) for r in read_jsonl(Path(run_dir) / "records.jsonl")]
    return pd.DataFrame(rows)


def summary(run_dir: PathLike) -> Any:
    """`RUN_DIR/summary.json` as a data frame: one row per cell (model, attack, budget), as in
    `summary.md`, flattened like [`records`]."""
    pd = _pandas()
    with open(Path(run_dir) / "summary.json", encoding="utf-8") as f:
        data = json.load(f)
    if isinstance(data, dict):
        data = data.get("rows", [data])
    return pd.DataFrame([_flatten(r) for r in data])
