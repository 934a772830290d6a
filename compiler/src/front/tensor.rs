//! Decoding of ONNX `TensorProto`s in every encoding (typed fields, `raw_data`, external data)
//! into IR constants. Integer types widen to i64; float16/bfloat16/double convert to f32.

use std::collections::BTreeMap;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Component, Path, PathBuf};

use crate::error::{Error, Result};
use crate::front::proto::TensorProto;
use crate::ir::{checked_len, Tensor};

// TensorProto.DataType values.
const FLOAT: i32 = 1;
const UINT8: i32 = 2;
const INT8: i32 = 3;
const UINT16: i32 = 4;
const INT16: i32 = 5;
const INT32: i32 = 6;
const INT64: i32 = 7;
const BOOL: i32 = 9;
const FLOAT16: i32 = 10;
const DOUBLE: i32 = 11;
const UINT32: i32 = 12;
const UINT64: i32 = 13;
const BFLOAT16: i32 = 16;

/// Name of an ONNX element type, for messages.
pub fn dtype_name(t: i32) -> &'static str {
    match t {
        FLOAT => "float",
        UINT8 => "uint8",
        INT8 => "int8",
        UINT16 => "uint16",
        INT16 => "int16",
        INT32 => "int32",
        INT64 => "int64",
        8 => "string",
        BOOL => "bool",
        FLOAT16 => "float16",
        DOUBLE => "double",
        UINT32 => "uint32",
        UINT64 => "uint64",
        14 | 15 => "complex",
        BFLOAT16 => "bfloat16",
        _ => "an unknown type",
    }
}

/// True for the element types ghostc computes in f32.
pub fn is_float_type(t: i32) -> bool {
    matches!(t, FLOAT | FLOAT16 | DOUBLE | BFLOAT16)
}

/// True for element types ghostc can hold (floats as f32, integers and bool as i64).
pub fn is_supported_type(t: i32) -> bool {
    is_float_type(t)
        || matches!(
            t,
            UINT8 | INT8 | UINT16 | INT16 | INT32 | INT64 | BOOL | UINT32 | UINT64
        )
}

/// Converts ONNX dims to a shape, refusing negative dims and element counts that overflow.
pub fn shape_from_dims(dims: &[i64]) -> Result<Vec<usize>, String> {
    if dims.len() > crate::ir::MAX_RANK {
        return Err(format!(
            "rank {} is more than the {} dimensions supported",
            dims.len(),
            crate::ir::MAX_RANK
        ));
    }
    let shape = dims
        .iter()
        .map(|&d| usize::try_from(d).map_err(|_| format!("negative dimension {d} in {dims:?}")))
        .collect::<Result<Vec<_>, _>>()?;
    checked_len(&shape).ok_or_else(|| format!("shape {dims:?} has too many elements"))?;
    Ok(shape)
}

/// Where a model's external data may be read from, and how much of it has been: at most the
/// total size of the files named, so a small model cannot read one big file many times over.
pub struct External<'a> {
    dir: &'a Path,
    /// Size of every file read so far, by canonical path.
    sizes: BTreeMap<PathBuf, u64>,
    read: u64,
}

impl<'a> External<'a> {
    /// External data inside `dir`, the model's folder.
    pub fn new(dir: &'a Path) -> Self {
        External {
            dir,
            sizes: BTreeMap::new(),
            read: 0,
        }
    }
}

