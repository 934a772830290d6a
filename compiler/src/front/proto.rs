//! ONNX protobuf message types, generated at build time from the vendored `proto/onnx.proto`
//! (Apache-2.0, see `proto/LICENSE`). Only `front/` uses these types.
#![allow(clippy::all, clippy::pedantic, missing_docs, rustdoc::all)]

include!(concat!(env!("OUT_DIR"), "/onnx.rs"));
