//! [`ModuleHandle`]: what a callback sees of the module being trained, without knowing its type.
//!
//! Callbacks are not generic over the module (one `Vec<Box<dyn Callback>>` serves any module),
//! so the loops hand each callback hook a type-erased handle: named parameters to read and
//! write, their gradients where an optimizer holds some, freeze/unfreeze by name prefix, and
//! parameter counts (Lightning passes `pl_module` to every callback hook for the same reasons).
//!
//! SKELETON: the loops construct the handle with [`ModuleHandle::new`]; the methods are being
//! filled in (issue 16, item 5).

use crate::module::LightningModule;
use crate::optim::LightningOptimizer;

/// Type-erased access to a [`LightningModule`]'s parameters (blanket-implemented for every module).
pub trait ErasedModule {}

impl<M: LightningModule> ErasedModule for M {}

/// The module as a callback hook sees it, with the optimizers when the hook runs inside `fit`
/// (their accumulators hold the gradients; their groups carry learning rates).
pub struct ModuleHandle<'a> {
    #[allow(dead_code)]
    module: &'a mut dyn ErasedModule,
    #[allow(dead_code)]
    optimizers: Option<&'a mut [LightningOptimizer]>,
}

impl<'a> ModuleHandle<'a> {
    /// A handle on `module`, with the run's optimizers where they exist (`None` outside `fit`,
    /// or before `configure_optimizers`).
    pub fn new(
        module: &'a mut dyn ErasedModule,
        optimizers: Option<&'a mut [LightningOptimizer]>,
    ) -> Self {
        Self { module, optimizers }
    }
}
