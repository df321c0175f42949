"""PyTorch twins of Mira's S3 brain-age attack steps, for `mira bench` ratios.

Usage:  python scripts/bench_s3_reference.py [--threads 2] [--iters 20] [--warmup 3] [--json]
                                                [--device cpu|cuda]

Workloads (batch 4 x 1 x 64^3, weights frozen, gradient w.r.t. the input only, as an attack step):
- b2_reg3d_attack_step: ../shared/bench's Reg3d, MSE to ages (identical to reference_bench.py's B2).
- s3_agenet_cnn_attack_step: Mira's AgeNet CNN (conv3d k3 s2 p1 widths 8/16/32/64 + ReLU, flatten,
  Linear(4096, 64), ReLU, Linear(64, 1), x 19.6 + 55): squared age error.
- s3_agenet_hybrid_attack_step: the hybrid with soft tissue features (4-class Gaussian-mixture softmax
  over intensity, class fractions over 8 octants + the central box, standardised, Linear(27, 32), ReLU)
  joined before the head Linear(96, 1).
Prints the same JSON shape as ../shared/bench/reference_bench.py.
"""
import argparse
import json
import os
import statistics
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "shared", "bench"))
from reference_models import Reg3d, n_params  # noqa: E402


class AgeNet(nn.Module):
    def __init__(self, hybrid):
        super().__init__()
        w = [1, 8, 16, 32, 64]
        self.convs = nn.ModuleList(nn.Conv3d(a, b, 3, stride=2, padding=1) for a, b in zip(w, w[1:]))
        self.fc = nn.Linear(64 * 4 ** 3, 64)
        self.hybrid = hybrid
        self.feature_fc = nn.Linear(27, 32) if hybrid else None
        self.head = nn.Linear(64 + (32 if hybrid else 0), 1)
        self.register_buffer("means", torch.tensor([0.0, 0.14, 0.47, 0.74]).view(1, 4, 1, 1, 1))
        self.sigma = 0.06

    def features(self, x):
        p = torch.softmax(-((x - self.means) ** 2) / (2 * self.sigma ** 2), dim=1)[:, 1:]
        b, c, d, h, w = p.shape
        oct_ = p.reshape(b, c, 2, d // 2, 2, h // 2, 2, w // 2).mean(dim=(3, 5, 7)).reshape(b, c, 8)
        cen = p[:, :, d // 4:3 * d // 4, h // 4:3 * h // 4, w // 4:3 * w // 4].mean(dim=(2, 3, 4))
        return torch.cat([oct_, cen.unsqueeze(2)], 2).reshape(b, 27)

    def forward(self, x):
        h = x
        for c in self.convs:
            h = F.relu(c(h))
        h = F.relu(self.fc(h.flatten(1)))
        if self.hybrid:
            h = torch.cat([h, F.relu(self.feature_fc(self.features(x)))], 1)
        return self.head(h) * 19.6 + 55.0


def timed(fn, warmup, iters, sync=lambda: None):
    for _ in range(warmup):
        fn()
    sync()
    ts = []
    for _ in range(iters):
        t0 = time.perf_counter()
        fn()
        sync()
        ts.append((time.perf_counter() - t0) * 1e3)
    return statistics.median(ts), min(ts)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--iters", type=int, default=20)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--device", default="cpu", help="cpu or cuda (the GPU check)")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    dev = torch.device(a.device)
    v0 = torch.rand(4, 1, 64, 64, 64).to(dev)
    ages = torch.tensor([[30.0], [45.0], [60.0], [75.0]]).to(dev)
    sync = torch.cuda.synchronize if dev.type == "cuda" else (lambda: None)

    def step(net):
        net = net.to(dev).eval()
        for p in net.parameters():
            p.requires_grad_(False)

        def run():
            x = v0.clone().requires_grad_(True)
            (g,) = torch.autograd.grad(((net(x) - ages) ** 2).sum(), x)
            return g
        return run

    nets = [("b2_reg3d_attack_step", Reg3d()), ("s3_agenet_cnn_attack_step", AgeNet(False)),
            ("s3_agenet_hybrid_attack_step", AgeNet(True))]
    rows = []
    for name, net in nets:
        med, mn = timed(step(net), a.warmup, a.iters, sync)
        rows.append({"workload": name, "median_ms": round(med, 2), "min_ms": round(mn, 2),
                     "samples_per_s": round(4 / (med / 1e3), 2), "params": n_params(net)})
    meta = {"framework": f"torch {torch.__version__}", "threads": a.threads, "device": a.device}
    if dev.type == "cuda":
        meta["card"] = torch.cuda.get_device_name(dev)
    if a.json:
        print(json.dumps({"meta": meta, "results": rows}))
    else:
        print(meta)
        for r in rows:
            print(f"{r['workload']}: median {r['median_ms']} ms, min {r['min_ms']} ms, "
                  f"{r['samples_per_s']} samples/s, {r['params']} parameters")


if __name__ == "__main__":
    main()
