//! The S3 hybrid's soft tissue features in one pass (issue 29): for each voxel the 4-class
//! Gaussian-mixture softmax, accumulated straight into the 27 regional means (8 octants and
//! the central box × CSF, GM, WM), and the input gradient in one pass back. burn's version
//! (`tissue_features`' reference path) runs a dozen element-wise, softmax and strided
//! reduction passes over 4 × the volume, each with its own buffer and autodiff node: 97 of the
//! hybrid attack step's 114 ms against PyTorch's 23 ms (BENCHMARKS.md).
//!
//! Forward: `p_k = softmax_k(−(x − μ_k)² / 2σ²)`, `F[c, r] = mean_{v ∈ r} p_{c+1}(v)`.
//! Backward: with `a_k(v) = Σ_{r ∋ v} dF[k−1, r] / |r|` (`a_0 = 0`), `s = Σ_k p_k a_k`,
//! `dx = Σ_k p_k (a_k − s) · (−(x − μ_k) / σ²)`. Sums run in f64 per region.

use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::{Autodiff, Flex, tensor::FloatTensor};
use burn::tensor::TensorData;
use burn_flex::FlexTensor;
use rayon::prelude::*;

/// Whether the one-pass features are switched on (`MIRA_FAST_TISSUE` unset or anything but
/// `0`; a switch for benchmarks and for ruling the kernel out).
pub fn enabled() -> bool {
    static ON: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *ON.get_or_init(|| std::env::var("MIRA_FAST_TISSUE").map_or(true, |v| v.trim() != "0"))
}

/// The mixture: class means (outside, CSF, GM, WM) and the shared width.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct TissueSpec {
    /// Class means.
    pub means: [f32; 4],
    /// Shared standard deviation.
    pub sigma: f32,
}

/// Regions of a voxel of a `[D, H, W]` volume: its octant, and whether it is in the central
/// box (half the side, starting at a quarter).
struct Regions {
    dims: [usize; 3],
}

impl Regions {
    fn octant_axis(&self, axis: usize, i: usize) -> usize {
        usize::from(i >= self.dims[axis] / 2)
    }

    fn central_axis(&self, axis: usize, i: usize) -> bool {
        let n = self.dims[axis];
        (n / 4..n / 4 + n / 2).contains(&i)
    }

    fn octant_size(&self) -> f64 {
        self.dims.iter().map(|n| (n / 2) as f64).product()
    }
}

/// The posteriors `p_0..p_3` of intensity `x`.
#[inline]
fn posteriors(x: f32, spec: &TissueSpec) -> [f32; 4] {
    let s2 = 2.0 * spec.sigma * spec.sigma;
    let l = spec.means.map(|m| -(x - m) * (x - m) / s2);
    let top = l.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let e = l.map(|v| (v - top).exp());
    let sum: f32 = e.iter().sum();
    e.map(|v| v / sum)
}

/// Features `[B, 27]` of volumes `x` (`B × D × H × W`, one channel); with `keep`, also every
/// voxel's posteriors (`B × N × 4`) for the backward pass.
pub fn forward(
    x: &[f32],
    batch: usize,
    dims: [usize; 3],
    spec: &TissueSpec,
    keep: bool,
) -> (Vec<f32>, Vec<f32>) {
    let n: usize = dims.iter().product();
    let r = Regions { dims };
    let central: f64 = dims.iter().map(|n| (n / 2) as f64).product();
    let mut post = vec![0f32; if keep { batch * n * 4 } else { 0 }];
    let mut chunks: Vec<&mut [f32]> = if keep {
        post.chunks_mut(n * 4).collect()
    } else {
        (0..batch).map(|_| <&mut [f32]>::default()).collect()
    };
    let per: Vec<Vec<f32>> = x
        .par_chunks(n)
        .take(batch)
        .zip(chunks.par_iter_mut())
        .map(|(vol, keep_p)| {
            let mut sums = [[0f64; 9]; 3];
            let half = dims[2] / 2;
            let (c0, c1) = (dims[2] / 4, dims[2] / 4 + dims[2] / 2);
            for d in 0..dims[0] {
                let (od, cd) = (r.octant_axis(0, d), r.central_axis(0, d));
                for h in 0..dims[1] {
                    let (oh, ch) = (r.octant_axis(1, h), r.central_axis(1, h));
                    let at = (d * dims[1] + h) * dims[2];
                    // A row in f32: its two halves (octants) and its central run, per class.
                    let mut row = [[0f32; 3]; 3];
                    for (w, &v) in vol[at..at + dims[2]].iter().enumerate() {
                        let p = posteriors(v, spec);
                        if !keep_p.is_empty() {
                            keep_p[(at + w) * 4..(at + w) * 4 + 4].copy_from_slice(&p);
                        }
                        let side = usize::from(w >= half);
                        for c in 0..3 {
                            row[side][c] += p[c + 1];
                        }
                        if (c0..c1).contains(&w) {
                            for c in 0..3 {
                                row[2][c] += p[c + 1];
                            }
                        }
                    }
                    let oct = (od * 2 + oh) * 2;
                    for c in 0..3 {
                        sums[c][oct] += f64::from(row[0][c]);
                        sums[c][oct + 1] += f64::from(row[1][c]);
                        if cd && ch {
                            sums[c][8] += f64::from(row[2][c]);
                        }
                    }
                }
            }
            let mut out = Vec::with_capacity(27);
            for s in &sums {
                out.extend(s[..8].iter().map(|v| (v / r.octant_size()) as f32));
                out.push((s[8] / central) as f32);
            }
            out
        })
        .collect();
    drop(chunks);
    (per.concat(), post)
}

