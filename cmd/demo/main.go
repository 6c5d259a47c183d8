// Command demo runs one gVisor container through a throwaway containerd
// that uses gvisor-containerd-shim, then prints what the container wrote,
// the task events a subscriber received and the transport that delivered
// them. It cleans up after itself (daemon, shim, sandbox, mounts, temp
// dirs), also when interrupted. `make demo` runs it.
package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/containerd/containerd"
	"github.com/containerd/containerd/cio"
	"github.com/containerd/containerd/namespaces"
	"github.com/containerd/containerd/oci"

	"github.com/google/gvisor-containerd-shim/internal/ctrdaemon"
	"github.com/google/gvisor-containerd-shim/internal/eventlog"
	"github.com/google/gvisor-containerd-shim/internal/rootfs"
	"github.com/google/gvisor-containerd-shim/internal/syncbuf"
)

func main() {
	shim := flag.String("shim", "bin/gvisor-containerd-shim", "the built shim binary")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, *shim)
	stop()
	if errors.Is(err, context.Canceled) {
		fmt.Fprintln(os.Stderr, "demo: interrupted (everything it started is cleaned up)")
		os.Exit(130)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "demo:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, shimPath string) error {
	if os.Geteuid() != 0 {
		return errors.New("needs root (containerd and runsc do): run `sudo make demo`")
	}
	for _, bin := range []string{"containerd", "runsc", "busybox"} {
		if _, err := exec.LookPath(bin); err != nil {
			return fmt.Errorf("%s not found: `make setup` installs it", bin)
		}
	}
	shim, err := filepath.Abs(shimPath)
	if err != nil {
		return err
	}
	if _, err := os.Stat(shim); err != nil {
		return fmt.Errorf("shim binary: %w (run `make build`)", err)
	}
	dir, err := os.MkdirTemp("", "shim-demo-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)

	rootfsDir := filepath.Join(dir, "rootfs")
	if err := rootfs.Busybox(rootfsDir); err != nil {
		return err
	}

	step("starting a throwaway containerd (v1 runtime: shim=%s, runtime=runsc)", shimPath)
	// containerd passes the shim no -config; the daemon's wrapper adds one.
	d, err := ctrdaemon.New(ctrdaemon.Config{
		Shim:            shim,
		ShimConfig:      "[runsc_config]\n  network = \"none\"\n",
		Runtime:         "runsc",
		RuntimeRootBase: "runsc",
		ShimDebug:       true,
	})
	if err != nil {
		return err
	}
	// Close kills whatever the daemon left (shim, sandbox) and unmounts.
	defer func() {
		step("stopping containerd and removing %s", d.Dir)
		if err := d.Close(); err != nil {
			fmt.Fprintln(os.Stderr, "demo: stopping containerd:", err)
		}
	}()
	client, err := containerd.New(d.Address, containerd.WithTimeout(10*time.Second))
	if err != nil {
		return err
	}
	defer client.Close()
	ctx = namespaces.WithNamespace(ctx, "demo")

	var rec eventlog.Recorder
	subCtx, cancelSub := context.WithCancel(ctx)
	defer cancelSub()
	rec.Subscribe(subCtx, client)

	output, err := runGreeting(ctx, client, rootfsDir)
	if err != nil {
		return err
	}
	fmt.Printf("\ncontainer output:\n  %s\n", bytes.TrimSpace(output))
	// TaskDelete is the daemon's last event; give the stream a moment.
	rec.WaitFor(ctx, "*events.TaskDelete", 5*time.Second)
	fmt.Println("\nevents received by the subscriber:")
	for _, line := range rec.Lines() {
		fmt.Println("  " + line)
	}
	fmt.Println("\nevent transport used by the shim (from its log):")
	for _, t := range eventlog.Transports(d.LogTail(1 << 20)) {
		fmt.Println("  " + t)
	}
	return ctx.Err()
}

func step(format string, args ...any) {
	fmt.Printf("==> "+format+"\n", args...)
}

// runGreeting runs the container and returns what it wrote.
func runGreeting(ctx context.Context, client *containerd.Client, rootfsDir string) ([]byte, error) {
	// runsc names a sandbox's control socket after the container id, so the
	// id must not clash with another sandbox on this host.
	id := fmt.Sprintf("greeter-%d", os.Getpid())
	step("creating container %q (gVisor sandbox)", id)
	c, err := client.NewContainer(ctx, id,
		containerd.WithNewSpec(oci.WithRootFSPath(rootfsDir),
			oci.WithProcessArgs("/bin/sh", "-c", "echo \"Hello from gVisor: $(uname -sr)\"")),
		containerd.WithRuntime(ctrdaemon.V1Runtime, nil))
	if err != nil {
		return nil, err
	}
	defer c.Delete(context.WithoutCancel(ctx))
	var out syncbuf.Buffer
	task, err := c.NewTask(ctx, cio.NewCreator(cio.WithStreams(nil, &out, &out)))
	if err != nil {
		return nil, err
	}
	defer task.Delete(context.WithoutCancel(ctx), containerd.WithProcessKill)
	statusC, err := task.Wait(ctx)
	if err != nil {
		return nil, err
	}
	step("starting task (pid %d)", task.Pid())
	if err := task.Start(ctx); err != nil {
		return nil, err
	}
	var status containerd.ExitStatus
	select {
	case status = <-statusC:
	case <-ctx.Done():
		return nil, fmt.Errorf("interrupted: %w", ctx.Err())
	}
	code, _, err := status.Result()
	if err != nil {
		return nil, err
	}
	step("task exited with status %d; deleting it", code)
	if _, err := task.Delete(ctx); err != nil {
		return nil, err
	}
	return out.Bytes(), nil
}
