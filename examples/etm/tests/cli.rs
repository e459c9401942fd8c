//! The real `etm` binary on tiny inputs: the seed's config.yaml verbatim (only the dataset's
//! data_dir changed) on a small 20 Newsgroups-layout corpus, every subcommand, and clear errors.

use std::path::{Path, PathBuf};
use std::process::Output;

use test_support::cli::{ExpectedHelp, assert_help};
use test_support::output_text as text;

fn etm(cwd: &Path, args: &[&str]) -> Output {
    test_support::run(env!("CARGO_BIN_EXE_etm"), cwd, args)
}

fn temp_dir(name: &str) -> PathBuf {
    test_support::temp_dir("etm-cli", name)
}

/// 120 short posts in the 20news-bydate layout over three themes, with e-mail headers.
fn write_newsgroups(root: &Path) {
    let themes = [
        (
            "rec.autos",
            [
                "engine", "car", "wheel", "brake", "driver", "fuel", "speed", "road",
            ],
        ),
        (
            "sci.space",
            [
                "orbit", "launch", "rocket", "moon", "nasa", "shuttle", "planet", "star",
            ],
        ),
        (
            "talk.politics",
            [
                "vote", "senate", "law", "party", "election", "court", "policy", "tax",
            ],
        ),
    ];
    for (split, count) in [("20news-bydate-train", 30), ("20news-bydate-test", 10)] {
        for (t, (group, words)) in themes.iter().enumerate() {
            let dir = root.join(split).join(group);
            std::fs::create_dir_all(&dir).unwrap();
            for i in 0..count {
                let body: Vec<&str> = (0..12)
                    .map(|j| words[(i * 7 + j * 3 + t) % words.len()])
                    .collect();
                let post = format!(
                    "From: user{i}@example.com\nSubject: about {group}\nLines: 3\n\n{} and the {}.\n",
                    body.join(" "),
                    words[i % words.len()]
                );
                std::fs::write(dir.join(format!("{}", 1000 + i)), post).unwrap();
            }
        }
    }
}

/// The seed's config.yaml, verbatim but for `data_dir`.
fn seed_config(dir: &Path, data_dir: &Path) -> PathBuf {
    let seed = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/seed_config.yaml"),
    )
    .unwrap();
    assert!(seed.contains("name: 20ng") && seed.contains("data_dir: ./data/20ng"));
    let config = seed.replace(
        "data_dir: ./data/20ng",
        &format!("data_dir: {}", data_dir.display()),
    );
    let path = dir.join("config.yaml");
    std::fs::write(&path, config).unwrap();
    path
}

