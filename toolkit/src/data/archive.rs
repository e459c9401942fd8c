//! Members of archives that come from outside (a user's zip corpus, a downloaded wheel or sdist,
//! the 20 Newsgroups tarball), read so that no member lands or reads outside where it belongs: a
//! member name must be a plain relative path (no `..`, no root), links are refused (a symlink
//! member would make a later write or read follow it out of the directory), and the bytes a
//! member expands to are capped, so a zip bomb is an error naming the member rather than a full
//! disk or an allocation the size of a lie in its header.

use std::fs::File;
use std::io::{Read, Write};
use std::path::{Component, Path, PathBuf};

use anyhow::{Context, Result, bail};

/// The most bytes one member may expand to (4 GiB): far above any corpus or model these
/// archives carry, far below a zip bomb's petabytes.
pub const MAX_MEMBER_BYTES: u64 = 4 << 30;

/// `name` (a member of `archive`) as a relative path that stays inside the directory it is
/// extracted to: `.` parts are dropped; `..`, a root or a drive prefix, and an empty name are
/// errors naming the archive and the member.
pub fn member_path(archive: &Path, name: &str) -> Result<PathBuf> {
    let mut out = PathBuf::new();
    for part in Path::new(name).components() {
        match part {
            Component::Normal(p) => out.push(p),
            Component::CurDir => {}
            Component::ParentDir | Component::RootDir | Component::Prefix(_) => bail!(
                "{}: member `{name}` points outside the archive's directory (expected a relative \
                 path without `..`); the archive is damaged or malicious",
                archive.display()
            ),
        }
    }
    if out.as_os_str().is_empty() {
        bail!("{}: member `{name}` has no file name", archive.display());
    }
    Ok(out)
}

/// What kind of entry an archive member is, as far as extracting it goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MemberKind {
    /// A regular file: its bytes are the member.
    File,
    /// A directory entry: nothing to read.
    Directory,
    /// A symbolic or hard link, a device, a FIFO: refused.
    Other,
}

/// The kind of a zip member: zip has no entry type, only a trailing `/` for directories and, when
/// written on Unix, the file mode in the external attributes (where a symlink shows up).
pub fn zip_member_kind(entry: &zip::read::ZipFile<'_>) -> MemberKind {
    const S_IFMT: u32 = 0o170_000;
    const S_IFREG: u32 = 0o100_000;
    const S_IFDIR: u32 = 0o040_000;
    if entry.is_dir() {
        return MemberKind::Directory;
    }
    match entry.unix_mode().map(|m| m & S_IFMT) {
        None | Some(0) | Some(S_IFREG) => MemberKind::File,
        Some(S_IFDIR) => MemberKind::Directory,
        Some(_) => MemberKind::Other,
    }
}

/// The kind of a tar member (GNU and ustar types; pax and long-name headers are consumed by the
/// `tar` crate before an entry is seen).
pub fn tar_member_kind(kind: tar::EntryType) -> MemberKind {
    if kind.is_file() || kind.is_contiguous() {
        MemberKind::File
    } else if kind.is_dir() {
        MemberKind::Directory
    } else {
        MemberKind::Other
    }
}

/// Refuses a member that is not a regular file (the only kind extracted or read).
pub fn require_file(kind: MemberKind, archive: &Path, name: &str) -> Result<()> {
    match kind {
        MemberKind::File => Ok(()),
        MemberKind::Directory => bail!(
            "{}: member `{name}` is a directory, expected a file",
            archive.display()
        ),
        MemberKind::Other => bail!(
            "{}: member `{name}` is a link or special file, expected a regular file (links are \
             not followed out of an archive)",
            archive.display()
        ),
    }
}

/// Reads a member into memory, refusing more than `cap` bytes.
pub fn read_member(reader: &mut dyn Read, cap: u64, archive: &Path, name: &str) -> Result<Vec<u8>> {
    let mut bytes = Vec::new();
    copy_capped(reader, &mut bytes, cap, archive, name)?;
    Ok(bytes)
}

/// Streams a member to `target` (a uniquely named temporary file beside it, renamed into place
/// once complete: [`crate::fs::atomic_write_with`]), refusing more than `cap` bytes: an
/// interrupted or refused extraction leaves no half file under the final name.
pub fn save_member(
    reader: &mut dyn Read,
    target: &Path,
    cap: u64,
    archive: &Path,
    name: &str,
) -> Result<()> {
    crate::fs::atomic_write_with(target, |file| {
        copy_capped(reader, file, cap, archive, name).map(drop)
    })
}

