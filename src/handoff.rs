//! [`DataHandoff`]: how a size known only after the datamodule's `setup` (a vocabulary, a
//! number of labels) reaches the module's `configure_model` without the caller preparing data
//! before the Trainer does.
//!
//! The Trainer runs `datamodule.setup` before `module.setup` and `configure_model` (see
//! `src/loops/fit_loop.rs`), but gives the module no reference to the datamodule. The two are
//! built from one handoff: the datamodule [`publish`](DataHandoff::publish)es in `setup`, the
//! module [`get`](DataHandoff::get)s in `configure_model`.

use std::fmt;
use std::sync::{Arc, Mutex};

use anyhow::{Result, anyhow};

/// A value the datamodule publishes in `setup` and the module reads afterwards; clones share it.
pub struct DataHandoff<T> {
    slot: Arc<Mutex<Option<T>>>,
    what: &'static str,
}

impl<T> Clone for DataHandoff<T> {
    fn clone(&self) -> Self {
        Self {
            slot: Arc::clone(&self.slot),
            what: self.what,
        }
    }
}

impl<T> fmt::Debug for DataHandoff<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DataHandoff({})", self.what)
    }
}

impl<T: Clone> DataHandoff<T> {
    /// An empty handoff; `what` names the value in the error of a read before `setup`.
    pub fn new(what: &'static str) -> Self {
        Self {
            slot: Arc::new(Mutex::new(None)),
            what,
        }
    }

    /// Stores `value` (a later `setup` replaces it).
    pub fn publish(&self, value: T) {
        // A poisoned lock only means another rank panicked mid-publish; the value is replaced.
        let mut slot = self.slot.lock().unwrap_or_else(|p| p.into_inner());
        *slot = Some(value);
    }

    /// The published value, or an error saying that the datamodule's `setup` has not run.
    pub fn get(&self) -> Result<T> {
        let slot = self.slot.lock().unwrap_or_else(|p| p.into_inner());
        slot.clone().ok_or_else(|| {
            anyhow!(
                "{} is not known yet: the datamodule's setup publishes it, and it has not run",
                self.what
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clones_share_the_published_value() {
        let data_side = DataHandoff::<usize>::new("the vocabulary size");
        let module_side = data_side.clone();
        let e = module_side.get().unwrap_err().to_string();
        assert!(e.contains("the vocabulary size is not known yet"), "{e}");
        data_side.publish(7);
        assert_eq!(module_side.get().unwrap(), 7);
    }
}
