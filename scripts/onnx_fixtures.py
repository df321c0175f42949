"""Builds the small ONNX fixtures of mira-onnx's tests, with reference values.

Each fixture is a random-weight network exported from PyTorch (legacy exporter, opset 17,
dynamic batch), checked against ONNX Runtime, and stored beside:
  NAME.onnx                 the model
  NAME.json                 input/output shapes, the loss weights' seed, the opset
  NAME.input.f32            a seeded input (little-endian float32, C order)
  NAME.ort.f32              ONNX Runtime's output on it
  NAME.grad.f32             PyTorch's input gradient of sum(output * w), w seeded (NAME.w.f32)
  NAME.w.f32                those weights
and unsupported.onnx, a model with an operator Mira does not run (CumSum); reference_unet.onnx
and .safetensors (the reference UNet2d at width 8, the same weights both ways) and
bench_unet_w16.onnx (the b1 benchmark's UNet2d), which need ../shared/bench beside the repo.

Run with (versions pinned; a virtual environment outside the repository):
  python -m venv /tmp/onnxenv && /tmp/onnxenv/bin/pip install torch==2.15.0 onnx==1.23.2 \
      onnxruntime==1.32.0 onnxscript monai==1.6.1 torchvision==0.29.2 \
      dynamic-network-architectures==0.4.4
  /tmp/onnxenv/bin/python scripts/onnx_fixtures.py crates/mira-onnx/tests/fixtures
"""

import json
import pathlib
import sys

import numpy as np
import onnx
import onnxruntime as ort
import torch
import torch.nn.functional as F
from torch import nn

OPSET = 17


class Cnn2d(nn.Module):
    """A small 2D segmenter: the operators of a UNet level (Conv, BatchNorm, ReLU, LeakyReLU,
    MaxPool, ConvTranspose, Concat) plus Sigmoid, Tanh, Softmax on the way out."""

    def __init__(self):
        super().__init__()
        self.c1 = nn.Conv2d(4, 8, 3, padding=1)
        self.b1 = nn.BatchNorm2d(8)
        self.c2 = nn.Conv2d(8, 8, 3, padding=1, bias=False)
        self.pool = nn.MaxPool2d(2)
        self.c3 = nn.Conv2d(8, 16, 3, padding=1)
        self.up = nn.ConvTranspose2d(16, 8, 2, stride=2)
        self.c4 = nn.Conv2d(16, 3, 1)

    def forward(self, x):
        a = torch.relu(self.b1(self.c1(x)))
        a = nn.functional.leaky_relu(self.c2(a), 0.1)
        b = torch.tanh(self.c3(self.pool(a)))
        u = torch.sigmoid(self.up(b))
        y = self.c4(torch.cat([a, u], dim=1))
        return torch.softmax(y, dim=1) * 2.0 - y


class Reg3d(nn.Module):
    """A small 3D regressor: Conv3d, ReLU, strided Conv3d, GlobalAveragePool, Flatten, Gemm."""

    def __init__(self):
        super().__init__()
        self.c1 = nn.Conv3d(1, 4, 3, padding=1)
        self.c2 = nn.Conv3d(4, 8, 3, stride=2, padding=1)
        self.fc = nn.Linear(8, 2)

    def forward(self, x):
        a = torch.relu(self.c1(x))
        a = torch.relu(self.c2(a))
        a = nn.functional.adaptive_avg_pool3d(a, 1).flatten(1)
        return self.fc(a)


class Mlp(nn.Module):
    """Reshape, MatMul, Add, Sub, Mul, Div, Exp, Sqrt, Neg, Transpose on a flat input."""

    def __init__(self):
        super().__init__()
        self.w = nn.Parameter(torch.randn(12, 6) * 0.3)
        self.b = nn.Parameter(torch.randn(6) * 0.1)

    def forward(self, x):
        h = x.reshape(x.shape[0], 12) @ self.w + self.b
        h = torch.exp(-h * h / 2.0) - torch.sqrt(h * h + 1.0) / 3.0
        return h.reshape(-1, 2, 3).transpose(1, 2)


