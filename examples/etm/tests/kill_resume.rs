//! Crash safety through the real `etm` binary: a run that checkpoints every epoch (a few steps)
//! is SIGKILLed at random moments at least ten times; after each kill `--ckpt-path last`
//! continues it, and the weights it ends with equal an uninterrupted run's, bit for bit (as do
//! the logged epoch means and the LR schedule's state). A run that ends before its kill arrives
//! is undone (its directory put back) and run again with an earlier kill moment.

use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use burn::module::{Module, ModuleVisitor, Param};
use burn::prelude::*;
use burn_lightning::Stage;
use burn_lightning::checkpoint::Checkpoint;
use test_support::fuzz::Rng;

const KILLS: usize = 10;

fn temp_dir(name: &str) -> PathBuf {
    test_support::temp_dir("etm-kill", name)
}

/// 90 short posts over three themes in the 20news-bydate layout.
fn write_corpus(root: &Path) {
    let themes = [
        (
            "rec.autos",
            ["engine", "car", "wheel", "brake", "fuel", "road"],
        ),
        (
            "sci.space",
            ["orbit", "launch", "rocket", "moon", "nasa", "star"],
        ),
        (
            "talk.politics",
            ["vote", "senate", "law", "party", "court", "tax"],
        ),
    ];
    for (split, count) in [("20news-bydate-train", 24), ("20news-bydate-test", 6)] {
        for (t, (group, words)) in themes.iter().enumerate() {
            let dir = root.join(split).join(group);
            std::fs::create_dir_all(&dir).unwrap();
            for i in 0..count {
                let body: Vec<&str> = (0..10)
                    .map(|j| words[(i * 5 + j * 3 + t) % words.len()])
                    .collect();
                std::fs::write(
                    dir.join(format!("{}", 100 + i)),
                    format!("Subject: {group}\n\n{}\n", body.join(" ")),
                )
                .unwrap();
            }
        }
    }
}

fn write_config(dir: &Path, data: &Path) -> PathBuf {
    let config = format!(
        r#"seed: 4
root_dir: {root}
dataset:
  name: 20ng
  params:
    data_dir: {data}
    batch_size: 16
    num_workers: 0
model:
  name: etm
  params:
    num_topics: 3
    t_hidden_size: 16
    rho_size: 8
    enc_drop: 0.3
optimizer:
  name: adam
  params:
    lr: 0.01
scheduler:
  name: step_lr
  params:
    step_size: 5
    gamma: 0.5
trainer:
  max_epochs: 40
  check_val_every_n_epoch: 1
  num_sanity_val_steps: 0
  enable_progress_bar: false
  enable_model_summary: false
  log_every_n_steps: 1
"#,
        root = dir.join("run").display(),
        data = data.display()
    );
    let path = dir.join("config.yaml");
    std::fs::write(&path, config).unwrap();
    path
}

/// The `last.ckpt` with the most optimizer steps among the run's versions.
fn latest_last(dir: &Path) -> Option<(PathBuf, Checkpoint)> {
    let logs = dir.join("run/lightning_logs");
    std::fs::read_dir(logs)
        .ok()?
        .flatten()
        .map(|e| e.path().join("checkpoints/last.ckpt"))
        .filter(|p| p.is_file())
        .map(|p| {
            let ck = Checkpoint::load(&p)
                .unwrap_or_else(|e| panic!("a checkpoint left by a kill does not load: {e:#}"));
            (p, ck)
        })
        .max_by_key(|(_, ck)| ck.state.progress.global_step)
}

/// The bit patterns of every weight in `path`, loaded into the ETM that `config` builds (burn's
/// records also hold per-process parameter ids, so the raw sections differ between processes).
fn weights(config_path: &Path, path: &Path) -> Vec<u32> {
    struct Bits(Vec<u32>);
    impl ModuleVisitor for Bits {
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
            let values = param.val().into_data().convert::<f32>();
            self.0.extend(
                values
                    .try_to_vec::<f32>()
                    .unwrap()
                    .iter()
                    .map(|v| v.to_bits()),
            );
        }
    }
    let config = etm::cli::load_config(config_path, &[]).unwrap();
    let mut data = etm::datamodule::open_dataset(
        &config.dataset.name,
        &config.dataset.params,
        config.seed.unwrap_or(0),
        config.model.params.bow_norm,
    )
    .unwrap();
    data.prepare_data().unwrap();
    data.setup(Stage::Fit).unwrap();
    let module = etm::cli::build_module(&config, data.as_ref(), config_path).unwrap();
    let module = Checkpoint::load(path)
        .unwrap()
        .load_module(module, path)
        .unwrap();
    let mut bits = Bits(Vec::new());
    module.visit(&mut bits);
    bits.0
}

/// `etm fit` on `config`, resuming from `last` when asked; `stderr` is kept for the runs that
/// must succeed (the killed ones discard it: an unread pipe could fill and block them).
fn command(config: &Path, resume: bool, stderr: Stdio) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_etm"));
    c.args(["fit", "-f", config.to_str().unwrap()]);
    if resume {
        c.args(["--ckpt-path", "last"]);
    }
    c.stdout(Stdio::null()).stderr(stderr);
    c
}

