// Package reliability is the fault-injection suite: real containerd, real
// shim binary, real runsc. Each test is one property users rely on: every
// TaskExit is delivered, once per exit (only the event in flight during a
// connection break may repeat, and repeats are counted), in order, before its
// TaskDelete, through daemon restarts, hangs, churn and bad input.
//
// Run it with `make reliability`. Figures for docs/reliability.md are
// written as JSON lines to $RELIABILITY_REPORT when it is set.
package reliability

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/containerd/containerd"
	eventtypes "github.com/containerd/containerd/api/events"
	"github.com/containerd/containerd/cio"
	"github.com/containerd/containerd/namespaces"
	"github.com/containerd/containerd/oci"
	"github.com/containerd/typeurl"
	"github.com/gogo/protobuf/types"
	"github.com/google/gvisor-containerd-shim/internal/containerdtest"
	"github.com/google/gvisor-containerd-shim/internal/ctrdaemon"
)

const namespace = "reliability"

type options struct {
	mode string // publisher mode; "" means modeName()
	// proxy makes shims reach the daemon (both sockets) only through
	// holdable proxies: their -address is the proxies'.
	proxy bool
	// noTTRPC moves the daemon's ttrpc socket away from where shims look.
	noTTRPC bool
	// extraShimArgs are appended to containerd's arguments for the shim.
	extraShimArgs []string
	// config replaces the shim's config file content; configPath replaces
	// the file itself.
	config, configPath string
	// runtime replaces runsc as the runtime binary.
	runtime string
}

type suite struct {
	t       *testing.T
	opts    options
	d       *ctrdaemon.Daemon
	client  *containerd.Client
	rootfs  string
	proxies []*containerdtest.Proxy
	// suffix makes container ids unique on the host: runsc names each
	// sandbox's control socket after the id, whatever its root, so tests
	// running at once (other packages) would collide on ids like "host".
	// Ending every id, it also keeps "x-1" from being a prefix of "x-10",
	// which the shim refuses (this runsc finds containers by id prefix).
	suffix string
}

// cid is the container id of a test's name for a container.
func (s *suite) cid(name string) string { return name + s.suffix }

func newSuite(t *testing.T, opts options) *suite {
	t.Helper()
	containerdtest.RequireBinaries(t, "containerd", "runsc")
	s := &suite{t: t, opts: opts, rootfs: containerdtest.BusyboxRootfs(t), suffix: fmt.Sprintf("-%d", os.Getpid())}
	var proxyAddress string
	if opts.proxy {
		dir, err := os.MkdirTemp("", "proxy-")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { os.RemoveAll(dir) })
		proxyAddress = filepath.Join(dir, "p.sock")
		s.opts.extraShimArgs = append(s.opts.extraShimArgs, "-address", proxyAddress)
	}
	cfg := containerdtest.Config{
		Shim:            containerdtest.BuildShim(t),
		ShimConfig:      s.shimConfig(),
		ShimArgs:        s.opts.extraShimArgs,
		Runtime:         "runsc",
		RuntimeRootBase: "runsc",
		ShimDebug:       true,
	}
	if modeName() == legacyMode {
		// The exec hack hands every container to containerd's own v1 shim,
		// whose publisher forks `containerd publish` once per event.
		cfg.Runtime, cfg.RuntimeRootBase = "runc", "runc"
	}
	if opts.runtime != "" {
		cfg.Runtime = opts.runtime
	}
	if opts.noTTRPC {
		cfg.TTRPCSocketName = "moved.ttrpc"
	}
	if opts.configPath != "" {
		cfg.ShimConfig = ""
		cfg.ShimArgs = append(cfg.ShimArgs, "-config", opts.configPath)
	}
	s.d = containerdtest.Start(t, cfg)
	if opts.proxy {
		s.proxies = []*containerdtest.Proxy{
			containerdtest.StartProxy(t, proxyAddress, s.d.Address),
			containerdtest.StartProxy(t, proxyAddress+".ttrpc", s.d.TTRPCAddress),
		}
	}
	s.client = containerdtest.Client(t, s.d)
	return s
}

// holdShims makes the shims' new connections to the daemon wait, until
// releaseShims (needs options.proxy).
func (s *suite) holdShims() {
	for _, p := range s.proxies {
		p.Hold()
	}
}

func (s *suite) releaseShims() {
	for _, p := range s.proxies {
		p.Release()
	}
}

// shimConfig is the suite's config for the shim (containerd itself passes
// no -config); empty in legacy mode, where the exec hack would pass -config
// on to containerd-shim, which knows no such flag.
func (s *suite) shimConfig() string {
	if modeName() == legacyMode {
		return ""
	}
	if s.opts.config != "" {
		return s.opts.config
	}
	mode := s.opts.mode
	if mode == "" {
		mode = modeName()
	}
	runscConfig := "  network = \"none\"\n"
	if dir := os.Getenv("RELIABILITY_RUNSC_LOG_DIR"); dir != "" {
		// Each runsc command's own log, kept after containerd removed the
		// bundle (and its log.json) with the task.
		runscConfig += fmt.Sprintf("  debug-log = %q\n", dir+"/")
	}
	return fmt.Sprintf("[runsc_config]\n%s[publisher]\n  mode = %q\n  flush_timeout = \"10s\"\n", runscConfig, mode)
}

