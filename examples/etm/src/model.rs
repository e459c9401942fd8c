//! The Embedded Topic Model (Dieng, Ruiz & Blei, TACL 2020), with the original code's names.
//!
//! Words and topics live in one L-dimensional space: word embeddings rho (V×L), topic embeddings
//! alpha (K×L). A topic's distribution over words is beta_k = softmax_v(rho · alpha_k). A
//! document's topic proportions theta = softmax(z), z ~ N(mu, sigma²) from an encoder over its
//! bag of words. The loss is the negative ELBO: −Σ_w count_w · log(theta · beta_w) + KL(q‖N(0, I)).

use burn::module::{Param, ParamId};
use burn::nn::activation::{Activation, ActivationConfig, LeakyReluConfig, RRelu, RReluConfig};
use burn::nn::{Dropout, DropoutConfig, Linear, LinearConfig};
use burn::prelude::*;
use burn::tensor::{Distribution, activation::softmax};
use lightning_toolkit::nn::dropout;

use crate::batch::BowBatch;
use crate::settings::{ModelParams, ThetaActivationName};
use crate::sparse::{SparseMatrix, sampled_matmul};

/// The encoder's activation (`theta_act`).
#[derive(Module, Debug)]
#[allow(clippy::large_enum_variant)]
pub enum ThetaActivation {
    /// One of burn's activations.
    Standard(Activation),
    /// Randomized leaky ReLU.
    RRelu(RRelu),
}

impl ThetaActivation {
    fn new(name: ThetaActivationName, device: &Device) -> Self {
        let standard = |c: ActivationConfig| Self::Standard(c.init(device));
        match name {
            ThetaActivationName::Tanh => standard(ActivationConfig::Tanh),
            ThetaActivationName::Relu => standard(ActivationConfig::Relu),
            ThetaActivationName::Softplus => standard(ActivationConfig::Softplus(
                burn::nn::activation::SoftplusConfig::new(),
            )),
            ThetaActivationName::Rrelu => Self::RRelu(RReluConfig::new().init()),
            ThetaActivationName::Leakyrelu => {
                standard(ActivationConfig::LeakyRelu(LeakyReluConfig::new()))
            }
            ThetaActivationName::Elu => {
                standard(ActivationConfig::Elu(burn::nn::activation::EluConfig::new()))
            }
            ThetaActivationName::Selu => standard(ActivationConfig::Selu),
            ThetaActivationName::Glu => standard(ActivationConfig::Gelu),
        }
    }

    fn forward<const D: usize>(&self, x: Tensor<D>) -> Tensor<D> {
        match self {
            Self::Standard(a) => a.forward(x),
            Self::RRelu(a) => a.forward(x),
        }
    }
}

/// The ETM. Field names follow the paper code (`rho`, `alphas`, `q_theta`, `mu_q_theta`,
/// `logsigma_q_theta`).
#[derive(Module, Debug)]
pub struct Etm {
    /// Word embeddings rho, V×L (fixed when loaded with `train_embeddings: false`).
    pub rho: Param<Tensor<2>>,
    /// Topic embeddings alpha, stored L×K (burn's `Linear` is input × output).
    pub alphas: Linear,
    /// The encoder q(theta | bag of words): V → H → H.
    pub q_theta: QTheta,
    /// Mean of z.
    pub mu_q_theta: Linear,
    /// Log-variance of z.
    pub logsigma_q_theta: Linear,
    /// Dropout on the encoder's output (`enc_drop`).
    pub t_drop: Dropout,
}

/// The encoder body; `layer0` multiplies only the words a document contains.
#[derive(Module, Debug)]
pub struct QTheta {
    /// V → H (weight V×H: row w is word w's contribution).
    pub layer0: Linear,
    /// H → H.
    pub layer2: Linear,
    /// `theta_act`.
    pub act: ThetaActivation,
}

/// What one forward pass gives per document.
#[derive(Debug, Clone)]
pub struct EtmOutput {
    /// −Σ_w count_w · log p(w | theta, beta), per document.
    pub reconstruction: Tensor<1>,
    /// KL(q(z | doc) ‖ N(0, I)), per document.
    pub kl: Tensor<1>,
    /// Topic proportions, documents × K.
    pub theta: Tensor<2>,
}

