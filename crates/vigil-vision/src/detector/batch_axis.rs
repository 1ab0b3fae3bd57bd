//! A dynamic batch axis for models exported with a fixed batch of 1, made in memory from the verified bytes.
//!
//! The bundled detectors were exported for one image per run (`[1, 3, S, S]` in, `[1, ...]` out), with the 1
//! also baked into their `Reshape` shapes (`[1, 85, -1]`) and, in NanoDet, into `Resize` output sizes
//! (`[1, 96, 26, 26]`). Batching regions from many cameras into one ONNX Runtime call needs that axis free, so
//! instead of re-exporting the models (and shipping or caching files that no pinned hash vouches for) the
//! graph is rewritten here, on the bytes whose sha256 the model store just checked:
//!
//! - the image input and every output get a symbolic first dimension (`batch`);
//! - a constant `Reshape` shape starting with 1 starts with 0 instead (ONNX: "copy this dimension from the
//!   input", which is the batch);
//! - a `Resize` given constant output `sizes` gets the equivalent constant `scales` (sizes divided by the
//!   input's recorded shape; exact for the 2x upsampling of these necks);
//! - the recorded intermediate shapes (`value_info`) are dropped, ONNX Runtime infers them again.
//!
//! Anything else that could tie the batch axis (an operator outside a short list known to work per image, an
//! axis-0 concat/split/slice/softmax/transpose, a shape constant used by something other than a `Reshape`)
//! makes the rewrite refuse, and the detector stays at batch 1. The detector also checks the rewritten
//! model numerically when it loads (a batch of two equals two single runs) before using it.
//!
//! Only the protobuf wire format is parsed, and only the messages on the way to the fields changed; every
//! other byte (weights, attributes, metadata) is copied as it is.

use std::borrow::Cow;
use std::collections::{HashMap, HashSet};

/// ONNX `TensorProto.DataType` values used here.
const FLOAT: u64 = 1;
const INT64: u64 = 7;

/// Operators that compute each image of a batch independently of the others (with the axis checks below).
const PER_IMAGE_OPS: &[&str] = &[
    "Conv",
    "ConvTranspose",
    "Sigmoid",
    "Relu",
    "LeakyRelu",
    "HardSigmoid",
    "HardSwish",
    "Clip",
    "Mul",
    "Add",
    "Sub",
    "Div",
    "Exp",
    "Sqrt",
    "Pow",
    "MaxPool",
    "AveragePool",
    "GlobalAveragePool",
    "BatchNormalization",
    "Identity",
    "Constant",
    "Concat",
    "Split",
    "Slice",
    "Softmax",
    "Transpose",
    "Reshape",
    "Resize",
];

/// One protobuf field value.
#[derive(Debug, Clone, PartialEq)]
enum Value<'a> {
    Varint(u64),
    Fixed64(u64),
    Fixed32(u32),
    Bytes(Cow<'a, [u8]>),
}

/// One protobuf field: number and value (repeated fields appear once per element, in order).
#[derive(Debug, Clone, PartialEq)]
struct Field<'a> {
    number: u32,
    value: Value<'a>,
}

impl<'a> Field<'a> {
    fn bytes(number: u32, b: impl Into<Cow<'a, [u8]>>) -> Self {
        Field {
            number,
            value: Value::Bytes(b.into()),
        }
    }

    fn varint(number: u32, v: u64) -> Self {
        Field {
            number,
            value: Value::Varint(v),
        }
    }

    fn as_bytes(&self) -> Option<&[u8]> {
        match &self.value {
            Value::Bytes(b) => Some(b),
            _ => None,
        }
    }

    fn as_str(&self) -> Option<&str> {
        self.as_bytes().and_then(|b| std::str::from_utf8(b).ok())
    }
}

fn read_varint(buf: &[u8], pos: &mut usize) -> Result<u64, String> {
    let mut v: u64 = 0;
    for shift in (0..64).step_by(7) {
        let b = *buf.get(*pos).ok_or("truncated varint")?;
        *pos += 1;
        v |= u64::from(b & 0x7f) << shift;
        if b & 0x80 == 0 {
            return Ok(v);
        }
    }
    Err("varint longer than 10 bytes".into())
}

