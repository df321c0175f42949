//! Sliding-window inference of volumes, with MONAI's `sliding_window_inference` semantics
//! (monai/inferers/utils.py, MONAI 1.6.1), and its input gradient in two passes.
//!
//! A volume smaller than the window along an axis is padded with zeros, `⌊diff/2⌋` before and
//! the rest after; windows start every `⌊roi·(1 − overlap)⌋` voxels (at least 1; the whole
//! axis when it equals the window), the last one moved back to end at the border
//! (`dense_patch_slices`). Each window's output is weighted by the importance map — ones
//! (`constant`) or the product of 1-D Gaussians with σ = `sigma_scale · roi` centred on the
//! window, clamped below at max(min, 1e-3) (`compute_importance_map`) — summed, divided by the
//! summed weights, and cropped back.
//!
//! The blended output is `y = C(Σ_w P_wᵀ(a ⊙ f(S_w x)) / n)` (S_w: the window's crop of the
//! padded input, P_w its place in the output, a the importance map, n the summed weights, C
//! the crop). For a loss L(y) with G = ∂L/∂y the input gradient is
//! `Σ_w S_wᵀ J_f(S_w x)ᵀ (a ⊙ P_w(Cᵀ G / n))`: [`WindowPlan::vjp`] computes it one window
//! at a time, so memory holds one window's graph, not the volume's.

use burn::prelude::*;

use crate::{NnError, Result};

/// How overlapping windows are blended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Blend {
    /// Gaussian importance (nnU-Net's default; MONAI's `mode = "gaussian"`).
    #[default]
    Gaussian,
    /// Equal weights (MONAI's default `mode = "constant"`).
    Constant,
}

/// A sliding-window inferer's settings.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SlidingWindow {
    /// Window size `[D, H, W]`.
    pub roi: [usize; 3],
    /// Share of a window that overlaps the next, in `[0, 1)` (MONAI's default 0.25; nnU-Net's
    /// step 0.5 is overlap 0.5).
    pub overlap: f32,
    /// Blending of overlapping windows.
    pub blend: Blend,
    /// σ of the Gaussian as a share of the window (MONAI and nnU-Net: 0.125).
    pub sigma_scale: f32,
    /// Windows per forward pass.
    pub batch: usize,
}

impl SlidingWindow {
    /// Windows of `roi`, overlap 0.5, Gaussian blending, σ = roi / 8, one window a pass.
    pub fn new(roi: [usize; 3]) -> Self {
        Self {
            roi,
            overlap: 0.5,
            blend: Blend::Gaussian,
            sigma_scale: 0.125,
            batch: 1,
        }
    }

    /// Checks the settings.
    ///
    /// # Errors
    /// [`NnError::InvalidConfig`] naming the field.
    pub fn validate(&self) -> Result<()> {
        let bad = |field, reason: &str| {
            Err(NnError::InvalidConfig {
                field,
                reason: reason.into(),
            })
        };
        if self.roi.iter().any(|&r| !(1..=4096).contains(&r)) {
            return bad("roi", "each size must be in 1..=4096");
        }
        if !(0.0..1.0).contains(&self.overlap) {
            return bad("overlap", "must be in [0, 1)");
        }
        if !(self.sigma_scale.is_finite() && self.sigma_scale > 0.0) {
            return bad("sigma_scale", "must be > 0");
        }
        if !(1..=1024).contains(&self.batch) {
            return bad("batch", "must be in 1..=1024");
        }
        Ok(())
    }

    /// The windows over a volume of spatial size `dims` (`[D, H, W]`).
    pub fn plan(&self, dims: [usize; 3]) -> WindowPlan {
        let mut padded = [0; 3];
        let mut before = [0; 3];
        let mut starts_per_axis: Vec<Vec<usize>> = Vec::with_capacity(3);
        for a in 0..3 {
            let diff = self.roi[a].saturating_sub(dims[a]);
            before[a] = diff / 2;
            padded[a] = dims[a].max(self.roi[a]);
            let (n, r) = (padded[a], self.roi[a]);
            let interval = if r == n {
                r
            } else {
                ((r as f64 * (1.0 - f64::from(self.overlap))) as usize).max(1)
            };
            // dense_patch_slices: the first window that reaches the border ends the scan.
            let mut starts = Vec::new();
            let mut d = 0;
            loop {
                let s = d * interval;
                starts.push(s.min(n - r));
                if s + r >= n {
                    break;
                }
                d += 1;
            }
            starts_per_axis.push(starts);
        }
        let mut starts = Vec::new();
        for &z in &starts_per_axis[0] {
            for &y in &starts_per_axis[1] {
                for &x in &starts_per_axis[2] {
                    starts.push([z, y, x]);
                }
            }
        }
        let weight = importance(self.roi, self.blend, self.sigma_scale);
        let mut norm = vec![0f32; padded.iter().product()];
        let [rd, rh, rw] = self.roi;
        for s in &starts {
            for z in 0..rd {
                for y in 0..rh {
                    let o = ((s[0] + z) * padded[1] + s[1] + y) * padded[2] + s[2];
                    let wi = (z * rh + y) * rw;
                    for x in 0..rw {
                        norm[o + x] += weight[wi + x];
                    }
                }
            }
        }
        WindowPlan {
            roi: self.roi,
            dims,
            padded,
            before,
            starts,
            weight,
            norm,
            batch: self.batch,
        }
    }
}

