"""The new-user walk-through of docs/models.md, its PyTorch half: train a small MONAI 3D UNet
on the phantom folder that `mira phantom-folder` writes, as a user trains theirs, and save the
weights; `scripts/export_onnx.py` then exports it and Mira takes over.

The training input is what Mira will feed the model: each case's channels normalised to
[0, 1] between their 0.5th and 99.5th percentiles (Mira's default `--normalise percentile`),
volumes as [C, z, y, x] of the NIfTI arrays (Mira's default `--axes zyx`), labels 0, 1, 2, 4 →
classes 0..3.

  mira phantom-folder walk/data --cases 6 --slices 16 --size 64
  /tmp/onnxenv/bin/python scripts/walkthrough_monai.py walk/data walk/unet.pt
  (torch 2.15.0, monai 1.6.1, nibabel 5.3.2)
"""

import sys

import nibabel as nib
import numpy as np
import torch
import torch.nn.functional as F
from monai.networks.nets import UNet

CHANNELS = ["t1", "t1c", "t2", "flair"]
KWARGS = dict(spatial_dims=3, in_channels=4, out_channels=4, channels=[16, 32, 64],
              strides=[2, 2], num_res_units=1)


def percentile(v, q):
    # numpy's linear interpolation, as Mira's `percentile`
    return np.percentile(v, q)


def case(data, name):
    chans = []
    for c in CHANNELS:
        a = nib.load(f"{data}/images/{name}_{c}.nii.gz").get_fdata().astype(np.float32)
        lo, hi = percentile(a, 0.5), percentile(a, 99.5)
        hi = hi if hi > lo else lo + 1.0
        chans.append(np.clip((a - lo) / (hi - lo), 0, 1).transpose(2, 1, 0))  # [z, y, x]
    lab = nib.load(f"{data}/labels/{name}.nii.gz").get_fdata().astype(np.int64).transpose(2, 1, 0)
    lab = np.searchsorted(np.array([0, 1, 2, 4]), lab)
    return np.stack(chans), lab


def main(data, out):
    torch.manual_seed(0)
    names = [f"case{i:03d}" for i in range(4)]  # cases 4 and 5 are left for testing
    xs, ys = zip(*(case(data, n) for n in names))
    x, y = torch.from_numpy(np.stack(xs)), torch.from_numpy(np.stack(ys))
    net = UNet(**KWARGS)
    opt = torch.optim.Adam(net.parameters(), lr=3e-3)
    for step in range(300):
        i = torch.randint(0, len(names), (2,))
        loss = F.cross_entropy(net(x[i]), y[i])
        opt.zero_grad()
        loss.backward()
        opt.step()
        if step % 50 == 0:
            print(f"step {step} loss {loss.item():.3f}")
    torch.save(net.state_dict(), out)
    print(f"saved {out}; export with --kwargs '{__import__('json').dumps(KWARGS)}'")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