/// Decodes `t`; `ext` anchors and accounts for external data (None: external data refused).
pub fn decode(t: &TensorProto, ext: Option<&mut External>) -> Result<Tensor> {
    let name = t.name.clone().unwrap_or_default();
    let err = |msg: String| Error::Model(format!("tensor '{name}': {msg}"));
    let dt = t.data_type.unwrap_or(0);
    if !is_supported_type(dt) {
        return Err(err(format!(
            "element type {} is not supported",
            dtype_name(dt)
        )));
    }
    let shape = shape_from_dims(&t.dims).map_err(err)?;
    let n = shape.iter().product::<usize>();
    if t.segment.is_some() {
        return Err(err("segmented tensors are not supported".into()));
    }
    let external;
    let raw: Option<&[u8]> = if t.data_location == Some(1) {
        external = read_external(t, &name, elem_size(dt).saturating_mul(n), ext)?;
        Some(&external)
    } else {
        t.raw_data.as_deref()
    };
    let count_err = |got: usize| err(format!("has {got} values, its shape {shape:?} needs {n}"));
    if let Some(raw) = raw {
        let size = elem_size(dt);
        if raw.len() != n.saturating_mul(size) {
            return Err(err(format!(
                "raw_data has {} bytes, shape {shape:?} of {} needs {}",
                raw.len(),
                dtype_name(dt),
                n.saturating_mul(size)
            )));
        }
        let chunks = raw.chunks_exact(size);
        let le = |c: &[u8]| {
            let mut b = [0u8; 8];
            b[..c.len()].copy_from_slice(c);
            u64::from_le_bytes(b)
        };
        return Ok(match dt {
            FLOAT => Tensor::f32(
                shape,
                chunks.map(|c| f32::from_bits(le(c) as u32)).collect(),
            ),
            FLOAT16 => Tensor::f32(shape, chunks.map(|c| f16_to_f32(le(c) as u16)).collect()),
            BFLOAT16 => Tensor::f32(
                shape,
                chunks
                    .map(|c| f32::from_bits((le(c) as u32) << 16))
                    .collect(),
            ),
            DOUBLE => Tensor::f32(
                shape,
                chunks.map(|c| f64::from_bits(le(c)) as f32).collect(),
            ),
            INT8 => Tensor::i64(shape, chunks.map(|c| i64::from(c[0] as i8)).collect()),
            INT16 => Tensor::i64(
                shape,
                chunks.map(|c| i64::from(le(c) as u16 as i16)).collect(),
            ),
            INT32 => Tensor::i64(
                shape,
                chunks.map(|c| i64::from(le(c) as u32 as i32)).collect(),
            ),
            INT64 | UINT64 => Tensor::i64(shape, chunks.map(|c| le(c) as i64).collect()),
            _ => Tensor::i64(shape, chunks.map(|c| le(c) as i64).collect()),
        });
    }
    match dt {
        FLOAT => {
            if t.float_data.len() != n {
                return Err(count_err(t.float_data.len()));
            }
            Ok(Tensor::f32(shape, t.float_data.clone()))
        }
        DOUBLE => {
            if t.double_data.len() != n {
                return Err(count_err(t.double_data.len()));
            }
            Ok(Tensor::f32(
                shape,
                t.double_data.iter().map(|&x| x as f32).collect(),
            ))
        }
        INT64 => {
            if t.int64_data.len() != n {
                return Err(count_err(t.int64_data.len()));
            }
            Ok(Tensor::i64(shape, t.int64_data.clone()))
        }
        UINT32 | UINT64 => {
            if t.uint64_data.len() != n {
                return Err(count_err(t.uint64_data.len()));
            }
            Ok(Tensor::i64(
                shape,
                t.uint64_data.iter().map(|&x| x as i64).collect(),
            ))
        }
        FLOAT16 | BFLOAT16 => {
            if t.int32_data.len() != n {
                return Err(count_err(t.int32_data.len()));
            }
            let conv = |b: i32| {
                if dt == FLOAT16 {
                    f16_to_f32(b as u16)
                } else {
                    f32::from_bits((b as u32) << 16)
                }
            };
            Ok(Tensor::f32(
                shape,
                t.int32_data.iter().map(|&b| conv(b)).collect(),
            ))
        }
        _ => {
            if t.int32_data.len() != n {
                return Err(count_err(t.int32_data.len()));
            }
            Ok(Tensor::i64(
                shape,
                t.int32_data.iter().map(|&x| i64::from(x)).collect(),
            ))
        }
    }
}

fn elem_size(dt: i32) -> usize {
    match dt {
        UINT8 | INT8 | BOOL => 1,
        UINT16 | INT16 | FLOAT16 | BFLOAT16 => 2,
        FLOAT | INT32 | UINT32 => 4,
        _ => 8,
    }
}

fn f16_to_f32(h: u16) -> f32 {
    let sign = u32::from(h >> 15) << 31;
    let exp = u32::from((h >> 10) & 0x1f);
    let mant = u32::from(h & 0x3ff);
    let bits = match (exp, mant) {
        (0, 0) => sign,
        (0, m) => {
            // Subnormal: value = m * 2^-24.
            let v = m as f32 * f32::from_bits(0x3380_0000);
            return if sign != 0 { -v } else { v };
        }
        (0x1f, m) => sign | 0x7f80_0000 | (m << 13),
        (e, m) => sign | ((e + 112) << 23) | (m << 13),
    };
    f32::from_bits(bits)
}

