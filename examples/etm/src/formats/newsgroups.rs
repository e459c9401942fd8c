//! The 20 Newsgroups `20news-bydate` layout: `20news-bydate-{train,test}/<group>/<id>`, either
//! as the `20news-bydate.tar.gz` tarball or unpacked in a directory. Each post's e-mail headers
//! (everything before the first blank line) are removed, as is usual for topic models.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use lightning_toolkit::data::{
    CappedReader, MemberKind, member_path, read_member, require_file, tar_member_kind,
};

/// The text of every post, in path order.
pub fn read_20news(path: &Path) -> Result<Vec<String>> {
    let mut posts: Vec<(PathBuf, String)> = if path.is_dir() {
        lightning_toolkit::data::walk_files(path)?
            .into_iter()
            .filter(|f| is_post(f.strip_prefix(path).unwrap_or(f)))
            .map(|f| {
                let bytes =
                    std::fs::read(&f).with_context(|| format!("cannot read {}", f.display()))?;
                Ok((f, String::from_utf8_lossy(&bytes).into_owned()))
            })
            .collect::<Result<_>>()?
    } else if path.is_file() {
        read_tarball(path)?
    } else {
        bail!(
            "{} does not exist; put the 20news-bydate.tar.gz tarball (or its unpacked directory) there",
            path.display()
        );
    };
    if posts.is_empty() {
        bail!(
            "{}: no posts in the 20news-bydate layout (20news-bydate-train/<group>/<id>)",
            path.display()
        );
    }
    posts.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(posts
        .into_iter()
        .map(|(_, text)| strip_headers(&text))
        .collect())
}

/// The most bytes one post may hold (real posts are a few kB; the largest in 20news-bydate is
/// under 200 kB) and all posts together (the unpacked tarball is about 50 MB): a gzip bomb is an
/// error naming the member, not an exhausted memory.
const MAX_POST_BYTES: u64 = 16 << 20;
const MAX_TOTAL_BYTES: u64 = 2 << 30;

fn read_tarball(path: &Path) -> Result<Vec<(PathBuf, String)>> {
    let file =
        std::fs::File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    // The whole stream is capped too: tar headers and long names are read before any post's cap.
    let stream = CappedReader::new(
        flate2::read::GzDecoder::new(file),
        MAX_TOTAL_BYTES + (64 << 20),
        format!("{} (unpacked)", path.display()),
    );
    let mut archive = tar::Archive::new(stream);
    let mut posts = Vec::new();
    let mut total = 0u64;
    for entry in archive
        .entries()
        .with_context(|| format!("{}: not a .tar.gz archive", path.display()))?
    {
        let mut entry = entry.with_context(|| format!("{}: corrupt archive", path.display()))?;
        let raw = entry
            .path()
            .with_context(|| format!("{}: corrupt member name", path.display()))?
            .to_string_lossy()
            .into_owned();
        // Nothing is written to disk, but a `..` or absolute name is a damaged or forged
        // archive, refused like every other archive reader does.
        let name = member_path(path, &raw)?;
        let kind = tar_member_kind(entry.header().entry_type());
        if kind == MemberKind::Directory || !is_post(&name) {
            continue;
        }
        require_file(kind, path, &raw)?;
        let bytes = read_member(&mut entry, MAX_POST_BYTES, path, &raw)?;
        total += bytes.len() as u64;
        if total > MAX_TOTAL_BYTES {
            bail!(
                "{}: the posts up to `{raw}` exceed {MAX_TOTAL_BYTES} bytes (a gzip bomb or not \
                 the 20news-bydate tarball)",
                path.display()
            );
        }
        posts.push((name, String::from_utf8_lossy(&bytes).into_owned()));
    }
    Ok(posts)
}

/// `…/20news-bydate-train/<group>/<id>` or `…-test/…`.
fn is_post(relative: &Path) -> bool {
    let parts: Vec<String> = relative
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    parts.len() >= 3
        && parts[parts.len() - 3].starts_with("20news-bydate-")
        && !parts[parts.len() - 1].starts_with('.')
}