impl Etm {
    /// A freshly initialised ETM over `vocab_size` words; `embeddings` (V×L row-major) are
    /// loaded and frozen when given.
    pub fn new(
        params: &ModelParams,
        vocab_size: usize,
        embeddings: Option<Vec<f32>>,
        device: &Device,
    ) -> Self {
        let (v, l, h, k) = (
            vocab_size,
            params.rho_size,
            params.t_hidden_size,
            params.num_topics,
        );
        let rho = match embeddings {
            Some(values) => Param::initialized(
                ParamId::new(),
                Tensor::<1>::from_floats(values.as_slice(), device).reshape([v, l]),
            )
            .set_require_grad(false),
            None => {
                // nn.Linear(rho_size, vocab_size)'s default init, as in the paper code.
                let bound = 1.0 / (l as f64).sqrt();
                Param::from_tensor(Tensor::random(
                    [v, l],
                    Distribution::Uniform(-bound, bound),
                    device,
                ))
            }
        };
        Self {
            rho,
            alphas: LinearConfig::new(l, k).with_bias(false).init(device),
            q_theta: QTheta {
                layer0: LinearConfig::new(v, h).init(device),
                layer2: LinearConfig::new(h, h).init(device),
                act: ThetaActivation::new(params.theta_act, device),
            },
            mu_q_theta: LinearConfig::new(h, k).init(device),
            logsigma_q_theta: LinearConfig::new(h, k).init(device),
            t_drop: DropoutConfig::new(params.enc_drop).init(),
        }
    }

    /// Number of topics K.
    pub fn num_topics(&self) -> usize {
        self.alphas.weight.dims()[1]
    }

    /// beta transposed: column k is topic k's distribution over the V words (V×K).
    pub fn beta_t(&self) -> Tensor<2> {
        softmax(self.rho.val().matmul(self.alphas.weight.val()), 0)
    }

    /// beta: K×V, each row a distribution over words.
    pub fn beta(&self) -> Tensor<2> {
        self.beta_t().transpose()
    }

    /// The encoder: (mu, logsigma) of q(z | bag), documents × K, from sparse bags of words.
    pub fn encode(&self, input: &SparseMatrix) -> (Tensor<2>, Tensor<2>) {
        let h = sparse_linear(&self.q_theta.layer0, input);
        let h = self.q_theta.act.forward(h);
        let h = self.q_theta.act.forward(self.q_theta.layer2.forward(h));
        let h = dropout(&self.t_drop, h);
        (
            self.mu_q_theta.forward(h.clone()),
            self.logsigma_q_theta.forward(h),
        )
    }

    /// theta = softmax(z): z sampled by reparameterisation while training (an autodiff
    /// device), z = mu in evaluation.
    pub fn theta(&self, mu: Tensor<2>, logsigma: Tensor<2>) -> Tensor<2> {
        let z = if mu.device().is_autodiff() {
            let std = logsigma.mul_scalar(0.5).exp();
            let eps = std.random_like(Distribution::Normal(0.0, 1.0));
            mu + eps * std
        } else {
            mu
        };
        softmax(z, 1)
    }

    /// Per-document reconstruction and KL for a batch.
    pub fn forward(&self, batch: &BowBatch) -> EtmOutput {
        let (mu, logsigma) = self.encode(&batch.input);
        let kl = kl_to_standard_normal(mu.clone(), logsigma.clone());
        let theta = self.theta(mu, logsigma);
        let reconstruction = negative_log_likelihood(theta.clone(), self.beta_t(), &batch.target);
        EtmOutput {
            reconstruction,
            kl,
            theta,
        }
    }

    /// Topic proportions of documents (evaluation: theta from mu).
    pub fn topic_proportions(&self, batch: &BowBatch) -> Tensor<2> {
        let (mu, _) = self.encode(&batch.input);
        softmax(mu, 1)
    }
}

/// `input · layer.weight + bias` for sparse input rows.
fn sparse_linear(layer: &Linear, input: &SparseMatrix) -> Tensor<2> {
    let out = input.matmul(layer.weight.val());
    match &layer.bias {
        Some(bias) => out + bias.val().unsqueeze_dim(0),
        None => out,
    }
}

/// −Σ_w count_w · log((theta · beta)_w + 1e-6) per document, where `counts` stores each
/// document's words (words absent from a document contribute nothing, so the probabilities are
/// computed only at the stored entries). `beta_t` is beta transposed: V × K.
pub fn negative_log_likelihood(
    theta: Tensor<2>,
    beta_t: Tensor<2>,
    counts: &SparseMatrix,
) -> Tensor<1> {
    let probability = sampled_matmul(theta, beta_t, &counts.pattern);
    let weighted = probability.add_scalar(1e-6).log() * counts.values.clone();
    counts.with_values(weighted).row_sums().neg()
}

