//! [`SingleDevice`]: one rank; every cross-rank question answers itself.

use anyhow::Result;

use burn::tensor::TensorData;

use super::{GradientSync, Strategy};
use crate::distributed::RankInfo;

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
    fn broadcast_tensors(
        &self,
        _op: &str,
        tensors: Option<Vec<TensorData>>,
    ) -> Result<Vec<TensorData>> {
        Ok(tensors.unwrap_or_default())
    }
    fn all_reduce_mean(&self, _op: &str, values: Vec<f32>) -> Result<Vec<f32>> {
        Ok(values)
    }
    fn gradient_sync(&self) -> GradientSync {
        GradientSync::None
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
        assert_eq!(s.all_reduce_mean("g", vec![1.0, 2.0]).unwrap(), [1.0, 2.0]);
        assert_eq!(s.gradient_sync(), GradientSync::None);
    }
}
