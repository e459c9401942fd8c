//! What every example binary's `--help` and `--version` must show: the runner's usage, the
//! commands, each config key with its default and the first sentence of its doc comment, and
//! the usage of one of the app's own subcommands.

use std::path::Path;

use crate::{output_text, run};

/// What a binary's help is expected to list.
pub struct ExpectedHelp<'a> {
    /// The binary's name, as usage and `--version` show it.
    pub name: &'a str,
    /// Its crate version (`env!("CARGO_PKG_VERSION")`).
    pub version: &'a str,
    /// Commands `--help` lists (the runner's and the app's own).
    pub commands: &'a [&'a str],
    /// The app's config keys as `(key, default, doc)`: the key's line shows `= default` and
    /// then `doc`, the first sentence of its doc comment (or its beginning, where the line cuts
    /// it with `…`). The Trainer's `trainer.max_epochs` is checked in every app.
    pub keys: &'a [(&'a str, &'a str, &'a str)],
    /// One of the app's own subcommands and an option its `--help` lists.
    pub subcommand: (&'a str, &'a str),
}

/// Runs `binary --help`, `binary SUBCOMMAND --help` and `binary --version` in `cwd` and checks
/// each shows what `expected` says (and `--help` the Trainer's keys, from their doc comments).
pub fn assert_help(binary: &str, cwd: &Path, expected: &ExpectedHelp<'_>) {
    let name = expected.name;
    let out = run(binary, cwd, &["--help"]);
    assert!(out.status.success(), "{}", output_text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains(&format!("Usage: {name}")), "{stdout}");
    for command in expected.commands {
        assert!(stdout.contains(command), "{command} missing: {stdout}");
    }
    let framework_key = (
        "trainer.max_epochs",
        "null",
        "Stop after this many epochs (`None` with `max_steps = -1` means 1000, as in Lightning).",
    );
    for (key, default, doc) in expected.keys.iter().chain([&framework_key]) {
        let flag = format!("--{key} ");
        let line = stdout
            .lines()
            .map(str::trim)
            .find(|l| l.starts_with(&flag))
            .unwrap_or_else(|| panic!("no {key}: {stdout}"));
        let shown = line[flag.len()..]
            .trim_start()
            .strip_prefix(&format!("= {default} "))
            .unwrap_or_else(|| panic!("{key}: default is not `{default}`: {line}"))
            .trim();
        // A long doc is cut to its first line and `…`: `doc` (the whole sentence) must begin
        // with what is shown.
        let cut = shown
            .strip_suffix('…')
            .is_some_and(|start| !start.trim().is_empty() && doc.starts_with(start.trim_end()));
        assert!(shown == *doc || cut, "{key}: doc is not `{doc}`: {line}");
    }

    let (subcommand, option) = expected.subcommand;
    let out = run(binary, cwd, &[subcommand, "--help"]);
    assert!(out.status.success(), "{}", output_text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains(&format!("Usage: {name} {subcommand}")),
        "{stdout}"
    );
    assert!(stdout.contains(option), "{option} missing: {stdout}");

    let out = run(binary, cwd, &["--version"]);
    assert!(out.status.success(), "{}", output_text(&out));
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        format!("{name} {}", expected.version)
    );
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;

    /// A stand-in binary printing a runner-like help and version.
    fn fake_binary() -> String {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("fixtures/help_app.sh")
            .display()
            .to_string()
    }

    /// The fake binary's help, with `keys` to check.
    fn expected<'a>(keys: &'a [(&'a str, &'a str, &'a str)]) -> ExpectedHelp<'a> {
        ExpectedHelp {
            name: "app",
            version: "0.1.0",
            commands: &["fit", "topics"],
            keys,
            subcommand: ("topics", "--ckpt-path"),
        }
    }

    /// Right keys pass; a wrong default, a doc cut where the line does not cut it, a different
    /// cut and a missing key each fail.
    #[test]
    fn help_shows_each_key_with_its_default_and_doc() {
        let dir = crate::temp_dir("ts-help", "keys");
        let app = fake_binary();
        let good = [
            ("model.k", "50", "K, the number of topics."),
            ("model.long", "1", "A long doc cut at the end of the line."),
        ];
        assert_help(&app, &dir, &expected(&good));
        for bad in [
            ("model.k", "5", "K, the number of topics."),
            ("model.k", "50", "K, the number"),
            ("model.long", "1", "A long doc cut somewhere else"),
            ("model.long", "1", "A long doc"),
            ("model.missing", "1", "No such key."),
        ] {
            let keys = [bad];
            let result = std::panic::catch_unwind(|| assert_help(&app, &dir, &expected(&keys)));
            assert!(result.is_err(), "{bad:?} passed");
        }
        std::fs::remove_dir_all(dir).ok();
    }
}
