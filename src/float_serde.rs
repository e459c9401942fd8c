//! Floats that survive a checkpoint's JSON header, NaN and ±inf included.
//!
//! serde_json writes a non-finite `f64` as `null` and then refuses to read `null` back as a
//! float: a plateau scheduler's `best` starts at +inf, so every checkpoint written before its
//! first validation could not be resumed (`invalid type: null, expected f64`). A NaN metric, a
//! top-k score or an early-stopping best can be non-finite too. Fields of checkpointed state use
//! these helpers (`#[serde(with = "crate::float_serde")]`, or the container variants): finite
//! values stay JSON numbers, non-finite ones become the strings `"NaN"`, `"inf"` and `"-inf"`.
//! Reading accepts numbers, those strings, and `null`, which earlier versions wrote for any
//! non-finite value and which is read as NaN (the value is lost; see each state's handling).

use std::collections::BTreeMap;
use std::fmt;

use serde::de::{self, Deserializer, Visitor};
use serde::{Deserialize, Serialize, Serializer};

/// An `f64` with the lossless encoding above, for use inside containers and tuples.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Lossless(pub f64);

impl Serialize for Lossless {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        if self.0.is_finite() {
            s.serialize_f64(self.0)
        } else {
            // Rust spells them "NaN", "inf" and "-inf", and parses the same spellings back.
            s.serialize_str(&self.0.to_string())
        }
    }
}

impl<'de> Deserialize<'de> for Lossless {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct FloatVisitor;
        impl Visitor<'_> for FloatVisitor {
            type Value = f64;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a number, or one of \"NaN\", \"inf\", \"-inf\"")
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<f64, E> {
                Ok(v)
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<f64, E> {
                Ok(v as f64)
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<f64, E> {
                Ok(v as f64)
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<f64, E> {
                match v {
                    "NaN" | "nan" => Ok(f64::NAN),
                    "inf" | "+inf" | "Infinity" => Ok(f64::INFINITY),
                    "-inf" | "-Infinity" => Ok(f64::NEG_INFINITY),
                    _ => Err(E::invalid_value(de::Unexpected::Str(v), &self)),
                }
            }
            // Checkpoints written before this encoding hold `null` for a non-finite value.
            fn visit_unit<E: de::Error>(self) -> Result<f64, E> {
                Ok(f64::NAN)
            }
        }
        d.deserialize_any(FloatVisitor).map(Lossless)
    }
}

/// `#[serde(with = "crate::float_serde")]` on an `f64` field.
pub fn serialize<S: Serializer>(v: &f64, s: S) -> Result<S::Ok, S::Error> {
    Lossless(*v).serialize(s)
}

/// See [`serialize`].
pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
    Lossless::deserialize(d).map(|l| l.0)
}

/// `#[serde(with = "crate::float_serde::option")]` on an `Option<f64>` field (`null` is `None`).
pub mod option {
    use super::*;

    /// Writes `None` as `null` and a value losslessly.
    pub fn serialize<S: Serializer>(v: &Option<f64>, s: S) -> Result<S::Ok, S::Error> {
        v.map(Lossless).serialize(s)
    }
    /// Reads what [`serialize`] wrote.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<f64>, D::Error> {
        Ok(Option::<Lossless>::deserialize(d)?.map(|l| l.0))
    }
}

/// `#[serde(with = "crate::float_serde::map")]` on a `BTreeMap<String, f64>` field.
pub mod map {
    use super::*;

    /// Writes every value losslessly.
    pub fn serialize<S: Serializer>(v: &BTreeMap<String, f64>, s: S) -> Result<S::Ok, S::Error> {
        s.collect_map(v.iter().map(|(k, v)| (k, Lossless(*v))))
    }
    /// Reads what [`serialize`] wrote.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<BTreeMap<String, f64>, D::Error> {
        let m = BTreeMap::<String, Lossless>::deserialize(d)?;
        Ok(m.into_iter().map(|(k, v)| (k, v.0)).collect())
    }
}

/// `#[serde(with = "crate::float_serde::pairs")]` on a `Vec<(T, f64)>` field (top-k scores).
pub mod pairs {
    use super::*;

    /// Writes every score losslessly.
    pub fn serialize<T: Serialize, S: Serializer>(v: &[(T, f64)], s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(v.iter().map(|(t, f)| (t, Lossless(*f))))
    }
    /// Reads what [`serialize`] wrote.
    pub fn deserialize<'de, T: Deserialize<'de>, D: Deserializer<'de>>(
        d: D,
    ) -> Result<Vec<(T, f64)>, D::Error> {
        let v = Vec::<(T, Lossless)>::deserialize(d)?;
        Ok(v.into_iter().map(|(t, f)| (t, f.0)).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Serialize, Deserialize)]
    struct State {
        #[serde(with = "crate::float_serde")]
        best: f64,
        #[serde(with = "option")]
        score: Option<f64>,
        #[serde(with = "map")]
        metrics: BTreeMap<String, f64>,
        #[serde(with = "pairs")]
        top: Vec<(String, f64)>,
    }

    fn same(a: f64, b: f64) -> bool {
        a.to_bits() == b.to_bits() || (a.is_nan() && b.is_nan())
    }

    #[test]
    fn every_float_round_trips_through_json_and_value() {
        let values = [
            f64::INFINITY,
            f64::NEG_INFINITY,
            f64::NAN,
            0.0,
            -0.0,
            1.5e-300,
            f64::MAX,
            0.1,
        ];
        for &v in &values {
            let state = State {
                best: v,
                score: Some(v),
                metrics: BTreeMap::from([("val_loss".into(), v)]),
                top: vec![("a.ckpt".into(), v)],
            };
            let text = serde_json::to_string(&state).unwrap();
            let back: State = serde_json::from_str(&text).unwrap();
            let value = serde_json::to_value(&state).unwrap();
            let via_value: State = serde_json::from_value(value).unwrap();
            for b in [&back, &via_value] {
                assert!(same(b.best, v), "{v} -> {text}");
                assert!(same(b.score.unwrap(), v), "{text}");
                assert!(same(b.metrics["val_loss"], v), "{text}");
                assert!(same(b.top[0].1, v), "{text}");
            }
        }
        let none: State =
            serde_json::from_str(r#"{"best": 1, "score": null, "metrics": {}, "top": []}"#)
                .unwrap();
        assert_eq!(none.score, None);
        assert_eq!(none.best, 1.0);
    }

    #[test]
    fn legacy_null_reads_as_nan_and_garbage_is_an_error() {
        let old: State = serde_json::from_str(
            r#"{"best": null, "score": 2.5, "metrics": {"a": null}, "top": [["x", null]]}"#,
        )
        .unwrap();
        assert!(old.best.is_nan() && old.metrics["a"].is_nan() && old.top[0].1.is_nan());
        let err = serde_json::from_str::<State>(
            r#"{"best": "lots", "score": null, "metrics": {}, "top": []}"#,
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("\"NaN\""), "{err}");
    }
}
