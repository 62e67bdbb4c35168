//! Tensors to and from the protocol's raw contents: little-endian, row-major, one `bytes` entry
//! per tensor in the order of the tensor list.

use bytes::Bytes;
use ndarray::{ArrayD, IxDyn};

use super::pb;
use crate::error::{Error, Result};
use crate::package::GraphOutput;

/// One input of a request, already in wire form (so that a chunk's fixed conditions are
/// encoded once and shared by every step's request).
#[derive(Debug, Clone)]
pub struct RemoteInput {
    pub name: String,
    pub datatype: &'static str,
    pub shape: Vec<i64>,
    pub data: Bytes,
}

fn shape_of(shape: &[usize]) -> Vec<i64> {
    shape.iter().map(|&d| d as i64).collect()
}

impl RemoteInput {
    pub fn f32(name: &str, shape: &[usize], values: impl IntoIterator<Item = f32>) -> Self {
        let data: Vec<u8> = values.into_iter().flat_map(f32::to_le_bytes).collect();
        Self {
            name: name.to_string(),
            datatype: "FP32",
            shape: shape_of(shape),
            data: data.into(),
        }
    }

    pub fn i64(name: &str, shape: &[usize], values: impl IntoIterator<Item = i64>) -> Self {
        let data: Vec<u8> = values.into_iter().flat_map(i64::to_le_bytes).collect();
        Self {
            name: name.to_string(),
            datatype: "INT64",
            shape: shape_of(shape),
            data: data.into(),
        }
    }
}

pub(super) fn request(
    model: &str,
    version: &str,
    inputs: &[RemoteInput],
    outputs: &[&str],
    unit_suffix: &[String],
) -> pb::ModelInferRequest {
    pb::ModelInferRequest {
        model_name: model.to_string(),
        model_version: version.to_string(),
        inputs: inputs
            .iter()
            .map(|i| pb::model_infer_request::InferInputTensor {
                name: i.name.clone(),
                datatype: i.datatype.to_string(),
                shape: if unit_suffix.contains(&i.name) {
                    i.shape.iter().copied().chain([1]).collect()
                } else {
                    i.shape.clone()
                },
                ..Default::default()
            })
            .collect(),
        outputs: outputs
            .iter()
            .map(
                |&name| pb::model_infer_request::InferRequestedOutputTensor {
                    name: name.to_string(),
                    ..Default::default()
                },
            )
            .collect(),
        raw_input_contents: inputs.iter().map(|i| i.data.clone()).collect(),
        ..Default::default()
    }
}