/// A reader that fails once more than `cap` bytes have come through it: wrapped around a
/// decompressor, it bounds what a whole archive may expand to. The `tar` crate reads GNU
/// long-name and pax entries into memory whole, before any per-member cap applies, so a bomb
/// made of one such entry is stopped here.
pub struct CappedReader<R> {
    inner: R,
    left: u64,
    what: String,
}

impl<R: Read> CappedReader<R> {
    /// `inner`, refusing more than `cap` bytes; `what` names the stream in the error.
    pub fn new(inner: R, cap: u64, what: String) -> Self {
        Self {
            inner,
            left: cap,
            what,
        }
    }
}

impl<R: Read> Read for CappedReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.left == 0 {
            // One probing byte tells a stream of exactly `cap` bytes from a longer one.
            let mut probe = [0u8; 1];
            return match self.inner.read(&mut probe)? {
                0 => Ok(0),
                _ => Err(std::io::Error::other(format!(
                    "{} expands to more than its cap (a decompression bomb or a damaged archive)",
                    self.what
                ))),
            };
        }
        let want = buf
            .len()
            .min(usize::try_from(self.left).unwrap_or(usize::MAX));
        let n = self.inner.read(&mut buf[..want])?;
        self.left -= n as u64;
        Ok(n)
    }
}

/// Copies at most `cap` bytes; one byte more is an error (reading `cap + 1` tells a member of
/// exactly `cap` bytes from a larger one without trusting any size its header declares).
fn copy_capped(
    reader: &mut dyn Read,
    writer: &mut dyn Write,
    cap: u64,
    archive: &Path,
    name: &str,
) -> Result<u64> {
    let copied = std::io::copy(&mut reader.take(cap.saturating_add(1)), writer)
        .with_context(|| format!("{}: reading member `{name}`", archive.display()))?;
    if copied > cap {
        bail!(
            "{}: member `{name}` expands to more than {cap} bytes (a zip bomb or a damaged \
             archive); unpack it yourself if it is genuine",
            archive.display()
        );
    }
    Ok(copied)
}

/// Extracts `member` from the zip at `zip_path` to `dir/member` once (an existing file is kept),
/// with [`MAX_MEMBER_BYTES`] as the cap.
pub fn unzip_member(zip_path: &Path, member: &str, dir: &Path) -> Result<PathBuf> {
    unzip_member_capped(zip_path, member, dir, MAX_MEMBER_BYTES)
}

