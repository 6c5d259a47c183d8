package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/containerd/containerd"
	tasksapi "github.com/containerd/containerd/api/services/tasks/v1"
	"github.com/containerd/containerd/cio"
	"github.com/containerd/containerd/namespaces"
	"github.com/containerd/containerd/oci"
	"github.com/containerd/containerd/runtime/linux/runctypes"
	"github.com/containerd/errdefs"
	"github.com/google/gvisor-containerd-shim/internal/containerdtest"
	"github.com/google/gvisor-containerd-shim/internal/ctrdaemon"
	"github.com/google/gvisor-containerd-shim/internal/syncbuf"
)

// A real containerd configured with this binary as its v1 shim and a runc
// runtime root: the exec hack hands the container to the real
// containerd-shim, which runs it with runc. The container's stdout and exit
// code come back through containerd as if containerd-shim had been
// configured directly.
func TestExecHackRunsRuncContainerThroughContainerd(t *testing.T) {
	containerdtest.RequireBinaries(t, "containerd", "containerd-shim", "runc")
	bin := containerdtest.BuildShim(t)
	d := containerdtest.Start(t, containerdtest.Config{Shim: bin, Runtime: "runc", RuntimeRootBase: "runc", ShimDebug: true})
	cmdline := runRuncContainer(t, d, "exechack", nil)
	if !bytes.Contains(cmdline, []byte("\x00-runtime-root\x00"+d.RuntimeRoot+"\x00")) {
		t.Fatalf("containerd-shim did not get the original arguments: %q", cmdline)
	}
}

// The two setups where handing containerd-shim the shim's argv unchanged
// killed every runc container ("flag provided but not defined", and
// containerd only said "ttrpc: closed"): an operator's wrapper script adding
// -config, and a CRIU path in the container's runtime options, which
// containerd passes as -criu-path. containerd-shim gets neither flag, and the
// CRIU path as its own -criu.
func TestExecHackThroughWrapperWithConfigAndCriuPath(t *testing.T) {
	containerdtest.RequireBinaries(t, "containerd", "containerd-shim", "runc")
	bin := containerdtest.BuildShim(t)
	runcShim, err := exec.LookPath("containerd-shim")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	cfg := writeFile(t, filepath.Join(dir, "x.toml"), fmt.Sprintf("runc_shim = %q\n", runcShim), 0o644)
	wrapper := writeFile(t, filepath.Join(dir, "shim"), fmt.Sprintf("#!/bin/sh\nexec %s -config %s \"$@\"\n", bin, cfg), 0o755)
	d := containerdtest.Start(t, containerdtest.Config{Shim: wrapper, Runtime: "runc", RuntimeRootBase: "runc", ShimDebug: true})
	const criu = "/usr/sbin/criu"
	cmdline := runRuncContainer(t, d, "exechackwrapper", &runctypes.RuncOptions{CriuPath: criu})
	if !bytes.Contains(cmdline, []byte("\x00-criu\x00"+criu+"\x00")) {
		t.Fatalf("containerd-shim did not get the CRIU path as -criu: %q", cmdline)
	}
	if bytes.Contains(cmdline, []byte("-config")) || bytes.Contains(cmdline, []byte("-criu-path")) {
		t.Fatalf("containerd-shim got a flag it does not define: %q", cmdline)
	}
}

