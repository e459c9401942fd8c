//! [`ModuleHandle`]: what a callback sees of the module being trained, without knowing its type.
//!
//! Callbacks are not generic over the module (one `Vec<Box<dyn Callback>>` serves any module),
//! so the loops hand each callback hook a type-erased handle: named parameters to read and
//! write, their gradients where an optimizer holds some, freeze/unfreeze by name prefix, and
//! parameter counts (Lightning passes `pl_module` to every callback hook for the same reasons).
//!
//! Parameters are named by the dotted paths of [`named_parameters`](crate::optim::named_parameters)
//! (`encoder.layer.0.output.dense.weight`). Writes keep each parameter's `ParamId` (so optimizer
//! state stays attached), its device, dtype and gradient requirement, whether the module is in
//! training (autodiff) or evaluation form at the time.

use anyhow::{Context, Result, bail};
use burn::module::{Module, ModuleMapper, ModuleVisitor, Param, ParamId};
use burn::optim::GradientsParams;
use burn::prelude::*;
use burn::store::ModuleRecord;
use burn::tensor::{Bytes, TensorData};

use crate::optim::LightningOptimizer;

/// One parameter as [`ModuleHandle::parameters`] lists it.
#[derive(Debug, Clone, PartialEq)]
pub struct ParamInfo {
    /// Dotted path (`backbone.0.weight`).
    pub path: String,
    /// The id optimizers key their state and gradients by.
    pub id: ParamId,
    /// Shape.
    pub shape: Vec<usize>,
    /// Whether it is trained (burn's `require_grad`; kept while the module is in eval form).
    pub trainable: bool,
}

/// Every parameter's value, flattened and detached, in visiting order: what weight averaging
/// keeps, and what [`ModuleHandle::restore`] puts back.
#[derive(Debug, Clone)]
pub struct Weights {
    /// One flat tensor per parameter (no autodiff), in the module's visiting order.
    pub tensors: Vec<Tensor<1>>,
}

/// Type-erased access to a [`LightningModule`](crate::LightningModule)'s parameters (blanket-implemented for every
/// module). The handle's methods are the API; these are the object-safe primitives under them.
pub trait ErasedModule {
    /// Path, id, shape and trainability of every float parameter, in visiting order.
    fn parameter_infos(&self) -> Vec<ParamInfo>;
    /// Every parameter's value, flattened, without autodiff.
    fn snapshot(&self) -> Weights;
    /// Replaces the value of every parameter for which `value` (given its visit index and path)
    /// returns a flat tensor; the rest keep theirs. Sizes are checked by the caller.
    fn write(&mut self, value: &mut dyn FnMut(usize, &str) -> Option<Tensor<1>>);
    /// Sets `require_grad` of the parameters whose path `select` accepts; returns how many.
    fn set_trainable(&mut self, select: &dyn Fn(&str) -> bool, trainable: bool) -> usize;
    /// The flat gradient of parameter `index` in `grads`, if it has one.
    fn gradient(&self, index: usize, grads: &GradientsParams) -> Option<Tensor<1>>;
    /// The module's weights as burn record bytes (what a checkpoint's `module` section holds).
    fn record_bytes(&self) -> Result<Vec<u8>>;
    /// Loads record bytes written by [`record_bytes`](Self::record_bytes).
    fn load_record_bytes(&mut self, bytes: &[u8]) -> Result<()>;
}

struct Paths {
    prefix: Vec<String>,
    index: usize,
}

impl Paths {
    fn new() -> Self {
        Self {
            prefix: Vec::new(),
            index: 0,
        }
    }
    fn enter(&mut self, name: &str) {
        self.prefix.push(name.to_string());
    }
    fn exit(&mut self) {
        self.prefix.pop();
    }
    /// The current parameter's visit index and path; advances the index.
    fn next(&mut self) -> (usize, String) {
        self.index += 1;
        (self.index - 1, self.prefix.join("."))
    }
}

/// Whether a parameter is trained. During validation the module is in eval form (no autodiff,
/// `require_grad` off) but burn remembers the training setting and `train()` restores it; burn
/// does not expose that setting, so it is read from a `train()`ed copy (cheap: tensors are shared).
fn is_trainable<const D: usize>(param: &Param<Tensor<D>>) -> bool {
    Module::train(param.clone()).val().is_require_grad()
}

/// The detached, flattened, autodiff-free value of a parameter.
fn flat<const D: usize>(tensor: Tensor<D>) -> Tensor<1> {
    tensor.without_autodiff().flatten(0, D.saturating_sub(1))
}