/// [`unzip_member`] with its own cap on the member's size.
pub fn unzip_member_capped(zip_path: &Path, member: &str, dir: &Path, cap: u64) -> Result<PathBuf> {
    let target = dir.join(member_path(zip_path, member)?);
    if target.is_file() {
        return Ok(target);
    }
    let file =
        File::open(zip_path).with_context(|| format!("cannot open {}", zip_path.display()))?;
    let mut zip = zip::ZipArchive::new(file)
        .with_context(|| format!("{}: not a zip archive", zip_path.display()))?;
    let mut entry = zip
        .by_name(member)
        .with_context(|| format!("{} does not contain {member}", zip_path.display()))?;
    require_file(zip_member_kind(&entry), zip_path, member)?;
    // The declared size is checked first for a quick, clear refusal; the copy's own cap catches a
    // header that lies.
    if entry.size() > cap {
        bail!(
            "{}: member `{member}` declares {} bytes, more than the {cap} allowed (a zip bomb or \
             a damaged archive)",
            zip_path.display(),
            entry.size()
        );
    }
    save_member(&mut entry, &target, cap, zip_path, member)?;
    Ok(target)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Cursor;

    fn zip_with(members: &[(&str, &[u8])]) -> Vec<u8> {
        let mut zip = zip::ZipWriter::new(Cursor::new(Vec::new()));
        let options =
            zip::write::FileOptions::default().compression_method(zip::CompressionMethod::Deflated);
        for (name, body) in members {
            zip.start_file(*name, options).unwrap();
            zip.write_all(body).unwrap();
        }
        zip.finish().unwrap().into_inner()
    }

    #[test]
    fn a_capped_stream_allows_exactly_its_cap() {
        let mut exact = CappedReader::new(&[1u8; 10][..], 10, "ten".into());
        let mut out = Vec::new();
        assert_eq!(exact.read_to_end(&mut out).unwrap(), 10);
        let mut over = CappedReader::new(&[1u8; 11][..], 10, "eleven".into());
        let err = over.read_to_end(&mut Vec::new()).unwrap_err().to_string();
        assert!(err.contains("eleven expands to more than its cap"), "{err}");
    }

    #[test]
    fn member_names_must_stay_inside() {
        let a = Path::new("a.zip");
        assert_eq!(
            member_path(a, "./data/x.csv").unwrap(),
            Path::new("data/x.csv")
        );
        for bad in ["../../x.csv", "data/../../x.csv", "/etc/x.csv", "", "./"] {
            let err = format!("{:#}", member_path(a, bad).unwrap_err());
            assert!(
                err.contains("a.zip") && err.contains(&format!("`{bad}`")),
                "{err}"
            );
        }
    }

    #[test]
    fn a_zip_member_cannot_escape_the_data_directory() {
        let root = test_support::temp_dir("archive", "escape");
        let data = root.join("a/b/data");
        std::fs::create_dir_all(&data).unwrap();
        let zip = root.join("a/b/corpus.zip");
        std::fs::write(&zip, zip_with(&[("../../x.csv", b"text\nowned\n")])).unwrap();
        let err = format!(
            "{:#}",
            unzip_member(&zip, "../../x.csv", &data).unwrap_err()
        );
        assert!(
            err.contains("corpus.zip") && err.contains("../../x.csv") && err.contains("outside"),
            "{err}"
        );
        assert_eq!(
            test_support::tree(&root),
            ["a", "a/b", "a/b/corpus.zip", "a/b/data"]
        );
        std::fs::remove_dir_all(root).ok();
    }

    #[test]
    fn a_zip_symlink_member_is_refused() {
        let root = test_support::temp_dir("archive", "symlink");
        let mut zip = zip::ZipWriter::new(Cursor::new(Vec::new()));
        zip.add_symlink("x.csv", "/etc/passwd", zip::write::FileOptions::default())
            .unwrap();
        let path = root.join("corpus.zip");
        std::fs::write(&path, zip.finish().unwrap().into_inner()).unwrap();
        let data = root.join("data");
        let err = format!("{:#}", unzip_member(&path, "x.csv", &data).unwrap_err());
        assert!(
            err.contains("corpus.zip") && err.contains("`x.csv`") && err.contains("link"),
            "{err}"
        );
        assert!(!data.join("x.csv").exists());
        std::fs::remove_dir_all(root).ok();
    }

    #[test]
    fn a_zip_bomb_is_an_error_naming_the_member_and_leaves_nothing() {
        let root = test_support::temp_dir("archive", "bomb");
        let zeros = vec![0u8; 4 << 20];
        let path = root.join("bomb.zip");
        std::fs::write(&path, zip_with(&[("big.csv", &zeros)])).unwrap();
        assert!(std::fs::metadata(&path).unwrap().len() < 64 << 10);
        let data = root.join("data");
        let err = format!(
            "{:#}",
            unzip_member_capped(&path, "big.csv", &data, 1 << 20).unwrap_err()
        );
        assert!(
            err.contains("bomb.zip") && err.contains("`big.csv`") && err.contains("1048576"),
            "{err}"
        );
        // A header that lies about the size is caught while copying, and the part file goes.
        let err = format!(
            "{:#}",
            save_member(
                &mut Cursor::new(&zeros),
                &data.join("big.csv"),
                1 << 20,
                &path,
                "big.csv"
            )
            .unwrap_err()
        );
        assert!(err.contains("more than 1048576 bytes"), "{err}");
        assert!(
            test_support::tree(&data).is_empty(),
            "{:?}",
            test_support::tree(&data)
        );
        // Exactly at the cap is fine.
        let out = unzip_member_capped(&path, "big.csv", &data, 4 << 20).unwrap();
        assert_eq!(std::fs::metadata(out).unwrap().len(), 4 << 20);
        std::fs::remove_dir_all(root).ok();
    }

    #[test]
    fn tar_kinds() {
        assert_eq!(tar_member_kind(tar::EntryType::Regular), MemberKind::File);
        assert_eq!(
            tar_member_kind(tar::EntryType::Directory),
            MemberKind::Directory
        );
        for other in [
            tar::EntryType::Symlink,
            tar::EntryType::Link,
            tar::EntryType::Fifo,
            tar::EntryType::Char,
        ] {
            assert_eq!(tar_member_kind(other), MemberKind::Other);
        }
        let err = require_file(MemberKind::Other, Path::new("t.tar.gz"), "p/x").unwrap_err();
        assert!(
            err.to_string().contains("t.tar.gz: member `p/x` is a link"),
            "{err}"
        );
    }
}
