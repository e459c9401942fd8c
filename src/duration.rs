//! Durations written as Lightning writes them: `DD:HH:MM:SS`.

use std::time::Duration;

use anyhow::{Result, bail};

/// Parses `DD:HH:MM:SS` (Lightning's `max_time` and `Timer(duration=…)` strings). A time whose seconds do not fit in
/// 64 bits (`999999999999999999:00:00:00`) is an error, not an overflow.
pub fn parse_duration(text: &str) -> Result<Duration> {
    let parts: Vec<&str> = text.split(':').collect();
    let nums: Option<Vec<u64>> = parts.iter().map(|p| p.trim().parse().ok()).collect();
    match nums.as_deref() {
        Some([d, h, m, s]) => {
            let secs = d
                .checked_mul(24)
                .and_then(|x| x.checked_add(*h))
                .and_then(|x| x.checked_mul(60))
                .and_then(|x| x.checked_add(*m))
                .and_then(|x| x.checked_mul(60))
                .and_then(|x| x.checked_add(*s));
            match secs {
                Some(secs) => Ok(Duration::from_secs(secs)),
                None => bail!(
                    "`{text}` is too long: at most {} seconds in all (use null for no time limit)",
                    u64::MAX
                ),
            }
        }
        _ => bail!("`{text}` must look like DD:HH:MM:SS (e.g. 00:12:00:00)"),
    }
}
