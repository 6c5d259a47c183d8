// Package service implements containerd's v1 Shim API (runtime/v1/shim/v1)
// for gVisor: it keeps the container's init and exec processes (package
// proc), drives runsc through them, and publishes each process's TaskExit.
package service

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/containerd/console"
	eventstypes "github.com/containerd/containerd/api/events"
	"github.com/containerd/containerd/api/types/task"
	"github.com/containerd/containerd/events"
	"github.com/containerd/containerd/identifiers"
	"github.com/containerd/containerd/log"
	"github.com/containerd/containerd/mount"
	"github.com/containerd/containerd/namespaces"
	"github.com/containerd/containerd/pkg/stdio"
	"github.com/containerd/containerd/runtime"
	"github.com/containerd/containerd/runtime/linux/runctypes"
	shimapi "github.com/containerd/containerd/runtime/v1/shim/v1"
	"github.com/containerd/containerd/sys/reaper"
	"github.com/containerd/errdefs"
	runc "github.com/containerd/go-runc"
	"github.com/containerd/typeurl"
	ptypes "github.com/gogo/protobuf/types"
	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/google/gvisor-containerd-shim/shim/proc"
	"github.com/google/gvisor-containerd-shim/shim/runsc"
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

// DefaultFlushTimeout bounds the init's Delete wait for the publisher.
const DefaultFlushTimeout = 5 * time.Second

// exitGrace is how long Delete waits for an init that is still running
// (its kill just sent) to exit.
const exitGrace = 2 * time.Second

// Publisher delivers the shim's events to containerd; Flush waits until
// everything published so far has been delivered.
type Publisher interface {
	events.Publisher
	Flush(ctx context.Context) error
}

// Service is the v1 ShimService over runsc. One Service runs one container.
type Service struct {
	cfg Config
	pub Publisher

	// mu guards the fields below. It is held only to read or change them,
	// never across a runsc command, a logging driver's ready wait or a
	// publish: those run with a creation or an exec id reserved instead.
	mu       sync.Mutex
	init     proc.Container
	rt       *runsc.Runsc // the init's runsc, for Update
	creating bool         // a Create runs
	bundle   string
	// execs holds the execs by id; nil for an id whose Exec RPC runs.
	execs map[string]*proc.Exec
	ioUID int
	ioGID int

	exits *exitTracker
	// publishing is held while an exit is recorded and its TaskExit
	// queued, so the init's Delete can flush after it.
	publishing sync.Mutex
}

var _ shimapi.ShimService = (*Service)(nil)

// New returns a Service for the bundle in cfg. It takes process exits from
// reaper.Default, so the caller must call reaper.Reap on SIGCHLD (as a
// subreaper: runsc's sandboxes are re-parented to the shim).
func New(cfg Config, pub Publisher) (*Service, error) {
	if cfg.Namespace == "" {
		return nil, fmt.Errorf("shim service: namespace is required: %w", errdefs.ErrInvalidArgument)
	}
	if pub == nil {
		return nil, fmt.Errorf("shim service: publisher is required: %w", errdefs.ErrInvalidArgument)
	}
	if cfg.FlushTimeout == 0 {
		cfg.FlushTimeout = DefaultFlushTimeout
	}
	s := &Service{cfg: cfg, pub: pub, execs: make(map[string]*proc.Exec)}
	s.exits = newExitTracker(s.processExited)
	ec := reaper.Default.Subscribe()
	go func() {
		for e := range ec {
			s.exits.exited(e)
		}
	}()
	return s, nil
}

// processExited records p's exit and publishes its TaskExit.
func (s *Service) processExited(p proc.Process, e runc.Exit) {
	s.publishing.Lock()
	defer s.publishing.Unlock()
	p.SetExited(e.Status)
	ctx := namespaces.WithNamespace(context.Background(), s.cfg.Namespace)
	id := p.ID()
	if x, ok := p.(*proc.Exec); ok {
		id = x.ContainerID()
	}
	log.G(ctx).WithFields(map[string]interface{}{"id": p.ID(), "pid": p.Pid(), "status": e.Status}).Debug("process exited")
	if err := s.pub.Publish(ctx, runtime.TaskExitEventTopic, &eventstypes.TaskExit{
		ContainerID: id,
		ID:          p.ID(),
		Pid:         uint32(p.Pid()),
		ExitStatus:  uint32(e.Status),
		ExitedAt:    p.ExitedAt(),
	}); err != nil {
		log.G(ctx).WithError(err).Error("publishing TaskExit")
	}
}

