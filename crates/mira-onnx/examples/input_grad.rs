//! Writes an ONNX model's input gradient of `sum(output · w)` (both read from little-endian
//! float32 files) to a file, and the output itself to `OUT.f32.y`, for checking against
//! another framework or finite differences.
//!
//!     cargo run --release -p mira-onnx --example input_grad -- MODEL.onnx IN.f32 1,1,64,64,64 W.f32 OUT.f32

use mira_onnx::{FTensor, OnnxModel, OnnxNet};

fn f32s(path: &str) -> Result<Vec<f32>, Box<dyn std::error::Error>> {
    Ok(std::fs::read(path)?
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect())
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let [_, model, input, shape, w, out] = args.as_slice() else {
        return Err("usage: input_grad MODEL.onnx IN.f32 SHAPE W.f32 OUT.f32".into());
    };
    let shape: Vec<usize> = shape.split(',').map(str::parse).collect::<Result<_, _>>()?;
    let net = OnnxNet::new(
        OnnxModel::from_file(std::path::Path::new(model))?,
        &mira_nn::default_device(),
    )?;
    let ad = mira_nn::autodiff_device();
    let x = FTensor::from_host(&f32s(input)?, &shape, &ad)?;
    let x = mira_onnx::map_rank!(x, t => t.require_grad());
    let y = net.run(x.clone())?;
    let ys: Vec<u8> = y.to_vec().iter().flat_map(|v| v.to_le_bytes()).collect();
    std::fs::write(format!("{out}.y"), ys)?;
    let w = FTensor::from_host(&f32s(w)?, &y.dims(), &ad)?.reshape(&[y.dims().iter().product()])?;
    let loss = (y.reshape(&[w.dims()[0]])?.into_rank::<1>()? * w.into_rank::<1>()?).sum();
    let grads = loss.backward();
    let g: Vec<f32> = match x {
        FTensor::R2(x) => mira_nn::tensor_to_vec(x.grad(&grads).ok_or("no gradient")?),
        FTensor::R3(x) => mira_nn::tensor_to_vec(x.grad(&grads).ok_or("no gradient")?),
        FTensor::R4(x) => mira_nn::tensor_to_vec(x.grad(&grads).ok_or("no gradient")?),
        FTensor::R5(x) => mira_nn::tensor_to_vec(x.grad(&grads).ok_or("no gradient")?),
        _ => return Err("input rank 2 to 5".into()),
    };
    let bytes: Vec<u8> = g.iter().flat_map(|v| v.to_le_bytes()).collect();
    std::fs::write(out, bytes)?;
    Ok(())
}
