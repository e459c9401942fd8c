//! # burn-lightning-fs
//!
//! Writing output files so that a reader (or a crash) sees the old content or the new, never a
//! mix ([`atomic_write`]), and sweeping the temporaries a killed writer left behind
//! ([`remove_stale_temporaries`]).
//!
//! A crate of its own, below both the trainer (checkpoints, loggers, `hparams.yaml`) and the
//! toolkit (Hugging Face checkpoints, tokenizers, unpacked archives): each re-exports it as its
//! `fs` module, so there is one copy, and the trainer does not compile the toolkit's
//! dependencies (tokenizers, archive readers, burn's `extension`/`pytorch` features) to get it.

use std::fs::{self, File, OpenOptions};
use std::io::{ErrorKind, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use anyhow::{Context, Result};

/// Writes `bytes` to `path` atomically: a temporary file beside it (a name unique to this
/// process, thread and call, created exclusively so that no other writer can share it), fsync,
/// rename over `path`, fsync of the directory. On any error the temporary file is removed and
/// `path` keeps its previous content. Two writers racing on one path both succeed; the file
/// ends up holding one of their contents, whole.
pub fn atomic_write(path: &Path, bytes: &[u8]) -> Result<()> {
    atomic_write_with(path, |file| {
        file.write_all(bytes)
            .with_context(|| format!("cannot write the temporary file for {}", path.display()))
    })
}

/// [`atomic_write`] for content that is streamed rather than held in memory (an archive member
/// of gigabytes): `write` fills the temporary file; an error from it removes the temporary and
/// leaves `path` as it was.
pub fn atomic_write_with(path: &Path, write: impl FnOnce(&mut File) -> Result<()>) -> Result<()> {
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    fs::create_dir_all(dir)
        .with_context(|| format!("cannot create directory {}", dir.display()))?;
    let file_name = path
        .file_name()
        .with_context(|| format!("{} has no file name", path.display()))?;
    remove_stale_temporaries(dir);
    let (tmp, file) = create_temp(dir, &file_name.to_string_lossy())?;
    // Never leave a stray temporary behind (a later writer would not reuse it), also when
    // `write` panics: the guard removes it unless the rename consumed it.
    let mut guard = TempGuard(Some(tmp.clone()));
    write_and_rename(file, &tmp, path, write)?;
    guard.0 = None;
    // The rename is only durable once the directory entry is on disk.
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(())
}

/// Removes the temporary file it holds when dropped (an error or a panic before the rename).
struct TempGuard(Option<PathBuf>);

impl Drop for TempGuard {
    fn drop(&mut self) {
        if let Some(tmp) = self.0.take() {
            let _ = fs::remove_file(tmp);
        }
    }
}

/// Removes the temporaries that killed processes left in `dir` (`.NAME.tmp.PID.N.CLOCK` whose
/// PID no longer runs): a SIGKILL between creating one and renaming it leaves a full-size copy
/// (a whole checkpoint) that no later write would reuse. Files of live processes, and names
/// that are not ours, are left alone; failures are ignored (this is housekeeping).
pub fn remove_stale_temporaries(dir: &Path) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(pid) = name.to_str().and_then(temporary_owner) else {
            continue;
        };
        if pid != std::process::id() && !process_is_alive(pid) {
            let _ = fs::remove_file(entry.path());
        }
    }
}

/// The process id in a temporary's name `.NAME.tmp.PID.N.CLOCK`.
fn temporary_owner(name: &str) -> Option<u32> {
    let rest = name.strip_prefix('.')?;
    let at = rest.rfind(".tmp.")?;
    let mut fields = rest[at + 5..].split('.');
    let pid = fields.next()?.parse().ok()?;
    let counter_and_clock = (fields.next()?, fields.next()?);
    (fields.next().is_none()
        && counter_and_clock.0.parse::<u64>().is_ok()
        && u32::from_str_radix(counter_and_clock.1, 16).is_ok())
    .then_some(pid)
}

#[cfg(unix)]
fn process_is_alive(pid: u32) -> bool {
    // kill(pid, 0) delivers nothing; ESRCH means no such process (EPERM: alive, not ours).
    let Ok(pid) = libc::pid_t::try_from(pid) else {
        return true;
    };
    // SAFETY: signal 0 only checks that the process exists.
    let delivered = unsafe { libc::kill(pid, 0) } == 0;
    delivered || std::io::Error::last_os_error().raw_os_error() != Some(libc::ESRCH)
}

