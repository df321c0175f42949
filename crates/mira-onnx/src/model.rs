//! The parts of an ONNX `ModelProto` an interpreter needs, read from the protobuf wire format
//! with [`crate::proto`]: the opset, the graph's nodes with their attributes, the initialisers
//! as host tensors, and the declared inputs and outputs.

use std::collections::HashMap;

use crate::error::{OnnxError, Result, malformed};
use crate::proto::{Field, MAX_DEPTH, Reader, Wire, push_doubles, push_floats, push_ints};

/// A tensor in host memory: floats, or integers (every integer and boolean type).
#[derive(Debug, Clone, PartialEq)]
pub struct HostTensor {
    /// Its shape (empty: a scalar).
    pub dims: Vec<usize>,
    /// Its values in C order.
    pub data: HostData,
}

/// The values of a [`HostTensor`].
#[derive(Debug, Clone, PartialEq)]
pub enum HostData {
    /// `float`, `double` (as f32).
    F32(Vec<f32>),
    /// Every integer type and `bool`.
    I64(Vec<i64>),
}

impl HostTensor {
    /// Number of elements its shape holds.
    pub fn numel(&self) -> usize {
        self.dims.iter().product()
    }
}

/// A node attribute.
#[derive(Debug, Clone, PartialEq)]
pub enum Attr {
    /// `f`.
    Float(f32),
    /// `i`.
    Int(i64),
    /// `s`.
    String(String),
    /// `t`.
    Tensor(HostTensor),
    /// `floats`.
    Floats(Vec<f32>),
    /// `ints`.
    Ints(Vec<i64>),
    /// Any other kind (subgraphs, strings lists, sparse tensors): kept by name so an operator
    /// that needs it can refuse clearly.
    Other,
}

/// One node of the graph.
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    /// Its name (may be empty in the file; then its first output's).
    pub name: String,
    /// The operator.
    pub op_type: String,
    /// The operator's domain (`""` or `ai.onnx` for the default one).
    pub domain: String,
    /// Input value names (`""`: an omitted optional input).
    pub inputs: Vec<String>,
    /// Output value names.
    pub outputs: Vec<String>,
    /// Attributes by name.
    pub attrs: HashMap<String, Attr>,
}

/// A declared graph input or output: its name, element type and shape (`None` for a
/// symbolic dimension such as the batch).
#[derive(Debug, Clone, PartialEq)]
pub struct ValueInfo {
    /// The value's name.
    pub name: String,
    /// ONNX element type code (1 = float).
    pub elem_type: i64,
    /// Dimensions; `None` where symbolic or unknown; empty when no shape is declared.
    pub shape: Vec<Option<usize>>,
}

/// An ONNX model as Mira runs it.
#[derive(Debug, Clone, PartialEq)]
pub struct OnnxModel {
    /// `ir_version`.
    pub ir_version: i64,
    /// The default-domain opset imported.
    pub opset: i64,
    /// `producer_name` and `producer_version`.
    pub producer: String,
    /// Nodes in the file's (topological) order.
    pub nodes: Vec<Node>,
    /// Initialisers by name: the weights, constants of the graph.
    pub initializers: HashMap<String, HostTensor>,
    /// Graph inputs that are not initialisers.
    pub inputs: Vec<ValueInfo>,
    /// Graph outputs.
    pub outputs: Vec<ValueInfo>,
}

