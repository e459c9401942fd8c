//! The sparse products behind the ETM's encoder and reconstruction, on one real NYT batch of
//! 1000 documents (K 50, hidden 800), against the dense matrix products they replace.
//! Run: `cargo bench -p etm --bench sparse_products` (fetches NYT into `data/nyt` once).

use std::time::Instant;

use burn::prelude::*;
use burn::tensor::Distribution;
use burn_lightning::Stage;
use etm::batch::{BowItem, collate};
use etm::datamodule::open_dataset;
use etm::settings::DataParams;
use etm::sparse::sampled_matmul;

/// Median milliseconds of `f` over `runs` runs after one warm-up.
fn time_ms(runs: usize, mut f: impl FnMut()) -> f64 {
    f();
    let mut times: Vec<f64> = (0..runs)
        .map(|_| {
            let start = Instant::now();
            f();
            start.elapsed().as_secs_f64() * 1e3
        })
        .collect();
    times.sort_by(f64::total_cmp);
    times[runs / 2]
}

fn main() {
    burn_lightning::allocator::retain_freed_memory();
    let data_dir = std::env::var("ETM_DATA").unwrap_or_else(|_| "data/nyt".into());
    let params = DataParams {
        data_dir: data_dir.into(),
        ..Default::default()
    };
    let mut data = open_dataset("nyt", &params, 1, true).unwrap();
    data.prepare_data().unwrap();
    data.setup(Stage::Fit).unwrap();
    let vocab = data.vocabulary().unwrap().len();
    let docs = data.training_documents().unwrap();
    let items: Vec<BowItem> = docs.into_iter().take(1000).map(BowItem::whole).collect();
    let batch = collate(&items, vocab, true).unwrap();
    let (b, h, k) = (items.len(), 800, 50);
    let entries = batch.input.pattern.entries();
    println!(
        "NYT batch: {b} documents × {vocab} words, {entries} entries ({:.1}% dense); hidden {h}, K {k}",
        100.0 * entries as f64 / (b * vocab) as f64
    );

    let device = Device::flex();
    let weight = Tensor::<2>::random([vocab, h], Distribution::Default, &device);
    let grad_h = Tensor::<2>::random([b, h], Distribution::Default, &device);
    let theta = Tensor::<2>::random([b, k], Distribution::Default, &device);
    let beta_t = Tensor::<2>::random([vocab, k], Distribution::Default, &device);
    let dense_input = Tensor::<2>::random([b, vocab], Distribution::Default, &device);
    let sync = |t: Tensor<2>| {
        t.into_data();
    };
    let rows = [
        (
            "encoder  S·W      [1000×V]·[V×800]",
            time_ms(9, || sync(batch.input.matmul(weight.clone()))),
            time_ms(9, || sync(dense_input.clone().matmul(weight.clone()))),
        ),
        (
            "weight grad Sᵀ·G  [V×1000]·[1000×800]",
            time_ms(9, || sync(batch.input.transpose_matmul(grad_h.clone()))),
            time_ms(9, || {
                sync(dense_input.clone().transpose().matmul(grad_h.clone()))
            }),
        ),
        (
            "decoder (θ·βᵀ) at S's entries",
            time_ms(9, || {
                sampled_matmul(theta.clone(), beta_t.clone(), &batch.target.pattern).into_data();
            }),
            time_ms(9, || sync(theta.clone().matmul(beta_t.clone().transpose()))),
        ),
    ];
    println!(
        "{:40} {:>10} {:>10} {:>8}",
        "product", "sparse ms", "dense ms", "speed-up"
    );
    for (name, sparse, dense) in rows {
        println!(
            "{name:40} {sparse:10.2} {dense:10.2} {:7.1}×",
            dense / sparse
        );
    }
}
