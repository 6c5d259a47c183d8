package containerdtest

import (
	"os"
	"os/signal"

	"github.com/containerd/containerd/sys/reaper"
	"golang.org/x/sys/unix"
)

// ReapChildren makes the test process reap its children through
// containerd's sys/reaper on SIGCHLD, as a shim does, so code that starts
// children with reaper.Default (the fork publisher) sees their exits. Call it
// from TestMain; it runs until the process exits.
func ReapChildren() {
	sigs := make(chan os.Signal, 32)
	signal.Notify(sigs, unix.SIGCHLD)
	go func() {
		for range sigs {
			reaper.Reap()
		}
	}()
}
