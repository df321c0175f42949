#!/usr/bin/env python3
"""The S1 sweep in plain PyTorch, written the way torchattacks users write it: the PyTorch side of
`mira bench --sweep DIR --reference python3` (BENCHMARKS.md).

Usage:  python bench/s1_sweep.py --data DIR [--threads 2] [--train-epochs 5] [--json]

DIR holds what `mira bench --sweep DIR` wrote: train_x.f32 / train_y.u8 (training slices),
test_x.f32 / test_y.u8 (64 test slices), little-endian, C order, [N, 4, 128, 128] images in
[0, 1] and [N, 128, 128] labels 0..3, with meta.json giving N and the sizes.

1. Without DIR/unet.safetensors: trains the reference UNet2d (w = 16, depth 3: the network of
   ../shared/bench/reference_models.py, copied in scripts/export_weights.py) with Adam (lr 2e-3,
   batch 8, cross-entropy) for --train-epochs epochs (torch.manual_seed(0)) and saves it there
   in eval mode; Mira loads the same file, so both sides attack identical weights.
2. Times the sweep: FGSM, i-FGSM (10 steps of eps/4) and PGD (20 steps of eps/8 from a uniform
   random start) at each eps of --eps, batches of 8, the model in eval mode with frozen
   parameters; per case the mean Dice over the tumour labels 1..3 (a label absent from truth and
   prediction is left out), then the mean over cases.

Prints the time of the sweep (training excluded) and the robust Dice per (attack, eps).
"""
import argparse
import json
import os
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "scripts"))
from export_weights import UNet2d, export  # noqa: E402


def load(data, split, meta):
    n, c, h, w = meta[split]["shape"]
    x = np.fromfile(os.path.join(data, f"{split}_x.f32"), dtype="<f4").reshape(n, c, h, w)
    y = np.fromfile(os.path.join(data, f"{split}_y.u8"), dtype=np.uint8).reshape(n, h, w)
    return torch.from_numpy(x.copy()), torch.from_numpy(y.astype(np.int64))


def train(x, y, epochs, path):
    torch.manual_seed(0)
    net = UNet2d(4, 4, 16).train()
    opt = torch.optim.Adam(net.parameters(), lr=2e-3)
    for _ in range(epochs):
        order = torch.randperm(len(x))
        for i in range(0, len(x), 8):
            idx = order[i : i + 8]
            opt.zero_grad(set_to_none=True)
            F.cross_entropy(net(x[idx]), y[idx]).backward()
            opt.step()
    net.eval()
    export(net.state_dict(), path)


def dice_mean(pred, truth):
    """Per case: the mean Dice over labels 1..3 defined on that case (None if none is)."""
    out = []
    for p, t in zip(pred, truth):
        vals = []
        for k in (1, 2, 3):
            a, b = p == k, t == k
            s = int(a.sum()) + int(b.sum())
            if s > 0:
                vals.append(2.0 * int((a & b).sum()) / s)
        out.append(sum(vals) / len(vals) if vals else None)
    return out


def grad(model, x, y):
    x = x.clone().requires_grad_(True)
    loss = F.cross_entropy(model(x), y)
    (g,) = torch.autograd.grad(loss, x)
    return g


def fgsm(model, x0, y, eps):
    return (x0 + eps * grad(model, x0, y).sign()).clamp(0, 1)


def iterative(model, x0, y, eps, steps, alpha, random_start):
    x = x0.clone()
    if random_start:
        x = (x0 + torch.empty_like(x0).uniform_(-eps, eps)).clamp(0, 1)
    for _ in range(steps):
        x = x + alpha * grad(model, x, y).sign()
        x = torch.min(torch.max(x, x0 - eps), x0 + eps).clamp(0, 1)
    return x


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", required=True)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--train-epochs", type=int, default=5)
    ap.add_argument("--eps", default="0,0.005,0.01,0.02,0.04,0.08")
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    with open(os.path.join(a.data, "meta.json")) as f:
        meta = json.load(f)
    weights = os.path.join(a.data, "unet.safetensors")
    trained = False
    if not os.path.exists(weights):
        train(*load(a.data, "train", meta), a.train_epochs, weights)
        trained = True
    from safetensors.torch import load_file

    model = UNet2d(4, 4, 16)
    model.load_state_dict(load_file(weights), strict=False)
    model.eval()
    for p in model.parameters():
        p.requires_grad_(False)
    x, y = load(a.data, "test", meta)
    epsilons = [float(e) for e in a.eps.split(",")]
    attacks = [
        ("fgsm", lambda m, x0, t, e: fgsm(m, x0, t, e)),
        ("i-fgsm", lambda m, x0, t, e: iterative(m, x0, t, e, 10, e / 4, False)),
        ("pgd", lambda m, x0, t, e: iterative(m, x0, t, e, 20, e / 8, True)),
    ]
    torch.manual_seed(1)
    rows = []
    t0 = time.perf_counter()
    with torch.no_grad():
        clean = dice_mean(model(x).argmax(1), y)
    for name, attack in attacks:
        for eps in epsilons:
            dice = []
            for i in range(0, len(x), 8):
                xb, yb = x[i : i + 8], y[i : i + 8]
                adv = attack(model, xb, yb, eps)
                with torch.no_grad():
                    dice += dice_mean(model(adv).argmax(1), yb)
            d = [v for v in dice if v is not None]
            rows.append({"attack": name, "epsilon": eps, "mean_dice": sum(d) / len(d)})
    seconds = time.perf_counter() - t0
    c = [v for v in clean if v is not None]
    out = {
        "framework": f"torch {torch.__version__}",
        "threads": a.threads,
        "trained_here": trained,
        "cases": len(x),
        "sweep_seconds": round(seconds, 2),
        "clean_dice": sum(c) / len(c),
        "rows": rows,
    }
    if a.json:
        print(json.dumps(out))
    else:
        print(f"sweep {seconds:.1f} s on {len(x)} cases; clean Dice {out['clean_dice']:.3f}")
        for r in rows:
            print(f"{r['attack']:>7} eps={r['epsilon']:<6} Dice {r['mean_dice']:.3f}")


if __name__ == "__main__":
    main()
