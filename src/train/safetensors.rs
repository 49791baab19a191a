//! Reading and writing the safetensors format (what Python's `safetensors` reads): an 8-byte
//! little-endian header length, a JSON header mapping each name to
//! `{"dtype": "F32", "shape": [...], "data_offsets": [begin, end]}` (offsets relative to the
//! end of the header), then the raw little-endian data. Written atomically.

use crate::error::{Error, Result};
use crate::io::write_atomic;
use crate::tensor::Tensor;
use std::collections::{BTreeMap, HashMap};
use std::path::Path;

/// Serialises named f32 tensors (in the given order) with string metadata.
pub fn to_bytes(tensors: &[(String, Tensor)], metadata: &BTreeMap<String, String>) -> Vec<u8> {
    let mut header = serde_json::Map::new();
    if !metadata.is_empty() {
        header.insert("__metadata__".into(), serde_json::to_value(metadata).expect("strings serialise"));
    }
    let mut off = 0usize;
    for (name, t) in tensors {
        let end = off + 4 * t.len();
        header.insert(name.clone(), serde_json::json!({"dtype": "F32", "shape": t.shape(), "data_offsets": [off, end]}));
        off = end;
    }
    let mut h = serde_json::to_vec(&header).expect("json");
    while !h.len().is_multiple_of(8) {
        h.push(b' ');
    }
    let mut out = Vec::with_capacity(8 + h.len() + off);
    out.extend_from_slice(&(h.len() as u64).to_le_bytes());
    out.extend_from_slice(&h);
    for (_, t) in tensors {
        for v in t.data() {
            out.extend_from_slice(&v.to_le_bytes());
        }
    }
    out
}

/// Writes named tensors to `path` atomically.
pub fn save(path: &Path, tensors: &[(String, Tensor)], metadata: &BTreeMap<String, String>) -> Result<()> {
    write_atomic(path, &to_bytes(tensors, metadata))
}

/// Parses safetensors bytes (F32 only); `path` names the file in errors.
pub fn from_bytes(bytes: &[u8], path: &Path) -> Result<(HashMap<String, Tensor>, BTreeMap<String, String>)> {
    let bad = |field: &str, msg: String| Error::parse(path, 0, field, msg);
    if bytes.len() < 8 {
        return Err(bad("header", format!("file is {} bytes, too short for a safetensors header", bytes.len())));
    }
    let hlen = u64::from_le_bytes(bytes[..8].try_into().expect("8 bytes"));
    if hlen > (bytes.len() - 8) as u64 {
        return Err(bad("header", format!("header length {hlen} exceeds the file size {}", bytes.len())));
    }
    let hlen = hlen as usize;
    let data = &bytes[8 + hlen..];
    let header: serde_json::Map<String, serde_json::Value> =
        serde_json::from_slice(&bytes[8..8 + hlen]).map_err(|e| bad("header", format!("not valid JSON: {e}")))?;
    let mut meta = BTreeMap::new();
    let mut out = HashMap::new();
    for (name, v) in header {
        if name == "__metadata__" {
            if let Some(m) = v.as_object() {
                for (k, v) in m {
                    meta.insert(k.clone(), v.as_str().unwrap_or_default().to_string());
                }
            }
            continue;
        }
        let dtype = v.get("dtype").and_then(|d| d.as_str()).unwrap_or("");
        if dtype != "F32" {
            return Err(bad(&name, format!("dtype {dtype:?} is not supported (only F32)")));
        }
        let shape: Vec<usize> = v
            .get("shape")
            .and_then(|s| s.as_array())
            .ok_or_else(|| bad(&name, "missing shape".into()))?
            .iter()
            .map(|d| d.as_u64().map(|d| d as usize))
            .collect::<Option<_>>()
            .ok_or_else(|| bad(&name, "shape is not a list of sizes".into()))?;
        let offs: Vec<usize> = v
            .get("data_offsets")
            .and_then(|s| s.as_array())
            .ok_or_else(|| bad(&name, "missing data_offsets".into()))?
            .iter()
            .map(|d| d.as_u64().map(|d| d as usize))
            .collect::<Option<_>>()
            .ok_or_else(|| bad(&name, "bad data_offsets".into()))?;
        let n = shape.iter().try_fold(1usize, |a, &d| a.checked_mul(d)).ok_or_else(|| bad(&name, "shape too large".into()))?;
        let (b, e) = match offs.as_slice() {
            [b, e] if b <= e && *e <= data.len() && e - b == 4 * n => (*b, *e),
            _ => return Err(bad(&name, format!("data_offsets {offs:?} do not fit shape {shape:?} in {} data bytes", data.len()))),
        };
        let vals = data[b..e].chunks_exact(4).map(|c| f32::from_le_bytes(c.try_into().expect("4 bytes"))).collect();
        out.insert(name, Tensor::from_vec(vals, &shape)?);
    }
    Ok((out, meta))
}

/// Reads a safetensors file.
pub fn load(path: &Path) -> Result<(HashMap<String, Tensor>, BTreeMap<String, String>)> {
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    from_bytes(&bytes, path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_corruption() {
        let t = vec![("a".to_string(), Tensor::rand_normal(&[2, 3], 0.0, 1.0, 1)), ("b".to_string(), Tensor::scalar(4.0))];
        let mut m = BTreeMap::new();
        m.insert("k".into(), "v".into());
        let bytes = to_bytes(&t, &m);
        let (back, meta) = from_bytes(&bytes, Path::new("x.safetensors")).unwrap();
        assert_eq!(back["a"], t[0].1);
        assert_eq!(back["b"].item().unwrap(), 4.0);
        assert_eq!(meta["k"], "v");
        for cut in [0, 5, 9, bytes.len() - 1] {
            let e = from_bytes(&bytes[..cut], Path::new("x.safetensors")).unwrap_err().to_string();
            assert!(e.contains("x.safetensors"), "{e}");
        }
    }
}
