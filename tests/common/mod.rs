//! Helpers shared by the integration tests. The README's example module is the test model.
#![allow(dead_code)]

#[path = "../../examples/mlp.rs"]
pub mod mlp;

use std::path::{Path, PathBuf};

use burn::module::{Module, ModuleVisitor, Param};
use burn::prelude::*;
use burn_lightning::TrainerConfig;
use burn_lightning::trainer::Accelerator;

/// Quiet CPU trainer options rooted at `dir`.
pub fn quiet_config(dir: &Path) -> TrainerConfig {
    TrainerConfig {
        accelerator: Accelerator::Cpu,
        default_root_dir: dir.to_path_buf(),
        enable_progress_bar: false,
        enable_model_summary: false,
        ..Default::default()
    }
}

/// A fresh temporary directory for one test.
pub fn temp_dir(name: &str) -> PathBuf {
    test_support::temp_dir("bl", name)
}

struct Values(Vec<f32>);
#[allow(deprecated)]
impl ModuleVisitor for Values {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        self.0.extend(
            param
                .val()
                .into_data()
                .convert::<f32>()
                .to_vec::<f32>()
                .expect("f32 data"),
        );
    }
}

/// Every float parameter value of `module`, in visit order (ids excluded).
pub fn parameter_values<M: Module>(module: &M) -> Vec<f32> {
    let mut v = Values(Vec::new());
    module.visit(&mut v);
    v.0
}

/// An MLP initialised identically in every process.
pub fn seeded_mlp(width: usize) -> mlp::Mlp {
    Device::flex().seed(1234);
    mlp::Mlp::new(width)
}

/// An MLP whose weights come from a fixed formula rather than the backend's generator, which
/// tests running in parallel threads share (and reseed).
pub fn fixed_mlp(width: usize) -> mlp::Mlp {
    struct Fill(u64);
    impl burn::module::ModuleMapper for Fill {
        fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
            param.map(|t| {
                let dims = t.dims();
                let values: Vec<f32> = (0..dims.iter().product::<usize>())
                    .map(|_| {
                        self.0 ^= self.0 << 13;
                        self.0 ^= self.0 >> 7;
                        self.0 ^= self.0 << 17;
                        (self.0 >> 40) as f32 / (1u64 << 24) as f32 - 0.5
                    })
                    .collect();
                Tensor::<1>::from_floats(values.as_slice(), &t.device()).reshape(dims)
            })
        }
    }
    mlp::Mlp::new(width).map(&mut Fill(0x9E37_79B9_7F4A_7C15))
}
