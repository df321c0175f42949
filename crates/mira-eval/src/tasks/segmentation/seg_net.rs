//! A segmentation network of either kind Mira attacks: its own UNet (a checkpoint folder) or
//! an ONNX graph with the same contract, `[B, C, H, W]` in, logits `[B, K, H, W]` out.
//!
//! An ONNX graph's forward pass can fail (a shape its operators refuse); [`SegNet::try_logits`]
//! reports that as an error. Cells call it on the clean inputs first (the clean prediction),
//! so the attack's forward passes, on inputs of the same shapes, cannot fail: the interpreter
//! is deterministic in the shapes. Should one fail anyway, [`Forward::forward`] returns NaN
//! logits, which the attack engine refuses as a non-finite objective, never a panic.

use std::path::Path;
use std::sync::Arc;

use burn::prelude::*;
use mira_nn::{Forward, UNet, argmax_labels, images_to_tensor};
use mira_onnx::{OnnxModel, OnnxNet};

use crate::{EvalError, Result};

/// An ONNX segmentation graph and its class count.
#[derive(Module, Debug)]
pub struct OnnxSeg {
    #[module(skip)]
    net: Arc<OnnxNet>,
    #[module(skip)]
    classes: usize,
}

/// A segmentation network: Mira's UNet or an ONNX graph.
#[derive(Module, Debug)]
#[allow(clippy::large_enum_variant)] // one per run; boxing a burn module buys nothing
pub enum SegNet {
    /// A UNet checkpoint of `mira train` / `mira run`.
    UNet(UNet),
    /// An ONNX model.
    Onnx(OnnxSeg),
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
        let dev = mira_nn::default_device();
        let invalid =
            |reason: String| EvalError::invalid("model", format!("{}: {reason}", path.display()));
        if mira_onnx::is_onnx_path(path) {
            let model = OnnxModel::from_file(path).map_err(|e| invalid(e.to_string()))?;
            let dim1 = |shape: &[Option<usize>]| (shape.len() == 4).then(|| shape[1]).flatten();
            let in_channels = model.inputs.first().and_then(|i| dim1(&i.shape));
            let classes = model.outputs.first().and_then(|o| dim1(&o.shape));
            let (Some(in_channels), Some(classes)) = (in_channels, classes) else {
                return Err(invalid(
                    "a segmentation model must declare its input as [B, C, H, W] and its output \
                     as [B, K, H, W] with C and K fixed"
                        .into(),
                ));
            };
            let parameters = model.parameter_count();
            let net = OnnxNet::new(model, &dev).map_err(|e| invalid(e.to_string()))?;
            let onnx = OnnxSeg {
                net: Arc::new(net),
                classes,
            };
            let info = SegNetInfo {
                in_channels,
                classes,
                channel_names: Vec::new(),
                label_names: Vec::new(),
                multiple: 1,
                parameters,
            };
            return Ok((SegNet::Onnx(onnx), info));
        }
        let (unet, meta) =
            mira_nn::checkpoint::load(path, &dev).map_err(|e| invalid(e.to_string()))?;
        let info = SegNetInfo {
            in_channels: meta.unet.in_channels,
            classes: meta.unet.classes,
            channel_names: meta.channel_names.clone(),
            label_names: meta.label_names.clone(),
            multiple: 1 << meta.unet.depth,
            parameters: unet.num_params(),
        };
        Ok((SegNet::UNet(unet), info))
    }

    /// The logits of `x`, or the error an ONNX graph gives on it.
    ///
    /// # Errors
    /// A shape the ONNX graph refuses.
    pub fn try_logits(&self, x: Tensor<4>) -> Result<Tensor<4>> {
        match self {
            SegNet::UNet(u) => Ok(u.forward(x)),
            SegNet::Onnx(o) => Ok(o.net.forward_as::<4, 4>(x)?),
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
            SegNet::Onnx(o) => {
                let [b, _, h, w] = x.dims();
                let dev = x.device();
                o.net
                    .forward_as::<4, 4>(x)
                    .unwrap_or_else(|_| Tensor::full([b, o.classes, h, w], f32::NAN, &dev))
            }
        }
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

    #[test]
    fn the_onnx_export_of_the_reference_unet_attacks_like_the_imported_weights() {
        let dev = mira_nn::default_device();
        let cfg = UNetConfig::new().with_base_width(8);
        let unet =
            mira_nn::load_torch_unet(&fixture("reference_unet.safetensors"), &cfg, &dev).unwrap();
        let (onnx, info) = SegNet::load(&fixture("reference_unet.onnx")).unwrap();
        assert_eq!((info.in_channels, info.classes, info.multiple), (4, 4, 1));
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
