//! The 20 Newsgroups `20news-bydate` layout: `20news-bydate-{train,test}/<group>/<id>`, either
//! as the `20news-bydate.tar.gz` tarball or unpacked in a directory. Each post's e-mail headers
//! (everything before the first blank line) are removed, as is usual for topic models.

use std::io::Read;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};

/// The text of every post, in path order.
pub fn read_20news(path: &Path) -> Result<Vec<String>> {
    let mut posts: Vec<(PathBuf, String)> = if path.is_dir() {
        let mut files = Vec::new();
        walk(path, &mut files)?;
        files
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

fn read_tarball(path: &Path) -> Result<Vec<(PathBuf, String)>> {
    let file =
        std::fs::File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(file));
    let mut posts = Vec::new();
    for entry in archive
        .entries()
        .with_context(|| format!("{}: not a .tar.gz archive", path.display()))?
    {
        let mut entry = entry.with_context(|| format!("{}: corrupt archive", path.display()))?;
        let name = entry.path()?.into_owned();
        if !entry.header().entry_type().is_file() || !is_post(&name) {
            continue;
        }
        let mut bytes = Vec::new();
        entry
            .read_to_end(&mut bytes)
            .with_context(|| format!("{}: reading {}", path.display(), name.display()))?;
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

fn walk(dir: &Path, out: &mut Vec<PathBuf>) -> Result<()> {
    for entry in std::fs::read_dir(dir).with_context(|| format!("cannot list {}", dir.display()))? {
        let p = entry?.path();
        if p.is_dir() {
            walk(&p, out)?;
        } else {
            out.push(p);
        }
    }
    Ok(())
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
}
