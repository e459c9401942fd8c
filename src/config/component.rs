//! Entries of `trainer.callbacks` and `trainer.logger` as LightningCLI writes them:
//! `{class_path: EarlyStopping, init_args: {monitor: val_loss}}`, the short form
//! `EarlyStopping: {monitor: val_loss}`, or a bare name. Each entry is checked while the
//! config is read, so that an unknown name or argument is an error at its line; it is kept
//! with its arguments completed, which `--print-config` prints in the long form.

use std::fmt;
use std::marker::PhantomData;

use serde::de::{self, Deserializer};
use serde::ser::{SerializeMap, Serializer};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// What a kind of entry resolves against (the callback registry, the loggers).
pub trait ComponentKind {
    /// What the entries are, in errors (`callback`).
    const WHAT: &'static str;
    /// The registered name `class_path` stands for and `init_args` completed with defaults.
    fn resolve(class_path: &str, init_args: Value) -> Result<(String, Value), String>;
}

/// `trainer.callbacks` entries: [`crate::callbacks::register_callback`]'s registry.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CallbackKind;

impl ComponentKind for CallbackKind {
    const WHAT: &'static str = "callback";
    fn resolve(class_path: &str, init_args: Value) -> Result<(String, Value), String> {
        crate::callbacks::resolve_callback(class_path, init_args)
    }
}

/// `trainer.logger` entries: [`crate::loggers::resolve_logger`]'s loggers.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LoggerKind;

impl ComponentKind for LoggerKind {
    const WHAT: &'static str = "logger";
    fn resolve(class_path: &str, init_args: Value) -> Result<(String, Value), String> {
        crate::loggers::resolve_logger(class_path, init_args)
    }
}

/// One entry: a registered name and its arguments, every default filled in.
#[derive(Debug, Clone, PartialEq)]
pub struct ComponentSpec<K> {
    /// The registered name.
    pub class_path: String,
    /// The arguments, completed.
    pub init_args: Value,
    kind: PhantomData<K>,
}

/// A `trainer.callbacks` entry.
pub type CallbackSpec = ComponentSpec<CallbackKind>;
/// A `trainer.logger` entry.
pub type LoggerSpec = ComponentSpec<LoggerKind>;

impl<K: ComponentKind> ComponentSpec<K> {
    /// `class_path` with `init_args` (null: every default), checked and completed.
    pub fn new(class_path: &str, init_args: Value) -> Result<Self, String> {
        let (class_path, init_args) = K::resolve(class_path, init_args)?;
        Ok(Self {
            class_path,
            init_args,
            kind: PhantomData,
        })
    }

    /// Reads one entry in any of the three forms.
    fn from_value(value: Value) -> Result<Self, String> {
        let what = K::WHAT;
        let form = format!(
            "expected a {what} name, `Name: {{arguments}}` or `{{class_path: Name, init_args: {{arguments}}}}`"
        );
        match value {
            Value::String(name) => Self::new(&name, Value::Null),
            Value::Object(mut map) if map.contains_key("class_path") => {
                let Some(Value::String(class_path)) = map.remove("class_path") else {
                    return Err(format!("class_path must be the {what}'s name"));
                };
                let init_args = map.remove("init_args").unwrap_or(Value::Null);
                if let Some(other) = map.keys().next() {
                    return Err(format!(
                        "unexpected key `{other}` beside class_path in a {what} entry (expected init_args)"
                    ));
                }
                Self::new(&class_path, init_args)
            }
            Value::Object(map) if map.len() == 1 => {
                let (name, args) = map.into_iter().next().expect("one entry");
                Self::new(&name, args)
            }
            _ => Err(form),
        }
    }
}

impl<'de, K: ComponentKind> Deserialize<'de> for ComponentSpec<K> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let value = Value::deserialize(deserializer)?;
        Self::from_value(value).map_err(de::Error::custom)
    }
}

impl<K> Serialize for ComponentSpec<K> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(2))?;
        map.serialize_entry("class_path", &self.class_path)?;
        map.serialize_entry("init_args", &self.init_args)?;
        map.end()
    }
}

/// `trainer.logger`: `true` (Lightning's default: TensorBoard, and here CSV beside it, under
/// `<root>/lightning_logs/version_N`), `false` (no logger), or one logger or a list of them.
#[derive(Debug, Clone, PartialEq)]
pub enum LoggerSetting {
    /// The default loggers, or none.
    Enabled(bool),
    /// These loggers, in order (the first one's directory is the run's `log_dir`).
    Loggers(Vec<LoggerSpec>),
}

impl Default for LoggerSetting {
    fn default() -> Self {
        Self::Enabled(true)
    }
}

impl From<bool> for LoggerSetting {
    fn from(on: bool) -> Self {
        Self::Enabled(on)
    }
}

