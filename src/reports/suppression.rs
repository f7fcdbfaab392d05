//! Small-count suppression for the breakdown report: the one place that decides which counts of
//! a group may be shown.
//!
//! **Primary suppression**: a count below `min_cell_size` is never shown; it is written `<N`.
//!
//! **Secondary suppression**: the group's total is public (the summary report shows its members
//! and allies, the same population as the breakdown), so a lone hidden count could be worked out
//! by subtracting the shown ones from the total. PRODUCT.md's rule is that when a group has
//! exactly one suppressed cell, the next smallest is suppressed too. We apply the general form of
//! that rule: as long as any hidden cell of the group can be *pinned to one value* by someone who
//! knows the total, the bounds each marker states, and how this function picks cells, the next
//! smallest shown cell is hidden as well (ties: the first in the report's order). The single
//! hidden cell of the PRODUCT.md rule is the simplest such case; others are two small cells that
//! can only both be 1 (or both `N - 1`), or a small cell beside a withheld cell of exactly `N`.
//!
//! A withheld (secondary) cell is written `suppressed`, not `<N`: its count is `N` or more, and
//! a report that says "fewer than 5" about twelve people would mislead the reader.
//!
//! What suppression cannot do: when every cell of a group is hidden and still pinned (a group of
//! two people in two departments, or a group whose only cell is small), the pattern is implied by
//! the group's size and the rows present; hiding more would mean leaving rows out, which this
//! report does not do. Cells are never combined across groups, and department totals are not
//! published, so the check is per group.

/// How one count is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shown {
    /// At least `min_cell_size`, and nothing smaller can be worked out from it.
    Count(i64),
    /// Below `min_cell_size` (primary suppression), written `<N`.
    Small,
    /// At least `min_cell_size`, hidden so that a small count cannot be recovered from the
    /// group's total (secondary suppression), written `suppressed`.
    Withheld,
}

impl Shown {
    /// The text of the cell.
    pub fn text(self, min_cell_size: i64) -> String {
        match self {
            Shown::Count(n) => n.to_string(),
            Shown::Small => format!("<{min_cell_size}"),
            Shown::Withheld => "suppressed".to_string(),
        }
    }
}

/// Primary suppression alone, for a count that stands by itself: below `min_cell_size` it is
/// written `<N`, zero included, so that `<N` never says "at least one" (a zero shown as `0`
/// beside a `<5` would tell a period with one departure from a period with none).
pub fn primary(count: i64, min_cell_size: i64) -> Shown {
    if count < min_cell_size {
        Shown::Small
    } else {
        Shown::Count(count)
    }
}

/// A current count (a stock, such as a group's members today): primary suppression, then the
/// count rounded to the nearest multiple of `round_to` (halves up, never down to 0), so that
/// two downloads either side of one person's departure differ only when a multiple is crossed.
pub fn rounded(count: i64, min_cell_size: i64, round_to: i64) -> Shown {
    match primary(count, min_cell_size) {
        Shown::Count(n) if round_to > 1 => {
            let nearest = (n + round_to / 2) / round_to * round_to;
            Shown::Count(nearest.max(round_to))
        }
        shown => shown,
    }
}

/// Decides how each count of one group is shown. `counts` are the group's cells in report
/// order; the grid is whole, so a cell may be 0 (written `<N` like any small count).
pub fn suppress(counts: &[i64], min_cell_size: i64) -> Vec<Shown> {
    let mut shown: Vec<Shown> = counts
        .iter()
        .map(|&n| {
            if n < min_cell_size {
                Shown::Small
            } else {
                Shown::Count(n)
            }
        })
        .collect();
    while pinned(counts, &shown, min_cell_size) {
        let next = shown
            .iter()
            .enumerate()
            .filter_map(|(i, s)| match s {
                Shown::Count(n) => Some((*n, i)),
                _ => None,
            })
            .min();
        match next {
            Some((_, i)) => shown[i] = Shown::Withheld,
            None => break,
        }
    }
    shown
}

