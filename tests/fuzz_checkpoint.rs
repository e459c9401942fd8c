//! Fuzzing the checkpoint reader: random bytes, and bit flips, truncations and splices of a
//! real checkpoint, each read as `--ckpt-path` would read it (parse, then load the weights into
//! the model). Half of the mutated cases get a recomputed CRC32C, so that the parser behind the
//! checksum (header length, JSON header, format, section lengths, burn records) is exercised
//! too, as by a file crafted on purpose. Every case loads or is an error; none panics or aborts.

mod common;

use std::path::Path;

use burn_lightning::Trainer;
use burn_lightning::checkpoint::Checkpoint;
use test_support::fuzz::{Rng, fuzz, mutate};

fn real_checkpoint() -> Vec<u8> {
    let dir = common::temp_dir("fuzz-ckpt");
    let mut config = common::quiet_config(&dir);
    config.max_steps = 3;
    config.max_epochs = None;
    config.num_sanity_val_steps = 0;
    let mut trainer = Trainer::new(config).seed(5);
    trainer
        .fit(
            common::fixed_mlp(4),
            &mut common::mlp::TwoMoons::new(64, 16, 2),
            None,
        )
        .unwrap();
    let bytes = std::fs::read(trainer.last_checkpoint_path().unwrap()).unwrap();
    std::fs::remove_dir_all(dir).ok();
    bytes
}

/// Reads `bytes` as a resume does; `Err` carries the error message.
fn read(bytes: &[u8]) -> Result<(), String> {
    let path = Path::new("fuzzed.ckpt");
    let ck = Checkpoint::from_bytes(bytes, path).map_err(|e| format!("{e:#}"))?;
    ck.load_module(common::fixed_mlp(4), path)
        .map(drop)
        .map_err(|e| format!("{e:#}"))
}

#[test]
fn checkpoint_reader_never_panics() {
    let real = real_checkpoint();
    read(&real).expect("the real checkpoint loads");
    let report = fuzz(
        "checkpoint",
        0xC0FFEE,
        10_000,
        &[real.clone(), Vec::new()],
        read,
    );
    assert_eq!(report.cases, 10_000);
    assert!(report.rejected > 9_900, "{report:?}");

    // The same mutations behind a valid checksum reach the parser past the CRC.
    let mut rng = Rng::new(7);
    let fixed_crc = |bytes: &[u8]| -> Result<(), String> {
        let mut bytes = bytes.to_vec();
        if bytes.len() >= 20 {
            let body = bytes.len() - 4;
            let crc = crc32c::crc32c(&bytes[..body]).to_le_bytes();
            bytes[body..].copy_from_slice(&crc);
        }
        read(&bytes)
    };
    // Seeds that keep the magic bytes, so most cases get past the first check.
    let mut seeds: Vec<Vec<u8>> = (0..8).map(|_| mutate(&mut rng, &real)).collect();
    seeds.push(real);
    let report = fuzz(
        "checkpoint behind a valid CRC",
        0xBEEF,
        10_000,
        &seeds,
        fixed_crc,
    );
    assert_eq!(report.cases, 10_000);
    assert!(report.accepted > 0 && report.rejected > 0, "{report:?}");
}

/// The header's JSON mutated (numbers made huge, negative or non-finite, fields cut) and put
/// back with consistent lengths and CRC, then resumed with `fit`: progress, seed, metric,
/// callback and loss-scaler states all go through the resume path, which must refuse what it
/// cannot use rather than panic or overflow.
#[test]
fn resuming_from_a_mutated_header_never_panics() {
    let real = real_checkpoint();
    let header_len = u64::from_le_bytes(real[8..16].try_into().unwrap()) as usize;
    let header = real[16..16 + header_len].to_vec();
    let sections = real[16 + header_len..real.len() - 4].to_vec();
    let dir = common::temp_dir("fuzz-resume");
    let path = dir.join("fuzzed.ckpt");
    let mut config = common::quiet_config(&dir);
    config.max_steps = 4;
    config.max_epochs = None;
    config.logger = false.into();
    config.enable_checkpointing = false;
    let report = fuzz(
        "resume from a mutated header",
        0xFEED,
        400,
        &[header],
        |header| {
            let mut bytes = real[..8].to_vec();
            bytes.extend_from_slice(&(header.len() as u64).to_le_bytes());
            bytes.extend_from_slice(header);
            bytes.extend_from_slice(&sections);
            bytes.extend_from_slice(&crc32c::crc32c(&bytes).to_le_bytes());
            std::fs::write(&path, &bytes).unwrap();
            Trainer::new(config.clone())
                .seed(5)
                .fit(
                    common::fixed_mlp(4),
                    &mut common::mlp::TwoMoons::new(64, 16, 2),
                    Some(path.to_str().unwrap()),
                )
                .map(drop)
                .map_err(|e| format!("{e:#}"))
        },
    );
    assert!(report.accepted > 0 && report.rejected > 0, "{report:?}");
    std::fs::remove_dir_all(dir).ok();
}

/// Regression cases for the length fields: each names the offset and is an error, not an
/// allocation of the size written there.
#[test]
fn oversized_lengths_are_errors() {
    let real = real_checkpoint();
    let with_crc = |mut b: Vec<u8>| {
        let body = b.len() - 4;
        let crc = crc32c::crc32c(&b[..body]).to_le_bytes();
        b[body..].copy_from_slice(&crc);
        b
    };
    let mut huge_header = real.clone();
    huge_header[8..16].copy_from_slice(&u64::MAX.to_le_bytes());
    let err = read(&with_crc(huge_header)).unwrap_err();
    assert!(err.contains("header length at byte 8"), "{err}");

    let header_len = u64::from_le_bytes(real[8..16].try_into().unwrap()) as usize;
    let header = std::str::from_utf8(&real[16..16 + header_len]).unwrap();
    let format_two = header.replacen("\"format\":1", "\"format\":2", 1);
    assert_ne!(format_two, header);
    let mut future = real[..16].to_vec();
    future.extend_from_slice(format_two.as_bytes());
    future.extend_from_slice(&real[16 + header_len..]);
    let err = read(&with_crc(future)).unwrap_err();
    assert!(
        err.contains("format 2") && err.contains("reads format 1"),
        "{err}"
    );

    // A section length past the end of the file.
    let start =
        header.find("\"sections\":[[\"module\",").unwrap() + "\"sections\":[[\"module\",".len();
    let end = start + header[start..].find(']').unwrap();
    let oversized = format!("{}{}{}", &header[..start], u64::MAX, &header[end..]);
    let mut bytes = real[..8].to_vec();
    bytes.extend_from_slice(&(oversized.len() as u64).to_le_bytes());
    bytes.extend_from_slice(oversized.as_bytes());
    bytes.extend_from_slice(&real[16 + header_len..]);
    let err = read(&with_crc(bytes)).unwrap_err();
    assert!(
        err.contains("section `module`") && err.contains("runs past the end"),
        "{err}"
    );
}