impl OnnxModel {
    /// Reads a model from the bytes of an `.onnx` file.
    ///
    /// # Errors
    /// Malformed protobuf, a missing graph, tensors whose data do not match their shape, or
    /// external data (not supported).
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        let mut m = OnnxModel {
            ir_version: 0,
            opset: 0,
            producer: String::new(),
            nodes: Vec::new(),
            initializers: HashMap::new(),
            inputs: Vec::new(),
            outputs: Vec::new(),
        };
        let (mut name, mut version, mut graph) = (String::new(), String::new(), None);
        let mut r = Reader::new(bytes);
        while let Some(Field { number, value }) = r.next_field()? {
            match number {
                1 => m.ir_version = value.int("ir_version")?,
                2 => name = value.string("producer_name")?,
                3 => version = value.string("producer_version")?,
                7 => graph = Some(value.bytes("graph")?),
                8 => {
                    let (domain, v) = opset_id(value.bytes("opset_import")?)?;
                    if domain.is_empty() || domain == "ai.onnx" {
                        m.opset = v;
                    }
                }
                _ => {}
            }
        }
        m.producer = format!("{name} {version}").trim().to_string();
        let graph = graph.ok_or_else(|| malformed("no graph"))?;
        read_graph(graph, &mut m, 1)?;
        let known: Vec<ValueInfo> = std::mem::take(&mut m.inputs);
        m.inputs = known
            .into_iter()
            .filter(|v| !m.initializers.contains_key(&v.name))
            .collect();
        if m.outputs.is_empty() {
            return Err(malformed("the graph has no outputs"));
        }
        Ok(m)
    }

    /// Reads a model from a file.
    ///
    /// # Errors
    /// The file cannot be read, or [`OnnxModel::from_bytes`] refuses it.
    pub fn from_file(path: &std::path::Path) -> Result<Self> {
        let bytes = std::fs::read(path).map_err(|e| OnnxError::Io {
            path: path.display().to_string(),
            reason: e.to_string(),
        })?;
        Self::from_bytes(&bytes)
    }

    /// The operator that makes the first output, looking through Identity and Dropout: `Some`
    /// with `"Softmax"` (or `"Sigmoid"`) and its axis when the model outputs probabilities,
    /// which an attack must see as logits (their log) to avoid vanishing gradients.
    pub fn output_activation(&self) -> Option<(String, i64)> {
        let mut name = self.outputs.first()?.name.clone();
        for _ in 0..self.nodes.len() {
            let n = self
                .nodes
                .iter()
                .rev()
                .find(|n| n.outputs.contains(&name))?;
            match n.op_type.as_str() {
                "Identity" | "Dropout" => name = n.inputs.first()?.clone(),
                "Softmax" | "Sigmoid" => {
                    let axis = match n.attrs.get("axis") {
                        Some(Attr::Int(a)) => *a,
                        _ if self.opset >= 13 => -1,
                        _ => 1,
                    };
                    return Some((n.op_type.clone(), axis));
                }
                _ => return None,
            }
        }
        None
    }

    /// Number of values in the float initialisers (the parameter count as frameworks report it,
    /// BatchNorm statistics included).
    pub fn parameter_count(&self) -> usize {
        self.initializers
            .values()
            .filter(|t| matches!(t.data, HostData::F32(_)))
            .map(HostTensor::numel)
            .sum()
    }
}

fn opset_id(b: &[u8]) -> Result<(String, i64)> {
    let (mut domain, mut version) = (String::new(), 0);
    let mut r = Reader::new(b);
    while let Some(f) = r.next_field()? {
        match f.number {
            1 => domain = f.value.string("opset domain")?,
            2 => version = f.value.int("opset version")?,
            _ => {}
        }
    }
    Ok((domain, version))
}

fn read_graph(b: &[u8], m: &mut OnnxModel, depth: usize) -> Result<()> {
    if depth > MAX_DEPTH {
        return Err(malformed("graphs nested too deep"));
    }
    let mut r = Reader::new(b);
    while let Some(Field { number, value }) = r.next_field()? {
        match number {
            1 => m.nodes.push(read_node(value.bytes("node")?, depth + 1)?),
            5 => {
                let (name, t) = read_tensor(value.bytes("initializer")?)?;
                m.initializers.insert(name, t);
            }
            11 => m.inputs.push(read_value_info(value.bytes("input")?)?),
            12 => m.outputs.push(read_value_info(value.bytes("output")?)?),
            15 => return Err(malformed("sparse initialisers are not supported")),
            _ => {}
        }
    }
    Ok(())
}

fn read_node(b: &[u8], depth: usize) -> Result<Node> {
    let mut n = Node {
        name: String::new(),
        op_type: String::new(),
        domain: String::new(),
        inputs: Vec::new(),
        outputs: Vec::new(),
        attrs: HashMap::new(),
    };
    let mut r = Reader::new(b);
    while let Some(Field { number, value }) = r.next_field()? {
        match number {
            1 => n.inputs.push(value.string("node input")?),
            2 => n.outputs.push(value.string("node output")?),
            3 => n.name = value.string("node name")?,
            4 => n.op_type = value.string("op_type")?,
            5 => {
                let (name, a) = read_attr(value.bytes("attribute")?, depth + 1)?;
                n.attrs.insert(name, a);
            }
            7 => n.domain = value.string("node domain")?,
            _ => {}
        }
    }
    if n.op_type.is_empty() {
        return Err(malformed("a node without op_type"));
    }
    if n.name.is_empty() {
        n.name = n.outputs.first().cloned().unwrap_or_default();
    }
    Ok(n)
}

