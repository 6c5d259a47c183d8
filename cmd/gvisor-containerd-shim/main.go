// Command gvisor-containerd-shim is a containerd v1 shim for gVisor (runsc).
// containerd 1.6's v1 runtime (io.containerd.runtime.v1.linux) starts it as
// its `shim`; see docs/cli.md.
package main

import (
	shimapi "github.com/containerd/containerd/runtime/v1/shim/v1"
	"github.com/google/gvisor-containerd-shim/shim/cli"
	"github.com/google/gvisor-containerd-shim/shim/service"
)

func main() {
	cli.Main(newService)
}

func newService(in cli.ServiceInputs) (shimapi.ShimService, error) {
	return service.New(service.Config{
		BundlePath:   in.BundlePath,
		Namespace:    in.Flags.Namespace,
		WorkDir:      in.Flags.WorkDir,
		RuntimeRoot:  in.Flags.RuntimeRoot,
		RunscConfig:  in.Config.RunscConfig,
		FlushTimeout: in.Config.Publisher.FlushTimeout,
	}, in.Publisher)
}