/// KL(N(mu, exp(logsigma)) ‖ N(0, I)) per row: −½ Σ (1 + logsigma − mu² − exp(logsigma)).
pub fn kl_to_standard_normal(mu: Tensor<2>, logsigma: Tensor<2>) -> Tensor<1> {
    (logsigma.clone().add_scalar(1.0) - mu.powi_scalar(2) - logsigma.exp())
        .sum_dim(1)
        .squeeze_dim::<1>(1)
        .mul_scalar(-0.5)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::batch::{BowItem, collate};
    use crate::corpus::Document;
    use std::sync::Arc;

    fn values(t: Tensor<1>) -> Vec<f32> {
        t.into_data()
            .convert::<f32>()
            .try_into_vec::<f32>()
            .unwrap()
    }

    #[test]
    fn sparse_encoder_layer_equals_the_dense_product() {
        let device = Device::flex();
        let layer = LinearConfig::new(6, 4).init(&device);
        let a = Arc::new(Document::from_pairs(vec![(1, 2.0), (4, 1.0)]));
        let b = Arc::new(Document::from_pairs(vec![(0, 1.0), (5, 3.0)]));
        let batch = collate(&[BowItem::whole(a), BowItem::whole(b)], 6, false).unwrap();
        let sparse = sparse_linear(&layer, &batch.input);
        let dense_rows =
            Tensor::<1>::from_floats([0., 2., 0., 0., 1., 0., 1., 0., 0., 0., 0., 3.], &device)
                .reshape([2, 6]);
        let dense = layer.forward(dense_rows);
        let diff = (sparse - dense).abs().max().into_scalar::<f32>();
        assert!(diff < 1e-5, "{diff}");
    }

    #[test]
    fn reconstruction_matches_the_dense_formula() {
        let device = Device::flex();
        let theta = Tensor::<1>::from_floats([0.25, 0.75, 1.0, 0.0], &device).reshape([2, 2]);
        // beta: topic 0 = [0.5, 0.5, 0], topic 1 = [0, 0.2, 0.8]; stored V×K.
        let beta_t =
            Tensor::<1>::from_floats([0.5, 0.0, 0.5, 0.2, 0.0, 0.8], &device).reshape([3, 2]);
        let a = Arc::new(Document::from_pairs(vec![(1, 2.0), (2, 1.0)]));
        let b = Arc::new(Document::from_pairs(vec![(0, 3.0)]));
        let batch = collate(&[BowItem::whole(a), BowItem::whole(b)], 3, false).unwrap();
        let nll = values(negative_log_likelihood(theta, beta_t, &batch.target));
        // doc 0: p(w1) = .25*.5 + .75*.2 = .275, p(w2) = .75*.8 = .6
        let expected0 = -(2.0 * (0.275f64 + 1e-6).ln() + (0.6f64 + 1e-6).ln());
        let expected1 = -(3.0 * (0.5f64 + 1e-6).ln());
        assert!((nll[0] as f64 - expected0).abs() < 1e-5, "{nll:?}");
        assert!((nll[1] as f64 - expected1).abs() < 1e-5, "{nll:?}");
    }

    #[test]
    fn kl_is_zero_at_the_prior_and_matches_the_formula() {
        let device = Device::flex();
        let mu = Tensor::<1>::from_floats([0.0, 0.0, 1.0, -2.0], &device).reshape([2, 2]);
        let ls = Tensor::<1>::from_floats([0.0, 0.0, 0.5, 0.0], &device).reshape([2, 2]);
        let kl = values(kl_to_standard_normal(mu, ls));
        assert!(kl[0].abs() < 1e-7);
        let expected = -0.5 * ((1.0 + 0.5 - 1.0 - 0.5f64.exp()) + (1.0 - 4.0 - 1.0));
        assert!((kl[1] as f64 - expected).abs() < 1e-5);
    }

    #[test]
    fn beta_rows_are_distributions_and_fixed_embeddings_stay_fixed() {
        let device = Device::flex();
        let params = ModelParams {
            num_topics: 3,
            rho_size: 4,
            t_hidden_size: 5,
            ..Default::default()
        };
        let m = Etm::new(&params, 7, Some(vec![0.1; 28]), &device);
        let sums = values(m.beta().sum_dim(1).squeeze_dim::<1>(1));
        assert!(sums.iter().all(|s| (s - 1.0).abs() < 1e-5), "{sums:?}");
        let training = Device::flex().autodiff();
        assert!(!m.fork(&training).train().rho.is_require_grad());
        let m = Etm::new(&params, 7, None, &device);
        assert!(m.fork(&training).train().rho.is_require_grad());
    }
}