fn read_attr(b: &[u8], depth: usize) -> Result<(String, Attr)> {
    if depth > MAX_DEPTH {
        return Err(malformed("attributes nested too deep"));
    }
    let (mut name, mut kind) = (String::new(), 0);
    let (mut f, mut i, mut s, mut t) = (None, None, None, None);
    let (mut floats, mut ints, mut other) = (Vec::new(), Vec::new(), false);
    let mut r = Reader::new(b);
    while let Some(Field { number, value }) = r.next_field()? {
        match number {
            1 => name = value.string("attribute name")?,
            20 => kind = value.int("attribute type")?,
            2 => f = Some(value.float("attribute f")?),
            3 => i = Some(value.int("attribute i")?),
            4 => s = Some(String::from_utf8_lossy(value.bytes("attribute s")?).into_owned()),
            5 => t = Some(read_tensor(value.bytes("attribute t")?)?.1),
            7 => push_floats(&mut floats, value, "attribute floats")?,
            8 => push_ints(&mut ints, value, "attribute ints")?,
            6 | 9..=11 | 22 | 23 => other = true,
            _ => {}
        }
    }
    // AttributeType: FLOAT 1, INT 2, STRING 3, TENSOR 4, FLOATS 6, INTS 7.
    let a = match (kind, f, i, s, t) {
        (1, Some(v), ..) => Attr::Float(v),
        (1, None, ..) => Attr::Float(0.0),
        (2, _, Some(v), ..) => Attr::Int(v),
        (2, _, None, ..) => Attr::Int(0),
        (3, _, _, Some(v), _) => Attr::String(v),
        (3, ..) => Attr::String(String::new()),
        (4, .., Some(v)) => Attr::Tensor(v),
        (6, ..) => Attr::Floats(floats),
        (7, ..) => Attr::Ints(ints),
        (0, Some(v), ..) if !other => Attr::Float(v),
        (0, _, Some(v), ..) if !other => Attr::Int(v),
        _ => Attr::Other,
    };
    Ok((name, a))
}

/// Element size in `raw_data` and whether the type is read as floats.
fn elem(data_type: i64) -> Result<(usize, bool)> {
    Ok(match data_type {
        1 => (4, true),
        11 => (8, true),
        2 | 3 | 9 => (1, false),
        4 | 5 => (2, false),
        6 | 12 => (4, false),
        7 | 13 => (8, false),
        10 | 16 => return Err(malformed("16-bit float tensors are not supported")),
        8 => return Err(malformed("string tensors are not supported")),
        t => {
            return Err(malformed(format!(
                "tensor element type {t} is not supported"
            )));
        }
    })
}

fn read_tensor(b: &[u8]) -> Result<(String, HostTensor)> {
    let (mut dims, mut dtype, mut name) = (Vec::new(), 0, String::new());
    let (mut raw, mut floats, mut ints) = (None, Vec::new(), Vec::new());
    let mut r = Reader::new(b);
    while let Some(Field { number, value }) = r.next_field()? {
        match number {
            1 => push_ints(&mut dims, value, "tensor dims")?,
            2 => dtype = value.int("tensor data_type")?,
            4 => push_floats(&mut floats, value, "float_data")?,
            5 | 7 | 11 => push_ints(&mut ints, value, "integer data")?,
            8 => name = value.string("tensor name")?,
            9 => raw = Some(value.bytes("raw_data")?),
            10 => push_doubles(&mut floats, value, "double_data")?,
            13 | 14 if number == 13 || matches!(value, Wire::Varint(1)) => {
                return Err(malformed(format!(
                    "tensor `{name}` keeps its data in an external file (not supported: \
                     export with the weights inside the .onnx file)"
                )));
            }
            _ => {}
        }
    }
    let dims = dims
        .into_iter()
        .map(|d| {
            usize::try_from(d).map_err(|_| malformed(format!("tensor `{name}`: negative dim")))
        })
        .collect::<Result<Vec<_>>>()?;
    let n = dims
        .iter()
        .try_fold(1usize, |a, &d| a.checked_mul(d))
        .ok_or_else(|| malformed(format!("tensor `{name}`: size overflows")))?;
    let (size, is_float) = elem(dtype)?;
    let data = match raw {
        Some(raw) => {
            if Some(raw.len()) != n.checked_mul(size) {
                return Err(malformed(format!(
                    "tensor `{name}`: {} bytes of data for {n} values",
                    raw.len()
                )));
            }
            decode_raw(raw, dtype, is_float)
        }
        None if is_float => HostData::F32(floats),
        None => HostData::I64(ints),
    };
    let len = match &data {
        HostData::F32(v) => v.len(),
        HostData::I64(v) => v.len(),
    };
    if len != n {
        return Err(malformed(format!(
            "tensor `{name}`: {len} values for shape {dims:?}"
        )));
    }
    Ok((name, HostTensor { dims, data }))
}

