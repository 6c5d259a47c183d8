package main

import (
	"os"
	"os/signal"

	"github.com/containerd/containerd/sys/reaper"
	"golang.org/x/sys/unix"
)

// The fork path starts and waits its children through containerd's reaper,
// as a shim does, so this process reaps like a shim: every SIGCHLD reaps all
// exited children. That is also what puts each `containerd publish`'s CPU
// into RUSAGE_CHILDREN as soon as it exits.
func installReaper() {
	sigs := make(chan os.Signal, 64)
	signal.Notify(sigs, unix.SIGCHLD)
	go func() {
		for range sigs {
			reaper.Reap()
		}
	}()
}