/// Makes `to` a copy of the directory `from` (removing `to` when `from` does not exist). Files
/// keep their modification times: `--ckpt-path last` resumes from the newest `last.ckpt`.
fn copy_tree(from: &Path, to: &Path) {
    if to.exists() {
        std::fs::remove_dir_all(to).unwrap();
    }
    if !from.exists() {
        return;
    }
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let (source, dest) = (entry.path(), to.join(entry.file_name()));
        if entry.file_type().unwrap().is_dir() {
            copy_tree(&source, &dest);
        } else {
            std::fs::copy(&source, &dest).unwrap();
            let modified = entry.metadata().unwrap().modified().unwrap();
            std::fs::File::options()
                .write(true)
                .open(&dest)
                .unwrap()
                .set_modified(modified)
                .unwrap();
        }
    }
}

/// Temporary files anywhere under `dir` (a write that a kill interrupted).
fn temporaries(dir: &Path) -> Vec<String> {
    test_support::tree(dir)
        .into_iter()
        .filter(|p| p.contains(".tmp."))
        .collect()
}

#[test]
fn sigkilled_runs_resume_to_the_uninterrupted_weights() {
    let data_dir = temp_dir("data");
    write_corpus(&data_dir);

    let straight = temp_dir("straight");
    let config = write_config(&straight, &data_dir);
    let started = Instant::now();
    let out = command(&config, false, Stdio::piped()).output().unwrap();
    let full = started.elapsed();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (reference_path, reference) = latest_last(&straight).unwrap();

    let killed = temp_dir("killed");
    let config = write_config(&killed, &data_dir);
    // The killed runs' directory as it was before the run now going, put back when that run
    // finished before its kill arrived (a loaded machine runs faster or slower than the
    // uninterrupted run did, and the resumed runs have less and less left to do).
    let snapshot = temp_dir("killed-snapshot").join("run");
    let mut rng = Rng::new(2024);
    let mut kills = 0;
    let mut redraws = 0;
    let mut steps_at_kill = Vec::new();
    // Kill moments are drawn within this fraction of an uninterrupted run's time: start-up,
    // training steps, validation and checkpoint writes are all hit.
    const WINDOW: f64 = 0.2;
    let mut window = WINDOW;
    loop {
        let resume = latest_last(&killed).is_some();
        let stderr = if kills == KILLS {
            Stdio::piped()
        } else {
            Stdio::null()
        };
        if kills < KILLS {
            copy_tree(&killed.join("run"), &snapshot);
        }
        let mut child = command(&config, resume, stderr).spawn().unwrap();
        if kills == KILLS {
            let out = child.wait_with_output().unwrap();
            assert!(
                out.status.success(),
                "the last resume failed: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            break;
        }
        let wait =
            Duration::from_secs_f64(full.as_secs_f64() * window * rng.below(1000) as f64 / 1000.0);
        std::thread::sleep(wait);
        let ended_before_the_kill = child.try_wait().unwrap();
        if ended_before_the_kill.is_none() {
            child.kill().unwrap();
        }
        // A run may also end between the check above and the kill: only its status tells.
        let status = child.wait().unwrap();
        if status.success() {
            // It finished before the kill: undo it and draw an earlier moment.
            redraws += 1;
            assert!(
                redraws <= 20,
                "the runs keep finishing before their kill ({kills} kills so far)"
            );
            copy_tree(&snapshot, &killed.join("run"));
            window /= 2.0;
            continue;
        }
        assert!(
            ended_before_the_kill.is_none() && status.signal() == Some(9),
            "a run failed by itself ({status}) after {kills} kills"
        );
        kills += 1;
        // The next kill is drawn over the whole window again.
        window = WINDOW;
        steps_at_kill.push(latest_last(&killed).map_or(0, |(_, ck)| ck.state.progress.global_step));
    }
    std::fs::remove_dir_all(snapshot.parent().unwrap()).ok();
    eprintln!("{redraws} runs finished before their kill and were undone");
    eprintln!("{kills} kills; last checkpoint's step after each: {steps_at_kill:?}");
    assert!(
        steps_at_kill.last() > steps_at_kill.first(),
        "the killed runs made progress between kills: {steps_at_kill:?}"
    );
    // Writes that a kill interrupted left temporaries; the runs after them swept them away.
    assert_eq!(temporaries(&killed), Vec::<String>::new());

    let (path, resumed) = latest_last(&killed).unwrap();
    let position = |ck: &Checkpoint| {
        let p = &ck.state.progress;
        (p.epoch, p.batch_in_epoch, p.global_step, p.total_batches)
    };
    assert_eq!(
        position(&resumed),
        position(&reference),
        "{} ends where the uninterrupted run ended",
        path.display()
    );
    let expected = weights(&config, &reference_path);
    let got = weights(&config, &path);
    assert_eq!(expected.len(), got.len());
    let differing = expected.iter().zip(&got).filter(|(a, b)| a != b).count();
    assert_eq!(
        differing,
        0,
        "{differing} of {} weights differ from the uninterrupted run's",
        expected.len()
    );
    // The epoch means logged at the end and the optimizer's schedule match too.
    assert_eq!(resumed.state.metrics, reference.state.metrics);
    assert_eq!(
        resumed.sections["scheduler.0"],
        reference.sections["scheduler.0"]
    );
    std::fs::remove_dir_all(data_dir).ok();
    std::fs::remove_dir_all(straight).ok();
    std::fs::remove_dir_all(killed).ok();
}