func (s *suite) ctx() context.Context {
	return namespaces.WithNamespace(context.Background(), namespace)
}

// start creates and starts a container named name running a busybox shell
// script, failing the test on error (call it from the test's goroutine).
func (s *suite) start(ctx context.Context, name, script string) (containerd.Container, containerd.Task) {
	s.t.Helper()
	c, task, err := s.tryStart(ctx, name, script)
	if err != nil {
		s.t.Fatal(err)
	}
	return c, task
}

// tryStart is start for other goroutines.
func (s *suite) tryStart(ctx context.Context, name, script string) (containerd.Container, containerd.Task, error) {
	id := s.cid(name)
	c, err := s.client.NewContainer(ctx, id,
		containerd.WithNewSpec(oci.WithRootFSPath(s.rootfs), oci.WithProcessArgs("/bin/sh", "-c", script)),
		containerd.WithRuntime(containerdtest.V1Runtime, nil))
	if err != nil {
		return nil, nil, fmt.Errorf("create container %s: %w", id, err)
	}
	task, err := c.NewTask(ctx, cio.NullIO)
	if err != nil {
		return nil, nil, fmt.Errorf("create task %s: %w", id, err)
	}
	if err := task.Start(ctx); err != nil {
		return nil, nil, fmt.Errorf("start task %s: %w", id, err)
	}
	return c, task, nil
}

// remove deletes a task (the shim is SIGKILLed right after) and its container.
func remove(ctx context.Context, c containerd.Container, task containerd.Task) error {
	if _, err := task.Delete(ctx); err != nil {
		return fmt.Errorf("delete task %s: %w", c.ID(), err)
	}
	return c.Delete(ctx)
}

// shimPids lists the shim processes of this daemon.
func (s *suite) shimPids() []int {
	var pids []int
	for _, p := range processesMentioning(s.d.Address) {
		// Also containerd-shim, which the exec hack runs in legacy mode.
		if strings.Contains(p.cmd, "containerd-shim") {
			pids = append(pids, p.pid)
		}
	}
	return pids
}

// process is a process's pid and its command line, arguments joined by
// spaces.
type process struct {
	pid int
	cmd string
}

// processesMentioning lists the processes whose command line contains text.
func processesMentioning(text string) []process {
	var found []process
	paths, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil || !strings.Contains(string(b), text) {
			continue
		}
		var pid int
		fmt.Sscanf(p, "/proc/%d/cmdline", &pid)
		found = append(found, process{pid, strings.TrimSpace(strings.ReplaceAll(string(b), "\x00", " "))})
	}
	return found
}

func alive(pid int) bool { return syscall.Kill(pid, 0) == nil }

// event is one task event as a subscriber of the daemon saw it.
type event struct {
	Topic     string
	Container string
	ID        string // exec id; the container id for the init process
	Pid       uint32
	Status    uint32
	ExitedAt  time.Time // from the event: when the shim saw the exit
	Received  time.Time
}

func (e event) key() string { return e.Container + "/" + e.ID }

// recorder subscribes to the daemon's task events in the suite namespace.
type recorder struct {
	suffix string // of container ids, trimmed from what is recorded
	mu     sync.Mutex
	events []event
	errs   []error
	cancel context.CancelFunc
	done   chan struct{}
}

// record subscribes and returns once the subscription is live (it waits
// for a probe event to come through).
func (s *suite) record() *recorder {
	s.t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	r := &recorder{suffix: s.suffix, cancel: cancel, done: make(chan struct{})}
	envs, errs := s.client.EventService().Subscribe(ctx, fmt.Sprintf(`namespace==%q`, namespace))
	probe := make(chan struct{}, 1)
	go func() {
		defer close(r.done)
		for {
			select {
			case env := <-envs:
				if env.Topic == "/reliability/probe" {
					select {
					case probe <- struct{}{}:
					default:
					}
					continue
				}
				r.add(env.Topic, env.Event)
			case err := <-errs:
				if err != nil && ctx.Err() == nil {
					r.mu.Lock()
					r.errs = append(r.errs, err)
					r.mu.Unlock()
				}
				return
			}
		}
	}()
	s.t.Cleanup(r.stop)
	for i := 0; i < 100; i++ {
		if err := s.client.EventService().Publish(s.ctx(), "/reliability/probe", &eventtypes.TaskOOM{}); err != nil {
			s.t.Fatalf("probe: %v", err)
		}
		select {
		case <-probe:
			return r
		case <-time.After(100 * time.Millisecond):
		}
	}
	s.t.Fatal("subscription never became live")
	return nil
}

func (r *recorder) stop() {
	r.cancel()
	<-r.done
}