fn write_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// The fields of one message, borrowing length-delimited values from `buf`.
fn parse(buf: &[u8]) -> Result<Vec<Field<'_>>, String> {
    let mut fields = Vec::new();
    let mut pos = 0;
    while pos < buf.len() {
        let key = read_varint(buf, &mut pos)?;
        let number = u32::try_from(key >> 3).map_err(|_| "field number out of range")?;
        let take = |pos: &mut usize, n: usize| -> Result<&[u8], String> {
            let end = pos.checked_add(n).filter(|&e| e <= buf.len());
            let end = end.ok_or("field runs past the end of its message")?;
            let s = &buf[*pos..end];
            *pos = end;
            Ok(s)
        };
        let value = match key & 7 {
            0 => Value::Varint(read_varint(buf, &mut pos)?),
            1 => Value::Fixed64(u64::from_le_bytes(
                take(&mut pos, 8)?.try_into().map_err(|_| "fixed64")?,
            )),
            2 => {
                let n = usize::try_from(read_varint(buf, &mut pos)?)
                    .map_err(|_| "length out of range")?;
                Value::Bytes(Cow::Borrowed(take(&mut pos, n)?))
            }
            5 => Value::Fixed32(u32::from_le_bytes(
                take(&mut pos, 4)?.try_into().map_err(|_| "fixed32")?,
            )),
            w => return Err(format!("unsupported wire type {w}")),
        };
        fields.push(Field { number, value });
    }
    Ok(fields)
}

fn encode(fields: &[Field<'_>]) -> Vec<u8> {
    let mut out = Vec::new();
    for f in fields {
        let wire = match f.value {
            Value::Varint(_) => 0,
            Value::Fixed64(_) => 1,
            Value::Bytes(_) => 2,
            Value::Fixed32(_) => 5,
        };
        write_varint(&mut out, (u64::from(f.number) << 3) | wire);
        match &f.value {
            Value::Varint(v) => write_varint(&mut out, *v),
            Value::Fixed64(v) => out.extend_from_slice(&v.to_le_bytes()),
            Value::Fixed32(v) => out.extend_from_slice(&v.to_le_bytes()),
            Value::Bytes(b) => {
                write_varint(&mut out, b.len() as u64);
                out.extend_from_slice(b);
            }
        }
    }
    out
}

/// The first value of field `number`.
fn first<'f, 'a>(fields: &'f [Field<'a>], number: u32) -> Option<&'f Field<'a>> {
    fields.iter().find(|f| f.number == number)
}

/// Field numbers of the ONNX messages touched (onnx.proto3).
mod onnx {
    pub const MODEL_GRAPH: u32 = 7;
    pub const GRAPH_NODE: u32 = 1;
    pub const GRAPH_INITIALIZER: u32 = 5;
    pub const GRAPH_INPUT: u32 = 11;
    pub const GRAPH_OUTPUT: u32 = 12;
    pub const GRAPH_VALUE_INFO: u32 = 13;
    pub const NODE_INPUT: u32 = 1;
    pub const NODE_OUTPUT: u32 = 2;
    pub const NODE_OP_TYPE: u32 = 4;
    pub const NODE_ATTRIBUTE: u32 = 5;
    pub const ATTR_NAME: u32 = 1;
    pub const ATTR_I: u32 = 3;
    pub const ATTR_T: u32 = 5;
    pub const ATTR_INTS: u32 = 8;
    pub const TENSOR_DIMS: u32 = 1;
    pub const TENSOR_DATA_TYPE: u32 = 2;
    pub const TENSOR_INT64_DATA: u32 = 7;
    pub const TENSOR_NAME: u32 = 8;
    pub const TENSOR_RAW_DATA: u32 = 9;
    pub const VALUE_INFO_NAME: u32 = 1;
    pub const VALUE_INFO_TYPE: u32 = 2;
    pub const TYPE_TENSOR: u32 = 1;
    pub const TENSOR_TYPE_SHAPE: u32 = 2;
    pub const SHAPE_DIM: u32 = 1;
    pub const DIM_VALUE: u32 = 1;
    pub const DIM_PARAM: u32 = 2;
}

/// A node as the rewrite needs it.
struct Node {
    op: String,
    inputs: Vec<String>,
    outputs: Vec<String>,
    /// Integer attributes (`axis`) and integer-list attributes (`perm`, `axes`), by name.
    ints: HashMap<String, Vec<i64>>,
}

