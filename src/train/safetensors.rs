//! Reading and writing the safetensors format (what Python's `safetensors` reads and writes):
//! an 8-byte little-endian header length, a JSON header mapping each name to
//! `{"dtype": "F32", "shape": [...], "data_offsets": [begin, end]}` (offsets relative to the
//! end of the header), then the raw little-endian data. Reading goes through the
//! `safetensors` crate, the format's reference implementation, which refuses a header whose
//! offsets overlap, leave gaps, run past the data or disagree with the shape; every such fault
//! becomes an error naming the file.
//!
//! pupil writes F32, with its own writer: the header (keys sorted, so equal tensors and
//! metadata give equal bytes), then each tensor's values converted as they are written, so a
//! checkpoint is never built in memory. It reads F32, and F16, BF16 and F64 (what
//! `torch.save_file` writes for half, bfloat16 and double tensors), converting each value to
//! the nearest f32. Files are written atomically.

use crate::error::{Error, Result};
use crate::io::write_atomic_with;
use crate::tensor::Tensor;
use safetensors::tensor::{Dtype, SafeTensorError, TensorView};
use std::collections::{BTreeMap, HashMap};
use std::path::Path;

/// A named f32 tensor to write: its name, shape and values (borrowed, so that a file is
/// written without copying the tensors first).
pub type View<'a> = (&'a str, &'a [usize], &'a [f32]);

/// The header of a file holding `views` (sorted by name, as the data is laid out) and
/// `metadata`: compact JSON with every object's keys sorted, so that equal tensors and
/// metadata give equal bytes, padded with spaces to a multiple of 8 bytes. Errors on two
/// tensors of one name or a shape that does not match the values.
fn header(views: &[View], metadata: &BTreeMap<String, String>) -> Result<Vec<u8>> {
    use serde_json::{json, Map, Value};
    let mut h = Map::new();
    if !metadata.is_empty() {
        h.insert("__metadata__".into(), Value::Object(metadata.iter().map(|(k, v)| (k.clone(), Value::String(v.clone()))).collect()));
    }
    let mut offset = 0usize;
    for &(name, shape, data) in views {
        if shape.iter().try_fold(1usize, |a, &d| a.checked_mul(d)) != Some(data.len()) {
            return Err(Error::invalid("safetensors", format!("tensor {name}: shape {shape:?} does not hold {} values", data.len())));
        }
        let end = offset + 4 * data.len();
        if h.insert(name.to_string(), json!({"dtype": "F32", "shape": shape, "data_offsets": [offset, end]})).is_some() || name == "__metadata__" {
            return Err(Error::invalid("safetensors", format!("two tensors are named {name}")));
        }
        offset = end;
    }
    let mut bytes = serde_json::to_vec(&Value::Object(h)).map_err(|e| Error::invalid("safetensors", e.to_string()))?;
    bytes.resize(bytes.len().next_multiple_of(8), b' ');
    Ok(bytes)
}

/// `views` in the file's order (by name) and the header that describes them.
fn layout<'a>(views: &[View<'a>], metadata: &BTreeMap<String, String>) -> Result<(Vec<View<'a>>, Vec<u8>)> {
    let mut sorted = views.to_vec();
    sorted.sort_by(|a, b| a.0.cmp(b.0));
    let h = header(&sorted, metadata)?;
    Ok((sorted, h))
}

/// Writes a file laid out by [`layout`]: the header's length, the header, then each tensor's
/// values in little-endian order.
fn write_file(w: &mut dyn std::io::Write, header: &[u8], sorted: &[View]) -> std::io::Result<()> {
    w.write_all(&(header.len() as u64).to_le_bytes())?;
    w.write_all(header)?;
    let mut buf = Vec::with_capacity(1 << 14);
    for (_, _, data) in sorted {
        for chunk in data.chunks(1 << 12) {
            buf.clear();
            buf.extend(chunk.iter().flat_map(|v| v.to_le_bytes()));
            w.write_all(&buf)?;
        }
    }
    Ok(())
}

