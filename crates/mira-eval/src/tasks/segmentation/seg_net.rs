//! A segmentation network of any kind Mira attacks: its own 2D UNet (a checkpoint folder) or
//! an ONNX graph with the same contract, `[B, C, H, W]` in, logits `[B, K, H, W]` out; or a 3D
//! network, `[B, C, D, H, W]` in, logits `[B, K, D, H, W]` out: an ONNX graph or Mira's 3D UNet
//! (a checkpoint folder tagged `mira-unet3d/1`, or trained by the run).
//!
//! A volume goes through the 2D pipeline (cells, judges, records) as one tall "slice"
//! `[C, D·H, W]`: that is the C order of `[C, D, H, W]`, so nothing is copied, and pixel-wise
//! losses, Dice and budgets do not depend on the layout. [`SegNet::for_depth`] gives the
//! network for volumes of depth `D`, which reshapes `[B, C, D·H, W]` to `[B, C, D, H, W]`
//! before the graph and the logits back after it.
//!
//! An ONNX graph's forward pass can fail (a shape its operators refuse); [`SegNet::try_logits`]
//! reports that as an error. Cells call it on the clean inputs first (the clean prediction),
//! so the attack's forward passes, on inputs of the same shapes, cannot fail: the interpreter
//! is deterministic in the shapes. Should one fail anyway, [`Forward::forward`] returns NaN
//! logits, which the attack engine refuses as a non-finite objective, never a panic.

use std::path::Path;
use std::sync::Arc;

use burn::prelude::*;
use mira_nn::{Forward, UNet, UNet3d, argmax_labels, images_to_tensor};
use mira_onnx::{OnnxModel, OnnxNet};

use crate::tasks::segmentation::windowed::{WindowAttack, Windowing};
use crate::{EvalError, Result};

/// What an ONNX model outputs: logits, or probabilities (a final Softmax over the classes),
/// which attacks must see through their logarithm, the logits up to a constant per pixel:
/// cross-entropy on a softmax output's saturated probabilities has vanishing gradients (the
/// gradient masking AutoAttack's checks warn about).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OutputKind {
    /// Probabilities when the graph ends in a Softmax over axis 1, else logits.
    #[default]
    Auto,
    /// Logits, whatever the graph ends with.
    Logits,
    /// Probabilities over axis 1.
    Probabilities,
}

/// The network of a [`GraphSeg`]: an ONNX graph, or Mira's 3D UNet (an evaluation copy).
#[derive(Debug, Clone)]
pub(crate) enum Graph {
    /// The interpreter of an ONNX model.
    Onnx(Arc<OnnxNet>),
    /// A 3D UNet checkpoint or one trained by the run.
    UNet3d(Arc<UNet3d>),
}

impl Graph {
    /// A 2D ONNX graph on `[B, C, H, W]`.
    fn forward4(&self, x: Tensor<4>) -> Result<Tensor<4>> {
        match self {
            Graph::Onnx(n) => Ok(n.forward_as::<4, 4>(x)?),
            Graph::UNet3d(_) => Err(EvalError::invalid(
                "model",
                "a 3D UNet fed 2D slices (the volume's depth is not set)",
            )),
        }
    }

    /// A 3D network on `[B, C, D, H, W]`.
    pub(crate) fn forward5(&self, x: Tensor<5>) -> Result<Tensor<5>> {
        match self {
            Graph::Onnx(n) => Ok(n.forward_as::<5, 5>(x)?),
            Graph::UNet3d(u) => {
                let m = u.multiple();
                let dims = x.dims();
                if dims[2..].iter().any(|s| s % m != 0) {
                    return Err(EvalError::invalid(
                        "roi",
                        format!(
                            "the 3D UNet takes sides divisible by {m}, got {:?} (set a `roi` of \
                             such sides: a sliding window)",
                            &dims[2..]
                        ),
                    ));
                }
                Ok(u.logits(x))
            }
        }
    }
}