// runRuncContainer runs a busybox container through d with the v1 runtime
// and runtime options opts, checks its output and exit code, and returns the
// command line of its shim process, which must by then be containerd-shim.
func runRuncContainer(t *testing.T, d *ctrdaemon.Daemon, id string, opts *runctypes.RuncOptions) (shimCmdline []byte) {
	t.Helper()
	client := containerdtest.Client(t, d)
	rootfs := containerdtest.BusyboxRootfs(t)
	ctx, cancel := context.WithTimeout(namespaces.WithNamespace(context.Background(), id), 2*time.Minute)
	defer cancel()
	var runtimeOpts interface{}
	if opts != nil {
		runtimeOpts = opts
	}
	container, err := client.NewContainer(ctx, id,
		containerd.WithRuntime(containerdtest.V1Runtime, runtimeOpts),
		containerd.WithNewSpec(oci.WithRootFSPath(rootfs),
			// The container waits for a line on stdin so that the test can
			// look at its shim while it runs.
			oci.WithProcessArgs("/bin/sh", "-c", "echo hello from runc; read line; echo got $line; exit 7")),
	)
	if err != nil {
		t.Fatalf("new container: %v", err)
	}
	defer container.Delete(context.Background())

	stdinR, stdinW := io.Pipe()
	var stdout, stderr syncbuf.Buffer
	task, err := container.NewTask(ctx, cio.NewCreator(cio.WithStreams(stdinR, &stdout, &stderr)))
	if err != nil {
		t.Fatalf("new task: %v", err)
	}
	defer task.Delete(context.Background(), containerd.WithProcessKill)
	exitCh, err := task.Wait(ctx)
	if err != nil {
		t.Fatalf("wait: %v", err)
	}
	if err := task.Start(ctx); err != nil {
		t.Fatalf("start: %v", err)
	}
	waitFor(t, func() bool { return strings.Contains(stdout.String(), "hello from runc") }, "the container's first line")

	// The process containerd started as our binary is now containerd-shim,
	// with the same pid: containerd wrote it to shim.pid in the bundle.
	bundle := filepath.Join(d.Dir, "state", containerdtest.V1Runtime, id, id)
	pidBytes, err := os.ReadFile(filepath.Join(bundle, "shim.pid"))
	if err != nil {
		t.Fatalf("shim.pid: %v", err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(pidBytes)))
	if err != nil {
		t.Fatalf("shim.pid %q: %v", pidBytes, err)
	}
	exe, err := os.Readlink("/proc/" + strconv.Itoa(pid) + "/exe")
	if err != nil {
		t.Fatalf("shim process %d: %v", pid, err)
	}
	if filepath.Base(exe) != "containerd-shim" {
		t.Fatalf("shim process %d runs %s, want containerd-shim", pid, exe)
	}
	shimCmdline, _ = os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cmdline")

	if _, err := io.WriteString(stdinW, "input\n"); err != nil {
		t.Fatalf("write stdin: %v", err)
	}
	select {
	case st := <-exitCh:
		code, _, err := st.Result()
		if err != nil {
			t.Fatalf("exit status: %v", err)
		}
		if code != 7 {
			t.Fatalf("exit code %d, want 7; stdout %q stderr %q", code, stdout.String(), stderr.String())
		}
	case <-ctx.Done():
		t.Fatalf("container did not exit; stdout %q", stdout.String())
	}
	if _, err := task.Delete(ctx); err != nil {
		t.Fatalf("delete task: %v", err)
	}
	if got, want := stdout.String(), "hello from runc\ngot input\n"; got != want {
		t.Fatalf("stdout %q, want %q", got, want)
	}
	return shimCmdline
}

// newRunscTask starts a containerd whose v1 shim is the freshly built
// binary on the runsc path, and creates (not starts) a task running args in
// a busybox container id. The container goes when the test ends.
func newRunscTask(t *testing.T, id string, args ...string) (shim string, d *ctrdaemon.Daemon, ctx context.Context, task containerd.Task) {
	t.Helper()
	containerdtest.RequireBinaries(t, "containerd", "runsc")
	shim = containerdtest.BuildShim(t)
	// The config runs the container without a network (the spec has no
	// network namespace).
	d = containerdtest.Start(t, containerdtest.Config{
		Shim:            shim,
		ShimConfig:      "[runsc_config]\n  network = \"none\"\n",
		Runtime:         "runsc",
		RuntimeRootBase: "runsc",
		ShimDebug:       true,
	})
	client := containerdtest.Client(t, d)
	ctx, cancel := context.WithTimeout(namespaces.WithNamespace(context.Background(), id), 2*time.Minute)
	t.Cleanup(cancel)
	container, err := client.NewContainer(ctx, id,
		containerd.WithRuntime(containerdtest.V1Runtime, nil),
		containerd.WithNewSpec(oci.WithRootFSPath(containerdtest.BusyboxRootfs(t)), oci.WithProcessArgs(args...)))
	if err != nil {
		t.Fatalf("new container: %v", err)
	}
	t.Cleanup(func() { container.Delete(context.Background()) })
	task, err = container.NewTask(ctx, cio.NullIO)
	if err != nil {
		t.Fatalf("new task: %v", err)
	}
	return shim, d, ctx, task
}

