// Command demo-pod runs one Kubernetes-style pod with two containers in one
// gVisor sandbox through containerd's CRI plugin (a throwaway containerd,
// see internal/cri), and prints what the containers wrote, the task events
// a subscriber received, the shim's event transport and the pod's
// runsc-sandbox processes. It cleans up after itself, also when
// interrupted. `make demo-pod` runs it.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/containerd/containerd"
	"github.com/containerd/containerd/namespaces"

	"github.com/google/gvisor-containerd-shim/internal/cri"
	"github.com/google/gvisor-containerd-shim/internal/eventlog"
)

func main() {
	shim := flag.String("shim", "bin/gvisor-containerd-shim", "the built shim binary")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, *shim)
	stop()
	if errors.Is(err, context.Canceled) {
		fmt.Fprintln(os.Stderr, "demo-pod: interrupted (everything it started is cleaned up)")
		os.Exit(130)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "demo-pod:", err)
		os.Exit(1)
	}
}

func step(format string, args ...any) { fmt.Printf("==> "+format+"\n", args...) }

func run(ctx context.Context, shimPath string) error {
	if os.Geteuid() != 0 {
		return errors.New("needs root (containerd and runsc do): run `sudo make demo-pod`")
	}
	shim, err := filepath.Abs(shimPath)
	if err != nil {
		return err
	}
	if _, err := os.Stat(shim); err != nil {
		return fmt.Errorf("shim binary: %w (run `make build`)", err)
	}
	step("starting a throwaway containerd with the CRI plugin (handlers runsc and runc on the v1 runtime, shim %s)", shimPath)
	node, err := cri.Start(ctx, cri.Options{Shim: shim})
	if err != nil {
		return err
	}
	defer func() {
		step("stopping containerd and removing %s", node.Daemon.Dir)
		if err := node.Close(); err != nil {
			fmt.Fprintln(os.Stderr, "demo-pod: stopping containerd:", err)
		}
	}()
	client, err := containerd.New(node.Daemon.Address, containerd.WithTimeout(10*time.Second))
	if err != nil {
		return err
	}
	defer client.Close()
	var rec eventlog.Recorder
	subCtx, cancelSub := context.WithCancel(namespaces.WithNamespace(ctx, cri.Namespace))
	defer cancelSub()
	rec.Subscribe(subCtx, client)

	step("crictl runp --runtime runsc: the pod's gVisor sandbox")
	pod, err := node.RunPod(ctx, cri.Runsc, "demo")
	if err != nil {
		return err
	}
	defer func() {
		step("crictl stopp and rmp")
		if err := pod.Remove(context.WithoutCancel(ctx)); err != nil {
			fmt.Fprintln(os.Stderr, "demo-pod: removing the pod:", err)
		}
	}()
	volume, err := os.MkdirTemp("", "demo-pod-volume-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(volume)
	mounts := []cri.Mount{{HostPath: volume, ContainerPath: "/shared"}}

	step("container 1 (server): writes to the shared volume, answers on localhost:9090")
	server, err := pod.Run(ctx, cri.Container{Name: "server", Mounts: mounts, Command: []string{"sh", "-c",
		`echo "Hello from $(uname -sr)" > /shared/note; echo "server: ready"; while :; do nc -l -p 9090 -e echo "server: hello over localhost"; done`}})
	if err != nil {
		return err
	}
	step("container 2 (client): reads the volume, talks to the server, exits 0")
	client2, err := pod.Run(ctx, cri.Container{Name: "client", Mounts: mounts, Command: []string{"sh", "-c",
		`echo "client: the volume says: $(cat /shared/note)"; for i in $(seq 50); do nc 127.0.0.1 9090 </dev/null && exit 0; sleep 0.1; done; exit 1`}})
	if err != nil {
		return err
	}
	waitCtx, cancel := context.WithTimeout(ctx, time.Minute)
	st, err := node.WaitExited(waitCtx, client2)
	cancel()
	if err != nil {
		return err
	}
	step("client exited with code %d (as CRI reports it)", st.ExitCode)

	sandboxes := cri.SandboxPids(pod.ID)
	fmt.Printf("\nrunsc-sandbox processes for the pod: %d (pids %v): both containers run in it\n", len(sandboxes), sandboxes)
	for _, c := range []struct{ name, id string }{{"server", server}, {"client", client2}} {
		out, err := node.Crictl(ctx, "logs", c.id)
		if err != nil {
			return err
		}
		fmt.Printf("\ncrictl logs %s:\n", c.name)
		for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
			fmt.Println("  " + line)
		}
	}
	rec.WaitFor(ctx, "*events.TaskExit", 5*time.Second)
	fmt.Println("\ntask events received by a subscriber (namespace k8s.io):")
	for _, line := range rec.Lines() {
		fmt.Println("  " + line)
	}
	fmt.Println("\nevent transport used by the shims (from containerd's log):")
	for _, t := range eventlog.Transports(node.Daemon.LogTail(4 << 20)) {
		fmt.Println("  " + t)
	}
	fmt.Println()
	return ctx.Err()
}