class Transformerish(nn.Module):
    """What 3D transformers (SwinUNETR) export besides convolutions: LayerNormalization,
    padding (constant, reflect, edge), strided slices (patch merging), Mod in shape
    arithmetic, a rank-7 window partition, batched MatMul, Softmax and Erf (GELU)."""

    def __init__(self):
        super().__init__()
        self.norm = nn.LayerNorm(8)
        self.proj = nn.Linear(8, 8)

    def forward(self, x):  # x [B, 2, 6, 6, 8]
        b, c, d, h, w = x.shape
        y = self.norm(x)
        y = F.pad(y, (0, 0, 1, 1, 1, 1), mode="constant", value=0.5)      # [B, 2, 8, 8, 8]
        y = y + F.pad(x, (0, 0, 1, 1, 1, 1), mode="reflect")
        y = y * F.pad(x, (0, 0, 1, 1, 1, 1), mode="replicate")
        merged = torch.cat([y[:, :, 0::2, 0::2], y[:, :, 1::2, 1::2]], dim=-1)   # strided slices
        pad = (3 - merged.shape[-1] % 3) % 3                                       # Mod
        merged = F.pad(merged, (0, pad))
        win = merged.reshape(b, c, 2, 2, 2, 2, -1)                                 # rank 7
        attn = torch.softmax(win @ win.transpose(-1, -2) / 3.0, dim=-1) @ win
        out = attn.reshape(b, c, 4, 4, -1)[..., :8]
        return F.gelu(self.proj(out))


def monai_unet2d():
    from monai.networks.nets import UNet

    return UNet(spatial_dims=2, in_channels=4, out_channels=3, channels=(4, 8, 16),
                strides=(2, 2), num_res_units=1)


def monai_unet3d():
    from monai.networks.nets import UNet

    return UNet(spatial_dims=3, in_channels=1, out_channels=2, channels=(4, 8, 16),
                strides=(2, 2), num_res_units=1)


def monai_segresnet():
    # GroupNorm exports as Reshape → InstanceNormalization → Reshape → Mul → Add; trilinear
    # upsampling as Resize.
    from monai.networks.nets import SegResNet

    return SegResNet(spatial_dims=3, in_channels=1, out_channels=2, init_filters=8,
                     blocks_down=(1, 2), blocks_up=(1,))


def monai_dynunet():
    from monai.networks.nets import DynUNet

    return DynUNet(spatial_dims=3, in_channels=1, out_channels=2, kernel_size=[3, 3, 3],
                   strides=[1, 2, 2], upsample_kernel_size=[2, 2], filters=[4, 8, 16])


def nnunet_plainconv3d():
    # nnU-Net v2's 3d_fullres network class (dynamic_network_architectures), small.
    from dynamic_network_architectures.architectures.unet import PlainConvUNet

    return PlainConvUNet(
        input_channels=1, n_stages=3, features_per_stage=(4, 8, 16), conv_op=nn.Conv3d,
        kernel_sizes=3, strides=(1, 2, 2), n_conv_per_stage=2, num_classes=2,
        n_conv_per_stage_decoder=2, conv_bias=True, norm_op=nn.InstanceNorm3d,
        norm_op_kwargs={"eps": 1e-5, "affine": True}, nonlin=nn.LeakyReLU,
        nonlin_kwargs={"inplace": True})


def resnet18_regressor():
    # The ResNet-18 layout of torchvision (7x7 stem, max pool, 4 stages of 2 BasicBlocks with
    # strided 1x1 downsampling, global average pool, linear) at widths 8/16/32/64 instead of
    # 64..512 (45 MB), one input channel, one output: the usual image regressor, small.
    from torchvision.models.resnet import BasicBlock, ResNet

    net = ResNet(BasicBlock, [2, 2, 2, 2], num_classes=1)
    widths, inplanes, layers = [8, 16, 32, 64], 8, []
    for i, w in enumerate(widths):
        stride = 1 if i == 0 else 2
        down = nn.Sequential(nn.Conv2d(inplanes, w, 1, stride, bias=False), nn.BatchNorm2d(w)) \
            if stride != 1 or inplanes != w else None
        layers.append(nn.Sequential(BasicBlock(inplanes, w, stride, down), BasicBlock(w, w)))
        inplanes = w
    net.conv1 = nn.Conv2d(1, 8, 7, stride=2, padding=3, bias=False)
    net.bn1 = nn.BatchNorm2d(8)
    net.layer1, net.layer2, net.layer3, net.layer4 = layers
    net.fc = nn.Linear(64, 1)
    return net