/// The requested outputs, in `wanted` order, checked: each present, a known type, and as many
/// bytes as its shape says.
pub(super) fn outputs(
    model: &str,
    response: pb::ModelInferResponse,
    wanted: &[&str],
    unit_suffix: &[String],
) -> Result<Vec<GraphOutput>> {
    let fail = |m: String| Error::Inference {
        graph: model.to_string(),
        message: m,
    };
    if response.raw_output_contents.len() != response.outputs.len() {
        return Err(fail(format!(
            "the server sent {} outputs and {} raw contents (raw tensor contents are required)",
            response.outputs.len(),
            response.raw_output_contents.len()
        )));
    }
    wanted
        .iter()
        .map(|&name| {
            let i = response
                .outputs
                .iter()
                .position(|o| o.name == name)
                .ok_or_else(|| fail(format!("the server sent no output {name}")))?;
            let meta = &response.outputs[i];
            let raw = &response.raw_output_contents[i];
            let sent = &meta.shape[..meta.shape.len()
                - usize::from(
                    unit_suffix.iter().any(|n| n == name) && meta.shape.last() == Some(&1),
                )];
            let shape: Vec<usize> = sent
                .iter()
                .map(|&d| {
                    usize::try_from(d)
                        .map_err(|_| fail(format!("output {name}: shape {:?}", meta.shape)))
                })
                .collect::<Result<_>>()?;
            let count: usize = shape.iter().product();
            let size = match meta.datatype.as_str() {
                "FP32" => 4,
                "UINT8" => 1,
                "INT64" => 8,
                other => {
                    return Err(fail(format!(
                        "output {name}: datatype {other} (expected FP32, UINT8 or INT64)"
                    )))
                }
            };
            if raw.len() != count * size {
                return Err(fail(format!(
                    "output {name}: {} bytes for shape {shape:?} of {}",
                    raw.len(),
                    meta.datatype
                )));
            }
            let shape = IxDyn(&shape);
            let out = match size {
                4 => GraphOutput::F32(
                    ArrayD::from_shape_vec(
                        shape,
                        raw.chunks_exact(4)
                            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                            .collect(),
                    )
                    .map_err(|e| fail(e.to_string()))?,
                ),
                8 => GraphOutput::I64(
                    ArrayD::from_shape_vec(
                        shape,
                        raw.chunks_exact(8)
                            .map(|b| {
                                i64::from_le_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]])
                            })
                            .collect(),
                    )
                    .map_err(|e| fail(e.to_string()))?,
                ),
                _ => GraphOutput::U8(
                    ArrayD::from_shape_vec(shape, raw.to_vec()).map_err(|e| fail(e.to_string()))?,
                ),
            };
            Ok(out)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_through_raw_contents() {
        let x = RemoteInput::f32("x", &[2, 3], [1.0, -2.5, 3.25, 0.0, f32::MIN_POSITIVE, 7.0]);
        let r = request("m", "", std::slice::from_ref(&x), &["out"], &[]);
        assert_eq!(r.inputs[0].shape, [2, 3]);
        assert_eq!(r.raw_input_contents[0].len(), 24);
        // Echo it back as the server would.
        let response = pb::ModelInferResponse {
            outputs: vec![pb::model_infer_response::InferOutputTensor {
                name: "out".into(),
                datatype: "FP32".into(),
                shape: vec![2, 3],
                ..Default::default()
            }],
            raw_output_contents: vec![x.data.clone()],
            ..Default::default()
        };
        let out = outputs("m", response, &["out"], &[]).unwrap();
        let GraphOutput::F32(a) = &out[0] else {
            panic!()
        };
        assert_eq!(
            a.as_slice().unwrap(),
            &[1.0, -2.5, 3.25, 0.0, f32::MIN_POSITIVE, 7.0]
        );
    }

    /// A `[batch]` tensor the server takes as `[batch, 1]`: sent with the 1, returned without.
    #[test]
    fn unit_suffix_is_added_and_removed() {
        let t = RemoteInput::f32("t", &[2], [0.5, 0.5]);
        let r = request(
            "m",
            "",
            std::slice::from_ref(&t),
            &["t"],
            &["t".to_string()],
        );
        assert_eq!(r.inputs[0].shape, [2, 1]);
        let response = pb::ModelInferResponse {
            outputs: vec![pb::model_infer_response::InferOutputTensor {
                name: "t".into(),
                datatype: "FP32".into(),
                shape: vec![2, 1],
                ..Default::default()
            }],
            raw_output_contents: vec![t.data.clone()],
            ..Default::default()
        };
        let out = outputs("m", response, &["t"], &["t".to_string()]).unwrap();
        assert_eq!(out[0].shape(), [2]);
    }

    #[test]
    fn short_or_missing_outputs_are_errors() {
        let mut response = pb::ModelInferResponse {
            outputs: vec![pb::model_infer_response::InferOutputTensor {
                name: "out".into(),
                datatype: "FP32".into(),
                shape: vec![4],
                ..Default::default()
            }],
            raw_output_contents: vec![Bytes::from_static(&[0; 12])],
            ..Default::default()
        };
        let e = outputs("m", response.clone(), &["out"], &[])
            .unwrap_err()
            .to_string();
        assert!(e.contains("12 bytes"), "{e}");
        let e = outputs("m", response.clone(), &["other"], &[])
            .unwrap_err()
            .to_string();
        assert!(e.contains("no output other"), "{e}");
        response.raw_output_contents.clear();
        let e = outputs("m", response, &["out"], &[])
            .unwrap_err()
            .to_string();
        assert!(e.contains("raw tensor contents"), "{e}");
    }
}