fn views(tensors: &[(String, Tensor)]) -> Vec<View<'_>> {
    tensors.iter().map(|(n, t)| (n.as_str(), t.shape(), t.data())).collect()
}

/// Serialises named f32 tensors with string metadata (the tensors ordered by name in the
/// file); names must be distinct.
pub fn to_bytes(tensors: &[(String, Tensor)], metadata: &BTreeMap<String, String>) -> Result<Vec<u8>> {
    let (sorted, h) = layout(&views(tensors), metadata)?;
    let mut out = vec![];
    write_file(&mut out, &h, &sorted).map_err(|e| Error::invalid("safetensors", e.to_string()))?;
    Ok(out)
}

/// Writes named tensors to `path` atomically.
pub fn save(path: &Path, tensors: &[(String, Tensor)], metadata: &BTreeMap<String, String>) -> Result<()> {
    save_views(path, &views(tensors), metadata)
}

/// [`save`] of borrowed values, written as they are read (no copy of the file in memory).
/// Tensors that cannot be written are refused before the file is touched.
pub fn save_views(path: &Path, views: &[View], metadata: &BTreeMap<String, String>) -> Result<()> {
    let (sorted, h) = layout(views, metadata).map_err(|e| Error::parse(path, 0, "tensors", e.to_string()))?;
    write_atomic_with(path, |w| write_file(w, &h, &sorted))
}

/// The field an error of the crate is about, and what is wrong, in words.
fn describe(e: &SafeTensorError, len: usize) -> (String, String) {
    match e {
        SafeTensorError::HeaderTooSmall => ("header".into(), format!("file is {len} bytes, too short for a safetensors header")),
        SafeTensorError::InvalidHeaderLength => ("header".into(), format!("the header length exceeds the file size {len}")),
        SafeTensorError::HeaderTooLarge => ("header".into(), "the header is larger than the 100 MB the format allows".into()),
        SafeTensorError::InvalidHeader(e) => ("header".into(), format!("not UTF-8: {e}")),
        SafeTensorError::InvalidHeaderDeserialization(e) => ("header".into(), format!("not a valid safetensors JSON header: {e}")),
        SafeTensorError::InvalidOffset(name) => {
            (name.clone(), "data_offsets overlap another tensor, leave a gap or do not start where the previous tensor ends".into())
        }
        SafeTensorError::TensorInvalidInfo => ("data_offsets".into(), "a tensor's data_offsets do not span its shape × dtype size".into()),
        SafeTensorError::MetadataIncompleteBuffer => ("data_offsets".into(), format!("the tensors do not cover the data exactly (file is {len} bytes)")),
        SafeTensorError::ValidationOverflow => ("shape".into(), "shape too large".into()),
        e => ("header".into(), e.to_string()),
    }
}

/// One tensor's values as f32 (F32, F16, BF16 and F64; others are refused).
fn to_f32(name: &str, v: &TensorView, path: &Path) -> Result<Vec<f32>> {
    let d = v.data();
    let vals = match v.dtype() {
        Dtype::F32 => d.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect(),
        Dtype::F16 => d.chunks_exact(2).map(|c| half::f16::from_le_bytes([c[0], c[1]]).to_f32()).collect(),
        Dtype::BF16 => d.chunks_exact(2).map(|c| half::bf16::from_le_bytes([c[0], c[1]]).to_f32()).collect(),
        Dtype::F64 => d.chunks_exact(8).map(|c| f64::from_le_bytes(c.try_into().expect("8 bytes")) as f32).collect(),
        other => return Err(Error::parse(path, 0, name, format!("dtype {other:?} is not supported (only F32, F16, BF16, F64)"))),
    };
    Ok(vals)
}

