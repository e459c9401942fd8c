//! What hooks log: the log store of step and epoch values ([`MetricStore`]) that loggers and
//! monitoring callbacks read, and the options of one `log` call.

mod log_store;

pub use log_store::{LogOptions, MetricStore, Reduce};