#[cfg(not(unix))]
fn process_is_alive(_pid: u32) -> bool {
    true
}

/// A new temporary file in `dir`, created with `create_new` (O_EXCL): the name carries the
/// process id, a per-process counter and the clock, and a name that exists already (a
/// leftover of a killed process with a recycled pid) is skipped rather than shared.
fn create_temp(dir: &Path, name: &str) -> Result<(PathBuf, File)> {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    let mut last_error = None;
    for _ in 0..64 {
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let tmp = dir.join(format!(
            ".{name}.tmp.{}.{n}.{nanos:08x}",
            std::process::id()
        ));
        match OpenOptions::new().write(true).create_new(true).open(&tmp) {
            Ok(file) => return Ok((tmp, file)),
            Err(e) if e.kind() == ErrorKind::AlreadyExists => last_error = Some(e),
            Err(e) => {
                return Err(e).with_context(|| format!("cannot create {}", tmp.display()));
            }
        }
    }
    Err(last_error.expect("64 attempts")).with_context(|| {
        format!(
            "cannot create a temporary file for {name} in {}",
            dir.display()
        )
    })
}

fn write_and_rename(
    mut file: File,
    tmp: &Path,
    path: &Path,
    write: impl FnOnce(&mut File) -> Result<()>,
) -> Result<()> {
    write(&mut file)?;
    file.sync_all()
        .with_context(|| format!("cannot fsync {}", tmp.display()))?;
    drop(file);
    fs::rename(tmp, path)
        .with_context(|| format!("cannot rename {} to {}", tmp.display(), path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_dir(tag: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("bl-fs-{tag}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn temporaries_of_dead_processes_are_swept_and_others_kept() {
        let dir = temp_dir("stale");
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let dead = child.id();
        child.wait().unwrap();
        let alive = std::os::unix::process::parent_id();
        let names = [
            format!(".last.ckpt.tmp.{dead}.3.0000beef"),
            format!(".last.ckpt.tmp.{alive}.3.0000beef"),
            format!("notes.tmp.{dead}.3.0000beef"),
            "last.ckpt".to_string(),
        ];
        for name in &names {
            fs::write(dir.join(name), b"x").unwrap();
        }
        remove_stale_temporaries(&dir);
        let mut left: Vec<String> = fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        left.sort();
        let mut expected = names[1..].to_vec();
        expected.sort();
        assert_eq!(left, expected);
        // A write into the directory sweeps it too.
        fs::write(dir.join(&names[0]), b"x").unwrap();
        atomic_write(&dir.join("last.ckpt"), b"new").unwrap();
        assert!(!dir.join(&names[0]).exists());
        fs::remove_dir_all(dir).ok();
    }

    fn leftovers(dir: &Path) -> Vec<String> {
        fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.contains(".tmp."))
            .collect()
    }

    #[test]
    fn concurrent_writers_of_one_path_all_succeed_and_leave_one_whole_content() {
        let dir = temp_dir("race");
        let path = dir.join("out.json");
        let barrier = std::sync::Barrier::new(16);
        std::thread::scope(|s| {
            for t in 0..16u8 {
                let (path, barrier) = (&path, &barrier);
                s.spawn(move || {
                    barrier.wait();
                    for _ in 0..20 {
                        atomic_write(path, &vec![t; 4096]).unwrap();
                    }
                });
            }
        });
        let bytes = fs::read(&path).unwrap();
        assert_eq!(bytes.len(), 4096);
        assert!(bytes.iter().all(|&b| b == bytes[0]), "a mix of writers");
        assert!(leftovers(&dir).is_empty(), "{:?}", leftovers(&dir));
        fs::remove_dir_all(dir).ok();
    }

    #[test]
    fn a_failed_write_keeps_the_old_content_and_removes_its_temporary() {
        let dir = temp_dir("fail");
        // A non-empty directory where the file should go: the rename fails.
        let path = dir.join("taken");
        fs::create_dir_all(path.join("inside")).unwrap();
        let e = atomic_write(&path, b"new").unwrap_err();
        assert!(format!("{e:#}").contains("cannot rename"), "{e:#}");
        assert!(leftovers(&dir).is_empty(), "{:?}", leftovers(&dir));
        assert!(path.join("inside").is_dir());
        let file = dir.join("kept.txt");
        atomic_write(&file, b"old").unwrap();
        assert_eq!(fs::read(&file).unwrap(), b"old");
        fs::remove_dir_all(dir).ok();
    }
}
