package soak

import (
	"os"
	"testing"
)

// This process's own figures: its USS holds anonymous memory (the Go heap)
// and pages of its binary.
func TestReadProcSelf(t *testing.T) {
	f, err := readProc(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if f.fds < 3 || f.threads < 1 || f.anonKiB <= 0 || f.anonKiB >= f.ussKiB {
		t.Errorf("readProc(self) = %+v; want fds >= 3, a thread, 0 < anon < USS", f)
	}
}
