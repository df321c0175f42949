"""The PyTorch twin of `mira-onnx/examples/attack_step.rs`: exports MONAI's 3D UNet (1 channel,
2 classes, channels 16/32/64/128, strides 2, two residual units: MONAI's usual 3D example)
to ONNX, then times an attack step on a 1x1x96^3 input: forward, cross-entropy against the
clean argmax, input gradient, sign step. Same input formula as the Rust example.

  /tmp/onnxenv/bin/pip install torch==2.15.0 onnx==1.23.2 monai==1.6.1 onnxscript
  /tmp/onnxenv/bin/python scripts/bench_onnx_3d.py /tmp/monai_unet3d_96.onnx 10 2
  cargo run --release -p mira-onnx --example attack_step -- /tmp/monai_unet3d_96.onnx 1,1,96,96,96 10
"""
import sys
import time

import torch
import torch.nn.functional as F
from monai.networks.nets import UNet


def main(path, iters, threads):
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    net = UNet(spatial_dims=3, in_channels=1, out_channels=2, channels=(16, 32, 64, 128),
               strides=(2, 2, 2), num_res_units=2).eval()
    shape = (1, 1, 96, 96, 96)
    n = 96 ** 3
    x0 = (torch.arange(n, dtype=torch.int64) * 7919 % 1000).float().div(1000).reshape(shape)
    torch.onnx.export(net, (x0,), path, opset_version=17, dynamo=False, input_names=["input"],
                      output_names=["output"], dynamic_axes={"input": {0: "b"}, "output": {0: "b"}})
    for p in net.parameters():
        p.requires_grad_(False)
    labels = net(x0).argmax(1)

    def step():
        x = x0.clone().requires_grad_(True)
        loss = F.cross_entropy(net(x), labels)
        (g,) = torch.autograd.grad(loss, x)
        return (x0 + 0.01 * g.sign()).clamp(0, 1)

    step()
    ts = []
    for _ in range(iters):
        t = time.perf_counter()
        step()
        ts.append((time.perf_counter() - t) * 1e3)
    ts.sort()
    print(f"pytorch {torch.__version__} {shape}: median {ts[len(ts) // 2]:.1f} ms, min {ts[0]:.1f} ms, "
          f"{sum(p.numel() for p in net.parameters())} parameters, {threads} threads")


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]))