class SwinBackbone(nn.Module):
    """MONAI's SwinTransformer (SwinUNETR's encoder: patch embedding, window attention with
    relative position bias, shifted windows and their attention masks, patch merging). Window
    4 on a 32³ input shifts the windows at both stages, so the export holds the mask
    arithmetic (ScatterND, Equal, Not, Where, Expand). SwinUNETR itself is this encoder plus
    convolutional blocks that the other fixtures cover; at its smallest it exports to 20 MB."""

    def __init__(self):
        super().__init__()
        from monai.networks.nets.swin_unetr import SwinTransformer

        self.vit = SwinTransformer(in_chans=1, embed_dim=6, window_size=(4, 4, 4),
                                   patch_size=(2, 2, 2), depths=(2, 2, 2, 2),
                                   num_heads=(1, 1, 2, 2))

    def forward(self, x):
        return self.vit(x, normalize=True)[4]


class Ops3d(nn.Module):
    """3D pooling (max and average, with padding and ceil mode), Split, Where, Einsum (the
    attention forms), ReduceMax, Expand and GELU's tanh form."""

    def __init__(self):
        super().__init__()
        self.scale = nn.Parameter(torch.randn(1, 2, 1) * 0.5 + 1.0)

    def forward(self, x):  # x [B, 2, 8, 8, 8]
        a = F.max_pool3d(x, 2)
        b = F.avg_pool3d(x, 3, stride=2, padding=1, ceil_mode=True, count_include_pad=False)
        c = F.max_pool3d(x, 3, stride=2, padding=1, ceil_mode=True)
        d = F.avg_pool3d(x, 2, stride=2, padding=1, count_include_pad=True)[..., :4, :4, :4]
        y = a + (b * c)[..., 1:, :4, 1:] - d                          # ceil mode gives 5
        p, q = torch.split(y, [1, 1], dim=1)
        m = torch.where(p > 0.6, p * 2.0, q)
        t = torch.cat([m, y], dim=1).flatten(2)                       # [B, 3, 64]
        att = torch.einsum("bcn,bdn->bcd", t, t).softmax(-1)
        o = torch.einsum("bcd,bdn->bcn", att, t)
        o = o - o.amax(dim=-1, keepdim=True)
        s = self.scale.expand(x.shape[0], 2, 1)
        return F.gelu(o[:, :2] * s, approximate="tanh")


class Age3d(nn.Module):
    """A brain-age regressor with Mira's contract: [B, 1, S, S, S] in [0, 1] → [B, 1] years
    (strided Conv3d, ReLU, global average pool, Linear, scaled to 50 ± 20 years); spatial sizes
    dynamic, so it takes any S."""

    def __init__(self):
        super().__init__()
        self.c1 = nn.Conv3d(1, 4, 3, stride=2, padding=1)
        self.c2 = nn.Conv3d(4, 8, 3, stride=2, padding=1)
        self.fc = nn.Linear(8, 1)

    def forward(self, x):
        a = torch.relu(self.c2(torch.relu(self.c1(x))))
        return self.fc(a.mean(dim=(2, 3, 4))) * 20.0 + 50.0


class Pair2d(nn.Module):
    """A 2D rigid-registration regressor with Mira's contract: [B, 2, H, W] (fixed, moving) →
    [B, 3] (θ degrees, tx px, ty px); spatial sizes dynamic."""

    def __init__(self):
        super().__init__()
        self.c1 = nn.Conv2d(2, 8, 3, stride=2, padding=1)
        self.c2 = nn.Conv2d(8, 16, 3, stride=2, padding=1)
        self.fc = nn.Linear(16, 3)

    def forward(self, x):
        a = torch.relu(self.c2(torch.relu(self.c1(x))))
        return self.fc(a.mean(dim=(2, 3))) * torch.tensor([5.0, 8.0, 8.0])