fn decode_raw(raw: &[u8], dtype: i64, is_float: bool) -> HostData {
    let le8 = |c: &[u8]| {
        let mut a = [0u8; 8];
        a.copy_from_slice(c);
        a
    };
    match (dtype, is_float) {
        (1, _) => HostData::F32(
            raw.chunks_exact(4)
                .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                .collect(),
        ),
        (11, _) => HostData::F32(
            raw.chunks_exact(8)
                .map(|c| f64::from_le_bytes(le8(c)) as f32)
                .collect(),
        ),
        (2 | 9, _) => HostData::I64(raw.iter().map(|&b| i64::from(b)).collect()),
        (3, _) => HostData::I64(raw.iter().map(|&b| i64::from(b as i8)).collect()),
        (4, _) => HostData::I64(
            raw.chunks_exact(2)
                .map(|c| i64::from(u16::from_le_bytes([c[0], c[1]])))
                .collect(),
        ),
        (5, _) => HostData::I64(
            raw.chunks_exact(2)
                .map(|c| i64::from(i16::from_le_bytes([c[0], c[1]])))
                .collect(),
        ),
        (6, _) => HostData::I64(
            raw.chunks_exact(4)
                .map(|c| i64::from(i32::from_le_bytes([c[0], c[1], c[2], c[3]])))
                .collect(),
        ),
        (12, _) => HostData::I64(
            raw.chunks_exact(4)
                .map(|c| i64::from(u32::from_le_bytes([c[0], c[1], c[2], c[3]])))
                .collect(),
        ),
        _ => HostData::I64(
            raw.chunks_exact(8)
                .map(|c| i64::from_le_bytes(le8(c)))
                .collect(),
        ),
    }
}

fn read_value_info(b: &[u8]) -> Result<ValueInfo> {
    let mut v = ValueInfo {
        name: String::new(),
        elem_type: 0,
        shape: Vec::new(),
    };
    let mut r = Reader::new(b);
    while let Some(f) = r.next_field()? {
        match f.number {
            1 => v.name = f.value.string("value name")?,
            2 => read_type(f.value.bytes("value type")?, &mut v)?,
            _ => {}
        }
    }
    Ok(v)
}

fn read_type(b: &[u8], v: &mut ValueInfo) -> Result<()> {
    let mut r = Reader::new(b);
    while let Some(f) = r.next_field()? {
        if f.number != 1 {
            continue;
        }
        let mut t = Reader::new(f.value.bytes("tensor type")?);
        while let Some(g) = t.next_field()? {
            match g.number {
                1 => v.elem_type = g.value.int("elem_type")?,
                2 => {
                    let mut s = Reader::new(g.value.bytes("shape")?);
                    while let Some(d) = s.next_field()? {
                        if d.number == 1 {
                            v.shape.push(read_dim(d.value.bytes("dim")?)?);
                        }
                    }
                }
                _ => {}
            }
        }
    }
    Ok(())
}

fn read_dim(b: &[u8]) -> Result<Option<usize>> {
    let mut r = Reader::new(b);
    let mut out = None;
    while let Some(f) = r.next_field()? {
        if f.number == 1 {
            out = usize::try_from(f.value.int("dim_value")?)
                .ok()
                .filter(|&d| d > 0);
        }
    }
    Ok(out)
}
