//! One training step (forward, backward, AdamW) and inference throughput of the classifier at
//! DeBERTa-v3-xsmall's sizes (hidden 384, 12 layers, 6 heads, feed-forward 1536, 128,100 tokens,
//! 256 position buckets), batch 8 × 512 tokens by default.
//! Run: `cargo bench -p deberta --bench training_step [-- LAYERS BATCH SEQ STEPS]`; the PyTorch
//! baseline on the same sizes is `benches/pytorch_deberta.py`.

use std::time::Instant;

use burn::prelude::*;
use burn::tensor::Distribution;
use burn::tensor::activation::log_sigmoid;
use burn_lightning::optim::{
    LightningOptimizer, OptimizerConfig, OptimizerName, is_no_decay, parameters_where,
};
use deberta::classifier::{DebertaClassifier, scratch_config, scratch_encoder};
use deberta::settings::ModelParams;
use deberta::tokenizer::EncodedBatch;

fn arg(i: usize, default: usize) -> usize {
    std::env::args()
        .filter(|a| !a.starts_with('-'))
        .nth(i)
        .and_then(|a| a.parse().ok())
        .unwrap_or(default)
}

fn batch(batch: usize, seq: usize, device: &Device) -> (EncodedBatch, Tensor<1, Int>) {
    let ids =
        Tensor::<2>::random([batch, seq], Distribution::Uniform(5.0, 128_000.0), device).int();
    let shape = [batch, seq];
    (
        EncodedBatch {
            input_ids: ids,
            attention_mask: Tensor::ones(shape, device),
            token_type_ids: Tensor::zeros(shape, device),
        },
        Tensor::<1>::random([batch], Distribution::Bernoulli(0.5), device).int(),
    )
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

fn main() {
    let layers = arg(1, 12);
    let batch_size = arg(2, 8);
    let seq = arg(3, 512);
    let steps = arg(4, 3);
    let params = ModelParams {
        num_hidden_layers: layers,
        hidden_size: 384,
        num_attention_heads: 6,
        intermediate_size: 1536,
        ..Default::default()
    };
    // The Trainer tunes the allocator when created; measure the step it runs.
    burn_lightning::allocator::retain_freed_memory();
    let config = scratch_config(&params, 128_100).expect("xsmall config");
    let device = Device::flex().autodiff();
    device.seed(1);
    let model =
        DebertaClassifier::new(scratch_encoder(&config, &device), &config, &params, &device);
    let mut adamw = OptimizerConfig {
        name: OptimizerName::Adamw,
        ..Default::default()
    };
    adamw.params.weight_decay = 0.01;
    let no_decay = parameters_where(&model, is_no_decay);
    let mut optimizer = LightningOptimizer::new(adamw.init_with_no_decay(no_decay).unwrap(), 2e-5);
    let (inputs, labels) = batch(batch_size, seq, &device);
    println!(
        "DeBERTa-v3-xsmall sizes, {layers} layers, batch {batch_size} × {seq} tokens, flex CPU backend"
    );

    let mut model = model;
    let mut times = Vec::new();
    for step in 0..=steps {
        let started = Instant::now();
        let logits = model.forward(&inputs);
        let y = labels.clone().float().unsqueeze_dim::<2>(1);
        let loss = -(y.clone() * log_sigmoid(logits.clone())
            + (y.neg() + 1.0) * log_sigmoid(logits.neg()))
        .mean();
        optimizer.backward(&model, &loss);
        model = optimizer.step(model);
        let _ = loss.into_scalar::<f32>();
        let secs = started.elapsed().as_secs_f64();
        if step > 0 {
            times.push(secs);
        }
        println!(
            "  training step {step}: {secs:.2} s{}",
            if step == 0 { " (warm-up)" } else { "" }
        );
    }
    let step = median(times);
    println!(
        "training step: {step:.2} s median of {steps}, {:.2} sequences/s",
        batch_size as f64 / step
    );

    let model = model.valid();
    let (inputs, _) = batch(batch_size, seq, &Device::flex());
    let mut times = Vec::new();
    for run in 0..=steps {
        let started = Instant::now();
        let _ = model.forward(&inputs).into_data();
        if run > 0 {
            times.push(started.elapsed().as_secs_f64());
        }
    }
    let forward = median(times);
    println!(
        "inference: {forward:.2} s per batch, {:.2} sequences/s",
        batch_size as f64 / forward
    );
}
