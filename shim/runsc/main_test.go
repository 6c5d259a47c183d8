package runsc

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/gvisor-containerd-shim/shim/runsc/lifetime"
)

// The test binary is the guard of the creates its tests run, as the shim
// binary is in the shim.
func TestMain(m *testing.M) {
	lifetime.GuardCreates()
	os.Exit(m.Run())
}

// A create that fails under its guard is a runsc Error with the command's
// exit status: the guard is invisible to the caller.
func TestGuardedCreateFailsAsRunsc(t *testing.T) {
	dir := t.TempDir()
	command := filepath.Join(dir, "runsc")
	// The guard's variable (lifetime's guardEnv) in the parent's
	// environment is what tells the script it ran under a guard.
	script := "#!/bin/sh\ntr '\\0' '\\n' < /proc/$PPID/environ | grep -q GVISOR_CONTAINERD_SHIM_CREATE_GUARD || exit 4\nexit 3\n"
	if err := os.WriteFile(command, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	r, _ := newTest(t, command)
	err := r.Create(t.Context(), "c1", dir, &CreateOpts{})
	var rerr *Error
	if !errors.As(err, &rerr) || !strings.Contains(err.Error(), "exit status 3") {
		t.Fatalf("create: %v, want a runsc Error with exit status 3", err)
	}
}
