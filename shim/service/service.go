// Package service implements containerd's v1 Shim API (runtime/v1/shim/v1)
// for gVisor by driving the runsc command.
package service

import (
	"context"
	"time"

	"github.com/containerd/containerd/errdefs"
	"github.com/containerd/containerd/events"
	shimapi "github.com/containerd/containerd/runtime/v1/shim/v1"
	ptypes "github.com/gogo/protobuf/types"
)

// Config is what the CLI hands the service.
type Config struct {
	BundlePath   string            // the shim's cwd (containerd starts the shim in the bundle dir)
	Namespace    string            // containerd namespace of the task
	WorkDir      string            // containerd's per-task work dir
	RuntimeRoot  string            // -runtime-root; runsc --root is <RuntimeRoot>/<Namespace>
	RunscConfig  map[string]string // [runsc_config] entries → runsc global flags --key=value, %ID% → container id
	FlushTimeout time.Duration     // how long the init's Delete waits for the publisher; 0 = 5s
}

// Publisher delivers the shim's events to containerd; Flush waits until
// everything published so far has been delivered.
type Publisher interface {
	events.Publisher
	Flush(ctx context.Context) error
}

// Service is the v1 ShimService over runsc.
type Service struct {
	cfg Config
	pub Publisher
}

var _ shimapi.ShimService = (*Service)(nil)

// New returns a Service for the bundle in cfg.
func New(cfg Config, pub Publisher) (*Service, error) {
	return &Service{cfg: cfg, pub: pub}, nil
}

func (s *Service) State(ctx context.Context, r *shimapi.StateRequest) (*shimapi.StateResponse, error) {
	return nil, errdefs.ErrNotImplemented
}
func (s *Service) Create(ctx context.Context, r *shimapi.CreateTaskRequest) (*shimapi.CreateTaskResponse, error) {
	return nil, errdefs.ErrNotImplemented
}
func (s *Service) Start(ctx context.Context, r *shimapi.StartRequest) (*shimapi.StartResponse, error) {
	return nil, errdefs.ErrNotImplemented
}
func (s *Service) Delete(ctx context.Context, r *ptypes.Empty) (*shimapi.DeleteResponse, error) {
	return nil, errdefs.ErrNotImplemented
}
func (s *Service) DeleteProcess(ctx context.Context, r *shimapi.DeleteProcessRequest) (*shimapi.DeleteResponse, error) {
	return nil, errdefs.ErrNotImplemented
}
func (s *Service) ListPids(ctx context.Context, r *shimapi.ListPidsRequest) (*shimapi.ListPidsResponse, error) {
	return nil, errdefs.ErrNotImplemented
}
func (s *Service) Pause(ctx context.Context, r *ptypes.Empty) (*ptypes.Empty, error) {
	return nil, errdefs.ErrNotImplemented
}
func (s *Service) Resume(ctx context.Context, r *ptypes.Empty) (*ptypes.Empty, error) {
	return nil, errdefs.ErrNotImplemented
}
func (s *Service) Checkpoint(ctx context.Context, r *shimapi.CheckpointTaskRequest) (*ptypes.Empty, error) {
	return nil, errdefs.ErrNotImplemented
}
func (s *Service) Kill(ctx context.Context, r *shimapi.KillRequest) (*ptypes.Empty, error) {
	return nil, errdefs.ErrNotImplemented
}
func (s *Service) Exec(ctx context.Context, r *shimapi.ExecProcessRequest) (*ptypes.Empty, error) {
	return nil, errdefs.ErrNotImplemented
}
func (s *Service) ResizePty(ctx context.Context, r *shimapi.ResizePtyRequest) (*ptypes.Empty, error) {
	return nil, errdefs.ErrNotImplemented
}
func (s *Service) CloseIO(ctx context.Context, r *shimapi.CloseIORequest) (*ptypes.Empty, error) {
	return nil, errdefs.ErrNotImplemented
}
func (s *Service) ShimInfo(ctx context.Context, r *ptypes.Empty) (*shimapi.ShimInfoResponse, error) {
	return nil, errdefs.ErrNotImplemented
}
func (s *Service) Update(ctx context.Context, r *shimapi.UpdateTaskRequest) (*ptypes.Empty, error) {
	return nil, errdefs.ErrNotImplemented
}
func (s *Service) Wait(ctx context.Context, r *shimapi.WaitRequest) (*shimapi.WaitResponse, error) {
	return nil, errdefs.ErrNotImplemented
}