// On the runsc path containerd starts the shim with its socket on fd 3 and
// reaches it there; after the task's Delete it kills the shim by the pid
// ShimInfo gives: no shim is left behind.
func TestContainerdServesRunscShimOnFD3AndKillsIt(t *testing.T) {
	bin, d, ctx, task := newRunscTask(t, "runscpath", "/bin/sh", "-c", "exit 7")
	if pids := processesRunning(bin); len(pids) != 1 {
		t.Fatalf("%d shims running (%v), want 1", len(pids), pids)
	}
	exitCh, err := task.Wait(ctx)
	if err != nil {
		t.Fatalf("wait: %v", err)
	}
	if err := task.Start(ctx); err != nil {
		t.Fatalf("start: %v", err)
	}
	select {
	case st := <-exitCh:
		if st.ExitCode() != 7 {
			t.Fatalf("exit code %d (%v), want 7", st.ExitCode(), st.Error())
		}
	case <-ctx.Done():
		t.Fatal("the container did not exit")
	}
	if _, err := task.Delete(ctx); err != nil {
		t.Fatalf("delete task: %v", err)
	}
	log := d.LogTail(1 << 20)
	if !strings.Contains(log, `msg="serving the v1 shim API"`) || !strings.Contains(log, `socket="[inherited fd 3]"`) {
		t.Fatalf("the shim did not log serving on fd 3; containerd log:\n%s", log)
	}
	waitFor(t, func() bool { return len(processesRunning(bin)) == 0 }, "containerd to kill the shim")
}

// processesRunning returns the pids whose command line starts with bin.
func processesRunning(bin string) []string {
	return processes(func(cmdline []byte) bool { return bytes.HasPrefix(cmdline, []byte(bin+"\x00")) })
}

// processesMentioning returns the pids whose command line contains s.
func processesMentioning(s string) []string {
	return processes(func(cmdline []byte) bool { return bytes.Contains(cmdline, []byte(s)) })
}

func processes(match func(cmdline []byte) bool) []string {
	var pids []string
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		if _, err := strconv.Atoi(e.Name()); err != nil {
			continue
		}
		cmdline, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err == nil && match(cmdline) {
			pids = append(pids, e.Name())
		}
	}
	return pids
}

// SIGTERM to the shim of a running gVisor container: the shim kills the
// container, deletes it and exits; containerd sees the task exit and no
// runsc process of the container is left.
func TestSIGTERMStopsRunscContainer(t *testing.T) {
	bin, d, ctx, task := newRunscTask(t, "sleeper", "/bin/sleep", "1000")
	defer task.Delete(context.Background(), containerd.WithProcessKill)
	exitCh, err := task.Wait(ctx)
	if err != nil {
		t.Fatalf("wait: %v", err)
	}
	if err := task.Start(ctx); err != nil {
		t.Fatalf("start: %v", err)
	}
	shims := processesRunning(bin)
	if len(shims) != 1 {
		t.Fatalf("%d shims running (%v), want 1", len(shims), shims)
	}
	if n := len(processesMentioning(d.RuntimeRoot)); n == 0 {
		t.Fatal("no runsc process found for the running container")
	}
	pid, _ := strconv.Atoi(shims[0])
	if err := syscall.Kill(pid, syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case st := <-exitCh:
		if st.ExitCode() != 128+uint32(syscall.SIGKILL) {
			t.Fatalf("exit code %d (%v), want %d (SIGKILL)", st.ExitCode(), st.Error(), 128+uint32(syscall.SIGKILL))
		}
	case <-ctx.Done():
		t.Fatal("containerd did not see the task exit")
	}
	waitFor(t, func() bool { return len(processesRunning(bin)) == 0 }, "the shim to exit")
	waitFor(t, func() bool { return len(processesMentioning(d.RuntimeRoot)) == 0 }, "the container's runsc processes to go")
	if log := d.LogTail(1 << 20); !strings.Contains(log, `msg="shutting down"`) {
		t.Fatalf("the shim did not log its shutdown; containerd log:\n%s", log)
	}
}