fn node_info(fields: &[Field<'_>]) -> Result<Node, String> {
    let strings = |n: u32| -> Vec<String> {
        fields
            .iter()
            .filter(|f| f.number == n)
            .filter_map(|f| f.as_str().map(str::to_string))
            .collect()
    };
    let op = first(fields, onnx::NODE_OP_TYPE)
        .and_then(Field::as_str)
        .unwrap_or_default()
        .to_string();
    let mut ints = HashMap::new();
    for a in fields.iter().filter(|f| f.number == onnx::NODE_ATTRIBUTE) {
        let attr = parse(a.as_bytes().unwrap_or_default())?;
        let Some(name) = first(&attr, onnx::ATTR_NAME).and_then(Field::as_str) else {
            continue;
        };
        let mut values = Vec::new();
        for f in &attr {
            match (f.number, &f.value) {
                (onnx::ATTR_I | onnx::ATTR_INTS, Value::Varint(v)) => values.push(*v as i64),
                (onnx::ATTR_INTS, Value::Bytes(b)) => {
                    let mut p = 0;
                    while p < b.len() {
                        values.push(read_varint(b, &mut p)? as i64);
                    }
                }
                _ => {}
            }
        }
        if !values.is_empty() {
            ints.insert(name.to_string(), values);
        }
    }
    Ok(Node {
        op,
        inputs: strings(onnx::NODE_INPUT),
        outputs: strings(onnx::NODE_OUTPUT),
        ints,
    })
}

/// Data type and int64 values of a tensor (`None` for the values when it is not int64).
fn tensor_int64(fields: &[Field<'_>]) -> Result<(u64, Option<Vec<i64>>), String> {
    let dtype = match first(fields, onnx::TENSOR_DATA_TYPE).map(|f| &f.value) {
        Some(Value::Varint(t)) => *t,
        _ => 0,
    };
    if dtype != INT64 {
        return Ok((dtype, None));
    }
    let mut values = Vec::new();
    for f in fields {
        match (f.number, &f.value) {
            (onnx::TENSOR_INT64_DATA, Value::Varint(v)) => values.push(*v as i64),
            (onnx::TENSOR_INT64_DATA, Value::Bytes(b)) => {
                let mut p = 0;
                while p < b.len() {
                    values.push(read_varint(b, &mut p)? as i64);
                }
            }
            (onnx::TENSOR_RAW_DATA, Value::Bytes(b)) => {
                if b.len() % 8 != 0 {
                    return Err("int64 raw data not a multiple of 8 bytes".into());
                }
                values.extend(
                    b.chunks_exact(8)
                        .map(|c| i64::from_le_bytes(c.try_into().unwrap_or([0; 8]))),
                );
            }
            _ => {}
        }
    }
    Ok((dtype, Some(values)))
}

/// `fields` of a tensor with its values replaced by `values` (int64, as raw data).
fn with_int64_values<'a>(fields: &[Field<'a>], values: &[i64]) -> Vec<Field<'a>> {
    let mut out: Vec<Field<'a>> = fields
        .iter()
        .filter(|f| f.number != onnx::TENSOR_INT64_DATA && f.number != onnx::TENSOR_RAW_DATA)
        .cloned()
        .collect();
    let raw: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
    out.push(Field::bytes(onnx::TENSOR_RAW_DATA, raw));
    out
}

/// A float tensor `name` of shape `[values.len()]`.
fn float_tensor(name: &str, values: &[f32]) -> Vec<u8> {
    let raw: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
    encode(&[
        Field::varint(onnx::TENSOR_DIMS, values.len() as u64),
        Field::varint(onnx::TENSOR_DATA_TYPE, FLOAT),
        Field::bytes(onnx::TENSOR_NAME, name.as_bytes().to_vec()),
        Field::bytes(onnx::TENSOR_RAW_DATA, raw),
    ])
}

