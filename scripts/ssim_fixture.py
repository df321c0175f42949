"""Reference SSIM and PSNR values for crates/mira-stats/tests/ssim.rs (pinned there):
scikit-image 0.25.2 `structural_similarity` (2D, gaussian_weights=True, sigma=1.5,
use_sample_covariance=False, data_range=1: Wang et al.'s settings, an 11-voxel window) and
`peak_signal_noise_ratio`; MONAI 1.6.1 `SSIMMetric` (2D and 3D, Gaussian kernel σ 1.5, windows
11 and 7, k1 0.01, k2 0.03, data_range 1) and `PSNRMetric(max_val=1)`.

The images are formulas, so the test builds the same arrays without a fixture file:
  x[i] = ((i * 7919) % 1000) / 1000
  y[i] = clip(x[i] + 0.08 * sin(0.37 * i), 0, 1)
over the C-order index i of the whole array (channels first).

  /tmp/torchenv/bin/python scripts/ssim_fixture.py   (torch 2.15.0, monai 1.6.1,
  scikit-image 0.25.2, numpy 2)
"""
import numpy as np
import torch
from monai.metrics import PSNRMetric, SSIMMetric
from skimage.metrics import peak_signal_noise_ratio, structural_similarity


def pair(shape):
    n = int(np.prod(shape))
    i = np.arange(n, dtype=np.int64)
    x = ((i * 7919) % 1000) / 1000.0
    y = np.clip(x + 0.08 * np.sin(0.37 * i), 0.0, 1.0)
    return x.reshape(shape), y.reshape(shape)


# 2D, two channels of 24 x 29.
x, y = pair((2, 24, 29))
sk = structural_similarity(x, y, data_range=1.0, gaussian_weights=True, sigma=1.5,
                           use_sample_covariance=False, channel_axis=0)
sk_per = [structural_similarity(x[c], y[c], data_range=1.0, gaussian_weights=True, sigma=1.5,
                                use_sample_covariance=False) for c in range(2)]
mo2 = SSIMMetric(spatial_dims=2, data_range=1.0, win_size=11, kernel_sigma=1.5)(
    torch.tensor(x[None], dtype=torch.float64), torch.tensor(y[None], dtype=torch.float64))
print("2d skimage mean", repr(sk), "per channel", [repr(v) for v in sk_per])
print("2d monai", repr(mo2.item()))
print("2d psnr skimage", repr(peak_signal_noise_ratio(x, y, data_range=1.0)))
# 3D, one channel of 13 x 14 x 15; windows 7 and 11.
x3, y3 = pair((1, 13, 14, 15))
for w in (7, 11):
    m = SSIMMetric(spatial_dims=3, data_range=1.0, win_size=w, kernel_sigma=1.5)(
        torch.tensor(x3[None], dtype=torch.float64), torch.tensor(y3[None], dtype=torch.float64))
    print(f"3d monai win {w}", repr(m.item()))
p = PSNRMetric(max_val=1.0)(torch.tensor(x3[None]), torch.tensor(y3[None]))
print("3d psnr monai", repr(p.item()))
