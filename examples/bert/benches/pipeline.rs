//! The pretraining data pipeline alone against the training step it feeds, on the real news
//! corpus (fetched into `data/news`): tokenizer training, sentence splitting + tokenization,
//! pair building + masking (one pass), and batching, in examples per second; then BERT-mini's
//! training step in examples per second, and the ratio (the pipeline must be ≥ 10× faster).
//! Run: `cargo bench -p bert --bench pipeline`.

use std::path::Path;
use std::time::Instant;

use bert::batch::collate;
use bert::config::BertConfig;
use bert::corpus::CorpusSource;
use bert::heads::BertForPreTraining;
use bert::masking::MaskingSettings;
use bert::pairs::{Overlength, PairSettings};
use bert::pipeline::{PipelineSettings, generate_examples, tokenize_documents};
use bert::tokenizer::{BertTokenizer, WordPieceTraining};
use burn::prelude::*;
use burn::tensor::activation::log_softmax;
use burn_lightning::data::Batch;
use burn_lightning::optim::{LightningOptimizer, OptimizerConfig, OptimizerName};

fn main() {
    burn_lightning::allocator::retain_freed_memory();
    let data_dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../data/news");
    let corpus = CorpusSource::default();
    corpus.prepare(&data_dir).expect("fetching the news corpus");
    let documents = corpus.read(&data_dir).expect("reading the news corpus");
    let words: usize = documents.iter().map(|d| d.split_whitespace().count()).sum();
    println!(
        "news corpus: {} documents, {words} words, {} threads",
        documents.len(),
        rayon::current_num_threads()
    );

    let t = Instant::now();
    let tokenizer = BertTokenizer::train(
        &documents,
        &WordPieceTraining {
            vocab_size: 8000,
            min_frequency: 2,
            lowercase: true,
        },
    )
    .unwrap();
    println!(
        "  WordPiece training (8,000 tokens): {:.2} s",
        t.elapsed().as_secs_f64()
    );

    let t = Instant::now();
    let tokenized = tokenize_documents(&documents, &tokenizer).unwrap();
    let tokenize = t.elapsed().as_secs_f64();
    let settings = PipelineSettings {
        pairs: PairSettings {
            max_seq_len: 128,
            short_seq_prob: 0.1,
            overlength: Overlength::Truncate,
        },
        masking: MaskingSettings::default(),
        dupe_factor: 1,
        val_fraction: 0.0,
        seed: 1,
    };
    let t = Instant::now();
    let examples = generate_examples(&tokenized, &settings, 1, &tokenizer);
    let generate = t.elapsed().as_secs_f64();
    let t = Instant::now();
    let batches: Vec<_> = examples.chunks(32).map(|c| collate(c, 0)).collect();
    let batching = t.elapsed().as_secs_f64();
    let n = examples.len() as f64;
    println!(
        "  sentences + tokenization: {tokenize:.2} s ({:.0} examples/s)",
        n / tokenize
    );
    println!(
        "  pairs + masking (one pass): {generate:.2} s ({:.0} examples/s)",
        n / generate
    );
    println!(
        "  batching (32 a batch): {batching:.2} s ({:.0} examples/s)",
        n / batching
    );
    let pipeline = n / (tokenize + generate + batching);
    println!(
        "pipeline, all stages: {} examples, {pipeline:.0} examples/s",
        examples.len()
    );

    // BERT-mini's training step on the pipeline's own batches.
    let device = Device::flex().autodiff();
    device.seed(1);
    let config = BertConfig::new(tokenizer.vocab_size(), 256, 4, 4, 1024);
    let mut model = BertForPreTraining::new(&config, &device);
    let adamw = OptimizerConfig {
        name: OptimizerName::Adamw,
        ..Default::default()
    };
    let mut optimizer = LightningOptimizer::new(adamw.init().unwrap(), 1e-4);
    let ce = |logits: Tensor<2>, labels: Tensor<1, Int>| {
        log_softmax(logits, 1)
            .gather(1, labels.unsqueeze_dim::<2>(1))
            .neg()
            .mean()
    };
    let mut times = Vec::new();
    for b in batches.iter().take(6).cloned() {
        let b = b.to_device(&device);
        let t = Instant::now();
        let out = model.forward(
            b.input_ids,
            b.attention_mask,
            b.token_type_ids,
            Some(b.masked_positions),
        );
        let loss = ce(out.prediction_logits, b.masked_labels)
            + ce(out.seq_relationship_logits, b.nsp_labels);
        optimizer.backward(&model, &loss);
        model = optimizer.step(model);
        let _ = loss.into_scalar::<f32>();
        times.push(t.elapsed().as_secs_f64());
    }
    times.remove(0);
    times.sort_by(|a, b| a.total_cmp(b));
    let step = times[times.len() / 2];
    let training = 32.0 / step;
    println!("BERT-mini training step: {step:.3} s, {training:.1} examples/s");
    println!(
        "pipeline / training: {:.0}× (goal: ≥ 10×)",
        pipeline / training
    );
}