/// MONAI's `compute_importance_map` for a window of `roi`.
fn importance(roi: [usize; 3], blend: Blend, sigma_scale: f32) -> Vec<f32> {
    let n: usize = roi.iter().product();
    if blend == Blend::Constant {
        return vec![1.0; n];
    }
    let axis = |r: usize| -> Vec<f32> {
        let sigma = r as f32 * sigma_scale;
        (0..r)
            .map(|i| {
                let x = i as f32 - (r as f32 - 1.0) / 2.0;
                (x * x / (-2.0 * sigma * sigma)).exp()
            })
            .collect()
    };
    let (gz, gy, gx) = (axis(roi[0]), axis(roi[1]), axis(roi[2]));
    let mut w = Vec::with_capacity(n);
    for a in &gz {
        for b in &gy {
            for c in &gx {
                w.push(a * b * c);
            }
        }
    }
    let min = w.iter().copied().fold(f32::INFINITY, f32::min).max(1e-3);
    w.iter().map(|v| v.max(min)).collect()
}

/// The windows of one volume size: where they start, their weights and the summed weights.
#[derive(Debug, Clone)]
pub struct WindowPlan {
    roi: [usize; 3],
    dims: [usize; 3],
    padded: [usize; 3],
    before: [usize; 3],
    starts: Vec<[usize; 3]>,
    weight: Vec<f32>,
    norm: Vec<f32>,
    batch: usize,
}

impl WindowPlan {
    /// How many windows.
    pub fn windows(&self) -> usize {
        self.starts.len()
    }

    /// The windows' start corners in the padded volume.
    pub fn starts(&self) -> &[[usize; 3]] {
        &self.starts
    }

    fn pad(&self, x: Tensor<5>) -> Tensor<5> {
        if self.padded == self.dims {
            return x;
        }
        let [b, c, ..] = x.dims();
        let [pd, ph, pw] = self.padded;
        let [d, h, w] = self.dims;
        let [bd, bh, bw] = self.before;
        Tensor::zeros([b, c, pd, ph, pw], &x.device())
            .slice_assign([0..b, 0..c, bd..bd + d, bh..bh + h, bw..bw + w], x)
    }

    fn crop(&self, y: Tensor<5>) -> Tensor<5> {
        if self.padded == self.dims {
            return y;
        }
        let [b, k, ..] = y.dims();
        let [d, h, w] = self.dims;
        let [bd, bh, bw] = self.before;
        y.slice([0..b, 0..k, bd..bd + d, bh..bh + h, bw..bw + w])
    }

    fn window(&self, t: Tensor<5>, s: [usize; 3]) -> Tensor<5> {
        let [b, c, ..] = t.dims();
        let [rd, rh, rw] = self.roi;
        t.slice([
            0..b,
            0..c,
            s[0]..s[0] + rd,
            s[1]..s[1] + rh,
            s[2]..s[2] + rw,
        ])
    }

    fn weights(&self, dev: &Device) -> Tensor<5> {
        let [rd, rh, rw] = self.roi;
        Tensor::<1>::from_floats(self.weight.as_slice(), dev).reshape([1, 1, rd, rh, rw])
    }

    fn norm(&self, dev: &Device) -> Tensor<5> {
        let [pd, ph, pw] = self.padded;
        Tensor::<1>::from_floats(self.norm.as_slice(), dev).reshape([1, 1, pd, ph, pw])
    }

    /// The blended output of `f` over `x` `[B, C, D, H, W]` (no graph is kept: `x` may be on
    /// either device; the result is on the plain one). `f` maps windows `[n, C, roi]` to
    /// outputs `[n, K, roi]`.
    ///
    /// # Errors
    /// What `f` returns, or an output whose spatial size is not the window's.
    pub fn forward(
        &self,
        x: Tensor<5>,
        f: &dyn Fn(Tensor<5>) -> Result<Tensor<5>>,
    ) -> Result<Tensor<5>> {
        self.blend(
            Tensor::from_data(x.into_data(), &crate::default_device()),
            f,
        )
    }

