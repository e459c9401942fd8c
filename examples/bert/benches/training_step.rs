//! One pretraining step (forward, backward, AdamW: MLM over the masked positions + NSP) at
//! batch 32 × 128 tokens, for BERT-mini (4 layers, hidden 256, 4 heads) and for
//! all-MiniLM-L6-v2's sizes (6 layers, hidden 384, 12 heads), both with bert-base's 30,522-token
//! vocabulary; prints the median step and tokens per second.
//! Run: `cargo bench -p bert --bench training_step [-- STEPS]`; the PyTorch baseline on the same
//! sizes is `benches/pytorch_bert.py`.

use std::time::Instant;

use bert::batch::{PretrainingBatch, collate};
use bert::config::BertConfig;
use bert::heads::BertForPreTraining;
use bert::masking::{MaskingSettings, mask_pair};
use bert::pairs::SentencePair;
use bert::tokenizer::SpecialIds;
use burn::prelude::*;
use burn_lightning::data::Batch;
use burn_lightning::optim::{
    LightningOptimizer, OptimizerConfig, OptimizerName, is_no_decay, parameters_where,
};
use lightning_toolkit::nn::cross_entropy_per_row;
use rand::{Rng, SeedableRng};

const VOCAB: usize = 30_522;
const SPECIAL: SpecialIds = SpecialIds {
    pad: 0,
    unk: 100,
    cls: 101,
    sep: 102,
    mask: 103,
};

fn steps_arg() -> usize {
    std::env::args()
        .skip(1)
        .find(|a| !a.starts_with('-'))
        .and_then(|a| a.parse().ok())
        .unwrap_or(5)
}

/// 32 full-length examples of random words, masked as the pipeline masks them.
fn batch() -> PretrainingBatch {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
    let examples: Vec<_> = (0..32)
        .map(|_| {
            let mut words = || {
                (0..62)
                    .map(|_| rng.random_range(1000..VOCAB as u32))
                    .collect()
            };
            let pair = SentencePair {
                a: words(),
                b: words(),
                is_random_next: rng.random(),
            };
            mask_pair(
                pair,
                &SPECIAL,
                VOCAB as u32,
                &MaskingSettings::default(),
                &mut rng,
            )
        })
        .collect();
    collate(&examples, SPECIAL.pad)
}

/// The mean loss, computed as the module computes it.
fn cross_entropy(logits: Tensor<2>, labels: Tensor<1, Int>) -> Tensor<1> {
    cross_entropy_per_row(logits, labels).mean()
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

fn bench(name: &str, config: &BertConfig, steps: usize) {
    let device = Device::flex().autodiff();
    device.seed(1);
    let mut model = BertForPreTraining::new(config, &device);
    let mut adamw = OptimizerConfig {
        name: OptimizerName::Adamw,
        ..Default::default()
    };
    adamw.params.weight_decay = 0.01;
    let no_decay = parameters_where(&model, is_no_decay);
    let mut optimizer = LightningOptimizer::new(adamw.init_with_no_decay(no_decay).unwrap(), 1e-4);
    let b = batch().to_device(&device);
    let tokens = b.tokens;
    let mut times = Vec::new();
    for step in 0..=steps {
        let started = Instant::now();
        let out = model.forward(
            b.input_ids.clone(),
            b.attention_mask.clone(),
            b.token_type_ids.clone(),
            Some(b.masked_positions.clone()),
        );
        let loss = cross_entropy(out.prediction_logits, b.masked_labels.clone())
            + cross_entropy(out.seq_relationship_logits, b.nsp_labels.clone());
        optimizer.backward(&model, &loss);
        model = optimizer.step(model);
        let _ = loss.into_scalar::<f32>();
        if step > 0 {
            times.push(started.elapsed().as_secs_f64());
        }
    }
    let step = median(times);
    println!(
        "{name}: training step {step:.3} s median of {steps} (batch 32 × 128), {:.0} tokens/s",
        tokens as f64 / step
    );
}

fn main() {
    // The Trainer tunes the allocator when created; measure the step it runs.
    burn_lightning::allocator::retain_freed_memory();
    let steps = steps_arg();
    println!("BERT pretraining step, flex CPU backend");
    bench(
        "BERT-mini (4 × 256)",
        &BertConfig::new(VOCAB, 256, 4, 4, 1024),
        steps,
    );
    bench(
        "MiniLM-L6 (6 × 384)",
        &BertConfig::new(VOCAB, 384, 6, 12, 1536),
        steps,
    );
}
