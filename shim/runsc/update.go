package runsc

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os/exec"
	"strings"
	"sync"

	"github.com/containerd/errdefs"
	"github.com/google/gvisor-containerd-shim/shim/runsc/lifetime"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// hasUpdate caches, per runsc binary, whether it has an update command:
// the shim asks the binary once, not on every Update. Debian's runsc
// (2022-12-19) has none; current runsc has, also for a pod's app
// containers (google/gvisor#13069).
var hasUpdate struct {
	mu    sync.Mutex
	known map[string]bool
}

// Update runs `runsc update --resources -` with resources as JSON on its
// stdin. runsc sets a sandbox's root container's limits on the sandbox's
// cgroup and records an app container's in its state. A runsc without the
// command gets NotImplemented, saying so.
func (r *Runsc) Update(ctx context.Context, id string, resources *specs.LinuxResources) error {
	has, err := r.hasUpdate(ctx)
	if err != nil {
		return err
	}
	if !has {
		return fmt.Errorf("updating resources: this runsc (%s) has no update command (a current runsc has): %w", r.Command, errdefs.ErrNotImplemented)
	}
	b, err := json.Marshal(resources)
	if err != nil {
		return fmt.Errorf("updating resources: %w", err)
	}
	cmd := r.command(ctx, "update", "--resources", "-", id)
	cmd.Stdin = bytes.NewReader(b)
	_, err = r.run(cmd, nil)
	return err
}

// hasUpdate reports whether r.Command has an update command, from
// `runsc help update` the first time: 0 when it has, an error saying "not
// understood" when not. Any other outcome is returned as an error and not
// remembered. The command runs without the global flags, so it touches
// neither the container's log nor what [runsc_config] names.
func (r *Runsc) hasUpdate(ctx context.Context) (bool, error) {
	hasUpdate.mu.Lock()
	defer hasUpdate.mu.Unlock()
	if has, ok := hasUpdate.known[r.Command]; ok {
		return has, nil
	}
	var out bytes.Buffer
	cmd := exec.CommandContext(ctx, r.Command, "help", "update")
	cmd.Stdout, cmd.Stderr = &out, &out
	ec, err := lifetime.Start(r.ProcessMonitor(), cmd)
	if err != nil {
		msg, err := startFailure(r.Command, err)
		return false, &Error{Args: []string{"help", "update"}, Err: err, Msg: msg}
	}
	status, err := r.ProcessMonitor().Wait(cmd, ec)
	if err != nil {
		return false, &Error{Args: []string{"help", "update"}, Err: err}
	}
	var has bool
	switch {
	case status == 0:
		has = true
	case strings.Contains(out.String(), "not understood"):
		has = false
	default:
		return false, &Error{Args: []string{"help", "update"}, Err: fmt.Errorf("exit status %d", status), Msg: lastLine(out.String())}
	}
	if hasUpdate.known == nil {
		hasUpdate.known = make(map[string]bool)
	}
	hasUpdate.known[r.Command] = has
	return has, nil
}
