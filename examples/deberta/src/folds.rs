//! Stratified k-fold assignment (sklearn's `StratifiedKFold(shuffle=True)` idea): within each
//! class the rows are shuffled with the seed and dealt to the folds in turn, so every fold has
//! the class mix of the whole set and the folds partition the rows.

/// A fold number for every row of `labels`; fold sizes differ by at most one, and so do the
/// counts of each class across folds.
pub fn stratified_folds(labels: &[usize], n_fold: usize, seed: u64) -> Vec<usize> {
    assert!(n_fold > 0, "n_fold must be at least 1");
    let classes = labels.iter().copied().max().map_or(0, |m| m + 1);
    let mut folds = vec![0; labels.len()];
    // The dealing position carries over from one class to the next, so the folds' total sizes
    // stay balanced as well as each class's share.
    let mut next = 0;
    for class in 0..classes {
        let mut rows: Vec<usize> = (0..labels.len()).filter(|&i| labels[i] == class).collect();
        shuffle(
            &mut rows,
            seed ^ (class as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15),
        );
        for row in rows {
            folds[row] = next % n_fold;
            next += 1;
        }
    }
    folds
}

/// A seeded Fisher–Yates shuffle (SplitMix64 draws).
pub fn shuffle<T>(items: &mut [T], seed: u64) {
    let mut state = seed;
    for i in (1..items.len()).rev() {
        state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        items.swap(i, (z % (i as u64 + 1)) as usize);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folds_are_stratified_balanced_disjoint_and_seeded() {
        // 70 negatives, 30 positives, 4 folds.
        let labels: Vec<usize> = (0..100).map(|i| usize::from(i % 10 < 3)).collect();
        let folds = stratified_folds(&labels, 4, 42);
        assert_eq!(folds.len(), 100);
        let mut per_fold = [[0usize; 2]; 4];
        for (&f, &l) in folds.iter().zip(&labels) {
            per_fold[f][l] += 1;
        }
        for counts in per_fold {
            // 70/4 = 17.5 negatives and 30/4 = 7.5 positives per fold.
            assert!((17..=18).contains(&counts[0]), "{per_fold:?}");
            assert!((7..=8).contains(&counts[1]), "{per_fold:?}");
            assert_eq!(counts[0] + counts[1], 25, "{per_fold:?}");
        }
        assert_eq!(folds, stratified_folds(&labels, 4, 42));
        assert_ne!(folds, stratified_folds(&labels, 4, 43));
    }

    #[test]
    fn shuffle_is_a_permutation() {
        let mut v: Vec<usize> = (0..50).collect();
        shuffle(&mut v, 7);
        assert_ne!(v, (0..50).collect::<Vec<_>>());
        v.sort();
        assert_eq!(v, (0..50).collect::<Vec<_>>());
    }
}