    /// As [`WindowPlan::forward`], on `x`'s own device: on the autodiff device the graph of
    /// every window is kept (direct autodiff through the blended output; small volumes and
    /// tests only).
    ///
    /// # Errors
    /// As [`WindowPlan::forward`].
    pub fn blend(
        &self,
        x: Tensor<5>,
        f: &dyn Fn(Tensor<5>) -> Result<Tensor<5>>,
    ) -> Result<Tensor<5>> {
        let x = self.pad(x);
        let dev = x.device();
        let out = self.accumulate(&x, &self.starts, f, None)?;
        let out = out.ok_or_else(|| NnError::Shape("no window".into()))?;
        Ok(self.crop(out / self.norm(&dev)))
    }

    /// Adds the weighted outputs of `f` on the windows at `starts` of the padded `x` into `acc`
    /// (zeros of the right shape when `None`), `self.batch` windows per call of `f`.
    fn accumulate(
        &self,
        x: &Tensor<5>,
        starts: &[[usize; 3]],
        f: &dyn Fn(Tensor<5>) -> Result<Tensor<5>>,
        mut acc: Option<Tensor<5>>,
    ) -> Result<Option<Tensor<5>>> {
        let w = self.weights(&x.device());
        for group in starts.chunks(self.batch) {
            // every sample's windows of this group, sample-major
            let wins: Vec<Tensor<5>> = group.iter().map(|&s| self.window(x.clone(), s)).collect();
            let y = f(Tensor::cat(wins, 0))?;
            acc = Some(self.add_windows(acc, y, x.dims()[0], group, &w)?);
        }
        Ok(acc)
    }

    /// `acc + Σ_i w ⊙ y_i` placed at `group[i]`, for `y` the outputs of the group's windows
    /// of `b` samples each (sample-major), checked to have the windows' count and size.
    fn add_windows(
        &self,
        acc: Option<Tensor<5>>,
        y: Tensor<5>,
        b: usize,
        group: &[[usize; 3]],
        w: &Tensor<5>,
    ) -> Result<Tensor<5>> {
        let [n, k, yd, yh, yw] = y.dims();
        if [yd, yh, yw] != self.roi || n != b * group.len() {
            return Err(NnError::Shape(format!(
                "{} windows of {:?} give an output of {:?}",
                b * group.len(),
                self.roi,
                [n, k, yd, yh, yw]
            )));
        }
        let [pd, ph, pw] = self.padded;
        let mut acc = acc.unwrap_or_else(|| Tensor::zeros([b, k, pd, ph, pw], &y.device()));
        for (i, &s) in group.iter().enumerate() {
            let part = y.clone().narrow(0, i * b, b) * w.clone();
            let ranges = self.ranges(b, k, s);
            let sum = acc.clone().slice(ranges.clone()) + part;
            acc = acc.slice_assign(ranges, sum);
        }
        Ok(acc)
    }

    /// The index ranges of the window at `s` in a `[b, c, padded]` tensor.
    fn ranges(&self, b: usize, c: usize, s: [usize; 3]) -> [std::ops::Range<usize>; 5] {
        [
            0..b,
            0..c,
            s[0]..s[0] + self.roi[0],
            s[1]..s[1] + self.roi[1],
            s[2]..s[2] + self.roi[2],
        ]
    }

    /// The input gradient of `Σ g ⊙ y`, `y` the blended output of `f` over `x` (both
    /// `[B, ·, D, H, W]`), one window at a time: `f` runs on the autodiff device with a graph
    /// for one window, whose weighted share of `g` is propagated back into its part of the
    /// gradient. Plain device in and out.
    ///
    /// # Errors
    /// What `f` returns.
    pub fn vjp(
        &self,
        x: Tensor<5>,
        g: Tensor<5>,
        f: &dyn Fn(Tensor<5>) -> Result<Tensor<5>>,
    ) -> Result<Tensor<5>> {
        let plain = crate::default_device();
        let x = self.pad(Tensor::from_data(x.into_data(), &plain));
        if self.starts.is_empty() {
            return Err(NnError::Shape("no window".into()));
        }
        let (gp, w) = (self.output_grad(g), self.weights(&plain));
        let zeros = Tensor::zeros(x.dims(), &plain);
        let grad = self.window_grads(zeros, &x, (&gp, &w), &self.starts, f)?;
        Ok(self.crop(grad))
    }

