// Package stats holds the order statistics the benchmark tools report
// (cmd/publish-bench, cmd/cri-bench through internal/cribench): one definition of a percentile, so
// that figures from different tools mean the same thing.
package stats

import (
	"cmp"
	"math"
	"slices"
)

// Sorted returns a sorted copy of s, leaving s as it was.
func Sorted[T cmp.Ordered](s []T) []T {
	c := slices.Clone(s)
	slices.Sort(c)
	return c
}

// Percentile is the q-quantile (0 ≤ q ≤ 1) of an ascending sample by the
// nearest-rank method: the smallest value with at least q of the sample at
// or below it, always a value of the sample (no interpolation between two
// runs). q = 1 is the maximum, q = 0 the minimum. An empty sample gives the
// zero value, so a report of a run that measured nothing shows zeros.
func Percentile[T any](sorted []T, q float64) T {
	if len(sorted) == 0 {
		var zero T
		return zero
	}
	rank := int(math.Ceil(q*float64(len(sorted)))) - 1
	return sorted[min(max(rank, 0), len(sorted)-1)]
}

// Median is the nearest-rank median of s, in any order: of an even count,
// the lower of the middle two.
func Median[T cmp.Ordered](s []T) T {
	return Percentile(Sorted(s), 0.5)
}
