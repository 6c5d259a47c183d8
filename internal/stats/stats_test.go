package stats

import (
	"slices"
	"testing"
	"time"
)

func TestPercentile(t *testing.T) {
	ten := []int{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}
	for _, c := range []struct {
		sample []int
		q      float64
		want   int
	}{
		{ten, 0, 1},
		{ten, 0.1, 1},
		{ten, 0.11, 2},
		{ten, 0.5, 5},
		{ten, 0.9, 9},
		{ten, 0.99, 10},
		{ten, 1, 10},
		{[]int{7}, 0.5, 7},
		{[]int{1, 2, 3, 4, 5, 6, 7}, 0.9, 7}, // rank ceil(6.3) = 7
		{nil, 0.5, 0},
	} {
		if got := Percentile(c.sample, c.q); got != c.want {
			t.Errorf("Percentile(%v, %v) = %d, want %d", c.sample, c.q, got, c.want)
		}
	}
}

func TestMedianAndSorted(t *testing.T) {
	in := []time.Duration{30, 10, 40, 20}
	if got := Median(in); got != 20 {
		t.Errorf("median of %v = %v, want 20 (the lower middle)", in, got)
	}
	if got := Median([]time.Duration{3, 1, 2}); got != 2 {
		t.Errorf("median of 3, 1, 2 = %v", got)
	}
	if !slices.Equal(in, []time.Duration{30, 10, 40, 20}) {
		t.Errorf("Median reordered its argument: %v", in)
	}
	if got := Sorted(in); !slices.Equal(got, []time.Duration{10, 20, 30, 40}) {
		t.Errorf("Sorted = %v", got)
	}
}
