//! Small file helpers shared by every layer that writes files.

use crate::error::{Error, Result};
use std::io::Write;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};

/// Writes `path` atomically: the bytes go to a temporary file in the same directory, which is
/// synced and then renamed over `path`, so a crash leaves either the old file or the new one,
/// never a torn one. Errors name `path`.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    write_atomic_with(path, |w| w.write_all(bytes))
}

/// [`write_atomic`] of what `write` writes (through a buffer), for a file too large to build in
/// memory first.
pub fn write_atomic_with(path: &Path, write: impl FnOnce(&mut dyn Write) -> std::io::Result<()>) -> Result<()> {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let name = path.file_name().ok_or_else(|| Error::io(path, std::io::Error::new(std::io::ErrorKind::InvalidInput, "not a file path")))?;
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let tmp = path.with_file_name(format!(".{}.{}-{n}.tmp", name.to_string_lossy(), std::process::id()));
    let res = (|| {
        let mut w = std::io::BufWriter::with_capacity(1 << 16, std::fs::File::create(&tmp)?);
        write(&mut w)?;
        let f = w.into_inner().map_err(|e| e.into_error())?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if res.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    res.map_err(|e| Error::io(path, e))
}

/// True if `name` is a temporary file of [`write_atomic`]: `.NAME.PID-N.tmp`; returns the PID.
fn temporary_pid(name: &str) -> Option<u32> {
    let inner = name.strip_prefix('.')?.strip_suffix(".tmp")?;
    let (_, tail) = inner.rsplit_once('.')?;
    let (pid, n) = tail.split_once('-')?;
    n.parse::<u64>().ok()?;
    pid.parse().ok()
}

/// Removes the temporary files that [`write_atomic`] calls in `dir` left behind when they were
/// killed (files `.NAME.PID-N.tmp` of other processes: a directory written by one process at
/// a time, like a run directory, has no live writer but this one). Returns how many.
pub fn remove_stale_temporaries(dir: &Path) -> Result<usize> {
    let mut removed = 0;
    for e in std::fs::read_dir(dir).map_err(|e| Error::io(dir, e))? {
        let e = e.map_err(|e| Error::io(dir, e))?;
        let stale = e.file_name().to_str().and_then(temporary_pid).is_some_and(|pid| pid != std::process::id());
        if stale && e.file_type().is_ok_and(|t| t.is_file()) {
            std::fs::remove_file(e.path()).map_err(|err| Error::io(e.path(), err))?;
            removed += 1;
        }
    }
    Ok(removed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_replaces_and_names_the_path_on_error() {
        let dir = std::env::temp_dir().join(format!("pupil-io-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("a.txt");
        write_atomic(&p, b"one").unwrap();
        write_atomic(&p, b"two").unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), b"two");
        assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 1, "no temporary file left behind");
        let bad = dir.join("missing").join("b.txt");
        assert!(write_atomic(&bad, b"x").unwrap_err().to_string().contains("missing"));
    }

    #[test]
    fn stale_temporaries_of_other_processes_are_removed() {
        let dir = std::env::temp_dir().join(format!("pupil-io-stale-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let keep = ["model.safetensors", ".hidden", ".x.tmp", &format!(".model.safetensors.{}-3.tmp", std::process::id())];
        for f in keep.iter().chain(&[".checkpoint.safetensors.4194303-0.tmp", ".run.json.17-12.tmp"]) {
            std::fs::write(dir.join(f), b"x").unwrap();
        }
        assert_eq!(remove_stale_temporaries(&dir).unwrap(), 2);
        let mut left: Vec<String> = std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
        left.sort();
        let mut want: Vec<String> = keep.iter().map(|s| s.to_string()).collect();
        want.sort();
        assert_eq!(left, want);
    }
}
