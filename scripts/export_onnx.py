"""Export a PyTorch network to ONNX for Mira, checked against ONNX Runtime before it is written.

Three sources:

  # any torch.nn.Module built by a factory (import path "module:callable") with JSON kwargs,
  # optionally with weights (a state dict in .pt/.pth or .safetensors)
  python scripts/export_onnx.py module --factory monai.networks.nets:UNet \
      --kwargs '{"spatial_dims": 3, "in_channels": 1, "out_channels": 2,
                 "channels": [16, 32, 64], "strides": [2, 2], "num_res_units": 2}' \
      --weights unet.pt --shape 1,1,96,96,96 --out unet.onnx

  # a MONAI bundle folder (configs/inference.json or .yaml with `network_def`,
  # models/model.pt)
  python scripts/export_onnx.py monai-bundle path/to/bundle --shape 1,1,96,96,96 --out m.onnx

  # an nnU-Net v2 trained model folder (.../Dataset001_X/nnUNetTrainer__nnUNetPlans__3d_fullres
  # with plans.json, dataset.json, fold_F/checkpoint_final.pth); the input shape is the
  # configuration's patch size unless --shape is given
  python scripts/export_onnx.py nnunet path/to/model_folder --fold 0 --out nnunet.onnx

The batch dimension is dynamic (`--dynamic-spatial` makes the spatial sizes dynamic too, for
networks that accept any size their down-sampling can halve). The export (legacy TorchScript
exporter, opset 17 by default) is run with ONNX Runtime on seeded random inputs at batch 1 and
2, and written only when its outputs match PyTorch's within 1e-4 of their range; then run
`mira info OUT` to see whether Mira runs every operator.

Needs torch, onnx, onnxruntime (and monai for bundles and MONAI factories,
dynamic-network-architectures for nnU-Net); tested with torch 2.15.0, onnx 1.23.2,
onnxruntime 1.32.0, monai 1.6.1, dynamic-network-architectures 0.4.4. Mira itself needs none.
"""

import argparse
import importlib
import json
import pathlib
import pydoc
import sys


def fail(msg):
    sys.exit(f"export_onnx: {msg}")


def load_state(path):
    import torch

    path = pathlib.Path(path)
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        return load_file(str(path))
    state = torch.load(str(path), map_location="cpu", weights_only=False)
    for key in ("state_dict", "model", "network_weights", "model_state_dict"):
        if isinstance(state, dict) and key in state and isinstance(state[key], dict):
            state = state[key]
            break
    return state


def clean_keys(state):
    out = {}
    for k, v in state.items():
        for prefix in ("module.", "_orig_mod."):
            if k.startswith(prefix):
                k = k[len(prefix):]
        out[k] = v
    return out


def from_factory(args):
    mod, _, name = args.factory.partition(":")
    if not name:
        fail("--factory must be 'package.module:callable'")
    factory = getattr(importlib.import_module(mod), name)
    net = factory(**json.loads(args.kwargs or "{}"))
    if args.weights:
        net.load_state_dict(clean_keys(load_state(args.weights)))
    return net, None


def from_bundle(args):
    from monai.bundle import ConfigParser

    root = pathlib.Path(args.path)
    cfgs = [root / "configs" / f"inference.{e}" for e in ("json", "yaml", "yml")]
    cfg = next((c for c in cfgs if c.is_file()), None)
    if cfg is None:
        fail(f"{root}: no configs/inference.json or .yaml")
    parser = ConfigParser()
    parser.read_config(str(cfg))
    parser["bundle_root"] = str(root)
    net = parser.get_parsed_content("network_def")
    weights = pathlib.Path(args.weights) if args.weights else root / "models" / "model.pt"
    if weights.is_file():
        net.load_state_dict(clean_keys(load_state(weights)))
    else:
        fail(f"{weights}: no weights (give --weights)")
    return net, None


def from_nnunet(args):
    """nnU-Net v2's get_network_from_plans, without nnunetv2: the architecture class and its
    keyword arguments from plans.json, channels and classes from dataset.json, the weights
    from the fold's checkpoint; deep supervision off (inference)."""
    import torch  # noqa: F401

    root = pathlib.Path(args.path)
    plans = json.loads((root / "plans.json").read_text())
    dataset = json.loads((root / "dataset.json").read_text())
    config = args.configuration or root.name.split("__")[-1]
    cfgs = plans["configurations"]
    if config not in cfgs:
        fail(f"configuration {config!r} not in plans.json ({', '.join(cfgs)})")
    cfg = dict(cfgs[config])
    while "inherits_from" in cfg:
        parent = dict(cfgs[cfg.pop("inherits_from")])
        parent.update(cfg)
        cfg = parent
    arch = cfg.get("architecture")
    if arch is None:
        fail("plans.json has no `architecture` (nnU-Net < 2.4 plans are not read)")
    cls = pydoc.locate(arch["network_class_name"])
    if cls is None:
        fail(f"cannot import {arch['network_class_name']} (pip install dynamic-network-architectures)")
    kwargs = dict(arch["arch_kwargs"])
    for k in arch.get("_kw_requires_import", []):
        if kwargs.get(k) is not None:
            kwargs[k] = pydoc.locate(kwargs[k])
    channels = dataset.get("channel_names") or dataset.get("modality")
    labels = dataset["labels"]
    if any(isinstance(v, (list, tuple)) for v in labels.values()):
        fail("region-based training (labels as lists) exports sigmoid outputs; not handled")
    net = cls(input_channels=len(channels), num_classes=len(labels), deep_supervision=False,
              **kwargs)
    ckpt = root / f"fold_{args.fold}" / args.checkpoint
    if not ckpt.is_file():
        fail(f"{ckpt}: no checkpoint")
    net.load_state_dict(clean_keys(load_state(ckpt)))
    shape = [1, len(channels), *cfg["patch_size"]]
    return net, shape


def export(net, shape, out, opset, dynamic_spatial):
    # The check-then-write export is the Python package's (python/mira/export.py), so the script
    # and `mira.export` are one function; the package is imported from this checkout.
    sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent.parent / "python"))
    from mira.export import ExportError, export as export_checked

    try:
        export_checked(net, shape, out, opset=opset, dynamic_spatial=dynamic_spatial)
    except ExportError as e:
        fail(str(e))


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="source", required=True)
    m = sub.add_parser("module", help="a torch.nn.Module from a factory")
    m.add_argument("--factory", required=True)
    m.add_argument("--kwargs", default="{}")
    m.add_argument("--weights")
    b = sub.add_parser("monai-bundle", help="a MONAI bundle folder")
    b.add_argument("path")
    b.add_argument("--weights")
    n = sub.add_parser("nnunet", help="an nnU-Net v2 trained model folder")
    n.add_argument("path")
    n.add_argument("--fold", default="0")
    n.add_argument("--checkpoint", default="checkpoint_final.pth")
    n.add_argument("--configuration", help="default: the folder name's last part")
    for s in (m, b, n):
        s.add_argument("--shape", help="example input B,C,... (nnunet: the patch size)")
        s.add_argument("--out", required=True)
        s.add_argument("--opset", type=int, default=17)
        s.add_argument("--dynamic-spatial", action="store_true")
    args = p.parse_args()
    build = {"module": from_factory, "monai-bundle": from_bundle, "nnunet": from_nnunet}
    net, shape = build[args.source](args)
    if args.shape:
        shape = [int(v) for v in args.shape.split(",")]
    if shape is None:
        fail("--shape B,C,... is required")
    export(net, shape, args.out, args.opset, args.dynamic_spatial)


if __name__ == "__main__":
    main()