/// A segmentation graph (an ONNX model, 2D or 3D, or Mira's 3D UNet), its class count, and for
/// a 3D one the depth of the volumes it is given now.
#[derive(Module, Debug)]
pub struct GraphSeg {
    #[module(skip)]
    pub(crate) net: Graph,
    #[module(skip)]
    classes: usize,
    /// Whether the graph takes `[B, C, D, H, W]`.
    #[module(skip)]
    volumetric: bool,
    /// `D` of the tall slices `[B, C, D·H, W]` it is fed (a 3D graph; 0 until set).
    #[module(skip)]
    pub(crate) depth: usize,
    /// Whether the graph outputs probabilities (their log is taken as the logits).
    #[module(skip)]
    probabilities: bool,
    /// A 3D graph's sliding window (`None`: the whole volume at once).
    #[module(skip)]
    window: Option<Windowing>,
}

impl GraphSeg {
    fn logits(&self, x: Tensor<4>) -> Result<Tensor<4>> {
        Ok(self.to_logits(self.output(x)?))
    }

    /// The graph's output as logits: probabilities become their logarithm.
    pub(crate) fn to_logits(&self, y: Tensor<4>) -> Tensor<4> {
        if self.probabilities {
            y.clamp_min(f32::MIN_POSITIVE).log()
        } else {
            y
        }
    }

    fn output(&self, x: Tensor<4>) -> Result<Tensor<4>> {
        if !self.volumetric {
            return self.net.forward4(x);
        }
        if let Some(win) = &self.window {
            return self.windowed_output(win, x, false);
        }
        let (x5, _) = self.volume(x)?;
        let y = self.net.forward5(x5)?;
        let [b, k, d, h, w] = y.dims();
        Ok(y.reshape([b, k, d * h, w]))
    }
}

/// A segmentation network: Mira's UNet or an ONNX graph.
#[derive(Module, Debug)]
#[allow(clippy::large_enum_variant)] // one per run; boxing a burn module buys nothing
pub enum SegNet {
    /// A UNet checkpoint of `mira train` / `mira run`.
    UNet(UNet),
    /// An ONNX model (2D or 3D), or Mira's 3D UNet: a graph fed through [`GraphSeg`].
    Graph(GraphSeg),
}

/// What a loaded network declares of its contract.
#[derive(Debug, Clone, PartialEq)]
pub struct SegNetInfo {
    /// Input channels.
    pub in_channels: usize,
    /// Output classes.
    pub classes: usize,
    /// Channel names saved with a UNet checkpoint (empty for ONNX).
    pub channel_names: Vec<String>,
    /// Class names saved with a UNet checkpoint (empty for ONNX).
    pub label_names: Vec<String>,
    /// Slices are zero-padded to a multiple of this (a UNet of depth d: 2^d; ONNX: 1).
    pub multiple: usize,
    /// Parameter values (an ONNX model: its float initialisers).
    pub parameters: usize,
    /// Whether the model takes volumes `[B, C, D, H, W]` (a 3D ONNX graph or 3D UNet).
    pub volumetric: bool,
    /// Whether its outputs are taken as probabilities (their log is attacked).
    pub probabilities: bool,
    /// Whether the graph ends in a Softmax over the classes (whatever `output` says).
    pub softmax_detected: bool,
}

/// Whether `path` is a folder holding a 3D UNet checkpoint (its `model.json` says so).
fn is_unet3d_checkpoint(path: &Path) -> bool {
    let Ok(text) = std::fs::read_to_string(path.join("model.json")) else {
        return false;
    };
    serde_json::from_str::<serde_json::Value>(&text)
        .ok()
        .and_then(|v| v.get("format")?.as_str().map(str::to_owned))
        .is_some_and(|f| f == mira_nn::UNET3D_FORMAT)
}

impl SegNet {
    /// The file whose hash pins the model in a run's manifest: a checkpoint's weights, or the
    /// `.onnx` file itself.
    pub fn weights_file(path: &Path) -> std::path::PathBuf {
        if path.is_file() {
            path.to_path_buf()
        } else {
            path.join(mira_nn::checkpoint::WEIGHTS_FILE)
        }
    }
}

impl SegNet {
    /// Loads a UNet checkpoint folder, or an `.onnx` file whose input is `[B, C, H, W]` and
    /// output `[B, K, H, W]` with `C` and `K` declared.
    ///
    /// # Errors
    /// An unreadable or incompatible model, named with its path.
    pub fn load(path: &Path) -> Result<(SegNet, SegNetInfo)> {
        Self::load_as(path, OutputKind::Auto)
    }