func (s *Service) bundleDir() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.bundle
}

var errNotCreated = fmt.Errorf("container must be created first: %w", errdefs.ErrFailedPrecondition)

func (s *Service) initProcess() (proc.Container, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.init == nil {
		return nil, errNotCreated
	}
	return s.init, nil
}

// process returns the init for "" or the container id, else the exec.
func (s *Service) process(id string) (proc.Process, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.init == nil {
		return nil, errNotCreated
	}
	if id == "" || id == s.init.ID() {
		return s.init, nil
	}
	e := s.execs[id]
	if e == nil {
		return nil, fmt.Errorf("process %s does not exist: %w", id, errdefs.ErrNotFound)
	}
	return e, nil
}

// Create creates the container (or prepares its restore from a checkpoint).
func (s *Service) Create(ctx context.Context, r *shimapi.CreateTaskRequest) (*shimapi.CreateTaskResponse, error) {
	if r.ID == "" || r.Bundle == "" {
		return nil, fmt.Errorf("create needs an id and a bundle: %w", errdefs.ErrInvalidArgument)
	}
	s.mu.Lock()
	switch {
	case s.init != nil:
		s.mu.Unlock()
		return nil, fmt.Errorf("container %s already created: %w", s.init.ID(), errdefs.ErrAlreadyExists)
	case s.creating:
		s.mu.Unlock()
		return nil, fmt.Errorf("container is being created: %w", errdefs.ErrAlreadyExists)
	}
	s.creating = true
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		s.creating = false
		s.mu.Unlock()
	}()
	var opts runctypes.CreateOptions
	if r.Options != nil {
		v, err := typeurl.UnmarshalAny(r.Options)
		if err != nil {
			return nil, fmt.Errorf("create options: %w: %w", err, errdefs.ErrInvalidArgument)
		}
		o, ok := v.(*runctypes.CreateOptions)
		if !ok {
			return nil, fmt.Errorf("create options are %T, want runctypes.CreateOptions: %w", v, errdefs.ErrInvalidArgument)
		}
		opts = *o
	}
	var mounts []mount.Mount
	for _, m := range r.Rootfs {
		mounts = append(mounts, mount.Mount{Type: m.Type, Source: m.Source, Options: m.Options})
	}
	root := ""
	if s.cfg.RuntimeRoot != "" {
		root = filepath.Join(s.cfg.RuntimeRoot, s.cfg.Namespace)
	}
	if err := refusePrefixIDs(ctx, root, r.ID); err != nil {
		return nil, err
	}
	rt := runsc.New(r.Runtime, root, filepath.Join(r.Bundle, "log.json"), r.ID, s.cfg.RunscConfig)
	cfg := proc.ContainerConfig{
		ID:         r.ID,
		Namespace:  s.cfg.Namespace,
		Bundle:     r.Bundle,
		Mounts:     mounts,
		Stdio:      stdio.Stdio{Stdin: r.Stdin, Stdout: r.Stdout, Stderr: r.Stderr, Terminal: r.Terminal},
		IoUID:      int(opts.IoUid),
		IoGID:      int(opts.IoGid),
		Checkpoint: r.Checkpoint,
		Runtime:    rt,
	}
	spec, err := proc.ReadBundle(r.Bundle)
	if err != nil {
		return nil, err
	}
	// As an exec's (proc.NewExec). runsc creates a spec without a terminal
	// and never sends the console socket one, so a mismatch would only
	// fail once the wait for it ran out.
	if spec.Terminal != r.Terminal {
		return nil, fmt.Errorf("create %s: the spec's process.terminal is %v but the task's terminal is %v: %w",
			r.ID, spec.Terminal, r.Terminal, errdefs.ErrInvalidArgument)
	}
	var p proc.Container
	if spec.App {
		// Its exit comes from `runsc wait`: the pid runsc reports is the
		// pod's sandbox, another shim's child.
		p, err = proc.NewApp(ctx, cfg, func(p proc.Process, status int) {
			s.processExited(p, runc.Exit{Status: status, Timestamp: time.Now()})
		})
	} else {
		started := time.Now()
		var ip *proc.Init
		if ip, err = proc.NewInit(ctx, cfg); err == nil && r.Checkpoint == "" {
			s.exits.watch(ip, started)
		}
		p = ip
	}
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	s.init, s.bundle, s.ioUID, s.ioGID = p, r.Bundle, int(opts.IoUid), int(opts.IoGid)
	s.rt = rt
	s.mu.Unlock()
	return &shimapi.CreateTaskResponse{Pid: uint32(p.Pid())}, nil
}

