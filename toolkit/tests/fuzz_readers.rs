//! Seeded fuzzing of the toolkit's readers of outside input: CSV tables and safetensors
//! files (read whole, and loaded into a module). Each mutated file loads or is refused with an
//! error: never a panic, an abort or a hang. Case counts are fixed so CI stays fast.

use std::path::{Path, PathBuf};

use burn::nn::{LayerNorm, LayerNormConfig, Linear, LinearConfig};
use burn::prelude::*;
use lightning_toolkit::data::read_csv_columns;
use lightning_toolkit::hf::{load_hf_weights, read_safetensors, save_hf_safetensors};
use test_support::fuzz::fuzz;

fn dir(name: &str) -> PathBuf {
    test_support::temp_dir("bl-fuzz", name)
}

fn write(path: &Path, bytes: &[u8]) {
    std::fs::write(path, bytes).expect("writing a fuzz case");
}

#[test]
fn csv_table() {
    let dir = dir("csv");
    let path = dir.join("table.csv");
    let seeds = vec![
        b"id,text,label\n1,\"a, b\",0\n2,c,1\n3,\"multi\nline \"\"quoted\"\"\",1\n".to_vec(),
        b"label,text\r\n0,x\r\n1,\xc3\xa9t\xc3\xa9\r\n".to_vec(),
    ];
    let report = fuzz("csv table", 31, 2000, &seeds, |bytes| {
        write(&path, bytes);
        let columns = read_csv_columns(&path, &["text", "label"]).map_err(|e| format!("{e:#}"))?;
        assert_eq!(columns.len(), 2);
        assert_eq!(columns[0].len(), columns[1].len());
        Ok(())
    });
    assert!(report.accepted > 0 && report.rejected > 0, "{report:?}");
    std::fs::remove_dir_all(dir).ok();
}

#[derive(Module, Debug)]
struct Block {
    dense: Linear,
    layer_norm: LayerNorm,
}

fn block(device: &Device) -> Block {
    Block {
        dense: LinearConfig::new(3, 2).init(device),
        layer_norm: LayerNormConfig::new(2).init(device),
    }
}

/// A small checkpoint as `save_hf_safetensors` writes it (HF names, PyTorch layout).
fn seed_file(dir: &Path) -> Vec<u8> {
    let file = dir.join("seed.safetensors");
    save_hf_safetensors(
        &block(&Device::flex()),
        &file,
        &[("layer_norm", "LayerNorm")],
    )
    .unwrap();
    std::fs::read(file).unwrap()
}

#[test]
fn safetensors_read_whole() {
    let dir = dir("st");
    let path = dir.join("tensors.safetensors");
    let seeds = vec![seed_file(&dir)];
    let report = fuzz("read_safetensors", 32, 2000, &seeds, |bytes| {
        write(&path, bytes);
        let tensors = read_safetensors(&path).map_err(|e| format!("{e:#}"))?;
        for data in tensors.values() {
            assert_eq!(
                data.as_bytes().len(),
                data.num_elements() * data.dtype().size()
            );
        }
        Ok(())
    });
    assert!(report.accepted > 0 && report.rejected > 0, "{report:?}");
    std::fs::remove_dir_all(dir).ok();
}

#[test]
fn safetensors_into_a_module() {
    let dir = dir("load");
    let seeds = vec![seed_file(&dir)];
    let path = dir.join("model.safetensors");
    let device = Device::flex();
    let mut module = block(&device);
    let report = fuzz("load_hf_weights", 33, 1500, &seeds, |bytes| {
        write(&path, bytes);
        load_hf_weights(&mut module, &dir, &[("LayerNorm", "layer_norm")])
            .map_err(|e| format!("{e:#}"))?;
        Ok(())
    });
    assert!(report.accepted > 0 && report.rejected > 0, "{report:?}");
    std::fs::remove_dir_all(dir).ok();
}
