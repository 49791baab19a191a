//! Numbered runs: a plain `pupil train` writes a new directory `runs/run-001`, `run-002`, …
//! and points `runs/latest` at it, so that no run is ever replaced by the next one. On Unix
//! `latest` is a relative symbolic link (`latest -> run-002`); elsewhere it is a small file
//! holding the directory's name. Commands that take `--run` default to [`latest`].

use super::RunDir;
use crate::error::{Error, Result};
use std::path::{Path, PathBuf};

/// Where numbered runs go by default.
pub const RUNS_BASE: &str = "runs";
/// The name of the pointer to the newest run in [`RUNS_BASE`].
pub const LATEST: &str = "latest";

/// The number of a directory named `run-NNN`.
fn run_number(name: &str) -> Option<u64> {
    name.strip_prefix("run-").filter(|d| !d.is_empty() && d.bytes().all(|b| b.is_ascii_digit())).and_then(|d| d.parse().ok())
}

/// The highest `run-NNN` in `base` (0 when there is none or `base` does not exist).
fn highest(base: &Path) -> Result<u64> {
    let entries = match std::fs::read_dir(base) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(0),
        Err(e) => return Err(Error::io(base, e)),
    };
    let mut max = 0;
    for e in entries {
        let e = e.map_err(|e| Error::io(base, e))?;
        if let Some(n) = e.file_name().to_str().and_then(run_number) {
            max = max.max(n);
        }
    }
    Ok(max)
}

/// Creates the next numbered run directory in `base` (`run-001` when there is none) and
/// points `base/latest` at it. A `base/latest` that is a real directory (the single run of
/// older versions) is first renamed to a numbered run, so it is kept.
pub fn new_run(base: &Path) -> Result<RunDir> {
    std::fs::create_dir_all(base).map_err(|e| Error::io(base, e))?;
    let latest = base.join(LATEST);
    if std::fs::symlink_metadata(&latest).is_ok_and(|m| m.is_dir()) {
        let kept = create_next(base)?;
        std::fs::remove_dir(&kept).map_err(|e| Error::io(&kept, e))?;
        std::fs::rename(&latest, &kept).map_err(|e| Error::io(&latest, e))?;
    }
    let dir = create_next(base)?;
    point_latest(base, &dir)?;
    Ok(RunDir::new(dir))
}

/// Creates `run-(highest+1)`; another process taking the same number makes it try the next.
fn create_next(base: &Path) -> Result<PathBuf> {
    let mut n = highest(base)? + 1;
    loop {
        let dir = base.join(format!("run-{n:03}"));
        match std::fs::create_dir(&dir) {
            Ok(()) => return Ok(dir),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => n += 1,
            Err(e) => return Err(Error::io(dir, e)),
        }
    }
}

/// Points `base/latest` at `dir` (a directory in `base`), replacing the old pointer in one
/// rename.
fn point_latest(base: &Path, dir: &Path) -> Result<()> {
    let name = dir.file_name().ok_or_else(|| Error::invalid("--out", format!("{} has no directory name", dir.display())))?;
    let tmp = base.join(format!(".{LATEST}.{}.tmp", std::process::id()));
    let _ = std::fs::remove_file(&tmp);
    #[cfg(unix)]
    std::os::unix::fs::symlink(name, &tmp).map_err(|e| Error::io(&tmp, e))?;
    #[cfg(not(unix))]
    std::fs::write(&tmp, name.to_string_lossy().as_bytes()).map_err(|e| Error::io(&tmp, e))?;
    std::fs::rename(&tmp, base.join(LATEST)).map_err(|e| Error::io(base.join(LATEST), e))
}

/// The newest run in `base`: where `base/latest` points (a link or a pointer file), else a
/// `base/latest` directory, else the highest `run-NNN`. The error says how to make one.
pub fn latest(base: &Path) -> Result<PathBuf> {
    let link = base.join(LATEST);
    if let Ok(m) = std::fs::symlink_metadata(&link) {
        if m.file_type().is_symlink() || m.is_dir() {
            return Ok(link);
        }
        if m.is_file() {
            let name = std::fs::read_to_string(&link).map_err(|e| Error::io(&link, e))?;
            return Ok(base.join(name.trim()));
        }
    }
    match highest(base)? {
        0 => Err(Error::invalid("--run", format!("no run in {}: train one with `pupil train`, or give --run", base.display()))),
        n => Ok(base.join(format!("run-{n:03}"))),
    }
}

impl RunDir {
    /// The run directory `run`, or the newest run in [`RUNS_BASE`] ([`latest`]) without one;
    /// it must hold a model ([`RunDir::open`]). What `--run` of eval, predict and the explain
    /// commands means.
    pub fn resolve(run: Option<&Path>) -> Result<RunDir> {
        match run {
            Some(p) => RunDir::open(p),
            None => RunDir::open(latest(Path::new(RUNS_BASE))?),
        }
    }

    /// True if the directory holds (part of) a run: a model or a checkpoint.
    pub fn holds_run(&self) -> bool {
        self.file(super::MODEL).exists() || self.file(super::CHECKPOINT).exists()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tmp(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("pupil-numbered-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        d
    }

    #[test]
    fn runs_are_numbered_and_latest_follows() {
        let base = tmp("numbered");
        assert!(latest(&base).unwrap_err().to_string().contains("pupil train"));
        let a = new_run(&base).unwrap();
        assert_eq!(a.path(), base.join("run-001"));
        std::fs::write(a.file("x"), "first").unwrap();
        let b = new_run(&base).unwrap();
        assert_eq!(b.path(), base.join("run-002"));
        // the first run is untouched; latest leads to the second
        assert_eq!(std::fs::read_to_string(a.file("x")).unwrap(), "first");
        std::fs::write(b.file("x"), "second").unwrap();
        assert_eq!(std::fs::read_to_string(latest(&base).unwrap().join("x")).unwrap(), "second");
        assert!(run_number("run-").is_none() && run_number("run-1a").is_none() && run_number("run-010") == Some(10));
    }

    #[test]
    fn an_old_latest_directory_is_kept_as_a_numbered_run() {
        let base = tmp("old-latest");
        std::fs::create_dir_all(base.join(LATEST)).unwrap();
        std::fs::write(base.join(LATEST).join("model.safetensors"), "old").unwrap();
        let new = new_run(&base).unwrap();
        assert_eq!(new.path(), base.join("run-002"));
        assert_eq!(std::fs::read_to_string(base.join("run-001").join("model.safetensors")).unwrap(), "old");
        assert_eq!(std::fs::canonicalize(latest(&base).unwrap()).unwrap(), std::fs::canonicalize(new.path()).unwrap());
    }
}
