// Package oneproc runs the process on one P (GOMAXPROCS 1) from its first
// package inits on. A program imports it for this side effect; Go
// initializes ready packages in import-path order, so this one, which
// depends only on runtime, runs before the packages that allocate much.
//
// Why from init, not in main: each P caches a span per size class, and
// lowering GOMAXPROCS later flushes the dropped P's spans into the heap's
// central lists, whose first use of each size class allocates about 6 KiB of
// runtime metadata that is never returned (docs/benchmarks.md measured
// +450 KiB per shim whenever the second P had allocated before main).
package oneproc

import "runtime"

func init() {
	runtime.GOMAXPROCS(1)
}
