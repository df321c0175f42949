//! Values flowing through a graph: float tensors of any rank 1–8 on a burn device (tracked by
//! autodiff where the input is), and integer tensors on the host (shapes, indices, axes),
//! which the interpreter computes directly: shape arithmetic never reaches the device.

use burn::prelude::*;

use crate::error::{OnnxError, Result};
use crate::model::{HostData, HostTensor};

/// A float tensor of rank 1 to 8.
#[derive(Debug, Clone)]
pub enum FTensor {
    /// Rank 1.
    R1(Tensor<1>),
    /// Rank 2.
    R2(Tensor<2>),
    /// Rank 3.
    R3(Tensor<3>),
    /// Rank 4.
    R4(Tensor<4>),
    /// Rank 5.
    R5(Tensor<5>),
    /// Rank 6.
    R6(Tensor<6>),
    /// Rank 7 (window partitions of 3D transformers).
    R7(Tensor<7>),
    /// Rank 8.
    R8(Tensor<8>),
}

/// Applies `$e` (an expression of `$t`, a `Tensor<D>` of any rank) and keeps the rank.
#[macro_export]
#[doc(hidden)]
macro_rules! map_rank {
    ($v:expr, $t:ident => $e:expr) => {
        match $v {
            $crate::FTensor::R1($t) => $crate::FTensor::R1($e),
            $crate::FTensor::R2($t) => $crate::FTensor::R2($e),
            $crate::FTensor::R3($t) => $crate::FTensor::R3($e),
            $crate::FTensor::R4($t) => $crate::FTensor::R4($e),
            $crate::FTensor::R5($t) => $crate::FTensor::R5($e),
            $crate::FTensor::R6($t) => $crate::FTensor::R6($e),
            $crate::FTensor::R7($t) => $crate::FTensor::R7($e),
            $crate::FTensor::R8($t) => $crate::FTensor::R8($e),
        }
    };
}

/// Evaluates `$e` (an expression of `$t`, a `Tensor<D>` of any rank) to a value of one type.
macro_rules! with_rank {
    ($v:expr, $t:ident => $e:expr) => {
        match $v {
            FTensor::R1($t) => $e,
            FTensor::R2($t) => $e,
            FTensor::R3($t) => $e,
            FTensor::R4($t) => $e,
            FTensor::R5($t) => $e,
            FTensor::R6($t) => $e,
            FTensor::R7($t) => $e,
            FTensor::R8($t) => $e,
        }
    };
}
pub(crate) use with_rank;

fn arr<const N: usize>(dims: &[usize]) -> [usize; N] {
    let mut a = [1usize; N];
    a.copy_from_slice(&dims[..N]);
    a
}

/// `t` reshaped to `dims` (any rank 1–8; the element count must match, checked by the caller).
fn reshape_from<const R: usize>(t: Tensor<R>, dims: &[usize]) -> Result<FTensor> {
    Ok(match dims.len() {
        1 => FTensor::R1(t.reshape(arr::<1>(dims))),
        2 => FTensor::R2(t.reshape(arr::<2>(dims))),
        3 => FTensor::R3(t.reshape(arr::<3>(dims))),
        4 => FTensor::R4(t.reshape(arr::<4>(dims))),
        5 => FTensor::R5(t.reshape(arr::<5>(dims))),
        6 => FTensor::R6(t.reshape(arr::<6>(dims))),
        7 => FTensor::R7(t.reshape(arr::<7>(dims))),
        8 => FTensor::R8(t.reshape(arr::<8>(dims))),
        n => {
            return Err(OnnxError::Input(format!(
                "rank {n} is not supported (1 to 8)"
            )));
        }
    })
}

impl FTensor {
    /// Its shape.
    pub fn dims(&self) -> Vec<usize> {
        with_rank!(self, t => t.dims().to_vec())
    }

    /// Its rank.
    pub fn rank(&self) -> usize {
        with_rank!(self, t => t.dims().len())
    }

    /// The same values in shape `dims` (rank 1–8; a scalar is kept as rank 1).
    ///
    /// # Errors
    /// A different number of elements, or a rank outside 1–8.
    pub fn reshape(self, dims: &[usize]) -> Result<FTensor> {
        let have: usize = self.dims().iter().product();
        let want: usize = dims.iter().product();
        if self.dims() == dims {
            return Ok(self);
        }
        if want == 0 {
            // A rank-1 empty tensor (an omitted Resize roi, say) exists as it was made; no
            // other empty shape does: burn has no empty tensors.
            return Err(OnnxError::Input(format!(
                "shape {dims:?} is empty (empty float tensors are not supported)"
            )));
        }
        if have != want {
            return Err(OnnxError::Input(format!(
                "cannot reshape {:?} ({have} values) to {dims:?}",
                self.dims()
            )));
        }
        let dims: &[usize] = if dims.is_empty() { &[1] } else { dims };
        with_rank!(self, t => reshape_from(t, dims))
    }