/// Name and static dimensions (`None` for a symbolic one) of a `ValueInfoProto`.
fn value_info_dims(bytes: &[u8]) -> Result<(String, Vec<Option<i64>>), String> {
    let vi = parse(bytes)?;
    let name = first(&vi, onnx::VALUE_INFO_NAME)
        .and_then(Field::as_str)
        .unwrap_or_default()
        .to_string();
    let mut dims = Vec::new();
    let shape = (|| {
        let ty = parse(first(&vi, onnx::VALUE_INFO_TYPE)?.as_bytes()?).ok()?;
        let tensor = parse(first(&ty, onnx::TYPE_TENSOR)?.as_bytes()?).ok()?;
        let shape = parse(first(&tensor, onnx::TENSOR_TYPE_SHAPE)?.as_bytes()?).ok()?;
        Some(
            shape
                .iter()
                .filter(|f| f.number == onnx::SHAPE_DIM)
                .filter_map(|f| f.as_bytes().map(<[u8]>::to_vec))
                .collect::<Vec<_>>(),
        )
    })();
    for d in shape.unwrap_or_default() {
        let dim = parse(&d)?;
        dims.push(match first(&dim, onnx::DIM_VALUE).map(|f| &f.value) {
            Some(Value::Varint(v)) => Some(*v as i64),
            _ => None,
        });
    }
    Ok((name, dims))
}

/// A `ValueInfoProto` with its first dimension made symbolic (`batch`); an error when that dimension is
/// not the static 1 of a single-image export.
fn with_batch_dim(bytes: &[u8]) -> Result<Vec<u8>, String> {
    let (name, dims) = value_info_dims(bytes)?;
    if dims.first() != Some(&Some(1)) {
        return Err(format!(
            "`{name}` does not start with a batch axis of 1 ({dims:?})"
        ));
    }
    let mut vi = parse(bytes)?;
    for f in vi.iter_mut().filter(|f| f.number == onnx::VALUE_INFO_TYPE) {
        let mut ty = parse(f.as_bytes().unwrap_or_default())?;
        for t in ty.iter_mut().filter(|t| t.number == onnx::TYPE_TENSOR) {
            let mut tensor = parse(t.as_bytes().unwrap_or_default())?;
            for s in tensor
                .iter_mut()
                .filter(|s| s.number == onnx::TENSOR_TYPE_SHAPE)
            {
                let mut shape = parse(s.as_bytes().unwrap_or_default())?;
                if let Some(d) = shape.iter_mut().find(|d| d.number == onnx::SHAPE_DIM) {
                    *d = Field::bytes(
                        onnx::SHAPE_DIM,
                        encode(&[Field::bytes(onnx::DIM_PARAM, b"batch".to_vec())]),
                    );
                }
                *s = Field::bytes(onnx::TENSOR_TYPE_SHAPE, encode(&shape));
            }
            *t = Field::bytes(onnx::TYPE_TENSOR, encode(&tensor));
        }
        *f = Field::bytes(onnx::VALUE_INFO_TYPE, encode(&ty));
    }
    Ok(encode(&vi))
}

/// Where a constant tensor lives: an initializer (index into the graph's fields) or a `Constant` node's
/// `value` attribute (node field index).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum ConstAt {
    Initializer(usize),
    Node(usize),
}

/// `fields` with every borrowed value copied.
fn owned(fields: Vec<Field<'_>>) -> Vec<Field<'static>> {
    fields
        .into_iter()
        .map(|f| Field {
            number: f.number,
            value: match f.value {
                Value::Bytes(b) => Value::Bytes(Cow::Owned(b.into_owned())),
                Value::Varint(x) => Value::Varint(x),
                Value::Fixed64(x) => Value::Fixed64(x),
                Value::Fixed32(x) => Value::Fixed32(x),
            },
        })
        .collect()
}

/// The `value` tensor of a `Constant` node's fields.
fn constant_node_tensor(node: &[Field<'_>]) -> Result<Option<Vec<Field<'static>>>, String> {
    for a in node.iter().filter(|f| f.number == onnx::NODE_ATTRIBUTE) {
        let attr = parse(a.as_bytes().unwrap_or_default())?;
        if first(&attr, onnx::ATTR_NAME).and_then(Field::as_str) == Some("value")
            && let Some(t) = first(&attr, onnx::ATTR_T).and_then(Field::as_bytes)
        {
            return Ok(Some(owned(parse(t)?)));
        }
    }
    Ok(None)
}

/// `node` with its `value` attribute's tensor replaced by `tensor`.
fn with_constant_tensor<'a>(node: &[Field<'a>], tensor: Vec<u8>) -> Result<Vec<Field<'a>>, String> {
    let mut out = Vec::with_capacity(node.len());
    for f in node {
        if f.number == onnx::NODE_ATTRIBUTE {
            let attr = parse(f.as_bytes().unwrap_or_default())?;
            if first(&attr, onnx::ATTR_NAME).and_then(Field::as_str) == Some("value") {
                let attr: Vec<Field<'_>> = attr
                    .into_iter()
                    .map(|a| {
                        if a.number == onnx::ATTR_T {
                            Field::bytes(onnx::ATTR_T, tensor.clone())
                        } else {
                            a
                        }
                    })
                    .collect();
                out.push(Field::bytes(onnx::NODE_ATTRIBUTE, encode(&attr)));
                continue;
            }
        }
        out.push(f.clone());
    }
    Ok(out)
}

