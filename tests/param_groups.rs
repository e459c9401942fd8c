//! Parameter groups: weight decay skips biases and norms, groups train at their own rates under
//! one scheduler, and the LR monitor sees each group.

use burn::module::Module;
use burn::nn::{LayerNorm, LayerNormConfig, Linear, LinearConfig};
use burn::prelude::*;
use burn_lightning::optim::{
    LightningOptimizer, LrGroup, OptimizerConfig, OptimizerName, SchedulerConfig, SchedulerName,
    is_no_decay, parameters_where,
};

#[derive(Module, Debug)]
struct Net {
    body: Linear,
    norm: LayerNorm,
    head: Linear,
}

fn net(device: &Device) -> Net {
    device.seed(7);
    Net {
        body: LinearConfig::new(3, 3).init(device),
        norm: LayerNormConfig::new(3).init(device),
        head: LinearConfig::new(3, 1).init(device),
    }
}

fn values(net: &Net) -> Vec<(String, Vec<f32>)> {
    let mut out = Vec::new();
    let mut push = |name: &str, t: Tensor<1>| {
        out.push((name.to_string(), t.into_data().try_to_vec::<f32>().unwrap()));
    };
    push("body.weight", net.body.weight.val().flatten(0, 1));
    push("body.bias", net.body.bias.as_ref().unwrap().val());
    push("norm.gamma", net.norm.gamma.val());
    push("head.weight", net.head.weight.val().flatten(0, 1));
    push("head.bias", net.head.bias.as_ref().unwrap().val());
    out
}

/// Sum of every parameter times `scale`: each gradient is `scale` everywhere.
fn all_params_sum(net: &Net, scale: f32) -> Tensor<1> {
    let mut total = net.body.weight.val().sum() + net.body.bias.as_ref().unwrap().val().sum();
    total = total + net.norm.gamma.val().sum() + net.norm.beta.as_ref().unwrap().val().sum();
    total = total + net.head.weight.val().sum() + net.head.bias.as_ref().unwrap().val().sum();
    total.mul_scalar(scale)
}

#[test]
fn adamw_decays_weights_but_not_biases_or_norms() {
    let device = Device::flex().autodiff();
    let model = net(&device);
    let before = values(&model);
    let mut config = OptimizerConfig {
        name: OptimizerName::Adamw,
        ..Default::default()
    };
    config.params.lr = 0.1;
    config.params.weight_decay = 0.5;
    let no_decay = parameters_where(&model, is_no_decay);
    let mut optimizer = LightningOptimizer::new(config.init_with_no_decay(no_decay).unwrap(), 0.1);
    // Zero gradients: Adam's update is 0, only decoupled decay (w ← w·(1 − lr·wd)) moves weights.
    optimizer.backward(&model, &all_params_sum(&model, 0.0));
    let model = optimizer.step(model);
    for ((name, old), (_, new)) in before.iter().zip(values(&model)) {
        let factor = if is_no_decay(name) { 1.0 } else { 0.95 };
        for (o, n) in old.iter().zip(&new) {
            assert!(
                (o * factor - n).abs() < 1e-6,
                "{name}: {o} → {n}, factor {factor}"
            );
        }
    }
}

#[test]
fn groups_train_at_their_own_rates_and_are_reported() {
    let device = Device::flex().autodiff();
    let model = net(&device);
    let before = values(&model);
    let head = LrGroup {
        name: "head".into(),
        ids: parameters_where(&model, |p| p.starts_with("head.")),
        lr: 0.1,
    };
    let body = LrGroup {
        name: "body".into(),
        ids: parameters_where(&model, |p| !p.starts_with("head.")),
        lr: 0.01,
    };
    let groups = [body, head];
    let sgd = OptimizerConfig {
        name: OptimizerName::Sgd,
        ..Default::default()
    };
    let scheduler = SchedulerConfig {
        name: SchedulerName::Constant,
        params: Default::default(),
    }
    .init_groups(0.01, &groups, None)
    .unwrap();
    let mut optimizer = LightningOptimizer::new(sgd.init().unwrap(), 0.01)
        .with_scheduler(scheduler)
        .report_lr_groups(&groups);
    assert_eq!(
        optimizer.learning_rates(),
        vec![
            ("optimizer/body".to_string(), 0.01),
            ("optimizer/head".to_string(), 0.1)
        ]
    );
    // Gradient 1 everywhere: plain SGD moves each parameter by exactly its group's rate.
    optimizer.backward(&model, &all_params_sum(&model, 1.0));
    let model = optimizer.step(model);
    for ((name, old), (_, new)) in before.iter().zip(values(&model)) {
        let lr = if name.starts_with("head") { 0.1 } else { 0.01 };
        for (o, n) in old.iter().zip(&new) {
            assert!((o - lr - n).abs() < 1e-6, "{name}: {o} → {n}, lr {lr}");
        }
    }
}

#[test]
fn warmup_schedule_drives_every_group_in_proportion() {
    let device = Device::flex();
    let model = net(&device);
    let head = LrGroup {
        name: "head".into(),
        ids: parameters_where(&model, |p| p.starts_with("head.")),
        lr: 1e-3,
    };
    let mut config = SchedulerConfig {
        name: SchedulerName::LinearWarmup,
        params: Default::default(),
    };
    config.params.num_warmup_steps = 2;
    let mut state = config
        .init_groups(1e-4, std::slice::from_ref(&head), Some(4))
        .unwrap();
    let mut seen = Vec::new();
    for _ in 0..5 {
        let lr = state.current();
        seen.push((lr.base(), lr.lr_from_param(head.ids[0], None)));
        state.step(None).unwrap();
    }
    let expected = [0.0, 0.5, 1.0, 0.5, 0.0];
    for ((base, head_lr), factor) in seen.iter().zip(expected) {
        assert!((base - 1e-4 * factor).abs() < 1e-15, "{seen:?}");
        assert!((head_lr - 1e-3 * factor).abs() < 1e-15, "{seen:?}");
    }
    // A run shorter than its warm-up (fast_dev_run, a short max_steps) ends while warming up,
    // as Hugging Face's schedules let it: its 4 steps take the warm-up's first rates.
    config.params.num_warmup_steps = 8;
    let mut state = config.init_groups(1e-4, &[], Some(4)).unwrap();
    for step in 0..4 {
        let expected = 1e-4 * step as f64 / 8.0;
        assert!((state.current().base() - expected).abs() < 1e-15);
        state.step(None).unwrap();
    }
    let e = config.init(1e-4).err().unwrap();
    assert!(e.to_string().contains("num_training_steps"), "{e}");
}
