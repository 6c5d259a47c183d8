package cli

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"

	"github.com/containerd/containerd/log"
	shimapi "github.com/containerd/containerd/runtime/v1/shim/v1"
	"github.com/containerd/errdefs"
	ptypes "github.com/gogo/protobuf/types"
	"golang.org/x/sys/unix"
)

// serveUnusable serves the Shim API for a shim that cannot run containers,
// its config file being unusable or the runc shim it should become missing,
// so that the reason reaches the user: exiting would leave containerd with
// nothing but "ttrpc: closed". Every Create fails with the reason;
// containerd then kills the shim (after a failed Create its v1 runtime asks
// ShimInfo for the pid and SIGKILLs it; after a task Delete, the same).
// Nothing was started, so nothing is left behind. SIGTERM or SIGINT ends it
// with status 0. When there is no socket to serve on, the reason is the
// shim's fatal error.
func serveUnusable(flags Flags, stderr io.Writer, cause error) error {
	reason := oneLine(cause)
	l, err := listen(flags.Socket)
	if err != nil {
		return fmt.Errorf("%s (and no socket to report it on: %s)", reason, oneLine(err))
	}
	defer l.Close()
	ctx := setupLogging(flags, stderr)
	log.G(ctx).WithField("reason", reason).Error("cannot create containers: serving only to fail every Create with the reason")

	signals := make(chan os.Signal, 32)
	signal.Notify(signals, unix.SIGTERM, unix.SIGINT, unix.SIGPIPE, unix.SIGUSR1)
	defer signal.Stop(signals)
	server, err := newServer(nil) // it serves errors only: nothing to return
	if err != nil {
		return fmt.Errorf("ttrpc server: %w", err)
	}
	shimapi.RegisterShimService(server, unusableService{reason: reason})
	served, serving := serveInBackground(ctx, server, l)
	sig := handleSignals(ctx, signals, serving)
	server.Close()
	if sig == nil {
		return fmt.Errorf("ttrpc server failed: %w", <-served)
	}
	log.G(ctx).WithField("signal", sig).Info("shutting down")
	return nil
}

// unusableService is the Shim API of a shim that cannot run containers (the server's interceptor turns its errdefs
// errors into status codes). Create fails with FailedPrecondition and the
// reason; as no container exists, every other call about one is
// NotFound (which containerd's task Delete accepts before it kills the
// shim), with the reason too.
type unusableService struct {
	reason string
}

var _ shimapi.ShimService = unusableService{}

// Create logs the refusal and fails with FailedPrecondition and the reason.
func (s unusableService) Create(ctx context.Context, r *shimapi.CreateTaskRequest) (*shimapi.CreateTaskResponse, error) {
	log.G(ctx).WithField("id", r.ID).WithField("reason", s.reason).Error("create refused: the shim cannot create containers")
	return nil, fmt.Errorf("gvisor-containerd-shim cannot create containers: %s: %w", s.reason, errdefs.ErrFailedPrecondition)
}

func (s unusableService) noContainer() error {
	return fmt.Errorf("no container: gvisor-containerd-shim cannot create containers: %s: %w", s.reason, errdefs.ErrNotFound)
}

// ShimInfo reports the shim's pid, as a working shim does.
func (s unusableService) ShimInfo(context.Context, *ptypes.Empty) (*shimapi.ShimInfoResponse, error) {
	return &shimapi.ShimInfoResponse{ShimPid: uint32(os.Getpid())}, nil
}

// State fails with NotFound: there is no container.
func (s unusableService) State(context.Context, *shimapi.StateRequest) (*shimapi.StateResponse, error) {
	return nil, s.noContainer()
}

// Start fails with NotFound: there is no container.
func (s unusableService) Start(context.Context, *shimapi.StartRequest) (*shimapi.StartResponse, error) {
	return nil, s.noContainer()
}

// Delete fails with NotFound: there is no container.
func (s unusableService) Delete(context.Context, *ptypes.Empty) (*shimapi.DeleteResponse, error) {
	return nil, s.noContainer()
}

// DeleteProcess fails with NotFound: there is no container.
func (s unusableService) DeleteProcess(context.Context, *shimapi.DeleteProcessRequest) (*shimapi.DeleteResponse, error) {
	return nil, s.noContainer()
}

// ListPids fails with NotFound: there is no container.
func (s unusableService) ListPids(context.Context, *shimapi.ListPidsRequest) (*shimapi.ListPidsResponse, error) {
	return nil, s.noContainer()
}

// Pause fails with NotFound: there is no container.
func (s unusableService) Pause(context.Context, *ptypes.Empty) (*ptypes.Empty, error) {
	return nil, s.noContainer()
}

// Resume fails with NotFound: there is no container.
func (s unusableService) Resume(context.Context, *ptypes.Empty) (*ptypes.Empty, error) {
	return nil, s.noContainer()
}

// Checkpoint fails with NotFound: there is no container.
func (s unusableService) Checkpoint(context.Context, *shimapi.CheckpointTaskRequest) (*ptypes.Empty, error) {
	return nil, s.noContainer()
}

// Kill fails with NotFound: there is no container.
func (s unusableService) Kill(context.Context, *shimapi.KillRequest) (*ptypes.Empty, error) {
	return nil, s.noContainer()
}

// Exec fails with NotFound: there is no container.
func (s unusableService) Exec(context.Context, *shimapi.ExecProcessRequest) (*ptypes.Empty, error) {
	return nil, s.noContainer()
}

// ResizePty fails with NotFound: there is no container.
func (s unusableService) ResizePty(context.Context, *shimapi.ResizePtyRequest) (*ptypes.Empty, error) {
	return nil, s.noContainer()
}

// CloseIO fails with NotFound: there is no container.
func (s unusableService) CloseIO(context.Context, *shimapi.CloseIORequest) (*ptypes.Empty, error) {
	return nil, s.noContainer()
}

// Update fails with NotFound: there is no container.
func (s unusableService) Update(context.Context, *shimapi.UpdateTaskRequest) (*ptypes.Empty, error) {
	return nil, s.noContainer()
}

// Wait fails with NotFound: there is no container.
func (s unusableService) Wait(context.Context, *shimapi.WaitRequest) (*shimapi.WaitResponse, error) {
	return nil, s.noContainer()
}
