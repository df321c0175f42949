"""The binary from Python: found, its errors raised with mira's message and exit code, and an
attack on the committed ONNX export whose data frame has one row per record."""

import json
import subprocess
import sys

import pytest

import mira


def test_the_binary_is_found_and_runs():
    out = subprocess.run([mira.find_mira_bin(), "--version"], capture_output=True, text=True)
    assert out.returncode == 0 and out.stdout.startswith("mira")
    via_module = subprocess.run([sys.executable, "-m", "mira", "--version"], capture_output=True, text=True)
    assert via_module.stdout == out.stdout


def test_a_bad_mira_bin_is_refused(monkeypatch):
    monkeypatch.setenv("MIRA_BIN", "/nonexistent/mira")
    with pytest.raises(mira.MiraNotFound, match="MIRA_BIN"):
        mira.find_mira_bin()


def test_invalid_input_raises_with_code_2(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text('name = "x"\n[data]\nsource = "nowhere"\n')
    with pytest.raises(mira.MiraError) as e:
        mira.run(bad, out=tmp_path / "out", quiet=True)
    assert e.value.code == 2 and "source" in e.value.message


def test_attack_an_onnx_export_and_read_it_back(root, tmp_path):
    pytest.importorskip("pandas")
    data = mira.phantom_folder(tmp_path / "data", cases=1, slices=2, size=64, seed=1, quiet=True)
    out = mira.attack(
        root / "examples/python/monai_unet2d_phantom.onnx",
        data / "images",
        labels=data / "labels",
        channels=["t1", "t1c", "t2", "flair"],
        label_values=[0, 1, 2, 4],
        attack="fgsm",
        eps=[0.0, 0.02],
        out=tmp_path / "attack",
        quiet=True,
    )
    lines = [json.loads(l) for l in open(out / "records.jsonl") if l.strip()]
    df = mira.records(out)
    assert len(df) == len(lines) == 2
    assert list(df["epsilon"]) == [0.0, 0.02]
    assert df.loc[1, "adv_dice"] <= df.loc[0, "adv_dice"]
    assert (out / "eps_0.02").is_dir()


def test_ci_uses_the_installed_wheel():
    """In CI (MIRA_WHEEL_TEST=1) the package and the binary come from the wheel's venv."""
    import os
    import sysconfig

    if os.environ.get("MIRA_WHEEL_TEST") != "1":
        pytest.skip("not the wheel check")
    assert mira.__file__.startswith(sysconfig.get_path("purelib"))
    assert mira.find_mira_bin().startswith(sysconfig.get_path("scripts"))
