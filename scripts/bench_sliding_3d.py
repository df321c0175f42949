"""The PyTorch + MONAI twin of `mira-onnx/examples/window_step.rs`: exports MONAI's 3D UNet
(4 channels, 4 classes, channels 16/32/64/128, strides 2, two residual units) with a 96³
window to ONNX, then times attack steps on a 1×4×S³ volume through
`sliding_window_inference` (roi 96³, overlap 0.5, Gaussian, one window a batch) with autograd:
blended forward, cross-entropy against the clean blended argmax, input gradient, sign step.
Peak resident memory (ru_maxrss) is printed at the end. Same input formula as the Rust example.

  /tmp/onnxenv/bin/python scripts/bench_sliding_3d.py /tmp/unet4_96.onnx 128 2 2
  cargo run --release -p mira-onnx --example window_step -- /tmp/unet4_96.onnx 128 96 2
"""
import resource
import sys
import time

import torch
import torch.nn.functional as F
from monai.inferers import sliding_window_inference
from monai.networks.nets import UNet


def main(path, size, iters, threads):
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    net = UNet(spatial_dims=3, in_channels=4, out_channels=4, channels=(16, 32, 64, 128),
               strides=(2, 2, 2), num_res_units=2).eval()
    win = (1, 4, 96, 96, 96)
    torch.onnx.export(net, (torch.rand(*win),), path, opset_version=17, dynamo=False,
                      input_names=["input"], output_names=["output"],
                      dynamic_axes={"input": {0: "b"}, "output": {0: "b"}})
    for p in net.parameters():
        p.requires_grad_(False)
    shape = (1, 4, size, size, size)
    n = 4 * size ** 3
    x0 = (torch.arange(n, dtype=torch.int64) * 7919 % 1000).float().div(1000).reshape(shape)

    def blended(x):
        return sliding_window_inference(x, (96, 96, 96), 1, net, overlap=0.5, mode="gaussian",
                                        sigma_scale=0.125)

    with torch.no_grad():
        labels = blended(x0).argmax(1)

    def step():
        x = x0.clone().requires_grad_(True)
        loss = F.cross_entropy(blended(x), labels)
        (g,) = torch.autograd.grad(loss, x)
        return (x0 + 0.01 * g.sign()).clamp(0, 1)

    step()
    ts = []
    for _ in range(iters):
        t = time.perf_counter()
        step()
        ts.append((time.perf_counter() - t) * 1e3)
    ts.sort()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"pytorch {torch.__version__} + MONAI sliding window {shape}: median "
          f"{ts[len(ts) // 2]:.0f} ms, min {ts[0]:.0f} ms over {iters} steps, {threads} threads; "
          f"peak RSS {peak:.0f} MB")


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]))