    /// As [`SegNet::load`], with what an ONNX model outputs stated (`Auto`: probabilities when
    /// the graph ends in a Softmax over axis 1).
    ///
    /// # Errors
    /// As [`SegNet::load`].
    pub fn load_as(path: &Path, output: OutputKind) -> Result<(SegNet, SegNetInfo)> {
        let dev = mira_nn::default_device();
        let invalid =
            |reason: String| EvalError::invalid("model", format!("{}: {reason}", path.display()));
        if mira_onnx::is_onnx_path(path) {
            let model = OnnxModel::from_file(path).map_err(|e| invalid(e.to_string()))?;
            let rank = model.inputs.first().map_or(0, |i| i.shape.len());
            let dim1 = |shape: &[Option<usize>]| {
                (shape.len() == rank && (rank == 4 || rank == 5))
                    .then(|| shape[1])
                    .flatten()
            };
            let in_channels = model.inputs.first().and_then(|i| dim1(&i.shape));
            let classes = model.outputs.first().and_then(|o| dim1(&o.shape));
            let (Some(in_channels), Some(classes)) = (in_channels, classes) else {
                return Err(invalid(
                    "a segmentation model must declare its input as [B, C, H, W] and its output \
                     as [B, K, H, W] (or [B, C, D, H, W] and [B, K, D, H, W]) with C and K fixed"
                        .into(),
                ));
            };
            let parameters = model.parameter_count();
            let softmax_detected = model.output_activation().is_some_and(|(op, axis)| {
                op == "Softmax" && (axis == 1 || axis + rank as i64 == 1)
            });
            let probabilities = match output {
                OutputKind::Auto => softmax_detected,
                OutputKind::Logits => false,
                OutputKind::Probabilities => true,
            };
            let net = OnnxNet::new(model, &dev).map_err(|e| invalid(e.to_string()))?;
            let onnx = GraphSeg {
                net: Graph::Onnx(Arc::new(net)),
                classes,
                volumetric: rank == 5,
                depth: 0,
                probabilities,
                window: None,
            };
            let info = SegNetInfo {
                in_channels,
                classes,
                channel_names: Vec::new(),
                label_names: Vec::new(),
                multiple: 1,
                parameters,
                volumetric: rank == 5,
                probabilities,
                softmax_detected,
            };
            return Ok((SegNet::Graph(onnx), info));
        }
        // A checkpoint of Mira's: its contract from `model.json`.
        let info = |(in_channels, classes, depth): (usize, usize, usize),
                    names: (&[String], &[String]),
                    parameters,
                    volumetric| SegNetInfo {
            in_channels,
            classes,
            channel_names: names.0.to_vec(),
            label_names: names.1.to_vec(),
            multiple: 1 << depth,
            parameters,
            volumetric,
            probabilities: false,
            softmax_detected: false,
        };
        if is_unet3d_checkpoint(path) {
            let (unet, meta) =
                mira_nn::load_unet3d(path, &dev).map_err(|e| invalid(e.to_string()))?;
            let u = &meta.unet;
            let names = (&meta.channel_names[..], &meta.label_names[..]);
            let info = info(
                (u.in_channels, u.classes, u.depth),
                names,
                unet.num_params(),
                true,
            );
            return Ok((SegNet::unet3d(unet, u.classes), info));
        }
        let (unet, meta) =
            mira_nn::checkpoint::load(path, &dev).map_err(|e| invalid(e.to_string()))?;
        let u = &meta.unet;
        let names = (&meta.channel_names[..], &meta.label_names[..]);
        let info = info(
            (u.in_channels, u.classes, u.depth),
            names,
            unet.num_params(),
            false,
        );
        Ok((SegNet::UNet(unet), info))
    }

    /// Mira's 3D UNet (an evaluation copy) with `classes` outputs, predicting whole volumes
    /// until [`SegNet::with_window`] gives it a sliding window.
    pub fn unet3d(model: UNet3d, classes: usize) -> SegNet {
        SegNet::Graph(GraphSeg {
            net: Graph::UNet3d(Arc::new(model)),
            classes,
            volumetric: true,
            depth: 0,
            probabilities: false,
            window: None,
        })
    }

    /// The network for volumes of depth `depth` fed as tall slices `[B, C, depth·H, W]` (a 3D
    /// graph; any other network is returned as it is). Cheap: the graph is shared.
    pub fn for_depth(&self, depth: usize) -> SegNet {
        match self {
            SegNet::Graph(o) if o.volumetric => SegNet::Graph(GraphSeg {
                net: o.net.clone(),
                classes: o.classes,
                volumetric: true,
                depth,
                probabilities: o.probabilities,
                window: o.window.clone(),
            }),
            other => other.clone(),
        }
    }

