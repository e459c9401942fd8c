//! [`SingleDevice`]: one rank; every cross-rank question answers itself.

use anyhow::Result;

use super::Strategy;
use crate::distributed::{ProcessGroup, RankInfo};

/// The strategy of a run on one device.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct SingleDevice;

impl Strategy for SingleDevice {
    fn ranks(&self) -> RankInfo {
        RankInfo::default()
    }
    fn any_rank(&self, _op: &str, flag: bool) -> Result<bool> {
        Ok(flag)
    }
    fn rank_zero_value(&self, _op: &str, value: Option<f64>) -> Result<Option<f64>> {
        Ok(value)
    }
    fn all_gather(&self, _op: &str, value: f64) -> Result<Vec<f64>> {
        Ok(vec![value])
    }
    fn in_turn(&self, _f: &mut dyn FnMut()) -> Result<bool> {
        Ok(false)
    }
    fn process_group(&self) -> Option<&ProcessGroup> {
        None
    }
    fn host_gradient_sync(&self) -> bool {
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_are_the_local_values() {
        let s = SingleDevice;
        assert!(s.any_rank("stop", true).unwrap());
        assert!(!s.any_rank("stop", false).unwrap());
        assert_eq!(s.rank_zero_value("m", Some(2.0)).unwrap(), Some(2.0));
        assert_eq!(s.all_gather("x", 3.0).unwrap(), [3.0]);
        assert!(!s.is_distributed());
        let mut ran = false;
        assert!(!s.in_turn(&mut || ran = true).unwrap());
        assert!(!ran);
    }
}
