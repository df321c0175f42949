"""records() and summary() on the committed golden runs: one row per record, per-label Dice
as columns, nested fields flattened; no binary needed."""

import json

import pytest

import mira

pd = pytest.importorskip("pandas")

TASKS = ["segmentation", "registration", "brain_age", "shape", "synthesis", "attack"]


@pytest.mark.parametrize("task", TASKS)
def test_one_row_per_record_of_every_task(root, task):
    run = root / "crates/mira-cli/tests/golden" / task / "expected"
    lines = [json.loads(l) for l in open(run / "records.jsonl") if l.strip()]
    df = mira.records(run)
    assert len(df) == len(lines)
    assert "model" in df.columns and "perceptibility.ssim" in df.columns
    s = mira.summary(run)
    assert len(s) == len(json.load(open(run / "summary.json")))


def test_segmentation_labels_become_columns(root):
    run = root / "crates/mira-cli/tests/golden/segmentation/expected"
    df = mira.records(run)
    first = json.loads(open(run / "records.jsonl").readline())
    for i, label in enumerate(first["labels"]):
        assert f"clean_dice_{label}" in df.columns and f"adv_dice_{label}" in df.columns
        assert df.loc[0, f"adv_dice_{label}"] == first["adv_dice"][i] or (
            first["adv_dice"][i] is None and pd.isna(df.loc[0, f"adv_dice_{label}"])
        )
    assert "perceptibility.ssim_channels_0" in df.columns
    assert df["epsilon"].dtype.kind == "f"


def test_a_broken_line_is_refused(tmp_path):
    (tmp_path / "records.jsonl").write_text('{"model": "m"}\n{"model": \n')
    with pytest.raises(ValueError, match="records.jsonl:2"):
        mira.records(tmp_path)
