//! Relative positions between query and key tokens, log-bucketed as in DeBERTa-v3
//! (`make_log_bucket_position` / `build_relative_position` in transformers).

/// Maps a relative distance to its bucket: distances within ±`bucket_size`/2 stay exact, longer
/// ones are log-spaced up to `max_position`. Computed in f32, as transformers does.
pub fn log_bucket_position(relative: i64, bucket_size: i64, max_position: i64) -> i64 {
    let mid = bucket_size / 2;
    let abs_pos = if relative < mid && relative > -mid {
        mid - 1
    } else {
        relative.abs()
    };
    if abs_pos <= mid {
        return relative;
    }
    let (abs_pos, mid_f) = (abs_pos as f32, mid as f32);
    let log_pos = ((abs_pos / mid_f).ln() / ((max_position - 1) as f32 / mid_f).ln()
        * (mid - 1) as f32)
        .ceil()
        + mid_f;
    log_pos as i64 * relative.signum()
}

/// `query − key` for every pair of positions in a sequence of `len` tokens, row-major
/// (`len × len`), bucketed when both `bucket_size` and `max_position` are positive.
pub fn relative_positions(len: usize, bucket_size: i64, max_position: i64) -> Vec<i64> {
    let mut out = Vec::with_capacity(len * len);
    for q in 0..len as i64 {
        for k in 0..len as i64 {
            let r = q - k;
            out.push(if bucket_size > 0 && max_position > 0 {
                log_bucket_position(r, bucket_size, max_position)
            } else {
                r
            });
        }
    }
    out
}

/// Row of the relative embedding table each (query, key) pair reads, for the content-to-position
/// (`c2p`: `r + span`) or position-to-content (`p2c`: `−r + span`) term, clamped to the table.
pub fn embedding_rows(relative: &[i64], span: usize, position_to_content: bool) -> Vec<i64> {
    let span = span as i64;
    relative
        .iter()
        .map(|&r| {
            let r = if position_to_content { -r } else { r };
            (r + span).clamp(0, 2 * span - 1)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn near_distances_stay_exact_and_far_ones_are_log_bucketed() {
        // bucket 256, max 512 (v3): |r| ≤ 128 exact.
        for r in -128..=128 {
            assert_eq!(log_bucket_position(r, 256, 512), r);
        }
        // ceil(ln(r/128) / ln(511/128) · 127) + 128, by hand.
        assert_eq!(log_bucket_position(129, 256, 512), 129);
        assert_eq!(log_bucket_position(511, 256, 512), 255);
        assert_eq!(log_bucket_position(-511, 256, 512), -255);
        assert_eq!(log_bucket_position(256, 256, 512), 192);
        // bucket 8, max 32: |r| ≤ 4 exact; 12 → ceil(ln 3 / ln 7.75 · 3) + 4 = 6.
        assert_eq!(log_bucket_position(12, 8, 32), 6);
        assert_eq!(log_bucket_position(-5, 8, 32), -5);
    }

    #[test]
    fn relative_positions_and_their_table_rows() {
        assert_eq!(
            relative_positions(3, -1, -1),
            vec![0, -1, -2, 1, 0, -1, 2, 1, 0]
        );
        let rel = relative_positions(3, -1, -1);
        assert_eq!(
            embedding_rows(&rel, 2, false),
            vec![2, 1, 0, 3, 2, 1, 3, 3, 2]
        );
        assert_eq!(
            embedding_rows(&rel, 2, true),
            vec![2, 3, 3, 1, 2, 3, 0, 1, 2]
        );
    }
}