/// Drops the e-mail header block.
pub fn strip_headers(post: &str) -> String {
    let normalized = post.replace("\r\n", "\n");
    match normalized.split_once("\n\n") {
        Some((head, body)) if head.lines().any(|l| l.contains(':')) => body.to_string(),
        _ => normalized,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_are_removed() {
        let post = "From: a@b.c\nSubject: Re: engines\n\nThe engine ran.\n";
        assert_eq!(strip_headers(post), "The engine ran.\n");
    }

    #[test]
    fn tarball_and_directory_read_the_same_posts() {
        let dir = std::env::temp_dir().join(format!("etm-20ng-{}", std::process::id()));
        let posts = [
            (
                "20news-bydate-train/sci.space/1",
                "Subject: a\n\norbit launch",
            ),
            ("20news-bydate-test/rec.autos/2", "From: b\n\nengine brake"),
            ("README", "not a post"),
        ];
        let gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        let mut tar = tar::Builder::new(gz);
        for (name, body) in posts {
            let path = dir.join("tree").join(name);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(&path, body).unwrap();
            let mut header = tar::Header::new_gnu();
            header.set_size(body.len() as u64);
            header.set_mode(0o644);
            header.set_cksum();
            tar.append_data(&mut header, name, body.as_bytes()).unwrap();
        }
        let tarball = dir.join("20news-bydate.tar.gz");
        std::fs::write(&tarball, tar.into_inner().unwrap().finish().unwrap()).unwrap();
        let from_tar = read_20news(&tarball).unwrap();
        assert_eq!(from_tar, vec!["engine brake", "orbit launch"]);
        assert_eq!(read_20news(&dir.join("tree")).unwrap(), from_tar);
    }

    #[test]
    fn layout_filter() {
        assert!(is_post(Path::new("20news-bydate-train/sci.space/6001")));
        assert!(is_post(Path::new("x/20news-bydate-test/rec.autos/1")));
        assert!(!is_post(Path::new("README")));
        assert!(!is_post(Path::new("20news-bydate-train/sci.space")));
    }

    /// A .tar.gz of `(name, kind, body)`; names are written into the header as given (the
    /// `tar` builder would refuse `..`), as a forged archive would carry them.
    fn raw_tarball(members: &[(&str, tar::EntryType, &[u8])]) -> Vec<u8> {
        let gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        let mut tar = tar::Builder::new(gz);
        for (name, kind, body) in members {
            let mut header = tar::Header::new_gnu();
            header.as_old_mut().name[..name.len()].copy_from_slice(name.as_bytes());
            header.set_entry_type(*kind);
            if kind.is_symlink() {
                header.set_link_name("/etc/passwd").unwrap();
            }
            header.set_size(body.len() as u64);
            header.set_mode(0o644);
            header.set_cksum();
            tar.append(&header, *body).unwrap();
        }
        tar.into_inner().unwrap().finish().unwrap()
    }

    #[test]
    fn forged_tarball_members_are_refused() {
        let dir = test_support::temp_dir("etm-20ng", "forged");
        let good = (
            "20news-bydate-train/sci.space/1",
            tar::EntryType::Regular,
            &b"S: a\n\nok"[..],
        );
        let cases: [(&str, tar::EntryType, &[u8], &str); 3] = [
            (
                "../20news-bydate-train/sci.space/2",
                tar::EntryType::Regular,
                b"x",
                "outside",
            ),
            (
                "/20news-bydate-train/sci.space/3",
                tar::EntryType::Regular,
                b"x",
                "outside",
            ),
            (
                "20news-bydate-train/sci.space/4",
                tar::EntryType::Symlink,
                b"",
                "link",
            ),
        ];
        for (name, kind, body, expected) in cases {
            let tarball = dir.join("20news-bydate.tar.gz");
            std::fs::write(&tarball, raw_tarball(&[good, (name, kind, body)])).unwrap();
            let err = format!("{:#}", read_20news(&tarball).unwrap_err());
            assert!(
                err.contains("20news-bydate.tar.gz")
                    && err.contains(name)
                    && err.contains(expected),
                "{name}: {err}"
            );
        }
        std::fs::remove_dir_all(dir).ok();
    }

    #[test]
    fn a_gzip_bomb_post_is_an_error_naming_it() {
        let dir = test_support::temp_dir("etm-20ng", "bomb");
        let zeros = vec![0u8; MAX_POST_BYTES as usize + 1];
        let name = "20news-bydate-train/sci.space/9";
        let tarball = dir.join("20news-bydate.tar.gz");
        std::fs::write(
            &tarball,
            raw_tarball(&[(name, tar::EntryType::Regular, &zeros)]),
        )
        .unwrap();
        let err = format!("{:#}", read_20news(&tarball).unwrap_err());
        assert!(
            err.contains(name) && err.contains("more than 16777216 bytes"),
            "{err}"
        );
        std::fs::remove_dir_all(dir).ok();
    }

    #[cfg(unix)]
    #[test]
    fn a_directory_with_symlink_loops_is_read_once() {
        let dir = test_support::temp_dir("etm-20ng", "loops");
        let group = dir.join("tree/20news-bydate-train/sci.space");
        std::fs::create_dir_all(&group).unwrap();
        std::fs::write(group.join("1"), "Subject: a\n\norbit").unwrap();
        std::os::unix::fs::symlink("..", group.join("up")).unwrap();
        std::os::unix::fs::symlink(".", group.join("here")).unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        let root = dir.join("tree");
        std::thread::spawn(move || {
            let _ = tx.send(read_20news(&root).map_err(|e| format!("{e:#}")));
        });
        let posts = rx
            .recv_timeout(std::time::Duration::from_secs(20))
            .expect("reading the directory did not finish: it follows a symlink loop");
        assert_eq!(posts.unwrap(), ["orbit"]);
        std::fs::remove_dir_all(dir).ok();
    }

    /// Mutated tarballs (and the forged ones above) load or fail with an error; none panics,
    /// and nothing is written anywhere.
    #[test]
    fn fuzz_tarball_reader() {
        let dir = test_support::temp_dir("etm-20ng", "fuzz");
        let posts: &[(&str, tar::EntryType, &[u8])] = &[
            (
                "20news-bydate-train/sci.space/1",
                tar::EntryType::Regular,
                b"Subject: a\n\norbit launch",
            ),
            (
                "20news-bydate-test/rec.autos/2",
                tar::EntryType::Regular,
                b"From: b\n\nengine",
            ),
            (
                "20news-bydate-test/rec.autos",
                tar::EntryType::Directory,
                b"",
            ),
        ];
        let uncompressed = |members: &[(&str, tar::EntryType, &[u8])]| {
            let gz = raw_tarball(members);
            let mut out = Vec::new();
            std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(&gz[..]), &mut out)
                .unwrap();
            out
        };
        // Mutating the gzip stream mostly breaks its checksum; mutating the tar inside and
        // compressing each case reaches the tar headers.
        let seeds = vec![
            uncompressed(posts),
            uncompressed(&[(
                "../x/20news-bydate-train/a/1",
                tar::EntryType::Regular,
                b"x",
            )]),
            uncompressed(&[("20news-bydate-train/a/1", tar::EntryType::Symlink, b"")]),
        ];
        let tarball = dir.join("20news-bydate.tar.gz");
        let mut case = 0usize;
        let mut read = |tar: &[u8]| {
            // Every other case gets its first header's checksum fixed, so a mutated name, size
            // or type is parsed rather than stopped at the checksum.
            case += 1;
            let mut tar = tar.to_vec();
            if case.is_multiple_of(2) && tar.len() >= 512 {
                let mut header = tar::Header::new_old();
                header.as_mut_bytes().copy_from_slice(&tar[..512]);
                header.set_cksum();
                tar[..512].copy_from_slice(header.as_bytes());
            }
            let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            std::io::Write::write_all(&mut gz, &tar).unwrap();
            std::fs::write(&tarball, gz.finish().unwrap()).unwrap();
            read_20news(&tarball)
                .map(drop)
                .map_err(|e| format!("{e:#}"))
        };
        let report =
            test_support::fuzz::fuzz("20news tarball", 0x20_4e65_7773, 2000, &seeds, &mut read);
        assert_eq!(report.cases, 2000);
        assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 1);
        std::fs::remove_dir_all(dir).ok();
    }
}