// A config the shim cannot use reaches the user through containerd: the Go
// client's NewTask and `ctr run` fail with the shim's one-line reason as a
// FailedPrecondition (before, containerd only said "ttrpc: closed"), on the
// runsc path and on the runc path (whose runc shim is in that config).
// containerd then kills the shim and removes the bundle: no shim, process
// or task is left.
func TestUnusableConfigReachesContainerdClients(t *testing.T) {
	for _, runtime := range []string{"runsc", "runc"} {
		t.Run(runtime, func(t *testing.T) {
			containerdtest.RequireBinaries(t, "containerd", "ctr")
			bin := containerdtest.BuildShim(t)
			d := containerdtest.Start(t, containerdtest.Config{
				Shim:            bin,
				ShimConfig:      "[publisher]\n  queue_sise = 10\n",
				Runtime:         runtime,
				RuntimeRootBase: runtime,
				ShimDebug:       true,
			})
			const reason = `unknown key "publisher.queue_sise"`
			client := containerdtest.Client(t, d)
			rootfs := containerdtest.BusyboxRootfs(t)
			ns := "unusable" + runtime
			ctx, cancel := context.WithTimeout(namespaces.WithNamespace(context.Background(), ns), 2*time.Minute)
			defer cancel()

			container, err := client.NewContainer(ctx, "viaclient",
				containerd.WithRuntime(containerdtest.V1Runtime, nil),
				containerd.WithNewSpec(oci.WithRootFSPath(rootfs), oci.WithProcessArgs("/bin/true")))
			if err != nil {
				t.Fatalf("new container: %v", err)
			}
			defer container.Delete(context.Background())
			_, err = container.NewTask(ctx, cio.NullIO)
			if !errdefs.IsFailedPrecondition(err) || !strings.Contains(err.Error(), reason) {
				t.Fatalf("new task: %v; want FailedPrecondition with %q", err, reason)
			}

			ctr := exec.CommandContext(ctx, "ctr", "--address", d.Address, "--namespace", ns, "run",
				"--runtime", containerdtest.V1Runtime, "--rootfs", rootfs, "viactr", "/bin/true")
			out, err := ctr.CombinedOutput()
			if err == nil || !strings.Contains(string(out), reason) {
				t.Fatalf("ctr run: %v, output %q; want a failure showing %q", err, out, reason)
			}

			// containerd SIGKILLs the shim before NewTask returns.
			waitFor(t, func() bool { return len(processesRunning(bin)) == 0 }, "containerd to kill the shims")
			if pids := processesMentioning(filepath.Join(d.Dir, "state")); len(pids) > 0 {
				t.Fatalf("processes left in the bundles: %v", pids)
			}
			for _, dir := range []string{filepath.Join(d.Dir, "state", containerdtest.V1Runtime, ns), filepath.Join(d.Dir, "root", containerdtest.V1Runtime, ns)} {
				if entries, _ := os.ReadDir(dir); len(entries) > 0 {
					t.Fatalf("%s still holds %v", dir, entries)
				}
			}
			tasks, err := client.TaskService().List(ctx, &tasksapi.ListTasksRequest{})
			if err != nil || len(tasks.Tasks) > 0 {
				t.Fatalf("tasks left: %v, %v", tasks, err)
			}
			if log := d.LogTail(1 << 20); !strings.Contains(log, "create refused") {
				t.Fatalf("the shim did not log the refusal; containerd log:\n%s", log)
			}
		})
	}
}