// refusePrefixIDs fails the creation of id when an id in the runsc root is
// a prefix of it or it of one: this runsc finds containers by id prefix,
// so the shorter one could no longer be started, stopped or deleted. It is
// best effort: two creates racing can both pass. An unreadable root is
// left to runsc to fail on.
func refusePrefixIDs(ctx context.Context, root, id string) error {
	if root == "" {
		return nil // runsc's own default root; the CLI always passes one
	}
	ids, err := containerIDs(root)
	if err != nil {
		log.G(ctx).WithError(err).Warn("listing the runsc root's containers")
		return nil
	}
	other, ok := prefixConflict(id, ids)
	if !ok {
		return nil
	}
	shorter := other
	if len(id) < len(other) {
		shorter = id
	}
	// FailedPrecondition, not AlreadyExists: id itself is free, and the
	// create would pass once the other container is gone.
	return fmt.Errorf("create %s: runsc finds containers by id prefix, and %s exists in %s: %s could no longer be stopped or deleted; use ids that are not prefixes of each other: %w",
		id, other, root, shorter, errdefs.ErrFailedPrecondition)
}

// Start starts the container (an init, restored if it came from a
// checkpoint, or an app container) or an exec.
func (s *Service) Start(ctx context.Context, r *shimapi.StartRequest) (*shimapi.StartResponse, error) {
	p, err := s.process(r.ID)
	if err != nil {
		return nil, err
	}
	restoring := false
	if ip, ok := p.(*proc.Init); ok {
		restoring = ip.Pid() == 0 // restored: the sandbox's pid comes with Start
	}
	started := time.Now()
	if err := p.Start(ctx); err != nil {
		return nil, err
	}
	// An app container's start begins its own `runsc wait`.
	if e, isExec := p.(*proc.Exec); isExec {
		s.exits.watch(e, started)
	} else if restoring {
		s.exits.watch(p.(*proc.Init), started)
	}
	return &shimapi.StartResponse{ID: p.ID(), Pid: uint32(p.Pid())}, nil
}

// Delete deletes the container; it returns once the init's TaskExit has
// been delivered (or FlushTimeout passed), because containerd kills the
// shim right after.
func (s *Service) Delete(ctx context.Context, _ *ptypes.Empty) (*shimapi.DeleteResponse, error) {
	p, err := s.initProcess()
	if err != nil {
		return nil, err
	}
	if status, _ := p.Status(ctx); status == proc.Running || status == proc.Paused {
		select {
		case <-p.Exited():
		case <-time.After(exitGrace):
		}
	}
	if err := p.Delete(ctx); err != nil {
		return nil, err
	}
	if p.Pid() != 0 {
		// A created container's sandbox dies with runsc delete; its
		// TaskExit must still precede Delete's return.
		select {
		case <-p.Exited():
		case <-time.After(exitGrace):
		}
	}
	// An exit being recorded right now is queued once this lock is free.
	s.publishing.Lock()
	//lint:ignore SA2001 the empty section is the point: it waits out a publish in progress.
	s.publishing.Unlock()
	fctx, cancel := context.WithTimeout(ctx, s.cfg.FlushTimeout)
	defer cancel()
	if err := s.pub.Flush(fctx); err != nil {
		log.G(ctx).WithError(err).Warn("events not flushed before delete returned")
	}
	return &shimapi.DeleteResponse{Pid: uint32(p.Pid()), ExitStatus: uint32(p.ExitStatus()), ExitedAt: p.ExitedAt()}, nil
}

