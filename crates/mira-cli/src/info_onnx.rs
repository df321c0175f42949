//! `mira info MODEL.onnx`: the model's inputs and outputs, opset, producer, parameter count
//! and operators, each marked as run by Mira or not. Exit 0 when Mira runs every operator,
//! 2 (invalid input) naming those it does not.

use std::path::Path;

use anyhow::Result;

use crate::InvalidInput;

pub fn main(path: &Path) -> Result<()> {
    let model = mira_onnx::OnnxModel::from_file(path).map_err(|e| InvalidInput(e.to_string()))?;
    let info = mira_onnx::model_info(&model);
    println!("file         {}", path.display());
    println!(
        "format       ONNX (ir_version {}, opset {})",
        model.ir_version, info.opset
    );
    if !info.producer.is_empty() {
        println!("producer     {}", info.producer);
    }
    for i in &info.inputs {
        println!("input        {i}");
    }
    for o in &info.outputs {
        println!("output       {o}");
    }
    if let Some((op, axis)) = &info.output_activation {
        println!(
            "output kind  probabilities ({op} over axis {axis}): attacks use their logarithm as \
             logits (`output = \"logits\"` overrides)"
        );
    }
    println!("parameters   {}", info.parameters);
    println!(
        "operators    {} kinds, {} nodes",
        info.operators.len(),
        model.nodes.len()
    );
    for (op, n, ok) in &info.operators {
        let mark = if *ok { "supported" } else { "NOT SUPPORTED" };
        println!("  {op:<24} {n:>5}  {mark}");
    }
    let missing: Vec<&str> = info
        .operators
        .iter()
        .filter(|(_, _, ok)| !ok)
        .map(|(op, _, _)| op.as_str())
        .collect();
    if missing.is_empty() {
        println!("Mira runs every operator of this model.");
        Ok(())
    } else {
        Err(InvalidInput(format!(
            "{}: operators Mira does not run yet: {} (opset {})",
            path.display(),
            missing.join(", "),
            info.opset
        ))
        .into())
    }
}
