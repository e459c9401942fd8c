//! YAML configs: the seed project's config.yaml is accepted as is, and bad input is an error
//! naming the file, line, key, expectation and nearest valid key.

use std::path::Path;

use burn_lightning::config::ExperimentConfig;
use burn_lightning::optim::{OptimizerName, SchedulerName};
use burn_lightning::trainer::{Limit, Precision};
use serde_json::Value;

type Config = ExperimentConfig<Value, Value>;

fn load_text(text: &str, overrides: &[(&str, &str)]) -> anyhow::Result<Config> {
    // A directory per call: tests run in parallel, and texts of one length used to share one.
    let dir = test_support::temp_dir("bl-config", &text.len().to_string());
    let path = dir.join("config.yaml");
    std::fs::write(&path, text).unwrap();
    let overrides: Vec<(String, String)> = overrides
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    Config::load(&path, &overrides)
}

#[test]
fn the_seed_config_parses_with_its_meaning() {
    let c = Config::load(Path::new("tests/fixtures/seed_config.yaml"), &[]).unwrap();
    assert_eq!(c.seed, Some(1));
    assert_eq!(c.dataset.name, "20ng");
    assert_eq!(c.model.params["num_topics"], 50);
    assert_eq!(c.optimizer.name, OptimizerName::Adam);
    assert_eq!(c.optimizer.params.lr, 0.002);
    assert_eq!(c.optimizer.params.weight_decay, 1.2e-6);
    let s = c.scheduler.as_ref().unwrap();
    assert_eq!(
        (s.name, s.params.step_size, s.params.gamma),
        (SchedulerName::StepLr, 10, 0.5)
    );
    let t = &c.trainer;
    assert_eq!(
        (t.max_epochs, t.min_epochs, t.check_val_every_n_epoch),
        (Some(10), Some(1), Some(2))
    );
    assert_eq!(t.limit_train_batches, Limit::Fraction(1.0));
    assert_eq!(
        (
            t.log_every_n_steps,
            t.flush_logs_every_n_steps,
            t.num_sanity_val_steps
        ),
        (2, 100, 2)
    );
    assert_eq!(t.precision, Precision::F32);
    assert!(t.terminate_on_nan && t.deterministic && t.enable_progress_bar);
    assert_eq!(t.default_root_dir, Path::new("experiments"));
    // Deprecated keys were migrated, not kept.
    assert!(
        t.gpus.is_none() && t.auto_select_gpus.is_none() && t.progress_bar_refresh_rate.is_none()
    );
}

#[test]
fn overrides_apply_and_are_type_checked() {
    let text = std::fs::read_to_string("tests/fixtures/seed_config.yaml").unwrap();
    let c = load_text(
        &text,
        &[
            ("trainer.max_epochs", "3"),
            ("trainer.limit_val_batches", "5"),
            ("optimizer.name", "adamw"),
        ],
    )
    .unwrap();
    assert_eq!(c.trainer.max_epochs, Some(3));
    assert_eq!(c.trainer.limit_val_batches, Limit::Batches(5));
    assert_eq!(c.optimizer.name, OptimizerName::Adamw);
    let e = format!(
        "{:#}",
        load_text(&text, &[("trainer.max_epoch", "3")]).unwrap_err()
    );
    assert!(
        e.contains("max_epoch") && e.contains("did you mean `max_epochs`"),
        "{e}"
    );
    let e = format!(
        "{:#}",
        load_text(&text, &[("trainer.limit_val_batches", "1.5")]).unwrap_err()
    );
    assert!(
        e.contains("trainer.limit_val_batches") && e.contains("fraction in [0.0, 1.0]"),
        "{e}"
    );
}

#[test]
fn unknown_keys_name_file_line_key_and_nearest_valid_key() {
    let text = "seed: 1\ndataset:\n  name: x\n  params: {}\nmodel:\n  name: y\n  params: {}\ntrainer:\n  max_epochs: 2\n  acumulate_grad_batches: 2\n";
    let e = format!("{:#}", load_text(text, &[]).unwrap_err());
    assert!(
        e.contains("config.yaml:10")
            && e.contains("trainer.acumulate_grad_batches")
            && e.contains("did you mean `accumulate_grad_batches`"),
        "{e}"
    );
}

