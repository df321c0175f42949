"""Peak resident memory of PyTorch's b1 workload (UNet2d attack step, batch 8 × 4 × 128²), or
with --train of its b3 workload (the same UNet's training step with Adam), for comparison with
`mira bench --only b1_unet` / `--only b3` under `/usr/bin/time -v` (BENCHMARKS.md).

Usage:  /usr/bin/time -v python3 bench/peak_rss_b1.py [--shared ../shared] [--baseline] [--train]
With --baseline, builds the model and exits before the first step (the process's floor).
The steps are those of ../shared/bench/reference_bench.py, copied here so that nothing else
runs in the process.
"""
import argparse
import sys

ap = argparse.ArgumentParser()
ap.add_argument("--shared", default="../shared")
ap.add_argument("--baseline", action="store_true")
ap.add_argument("--steps", type=int, default=4)
ap.add_argument("--train", action="store_true")
a = ap.parse_args()
sys.path.insert(0, f"{a.shared}/bench")

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from reference_models import UNet2d  # noqa: E402

torch.set_num_threads(2)
torch.manual_seed(0)
unet = UNet2d().train() if a.train else UNet2d().eval()
for p in unet.parameters():
    p.requires_grad_(a.train)
x0 = torch.rand(8, 4, 128, 128)
labels = torch.randint(0, 4, (8, 128, 128))
opt = torch.optim.Adam(unet.parameters(), lr=1e-3) if a.train else None
if a.baseline:
    sys.exit(0)
if a.train:
    for _ in range(a.steps):
        opt.zero_grad(set_to_none=True)
        F.cross_entropy(unet(x0), labels).backward()
        opt.step()
    sys.exit(0)
for _ in range(a.steps):
    x = x0.clone().requires_grad_(True)
    loss = F.cross_entropy(unet(x), labels)
    (g,) = torch.autograd.grad(loss, x)
    x = (x0 + 0.01 * g.sign()).clamp(0, 1)
