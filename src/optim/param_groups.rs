//! Parameter groups, PyTorch's `optimizer_parameters` list on burn's `ParamGroup`s: find
//! parameters by their dotted path, give sets of them their own learning rate, and exempt some
//! from weight decay.

use burn::module::{Module, ModuleVisitor, Param, ParamId};
use burn::prelude::*;

/// A named set of parameters trained with its own learning rate (reported by the LR monitor
/// as `lr-<optimizer>/<name>`).
#[derive(Debug, Clone, PartialEq)]
pub struct LrGroup {
    /// Name shown by the LR monitor.
    pub name: String,
    /// The parameters.
    pub ids: Vec<ParamId>,
    /// Their peak (or constant) learning rate.
    pub lr: f64,
}

struct PathCollector {
    prefix: Vec<String>,
    out: Vec<(String, ParamId)>,
}

impl PathCollector {
    fn push(&mut self, id: ParamId) {
        self.out.push((self.prefix.join("."), id));
    }
}

impl ModuleVisitor for PathCollector {
    fn enter_module(&mut self, name: &str, _container: &str) {
        self.prefix.push(name.to_string());
    }
    fn exit_module(&mut self, _name: &str, _container: &str) {
        self.prefix.pop();
    }
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        self.push(param.id);
    }
}

/// Every float parameter of `module` with its dotted path (`encoder.layer.0.output.dense.weight`),
/// in visiting order.
pub fn named_parameters<M: Module>(module: &M) -> Vec<(String, ParamId)> {
    let mut collector = PathCollector {
        prefix: Vec::new(),
        out: Vec::new(),
    };
    module.visit(&mut collector);
    collector.out
}

/// The ids of `module`'s parameters whose path satisfies `keep`.
pub fn parameters_where<M: Module>(module: &M, keep: impl Fn(&str) -> bool) -> Vec<ParamId> {
    named_parameters(module)
        .into_iter()
        .filter(|(path, _)| keep(path))
        .map(|(_, id)| id)
        .collect()
}

/// The transformer rule for weight decay: biases and normalisation weights take none
/// (HF's `no_decay = ["bias", "LayerNorm.weight"]`, with burn's `gamma`/`beta` names too).
pub fn is_no_decay(path: &str) -> bool {
    let last = path.rsplit('.').next().unwrap_or(path);
    let norm = path
        .split('.')
        .any(|part| part.eq_ignore_ascii_case("layernorm") || part.ends_with("norm"));
    last == "bias" || last == "beta" || (norm && (last == "gamma" || last == "weight"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::nn::{LayerNorm, LayerNormConfig, Linear, LinearConfig};

    #[derive(Module, Debug)]
    struct Block {
        dense: Linear,
        layer_norm: LayerNorm,
    }

    #[derive(Module, Debug)]
    struct Net {
        layers: Vec<Block>,
        head: Linear,
    }

    fn net() -> Net {
        let device = Device::flex();
        let block = || Block {
            dense: LinearConfig::new(2, 2).init(&device),
            layer_norm: LayerNormConfig::new(2).init(&device),
        };
        Net {
            layers: vec![block(), block()],
            head: LinearConfig::new(2, 1).init(&device),
        }
    }

    #[test]
    fn paths_follow_field_names_and_vec_indices() {
        let paths: Vec<String> = named_parameters(&net()).into_iter().map(|p| p.0).collect();
        assert_eq!(
            paths,
            [
                "layers.0.dense.weight",
                "layers.0.dense.bias",
                "layers.0.layer_norm.gamma",
                "layers.0.layer_norm.beta",
                "layers.1.dense.weight",
                "layers.1.dense.bias",
                "layers.1.layer_norm.gamma",
                "layers.1.layer_norm.beta",
                "head.weight",
                "head.bias",
            ]
        );
    }

    #[test]
    fn biases_and_norms_take_no_decay_weights_do() {
        let net = net();
        let no_decay: Vec<String> = named_parameters(&net)
            .into_iter()
            .filter(|(p, _)| is_no_decay(p))
            .map(|(p, _)| p)
            .collect();
        assert_eq!(
            no_decay,
            [
                "layers.0.dense.bias",
                "layers.0.layer_norm.gamma",
                "layers.0.layer_norm.beta",
                "layers.1.dense.bias",
                "layers.1.layer_norm.gamma",
                "layers.1.layer_norm.beta",
                "head.bias",
            ]
        );
        assert!(is_no_decay("embeddings.LayerNorm.weight"));
        assert!(!is_no_decay("encoder.rel_embeddings.weight"));
        assert_eq!(parameters_where(&net, |p| p.starts_with("head")).len(), 2);
    }
}