    /// The network predicting volumes through `window` (a 3D graph; any other network is
    /// returned as it is).
    pub fn with_window(self, window: Option<Windowing>) -> SegNet {
        match self {
            SegNet::Graph(mut o) if o.volumetric => {
                o.window = window;
                SegNet::Graph(o)
            }
            other => other,
        }
    }

    /// Whether the network takes volumes (a 3D ONNX graph or 3D UNet).
    pub fn is_volumetric(&self) -> bool {
        matches!(self, SegNet::Graph(o) if o.volumetric)
    }

    /// The logits of `x`, or the error an ONNX graph gives on it.
    ///
    /// # Errors
    /// A shape the ONNX graph refuses.
    pub fn try_logits(&self, x: Tensor<4>) -> Result<Tensor<4>> {
        match self {
            SegNet::UNet(u) => Ok(u.forward(x)),
            SegNet::Graph(o) => o.logits(x),
        }
    }

    /// Predicted labels of every slice of `data`, `batch` at a time (evaluation mode).
    ///
    /// # Errors
    /// A shape the ONNX graph refuses.
    pub fn predict_labels(
        &self,
        data: &mira_data::SegDataset,
        batch: usize,
    ) -> Result<Vec<Vec<u8>>> {
        let eval = self.valid();
        let dev = mira_nn::default_device();
        let mut out = Vec::with_capacity(data.items.len());
        for chunk in data.items.chunks(batch.max(1)) {
            let refs: Vec<_> = chunk.iter().collect();
            let x = images_to_tensor(&refs, &dev)?;
            out.extend(argmax_labels(eval.try_logits(x)?));
        }
        Ok(out)
    }
}

impl Forward<4, 4> for SegNet {
    fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        match self {
            SegNet::UNet(u) => u.forward(x),
            SegNet::Graph(o) => {
                let [b, _, h, w] = x.dims();
                let dev = x.device();
                o.logits(x)
                    .unwrap_or_else(|_| Tensor::full([b, o.classes, h, w], f32::NAN, &dev))
            }
        }
    }

    /// A windowed 3D graph: the loss and its input gradient through the windows, in two
    /// passes (`windowed.rs`); NaN where the graph fails (the engine refuses it).
    fn attack_value_and_grad(
        &self,
        x: Tensor<4>,
        loss: &dyn Fn(Tensor<4>) -> Tensor<1>,
    ) -> Option<(Tensor<1>, Tensor<4>)> {
        let SegNet::Graph(o) = self else { return None };
        let win = o.window.as_ref().filter(|_| o.volumetric)?;
        let (b, dims, dev) = (x.dims()[0], x.dims(), x.device());
        Some(o.windowed_value_and_grad(win, x, loss).unwrap_or_else(|_| {
            (
                Tensor::full([b], f32::NAN, &dev),
                Tensor::full(dims, f32::NAN, &dev),
            )
        }))
    }

    /// What a windowed 3D graph's attack sees: the tiles for `window_attack = "tiles"`.
    fn attack_forward(&self, x: Tensor<4>) -> Option<Tensor<4>> {
        let SegNet::Graph(o) = self else { return None };
        let win = o
            .window
            .as_ref()
            .filter(|w| o.volumetric && w.attack == WindowAttack::Tiles)?;
        let [b, _, h, w] = x.dims();
        let dev = x.device();
        let y = o.windowed_output(win, x, true).map(|y| o.to_logits(y));
        Some(y.unwrap_or_else(|_| Tensor::full([b, o.classes, h, w], f32::NAN, &dev)))
    }
}

#[cfg(test)]
mod tests {
    //! The reference UNet2d (width 8) loaded two ways with the same weights, PyTorch's
    //! safetensors through Mira's import and its ONNX export through the interpreter: the same
    //! logits, and FGSM and PGD cells that give the same records.

    use std::path::PathBuf;

    use mira_attack::{AttackSpec, FgsmConfig, Norm, PgdConfig};
    use mira_data::BrainPhantomConfig;
    use mira_nn::UNetConfig;

    use super::*;
    use crate::cells::CellId;
    use crate::tasks::segmentation::Cell;