/// `value` in the form of `old`: its shape, device, dtype, autodiff, gradient requirement, and
/// the distributed mark (on CUDA DDP, a parameter that lost it would leave burn's gradient
/// all-reduce on this rank alone, and the other ranks would wait for it forever).
fn like<const D: usize>(old: Tensor<D>, value: Tensor<1>, id: ParamId) -> Tensor<D> {
    let device = old.device();
    let require_grad = old.is_require_grad();
    // burn panics asking a tensor without autodiff (validation form) whether it is distributed.
    let distributed = device.is_autodiff() && old.is_distributed();
    let mut tensor: Tensor<D> = value
        .without_autodiff()
        .to_device(&device.clone().without_autodiff())
        .reshape(old.shape())
        .cast(old.dtype());
    if device.is_autodiff() {
        tensor = tensor.autodiff();
    }
    let tensor = tensor.set_require_grad(require_grad);
    if distributed {
        tensor.set_distributed(id)
    } else {
        tensor
    }
}

impl<M: Module + 'static> ErasedModule for M {
    fn parameter_infos(&self) -> Vec<ParamInfo> {
        struct Infos(Paths, Vec<ParamInfo>);
        impl ModuleVisitor for Infos {
            fn enter_module(&mut self, name: &str, _container: &str) {
                self.0.enter(name);
            }
            fn exit_module(&mut self, _name: &str, _container: &str) {
                self.0.exit();
            }
            fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
                let (_, path) = self.0.next();
                self.1.push(ParamInfo {
                    path,
                    id: param.id,
                    shape: param.lazy_shape().to_vec(),
                    trainable: is_trainable(param),
                });
            }
        }
        let mut infos = Infos(Paths::new(), Vec::new());
        self.visit(&mut infos);
        infos.1
    }

    fn snapshot(&self) -> Weights {
        struct Snapshot(Vec<Tensor<1>>);
        impl ModuleVisitor for Snapshot {
            fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
                self.0.push(flat(param.val()));
            }
        }
        let mut snapshot = Snapshot(Vec::new());
        self.visit(&mut snapshot);
        Weights {
            tensors: snapshot.0,
        }
    }

    fn write(&mut self, value: &mut dyn FnMut(usize, &str) -> Option<Tensor<1>>) {
        struct Write<'a> {
            paths: Paths,
            value: &'a mut dyn FnMut(usize, &str) -> Option<Tensor<1>>,
        }
        impl ModuleMapper for Write<'_> {
            fn enter_module(&mut self, name: &str, _container: &str) {
                self.paths.enter(name);
            }
            fn exit_module(&mut self, _name: &str, _container: &str) {
                self.paths.exit();
            }
            fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
                let (index, path) = self.paths.next();
                match (self.value)(index, &path) {
                    // `Param::map` keeps the id and the remembered training setting.
                    Some(value) => {
                        let id = param.id;
                        param.map(|old| like(old, value, id))
                    }
                    None => param,
                }
            }
        }
        let mut write = Write {
            paths: Paths::new(),
            value,
        };
        *self = self.clone().map(&mut write);
    }

    fn set_trainable(&mut self, select: &dyn Fn(&str) -> bool, trainable: bool) -> usize {
        struct SetTrainable<'a> {
            paths: Paths,
            select: &'a dyn Fn(&str) -> bool,
            trainable: bool,
            count: usize,
        }
        impl ModuleMapper for SetTrainable<'_> {
            fn enter_module(&mut self, name: &str, _container: &str) {
                self.paths.enter(name);
            }
            fn exit_module(&mut self, _name: &str, _container: &str) {
                self.paths.exit();
            }
            fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
                let (_, path) = self.paths.next();
                if (self.select)(&path) {
                    self.count += 1;
                    param.set_require_grad(self.trainable)
                } else {
                    param
                }
            }
        }
        let mut mapper = SetTrainable {
            paths: Paths::new(),
            select,
            trainable,
            count: 0,
        };
        *self = self.clone().map(&mut mapper);
        mapper.count
    }

    fn gradient(&self, index: usize, grads: &GradientsParams) -> Option<Tensor<1>> {
        struct Grad<'a> {
            at: usize,
            index: usize,
            grads: &'a GradientsParams,
            out: Option<Tensor<1>>,
        }
        impl ModuleVisitor for Grad<'_> {
            fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
                if self.at == self.index {
                    self.out = self.grads.get::<D>(param.id).map(flat);
                }
                self.at += 1;
            }
        }
        let mut grad = Grad {
            at: 0,
            index,
            grads,
            out: None,
        };
        self.visit(&mut grad);
        grad.out
    }

    fn record_bytes(&self) -> Result<Vec<u8>> {
        let bytes = self
            .clone()
            .into_record()
            .into_bytes()
            .map_err(|e| anyhow::anyhow!("cannot serialise module weights: {e:?}"))?;
        Ok(bytes.to_vec())
    }

    fn load_record_bytes(&mut self, bytes: &[u8]) -> Result<()> {
        let record = ModuleRecord::from_bytes(Bytes::from_bytes_vec(bytes.to_vec()))
            .map_err(|e| anyhow::anyhow!("module weights are unreadable: {e:?}"))?;
        *self = self
            .clone()
            .try_load_record(record)
            .map_err(|e| anyhow::anyhow!("module weights do not fit this model: {e:?}"))?;
        Ok(())
    }
}

