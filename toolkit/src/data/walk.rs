//! The files under a corpus directory, for every reader that takes "a directory of documents"
//! (text corpora, 20 Newsgroups, BERT's corpus). Symlinks are followed, since a corpus assembled
//! from links to elsewhere is common, but every directory is entered at most once: a link back to
//! a directory already walked (`ln -s .. docs/up`, `ln -s . docs/self`) would otherwise recurse
//! without end, or exponentially with two such links. Such a link is skipped with a notice. The
//! result is sorted, so every run reads the documents in the same order.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};

/// Every regular file under `root` (recursively, following symlinks once per directory), sorted
/// by path. Names starting with `.` are passed by (hidden files, editors' lock links, VCS
/// directories, download staging). Special files (FIFOs, sockets, devices) are skipped with a
/// notice, since reading one could block forever; a dangling symlink is an error naming it.
pub fn walk_files(root: &Path) -> Result<Vec<PathBuf>> {
    let meta =
        std::fs::metadata(root).with_context(|| format!("cannot read {}", root.display()))?;
    if !meta.is_dir() {
        bail!("{} is not a directory", root.display());
    }
    let mut visited = HashSet::new();
    visited.insert(dir_id(root, &meta)?);
    // Directories containing the root: a link to one of them leads back into the corpus from
    // above, a loop even though the directory itself has not been entered yet.
    let root_real = std::fs::canonicalize(root)
        .with_context(|| format!("cannot resolve {}", root.display()))?;
    let mut files = Vec::new();
    let mut pending = vec![root.to_path_buf()];
    while let Some(dir) = pending.pop() {
        let entries =
            std::fs::read_dir(&dir).with_context(|| format!("cannot list {}", dir.display()))?;
        let mut names = Vec::new();
        for entry in entries {
            let entry = entry.with_context(|| format!("cannot list {}", dir.display()))?;
            names.push(entry.file_name());
        }
        // Sorted so the same tree always yields the same first visit of a shared directory.
        names.sort();
        for name in names.iter().rev() {
            if name.to_string_lossy().starts_with('.') {
                continue;
            }
            let path = dir.join(name);
            let link = std::fs::symlink_metadata(&path)
                .with_context(|| format!("cannot read {}", path.display()))?;
            let meta = if link.file_type().is_symlink() {
                std::fs::metadata(&path).with_context(|| {
                    format!(
                        "{}: a symbolic link whose target cannot be read (dangling or a loop)",
                        path.display()
                    )
                })?
            } else {
                link
            };
            if meta.is_file() {
                files.push(path);
            } else if meta.is_dir() {
                let id = dir_id(&path, &meta)?;
                let real = std::fs::canonicalize(&path)
                    .with_context(|| format!("cannot resolve {}", path.display()))?;
                if root_real.starts_with(&real) || !visited.insert(id) {
                    eprintln!(
                        "notice: skipping {}: it leads to {}, which is already being read (a \
                         symlink loop, or a second link to the same directory)",
                        path.display(),
                        real.display()
                    );
                    continue;
                }
                pending.push(path);
            } else {
                eprintln!(
                    "notice: skipping {}: not a regular file or directory",
                    path.display()
                );
            }
        }
    }
    files.sort();
    Ok(files)
}

/// What identifies a directory however it is reached: (device, inode) on Unix, the resolved
/// path elsewhere.
#[cfg(unix)]
fn dir_id(_path: &Path, meta: &std::fs::Metadata) -> Result<(u64, u64, PathBuf)> {
    use std::os::unix::fs::MetadataExt;
    Ok((meta.dev(), meta.ino(), PathBuf::new()))
}

#[cfg(not(unix))]
fn dir_id(path: &Path, _meta: &std::fs::Metadata) -> Result<(u64, u64, PathBuf)> {
    let real = std::fs::canonicalize(path)
        .with_context(|| format!("cannot resolve {}", path.display()))?;
    Ok((0, 0, real))
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;
    use std::sync::mpsc;
    use std::time::Duration;

    /// Runs the walker on a thread, so a walker that loops fails the test in bounded time
    /// rather than hanging it.
    fn walk_within(root: &Path, secs: u64) -> Result<Vec<PathBuf>> {
        let (tx, rx) = mpsc::channel();
        let root = root.to_path_buf();
        std::thread::spawn(move || {
            let _ = tx.send(walk_files(&root));
        });
        rx.recv_timeout(Duration::from_secs(secs))
            .expect("the walker did not finish: it follows a symlink loop")
    }

    #[test]
    fn symlink_loops_end_and_each_file_is_read_once() {
        let root = test_support::temp_dir("walk", "loops");
        let docs = root.join("docs");
        std::fs::create_dir_all(docs.join("sub")).unwrap();
        std::fs::create_dir_all(root.join("elsewhere")).unwrap();
        std::fs::write(docs.join("b.txt"), "b").unwrap();
        std::fs::write(docs.join("sub/a.txt"), "a").unwrap();
        std::fs::write(docs.join(".hidden"), "h").unwrap();
        std::fs::write(root.join("elsewhere/c.txt"), "c").unwrap();
        symlink("..", docs.join("up")).unwrap();
        symlink(".", docs.join("self")).unwrap();
        symlink("..", docs.join("sub/back")).unwrap();
        // A link to a directory outside is followed, once, however many links lead there.
        symlink("../elsewhere", docs.join("other")).unwrap();
        symlink("../../elsewhere", docs.join("sub/other2")).unwrap();
        let files = walk_within(&docs, 20).unwrap();
        let rel: Vec<String> = files
            .iter()
            .map(|f| {
                f.strip_prefix(&docs)
                    .unwrap()
                    .to_string_lossy()
                    .into_owned()
            })
            .collect();
        assert_eq!(rel, ["b.txt", "other/c.txt", "sub/a.txt"]);
        std::fs::remove_dir_all(root).ok();
    }

    #[test]
    fn dangling_links_and_non_directories_are_named() {
        let root = test_support::temp_dir("walk", "dangling");
        symlink("nowhere", root.join("gone.txt")).unwrap();
        let err = format!("{:#}", walk_files(&root).unwrap_err());
        assert!(
            err.contains("gone.txt") && err.contains("dangling"),
            "{err}"
        );
        std::fs::remove_file(root.join("gone.txt")).unwrap();
        std::fs::write(root.join("f"), "x").unwrap();
        let err = format!("{:#}", walk_files(&root.join("f")).unwrap_err());
        assert!(err.contains("is not a directory"), "{err}");
        std::fs::remove_dir_all(root).ok();
    }
}