/// Parses safetensors bytes into f32 tensors and the string metadata; `path` names the file in
/// errors.
pub fn from_bytes(bytes: &[u8], path: &Path) -> Result<(HashMap<String, Tensor>, BTreeMap<String, String>)> {
    let st = safetensors::SafeTensors::deserialize(bytes).map_err(|e| {
        let (field, msg) = describe(&e, bytes.len());
        Error::parse(path, 0, &field, msg)
    })?;
    let (_, header) = safetensors::SafeTensors::read_metadata(bytes).map_err(|e| Error::parse(path, 0, "header", e.to_string()))?;
    let meta: BTreeMap<String, String> = header.metadata().clone().unwrap_or_default().into_iter().collect();
    let mut out = HashMap::new();
    for (name, v) in st.iter() {
        let vals = to_f32(name, &v, path)?;
        let t = Tensor::from_vec(vals, v.shape()).map_err(|e| Error::parse(path, 0, name, e.to_string()))?;
        out.insert(name.to_string(), t);
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
    fn equal_tensors_and_metadata_give_equal_bytes() {
        let t = vec![("b".to_string(), Tensor::from_vec(vec![1.0, 2.0], &[2]).unwrap()), ("a".to_string(), Tensor::zeros(&[3]))];
        let md: BTreeMap<String, String> = (0..12).map(|i| (format!("key{i}"), format!("value {i}"))).collect();
        let first = to_bytes(&t, &md).unwrap();
        for _ in 0..8 {
            assert_eq!(to_bytes(&t, &md).unwrap(), first);
        }
        let (back, md2) = from_bytes(&first, Path::new("x.safetensors")).unwrap();
        assert_eq!(md2, md);
        assert_eq!(back["b"].data(), &[1.0, 2.0]);
        assert_eq!(u64::from_le_bytes(first[..8].try_into().unwrap()) % 8, 0, "header padded to 8 bytes");
    }

    /// A file with the given JSON header (padded to 8 bytes) and data bytes, as any writer may
    /// produce it.
    fn raw(header: &str, data: &[u8]) -> Vec<u8> {
        let mut h = header.as_bytes().to_vec();
        while !h.len().is_multiple_of(8) {
            h.push(b' ');
        }
        let mut out = (h.len() as u64).to_le_bytes().to_vec();
        out.extend_from_slice(&h);
        out.extend_from_slice(data);
        out
    }

    #[test]
    fn round_trip_and_corruption() {
        let t = vec![("a".to_string(), Tensor::rand_normal(&[2, 3], 0.0, 1.0, 1)), ("b".to_string(), Tensor::scalar(4.0))];
        let mut m = BTreeMap::new();
        m.insert("k".into(), "v".into());
        let bytes = to_bytes(&t, &m).unwrap();
        let (back, meta) = from_bytes(&bytes, Path::new("x.safetensors")).unwrap();
        assert_eq!(back["a"], t[0].1);
        assert_eq!(back["b"].item().unwrap(), 4.0);
        assert_eq!(meta["k"], "v");
        for cut in [0, 5, 9, bytes.len() - 1] {
            let e = from_bytes(&bytes[..cut], Path::new("x.safetensors")).unwrap_err().to_string();
            assert!(e.contains("x.safetensors"), "{e}");
        }
    }

    #[test]
    fn half_bfloat_and_double_load_as_f32() {
        let vals = [1.5f32, -0.25, 3.0, 65504.0];
        let f16: Vec<u8> = vals.iter().flat_map(|v| half::f16::from_f32(*v).to_le_bytes()).collect();
        let bf16: Vec<u8> = vals.iter().flat_map(|v| half::bf16::from_f32(*v).to_le_bytes()).collect();
        let f64b: Vec<u8> = vals.iter().flat_map(|v| (*v as f64 + 1e-12).to_le_bytes()).collect();
        let mut data = f16.clone();
        data.extend(&bf16);
        data.extend(&f64b);
        let header = r#"{"h":{"dtype":"F16","shape":[2,2],"data_offsets":[0,8]},"b":{"dtype":"BF16","shape":[4],"data_offsets":[8,16]},"d":{"dtype":"F64","shape":[4],"data_offsets":[16,48]}}"#;
        let (t, _) = from_bytes(&raw(header, &data), Path::new("py.safetensors")).unwrap();
        assert_eq!(t["h"].shape(), &[2, 2]);
        assert_eq!(t["h"].data(), &vals);
        // 65504 is exact in f16 but rounds in bf16 (8 significant bits)
        assert_eq!(&t["b"].data()[..3], &vals[..3]);
        assert_eq!(t["b"].data()[3], half::bf16::from_f32(65504.0).to_f32());
        assert_eq!(t["d"].data(), &vals);
        let e = from_bytes(&raw(r#"{"i":{"dtype":"I32","shape":[1],"data_offsets":[0,4]}}"#, &[0; 4]), Path::new("py.safetensors")).unwrap_err().to_string();
        assert!(e.contains("py.safetensors") && e.contains("I32"), "{e}");
    }

    #[test]
    fn overlapping_and_out_of_range_tensors_are_refused() {
        let p = Path::new("bad.safetensors");
        let data = [0u8; 16];
        let cases = [
            // b reads a's bytes
            r#"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}}"#,
            // the same range twice
            r#"{"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]},"b":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}}"#,
            // past the end of the data
            r#"{"a":{"dtype":"F32","shape":[8],"data_offsets":[0,32]}}"#,
            // the offsets do not span the shape
            r#"{"a":{"dtype":"F32","shape":[3],"data_offsets":[0,16]}}"#,
            // a gap: the data is not covered
            r#"{"a":{"dtype":"F32","shape":[2],"data_offsets":[8,16]}}"#,
        ];
        for h in cases {
            let e = from_bytes(&raw(h, &data), p).unwrap_err().to_string();
            assert!(e.contains("bad.safetensors"), "{h}: {e}");
        }
        // and the well-formed version of the first loads
        let ok = r#"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[8,16]}}"#;
        assert_eq!(from_bytes(&raw(ok, &data), p).unwrap().0.len(), 2);
    }

    #[test]
    fn save_and_load_name_the_file() {
        let dir = std::env::temp_dir().join(format!("pupil-st-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("w.safetensors");
        save(&path, &[("w".into(), Tensor::ones(&[3]))], &BTreeMap::new()).unwrap();
        assert_eq!(load(&path).unwrap().0["w"], Tensor::ones(&[3]));
        std::fs::write(&path, b"garbage!garbage!").unwrap();
        assert!(load(&path).unwrap_err().to_string().contains("w.safetensors"));
        // tensors that cannot be written: an error naming the file and the tensor, and the
        // file already there is left as it was (nothing half-written replaces it)
        let (a, b) = ([1.0f32, 2.0], [3.0f32]);
        let twice: [View; 2] = [("t", &[2], &a), ("t", &[1], &b)];
        let bad_shape: [View; 1] = [("s", &[3], &a)];
        let reserved: [View; 1] = [("__metadata__", &[2], &a)];
        for (views, what) in [(&twice[..], "two tensors are named t"), (&bad_shape[..], "tensor s: shape [3]"), (&reserved[..], "__metadata__")] {
            let e = save_views(&path, views, &BTreeMap::new()).unwrap_err().to_string();
            assert!(e.contains("w.safetensors") && e.contains(what), "{e}");
            assert_eq!(std::fs::read(&path).unwrap(), b"garbage!garbage!");
        }
        let views: [View; 2] = [("z", &[1], &b), ("a", &[2, 1], &a)];
        save_views(&path, &views, &BTreeMap::new()).unwrap();
        let back = load(&path).unwrap().0;
        assert_eq!((back["a"].shape(), back["a"].data(), back["z"].data()), (&[2, 1][..], &a[..], &b[..]));
        assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 1, "no temporary file is left");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
