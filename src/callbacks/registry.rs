//! Callbacks by name: what a config's `trainer.callbacks` list builds, as LightningCLI resolves
//! a `class_path`. The built-ins are registered under Lightning's class names; a program adds
//! its own with one call to [`register_callback`], before the config is read.

use std::collections::BTreeMap;
use std::sync::{Arc, LazyLock, PoisonError, RwLock};

use anyhow::{Result, anyhow};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use super::backbone_finetuning::BackboneFinetuningConfig;
use super::early_stopping::EarlyStoppingConfig;
use super::gradient_accumulation_scheduler::GradientAccumulationSchedulerConfig;
use super::lr_monitor::LearningRateMonitorConfig;
use super::model_checkpoint::ModelCheckpointConfig;
use super::model_summary::ModelSummary;
use super::progress_bar::ProgressBar;
use super::stochastic_weight_avg::StochasticWeightAveragingConfig;
use super::throughput_monitor::ThroughputMonitorConfig;
use super::timer::TimerConfig;
use super::weight_averaging::{EmaWeightAveragingConfig, WeightAveraging};
use super::{AveragingFn, Callback};

/// Arguments checked and completed with their defaults, or serde's message on why not.
type Resolve = dyn Fn(Value) -> std::result::Result<Value, String> + Send + Sync;
/// The callback from resolved arguments.
type Build = dyn Fn(Value) -> Result<Box<dyn Callback>> + Send + Sync;

/// One registered callback.
struct Entry {
    resolve: Box<Resolve>,
    build: Box<Build>,
}