func (r *recorder) add(topic string, any *types.Any) {
	v, err := typeurl.UnmarshalAny(any)
	if err != nil {
		return
	}
	e := event{Topic: topic, Received: time.Now()}
	switch ev := v.(type) {
	case *eventtypes.TaskExit:
		e.Container, e.ID, e.Pid, e.Status, e.ExitedAt = ev.ContainerID, ev.ID, ev.Pid, ev.ExitStatus, ev.ExitedAt
	case *eventtypes.TaskDelete:
		e.Container, e.ID, e.Pid, e.Status = ev.ContainerID, ev.ID, ev.Pid, ev.ExitStatus
		if e.ID == "" {
			e.ID = ev.ContainerID
		}
	default:
		return
	}
	e.Container = strings.TrimSuffix(e.Container, r.suffix)
	if e.ID != "" {
		e.ID = strings.TrimSuffix(e.ID, r.suffix)
	}
	r.mu.Lock()
	r.events = append(r.events, e)
	r.mu.Unlock()
}

func (r *recorder) snapshot() []event {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]event(nil), r.events...)
}

// exits waits until at least n TaskExit events arrived, or timeout, and
// returns those that did: the caller's tally counts what is missing.
func (r *recorder) exits(n int, timeout time.Duration) []event {
	deadline := time.Now().Add(timeout)
	for {
		exits := filter(r.snapshot(), "/tasks/exit")
		if len(exits) >= n || time.Now().After(deadline) {
			return exits
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func filter(events []event, topic string) []event {
	var out []event
	for _, e := range events {
		if e.Topic == topic {
			out = append(out, e)
		}
	}
	return out
}

// tally counts exits per process against what happened.
type tally struct {
	Expected   int `json:"expected"`
	Delivered  int `json:"delivered"` // distinct exits seen
	Lost       int `json:"lost"`
	Duplicated int `json:"duplicated"`
	Reordered  int `json:"reordered"` // per process pair seen out of exit order within a shim
	WrongState int `json:"wrong_status"`
	LateExit   int `json:"exit_after_delete"`
}

// check compares the exits seen with want (process key → exit status) and
// checks each TaskExit came before the TaskDelete of the same process.
func check(events []event, want map[string]uint32) tally {
	var t tally
	t.Expected = len(want)
	seen := map[string]int{}
	deleted := map[string]bool{}
	for _, e := range events {
		switch e.Topic {
		case "/tasks/delete":
			deleted[e.key()] = true
		case "/tasks/exit":
			if deleted[e.key()] {
				t.LateExit++
			}
			status, ok := want[e.key()]
			if !ok {
				continue
			}
			seen[e.key()]++
			if seen[e.key()] == 1 && e.Status != status {
				t.WrongState++
			}
		}
	}
	for k := range want {
		switch n := seen[k]; {
		case n == 0:
			t.Lost++
		default:
			t.Delivered++
			t.Duplicated += n - 1
		}
	}
	return t
}

// outOfOrder counts, per container (one shim), adjacent exits delivered in
// another order than they happened.
func outOfOrder(exits []event) int {
	byContainer := map[string][]event{}
	for _, e := range exits {
		byContainer[e.Container] = append(byContainer[e.Container], e)
	}
	n := 0
	for _, es := range byContainer {
		for i := 1; i < len(es); i++ {
			if es[i].ExitedAt.Before(es[i-1].ExitedAt) {
				n++
			}
		}
	}
	return n
}

// report appends a scenario's figures to $RELIABILITY_REPORT (JSON lines).
func report(t *testing.T, figures map[string]interface{}) {
	figures["test"] = t.Name()
	figures["mode"] = modeName()
	b, _ := json.Marshal(figures)
	t.Logf("figures: %s", b)
	path := os.Getenv("RELIABILITY_REPORT")
	if path == "" {
		return
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		t.Errorf("report: %v", err)
		return
	}
	defer f.Close()
	fmt.Fprintf(f, "%s\n", b)
}

// legacyMode runs the scenarios through containerd's own v1 shim
// (containerd-shim, reached through the exec hack), whose fork publisher
// gives up on an event after one failed `containerd publish`.
const legacyMode = "legacy"

// modeName is what runs the scenarios, from RELIABILITY_MODE: a publisher
// mode of this shim ("auto", the default, or "exec" for the fork path), or
// legacyMode (docs/reliability.md compares them).
func modeName() string {
	if m := os.Getenv("RELIABILITY_MODE"); m != "" {
		return m
	}
	return "auto"
}

// onlyModes skips a test whose scenario needs this shim in one of modes.
func onlyModes(t *testing.T, modes ...string) {
	t.Helper()
	for _, m := range modes {
		if modeName() == m {
			return
		}
	}
	t.Skipf("scenario does not apply to RELIABILITY_MODE=%s", modeName())
}

// measuringOnly reports whether the run only measures: containerd's own
// shim is not held to this shim's properties.
func measuringOnly() bool { return modeName() == legacyMode }
