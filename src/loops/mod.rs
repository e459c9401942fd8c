//! The loops a Trainer call runs, shaped as Lightning's `loops/`: the fit loop (epochs), the
//! training epoch (batches), the optimization step (automatic or manual), and the evaluation
//! loop (validation, test; predict). Each loop keeps its decisions as named methods on a small
//! state struct, tested on their own; [`run::Run`] is the state the loops share.

pub(crate) mod evaluation_loop;
pub(crate) mod fit_loop;
pub(crate) mod optimization;
pub(crate) mod predict_loop;
pub(crate) mod run;
pub(crate) mod training_epoch_loop;
