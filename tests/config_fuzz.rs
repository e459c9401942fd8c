//! Fuzzing the config loader the example CLIs use (`ExperimentConfig::load`: YAML parse, typed
//! parse, deprecated-key migration, range checks) and the dotted overrides (`cli::args::split_overrides`, then
//! `apply_override` inside `load`), from the shipped configs as seeds: every case loads or is
//! refused with an error naming the file, never a panic. Fixed seeds and bounded counts (see
//! `test_support::fuzz`).

use std::path::{Path, PathBuf};

use std::ffi::OsString;

use burn_lightning::cli::args::split_overrides;
use burn_lightning::config::ExperimentConfig;
use serde_json::Value;
use test_support::fuzz::fuzz;

type Config = ExperimentConfig<Value, Value>;

const YAML_CASES: usize = 3000;
const OVERRIDE_CASES: usize = 2000;

fn shipped_configs() -> Vec<Vec<u8>> {
    let root = test_support::workspace_root();
    let mut seeds: Vec<(PathBuf, Vec<u8>)> = std::fs::read_dir(root.join("configs"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "yaml"))
        .map(|p| {
            let bytes = std::fs::read(&p).unwrap();
            (p, bytes)
        })
        .collect();
    seeds.sort();
    seeds.push((
        "seed_config".into(),
        std::fs::read(root.join("tests/fixtures/seed_config.yaml")).unwrap(),
    ));
    assert!(seeds.len() >= 6, "the shipped configs are the seeds");
    seeds.into_iter().map(|(_, b)| b).collect()
}

/// `load` of `path` with `overrides`: Ok, or an error that names the file.
fn load(path: &Path, overrides: &[(String, String)]) -> Result<(), String> {
    match Config::load(path, overrides) {
        Ok(config) => {
            // What `--print-config` and hparams.yaml do with a loaded config.
            config.to_yaml().map_err(|e| format!("{e:#}"))?;
            Ok(())
        }
        Err(e) => {
            let message = format!("{e:#}");
            let name = path.file_name().unwrap().to_string_lossy();
            assert!(
                message.contains(name.as_ref()),
                "the error does not name the file: {message}"
            );
            Err(message)
        }
    }
}

#[test]
fn yaml_configs_load_or_are_refused_naming_the_file() {
    let dir = test_support::temp_dir("bl", "fuzz-yaml");
    let path = dir.join("fuzz.yaml");
    let report = fuzz(
        "yaml config",
        0x5EED_C0F1,
        YAML_CASES,
        &shipped_configs(),
        |bytes| {
            std::fs::write(&path, bytes).unwrap();
            load(&path, &[])
        },
    );
    assert_eq!(report.cases, YAML_CASES);
    assert!(report.accepted > 0 && report.rejected > 0, "{report:?}");
    std::fs::remove_dir_all(dir).ok();
}

#[test]
fn dotted_overrides_apply_or_are_refused_naming_the_file() {
    let config = test_support::workspace_root().join("configs/etm.yaml");
    let seeds: Vec<Vec<u8>> = [
        "trainer.max_epochs=3\nmodel.params.num_topics=20",
        "trainer.devices=[0, 1]\ntrainer.precision=bf16-mixed",
        "trainer.max_time=00:00:01:00\ntrainer.limit_val_batches=0.5",
        "seed=7\nroot_dir=/tmp/x\noptimizer.params.lr=0.01",
        "trainer.val_check_interval=10\ntrainer.check_val_every_n_epoch=null",
        "scheduler.params.gamma=0.5\ndataset.params.batch_size=64",
        "trainer.gradient_clip_val=1.0\ntrainer.accumulate_grad_batches=2",
    ]
    .iter()
    .map(|s| s.as_bytes().to_vec())
    .collect();
    let report = fuzz(
        "dotted overrides",
        0x0DD5_EED5,
        OVERRIDE_CASES,
        &seeds,
        |bytes| {
            let text = String::from_utf8_lossy(bytes);
            let args: Vec<OsString> = ["bin", "fit"]
                .into_iter()
                .map(OsString::from)
                .chain(text.lines().map(|l| OsString::from(format!("--{l}"))))
                .collect();
            let (rest, overrides) = split_overrides(args).map_err(|e| format!("{e:#}"))?;
            // What is not an override goes to clap, which refuses unknown flags.
            if rest.len() > 2 {
                return Err(format!("not a config override: {:?}", &rest[2..]));
            }
            load(&config, &overrides)
        },
    );
    assert_eq!(report.cases, OVERRIDE_CASES);
    assert!(report.accepted > 0 && report.rejected > 0, "{report:?}");
}
