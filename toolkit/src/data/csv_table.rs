//! Columns of a CSV file with a header row, chosen by name; errors name the file, the record's
//! line and the columns that do exist.

use std::path::Path;

use anyhow::{Context, Result, bail};

/// The values of each of `columns` (in that order), one `Vec` per column.
pub fn read_csv_columns(path: &Path, columns: &[&str]) -> Result<Vec<Vec<String>>> {
    let mut reader = csv::ReaderBuilder::new()
        .flexible(false)
        .from_path(path)
        .with_context(|| format!("cannot read CSV file {}", path.display()))?;
    let headers = reader
        .headers()
        .with_context(|| format!("{}: cannot read the header row", path.display()))?
        .clone();
    let mut indices = Vec::with_capacity(columns.len());
    for column in columns {
        let Some(index) = headers.iter().position(|h| h == *column) else {
            bail!(
                "{}: no column `{column}`; the columns are {}",
                path.display(),
                headers.iter().collect::<Vec<_>>().join(", ")
            );
        };
        indices.push(index);
    }
    let mut out = vec![Vec::new(); columns.len()];
    for record in reader.records() {
        let record = record.map_err(|e| {
            let line = e.position().map_or(0, |p| p.line());
            anyhow::anyhow!("{}:{line}: {e}", path.display())
        })?;
        for (values, &index) in out.iter_mut().zip(&indices) {
            values.push(record.get(index).unwrap_or_default().to_string());
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_by_name_with_quoted_commas_and_clear_errors() {
        let dir = std::env::temp_dir().join(format!("bl-csv-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let good = dir.join("good.csv");
        std::fs::write(&good, "id,text,label\n1,\"a, b\",0\n2,c,1\n").unwrap();
        let cols = read_csv_columns(&good, &["label", "text"]).unwrap();
        assert_eq!(cols, vec![vec!["0", "1"], vec!["a, b", "c"]]);

        let e = read_csv_columns(&good, &["sentiment"])
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("no column `sentiment`; the columns are id, text, label"),
            "{e}"
        );

        let ragged = dir.join("ragged.csv");
        std::fs::write(&ragged, "text,label\nx,1\ny\n").unwrap();
        let e = read_csv_columns(&ragged, &["text"])
            .unwrap_err()
            .to_string();
        assert!(e.contains("ragged.csv:3:"), "{e}");
        std::fs::remove_dir_all(dir).ok();
    }
}