    /// [`WindowPlan::forward`] and [`WindowPlan::vjp`] in one call, for an attack step: `outer`
    /// maps the blended output (plain device) to a value of its own and `g`, the gradient of
    /// the loss with respect to that output; the input gradient comes back with the value.
    /// The last window runs with its graph already in the first pass and is propagated back
    /// first, so one window's forward pass fewer runs per step than `forward` + `vjp`, at the
    /// same peak memory (one window's graph). Same values and gradient.
    ///
    /// # Errors
    /// What `f` or `outer` returns.
    pub fn value_and_vjp<R>(
        &self,
        x: Tensor<5>,
        f: &dyn Fn(Tensor<5>) -> Result<Tensor<5>>,
        outer: &mut dyn FnMut(Tensor<5>) -> Result<(R, Tensor<5>)>,
    ) -> Result<(R, Tensor<5>)> {
        let plain = crate::default_device();
        let x = self.pad(Tensor::from_data(x.into_data(), &plain));
        let Some((&last, rest)) = self.starts.split_last() else {
            return Err(NnError::Shape("no window".into()));
        };
        let w = self.weights(&plain);
        let acc = self.accumulate(&x, rest, f, None)?;
        let (xw, y) = self.traced(&x, last, f)?;
        let acc = self.add_windows(acc, y.clone().inner(), x.dims()[0], &[last], &w)?;
        let (value, g) = outer(self.crop(acc / self.norm(&plain)))?;
        let gp = self.output_grad(g);
        let zeros = Tensor::zeros(x.dims(), &plain);
        let first = self.window_grad(zeros, (&gp, &w), last, xw, y)?;
        let grad = self.window_grads(first, &x, (&gp, &w), rest, f)?;
        Ok((value, self.crop(grad)))
    }

    /// `grad` plus the input gradients of the windows at `starts`, each run with its graph
    /// ([`WindowPlan::window_grad`]).
    fn window_grads(
        &self,
        mut grad: Tensor<5>,
        x: &Tensor<5>,
        (gp, w): (&Tensor<5>, &Tensor<5>),
        starts: &[[usize; 3]],
        f: &dyn Fn(Tensor<5>) -> Result<Tensor<5>>,
    ) -> Result<Tensor<5>> {
        for &s in starts {
            let (xw, y) = self.traced(x, s, f)?;
            grad = self.window_grad(grad, (gp, w), s, xw, y)?;
        }
        Ok(grad)
    }

    /// The output gradient `g` (plain device) in the padded volume, per unit of summed weight
    /// (`Cᵀ G / n`).
    fn output_grad(&self, g: Tensor<5>) -> Tensor<5> {
        let plain = crate::default_device();
        let g = Tensor::<5>::from_data(g.into_data(), &plain);
        let [b, k, ..] = g.dims();
        let [pd, ph, pw] = self.padded;
        let [d, h, w] = self.dims;
        let [bd, bh, bw] = self.before;
        let z = Tensor::zeros([b, k, pd, ph, pw], &plain);
        let z = z.slice_assign([0..b, 0..k, bd..bd + d, bh..bh + h, bw..bw + w], g);
        z / self.norm(&plain)
    }

    /// The window at `s` of the padded `x` on the autodiff device, tracked, and `f` of it.
    fn traced(
        &self,
        x: &Tensor<5>,
        s: [usize; 3],
        f: &dyn Fn(Tensor<5>) -> Result<Tensor<5>>,
    ) -> Result<(Tensor<5>, Tensor<5>)> {
        let ad = crate::autodiff_device();
        let xw = Tensor::<5>::from_data(self.window(x.clone(), s).into_data(), &ad).require_grad();
        let y = f(xw.clone())?;
        Ok((xw, y))
    }

    /// `grad` (the padded input's shape) plus the input gradient of window `s` (input `xw`, output `y`
    /// with its graph) for its share (importance `w`) of the padded output gradient `gp`.
    fn window_grad(
        &self,
        grad: Tensor<5>,
        (gp, w): (&Tensor<5>, &Tensor<5>),
        s: [usize; 3],
        xw: Tensor<5>,
        y: Tensor<5>,
    ) -> Result<Tensor<5>> {
        let [b, c, ..] = grad.dims();
        let seed = Tensor::<5>::from_data(
            (self.window(gp.clone(), s) * w.clone()).into_data(),
            &crate::autodiff_device(),
        );
        let grads = (y * seed).sum().backward();
        let gw = xw
            .grad(&grads)
            .ok_or_else(|| NnError::Shape("the window has no gradient".into()))?;
        let ranges = self.ranges(b, c, s);
        let sum = grad.clone().slice(ranges.clone()) + gw;
        Ok(grad.slice_assign(ranges, sum))
    }
}