FIXTURES = {
    "cnn2d": (Cnn2d, (2, 4, 16, 16)),
    "reg3d": (Reg3d, (2, 1, 8, 8, 8)),
    "mlp": (Mlp, (3, 3, 4)),
    "monai_unet2d": (monai_unet2d, (2, 4, 32, 32)),
    "monai_unet3d": (monai_unet3d, (2, 1, 16, 16, 16)),
    "monai_segresnet": (monai_segresnet, (1, 1, 16, 16, 16)),
    "monai_dynunet": (monai_dynunet, (1, 1, 16, 16, 16)),
    "nnunet_plainconv3d": (nnunet_plainconv3d, (1, 1, 16, 16, 16)),
    "resnet18_regressor": (resnet18_regressor, (2, 1, 64, 64)),
    "transformerish": (Transformerish, (2, 2, 6, 6, 8)),
    "monai_swin_vit": (SwinBackbone, (1, 1, 32, 32, 32)),
    "ops3d": (Ops3d, (2, 2, 8, 8, 8)),
    "age3d": (Age3d, (2, 1, 16, 16, 16), True),
    "pair2d": (Pair2d, (2, 2, 32, 32), True),
}


class CumSum(nn.Module):
    """An operator Mira does not run (CumSum): `mira info` and loading must name it."""

    def forward(self, x):
        return torch.cumsum(x, dim=1)


def write(path, array):
    np.ascontiguousarray(array, dtype="<f4").tofile(path)


def build(i, cls, shape):
    """Fixture `i`'s network (seeded, evaluation mode) and its input."""
    torch.manual_seed(100 + i)
    model = cls().eval()
    # Non-trivial normalisation statistics and affine parameters, as a trained model has.
    for m in model.modules():
        if isinstance(m, (nn.InstanceNorm2d, nn.InstanceNorm3d, nn.GroupNorm)) and m.affine:
            m.weight.data.uniform_(0.5, 1.5)
            m.bias.data.uniform_(-0.2, 0.2)
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.uniform_(-0.5, 0.5)
            m.running_var.uniform_(0.5, 2.0)
            m.weight.data.uniform_(0.5, 1.5)
            m.bias.data.uniform_(-0.2, 0.2)
    return model, torch.rand(*shape)


def grad64(out):
    """The input gradient of `sum(output · w)` in float64 (the same network, input and `w`
    as the float32 fixture, cast up): the exact reference. Where activations sit near a kink
    (LeakyReLU after instance norm), float32 implementations, PyTorch's included, can take the
    other slope; `{name}.grad64.f32` lets the test tell rounding from error."""
    out = pathlib.Path(out)
    for i, (name, entry) in enumerate(FIXTURES.items()):
        model, x = build(i, *entry[:2])
        stored = np.fromfile(out / f"{name}.input.f32", dtype="<f4")
        assert np.array_equal(stored, x.numpy().ravel()), f"{name}: not the stored input"
        w = np.fromfile(out / f"{name}.w.f32", dtype="<f4")
        model = model.double()
        xg = x.double().requires_grad_(True)
        y = model(xg)
        (y * torch.from_numpy(w).double().reshape(y.shape)).sum().backward()
        g64 = xg.grad.numpy().ravel()
        write(out / f"{name}.grad64.f32", g64)
        g32 = np.fromfile(out / f"{name}.grad.f32", dtype="<f4")
        r = np.abs(g64).max()
        flips = int(((np.abs(g64) > 1e-4 * r) & (np.sign(g32) != np.sign(g64))).sum())
        print(name, "PyTorch float32 vs float64:", f"{np.abs(g32 - g64).max() / r:.1e}", flips, "flips")


