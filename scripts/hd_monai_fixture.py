"""Reference values of the percentile Hausdorff distance (MONAI 1.6.1's
compute_hausdorff_distance, include_background=False) and of Dice (compute_dice) for crates/mira-stats/tests/hausdorff.rs:
two label maps of a 9 x 14 x 17 volume (classes 1 and 2: ellipsoids, class 2 with 1 % noise
voxels in the prediction), isotropic and anisotropic spacing, HD95 and HD100, and the
empty-mask cases. Writes crates/mira-stats/tests/fixtures/hd_monai.txt and prints the values
pinned in the test.

  /tmp/onnxenv/bin/python scripts/hd_monai_fixture.py   (torch 2.15.0, monai 1.6.1, numpy 2)
"""
import numpy as np, torch, warnings, json
warnings.filterwarnings("ignore")
from monai.metrics import compute_dice, compute_hausdorff_distance
rng = np.random.default_rng(7)
def blob(shape, c, r):
    z, y, x = np.indices(shape)
    return ((z - c[0])**2 / r[0]**2 + (y - c[1])**2 / r[1]**2 + (x - c[2])**2 / r[2]**2) <= 1
cases = []
shape = (9, 14, 17)
# labels 0..2 ; class 1 blobs, class 2 noisy
t = np.zeros(shape, np.int64); p = np.zeros(shape, np.int64)
t[blob(shape, (4, 6, 8), (3, 4, 5))] = 1
p[blob(shape, (4, 7, 7), (3, 3.5, 5.5))] = 1
t[blob(shape, (2, 11, 3), (1.5, 2, 2))] = 2
p[blob(shape, (2, 11, 4), (1.5, 2, 2))] = 2
p[(rng.random(shape) < 0.01)] = 2
def hd(pred, truth, k, spacing, pct=95):
    yp = torch.nn.functional.one_hot(torch.from_numpy(pred), k).permute(3, 0, 1, 2)[None].float()
    yt = torch.nn.functional.one_hot(torch.from_numpy(truth), k).permute(3, 0, 1, 2)[None].float()
    return compute_hausdorff_distance(yp, yt, include_background=False, percentile=pct, spacing=spacing)[0].tolist()
out = {"shape": shape, "truth": t.ravel().tolist(), "pred": p.ravel().tolist(),
       "hd95_iso": hd(p, t, 3, None), "hd95_aniso": hd(p, t, 3, [2.5, 0.8, 0.8]),
       "hd100_aniso": hd(p, t, 3, [2.5, 0.8, 0.8], None)}
# empty rules: class 1 absent in pred; class 2 absent in both
p2 = p.copy(); p2[p2 == 1] = 0; t2 = t.copy(); p2[p2 == 2] = 0; t2[t2 == 2] = 0
out["empty_pred"] = hd(p2, t, 3, None)
out["both_empty_c2"] = hd(p2, t2, 3, None)
t3 = t.copy(); t3[t3 == 1] = 0
out["empty_truth"] = hd(p, t3, 3, None)
print({k: v for k, v in out.items() if k not in ("truth", "pred")})
with open("crates/mira-stats/tests/fixtures/hd_monai.txt", "w") as f:
    f.write("# labels of a 9 x 14 x 17 volume (C order), truth then prediction: "
            "scripts/hd_monai_fixture.py\n")
    f.write("".join(map(str, out["truth"])) + "\n" + "".join(map(str, out["pred"])) + "\n")

# Dice of the same maps (pinned in dice_equals_monai_and_states_its_empty_rules), and MONAI's
# empty rules with and without ignore_empty.
def dice(pred, truth, ignore_empty=True):
    yp = torch.nn.functional.one_hot(torch.from_numpy(pred), 3).permute(3, 0, 1, 2)[None].float()
    yt = torch.nn.functional.one_hot(torch.from_numpy(truth), 3).permute(3, 0, 1, 2)[None].float()
    return compute_dice(yp, yt, include_background=False, ignore_empty=ignore_empty)[0].tolist()
print("dice", dice(p, t), "empty_pred", dice(p2, t), "both_empty_c2", dice(p2, t2),
      dice(p2, t2, False), "empty_truth", dice(p, t3), dice(p, t3, False))