/// Checks that `node` keeps images of a batch apart.
fn check_per_image(node: &Node) -> Result<(), String> {
    if !PER_IMAGE_OPS.contains(&node.op.as_str()) {
        return Err(format!(
            "operator {} is not known to keep batch images apart",
            node.op
        ));
    }
    let axis0 = |name: &str| node.ints.get(name).is_some_and(|v| v.contains(&0));
    let bad = match node.op.as_str() {
        "Concat" | "Split" => node.ints.get("axis").is_none_or(|v| v.first() == Some(&0)),
        "Softmax" => axis0("axis"),
        "Transpose" => node.ints.get("perm").is_none_or(|p| p.first() != Some(&0)),
        _ => false,
    };
    if bad {
        return Err(format!("{} works across the batch axis", node.op));
    }
    Ok(())
}

/// The model `bytes` with a dynamic batch axis, or why it cannot be given one.
pub(crate) fn dynamic_batch(bytes: &[u8]) -> Result<Vec<u8>, String> {
    let model = parse(bytes)?;
    let graph_bytes = first(&model, onnx::MODEL_GRAPH)
        .and_then(Field::as_bytes)
        .ok_or("no graph")?;
    let mut graph = parse(graph_bytes)?;

    // Constants by name.
    let mut consts: HashMap<String, ConstAt> = HashMap::new();
    let mut initializer_names = HashSet::new();
    for (i, f) in graph.iter().enumerate() {
        if f.number == onnx::GRAPH_INITIALIZER {
            let t = parse(f.as_bytes().unwrap_or_default())?;
            if let Some(name) = first(&t, onnx::TENSOR_NAME).and_then(Field::as_str) {
                consts.insert(name.to_string(), ConstAt::Initializer(i));
                initializer_names.insert(name.to_string());
            }
        }
    }
    let mut nodes: Vec<(usize, Node)> = Vec::new();
    for (i, f) in graph.iter().enumerate() {
        if f.number == onnx::GRAPH_NODE {
            let node = node_info(&parse(f.as_bytes().unwrap_or_default())?)?;
            if node.op == "Constant"
                && let Some(out) = node.outputs.first()
            {
                consts.insert(out.clone(), ConstAt::Node(i));
            }
            nodes.push((i, node));
        }
    }
    // Recorded shapes, for Resize inputs.
    let mut shapes: HashMap<String, Vec<Option<i64>>> = HashMap::new();
    for f in graph.iter().filter(|f| {
        matches!(
            f.number,
            onnx::GRAPH_VALUE_INFO | onnx::GRAPH_INPUT | onnx::GRAPH_OUTPUT
        )
    }) {
        let (name, dims) = value_info_dims(f.as_bytes().unwrap_or_default())?;
        shapes.insert(name, dims);
    }

    let const_tensor = |at: ConstAt, graph: &[Field<'_>]| -> Result<Vec<Field<'static>>, String> {
        match at {
            ConstAt::Initializer(i) => Ok(owned(parse(graph[i].as_bytes().unwrap_or_default())?)),
            ConstAt::Node(i) => {
                let node = parse(graph[i].as_bytes().unwrap_or_default())?;
                constant_node_tensor(&node)?
                    .ok_or_else(|| "Constant node without a value tensor".into())
            }
        }
    };

    // Which constants feed something else than a Reshape shape (those must not change).
    let mut other_uses: HashSet<&str> = HashSet::new();
    for (_, n) in &nodes {
        for (k, input) in n.inputs.iter().enumerate() {
            if !(n.op == "Reshape" && k == 1) {
                other_uses.insert(input.as_str());
            }
        }
    }

    let mut const_edits: HashMap<ConstAt, Vec<u8>> = HashMap::new();
    let mut node_inputs: HashMap<usize, Vec<String>> = HashMap::new();
    let mut new_initializers: Vec<Vec<u8>> = Vec::new();
    for (index, node) in &nodes {
        check_per_image(node)?;
        match node.op.as_str() {
            "Reshape" => {
                let shape_name = node.inputs.get(1).ok_or("Reshape without a shape")?;
                let at = *consts.get(shape_name).ok_or_else(|| {
                    format!("Reshape shape `{shape_name}` is computed at run time")
                })?;
                let tensor = const_tensor(at, &graph)?;
                let (_, values) = tensor_int64(&tensor)?;
                let mut values = values.ok_or("Reshape shape is not int64")?;
                match values.first() {
                    Some(1) if other_uses.contains(shape_name.as_str()) => {
                        return Err(format!(
                            "Reshape shape `{shape_name}` is also used elsewhere"
                        ));
                    }
                    Some(1) => {
                        values[0] = 0;
                        const_edits.insert(at, encode(&with_int64_values(&tensor, &values)));
                    }
                    Some(0) => {}
                    _ => {
                        return Err(format!(
                            "Reshape to {values:?} does not keep the batch axis first"
                        ));
                    }
                }
            }
            "Slice" => {
                let Some(axes) = node.inputs.get(3).filter(|s| !s.is_empty()) else {
                    return Err("Slice without explicit axes may cut the batch axis".into());
                };
                let at = *consts.get(axes).ok_or("Slice axes computed at run time")?;
                let (_, values) = tensor_int64(&const_tensor(at, &graph)?)?;
                if values.is_none_or(|v| v.contains(&0)) {
                    return Err("Slice cuts the batch axis".into());
                }
            }
            "Resize" => {
                let Some(sizes_name) = node.inputs.get(3).filter(|s| !s.is_empty()) else {
                    continue;
                };
                let at = *consts
                    .get(sizes_name)
                    .ok_or("Resize sizes computed at run time")?;
                let (_, sizes) = tensor_int64(&const_tensor(at, &graph)?)?;
                let sizes = sizes.ok_or("Resize sizes are not int64")?;
                let input = node.inputs.first().ok_or("Resize without input")?;
                let dims = shapes
                    .get(input)
                    .ok_or_else(|| format!("no recorded shape for Resize input `{input}`"))?;
                if dims.len() != sizes.len() || sizes.first() != Some(&1) {
                    return Err(format!("Resize sizes {sizes:?} do not fit its input"));
                }
                let mut scales = Vec::with_capacity(sizes.len());
                for (d, s) in dims.iter().zip(&sizes) {
                    let d = d
                        .filter(|&d| d > 0)
                        .ok_or("Resize input shape not static")?;
                    scales.push(*s as f32 / d as f32);
                }
                let name = format!("{sizes_name}__vigil_scales_{index}");
                new_initializers.push(float_tensor(&name, &scales));
                let mut inputs = node.inputs.clone();
                inputs.truncate(2);
                inputs.resize(2, String::new());
                inputs.push(name);
                node_inputs.insert(*index, inputs);
            }
            _ => {}
        }
    }

    // Rewrite the graph's fields.
    let mut image_inputs = 0;
    let mut out: Vec<Field<'_>> = Vec::with_capacity(graph.len() + new_initializers.len());
    for (i, f) in graph.drain(..).enumerate() {
        match f.number {
            onnx::GRAPH_VALUE_INFO => continue,
            onnx::GRAPH_INPUT => {
                let b = f.as_bytes().unwrap_or_default();
                let (name, _) = value_info_dims(b)?;
                if initializer_names.contains(&name) {
                    out.push(f);
                } else {
                    image_inputs += 1;
                    out.push(Field::bytes(onnx::GRAPH_INPUT, with_batch_dim(b)?));
                }
            }
            onnx::GRAPH_OUTPUT => {
                let b = with_batch_dim(f.as_bytes().unwrap_or_default())?;
                out.push(Field::bytes(onnx::GRAPH_OUTPUT, b));
            }
            onnx::GRAPH_INITIALIZER => match const_edits.get(&ConstAt::Initializer(i)) {
                Some(t) => out.push(Field::bytes(onnx::GRAPH_INITIALIZER, t.clone())),
                None => out.push(f),
            },
            onnx::GRAPH_NODE => {
                let edit_const = const_edits.get(&ConstAt::Node(i));
                let edit_inputs = node_inputs.get(&i);
                if edit_const.is_none() && edit_inputs.is_none() {
                    out.push(f);
                    continue;
                }
                let mut node = parse(f.as_bytes().unwrap_or_default())?;
                if let Some(t) = edit_const {
                    node = with_constant_tensor(&node, t.clone())?;
                }
                if let Some(inputs) = edit_inputs {
                    let at = node
                        .iter()
                        .position(|n| n.number == onnx::NODE_INPUT)
                        .unwrap_or(0);
                    node.retain(|n| n.number != onnx::NODE_INPUT);
                    for (k, name) in inputs.iter().enumerate() {
                        node.insert(
                            at + k,
                            Field::bytes(onnx::NODE_INPUT, name.as_bytes().to_vec()),
                        );
                    }
                }
                out.push(Field::bytes(onnx::GRAPH_NODE, encode(&node)));
            }
            _ => out.push(f),
        }
    }
    if image_inputs != 1 {
        return Err(format!(
            "{image_inputs} non-constant inputs; expected one image input"
        ));
    }
    out.extend(
        new_initializers
            .into_iter()
            .map(|t| Field::bytes(onnx::GRAPH_INITIALIZER, t)),
    );
    let graph = encode(&out);
    let model: Vec<Field<'_>> = model
        .into_iter()
        .map(|f| {
            if f.number == onnx::MODEL_GRAPH {
                Field::bytes(onnx::MODEL_GRAPH, graph.clone())
            } else {
                f
            }
        })
        .collect();
    Ok(encode(&model))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_format_round_trips() {
        let fields = vec![
            Field::varint(1, 300),
            Field::bytes(2, b"abc".to_vec()),
            Field {
                number: 3,
                value: Value::Fixed32(7),
            },
            Field {
                number: 4,
                value: Value::Fixed64(u64::MAX),
            },
            Field::varint(1, 0),
        ];
        let bytes = encode(&fields);
        assert_eq!(parse(&bytes).unwrap(), fields);
        // 300 as a varint is AC 02; key of field 1 varint is 08.
        assert_eq!(&bytes[..3], &[0x08, 0xac, 0x02]);
    }

    #[test]
    fn truncated_and_garbage_input_is_an_error_not_a_panic() {
        let bytes = encode(&[Field::bytes(7, vec![0x0a, 0x05, 1, 2])]);
        assert!(dynamic_batch(&bytes[..bytes.len() - 1]).is_err());
        assert!(dynamic_batch(&bytes).is_err());
        assert!(dynamic_batch(&[0xff; 16]).is_err());
        assert!(dynamic_batch(b"").is_err());
    }

    #[test]
    fn damaged_model_bytes_never_panic() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../../shared/models/light_person_detector_192.onnx");
        let Ok(bytes) = std::fs::read(&path) else {
            eprintln!("SKIP: {} not found (../shared absent)", path.display());
            return;
        };
        let patched = dynamic_batch(&bytes).unwrap();
        assert_ne!(patched, bytes);
        // A rewritten model is refused: its batch axis is no longer a fixed 1.
        assert!(dynamic_batch(&patched).is_err());
        // Flipped bytes in the structure (the first 64 KiB hold the graph's nodes) and cut files: an error
        // or a model, never a panic.
        let mut state = 0x9e37_79b9_7f4a_7c15_u64;
        for _ in 0..100 {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let mut damaged = bytes.clone();
            let at = (state as usize) % damaged.len().min(1 << 16);
            damaged[at] ^= (state >> 32) as u8 | 1;
            let _ = dynamic_batch(&damaged);
            let _ = dynamic_batch(&bytes[..(state as usize >> 8) % bytes.len()]);
        }
    }

    #[test]
    fn operators_across_the_batch_are_refused() {
        let node = |op: &str, ints: &[(&str, &[i64])]| Node {
            op: op.into(),
            inputs: vec![],
            outputs: vec![],
            ints: ints
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_vec()))
                .collect(),
        };
        assert!(check_per_image(&node("Conv", &[])).is_ok());
        assert!(check_per_image(&node("Concat", &[("axis", &[1])])).is_ok());
        assert!(check_per_image(&node("Concat", &[("axis", &[0])])).is_err());
        assert!(check_per_image(&node("Transpose", &[("perm", &[0, 2, 1])])).is_ok());
        assert!(check_per_image(&node("Transpose", &[("perm", &[1, 0, 2])])).is_err());
        assert!(check_per_image(&node("Gather", &[])).is_err());
    }
}