#[test]
fn wrong_types_and_out_of_range_values_are_errors() {
    let base = "dataset: {name: x, params: {}}\nmodel: {name: y, params: {}}\n";
    let e = format!(
        "{:#}",
        load_text(&format!("{base}trainer:\n  max_epochs: ten\n"), &[]).unwrap_err()
    );
    assert!(
        e.contains(":4") && e.contains("trainer.max_epochs") && e.contains("i64"),
        "{e}"
    );
    let e = format!(
        "{:#}",
        load_text(&format!("{base}trainer:\n  precision: 8\n"), &[]).unwrap_err()
    );
    assert!(
        e.contains("trainer.precision") && e.contains("unknown precision `8`"),
        "{e}"
    );
    let e = format!(
        "{:#}",
        load_text(
            &format!("{base}trainer:\n  accumulate_grad_batches: 0\n"),
            &[]
        )
        .unwrap_err()
    );
    assert!(
        e.contains("accumulate_grad_batches must be at least 1"),
        "{e}"
    );
    let e = format!(
        "{:#}",
        load_text(&format!("{base}trainer:\n  max_time: 12h\n"), &[]).unwrap_err()
    );
    assert!(e.contains("DD:HH:MM:SS"), "{e}");
    let e = format!(
        "{:#}",
        load_text(
            &format!("{base}optimizer:\n  name: adam\n  params: {{lr: 0.1, betas: 3}}\n"),
            &[]
        )
        .unwrap_err()
    );
    assert!(
        e.contains(":5") && e.contains("optimizer.params") && e.contains("expected sequence"),
        "{e}"
    );
}

#[test]
fn a_max_time_too_long_for_64_bits_is_an_error_naming_the_key() {
    let base = "dataset: {name: x, params: {}}\nmodel: {name: y, params: {}}\n";
    let e = format!(
        "{:#}",
        load_text(
            &format!("{base}trainer:\n  max_time: \"999999999999999999:00:00:00\"\n"),
            &[]
        )
        .unwrap_err()
    );
    assert!(
        e.contains("config.yaml") && e.contains("trainer.max_time") && e.contains("too long"),
        "{e}"
    );
    // The largest time that fits still loads.
    let c = load_text(
        &format!("{base}trainer:\n  max_time: \"00:00:00:10\"\n"),
        &[],
    )
    .unwrap();
    assert_eq!(c.trainer.max_time.as_deref(), Some("00:00:00:10"));
}

#[test]
fn an_unknown_key_names_the_nearest_valid_key_instead_of_every_field() {
    let base = "dataset: {name: x, params: {}}\nmodel: {name: y, params: {}}\n";
    let e = format!(
        "{:#}",
        load_text(&format!("{base}trainer:\n  max_epoch: 3\n"), &[]).unwrap_err()
    );
    assert!(
        e.contains("config.yaml:4")
            && e.contains("trainer.max_epoch")
            && e.contains("did you mean `max_epochs`?"),
        "{e}"
    );
    assert!(
        !e.contains("accumulate_grad_batches"),
        "the list of every field is noise once a near key is found: {e}"
    );
    // Nothing near: the valid keys are listed.
    let e = format!(
        "{:#}",
        load_text(&format!("{base}trainer:\n  zzzzzzzzzzzzzz: 3\n"), &[]).unwrap_err()
    );
    assert!(e.contains("expected one of"), "{e}");
}

#[test]
fn a_negative_count_says_a_positive_integer_was_expected() {
    let text = "dataset:\n  name: x\n  params: {}\nmodel: {name: y, params: {}}\ntrainer:\n  log_every_n_steps: -5\n";
    let e = format!("{:#}", load_text(text, &[]).unwrap_err());
    assert!(
        e.contains("config.yaml:6")
            && e.contains("trainer.log_every_n_steps")
            && e.contains("expected a positive integer")
            && e.contains("-5"),
        "{e}"
    );
    let text = std::fs::read_to_string("tests/fixtures/seed_config.yaml").unwrap();
    let e = format!(
        "{:#}",
        load_text(&text, &[("trainer.log_every_n_steps", "-5")]).unwrap_err()
    );
    assert!(
        e.contains("trainer.log_every_n_steps") && e.contains("expected a positive integer"),
        "{e}"
    );
}

#[test]
fn an_empty_file_says_it_is_empty() {
    for text in ["", "\n\n", "# only a comment\n"] {
        let e = format!("{:#}", load_text(text, &[]).unwrap_err());
        assert!(e.contains("config.yaml") && e.contains("is empty"), "{e}");
    }
}

#[test]
fn a_misindented_key_says_the_indentation_is_wrong_at_its_line() {
    let base = "dataset: {name: x, params: {}}\nmodel: {name: y, params: {}}\n";
    for (trainer, line) in [
        (
            "trainer:\n  max_epochs: 3\n   min_epochs: 1\n  max_steps: 5\n",
            5,
        ),
        ("trainer:\n    max_epochs: 3\n  min_epochs: 1\n", 5),
    ] {
        let e = format!(
            "{:#}",
            load_text(&format!("{base}{trainer}"), &[]).unwrap_err()
        );
        assert!(
            e.contains(&format!("config.yaml:{line}"))
                && e.contains("indentation is wrong")
                && e.contains("min_epochs"),
            "{e}"
        );
    }
    // A trainer option that lost its indentation altogether.
    let e = format!(
        "{:#}",
        load_text(
            &format!("{base}trainer:\n  max_epochs: 3\nmin_epochs: 1\n"),
            &[]
        )
        .unwrap_err()
    );
    assert!(
        e.contains("config.yaml:5")
            && e.contains("indentation is wrong, indent it under `trainer:`"),
        "{e}"
    );
}