impl Entry {
    fn new<A, C>(init: impl Fn(A) -> Result<C> + Send + Sync + 'static) -> Self
    where
        A: DeserializeOwned + Serialize + 'static,
        C: Callback + 'static,
    {
        let init = Arc::new(init);
        let check = init.clone();
        Self {
            // The callback is built once here and dropped, so that what its constructor
            // refuses (SWA's non-positive rate, two checkpoint triggers) is an error at the
            // config's line, as LightningCLI instantiates while parsing.
            resolve: Box::new(move |args| {
                let args: A = serde_json::from_value(args).map_err(|e| e.to_string())?;
                let resolved = serde_json::to_value(&args).map_err(|e| e.to_string())?;
                check(args).map_err(|e| format!("{e:#}"))?;
                Ok(resolved)
            }),
            build: Box::new(move |args| {
                let args: A = serde_json::from_value(args)?;
                Ok(Box::new(init(args)?) as Box<dyn Callback>)
            }),
        }
    }
}

/// A callback that takes no arguments.
#[derive(serde::Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
struct NoArgs {}

static REGISTRY: LazyLock<RwLock<BTreeMap<String, Arc<Entry>>>> =
    LazyLock::new(|| RwLock::new(builtins()));

/// Lightning's callbacks that exist here, under Lightning's class names.
fn builtins() -> BTreeMap<String, Arc<Entry>> {
    let mut map = BTreeMap::new();
    let mut add = |name: &str, entry: Entry| {
        map.insert(name.to_string(), Arc::new(entry));
    };
    add(
        "EarlyStopping",
        Entry::new(|a: EarlyStoppingConfig| Ok(a.init())),
    );
    add(
        "ModelCheckpoint",
        Entry::new(|a: ModelCheckpointConfig| a.init()),
    );
    add(
        "LearningRateMonitor",
        Entry::new(|a: LearningRateMonitorConfig| Ok(a.init())),
    );
    add("Timer", Entry::new(|a: TimerConfig| a.init()));
    add(
        "GradientAccumulationScheduler",
        Entry::new(|a: GradientAccumulationSchedulerConfig| a.init()),
    );
    add(
        "ThroughputMonitor",
        Entry::new(|a: ThroughputMonitorConfig| Ok(a.init())),
    );
    add(
        "StochasticWeightAveraging",
        Entry::new(|a: StochasticWeightAveragingConfig| a.init()),
    );
    add(
        "BackboneFinetuning",
        Entry::new(|a: BackboneFinetuningConfig| Ok(a.init())),
    );
    add(
        "EMAWeightAveraging",
        Entry::new(|a: EmaWeightAveragingConfig| a.init()),
    );
    add(
        "WeightAveraging",
        Entry::new(|_: NoArgs| Ok(WeightAveraging::new(AveragingFn::Equal))),
    );
    add(
        "ModelSummary",
        Entry::new(|_: NoArgs| Ok(ModelSummary::default())),
    );
    add(
        "TQDMProgressBar",
        Entry::new(|_: NoArgs| Ok(ProgressBar::default())),
    );
    map
}

/// Registers `name` for callbacks that `init` builds from arguments `A`, a serde struct (mark
/// it `#[serde(deny_unknown_fields)]` so that a misspelt argument is an error, and give its
/// optional fields defaults). A config names it as `- name: {…}` or with `class_path: name`;
/// the same name registered again replaces the earlier entry.
///
/// ```
/// # use burn_lightning::callbacks::{register_callback, Timer};
/// #[derive(serde::Serialize, serde::Deserialize)]
/// #[serde(deny_unknown_fields)]
/// struct Budget { seconds: u64 }
/// register_callback("Budget", |b: Budget| {
///     Ok(Timer::with_duration(std::time::Duration::from_secs(b.seconds)))
/// });
/// ```
pub fn register_callback<A, C>(name: &str, init: impl Fn(A) -> Result<C> + Send + Sync + 'static)
where
    A: DeserializeOwned + Serialize + 'static,
    C: Callback + 'static,
{
    REGISTRY
        .write()
        .unwrap_or_else(PoisonError::into_inner)
        .insert(name.to_string(), Arc::new(Entry::new(init)));
}

/// The names a config may use, sorted.
pub fn registered_callbacks() -> Vec<String> {
    REGISTRY
        .read()
        .unwrap_or_else(PoisonError::into_inner)
        .keys()
        .cloned()
        .collect()
}

/// The registered name `class_path` stands for: itself, or its last dotted segment
/// (`lightning.pytorch.callbacks.EarlyStopping`), as LightningCLI users write it.
fn registered_name(class_path: &str) -> Option<String> {
    let registry = REGISTRY.read().unwrap_or_else(PoisonError::into_inner);
    [
        class_path,
        class_path.rsplit('.').next().unwrap_or(class_path),
    ]
    .into_iter()
    .find(|name| registry.contains_key(*name))
    .map(str::to_string)
}

fn entry(name: &str) -> Option<Arc<Entry>> {
    REGISTRY
        .read()
        .unwrap_or_else(PoisonError::into_inner)
        .get(name)
        .cloned()
}

/// Why `class_path` names no registered callback: the nearest name, or the list.
pub fn unknown_callback(class_path: &str) -> String {
    let names = registered_callbacks();
    let short = class_path.rsplit('.').next().unwrap_or(class_path);
    let nearest = crate::suggest::nearest(short, names.iter().map(String::as_str));
    match nearest {
        Some(n) => format!("unknown callback `{class_path}`; did you mean `{n}`?"),
        None => format!(
            "unknown callback `{class_path}`; registered callbacks: {}",
            names.join(", ")
        ),
    }
}

/// The registered name for `class_path` and `init_args` checked and completed with every
/// default (what `--print-config` shows); the error names the callback and the bad argument.
pub fn resolve_callback(
    class_path: &str,
    init_args: Value,
) -> std::result::Result<(String, Value), String> {
    let name = registered_name(class_path).ok_or_else(|| unknown_callback(class_path))?;
    let entry = entry(&name).ok_or_else(|| unknown_callback(class_path))?;
    let args = if init_args.is_null() {
        Value::Object(Default::default())
    } else {
        init_args
    };
    let resolved = (entry.resolve)(args).map_err(|e| {
        // A constructor's own message names the callback already.
        if e.starts_with(&format!("{name}:")) {
            e
        } else {
            format!("{name}: {e}")
        }
    })?;
    Ok((name, resolved))
}

/// Builds the callback `class_path` names from `init_args`.
pub fn build_callback(class_path: &str, init_args: &Value) -> Result<Box<dyn Callback>> {
    let (name, args) = resolve_callback(class_path, init_args.clone()).map_err(|e| anyhow!(e))?;
    let entry = entry(&name).ok_or_else(|| anyhow!(unknown_callback(class_path)))?;
    (entry.build)(args).map_err(|e| anyhow!("{name}: {e:#}"))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn built_ins_resolve_with_lightning_defaults_and_full_class_paths() {
        let (name, args) = resolve_callback(
            "lightning.pytorch.callbacks.EarlyStopping",
            json!({"monitor": "val_loss"}),
        )
        .unwrap();
        assert_eq!(name, "EarlyStopping");
        assert_eq!(args["patience"], 3);
        assert_eq!(args["mode"], "min");
        assert_eq!(args["check_finite"], true);
        let (_, args) = resolve_callback("ModelCheckpoint", Value::Null).unwrap();
        assert_eq!(args["save_top_k"], 1);
        assert_eq!(args["filename"], "{epoch}-{step}");
        let callback = build_callback("EarlyStopping", &json!({"monitor": "val_acc"})).unwrap();
        assert_eq!(callback.state_key(), "EarlyStopping{monitor=val_acc}");
    }

    #[test]
    fn unknown_names_and_arguments_name_the_nearest_valid_one() {
        let e = resolve_callback("EarlyStoping", Value::Null).unwrap_err();
        assert!(e.contains("did you mean `EarlyStopping`"), "{e}");
        let e = resolve_callback("Nothing", Value::Null).unwrap_err();
        assert!(e.contains("registered callbacks: "), "{e}");
        let e =
            resolve_callback("EarlyStopping", json!({"monitor": "x", "patiense": 2})).unwrap_err();
        assert!(
            e.starts_with("EarlyStopping: unknown field `patiense`"),
            "{e}"
        );
        let e = resolve_callback("EarlyStopping", json!({})).unwrap_err();
        assert!(e.contains("missing field `monitor`"), "{e}");
        let e = build_callback("StochasticWeightAveraging", &json!({"swa_lrs": -1.0}))
            .err()
            .unwrap();
        assert!(
            format!("{e:#}").contains("swa_lrs must be a positive number"),
            "{e:#}"
        );
    }

    #[test]
    fn a_registered_callback_is_built_from_its_arguments() {
        #[derive(serde::Deserialize, Serialize)]
        #[serde(deny_unknown_fields)]
        struct Warm {
            #[serde(default)]
            warmup: usize,
        }
        register_callback("WarmMonitor", |w: Warm| {
            Ok(super::super::ThroughputMonitor::with_warmup(w.warmup))
        });
        assert!(registered_callbacks().contains(&"WarmMonitor".to_string()));
        let (name, args) = resolve_callback("my.module.WarmMonitor", Value::Null).unwrap();
        assert_eq!(
            (name.as_str(), &args),
            ("WarmMonitor", &json!({"warmup": 0}))
        );
        let (_, args) = resolve_callback("WarmMonitor", json!({"warmup": 5})).unwrap();
        assert_eq!(args, json!({"warmup": 5}));
        let callback = build_callback("WarmMonitor", &json!({"warmup": 5})).unwrap();
        assert_eq!(callback.state_key(), "ThroughputMonitor");
    }
}
