#!/usr/bin/env python3
"""Export PyTorch UNet weights for Mira (`mira` loads them with `checkpoint`/safetensors).

Usage
  python scripts/export_weights.py MODEL.pt OUT.safetensors   # a saved state_dict (torch.save)
  python scripts/export_weights.py --fixture DIR              # the test fixture (see below)

What Mira expects: a safetensors file of float32 tensors named as in PyTorch's state_dict of the
reference UNet2d of ../shared/bench/reference_models.py (widths w/2w/4w/8w, depth 3):

  enc1|enc2|enc3|bottom|dec3|dec2|dec1 . {0,1} . conv.{weight,bias}
                                         . {0,1} . bn.{weight,bias,running_mean,running_var}
  up3|up2|up1 . {weight,bias}          (ConvTranspose2d, weight [in, out, 2, 2])
  head . {weight,bias}                 (1x1 conv)

`num_batches_tracked` is dropped (Mira does not use it). BatchNorm statistics must be the
trained running statistics: Mira evaluates in eval mode, as `model.eval()` does.

--fixture DIR writes the tiny model Mira's test pins (mira-nn/tests/torch_import.rs):
UNet2d(cin=4, classes=4, w=4) from torch.manual_seed(0), BatchNorm running statistics set to
random values (so eval mode matters), a 2x4x16x16 input from torch.manual_seed(1), and the
eval-mode output: weights.safetensors, input.f32, expected.f32 (little-endian float32, C order)
and provenance.json.
"""
import json
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F
from safetensors.torch import save_file


class ConvBnRelu(nn.Module):
    def __init__(self, cin, cout):
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, 3, padding=1)
        self.bn = nn.BatchNorm2d(cout)

    def forward(self, x):
        return F.relu(self.bn(self.conv(x)))


class Block(nn.Sequential):
    def __init__(self, cin, cout):
        super().__init__(ConvBnRelu(cin, cout), ConvBnRelu(cout, cout))


class UNet2d(nn.Module):
    """The reference UNet of ../shared/bench/reference_models.py (same names, same layers)."""

    def __init__(self, cin=4, classes=4, w=16):
        super().__init__()
        self.enc1, self.enc2 = Block(cin, w), Block(w, 2 * w)
        self.enc3, self.bottom = Block(2 * w, 4 * w), Block(4 * w, 8 * w)
        self.up3, self.dec3 = nn.ConvTranspose2d(8 * w, 4 * w, 2, stride=2), Block(8 * w, 4 * w)
        self.up2, self.dec2 = nn.ConvTranspose2d(4 * w, 2 * w, 2, stride=2), Block(4 * w, 2 * w)
        self.up1, self.dec1 = nn.ConvTranspose2d(2 * w, w, 2, stride=2), Block(2 * w, w)
        self.head = nn.Conv2d(w, classes, 1)

    def forward(self, x):
        e1 = self.enc1(x)
        e2 = self.enc2(F.max_pool2d(e1, 2))
        e3 = self.enc3(F.max_pool2d(e2, 2))
        b = self.bottom(F.max_pool2d(e3, 2))
        d3 = self.dec3(torch.cat([self.up3(b), e3], 1))
        d2 = self.dec2(torch.cat([self.up2(d3), e2], 1))
        d1 = self.dec1(torch.cat([self.up1(d2), e1], 1))
        return self.head(d1)


def export(state_dict, path):
    tensors = {
        k: v.detach().to(torch.float32).contiguous()
        for k, v in state_dict.items()
        if v.dtype.is_floating_point
    }
    save_file(tensors, path)
    return tensors


def fixture(out):
    torch.manual_seed(0)
    model = UNet2d(4, 4, 4)
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.uniform_(-0.2, 0.2)
            m.running_var.uniform_(0.5, 1.5)
            m.weight.data.uniform_(0.8, 1.2)
            m.bias.data.uniform_(-0.1, 0.1)
    model.eval()
    torch.manual_seed(1)
    x = torch.rand(2, 4, 16, 16)
    with torch.no_grad():
        y = model(x)
    export(model.state_dict(), f"{out}/weights.safetensors")
    x.numpy().astype("<f4").tofile(f"{out}/input.f32")
    y.numpy().astype("<f4").tofile(f"{out}/expected.f32")
    with open(f"{out}/provenance.json", "w") as f:
        json.dump(
            {
                "made_by": "scripts/export_weights.py --fixture",
                "torch": torch.__version__,
                "model": "UNet2d(cin=4, classes=4, w=4), eval mode, torch.manual_seed(0)",
                "input": [2, 4, 16, 16],
                "output": list(y.shape),
                "output_sum": float(y.sum()),
            },
            f,
            indent=2,
        )


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--fixture":
        fixture(sys.argv[2])
    elif len(sys.argv) == 3:
        sd = torch.load(sys.argv[1], map_location="cpu", weights_only=True)
        if not isinstance(sd, dict):
            sd = sd.state_dict()
        n = len(export(sd, sys.argv[2]))
        print(f"wrote {n} tensors to {sys.argv[2]}")
    else:
        print(__doc__)
        sys.exit(2)
