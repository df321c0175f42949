//! Bring-your-own weights: a UNet trained in PyTorch, loaded from a safetensors file.
//!
//! Names follow PyTorch's `state_dict` of the reference `UNet2d`
//! (`../shared/bench/reference_models.py`, `scripts/export_weights.py`), depth 3:
//!
//! | Mira | PyTorch |
//! |---|---|
//! | `encoders[0..4]` | `enc1`, `enc2`, `enc3`, `bottom` |
//! | `ups[0..3]` | `up3`, `up2`, `up1` |
//! | `decoders[0..3]` | `dec3`, `dec2`, `dec1` |
//! | block `conv1`/`bn1`, `conv2`/`bn2` | `.0.conv`/`.0.bn`, `.1.conv`/`.1.bn` |
//! | BatchNorm `gamma`, `beta`, running mean/var | `weight`, `bias`, `running_mean`, `running_var` |
//! | `head` | `head` |
//!
//! Every tensor the model needs must be present with its exact shape; tensors the model does
//! not use (other than `num_batches_tracked`) are an error too, so a wrong architecture is
//! never half-loaded. The error lists missing, unexpected and mis-shaped tensors.

use std::collections::BTreeMap;
use std::path::Path;

use burn::module::{Param, RunningState};
use burn::nn::BatchNorm;
use burn::nn::conv::{Conv2d, ConvTranspose2d};
use burn::prelude::*;
use safetensors::{Dtype, SafeTensors};

use crate::unet_block::ConvBlock;
use crate::{NnError, Result, UNet, UNetConfig};

/// Largest weights file read (1 GiB).
const MAX_BYTES: u64 = 1 << 30;

/// Host tensors by name: shape and values.
type HostTensors = BTreeMap<String, (Vec<usize>, Vec<f32>)>;

/// Host tensors being assigned to a model, with what went wrong.
struct Store {
    tensors: HostTensors,
    used: Vec<String>,
    missing: Vec<String>,
    misshaped: Vec<String>,
}

impl Store {
    fn take<const D: usize>(
        &mut self,
        name: &str,
        shape: [usize; D],
        dev: &Device,
    ) -> Option<Tensor<D>> {
        match self.tensors.get(name) {
            None => {
                self.missing.push(format!("{name} {shape:?}"));
                None
            }
            Some((s, _)) if s.as_slice() != shape.as_slice() => {
                self.misshaped
                    .push(format!("{name}: file {s:?}, model {shape:?}"));
                None
            }
            Some((_, v)) => {
                self.used.push(name.to_string());
                Some(Tensor::from_data(TensorData::new(v.clone(), shape), dev))
            }
        }
    }

    fn param<const D: usize>(&mut self, p: &mut Param<Tensor<D>>, name: &str, dev: &Device) {
        let shape: [usize; D] = p.val().dims();
        if let Some(t) = self.take(name, shape, dev) {
            *p = Param::from_tensor(t);
        }
    }

    fn conv(&mut self, c: &mut Conv2d, prefix: &str, dev: &Device) {
        self.param(&mut c.weight, &format!("{prefix}.weight"), dev);
        if let Some(b) = c.bias.as_mut() {
            self.param(b, &format!("{prefix}.bias"), dev);
        }
    }

    fn conv_t(&mut self, c: &mut ConvTranspose2d, prefix: &str, dev: &Device) {
        self.param(&mut c.weight, &format!("{prefix}.weight"), dev);
        if let Some(b) = c.bias.as_mut() {
            self.param(b, &format!("{prefix}.bias"), dev);
        }
    }

    fn bn(&mut self, b: &mut BatchNorm, prefix: &str, dev: &Device) {
        self.param(&mut b.gamma, &format!("{prefix}.weight"), dev);
        self.param(&mut b.beta, &format!("{prefix}.bias"), dev);
        let n = b.gamma.val().dims();
        if let Some(t) = self.take(&format!("{prefix}.running_mean"), n, dev) {
            b.running_mean = RunningState::new(t);
        }
        if let Some(t) = self.take(&format!("{prefix}.running_var"), n, dev) {
            b.running_var = RunningState::new(t);
        }
    }