/// Whether someone who knows the group's total and the shown cells can work out the exact
/// count of a hidden cell.
///
/// Each hidden cell lies in a known range: a `<N` cell in `0..=N-1`; a withheld cell from `N`
/// up to the smallest count still shown (it was picked as the smallest), or up to the hidden
/// sum when none is shown. The hidden sum `S` is the total minus the shown cells. A cell is
/// pinned when `S` minus what the others can hold leaves it a single value.
fn pinned(counts: &[i64], shown: &[Shown], min_cell_size: i64) -> bool {
    let hidden_sum: i64 = counts
        .iter()
        .zip(shown)
        .filter(|(_, s)| !matches!(s, Shown::Count(_)))
        .map(|(n, _)| *n)
        .sum();
    let smallest_shown = shown
        .iter()
        .filter_map(|s| match s {
            Shown::Count(n) => Some(*n),
            _ => None,
        })
        .min()
        .unwrap_or(hidden_sum);
    let bounds: Vec<(i64, i64)> = shown
        .iter()
        .filter_map(|s| match s {
            Shown::Count(_) => None,
            Shown::Small => Some((0, (min_cell_size - 1).max(0))),
            Shown::Withheld => Some((min_cell_size, smallest_shown.max(min_cell_size))),
        })
        .collect();
    let (lo_sum, hi_sum) = bounds.iter().fold((0i64, 0i64), |(l, h), (lo, hi)| {
        (l + lo, h.saturating_add(*hi))
    });
    bounds.iter().any(|&(lo, hi)| {
        let least = lo.max(hidden_sum - (hi_sum - hi));
        let most = hi.min(hidden_sum - (lo_sum - lo));
        least >= most
    })
}

#[cfg(test)]
mod tests {

    #[test]
    fn a_lone_count_hides_every_small_value_zero_included() {
        assert_eq!(primary(0, 5), Shown::Small);
        assert_eq!(primary(1, 5), Shown::Small);
        assert_eq!(primary(4, 5), Shown::Small);
        assert_eq!(primary(5, 5), Shown::Count(5));
    }

    #[test]
    fn current_counts_are_rounded_to_the_nearest_multiple() {
        assert_eq!(rounded(4, 5, 5), Shown::Small);
        assert_eq!(rounded(0, 5, 5), Shown::Small);
        assert_eq!(rounded(5, 5, 5), Shown::Count(5));
        assert_eq!(rounded(7, 5, 5), Shown::Count(5));
        assert_eq!(rounded(8, 5, 5), Shown::Count(10));
        assert_eq!(rounded(12, 5, 5), Shown::Count(10));
        assert_eq!(rounded(13, 5, 5), Shown::Count(15));
        assert_eq!(rounded(123, 5, 10), Shown::Count(120));
        // Never rounded down to nothing.
        assert_eq!(rounded(5, 5, 20), Shown::Count(20));
        // 1 rounds nothing.
        assert_eq!(rounded(7, 5, 1), Shown::Count(7));
        // One departure either side of a count moves it only across a multiple.
        let moved = (5..200)
            .filter(|n| rounded(*n, 5, 5) != rounded(n - 1, 5, 5))
            .count();
        assert!(moved <= 200 / 5, "{moved}");
    }
    use super::Shown::{Count, Small, Withheld};
    use super::*;

