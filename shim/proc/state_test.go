package proc

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/containerd/errdefs"
	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/google/gvisor-containerd-shim/shim/runsc"
)

// newRestoringInit makes an Init waiting to be restored from a checkpoint:
// no runsc command runs until Start, so the state machine can be driven
// without runsc. The runtime points at a binary that does not exist, so a
// state that wrongly called runsc would fail loudly.
func newRestoringInit(t *testing.T) *Init {
	t.Helper()
	bundle := t.TempDir()
	if err := os.WriteFile(filepath.Join(bundle, "config.json"), []byte("{}"), 0o644); err != nil {
		t.Fatal(err)
	}
	p, err := NewInit(context.Background(), ContainerConfig{
		ID:         "c",
		Bundle:     bundle,
		Checkpoint: t.TempDir(),
		Runtime:    runsc.New("/nonexistent/runsc", "", "", "c", nil),
	})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func status(t *testing.T, p Process) State {
	t.Helper()
	s, err := p.Status(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestInitStates(t *testing.T) {
	ctx := context.Background()
	p := newRestoringInit(t)
	if s := status(t, p); s != Created {
		t.Fatalf("status %q, want created", s)
	}
	for name, err := range map[string]error{
		"pause":      p.Pause(ctx),
		"resume":     p.Resume(ctx),
		"checkpoint": p.Checkpoint(ctx, t.TempDir()),
		"kill":       p.Kill(ctx, 9, false),
	} {
		if !errdefs.IsFailedPrecondition(err) {
			t.Errorf("%s before restore: %v, want FailedPrecondition", name, err)
		}
	}

	p.SetExited(3)
	select {
	case <-p.Exited():
	default:
		t.Fatal("Exited not closed after SetExited")
	}
	if s := status(t, p); s != Stopped || p.ExitStatus() != 3 || p.ExitedAt().IsZero() {
		t.Fatalf("after exit: status %q, exit %d at %v", s, p.ExitStatus(), p.ExitedAt())
	}
	if err := p.Kill(ctx, 9, false); !errdefs.IsNotFound(err) {
		t.Errorf("kill after exit: %v, want NotFound", err)
	}
	if err := p.Start(ctx); !errdefs.IsFailedPrecondition(err) {
		t.Errorf("start after exit: %v, want FailedPrecondition", err)
	}
	p.SetExited(9) // a second report changes nothing
	if p.ExitStatus() != 3 {
		t.Errorf("exit status %d after a second SetExited, want 3", p.ExitStatus())
	}
}

func TestDeletedInitRefusesEverything(t *testing.T) {
	ctx := context.Background()
	p := newRestoringInit(t)
	if err := p.Delete(ctx); err != nil {
		t.Fatalf("delete before restore: %v", err)
	}
	if s := status(t, p); s != Deleted {
		t.Fatalf("status %q, want deleted", s)
	}
	for name, err := range map[string]error{
		"start":  p.Start(ctx),
		"delete": p.Delete(ctx),
		"kill":   p.Kill(ctx, 9, true),
		"pause":  p.Pause(ctx),
	} {
		if !errdefs.IsNotFound(err) {
			t.Errorf("%s after delete: %v, want NotFound", name, err)
		}
	}
	// Waiters are released even for a process deleted before it exited.
	p.SetExited(137)
	select {
	case <-p.Exited():
	default:
		t.Fatal("Exited not closed")
	}
}

func TestExecStates(t *testing.T) {
	ctx := context.Background()
	parent := newRestoringInit(t)
	if _, err := NewExec(ctx, parent, ExecConfig{ID: "e", Spec: specs.Process{Terminal: true}}, 0, 0); !errdefs.IsInvalidArgument(err) {
		t.Fatalf("exec with a terminal spec but no terminal stdio: %v, want InvalidArgument", err)
	}
	e, err := NewExec(ctx, parent, ExecConfig{ID: "e", Spec: specs.Process{Args: []string{"true"}}}, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	if s := status(t, e); s != Created {
		t.Fatalf("status %q, want created", s)
	}
	if err := e.Kill(ctx, 9, false); !errdefs.IsFailedPrecondition(err) {
		t.Errorf("kill before start: %v, want FailedPrecondition", err)
	}
	e.SetExited(5)
	if s := status(t, e); s != Stopped || e.ExitStatus() != 5 {
		t.Fatalf("after exit: status %q exit %d", s, e.ExitStatus())
	}
	if err := e.Kill(ctx, 9, false); !errdefs.IsNotFound(err) {
		t.Errorf("kill after exit: %v, want NotFound", err)
	}
	if err := e.Delete(ctx); err != nil {
		t.Fatalf("delete: %v", err)
	}
	if err := e.Delete(ctx); !errdefs.IsNotFound(err) {
		t.Errorf("second delete: %v, want NotFound", err)
	}

	// The container is not running (it awaits its restore): no exec, and
	// the exec has ended.
	e, err = NewExec(ctx, parent, ExecConfig{ID: "e", Spec: specs.Process{Args: []string{"true"}}}, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Start(ctx); !errdefs.IsFailedPrecondition(err) {
		t.Errorf("start while the container is not running: %v, want FailedPrecondition", err)
	}
	checkStartFailed(t, e)
}
