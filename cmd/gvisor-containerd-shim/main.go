// Command gvisor-containerd-shim is a containerd v1 shim for gVisor (runsc).
// containerd 1.6's v1 runtime (io.containerd.runtime.v1.linux) starts it as
// its `shim`; see docs/cli.md.
package main

import (
	// First: the shim runs on one P from its first package inits on.
	_ "github.com/google/gvisor-containerd-shim/internal/oneproc"

	"runtime"
	"runtime/debug"

	shimapi "github.com/containerd/containerd/runtime/v1/shim/v1"
	"github.com/google/gvisor-containerd-shim/shim/cli"
	"github.com/google/gvisor-containerd-shim/shim/config"
	"github.com/google/gvisor-containerd-shim/shim/runsc/lifetime"
	"github.com/google/gvisor-containerd-shim/shim/service"
)

func main() {
	lifetime.GuardCreates() // first: this binary is also the guard of runsc create
	cli.Main(newService)
}

func newService(in cli.ServiceInputs) (shimapi.ShimService, error) {
	tuneRuntime(in.Config.Shim)
	return service.New(service.Config{
		BundlePath:   in.BundlePath,
		Namespace:    in.Flags.Namespace,
		WorkDir:      in.Flags.WorkDir,
		RuntimeRoot:  in.Flags.RuntimeRoot,
		RunscConfig:  in.Config.RunscConfig,
		FlushTimeout: in.Config.Publisher.FlushTimeout,
	}, in.Publisher)
}

// tuneRuntime applies [shim]'s Go runtime settings; by default the shim
// keeps Go's but for GOMAXPROCS, which measured best for a shim
// (docs/benchmarks.md):
//   - GC percent stays 100: a shim allocates well under Go's 4 MB minimum
//     heap goal in its life, so it rarely collects; 40 (containerd-shim's)
//     collects during start-up and cost 560 KiB more private memory and
//     3 ms more start to serving.
//   - No periodic debug.FreeOSMemory (containerd-shim's, every 30 s): each is
//     a forced GC costing about 3 ms of CPU in an otherwise idle process,
//     and the collector's own structures outweighed the pages it returned.
//   - No memory limit: a ceiling for a shim gone wrong, not a saving; the
//     shim stays far below any sensible one.
//   - GOMAXPROCS is 1 (internal/oneproc, imported first), whatever containerd
//     passes (2): one P caches one span per size class, not two, and its
//     work (RPCs, waiting on runsc) needs no more; about 250 KiB less
//     private memory per shim. [shim] max_procs changes it after start.
func tuneRuntime(c config.ShimConfig) {
	if c.GCPercent != 0 {
		debug.SetGCPercent(c.GCPercent)
	}
	if c.MemoryLimit != 0 {
		debug.SetMemoryLimit(c.MemoryLimit)
	}
	if c.MaxProcs != 0 {
		runtime.GOMAXPROCS(c.MaxProcs)
	}
}