/// The input gradient of `Σ dF · F` for features' gradient `df` (`[B, 27]`), given the
/// forward pass's posteriors `post` (`B × N × 4`).
pub fn backward(
    x: &[f32],
    post: &[f32],
    df: &[f32],
    batch: usize,
    dims: [usize; 3],
    spec: &TissueSpec,
) -> Vec<f32> {
    let n: usize = dims.iter().product();
    let r = Regions { dims };
    let central: f32 = dims.iter().map(|n| (n / 2) as f32).product();
    let octant = r.octant_size() as f32;
    let inv_var = 1.0 / (spec.sigma * spec.sigma);
    let mut dx = vec![0f32; batch * n];
    dx.par_chunks_mut(n)
        .zip(x.par_chunks(n))
        .zip(post.par_chunks(n * 4))
        .zip(df.par_chunks(27))
        .for_each(|(((dx, vol), post), g)| {
            // a_k per (octant, in the central box): 16 combinations.
            let mut table = [[[0f32; 4]; 2]; 8];
            for (oct, row) in table.iter_mut().enumerate() {
                for (centre, a) in row.iter_mut().enumerate() {
                    for c in 0..3 {
                        a[c + 1] = g[c * 9 + oct] / octant
                            + if centre == 1 {
                                g[c * 9 + 8] / central
                            } else {
                                0.0
                            };
                    }
                }
            }
            for d in 0..dims[0] {
                let (od, cd) = (r.octant_axis(0, d), r.central_axis(0, d));
                for h in 0..dims[1] {
                    let (oh, ch) = (r.octant_axis(1, h), r.central_axis(1, h));
                    let at = (d * dims[1] + h) * dims[2];
                    for w in 0..dims[2] {
                        let oct = (od * 2 + oh) * 2 + r.octant_axis(2, w);
                        let centre = usize::from(cd && ch && r.central_axis(2, w));
                        let a = &table[oct][centre];
                        let v = vol[at + w];
                        let p = &post[(at + w) * 4..(at + w) * 4 + 4];
                        let s: f32 = (0..4).map(|k| p[k] * a[k]).sum();
                        dx[at + w] = (0..4)
                            .map(|k| p[k] * (a[k] - s) * (spec.means[k] - v))
                            .sum::<f32>()
                            * inv_var;
                    }
                }
            }
        });
    dx
}

fn shape(x: &FlexTensor) -> (usize, [usize; 3]) {
    let d = x.layout().shape();
    (d[0], [d[2], d[3], d[4]])
}

/// The flex backend's features.
pub(crate) fn on_flex(x: FloatTensor<Flex>, spec: TissueSpec) -> FloatTensor<Flex> {
    let x = x.to_contiguous();
    let (b, dims) = shape(&x);
    let (f, _) = forward(x.storage(), b, dims, &spec, false);
    FlexTensor::from_data(TensorData::new(f, vec![b, 27]))
}

#[derive(Debug)]
struct TissueOp;

impl Backward<Flex, 1> for TissueOp {
    /// The input volumes, their posteriors and the mixture.
    type State = (FlexTensor, std::sync::Arc<Vec<f32>>, TissueSpec);

    fn backward(
        self,
        ops: Ops<Self::State, 1>,
        grads: &mut Gradients,
        _checkpointer: &mut Checkpointer,
    ) {
        let [node_x] = ops.parents;
        let grad = grads.consume::<Flex>(&ops.node).to_contiguous();
        let (x, post, spec) = ops.state;
        if let Some(node) = node_x {
            let (b, dims) = shape(&x);
            let dx = backward(x.storage(), &post, grad.storage(), b, dims, &spec);
            let shape = vec![b, 1, dims[0], dims[1], dims[2]];
            grads.register::<Flex>(node.id, FlexTensor::from_data(TensorData::new(dx, shape)));
        }
    }
}

/// The features on autodiff over flex, with their one-pass gradient (the posteriors kept from
/// the forward pass).
pub(crate) fn on_autodiff<C: CheckpointStrategy>(
    x: FloatTensor<Autodiff<Flex, C>>,
    spec: TissueSpec,
) -> FloatTensor<Autodiff<Flex, C>> {
    let prep = TissueOp.prepare::<C>([x.node()]).compute_bound().stateful();
    let x = x.into_primitive().to_contiguous();
    let (b, dims) = shape(&x);
    match prep {
        OpsKind::Tracked(prep) => {
            let (f, post) = forward(x.storage(), b, dims, &spec, true);
            let out = FlexTensor::from_data(TensorData::new(f, vec![b, 27]));
            prep.finish((x, std::sync::Arc::new(post), spec), out)
        }
        OpsKind::UnTracked(prep) => prep.finish(on_flex(x, spec)),
    }
}