impl LoggerSetting {
    /// The loggers this setting builds: `(name, arguments)`, none when off.
    pub fn specs(&self) -> Vec<(String, Value)> {
        match self {
            Self::Enabled(false) => Vec::new(),
            Self::Enabled(true) => ["TensorBoardLogger", "CSVLogger"]
                .into_iter()
                .map(|name| (name.to_string(), Value::Null))
                .collect(),
            Self::Loggers(specs) => specs
                .iter()
                .map(|s| (s.class_path.clone(), s.init_args.clone()))
                .collect(),
        }
    }

    /// Whether any logger is on.
    pub fn is_enabled(&self) -> bool {
        match self {
            Self::Enabled(on) => *on,
            Self::Loggers(specs) => !specs.is_empty(),
        }
    }
}

/// A list that may be written `null` (LightningCLI prints `callbacks: null`): empty.
pub(crate) fn null_as_empty<'de, D, T>(deserializer: D) -> Result<Vec<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<Vec<T>>::deserialize(deserializer).map(Option::unwrap_or_default)
}

impl<'de> Deserialize<'de> for LoggerSetting {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        match Value::deserialize(deserializer)? {
            Value::Bool(on) => Ok(Self::Enabled(on)),
            // LightningCLI prints `logger: null` for the default.
            Value::Null => Ok(Self::Enabled(true)),
            Value::Array(items) => items
                .into_iter()
                .map(LoggerSpec::from_value)
                .collect::<Result<Vec<_>, _>>()
                .map(Self::Loggers)
                .map_err(de::Error::custom),
            one => LoggerSpec::from_value(one)
                .map(|spec| Self::Loggers(vec![spec]))
                .map_err(|e| {
                    de::Error::custom(format!(
                        "{e} (trainer.logger is true, false, a logger or a list of loggers)"
                    ))
                }),
        }
    }
}

impl Serialize for LoggerSetting {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Self::Enabled(on) => serializer.serialize_bool(*on),
            Self::Loggers(specs) => specs.serialize(serializer),
        }
    }
}

impl fmt::Display for LoggerSetting {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Enabled(on) => write!(f, "{on}"),
            Self::Loggers(specs) => {
                let names: Vec<&str> = specs.iter().map(|s| s.class_path.as_str()).collect();
                write!(f, "[{}]", names.join(", "))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn the_three_forms_read_alike_and_print_in_the_long_form() {
        let long: CallbackSpec = serde_json::from_value(json!({
            "class_path": "lightning.pytorch.callbacks.EarlyStopping",
            "init_args": {"monitor": "val_loss", "patience": 5}
        }))
        .unwrap();
        let short: CallbackSpec = serde_json::from_value(
            json!({"EarlyStopping": {"monitor": "val_loss", "patience": 5}}),
        )
        .unwrap();
        assert_eq!(long, short);
        let printed = serde_json::to_value(&long).unwrap();
        assert_eq!(printed["class_path"], "EarlyStopping");
        assert_eq!(printed["init_args"]["min_delta"], 0.0);
        let again: CallbackSpec = serde_json::from_value(printed).unwrap();
        assert_eq!(again, long);
        let bare: CallbackSpec = serde_json::from_value(json!("LearningRateMonitor")).unwrap();
        assert_eq!(bare.init_args, json!({"logging_interval": null}));
    }

    #[test]
    fn malformed_entries_say_which_forms_are_expected() {
        let e = serde_json::from_value::<CallbackSpec>(json!({"A": 1, "B": 2})).unwrap_err();
        assert!(e.to_string().contains("expected a callback name"), "{e}");
        let e = serde_json::from_value::<CallbackSpec>(json!({"class_path": "Timer", "args": {}}))
            .unwrap_err();
        assert!(e.to_string().contains("unexpected key `args`"), "{e}");
    }

    #[test]
    fn logger_setting_is_a_switch_one_logger_or_a_list() {
        let off: LoggerSetting = serde_json::from_value(json!(false)).unwrap();
        assert!(off.specs().is_empty() && !off.is_enabled());
        let on = LoggerSetting::default();
        assert_eq!(on.specs().len(), 2);
        let one: LoggerSetting = serde_json::from_value(json!("CSVLogger")).unwrap();
        assert_eq!(one.specs()[0].0, "CSVLogger");
        let list: LoggerSetting =
            serde_json::from_value(json!([{"TensorBoardLogger": {"name": "tb"}}, "csv"])).unwrap();
        assert_eq!(list.to_string(), "[TensorBoardLogger, CSVLogger]");
        let printed = serde_json::to_value(&list).unwrap();
        assert_eq!(
            serde_json::from_value::<LoggerSetting>(printed).unwrap(),
            list
        );
        assert_eq!(
            serde_json::from_value::<LoggerSetting>(Value::Null).unwrap(),
            LoggerSetting::Enabled(true)
        );
        let e = serde_json::from_value::<LoggerSetting>(json!(3)).unwrap_err();
        assert!(
            e.to_string().contains("trainer.logger is true, false"),
            "{e}"
        );
    }
}
