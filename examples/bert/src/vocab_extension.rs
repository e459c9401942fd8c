//! Vocabulary extension (seed 001): new whole-word tokens appended to the tokenizer, and the
//! word embeddings (hence the tied MLM decoder) and the MLM output bias grown to match. The
//! original rows are kept bit for bit; new rows start as the mean of the existing ones (so a
//! new word begins as an "average" token, as transformers' `mean_resizing` does) or drawn from
//! N(0, initializer_range²).

use anyhow::{Result, ensure};
use burn::module::Param;
use burn::prelude::*;
use burn::tensor::Distribution;
use serde::{Deserialize, Serialize};

use crate::config::BertConfig;
use crate::heads::BertForPreTraining;

/// How the rows of new tokens start.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NewRowInit {
    /// The mean of the existing embedding rows, and the mean output bias.
    #[default]
    Mean,
    /// N(0, initializer_range²) rows and a zero bias.
    Normal,
}

impl std::str::FromStr for NewRowInit {
    type Err = anyhow::Error;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "mean" => Ok(Self::Mean),
            "normal" => Ok(Self::Normal),
            other => anyhow::bail!("--init `{other}`: expected mean or normal"),
        }
    }
}

/// Grows `model`'s vocabulary to `new_size` rows; `config.vocab_size` follows.
pub fn resize_token_embeddings(
    mut model: BertForPreTraining,
    config: &mut BertConfig,
    new_size: usize,
    init: NewRowInit,
) -> Result<BertForPreTraining> {
    let old = model.bert.embeddings.word_embeddings.weight.val();
    let [rows, width] = old.dims();
    ensure!(
        new_size >= rows,
        "cannot shrink the vocabulary from {rows} to {new_size} rows"
    );
    if new_size == rows {
        return Ok(model);
    }
    let added = new_size - rows;
    let device = old.device();
    let bias = model.cls.predictions.bias.val();
    let (new_rows, new_bias) = match init {
        NewRowInit::Mean => (
            old.clone().mean_dim(0).expand([added, width]),
            bias.clone().mean().expand([added]),
        ),
        NewRowInit::Normal => (
            Tensor::random(
                [added, width],
                Distribution::Normal(0.0, config.initializer_range),
                &device,
            ),
            Tensor::zeros([added], &device),
        ),
    };
    let words = Tensor::cat(vec![old, new_rows], 0);
    model.bert.embeddings.word_embeddings.weight = Param::from_tensor(words);
    model.cls.predictions.bias = Param::from_tensor(Tensor::cat(vec![bias, new_bias], 0));
    config.vocab_size = new_size;
    Ok(model)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rows(t: Tensor<2>) -> Vec<Vec<f32>> {
        let [_, w] = t.dims();
        let v: Vec<f32> = t.into_data().try_to_vec().unwrap();
        v.chunks(w).map(|r| r.to_vec()).collect()
    }

    #[test]
    fn originals_stay_bit_identical_and_new_rows_are_the_mean() {
        let device = Device::flex();
        device.seed(4);
        let mut config = BertConfig::new(20, 8, 1, 2, 16);
        let model = BertForPreTraining::new(&config, &device);
        let before = rows(model.bert.embeddings.word_embeddings.weight.val());
        let model = resize_token_embeddings(model, &mut config, 23, NewRowInit::Mean).unwrap();
        let after = rows(model.bert.embeddings.word_embeddings.weight.val());
        assert_eq!(config.vocab_size, 23);
        assert_eq!(after.len(), 23);
        assert_eq!(&after[..20], &before[..], "original rows unchanged");
        for col in 0..8 {
            let mean = before.iter().map(|r| r[col]).sum::<f32>() / 20.0;
            for row in &after[20..] {
                assert!((row[col] - mean).abs() < 1e-6);
            }
        }
        assert_eq!(model.cls.predictions.bias.val().dims(), [23]);
        assert!(resize_token_embeddings(model, &mut config, 10, NewRowInit::Mean).is_err());
    }
}