    fn fixture(name: &str) -> PathBuf {
        PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../mira-onnx/tests/fixtures")
            .join(name)
    }

    fn f32s(name: &str) -> Vec<f32> {
        std::fs::read(fixture(name))
            .unwrap()
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect()
    }

    /// A graph ending in Softmax is detected, and the attack loss is the cross-entropy of the
    /// log-probabilities: its input gradient equals PyTorch's (`scripts/onnx_fixtures.py`,
    /// `softmax_seg`). `output = "logits"` overrides the detection.
    #[test]
    fn a_softmax_output_is_detected_and_attacked_through_its_logarithm() {
        use burn::tensor::activation::log_softmax;
        let path = fixture("softmax_seg.onnx");
        let (net, info) = SegNet::load(&path).unwrap();
        assert!(info.probabilities && info.softmax_detected);
        let (_, plain) = SegNet::load_as(&path, OutputKind::Logits).unwrap();
        assert!(!plain.probabilities && plain.softmax_detected);
        let ad = mira_nn::autodiff_device();
        let x = Tensor::<1>::from_floats(f32s("softmax_seg.input.f32").as_slice(), &ad)
            .reshape([1, 4, 32, 32])
            .require_grad();
        let logits = net.try_logits(x.clone()).unwrap();
        let labels = logits.clone().argmax(1);
        let loss = -log_softmax(logits, 1).gather(1, labels).mean();
        let g = mira_nn::tensor_to_vec(x.grad(&loss.backward()).unwrap());
        let want = f32s("softmax_seg.grad.f32");
        let range = want.iter().fold(0f32, |m, v| m.max(v.abs()));
        let e = g
            .iter()
            .zip(&want)
            .map(|(a, b)| (a - b).abs())
            .fold(0f32, f32::max)
            / range;
        assert!(
            e < 1e-4,
            "gradient differs from PyTorch's by {e:.1e} of its range"
        );
    }

    #[test]
    fn the_onnx_export_of_the_reference_unet_attacks_like_the_imported_weights() {
        let dev = mira_nn::default_device();
        let cfg = UNetConfig::new().with_base_width(8);
        let unet =
            mira_nn::load_torch_unet(&fixture("reference_unet.safetensors"), &cfg, &dev).unwrap();
        let (onnx, info) = SegNet::load(&fixture("reference_unet.onnx")).unwrap();
        assert_eq!((info.in_channels, info.classes, info.multiple), (4, 4, 1));
        assert!(!info.volumetric && !onnx.is_volumetric());
        let test = BrainPhantomConfig {
            size: 32,
            ..Default::default()
        }
        .generate(4, 0, 6)
        .unwrap();
        let refs: Vec<_> = test.items.iter().collect();
        let x = images_to_tensor(&refs, &dev).unwrap();
        let (a, b) = (
            mira_nn::tensor_to_vec(unet.forward(x.clone())),
            mira_nn::tensor_to_vec(onnx.try_logits(x).unwrap()),
        );
        let range = a.iter().fold(0f32, |m, v| m.max(v.abs()));
        let diff = a
            .iter()
            .zip(&b)
            .map(|(p, q)| (p - q).abs())
            .fold(0f32, f32::max);
        assert!(
            diff < 1e-5 * range,
            "logits differ by {diff} (range {range})"
        );

        let clean = onnx.predict_labels(&test, 3).unwrap();
        assert_eq!(clean, mira_train::predict_labels(&unet, &test, 3).unwrap());
        let specs = [
            AttackSpec::Fgsm(FgsmConfig),
            AttackSpec::Pgd(PgdConfig {
                steps: 5,
                ..Default::default()
            }),
        ];
        for spec in &specs {
            let id = CellId {
                model: "m",
                attack: "a",
                norm: Norm::Linf,
                epsilon: 0.03,
                batch_size: 3,
                seed: 7,
            };
            let run =
                |records: Vec<mira_report::SegRecord>| serde_json::to_string(&records).unwrap();
            let mine = Cell::untargeted(id, &unet, spec).run(&test, &clean, &mut |_| {});
            let theirs = Cell::untargeted(id, &onnx, spec).run(&test, &clean, &mut |_| {});
            assert_eq!(run(mine.unwrap()), run(theirs.unwrap()), "{spec:?}");
        }
    }
}