def main(out):
    out = pathlib.Path(out)
    out.mkdir(parents=True, exist_ok=True)
    for i, (name, entry) in enumerate(FIXTURES.items()):
        cls, shape = entry[:2]
        spatial = len(entry) > 2 and entry[2]  # spatial sizes dynamic too
        model, x = build(i, cls, shape)
        path = out / f"{name}.onnx"
        torch.onnx.export(
            model, (x,), str(path), opset_version=OPSET, dynamo=False,
            input_names=["input"], output_names=["output"],
            dynamic_axes={
                "input": {0: "batch", **({a: f"s{a}" for a in range(2, len(shape))} if spatial else {})},
                "output": {0: "batch"},
            },
        )
        onnx.checker.check_model(onnx.load(str(path)))
        sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        y_ort = sess.run(None, {"input": x.numpy()})[0]
        xg = x.clone().requires_grad_(True)
        y = model(xg)
        assert np.abs(y.detach().numpy() - y_ort).max() < 1e-5, name
        g = torch.Generator().manual_seed(7 + i)
        w = torch.randn(y.shape, generator=g)
        (y * w).sum().backward()
        write(out / f"{name}.input.f32", x.numpy())
        write(out / f"{name}.ort.f32", y_ort)
        write(out / f"{name}.grad.f32", xg.grad.numpy())
        write(out / f"{name}.w.f32", w.numpy())
        meta = {
            "input_shape": list(shape),
            "output_shape": list(y_ort.shape),
            "opset": OPSET,
            "torch": torch.__version__,
            "onnxruntime": ort.__version__,
            "onnx": onnx.__version__,
        }
        (out / f"{name}.json").write_text(json.dumps(meta, indent=1) + "\n")
        print(name, shape, "->", y_ort.shape, sorted({n.op_type for n in onnx.load(str(path)).graph.node}))


def reference_unets(out):
    """The reference UNet2d of ../shared/bench/reference_models.py: at width 8 as ONNX and as
    safetensors (Mira's torch-weights import) with the same weights, so the two paths can be
    compared; at width 16 (the b1 benchmark's network) as ONNX only, for `mira bench`."""
    shared = pathlib.Path(__file__).resolve().parents[2] / "shared" / "bench"
    sys.path.insert(0, str(shared))
    from reference_models import UNet2d
    from safetensors.torch import save_file

    for w, name, weights in [(8, "reference_unet", True), (16, "bench_unet_w16", False)]:
        torch.manual_seed(200 + w)
        net = UNet2d(cin=4, classes=4, w=w).eval()
        for m in net.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.running_mean.uniform_(-0.3, 0.3)
                m.running_var.uniform_(0.5, 2.0)
                m.weight.data.uniform_(0.5, 1.5)
                m.bias.data.uniform_(-0.2, 0.2)
        x = torch.rand(2, 4, 32, 32)
        path = out / f"{name}.onnx"
        torch.onnx.export(
            net, (x,), str(path), opset_version=OPSET, dynamo=False,
            input_names=["input"], output_names=["output"],
            dynamic_axes={"input": {0: "batch", 2: "h", 3: "w"},
                          "output": {0: "batch", 2: "h", 3: "w"}},
        )
        sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        assert np.abs(sess.run(None, {"input": x.numpy()})[0] - net(x).detach().numpy()).max() < 1e-4
        if weights:
            state = {k: v.contiguous() for k, v in net.state_dict().items()
                     if not k.endswith("num_batches_tracked")}
            save_file(state, str(out / f"{name}.safetensors"))
        print(name, "width", w)


def unsupported(out):
    torch.onnx.export(
        CumSum(), (torch.rand(1, 4),), str(out / "unsupported.onnx"), opset_version=OPSET,
        dynamo=False, input_names=["input"], output_names=["output"],
    )


def softmax_seg(out):
    """A 2D segmenter whose graph ends in Softmax over the classes (MONAI UNet2d + softmax):
    Mira must detect the probabilities and attack their log. Stored: the input, and PyTorch's
    input gradient of the mean pixel-wise cross-entropy of log(p) against argmax p."""
    torch.manual_seed(400)
    net = nn.Sequential(monai_unet2d(), nn.Softmax(dim=1)).eval()
    x = torch.rand(1, 4, 32, 32)
    path = out / "softmax_seg.onnx"
    torch.onnx.export(net, (x,), str(path), opset_version=OPSET, dynamo=False,
                      input_names=["input"], output_names=["output"],
                      dynamic_axes={"input": {0: "batch"}, "output": {0: "batch"}})
    xg = x.clone().requires_grad_(True)
    p = net(xg)
    labels = p.argmax(1)
    F.nll_loss(torch.log(p.clamp_min(torch.finfo(torch.float32).tiny)), labels).backward()
    write(out / "softmax_seg.input.f32", x.numpy())
    write(out / "softmax_seg.grad.f32", xg.grad.numpy())
    print("softmax_seg")