/// Whether `path` lies under `prefix` (a whole path component: `backbone` covers
/// `backbone.0.weight`, not `backbone2.weight`; the empty prefix covers everything).
pub fn under_prefix(path: &str, prefix: &str) -> bool {
    prefix.is_empty()
        || path == prefix
        || path
            .strip_prefix(prefix)
            .is_some_and(|rest| rest.starts_with('.'))
}

/// The module as a callback hook sees it, with the optimizers when the hook runs inside `fit`
/// (their accumulators hold the gradients; their groups carry learning rates).
pub struct ModuleHandle<'a> {
    module: &'a mut dyn ErasedModule,
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

    /// Every float parameter: path, id, shape, whether it is trained; in visiting order.
    pub fn parameters(&self) -> Vec<ParamInfo> {
        self.module.parameter_infos()
    }

    /// Total number of parameter elements (Lightning's "Total params").
    pub fn num_parameters(&self) -> usize {
        self.parameters()
            .iter()
            .map(|p| p.shape.iter().product::<usize>())
            .sum()
    }

    /// Number of trained parameter elements (Lightning's "Trainable params").
    pub fn num_trainable_parameters(&self) -> usize {
        self.parameters()
            .iter()
            .filter(|p| p.trainable)
            .map(|p| p.shape.iter().product::<usize>())
            .sum()
    }

    /// The ids of the parameters under `prefix` (for optimizer parameter groups).
    pub fn parameter_ids(&self, prefix: &str) -> Vec<ParamId> {
        self.parameters()
            .into_iter()
            .filter(|p| under_prefix(&p.path, prefix))
            .map(|p| p.id)
            .collect()
    }

    fn find(&self, path: &str) -> Result<(usize, ParamInfo)> {
        let params = self.parameters();
        let found = params.iter().position(|p| p.path == path);
        match found {
            Some(index) => Ok((index, params[index].clone())),
            None => {
                let known: Vec<&str> = params.iter().take(8).map(|p| p.path.as_str()).collect();
                bail!(
                    "the module has no parameter `{path}` (it has {} parameters, e.g. {})",
                    params.len(),
                    known.join(", ")
                )
            }
        }
    }

    /// The value of parameter `path`, flattened, detached and without autodiff, on its device.
    pub fn parameter(&self, path: &str) -> Result<Tensor<1>> {
        let (index, _) = self.find(path)?;
        self.module
            .snapshot()
            .tensors
            .into_iter()
            .nth(index)
            .with_context(|| format!("parameter `{path}` vanished while being read"))
    }

    /// The value of parameter `path` on the host, with its shape.
    pub fn parameter_data(&self, path: &str) -> Result<TensorData> {
        let (_, info) = self.find(path)?;
        let values = self
            .parameter(path)?
            .into_data()
            .convert::<f32>()
            .try_into_vec::<f32>()
            .map_err(|e| anyhow::anyhow!("parameter `{path}` cannot be read as f32: {e:?}"))?;
        Ok(TensorData::new(values, info.shape))
    }

    /// Replaces the value of parameter `path` with `value` (any shape with the same number of
    /// elements, on any device); its id, device, dtype and gradient requirement are kept.
    pub fn set_parameter(&mut self, path: &str, value: Tensor<1>) -> Result<()> {
        let (index, info) = self.find(path)?;
        let expected: usize = info.shape.iter().product();
        if value.dims()[0] != expected {
            bail!(
                "cannot write parameter `{path}`: it has shape {:?} ({expected} elements), the value has {} elements",
                info.shape,
                value.dims()[0]
            );
        }
        let mut value = Some(value);
        self.module
            .write(&mut |i, _| if i == index { value.take() } else { None });
        Ok(())
    }

    /// Replaces the value of parameter `path` with host data of the same shape.
    pub fn set_parameter_data(&mut self, path: &str, value: TensorData) -> Result<()> {
        let (_, info) = self.find(path)?;
        if value.shape().to_vec() != info.shape {
            bail!(
                "cannot write parameter `{path}`: it has shape {:?}, the value has shape {:?}",
                info.shape,
                value.shape()
            );
        }
        let device = self.parameter(path)?.device();
        let values = value
            .convert::<f32>()
            .try_into_vec::<f32>()
            .map_err(|e| anyhow::anyhow!("value for `{path}` cannot be read as f32: {e:?}"))?;
        self.set_parameter(path, Tensor::<1>::from_floats(values.as_slice(), &device))
    }

    /// The accumulated gradient of parameter `path` (summed over the optimizers holding one),
    /// flattened; `None` outside `fit`, after the optimizer step cleared it, or for a frozen
    /// parameter.
    pub fn gradient(&self, path: &str) -> Result<Option<Tensor<1>>> {
        let (index, _) = self.find(path)?;
        let Some(optimizers) = self.optimizers.as_deref() else {
            return Ok(None);
        };
        Ok(optimizers
            .iter()
            .filter_map(|o| o.gradients())
            .filter_map(|g| self.module.gradient(index, g))
            .reduce(|a, b| a + b))
    }

    /// Stops training the parameters under `prefix` (burn's `require_grad = false`: they get no
    /// gradient, so no optimizer step changes them); returns how many; an error if none matched.
    pub fn freeze(&mut self, prefix: &str) -> Result<usize> {
        self.set_trainable(prefix, false)
    }

    /// Trains the parameters under `prefix` again; returns how many; an error if none matched.
    pub fn unfreeze(&mut self, prefix: &str) -> Result<usize> {
        self.set_trainable(prefix, true)
    }

    fn set_trainable(&mut self, prefix: &str, trainable: bool) -> Result<usize> {
        let count = self
            .module
            .set_trainable(&|path| under_prefix(path, prefix), trainable);
        if count == 0 {
            let known: Vec<String> = self
                .parameters()
                .into_iter()
                .take(8)
                .map(|p| p.path)
                .collect();
            bail!(
                "no parameter lies under `{prefix}` (parameters are e.g. {})",
                known.join(", ")
            );
        }
        Ok(count)
    }

    /// Every parameter's current value (cheap: the tensors are shared until written).
    pub fn snapshot(&self) -> Weights {
        self.module.snapshot()
    }

    /// Writes back every parameter from `weights` (a [`snapshot`](Self::snapshot) of a module
    /// with the same parameters).
    pub fn restore(&mut self, weights: &Weights) -> Result<()> {
        let params = self.parameters();
        if weights.tensors.len() != params.len() {
            bail!(
                "cannot restore weights: {} tensors for a module with {} parameters",
                weights.tensors.len(),
                params.len()
            );
        }
        for (tensor, info) in weights.tensors.iter().zip(&params) {
            let expected: usize = info.shape.iter().product();
            if tensor.dims()[0] != expected {
                bail!(
                    "cannot restore weights: parameter `{}` has {expected} elements, the saved value {}",
                    info.path,
                    tensor.dims()[0]
                );
            }
        }
        self.module
            .write(&mut |i, _| weights.tensors.get(i).cloned());
        Ok(())
    }

    /// The module's weights as burn record bytes (a checkpoint's `module` section).
    pub fn record_bytes(&self) -> Result<Vec<u8>> {
        self.module.record_bytes()
    }

    /// Loads weights from record bytes ([`record_bytes`](Self::record_bytes) or a checkpoint's
    /// `module` section); ids and gradient requirements stay the module's own.
    pub fn load_record_bytes(&mut self, bytes: &[u8]) -> Result<()> {
        self.module.load_record_bytes(bytes)
    }

    /// The run's optimizers (empty outside `fit` or before `configure_optimizers`).
    pub fn optimizers(&mut self) -> &mut [LightningOptimizer] {
        self.optimizers.as_deref_mut().unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_net::{Net, sgd, train_step};

    fn values(handle: &ModuleHandle<'_>, path: &str) -> Vec<f32> {
        handle
            .parameter_data(path)
            .unwrap()
            .try_to_vec::<f32>()
            .unwrap()
    }

    fn read(net: &mut Net, path: &str) -> Vec<f32> {
        values(&ModuleHandle::new(net, None), path)
    }

    #[test]
    fn lists_paths_shapes_and_counts() {
        let mut net = Net::new(&Device::flex());
        let handle = ModuleHandle::new(&mut net, None);
        let params = handle.parameters();
        let paths: Vec<&str> = params.iter().map(|p| p.path.as_str()).collect();
        assert_eq!(
            paths,
            [
                "backbone.weight",
                "backbone.bias",
                "head.weight",
                "head.bias"
            ]
        );
        assert_eq!(params[0].shape, [2, 3]);
        assert_eq!(handle.num_parameters(), 6 + 3 + 3 + 1);
        assert_eq!(handle.num_trainable_parameters(), 13);
        assert_eq!(handle.parameter_ids("backbone").len(), 2);
        assert_eq!(handle.parameter_ids("").len(), 4);
        assert!(handle.parameter("backbone.nope").is_err());
    }

    #[test]
    fn prefixes_match_whole_components() {
        assert!(under_prefix("backbone.0.weight", "backbone"));
        assert!(under_prefix("backbone", "backbone"));
        assert!(!under_prefix("backbone2.weight", "backbone"));
        assert!(under_prefix("anything", ""));
    }

    #[test]
    fn writes_keep_ids_and_gradients_on_autodiff() {
        let device = Device::flex().autodiff();
        let mut net = Net::new(&device);
        let id = net.head.weight.id;
        {
            let mut handle = ModuleHandle::new(&mut net, None);
            handle
                .set_parameter_data(
                    "head.weight",
                    TensorData::new(vec![1.0f32, 2.0, 3.0], [3, 1]),
                )
                .unwrap();
            assert_eq!(values(&handle, "head.weight"), [1.0, 2.0, 3.0]);
            let wrong =
                handle.set_parameter_data("head.weight", TensorData::new(vec![1.0f32], [1]));
            assert!(wrong.unwrap_err().to_string().contains("head.weight"));
        }
        assert_eq!(net.head.weight.id, id);
        assert!(net.head.weight.val().is_require_grad());
        // The written value trains: a step moves it.
        let mut opt = sgd();
        let net = train_step(net, &mut opt);
        let mut net = net;
        assert_ne!(read(&mut net, "head.weight"), [1.0, 2.0, 3.0]);
    }

    #[test]
    fn frozen_parameters_get_no_gradient_and_do_not_move() {
        let device = Device::flex().autodiff();
        let mut net = Net::new(&device);
        let before_backbone = read(&mut net, "backbone.weight");
        let before_head = read(&mut net, "head.weight");
        {
            let mut handle = ModuleHandle::new(&mut net, None);
            assert_eq!(handle.freeze("backbone").unwrap(), 2);
            assert_eq!(handle.num_trainable_parameters(), 4);
            assert!(handle.freeze("nothing").is_err());
        }
        let mut opts = vec![sgd()];
        let loss = net.loss(&crate::test_net::batch(&device));
        opts[0].backward(&net, &loss);
        {
            let handle = ModuleHandle::new(&mut net, Some(&mut opts));
            assert!(handle.gradient("backbone.weight").unwrap().is_none());
            let grad = handle
                .gradient("head.weight")
                .unwrap()
                .expect("head has a gradient");
            assert_eq!(grad.dims(), [3]);
        }
        let mut net = opts[0].step(net);
        assert_eq!(read(&mut net, "backbone.weight"), before_backbone);
        assert_ne!(read(&mut net, "head.weight"), before_head);

        // Unfrozen, the backbone trains again.
        ModuleHandle::new(&mut net, None)
            .unfreeze("backbone")
            .unwrap();
        let mut net = train_step(net, &mut opts[0]);
        assert_ne!(read(&mut net, "backbone.weight"), before_backbone);
    }

    #[test]
    fn freezing_survives_the_validation_switch() {
        let device = Device::flex().autodiff();
        let net = Net::new(&device);
        let mut eval = net.valid();
        ModuleHandle::new(&mut eval, None).freeze("head").unwrap();
        let handle = ModuleHandle::new(&mut eval, None);
        assert_eq!(handle.num_trainable_parameters(), 9);
        let mut back = eval.train();
        let before = read(&mut back, "head.weight");
        let mut opt = sgd();
        let mut back = train_step(back, &mut opt);
        assert_eq!(read(&mut back, "head.weight"), before);
        assert!(back.backbone.weight.val().is_require_grad());
    }

    #[test]
    fn writes_in_eval_form_train_after_the_switch_back() {
        let device = Device::flex().autodiff();
        let mut eval = Net::new(&device).valid();
        ModuleHandle::new(&mut eval, None)
            .set_parameter_data("head.bias", TensorData::new(vec![5.0f32], [1]))
            .unwrap();
        let back = eval.train();
        assert!(back.head.bias.as_ref().unwrap().val().is_require_grad());
        let mut opt = sgd();
        let mut back = train_step(back, &mut opt);
        let bias = read(&mut back, "head.bias")[0];
        assert!(bias != 5.0 && (bias - 5.0).abs() < 5.0, "{bias}");
    }

    #[test]
    fn snapshot_restore_and_record_bytes_round_trip() {
        let device = Device::flex().autodiff();
        let mut net = Net::new(&device);
        let mut handle = ModuleHandle::new(&mut net, None);
        let saved = handle.snapshot();
        let bytes = handle.record_bytes().unwrap();
        let original = values(&handle, "backbone.weight");
        handle
            .set_parameter("backbone.weight", Tensor::<1>::zeros([6], &device))
            .unwrap();
        assert_eq!(values(&handle, "backbone.weight"), [0.0; 6]);
        handle.restore(&saved).unwrap();
        assert_eq!(values(&handle, "backbone.weight"), original);
        handle
            .set_parameter("backbone.weight", Tensor::<1>::zeros([6], &device))
            .unwrap();
        handle.load_record_bytes(&bytes).unwrap();
        assert_eq!(values(&handle, "backbone.weight"), original);
        assert!(handle.load_record_bytes(b"garbage").is_err());
        let short = Weights {
            tensors: saved.tensors[..1].to_vec(),
        };
        assert!(handle.restore(&short).is_err());
    }

    #[test]
    fn group_rates_replace_the_base_rate_for_their_parameters() {
        let device = Device::flex().autodiff();
        let mut net = Net::new(&device);
        let ids = ModuleHandle::new(&mut net, None).parameter_ids("backbone");
        let before = read(&mut net, "backbone.weight");
        let mut opt = sgd().named("sgd");
        opt.set_group_lr("backbone", ids.clone(), 0.0);
        assert_eq!(opt.group_lr("backbone"), Some(0.0));
        assert_eq!(opt.lr_of(ids[0]), 0.0);
        assert_eq!(opt.lr_of(net.head.weight.id), 0.1);
        assert_eq!(
            opt.learning_rates(),
            [("sgd".to_string(), 0.1), ("sgd/backbone".to_string(), 0.0)]
        );
        let mut net = train_step(net, &mut opt);
        assert_eq!(read(&mut net, "backbone.weight"), before);

        // A whole-optimizer override (SWA's rate) leaves the group's rate alone.
        opt.set_lr_override(Some(0.5));
        assert_eq!(opt.lr(), 0.5);
        assert_eq!(opt.lr_of(ids[0]), 0.0);
        assert_eq!(opt.lr_of(net.head.weight.id), 0.5);
    }

    #[test]
    fn a_smaller_group_rate_moves_parameters_proportionally_less() {
        // SGD: the update is lr × gradient, so halving the rate halves the change.
        let device = Device::flex().autodiff();
        let delta = |lr: Option<f64>| {
            let mut net = Net::new(&device);
            let ids = ModuleHandle::new(&mut net, None).parameter_ids("backbone");
            let before = read(&mut net, "backbone.bias");
            let mut opt = sgd();
            if let Some(lr) = lr {
                opt.set_group_lr("backbone", ids, lr);
            }
            let mut net = train_step(net, &mut opt);
            let after = read(&mut net, "backbone.bias");
            before
                .iter()
                .zip(after)
                .map(|(b, a)| a - b)
                .collect::<Vec<f32>>()
        };
        let full = delta(None);
        let half = delta(Some(0.05));
        for (f, h) in full.iter().zip(&half) {
            assert!((f * 0.5 - h).abs() < 1e-6, "{full:?} vs {half:?}");
        }
        assert!(full.iter().any(|f| f.abs() > 1e-4));
    }
}