// DeleteProcess deletes an exec.
func (s *Service) DeleteProcess(ctx context.Context, r *shimapi.DeleteProcessRequest) (*shimapi.DeleteResponse, error) {
	p, err := s.process(r.ID)
	if err != nil {
		return nil, err
	}
	if _, ok := p.(*proc.Init); ok {
		return nil, fmt.Errorf("cannot delete the init process with DeleteProcess: %w", errdefs.ErrInvalidArgument)
	}
	if err := p.Delete(ctx); err != nil {
		return nil, err
	}
	s.mu.Lock()
	delete(s.execs, r.ID)
	s.mu.Unlock()
	return &shimapi.DeleteResponse{Pid: uint32(p.Pid()), ExitStatus: uint32(p.ExitStatus()), ExitedAt: p.ExitedAt()}, nil
}

// Exec records a process to exec (and starts its logging driver, if any);
// Start runs it.
func (s *Service) Exec(ctx context.Context, r *shimapi.ExecProcessRequest) (*ptypes.Empty, error) {
	if _, err := s.initProcess(); err != nil {
		return nil, err
	}
	if r.Spec == nil {
		return nil, fmt.Errorf("exec needs a process spec: %w", errdefs.ErrInvalidArgument)
	}
	// The id names files in the bundle.
	if err := identifiers.Validate(r.ID); err != nil {
		return nil, fmt.Errorf("exec id: %w", err)
	}
	var spec specs.Process
	if err := json.Unmarshal(r.Spec.Value, &spec); err != nil {
		return nil, fmt.Errorf("exec process spec: %w: %w", err, errdefs.ErrInvalidArgument)
	}
	s.mu.Lock()
	if s.init == nil {
		s.mu.Unlock()
		return nil, errNotCreated
	}
	if _, ok := s.execs[r.ID]; ok || r.ID == s.init.ID() {
		s.mu.Unlock()
		return nil, fmt.Errorf("process %s already exists: %w", r.ID, errdefs.ErrAlreadyExists)
	}
	// The id is reserved while the exec's stdio is set up: a logging
	// driver may take up to its ready timeout.
	s.execs[r.ID] = nil
	parent, uid, gid := s.init, s.ioUID, s.ioGID
	s.mu.Unlock()
	e, err := proc.NewExec(ctx, parent, proc.ExecConfig{
		ID:    r.ID,
		Spec:  spec,
		Stdio: stdio.Stdio{Stdin: r.Stdin, Stdout: r.Stdout, Stderr: r.Stderr, Terminal: r.Terminal},
	}, uid, gid)
	s.mu.Lock()
	defer s.mu.Unlock()
	if err != nil {
		delete(s.execs, r.ID)
		return nil, err
	}
	s.execs[r.ID] = e
	return &ptypes.Empty{}, nil
}

// State reports a process's status, stdio and exit.
func (s *Service) State(ctx context.Context, r *shimapi.StateRequest) (*shimapi.StateResponse, error) {
	p, err := s.process(r.ID)
	if err != nil {
		return nil, err
	}
	st, err := p.Status(ctx)
	if err != nil {
		return nil, err
	}
	status := task.StatusUnknown
	switch st {
	case proc.Created:
		status = task.StatusCreated
	case proc.Running:
		status = task.StatusRunning
	case proc.Paused:
		status = task.StatusPaused
	case proc.Stopped, proc.Deleted:
		status = task.StatusStopped
	}
	sio := p.Stdio()
	return &shimapi.StateResponse{
		ID:         p.ID(),
		Bundle:     s.bundleDir(),
		Pid:        uint32(p.Pid()),
		Status:     status,
		Stdin:      sio.Stdin,
		Stdout:     sio.Stdout,
		Stderr:     sio.Stderr,
		Terminal:   sio.Terminal,
		ExitStatus: uint32(p.ExitStatus()),
		ExitedAt:   p.ExitedAt(),
	}, nil
}