    /// Leading axes of size 1 up to rank `r` (numpy broadcasting's alignment).
    ///
    /// # Errors
    /// `r` above 8.
    pub fn lift(self, r: usize) -> Result<FTensor> {
        let d = self.dims();
        if d.len() >= r {
            return Ok(self);
        }
        let mut dims = vec![1; r - d.len()];
        dims.extend(d);
        self.reshape(&dims)
    }

    /// The values broadcast (numpy rules, leading axes added) to `dims`.
    ///
    /// # Errors
    /// Shapes that do not broadcast to `dims`, or a rank above 8.
    pub fn expand_to(self, dims: &[usize]) -> Result<FTensor> {
        let d = self.dims();
        let fits = d.len() <= dims.len()
            && d.iter()
                .rev()
                .zip(dims.iter().rev())
                .all(|(a, b)| a == b || *a == 1);
        if !fits || dims.contains(&0) {
            return Err(OnnxError::Input(format!(
                "shape {d:?} does not broadcast to {dims:?} (empty tensors are not supported)"
            )));
        }
        if d == dims {
            return Ok(self);
        }
        let t = self.lift(dims.len())?;
        Ok(with_rank!(t, x => {
            let n = x.dims().len();
            let mut shape = x.dims();
            shape.copy_from_slice(&dims[..n]);
            FTensor::of(x.expand(shape))?
        }))
    }

    /// Its values on the host, in C order.
    pub fn to_vec(&self) -> Vec<f32> {
        with_rank!(self, t => mira_nn::tensor_to_vec(t.clone()))
    }

    /// A host tensor on `device`.
    ///
    /// # Errors
    /// A rank outside 1–8 (a scalar becomes rank 1).
    pub fn from_host(values: &[f32], dims: &[usize], device: &Device) -> Result<FTensor> {
        let t = Tensor::<1>::from_floats(values, device);
        FTensor::R1(t).reshape(dims)
    }

    /// The tensor as rank `D`.
    ///
    /// # Errors
    /// Another rank.
    pub fn into_rank<const D: usize>(self) -> Result<Tensor<D>> {
        let r = self.rank();
        let dims = self.dims();
        with_rank!(self, t => {
            if r == D {
                Ok(t.reshape(arr::<D>(&dims)))
            } else {
                Err(OnnxError::Input(format!("expected rank {D}, the model gives rank {r}")))
            }
        })
    }

    /// A rank-`D` tensor as a value.
    pub fn of<const D: usize>(t: Tensor<D>) -> Result<FTensor> {
        let dims = t.dims();
        reshape_from(t, &dims)
    }
}

/// A value of the graph.
#[derive(Debug, Clone)]
#[allow(clippy::large_enum_variant)] // a graph holds few values; boxing would cost more
pub enum Value {
    /// Floats on the device.
    Float(FTensor),
    /// Integers (and booleans) on the host.
    Int(HostInts),
}

/// Integers on the host with their shape.
#[derive(Debug, Clone, PartialEq)]
pub struct HostInts {
    /// Shape (empty: a scalar).
    pub dims: Vec<usize>,
    /// Values in C order.
    pub data: Vec<i64>,
}

impl Value {
    /// A host initialiser or constant as a value: floats go to `device`.
    ///
    /// # Errors
    /// A rank above 6.
    pub fn from_host(t: &HostTensor, device: &Device) -> Result<Value> {
        Ok(match &t.data {
            HostData::F32(v) => Value::Float(FTensor::from_host(v, &t.dims, device)?),
            HostData::I64(v) => Value::Int(HostInts {
                dims: t.dims.clone(),
                data: v.clone(),
            }),
        })
    }

    /// Its shape.
    pub fn dims(&self) -> Vec<usize> {
        match self {
            Value::Float(t) => t.dims(),
            Value::Int(i) => i.dims.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::FTensor;

    #[test]
    fn an_empty_vector_exists_but_no_other_empty_shape() {
        let dev = mira_nn::default_device();
        assert_eq!(FTensor::from_host(&[], &[0], &dev).unwrap().dims(), vec![0]);
        assert!(FTensor::from_host(&[], &[2, 0], &dev).is_err());
        assert!(FTensor::from_host(&[1.0], &[1, 0], &dev).is_err());
    }
}
