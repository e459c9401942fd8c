//! `ModelSummary`: parameter counts per top-level submodule, printed at fit start.

use anyhow::Result;

use super::Callback;
use crate::context::HookContext;
use crate::module_handle::ModuleHandle;

/// Prints a table of parameter counts when fit starts.
#[derive(Debug, Clone, Default)]
pub struct ModelSummary {
    /// The table as printed last (for tests and reports).
    pub rendered: String,
}

/// Renders `(name, count)` rows with a total.
pub fn render_summary(rows: &[(String, usize)]) -> String {
    let width = rows.iter().map(|(n, _)| n.len()).max().unwrap_or(4).max(4);
    let mut out = format!("  | {:<width$} | {:>12}\n", "Name", "Params");
    for (i, (name, n)) in rows.iter().enumerate() {
        out.push_str(&format!("{i} | {name:<width$} | {:>12}\n", human(*n)));
    }
    let total: usize = rows.iter().map(|(_, n)| n).sum();
    out.push_str(&format!("{} trainable params\n", human(total)));
    out
}

fn human(n: usize) -> String {
    match n {
        0..1_000 => n.to_string(),
        1_000..1_000_000 => format!("{:.1} K", n as f64 / 1e3),
        _ => format!("{:.1} M", n as f64 / 1e6),
    }
}

impl Callback for ModelSummary {
    fn state_key(&self) -> String {
        "ModelSummary".into()
    }
    fn on_fit_start(&mut self, _module: &mut ModuleHandle<'_>, cx: &mut HookContext) -> Result<()> {
        self.rendered = render_summary(cx.model_summary());
        eprint!("{}", self.rendered);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn totals_and_units() {
        let text = super::render_summary(&[("encoder".into(), 12_345), ("head".into(), 10)]);
        assert!(
            text.contains("encoder")
                && text.contains("12.3 K")
                && text.contains("12.4 K trainable params"),
            "{text}"
        );
    }
}