class ShapeHeads(nn.Module):
    """Mira's shape-task contract (S4): [B, 1, S, S] → points [B, 352] (176 contour points, x
    then y, pixels, around the centre), mask logits [B, 1, S, S], reconstruction [B, 1, S, S]
    (sigmoid); spatial sizes dynamic."""

    def __init__(self):
        super().__init__()
        self.enc = nn.Conv2d(1, 8, 3, stride=2, padding=1)
        self.fc = nn.Linear(8, 352)
        self.seg = nn.ConvTranspose2d(8, 1, 2, stride=2)
        self.rec = nn.ConvTranspose2d(8, 1, 2, stride=2)

    def forward(self, x):
        h = torch.relu(self.enc(x))
        centre = x.shape[-1] / 2.0
        points = self.fc(h.mean(dim=(2, 3))) * 4.0 + centre
        return points, self.seg(h), torch.sigmoid(self.rec(h))


def shape_heads(out):
    """The three-output shape fixture: the model, and for its first output (the points) the
    input, ONNX Runtime's output, PyTorch's gradient of sum(points · w) and w."""
    torch.manual_seed(500)
    net = ShapeHeads().eval()
    x = torch.rand(2, 1, 32, 32)
    path = out / "shape_heads.onnx"
    axes = {0: "batch", 2: "h", 3: "w"}
    torch.onnx.export(net, (x,), str(path), opset_version=OPSET, dynamo=False,
                      input_names=["input"], output_names=["points", "mask", "recon"],
                      dynamic_axes={"input": axes, "points": {0: "batch"}, "mask": axes,
                                    "recon": axes})
    y_ort = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(
        None, {"input": x.numpy()})[0]
    xg = x.clone().requires_grad_(True)
    points = net(xg)[0]
    assert np.abs(points.detach().numpy() - y_ort).max() < 1e-4
    w = torch.randn(points.shape, generator=torch.Generator().manual_seed(501))
    (points * w).sum().backward()
    for n, a in [("input", x), ("ort", y_ort), ("grad", xg.grad), ("w", w)]:
        write(out / f"shape_heads.{n}.f32", np.asarray(a))
    meta = {"input_shape": [2, 1, 32, 32], "output_shape": list(y_ort.shape), "opset": OPSET,
            "torch": torch.__version__, "onnxruntime": ort.__version__, "onnx": onnx.__version__}
    (out / "shape_heads.json").write_text(json.dumps(meta, indent=1) + "\n")
    print("shape_heads")


def sliding(out):
    """MONAI's sliding_window_inference over a [1, 1, 12, 30, 40] volume with 16³ windows of
    the monai_unet3d fixture (run by ONNX Runtime as the predictor): Gaussian blending at
    overlap 0.5 (σ scale 0.125) and constant blending at overlap 0.25, both padding the 12-deep
    axis to 16 with zeros, two windows per batch."""
    from monai.inferers import sliding_window_inference

    sess = ort.InferenceSession(str(out / "monai_unet3d.onnx"),
                                providers=["CPUExecutionProvider"])

    def predictor(t):
        return torch.from_numpy(sess.run(None, {"input": t.numpy()})[0])

    torch.manual_seed(600)
    x = torch.rand(1, 1, 12, 30, 40)
    write(out / "sliding.input.f32", x.numpy())
    for name, mode, overlap in [("gaussian", "gaussian", 0.5), ("constant", "constant", 0.25)]:
        y = sliding_window_inference(x, (16, 16, 16), 2, predictor, overlap=overlap, mode=mode,
                                     sigma_scale=0.125, padding_mode="constant", cval=0.0)
        write(out / f"sliding.{name}.f32", y.numpy())
    print("sliding", tuple(y.shape))


