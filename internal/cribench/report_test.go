package cribench

import (
	"testing"
	"time"
)

// Summarize's percentiles are internal/stats' nearest rank, as the other
// bench tools' are: p90 of 1..7 ms is 7 ms (rank ceil(6.3) = 7), where the
// floor index it used before, int(0.9 × 6) = 5, gave 6 ms.
func TestSummarizeUsesNearestRank(t *testing.T) {
	var samples []time.Duration
	for i := 7; i >= 1; i-- { // descending: Summarize sorts
		samples = append(samples, time.Duration(i)*time.Millisecond)
	}
	got := Summarize(samples)
	want := Stat{Count: 7, P50Ms: 4, P90Ms: 7, MaxMs: 7}
	if got != want {
		t.Fatalf("Summarize(1..7 ms) = %+v, want %+v", got, want)
	}
	if got := Summarize(nil); got != (Stat{}) {
		t.Fatalf("Summarize(nil) = %+v, want zeros", got)
	}
}