    /// The hidden cells whose value an attacker who knows the group's total, the markers'
    /// bounds and the rule could work out, found by trying every assignment of values (a check
    /// that does not share the interval arithmetic of `pinned`).
    fn recoverable(counts: &[i64], shown: &[Shown], min: i64) -> Vec<usize> {
        let visible: Vec<i64> = shown
            .iter()
            .filter_map(|s| match s {
                Count(n) => Some(*n),
                _ => None,
            })
            .collect();
        let hidden_sum = counts.iter().sum::<i64>() - visible.iter().sum::<i64>();
        let cap = visible.iter().copied().min().unwrap_or(hidden_sum);
        let hidden: Vec<(usize, i64, i64)> = shown
            .iter()
            .enumerate()
            .filter_map(|(i, s)| match s {
                Count(_) => None,
                Small => Some((i, 0, min - 1)),
                Withheld => Some((i, min, cap)),
            })
            .collect();
        // Every combination of values within the bounds, as an odometer.
        let mut possible = vec![std::collections::BTreeSet::new(); hidden.len()];
        let mut values: Vec<i64> = hidden.iter().map(|(_, lo, _)| *lo).collect();
        'combinations: loop {
            if values.iter().sum::<i64>() == hidden_sum {
                for (k, v) in values.iter().enumerate() {
                    possible[k].insert(*v);
                }
            }
            for k in 0..values.len() {
                if values[k] < hidden[k].2 {
                    values[k] += 1;
                    continue 'combinations;
                }
                values[k] = hidden[k].1;
            }
            break;
        }
        hidden
            .iter()
            .zip(&possible)
            .filter(|(_, p)| p.len() == 1)
            .map(|((i, _, _), _)| *i)
            .collect()
    }

    #[test]
    fn nothing_small_shows_everything() {
        assert_eq!(
            suppress(&[5, 9, 30], 5),
            vec![Count(5), Count(9), Count(30)]
        );
        assert_eq!(suppress(&[], 5), vec![]);
    }

    #[test]
    fn one_small_cell_takes_the_next_smallest_with_it() {
        // Shown alone, the 2 would be 40 - 12 - 26 for anyone holding the total.
        assert_eq!(suppress(&[12, 2, 26], 5), vec![Withheld, Small, Count(26)]);
    }

    #[test]
    fn a_small_cell_beside_a_withheld_cell_of_exactly_the_minimum_takes_a_third() {
        // 0 and 5 hidden with 5 between them: `<5` is at least 0 and the withheld cell at
        // least 5, so both would be pinned. The 9 goes too.
        assert_eq!(suppress(&[0, 5, 9], 5), vec![Small, Withheld, Withheld]);
        // 1 and 5 hide 6 between them, which is 1 + 5 or 0 + 6: neither is pinned.
        assert_eq!(suppress(&[1, 5, 9], 5), vec![Small, Withheld, Count(9)]);
    }

    #[test]
    fn two_small_cells_that_can_only_be_empty_or_full_are_protected() {
        // Two `<5` cells summing to 0 can only be 0 and 0 (an empty cell is a row too).
        assert_eq!(suppress(&[0, 0, 10], 5), vec![Small, Small, Withheld]);
        // Two `<5` cells summing to 8 can only be 4 and 4.
        assert_eq!(suppress(&[4, 4, 10], 5), vec![Small, Small, Withheld]);
        // 1 and 1 could be 0 + 2, 1 + 1 or 2 + 0: nothing more to hide.
        assert_eq!(suppress(&[1, 1, 10], 5), vec![Small, Small, Count(10)]);
    }

    #[test]
    fn ties_for_the_next_smallest_take_the_first_in_report_order() {
        assert_eq!(
            suppress(&[3, 7, 7, 20], 5),
            vec![Small, Withheld, Count(7), Count(20)]
        );
        assert_eq!(
            suppress(&[20, 7, 3, 7], 5),
            vec![Count(20), Withheld, Small, Count(7)]
        );
    }

    #[test]
    fn all_small_groups_hide_every_cell_and_nothing_else() {
        assert_eq!(suppress(&[2, 3, 1], 5), vec![Small, Small, Small]);
        assert_eq!(suppress(&[4, 4], 5), vec![Small, Small]);
    }

    #[test]
    fn a_group_with_a_single_cell() {
        assert_eq!(suppress(&[3], 5), vec![Small]);
        assert_eq!(suppress(&[12], 5), vec![Count(12)]);
    }

    #[test]
    fn the_configured_size_is_the_threshold() {
        assert_eq!(suppress(&[2, 3, 9], 3), vec![Small, Withheld, Count(9)]);
        assert_eq!(suppress(&[4, 9], 10), vec![Small, Small]);
        // A threshold of 1 hides nothing: every cell has somebody in it.
        assert_eq!(suppress(&[1, 1, 2], 1), vec![Count(1), Count(1), Count(2)]);
    }

    #[test]
    fn the_markers_say_what_they_mean() {
        assert_eq!(Count(12).text(5), "12");
        assert_eq!(Small.text(5), "<5");
        assert_eq!(Small.text(3), "<3");
        assert_eq!(Withheld.text(5), "suppressed");
    }

    #[test]
    fn no_hidden_cell_can_be_worked_out_from_the_total() {
        // Every group of one to four cells with counts 0 to 9, at thresholds 3 and 5: after
        // suppression, either no hidden cell is pinned (checked by brute force, independently
        // of `pinned`), or every cell is hidden and there was nothing left to hide.
        let mut groups: Vec<Vec<i64>> = (0..=9).map(|n| vec![n]).collect();
        let mut last = groups.clone();
        for _ in 1..4 {
            last = last
                .iter()
                .flat_map(|g| {
                    (0..=9).map(move |n| {
                        let mut g = g.clone();
                        g.push(n);
                        g
                    })
                })
                .collect();
            groups.extend(last.iter().cloned());
        }
        for min in [3i64, 5] {
            for counts in &groups {
                let shown = suppress(counts, min);
                for (n, s) in counts.iter().zip(&shown) {
                    if *n < min {
                        assert_eq!(
                            *s, Small,
                            "{counts:?} at {min}: every small count is hidden"
                        );
                    }
                    if let Count(c) = s {
                        assert_eq!(c, n, "{counts:?}: a shown count is the true count");
                    }
                }
                let every_cell_hidden = shown.iter().all(|s| !matches!(s, Count(_)));
                let found = recoverable(counts, &shown, min);
                assert!(
                    found.is_empty() || every_cell_hidden,
                    "{counts:?} at {min}: cells {found:?} of {shown:?} can be worked out"
                );
            }
        }
    }
}
