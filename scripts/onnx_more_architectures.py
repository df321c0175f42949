"""More MONAI architectures than the committed fixtures, checked against PyTorch's input
gradient through Mira's interpreter (`mira-onnx/examples/input_grad`): BasicUNet 3D,
AttentionUnet 2D, UNETR, VNet, SegResNetDS, a DenseNet121 regressor, a batch-norm 3D UNet.
Exports land in the current folder; nothing is committed from them (sizes).

  cargo build --release -p mira-onnx --example input_grad
  cd /tmp/arch && /tmp/onnxenv/bin/python /path/to/scripts/onnx_more_architectures.py
  (torch 2.15.0, onnx 1.23.2, monai 1.6.1; see docs/models.md for the figures of 2026-12-06)
"""
import pathlib
import numpy as np, torch, warnings, subprocess, sys, copy
warnings.filterwarnings("ignore")
from monai.networks import nets

GRAD = pathlib.Path(__file__).resolve().parents[1] / "target/release/examples/input_grad"
torch.manual_seed(0)
cases = {
 "BasicUNet3d": (lambda: nets.BasicUNet(spatial_dims=3, in_channels=1, out_channels=2, features=(4,8,8,16,16,4)), (1,1,32,32,32)),
 "AttentionUnet2d": (lambda: nets.AttentionUnet(spatial_dims=2, in_channels=1, out_channels=2, channels=(4,8,16), strides=(2,2)), (1,1,32,32)),
 "UNETR": (lambda: nets.UNETR(in_channels=1, out_channels=2, img_size=(32,32,32), feature_size=4, hidden_size=24, mlp_dim=48, num_heads=2, proj_type="conv"), (1,1,32,32,32)),
 "VNet": (lambda: nets.VNet(spatial_dims=3, in_channels=1, out_channels=2, dropout_prob_down=0.0, dropout_prob_up=(0.0,0.0)), (1,1,32,32,32)),
 "SegResNetDS": (lambda: nets.SegResNetDS(spatial_dims=3, init_filters=8, in_channels=1, out_channels=2, blocks_down=(1,2,2)), (1,1,32,32,32)),
 "DenseNet121reg": (lambda: nets.DenseNet121(spatial_dims=2, in_channels=1, out_channels=1, init_features=8, growth_rate=8), (1,1,64,64)),
 "UNet3d_batchnorm": (lambda: nets.UNet(spatial_dims=3, in_channels=2, out_channels=3, channels=(4,8,16), strides=(2,2), num_res_units=2, norm="batch", act="relu"), (1,2,16,16,16)),
}
for name, (mk, shape) in cases.items():
    try:
        net = mk().eval()
        x = torch.rand(*shape)
        p = f"{name}.onnx"
        torch.onnx.export(net, (x,), p, opset_version=17, dynamo=False, input_names=["input"], output_names=["output"], dynamic_axes={"input":{0:"b"},"output":{0:"b"}})
        xg = x.clone().requires_grad_(True); y = net(xg)
        if isinstance(y,(list,tuple)): y=y[0]
        w = torch.randn(y.shape, generator=torch.Generator().manual_seed(1)); (y*w).sum().backward()
        x.numpy().astype('<f4').tofile("x.f32"); w.numpy().astype('<f4').tofile("w.f32")
        r = subprocess.run([str(GRAD), p, "x.f32", ",".join(map(str,shape)), "w.f32", "g.f32"], capture_output=True, text=True)
        if r.returncode != 0:
            print(f"{name}: MIRA FAILED: {r.stderr.strip()[:300]}"); continue
        g = np.fromfile("g.f32","<f4"); t = xg.grad.numpy().ravel()
        e = np.abs(g-t).max()/np.abs(t).max()
        flips = ((np.abs(t) > 1e-4*np.abs(t).max()) & (np.sign(g)!=np.sign(t))).sum()
        print(f"{name}: grad rel err {e:.1e}, flips {flips}")
    except Exception as ex:
        print(f"{name}: python side failed: {type(ex).__name__}: {str(ex)[:200]}")
