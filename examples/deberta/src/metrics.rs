//! Classification metrics over a whole epoch's predictions.

/// Area under the ROC curve, exactly: the Mann-Whitney U statistic over the scores' ranks, tied
/// scores sharing their average rank (a tie between a positive and a negative counts ½). None
/// when the labels are all one class.
pub fn roc_auc(scores: &[f64], labels: &[bool]) -> Option<f64> {
    assert_eq!(scores.len(), labels.len(), "one label per score");
    let positives = labels.iter().filter(|&&l| l).count();
    let negatives = labels.len() - positives;
    if positives == 0 || negatives == 0 {
        return None;
    }
    let mut order: Vec<usize> = (0..scores.len()).collect();
    order.sort_by(|&a, &b| scores[a].total_cmp(&scores[b]));
    let mut positive_rank_sum = 0.0;
    let mut start = 0;
    while start < order.len() {
        let mut end = start + 1;
        while end < order.len() && scores[order[end]] == scores[order[start]] {
            end += 1;
        }
        // Ranks start..end (1-based: start + 1 ..= end) share their mean.
        let rank = (start + 1 + end) as f64 / 2.0;
        let tied_positives = order[start..end].iter().filter(|&&i| labels[i]).count();
        positive_rank_sum += rank * tied_positives as f64;
        start = end;
    }
    let (p, n) = (positives as f64, negatives as f64);
    Some((positive_rank_sum - p * (p + 1.0) / 2.0) / (p * n))
}

/// Share of predictions on the right side of `threshold`.
pub fn accuracy(scores: &[f64], labels: &[bool], threshold: f64) -> f64 {
    assert_eq!(scores.len(), labels.len(), "one label per score");
    if scores.is_empty() {
        return 0.0;
    }
    let right = scores
        .iter()
        .zip(labels)
        .filter(|(s, l)| (**s >= threshold) == **l)
        .count();
    right as f64 / scores.len() as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auc_counts_ordered_pairs_and_halves_ties() {
        // Perfect, reversed, and one class.
        assert_eq!(
            roc_auc(&[0.1, 0.2, 0.8, 0.9], &[false, false, true, true]),
            Some(1.0)
        );
        assert_eq!(
            roc_auc(&[0.9, 0.8, 0.2, 0.1], &[false, false, true, true]),
            Some(0.0)
        );
        assert_eq!(roc_auc(&[0.3, 0.4], &[true, true]), None);
        // Pairs (pos, neg): (0.35, 0.1) ✓, (0.35, 0.4) ✗, (0.8, 0.1) ✓, (0.8, 0.4) ✓ → 3/4.
        assert_eq!(
            roc_auc(&[0.1, 0.4, 0.35, 0.8], &[false, false, true, true]),
            Some(0.75)
        );
        // A tie between a positive and a negative counts ½: pairs (0.5,0.5) ½, (0.5,0.2) 1,
        // (0.9,0.5) 1, (0.9,0.2) 1 → 3.5/4.
        assert_eq!(
            roc_auc(&[0.5, 0.2, 0.5, 0.9], &[false, false, true, true]),
            Some(0.875)
        );
        // All scores equal: ½.
        assert_eq!(
            roc_auc(&[0.3; 5], &[true, false, true, false, false]),
            Some(0.5)
        );
    }

    #[test]
    fn accuracy_at_a_threshold() {
        assert_eq!(
            accuracy(&[0.2, 0.7, 0.5, 0.4], &[false, true, true, true], 0.5),
            0.75
        );
    }
}