// ListPids lists the pids inside the sandbox (runsc ps); an exec's pid
// carries its exec id.
func (s *Service) ListPids(ctx context.Context, r *shimapi.ListPidsRequest) (*shimapi.ListPidsResponse, error) {
	p, err := s.initProcess()
	if err != nil {
		return nil, err
	}
	pids, err := p.Ps(ctx)
	if err != nil {
		return nil, err
	}
	execIDs := make(map[int]string)
	s.mu.Lock()
	for id, e := range s.execs {
		if e == nil {
			continue // being set up
		}
		if pid := e.Pid(); pid > 0 {
			execIDs[pid] = id
		}
	}
	s.mu.Unlock()
	var procs []*task.ProcessInfo
	for _, pid := range pids {
		info := &task.ProcessInfo{Pid: uint32(pid)}
		if id, ok := execIDs[pid]; ok {
			a, err := typeurl.MarshalAny(&runctypes.ProcessDetails{ExecID: id})
			if err != nil {
				return nil, err
			}
			info.Info = a
		}
		procs = append(procs, info)
	}
	return &shimapi.ListPidsResponse{Processes: procs}, nil
}

// Pause freezes the container (runsc pause).
func (s *Service) Pause(ctx context.Context, _ *ptypes.Empty) (*ptypes.Empty, error) {
	p, err := s.initProcess()
	if err != nil {
		return nil, err
	}
	if err := p.Pause(ctx); err != nil {
		return nil, err
	}
	return &ptypes.Empty{}, nil
}

// Resume thaws the container (runsc resume).
func (s *Service) Resume(ctx context.Context, _ *ptypes.Empty) (*ptypes.Empty, error) {
	p, err := s.initProcess()
	if err != nil {
		return nil, err
	}
	if err := p.Resume(ctx); err != nil {
		return nil, err
	}
	return &ptypes.Empty{}, nil
}

// Checkpoint saves the container to r.Path (runsc checkpoint); the
// container stops (see proc.Init.Checkpoint), whatever the options say.
func (s *Service) Checkpoint(ctx context.Context, r *shimapi.CheckpointTaskRequest) (*ptypes.Empty, error) {
	p, err := s.initProcess()
	if err != nil {
		return nil, err
	}
	if r.Path == "" {
		return nil, fmt.Errorf("checkpoint needs an image path: %w", errdefs.ErrInvalidArgument)
	}
	if err := p.Checkpoint(ctx, r.Path); err != nil {
		return nil, err
	}
	return &ptypes.Empty{}, nil
}

// Kill signals the init (all: every process of the container) or an exec.
func (s *Service) Kill(ctx context.Context, r *shimapi.KillRequest) (*ptypes.Empty, error) {
	p, err := s.process(r.ID)
	if err != nil {
		return nil, err
	}
	if err := p.Kill(ctx, r.Signal, r.All); err != nil {
		return nil, err
	}
	return &ptypes.Empty{}, nil
}

// ResizePty resizes a process's terminal.
func (s *Service) ResizePty(ctx context.Context, r *shimapi.ResizePtyRequest) (*ptypes.Empty, error) {
	p, err := s.process(r.ID)
	if err != nil {
		return nil, err
	}
	if err := p.Resize(console.WinSize{Width: uint16(r.Width), Height: uint16(r.Height)}); err != nil {
		return nil, err
	}
	return &ptypes.Empty{}, nil
}

// CloseIO closes a process's stdin.
func (s *Service) CloseIO(ctx context.Context, r *shimapi.CloseIORequest) (*ptypes.Empty, error) {
	p, err := s.process(r.ID)
	if err != nil {
		return nil, err
	}
	if r.Stdin {
		if err := p.CloseStdin(); err != nil {
			return nil, err
		}
	}
	return &ptypes.Empty{}, nil
}

// ShimInfo returns the shim's pid.
func (s *Service) ShimInfo(context.Context, *ptypes.Empty) (*shimapi.ShimInfoResponse, error) {
	return &shimapi.ShimInfoResponse{ShimPid: uint32(os.Getpid())}, nil
}

// Wait blocks until the process exits and returns its exit.
func (s *Service) Wait(ctx context.Context, r *shimapi.WaitRequest) (*shimapi.WaitResponse, error) {
	p, err := s.process(r.ID)
	if err != nil {
		return nil, err
	}
	select {
	case <-p.Exited():
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	return &shimapi.WaitResponse{ExitStatus: uint32(p.ExitStatus()), ExitedAt: p.ExitedAt()}, nil
}
