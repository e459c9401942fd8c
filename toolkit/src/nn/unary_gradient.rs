//! How the one-input fused layers (softmax, GELU, cross-entropy) join burn's autodiff graph: the
//! forward pass runs on the inner backend and keeps what its gradient needs, and the backward
//! step hands that and the output's gradient to the layer's backward operation.

use burn::backend::autodiff::checkpoint::{base::Checkpointer, strategy::CheckpointStrategy};
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind, unary};
use burn::backend::tensor::FloatTensor;
use burn::backend::{Autodiff, Backend};

/// The backward step of one fused layer: the input's gradient from the saved state `S` and the
/// output's gradient.
pub(crate) struct UnaryGradient<B: Backend, S> {
    backward: fn(S, B::FloatTensorPrimitive) -> B::FloatTensorPrimitive,
}

impl<B: Backend, S> std::fmt::Debug for UnaryGradient<B, S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("UnaryGradient")
    }
}

impl<B, S> Backward<B, 1> for UnaryGradient<B, S>
where
    B: Backend,
    S: Clone + Send + std::fmt::Debug + 'static,
{
    type State = S;

    fn backward(self, ops: Ops<S, 1>, grads: &mut Gradients, _: &mut Checkpointer) {
        let state = ops.state;
        unary::<B, _>(ops.parents, ops.node, grads, |g| (self.backward)(state, g));
    }
}

/// Runs `forward` on `input`'s inner tensor, which returns the output and the state its gradient
/// needs; when `input` is tracked, records `backward` to be called with that state.
pub(crate) fn with_unary_gradient<B, C, S>(
    input: FloatTensor<Autodiff<B, C>>,
    forward: impl FnOnce(B::FloatTensorPrimitive) -> (B::FloatTensorPrimitive, S),
    backward: fn(S, B::FloatTensorPrimitive) -> B::FloatTensorPrimitive,
) -> FloatTensor<Autodiff<B, C>>
where
    B: Backend,
    C: CheckpointStrategy,
    S: Clone + Send + std::fmt::Debug + 'static,
{
    let (input, node) = input.into_parts();
    let step = UnaryGradient::<B, S> { backward };
    match step.prepare::<C>([node]).compute_bound().stateful() {
        OpsKind::Tracked(prep) => {
            let (out, state) = forward(input);
            prep.finish(state, out)
        }
        OpsKind::UnTracked(prep) => prep.finish(forward(input).0),
    }
}
