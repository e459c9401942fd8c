//! Helpers the workspace's integration tests share: a fresh temporary directory per test, and
//! running an example binary with its output kept for assertion messages, reading a logged
//! metric back, checking a binary's `--help` ([`cli`]).

pub mod cli;
pub mod fuzz;
pub mod spm;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// A fresh, empty directory under the system's temporary folder, unique to this process and
/// moment: `<prefix>-<name>-<pid>-<nanos>`.
pub fn temp_dir(prefix: &str, name: &str) -> PathBuf {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock after 1970")
        .as_nanos();
    let dir = std::env::temp_dir().join(format!("{prefix}-{name}-{}-{nanos}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("creating a temporary directory");
    dir
}

/// Every path under `dir`, relative to it and sorted; symbolic links are listed, not followed
/// (what an extraction or a walk left on disk).
pub fn tree(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(d) = pending.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            out.push(p.strip_prefix(dir).unwrap().to_string_lossy().into_owned());
            if p.is_dir() && !p.is_symlink() {
                pending.push(p);
            }
        }
    }
    out.sort();
    out
}

/// A copy of the Hugging Face directory `source` in `dest` (its `model.safetensors` and
/// `pytorch_model.bin`, where present) whose `config.json` has `key` set to `value`.
pub fn edited_hf_dir(source: &Path, dest: &Path, key: &str, value: serde_json::Value) {
    for weights in ["model.safetensors", "pytorch_model.bin"] {
        if source.join(weights).is_file() {
            std::fs::copy(source.join(weights), dest.join(weights)).unwrap();
        }
    }
    let text = std::fs::read_to_string(source.join("config.json")).unwrap();
    let mut config: serde_json::Value = serde_json::from_str(&text).unwrap();
    config[key] = value;
    std::fs::write(
        dest.join("config.json"),
        serde_json::to_string_pretty(&config).unwrap(),
    )
    .unwrap();
}

/// Runs `binary` with `args` in `cwd` and returns what it printed and its status.
pub fn run(binary: &str, cwd: &Path, args: &[&str]) -> Output {
    Command::new(binary)
        .current_dir(cwd)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {binary}: {e}"))
}

/// Status, stdout and stderr of `out`, for assertion messages.
pub fn output_text(out: &Output) -> String {
    format!(
        "status {:?}\nstdout:\n{}\nstderr:\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// The values of column `name` in a `metrics.csv` (rows where it is empty are skipped). Read
/// with the `csv` crate, as the logger writes it: keys holding a comma come quoted.
pub fn metrics_column(metrics: &str, name: &str) -> Vec<f64> {
    // Flexible: a run killed mid-append may leave a short last row.
    let mut reader = csv::ReaderBuilder::new()
        .flexible(true)
        .from_reader(metrics.as_bytes());
    let header: Vec<String> = reader
        .headers()
        .expect("metrics.csv has a header")
        .iter()
        .map(String::from)
        .collect();
    let i = header
        .iter()
        .position(|h| h == name)
        .unwrap_or_else(|| panic!("no {name} in {header:?}"));
    reader
        .records()
        .map(|r| r.expect("a metrics.csv row"))
        .filter_map(|r| r.get(i).and_then(|v| v.parse().ok()))
        .collect()
}

/// The workspace's root directory (where `configs/` and `data/` are).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Overrides of a shipped config for a DDP scaling measurement: `devices` ranks, `steps`
/// optimizer steps, nothing but training (no validation, logs, checkpoints or progress bar), and
/// the data under the workspace's `data/<data_dir>`.
pub fn scaling_overrides(devices: usize, steps: usize, data_dir: &str) -> Vec<(String, String)> {
    let data = workspace_root().join("data").join(data_dir);
    [
        ("trainer.devices", devices.to_string()),
        ("trainer.max_steps", steps.to_string()),
        ("trainer.max_epochs", "-1".into()),
        ("trainer.limit_val_batches", "0".into()),
        ("trainer.num_sanity_val_steps", "0".into()),
        ("trainer.logger", "false".into()),
        ("trainer.enable_checkpointing", "false".into()),
        ("trainer.enable_progress_bar", "false".into()),
        ("trainer.enable_model_summary", "false".into()),
        ("dataset.params.data_dir", data.display().to_string()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect()
}

/// Measures `per_second(devices)` on 1 and 2 ranks and prints both and their ratio.
pub fn print_scaling(unit: &str, per_second: impl Fn(usize) -> f64) {
    let one = per_second(1);
    println!("1 rank : {one:8.1} {unit}/s");
    let two = per_second(2);
    println!("2 ranks: {two:8.1} {unit}/s");
    println!(
        "ratio 2/1: {:.2} (scaling efficiency {:.0}%; {} cores)",
        two / one,
        50.0 * two / one,
        std::thread::available_parallelism().map_or(1, |n| n.get())
    );
}

/// Checks, from the rates a `LearningRateMonitor` logged every batch (`column` of a
/// `metrics.csv`), that a linear warm-up + linear decay schedule ends exactly with the run: the
/// rate of the last optimizer step is one decay step above 0 (a schedule sized for more steps
/// stops higher, one sized for fewer reaches 0 before the run ends). Returns the distinct rates.
pub fn assert_linear_decay_ends_on_the_last_step(metrics: &str, column: &str) -> Vec<f64> {
    let mut rates = metrics_column(metrics, column);
    // Batches of one accumulation window share their step's rate.
    rates.dedup();
    let n = rates.len();
    assert!(n >= 3, "too few steps to see the decay: {rates:?}");
    let (before, last) = (rates[n - 2], rates[n - 1]);
    let decay = before - last;
    assert!(
        last > 0.0 && decay > 0.0,
        "the rate decays and is not 0 before the last step: {rates:?}"
    );
    assert!(
        (last - decay).abs() <= 1e-9 * before,
        "the last step's rate {last} should be one decay step ({decay}) above 0: the schedule's length differs from the steps taken: {rates:?}"
    );
    rates
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn directories_are_fresh_and_output_is_shown() {
        let a = temp_dir("ts", "x");
        let b = temp_dir("ts", "x");
        assert_ne!(a, b);
        assert!(a.is_dir() && std::fs::read_dir(&a).unwrap().next().is_none());
        let out = run("sh", &a, &["-c", "echo out; echo err >&2; exit 3"]);
        assert_eq!(
            output_text(&out),
            "status Some(3)\nstdout:\nout\n\nstderr:\nerr\n"
        );
        let csv = "step,loss,acc\n1,0.5,\n2,0.25,0.75\n";
        assert_eq!(metrics_column(csv, "loss"), [0.5, 0.25]);
        assert_eq!(metrics_column(csv, "acc"), [0.75]);
        let quoted = "step,\"acc,top5\",loss\n1,0.5,0.25\n";
        assert_eq!(metrics_column(quoted, "acc,top5"), [0.5]);
        assert_eq!(metrics_column(quoted, "loss"), [0.25]);
        std::fs::remove_dir_all(a).ok();
        std::fs::remove_dir_all(b).ok();
    }
}