/// Reads external data, refusing locations outside the model's folder (absolute paths, `..`,
/// or symlinks that resolve elsewhere), anything but regular files, ranges beyond the file, and
/// reading more than the files named hold altogether.
fn read_external(
    t: &TensorProto,
    name: &str,
    expected: usize,
    ext: Option<&mut External>,
) -> Result<Vec<u8>> {
    let err = |msg: String| Error::ExternalData {
        tensor: name.to_string(),
        msg,
    };
    let mut location = None;
    let mut offset = 0u64;
    let mut length = None;
    for kv in &t.external_data {
        let v = kv.value.as_deref().unwrap_or("");
        match kv.key.as_deref().unwrap_or("") {
            "location" => location = Some(v.to_string()),
            "offset" => {
                offset = v
                    .parse()
                    .map_err(|_| err(format!("offset '{v}' is not a number")))?
            }
            "length" => {
                length = Some(
                    v.parse::<u64>()
                        .map_err(|_| err(format!("length '{v}' is not a number")))?,
                )
            }
            _ => {}
        }
    }
    let location = location.ok_or_else(|| err("no location given".into()))?;
    let ext =
        ext.ok_or_else(|| err("external data needs the model to be loaded from a file".into()))?;
    let dir = ext.dir;
    let rel = Path::new(&location);
    if location.is_empty()
        || rel.is_absolute()
        || rel
            .components()
            .any(|c| !matches!(c, Component::Normal(_) | Component::CurDir))
    {
        return Err(err(format!(
            "location '{location}' must be a relative path inside the model's folder"
        )));
    }
    let base = dir
        .canonicalize()
        .map_err(|e| err(format!("cannot resolve the model's folder: {e}")))?;
    let path = base
        .join(rel)
        .canonicalize()
        .map_err(|e| err(format!("cannot open '{location}': {e}")))?;
    if !path.starts_with(&base) {
        return Err(err(format!(
            "location '{location}' resolves outside the model's folder"
        )));
    }
    if let Some(l) = length {
        if l != expected as u64 {
            return Err(err(format!(
                "length {l} does not match the {expected} bytes its shape needs"
            )));
        }
    }
    // Only regular files: opening a FIFO would block, a device could stream without end.
    let meta =
        std::fs::metadata(&path).map_err(|e| err(format!("cannot open '{location}': {e}")))?;
    if !meta.is_file() {
        return Err(err(format!("location '{location}' is not a regular file")));
    }
    let mut f =
        std::fs::File::open(&path).map_err(|e| err(format!("cannot open '{location}': {e}")))?;
    let size = f.metadata().map_err(|e| err(e.to_string()))?.len();
    if offset
        .checked_add(expected as u64)
        .is_none_or(|end| end > size)
    {
        return Err(err(format!(
            "range {offset}+{expected} lies beyond the end of '{location}' ({size} bytes)"
        )));
    }
    ext.sizes.entry(path).or_insert(size);
    let total = ext.sizes.values().fold(0u64, |a, &s| a.saturating_add(s));
    let read = ext.read.saturating_add(expected as u64);
    if read > total {
        return Err(err(format!(
            "reading {expected} bytes from '{location}' would bring the external data read to {read} bytes, more than the {total} the files named hold (data may not be read twice)"
        )));
    }
    ext.read = read;
    f.seek(SeekFrom::Start(offset))
        .map_err(|e| err(e.to_string()))?;
    let mut buf = vec![0u8; expected];
    f.read_exact(&mut buf).map_err(|e| err(e.to_string()))?;
    Ok(buf)
}

#[cfg(test)]
mod tests {
    use super::f16_to_f32;

    #[test]
    fn f16_conversion() {
        assert_eq!(f16_to_f32(0x3c00), 1.0);
        assert_eq!(f16_to_f32(0xc000), -2.0);
        assert_eq!(f16_to_f32(0x0001), 2f32.powi(-24));
        assert!(f16_to_f32(0x7c00).is_infinite());
        assert!(f16_to_f32(0x7e00).is_nan());
    }
}
