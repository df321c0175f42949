"""Mira from Python, notebook-shaped (runnable as a script): export a small MONAI network,
attack it on a phantom folder, plot Dice against ε from the records' data frame.

    pip install dist/mira_robustness-*.whl pandas matplotlib   # + torch monai onnx onnxruntime to export
    python examples/python/quickstart.py                       # trains and exports a 2D MONAI UNet
    python examples/python/quickstart.py --model examples/python/monai_unet2d_phantom.onnx
                                                               # attack-and-plot part only (CI)

The committed `monai_unet2d_phantom.onnx` was made by this script's export part:
`python examples/python/quickstart.py --export-only --out examples/python/monai_unet2d_phantom.onnx`
(torch 2.15.0, monai 1.6.1, onnx 1.23.2, onnxruntime 1.32.0; seed 0, 20 epochs, about a minute
on 2 cores).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import mira

CHANNELS = ["t1", "t1c", "t2", "flair"]
LABEL_VALUES = [0, 1, 2, 4]


# %% 1. Data: a phantom folder in the BraTS layout (training cases, and held-out cases to attack)
def make_data(work: Path) -> tuple:
    train = mira.phantom_folder(work / "train", cases=8, slices=8, size=64, seed=0, quiet=True)
    test = mira.phantom_folder(work / "test", cases=2, slices=8, size=64, seed=1, quiet=True)
    return train, test


# %% 2. A small MONAI UNet trained on the phantom slices, as Mira will feed them: each case's
# channels scaled to [0, 1] between their 0.5th and 99.5th percentiles (Mira's default
# `--normalise percentile`), slices across the third axis as [y, x] arrays.
def train_and_export(train: Path, out: Path, epochs: int) -> Path:
    import nibabel as nib
    import numpy as np
    import torch
    from monai.losses import DiceCELoss
    from monai.networks.nets import UNet

    xs, ys = [], []
    for lab_file in sorted((train / "labels").glob("*.nii.gz")):
        case = lab_file.name[: -len(".nii.gz")]
        chans = []
        for c in CHANNELS:
            a = nib.load(str(train / "images" / f"{case}_{c}.nii.gz")).get_fdata().astype(np.float32)
            lo, hi = np.percentile(a, 0.5), np.percentile(a, 99.5)
            chans.append(np.clip((a - lo) / max(hi - lo, 1e-6), 0, 1))
        vol = np.stack(chans)  # [C, x, y, z]
        lab = np.searchsorted(LABEL_VALUES, nib.load(str(lab_file)).get_fdata().astype(np.int64))
        for k in range(vol.shape[3]):
            xs.append(vol[:, :, :, k].transpose(0, 2, 1))
            ys.append(lab[:, :, k].T)
    x = torch.from_numpy(np.stack(xs))
    y = torch.from_numpy(np.stack(ys))
    torch.manual_seed(0)
    net = UNet(spatial_dims=2, in_channels=4, out_channels=4, channels=(16, 32, 64),
               strides=(2, 2), num_res_units=1)
    opt = torch.optim.Adam(net.parameters(), lr=3e-3)
    # Cross-entropy alone leaves the small tumour classes under-segmented; Dice + CE as nnU-Net.
    criterion = DiceCELoss(to_onehot_y=True, softmax=True)
    for epoch in range(epochs):
        perm = torch.randperm(len(x))
        total = 0.0
        for i in range(0, len(x), 8):
            idx = perm[i : i + 8]
            loss = criterion(net(x[idx]), y[idx].unsqueeze(1))
            opt.zero_grad()
            loss.backward()
            opt.step()
            total += loss.item() * len(idx)
        print(f"epoch {epoch + 1}: loss {total / len(x):.4f}")
    return mira.export(net, torch.rand(1, 4, 64, 64), out)


# %% 3. Attack it with Mira on the held-out cases, and read the records as a data frame
def attack_and_plot(model: Path, test: Path, work: Path) -> object:
    out = mira.attack(
        model,
        test / "images",
        labels=test / "labels",
        channels=CHANNELS,
        label_values=LABEL_VALUES,
        attack="pgd",
        steps=10,
        eps=[0.0, 0.005, 0.01, 0.02, 0.04],
        out=work / "attack",
    )
    df = mira.records(out)
    lines = sum(1 for line in open(out / "records.jsonl") if line.strip())
    assert len(df) == lines, f"{len(df)} rows for {lines} records"
    curve = df.groupby("epsilon")[["clean_dice", "adv_dice", "written_dice"]].mean()
    print(curve.to_string(float_format=lambda v: f"{v:.3f}"))

    # %% 4. Dice against ε
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5, 3.5))
    ax.plot(curve.index, curve["adv_dice"], "o-", label="attacked (in memory)")
    ax.plot(curve.index, curve["written_dice"], "s--", label="written files, read back")
    ax.set_xlabel("ε (model units)")
    ax.set_ylabel("mean foreground Dice")
    ax.set_title("PGD-10 on a MONAI UNet (phantom)")
    ax.legend()
    fig.tight_layout()
    png = work / "dice_vs_eps.png"
    fig.savefig(png, dpi=100)
    print(f"plot: {png}")
    return df


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--work", default="runs/quickstart", help="working folder")
    p.add_argument("--model", help="an ONNX model to attack (skips training and export)")
    p.add_argument("--epochs", type=int, default=20)
    p.add_argument("--export-only", action="store_true", help="train and export, then stop")
    p.add_argument("--out", help="with --export-only: where to write the ONNX model")
    args = p.parse_args()
    work = Path(args.work)
    train, test = make_data(work)
    model = Path(args.model) if args.model else None
    if model is None:
        model = train_and_export(train, Path(args.out) if args.out else work / "unet2d.onnx", args.epochs)
        if args.export_only:
            return
    attack_and_plot(model, test, work)


if __name__ == "__main__":
    main()