    fn block(&mut self, blk: &mut ConvBlock, prefix: &str, dev: &Device) {
        let (c1, b1, c2, b2) = blk.layers_mut();
        self.conv(c1, &format!("{prefix}.0.conv"), dev);
        self.bn(b1, &format!("{prefix}.0.bn"), dev);
        self.conv(c2, &format!("{prefix}.1.conv"), dev);
        self.bn(b2, &format!("{prefix}.1.bn"), dev);
    }
}

fn read(path: &Path) -> Result<HostTensors> {
    let err = |reason: String| NnError::Checkpoint {
        path: path.display().to_string(),
        reason,
    };
    let len = std::fs::metadata(path)
        .map_err(|e| err(e.to_string()))?
        .len();
    if len > MAX_BYTES {
        return Err(err(format!("{len} bytes is larger than Mira reads")));
    }
    let bytes = std::fs::read(path).map_err(|e| err(e.to_string()))?;
    let st = SafeTensors::deserialize(&bytes)
        .map_err(|e| err(format!("not a safetensors file: {e}")))?;
    let mut out = BTreeMap::new();
    for (name, view) in st.tensors() {
        let data = view.data();
        let values: Vec<f32> = match view.dtype() {
            Dtype::F32 => data
                .chunks_exact(4)
                .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                .collect(),
            Dtype::F64 => data
                .chunks_exact(8)
                .map(|c| {
                    f64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]) as f32
                })
                .collect(),
            Dtype::I64 if name.ends_with("num_batches_tracked") => continue,
            other => {
                return Err(err(format!(
                    "tensor {name}: dtype {other:?}; export float32"
                )));
            }
        };
        if values.iter().any(|v| !v.is_finite()) {
            return Err(err(format!("tensor {name} has NaN or infinite values")));
        }
        out.insert(name, (view.shape().to_vec(), values));
    }
    Ok(out)
}

/// Builds the UNet of `cfg` (plain, depth 3: the reference `UNet2d`) on `device` with the
/// weights of a PyTorch safetensors file.
///
/// # Errors
/// A configuration other than plain depth 3, an unreadable file, non-float tensors, or a
/// name/shape mismatch (all missing, unexpected and mis-shaped tensors are listed).
pub fn load_torch_unet(path: &Path, cfg: &UNetConfig, device: &Device) -> Result<UNet> {
    if cfg.depth != 3 || cfg.residual {
        return Err(NnError::InvalidConfig {
            field: "unet",
            reason: "PyTorch import maps the reference UNet2d: plain blocks, depth 3".into(),
        });
    }
    let mut store = Store {
        tensors: read(path)?,
        used: Vec::new(),
        missing: Vec::new(),
        misshaped: Vec::new(),
    };
    let mut net = cfg.init(device)?;
    {
        let (encoders, ups, decoders, head) = net.layers_mut();
        for (blk, name) in encoders.iter_mut().zip(["enc1", "enc2", "enc3", "bottom"]) {
            store.block(blk, name, device);
        }
        for (up, name) in ups.iter_mut().zip(["up3", "up2", "up1"]) {
            store.conv_t(up, name, device);
        }
        for (blk, name) in decoders.iter_mut().zip(["dec3", "dec2", "dec1"]) {
            store.block(blk, name, device);
        }
        store.conv(head, "head", device);
    }
    let unexpected: Vec<String> = store
        .tensors
        .keys()
        .filter(|k| !store.used.contains(k))
        .cloned()
        .collect();
    if store.missing.is_empty() && store.misshaped.is_empty() && unexpected.is_empty() {
        return Ok(net);
    }
    let list = |v: &[String]| {
        if v.is_empty() {
            "none".into()
        } else {
            v.join(", ")
        }
    };
    Err(NnError::Checkpoint {
        path: path.display().to_string(),
        reason: format!(
            "the weights do not fit UNet(width {}, {} -> {} channels): missing [{}]; unexpected [{}]; mis-shaped [{}]",
            cfg.base_width,
            cfg.in_channels,
            cfg.classes,
            list(&store.missing),
            list(&unexpected),
            list(&store.misshaped)
        ),
    })
}