#[test]
fn seed_config_runs_a_fast_dev_run_step_on_a_20news_layout_corpus() {
    let dir = temp_dir("seed");
    let data = dir.join("20ng");
    write_newsgroups(&data);
    let config = seed_config(&dir, &data);
    let out = etm(
        &dir,
        &[
            "-f",
            config.to_str().unwrap(),
            "--trainer.fast_dev_run=true",
            "--dataset.params.min_df=2",
        ],
    );
    assert!(out.status.success(), "{}", text(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    // The seed's removed trainer keys are mapped with a notice.
    assert!(stderr.contains("gpus"), "{}", text(&out));
    assert!(
        stderr.contains("dataset 20ng: 24 words, 120 documents"),
        "{}",
        text(&out)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(stdout.matches("topic ").count(), 50, "{}", text(&out));
}

/// Two CPU ranks: the network is built in `configure_model` from the vocabulary the
/// datamodule's `setup` publishes, so the second rank must wait for rank 0's `setup`.
#[test]
fn two_cpu_ranks_build_the_model_after_rank_zeros_setup() {
    let dir = temp_dir("ddp");
    let data = dir.join("20ng");
    write_newsgroups(&data);
    let config = seed_config(&dir, &data);
    let out = etm(
        &dir,
        &[
            "-f",
            config.to_str().unwrap(),
            "--trainer.fast_dev_run=2",
            "--trainer.devices=2",
            "--trainer.strategy=ddp",
            "--dataset.params.min_df=2",
            "--dataset.params.batch_size=16",
        ],
    );
    assert!(out.status.success(), "{}", text(&out));
    std::fs::remove_dir_all(dir).ok();
}

#[test]
fn fit_test_predict_and_topics_from_checkpoints() {
    let dir = temp_dir("commands");
    let data = dir.join("20ng");
    write_newsgroups(&data);
    let config = seed_config(&dir, &data);
    let cfg = config.to_str().unwrap();
    let common = [
        "--dataset.params.min_df=2",
        "--model.params.num_topics=3",
        "--model.params.rho_size=8",
        "--model.params.t_hidden_size=16",
        "--dataset.params.batch_size=16",
        "--trainer.check_val_every_n_epoch=1",
        "--trainer.progress_bar_refresh_rate=0",
    ];
    let with = |extra: &[&str]| -> Vec<String> {
        let mut v: Vec<String> = extra.iter().map(|s| s.to_string()).collect();
        v.extend(common.iter().map(|s| s.to_string()));
        v
    };
    let run = |args: Vec<String>| {
        let refs: Vec<&str> = args.iter().map(String::as_str).collect();
        etm(&dir, &refs)
    };

    let out = run(with(&["fit", "-f", cfg, "--trainer.max_epochs=3"]));
    assert!(out.status.success(), "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(stdout.contains("val_perplexity"), "{stdout}");
    assert!(stdout.contains("best checkpoint:"), "{stdout}");
    let run_dir = dir.join("experiments/lightning_logs/version_0");
    assert!(run_dir.join("hparams.yaml").is_file());
    assert!(run_dir.join("checkpoints/last.ckpt").is_file());
    let events = std::fs::read_dir(&run_dir).unwrap().flatten().any(|e| {
        e.file_name()
            .to_string_lossy()
            .starts_with("events.out.tfevents")
    });
    assert!(events, "no TensorBoard event file in {}", run_dir.display());

    let out = run(with(&["test", "-f", cfg, "--ckpt-path", "best"]));
    assert!(out.status.success(), "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        stdout.contains("test_perplexity") && stdout.contains("test_coherence"),
        "{stdout}"
    );

    let csv = dir.join("theta.csv");
    let out = run(with(&[
        "predict",
        "-f",
        cfg,
        "--ckpt-path",
        "last",
        "--output",
        csv.to_str().unwrap(),
    ]));
    assert!(out.status.success(), "{}", text(&out));
    let rows: Vec<String> = std::fs::read_to_string(&csv)
        .unwrap()
        .lines()
        .map(String::from)
        .collect();
    assert_eq!(rows[0], "document,topic_0,topic_1,topic_2");
    assert_eq!(rows.len(), 121, "a row per document");
    for row in &rows[1..] {
        let sum: f64 = row
            .split(',')
            .skip(1)
            .map(|v| v.parse::<f64>().unwrap())
            .sum();
        assert!((sum - 1.0).abs() < 1e-4, "proportions sum to {sum}: {row}");
    }

    // No -f: the module and data are rebuilt from the settings the checkpoint saved.
    let last = run_dir.join("checkpoints/last.ckpt");
    let out = etm(&dir, &["test", "--ckpt-path", last.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(stdout.contains("test_perplexity"), "{stdout}");
    let out = etm(&dir, &["test", "--ckpt-path", cfg]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("config.yaml"), "{stderr}");

    let out = run(with(&["topics", "-f", cfg, "--ckpt-path", "last"]));
    assert!(out.status.success(), "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert_eq!(stdout.matches("topic ").count(), 3, "{stdout}");
    assert!(
        stdout.contains("coherence") && stdout.contains("diversity"),
        "{stdout}"
    );
}

#[test]
fn print_config_and_clear_errors() {
    let dir = temp_dir("errors");
    let data = dir.join("20ng");
    let config = seed_config(&dir, &data);
    let cfg = config.to_str().unwrap();

    let out = etm(
        &dir,
        &["-f", cfg, "--print-config", "--model.params.num_topics=7"],
    );
    assert!(out.status.success(), "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("num_topics: 7"), "{stdout}");

    // An unknown key names the file, line and nearest key.
    let bad = dir.join("bad.yaml");
    std::fs::write(
        &bad,
        std::fs::read_to_string(&config)
            .unwrap()
            .replace("num_topics: 50", "num_topic: 50"),
    )
    .unwrap();
    let out = etm(&dir, &["-f", bad.to_str().unwrap()]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("bad.yaml:12") && stderr.contains("num_topics"),
        "{stderr}"
    );

    // An unregistered dataset lists the known ones.
    let out = etm(&dir, &["-f", cfg, "--dataset.name=imdb"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("`imdb` is not registered") && stderr.contains("nyt"),
        "{stderr}"
    );

    // Missing data says where it was looked for.
    let out = etm(&dir, &["-f", cfg]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.contains("20news-bydate") && stderr.contains(&data.display().to_string()),
        "{stderr}"
    );

    // A word id beyond the vocabulary names the file and line.
    let ldac = dir.join("ldac");
    std::fs::create_dir_all(&ldac).unwrap();
    std::fs::write(ldac.join("vocab.txt"), "apple\nbanana\n").unwrap();
    std::fs::write(ldac.join("corpus.ldac"), "1 0:2\n2 0:1 5:1\n").unwrap();
    let out = etm(
        &dir,
        &[
            "-f",
            cfg,
            "--dataset.name=ldac",
            &format!("--dataset.params.data_dir={}", ldac.display()),
        ],
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("corpus.ldac:2") && stderr.contains("word id 5"),
        "{stderr}"
    );

    // vocab_size that disagrees with the data.
    std::fs::write(ldac.join("corpus.ldac"), "1 0:2\n2 0:1 1:1\n1 1:3\n").unwrap();
    let out = etm(
        &dir,
        &[
            "-f",
            cfg,
            "--dataset.name=ldac",
            &format!("--dataset.params.data_dir={}", ldac.display()),
            "--model.params.vocab_size=3",
            "--dataset.params.val_fraction=0",
            "--dataset.params.test_fraction=0",
        ],
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("vocab_size is 3") && stderr.contains("has 2 words"),
        "{stderr}"
    );
}

#[test]
fn config_files_merge_in_order_and_print_config_reruns_the_same_experiment() {
    let dir = temp_dir("merge");
    let base = seed_config(&dir, &dir.join("20ng"));
    let fast = dir.join("fast.yaml");
    std::fs::write(
        &fast,
        "trainer:\n  max_epochs: 2\n  callbacks:\n    - EarlyStopping: {monitor: val_loss, patience: 1}\n  logger: [CSVLogger]\n",
    )
    .unwrap();
    let (base, fast) = (base.to_str().unwrap(), fast.to_str().unwrap());
    let out = etm(
        &dir,
        &[
            "-f",
            base,
            "-f",
            fast,
            "--print-config",
            "--trainer.max_epochs=4",
        ],
    );
    assert!(out.status.success(), "{}", text(&out));
    let printed = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        printed.contains("max_epochs: 4"),
        "the command line comes after the files: {printed}"
    );
    assert!(
        printed.contains("num_topics: 50"),
        "the base file's keys stay: {printed}"
    );
    assert!(printed.contains("class_path: EarlyStopping"), "{printed}");
    assert!(printed.contains("patience: 1"), "{printed}");
    assert!(printed.contains("class_path: CSVLogger"), "{printed}");
    // The printed config, given back alone, is the same experiment.
    let resolved = dir.join("resolved.yaml");
    std::fs::write(&resolved, &printed).unwrap();
    let out = etm(&dir, &["-f", resolved.to_str().unwrap(), "--print-config"]);
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(String::from_utf8_lossy(&out.stdout), printed);

    // A bad value in the later file names that file and line.
    let bad = dir.join("bad_fast.yaml");
    std::fs::write(
        &bad,
        "trainer:\n  max_epochs: 2\n  accumulate_grad_batches: many\n",
    )
    .unwrap();
    let out = etm(&dir, &["-f", base, "-f", bad.to_str().unwrap()]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("accumulate_grad_batches") && stderr.contains("bad_fast.yaml:3"),
        "{stderr}"
    );
    // An unknown callback in the later file names the nearest one.
    std::fs::write(&bad, "trainer:\n  callbacks: [EarlyStoping]\n").unwrap();
    let out = etm(&dir, &["-f", base, "-f", bad.to_str().unwrap()]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("did you mean `EarlyStopping`?") && stderr.contains("bad_fast.yaml:2"),
        "{stderr}"
    );
}

#[test]
fn every_shipped_config_loads() {
    let configs = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../configs");
    let mut seen = 0;
    for entry in std::fs::read_dir(&configs).unwrap().flatten() {
        let path = entry.path();
        if !path
            .file_name()
            .unwrap()
            .to_string_lossy()
            .starts_with("etm")
        {
            continue;
        }
        let out = etm(&configs, &["-f", path.to_str().unwrap(), "--print-config"]);
        assert!(out.status.success(), "{}: {}", path.display(), text(&out));
        seen += 1;
    }
    assert!(seen >= 3, "configs/etm*.yaml: found {seen}");
    // The overlays merge over the default config.
    let base = configs.join("etm.yaml");
    for entry in std::fs::read_dir(configs.join("overlays"))
        .unwrap()
        .flatten()
    {
        let overlay = entry.path();
        let out = etm(
            &configs,
            &[
                "-f",
                base.to_str().unwrap(),
                "-f",
                overlay.to_str().unwrap(),
                "--print-config",
            ],
        );
        assert!(
            out.status.success(),
            "{}: {}",
            overlay.display(),
            text(&out)
        );
        assert!(String::from_utf8_lossy(&out.stdout).contains("class_path:"));
    }
}

#[test]
fn help_version_and_usage_errors_follow_clap() {
    let dir = temp_dir("help");
    assert_help(
        env!("CARGO_BIN_EXE_etm"),
        &dir,
        &ExpectedHelp {
            name: "etm",
            version: env!("CARGO_PKG_VERSION"),
            commands: &["fit", "validate", "test", "predict", "topics"],
            keys: &[("model.params.num_topics", "50", "K, the number of topics.")],
            subcommand: ("topics", "--ckpt-path"),
        },
    );

    // Usage errors: clap's message, exit code 2.
    let out = etm(&dir, &["fit", "--confg", "x.yaml"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("unexpected argument '--confg'") && stderr.contains("--config"),
        "{stderr}"
    );
    let out = etm(&dir, &["tset"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("test"),
        "{}",
        text(&out)
    );

    // No config and no checkpoint: names the config to start from.
    let out = etm(&dir, &["fit"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("-f configs/etm.yaml"),
        "{}",
        text(&out)
    );
}

/// A warm-up + linear decay schedule (the shipped ones need no length) is sized by the Trainer's
/// `estimated_stepping_batches`: 3 batches an epoch (`limit_train_batches`) in windows of 2
/// (`accumulate_grad_batches`) over 3 epochs make 6 optimizer steps, which it spans exactly.
#[test]
fn a_warmup_schedule_spans_the_steps_the_trainer_takes() {
    let dir = temp_dir("schedule");
    let data = dir.join("20ng");
    write_newsgroups(&data);
    let config = seed_config(&dir, &data);
    let out = etm(
        &dir,
        &[
            "fit",
            "-f",
            config.to_str().unwrap(),
            "--dataset.params.min_df=2",
            "--dataset.params.batch_size=16",
            "--model.params.num_topics=3",
            "--model.params.rho_size=8",
            "--model.params.t_hidden_size=16",
            "--scheduler.name=linear_warmup",
            "--scheduler.params.interval=step",
            "--scheduler.params.num_warmup_steps=1",
            "--trainer.max_epochs=3",
            "--trainer.limit_train_batches=3",
            "--trainer.accumulate_grad_batches=2",
            "--trainer.log_every_n_steps=1",
            "--trainer.progress_bar_refresh_rate=0",
        ],
    );
    assert!(out.status.success(), "{}", text(&out));
    let metrics =
        std::fs::read_to_string(dir.join("experiments/lightning_logs/version_0/metrics.csv"))
            .unwrap();
    let rates = test_support::assert_linear_decay_ends_on_the_last_step(&metrics, "lr-optimizer");
    assert_eq!(rates.len(), 6, "one rate per optimizer step: {rates:?}");
}
