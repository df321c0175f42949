"""Reference values for mira-stats' lesion-wise Dice (crates/mira-stats/tests/lesions.rs).

Random label maps (2D 16x16 with 3 labels, 3D 8x8x8 with 2 labels, numpy seed 7), smoothed so
that components of several sizes appear; scipy.ndimage.label with its default (face)
connectivity; per truth component of each label, the Dice against the union of the predicted
components of that label that overlap it (BraTS 2023 lesion-wise rule without dilation).
The 3D case also gets each component's HD95 by MONAI's compute_hausdorff_distance (percentile
95, spacing 1, 2, 3 mm along the array's axes). Prints the Rust constants of the test. Versions: numpy 2.4.6, scipy 1.17.1, torch 2.15, monai 1.6.1 (pip install
numpy==2.4.6 scipy==1.17.1 monai==1.6.1 torch); run: python scripts/lesion_fixture.py
"""
import numpy as np
import torch
from monai.metrics import compute_hausdorff_distance
from scipy import ndimage

SPACING = (1.0, 2.0, 3.0)


def labels(shape, k, rng):
    noise = rng.random((k,) + shape)
    smooth = np.stack([ndimage.uniform_filter(n, size=3) for n in noise])
    lab = smooth.argmax(0).astype(np.uint8)
    lab[smooth.max(0) < np.quantile(smooth.max(0), 0.45)] = 0
    return lab


def lesion_hd95(pred, truth, label):
    """Per truth component: MONAI's HD95 (spacing SPACING) against the overlapping predicted
    components; None where none overlaps (a missed component)."""
    tc, nt = ndimage.label(truth == label)
    pc, _ = ndimage.label(pred == label)
    out = []
    for t in range(1, nt + 1):
        comp = tc == t
        hit = np.unique(pc[comp])
        hit = hit[hit > 0]
        if not hit.size:
            out.append(None)
            continue
        union = np.isin(pc, hit)
        as_t = lambda m: torch.from_numpy(m[None, None].astype(np.float32))
        d = compute_hausdorff_distance(as_t(union), as_t(comp), percentile=95, spacing=SPACING)
        out.append(float(d.item()))
    return out


def lesion_dice(pred, truth, label):
    tc, nt = ndimage.label(truth == label)
    pc, _ = ndimage.label(pred == label)
    out = []
    for t in range(1, nt + 1):
        comp = tc == t
        hit = np.unique(pc[comp])
        hit = hit[hit > 0]
        union = np.isin(pc, hit) if hit.size else np.zeros_like(comp)
        out.append((int(comp.sum()), 2.0 * (comp & union).sum() / (comp.sum() + union.sum())))
    return out


rng = np.random.default_rng(7)
for name, shape, k in [("D2", (16, 16), 4), ("D3", (8, 8, 8), 3)]:
    truth = labels(shape, k, rng)
    pred = labels(shape, k, rng)
    pred[truth > 0] = np.where(rng.random(int((truth > 0).sum())) < 0.7, truth[truth > 0], pred[truth > 0])
    print(f"const {name}_TRUTH: [u8; {truth.size}] = {list(truth.ravel().tolist())};")
    print(f"const {name}_PRED: [u8; {pred.size}] = {list(pred.ravel().tolist())};")
    for label in range(1, k):
        vals = lesion_dice(pred, truth, label)
        print(f"// {name} label {label}: {len(vals)} components")
        print(f"const {name}_L{label}: &[(usize, f64)] = &{[(s, float(d)) for s, d in vals]};")
        if len(shape) == 3:
            hd = lesion_hd95(pred, truth, label)
            rust = ", ".join("None" if v is None else f"Some({v!r})" for v in hd)
            print(f"const {name}_HD{label}: &[Option<f64>] = &[{rust}];")
