//! Exact resume: N steps straight equal k steps + checkpoint + a new process resuming to N,
//! bit for bit; and SIGKILLs at random moments never leave a checkpoint that fails to load.
//!
//! The "new process" is this test binary started again on an ignored entry point
//! (`child_train`), configured through the `BL_CHILD` environment variable.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use burn_lightning::Trainer;
use burn_lightning::callbacks::ModelCheckpoint;
use burn_lightning::checkpoint::Checkpoint;
use burn_lightning::trainer::Limit;
use common::mlp::TwoMoons;

struct Job {
    dir: PathBuf,
    max_steps: usize,
    every_n_steps: usize,
    resume: Option<String>,
    out: Option<PathBuf>,
}

fn run_job(job: &Job) -> Vec<f32> {
    let mut config = common::quiet_config(&job.dir);
    config.max_steps = job.max_steps as i64;
    config.max_epochs = None;
    config.limit_val_batches = Limit::Batches(2);
    config.accumulate_grad_batches = 2;
    config.gradient_clip_val = Some(0.5);
    let mut trainer = Trainer::new(config).seed(11).callback(
        ModelCheckpoint::new(job.dir.join("ck"))
            .every_n_train_steps(job.every_n_steps)
            .save_top_k(-1),
    );
    // 400 examples, batch 24: 14 batches, 7 optimizer steps per epoch, with a short last batch.
    let mut data = TwoMoons::new(400, 24, 5);
    let module = trainer
        .fit(common::seeded_mlp(16), &mut data, job.resume.as_deref())
        .unwrap();
    let values = common::parameter_values(&module);
    if let Some(out) = &job.out {
        let bytes: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
        std::fs::write(out, bytes).unwrap();
    }
    values
}

fn spawn_child(job: &Job) -> std::process::Child {
    let spec = format!(
        "{}|{}|{}|{}|{}",
        job.dir.display(),
        job.max_steps,
        job.every_n_steps,
        job.resume.clone().unwrap_or_default(),
        job.out
            .as_ref()
            .map(|p| p.display().to_string())
            .unwrap_or_default()
    );
    Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "child_train",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("BL_CHILD", spec)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap()
}

/// Entry point of the child processes; does nothing when run directly.
#[test]
#[ignore]
fn child_train() {
    let Ok(spec) = std::env::var("BL_CHILD") else {
        return;
    };
    let parts: Vec<&str> = spec.split('|').collect();
    let job = Job {
        dir: PathBuf::from(parts[0]),
        max_steps: parts[1].parse().unwrap(),
        every_n_steps: parts[2].parse().unwrap(),
        resume: Some(parts[3].to_string()).filter(|s| !s.is_empty()),
        out: Some(PathBuf::from(parts[4])).filter(|p| !p.as_os_str().is_empty()),
    };
    run_job(&job);
}

fn read_values(path: &Path) -> Vec<f32> {
    std::fs::read(path)
        .unwrap()
        .chunks(4)
        .map(|c| f32::from_le_bytes(c.try_into().unwrap()))
        .collect()
}

#[test]
fn resume_mid_epoch_in_a_new_process_is_bit_identical() {
    let straight_dir = common::temp_dir("straight");
    let straight = run_job(&Job {
        dir: straight_dir,
        max_steps: 17,
        every_n_steps: 1000,
        resume: None,
        out: None,
    });

    // Leg 1 stops at step 9: epoch 1, batch 4 of 14 (mid-epoch, mid-way through the sampler).
    let dir = common::temp_dir("legs");
    let status = spawn_child(&Job {
        dir: dir.clone(),
        max_steps: 9,
        every_n_steps: 9,
        resume: None,
        out: None,
    })
    .wait()
    .unwrap();
    assert!(status.success());
    let ckpt = dir.join("ck").join("epoch=1-step=9.ckpt");
    let state = Checkpoint::load(&ckpt).unwrap().state;
    assert_eq!(
        (
            state.progress.epoch,
            state.progress.batch_in_epoch,
            state.progress.global_step
        ),
        (1, 4, 9)
    );

    let out = dir.join("resumed.bin");
    let status = spawn_child(&Job {
        dir: dir.clone(),
        max_steps: 17,
        every_n_steps: 1000,
        resume: Some(ckpt.display().to_string()),
        out: Some(out.clone()),
    })
    .wait()
    .unwrap();
    assert!(status.success());
    let resumed = read_values(&out);
    assert_eq!(resumed.len(), straight.len());
    let same = resumed
        .iter()
        .zip(&straight)
        .all(|(a, b)| a.to_bits() == b.to_bits());
    assert!(same, "resumed weights differ from the uninterrupted run");
}

#[test]
fn sigkill_at_random_moments_never_corrupts_a_checkpoint() {
    let dir = common::temp_dir("sigkill");
    let ck_dir = dir.join("ck");
    let mut rng = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos() as u64
        | 1;
    let mut next = move || {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng
    };
    let target = 400;
    let mut kills = 0;
    for round in 0..4 {
        let resume = ck_dir
            .join("last.ckpt")
            .is_file()
            .then(|| ck_dir.join("last.ckpt").display().to_string());
        let mut child = spawn_child(&Job {
            dir: dir.clone(),
            max_steps: target,
            every_n_steps: 1,
            resume,
            out: None,
        });
        std::thread::sleep(Duration::from_millis(150 + next() % 600));
        if child.try_wait().unwrap().is_none() {
            child.kill().unwrap(); // SIGKILL on Unix
            kills += 1;
        }
        child.wait().unwrap();
        let mut checked = 0;
        for entry in std::fs::read_dir(&ck_dir).into_iter().flatten() {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|e| e == "ckpt") {
                let ck = Checkpoint::load(&path).unwrap_or_else(|e| panic!("round {round}: {e:#}"));
                ck.load_module(common::seeded_mlp(16), &path)
                    .unwrap_or_else(|e| panic!("round {round}: {e:#}"));
                checked += 1;
            }
        }
        eprintln!("round {round}: {checked} checkpoints load");
    }
    assert!(
        kills > 0,
        "the child always finished before the kill; the test proved nothing"
    );
    // A final uninterrupted resume reaches the target.
    let status = spawn_child(&Job {
        dir: dir.clone(),
        max_steps: target,
        every_n_steps: 1,
        resume: Some(ck_dir.join("last.ckpt").display().to_string()),
        out: None,
    })
    .wait()
    .unwrap();
    assert!(status.success());
    let last = Checkpoint::load(&ck_dir.join("last.ckpt")).unwrap();
    assert_eq!(last.state.progress.global_step, target);
}