def opset21(out):
    """Operators the PyTorch exporter does not write at opset 17, built by hand at opset 21:
    Conv → GroupNormalization (opset 21: scale and bias per channel) → Gelu (opset 20) →
    Max(g, 0.3 g) → ReduceL2 over the width, beside ReduceMin, summed; the reference gradient
    is PyTorch's on the same computation (F.group_norm, F.gelu, torch.maximum)."""
    from onnx import TensorProto, helper, numpy_helper

    torch.manual_seed(300)
    w = torch.randn(6, 4, 3, 3) * 0.3
    scale = torch.rand(6) + 0.5
    bias = torch.rand(6) * 0.4 - 0.2
    inits = [numpy_helper.from_array(a.numpy(), n) for a, n in
             [(w, "w"), (scale, "scale"), (bias, "bias"), (torch.tensor([0.3]), "k")]]
    inits.append(numpy_helper.from_array(np.array([3], dtype=np.int64), "axes"))
    nodes = [
        helper.make_node("Conv", ["input", "w"], ["c"], pads=[1, 1, 1, 1]),
        helper.make_node("GroupNormalization", ["c", "scale", "bias"], ["g"], num_groups=3,
                         epsilon=1e-5),
        helper.make_node("Gelu", ["g"], ["e"]),
        helper.make_node("Mul", ["e", "k"], ["ek"]),
        helper.make_node("Max", ["e", "ek"], ["m"]),
        helper.make_node("ReduceL2", ["m", "axes"], ["l2"], keepdims=1),
        helper.make_node("ReduceMin", ["m", "axes"], ["mn"], keepdims=1),
        helper.make_node("Sum", ["l2", "mn", "m"], ["output"]),
    ]
    graph = helper.make_graph(
        nodes, "opset21",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["batch", 4, 6, 6])],
        [helper.make_tensor_value_info("output", TensorProto.FLOAT, ["batch", 6, 6, 6])],
        inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 21)])
    onnx.checker.check_model(model)
    onnx.save(model, str(out / "opset21.onnx"))
    x = torch.rand(2, 4, 6, 6)
    y_ort = ort.InferenceSession(str(out / "opset21.onnx"),
                                 providers=["CPUExecutionProvider"]).run(None, {"input": x.numpy()})[0]
    xg = x.clone().requires_grad_(True)
    c = F.conv2d(xg, w, padding=1)
    g = F.group_norm(c, 3, scale, bias, eps=1e-5)
    e = F.gelu(g)
    m = torch.maximum(e, e * 0.3)
    y = m.norm(dim=3, keepdim=True) + m.amin(dim=3, keepdim=True) + m
    assert np.abs(y.detach().numpy() - y_ort).max() < 1e-5
    wl = torch.randn(y.shape, generator=torch.Generator().manual_seed(301))
    (y * wl).sum().backward()
    for n, a in [("input", x), ("ort", y_ort), ("grad", xg.grad), ("w", wl)]:
        write(out / f"opset21.{n}.f32", np.asarray(a))
    meta = {"input_shape": [2, 4, 6, 6], "output_shape": list(y_ort.shape), "opset": 21,
            "torch": torch.__version__, "onnxruntime": ort.__version__, "onnx": onnx.__version__}
    (out / "opset21.json").write_text(json.dumps(meta, indent=1) + "\n")
    print("opset21", sorted({n.op_type for n in nodes}))


if __name__ == "__main__":
    target = sys.argv[1] if len(sys.argv) > 1 else "crates/mira-onnx/tests/fixtures"
    if len(sys.argv) > 2 and sys.argv[2] == "--grad64":  # only the float64 references
        grad64(target)
        sys.exit(0)
    main(target)
    grad64(target)
    unsupported(pathlib.Path(target))
    reference_unets(pathlib.Path(target))
    opset21(pathlib.Path(target))
    softmax_seg(pathlib.Path(target))
    shape_heads(pathlib.Path(target))
    sliding(pathlib.Path(target))
