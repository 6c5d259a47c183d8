package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/containerd/containerd"
	"github.com/containerd/containerd/cio"
	"github.com/containerd/containerd/namespaces"
	"github.com/containerd/containerd/oci"
	shimapi "github.com/containerd/containerd/runtime/v1/shim/v1"
	"github.com/containerd/ttrpc"
	"github.com/gogo/protobuf/types"
	"github.com/google/gvisor-containerd-shim/internal/ctrdaemon"
	rootfsbuild "github.com/google/gvisor-containerd-shim/internal/rootfs"
)

// FootprintReport is the -json output of `publish-bench footprint`.
type FootprintReport struct {
	Schema  string      `json:"schema"`
	Started time.Time   `json:"started"`
	Machine Machine     `json:"machine"`
	Shims   []ShimPrint `json:"shims"`
}

// ShimPrint is one shim binary's footprint.
type ShimPrint struct {
	Name   string `json:"name"` // "gvisor-containerd-shim" or "containerd-shim"
	Binary string `json:"binary"`
	// Start to serving: exec until a ShimInfo call on the fd 3 socket is
	// answered, over Starts runs.
	Starts         int     `json:"starts"`
	StartP50MS     float64 `json:"start_to_serving_p50_ms"`
	StartMinMS     float64 `json:"start_to_serving_min_ms"`
	StartMaxMS     float64 `json:"start_to_serving_max_ms"`
	IdleRSSKiB     int     `json:"idle_rss_kib"` // serving, no container, median of the runs
	IdleThreads    int     `json:"idle_threads"`
	Runtime        string  `json:"runtime"` // OCI runtime of the container run
	ContainerRSS   int     `json:"container_rss_kib"`
	ContainerThr   int     `json:"container_threads"`
	ContainerError string  `json:"container_error,omitempty"` // why the container figures are missing
}

// footprint measures our shim next to containerd's containerd-shim: the
// time from exec to serving, and RSS and threads idle and with one running
// container (the shim process only, not the runtime's processes).
func footprint(args []string, stdout io.Writer) (*FootprintReport, error) {
	fs := flag.NewFlagSet("publish-bench footprint", flag.ContinueOnError)
	shim := fs.String("shim", "", "gvisor-containerd-shim binary to measure (go build -o /tmp/gvisor-containerd-shim ./cmd/gvisor-containerd-shim)")
	refShim := fs.String("containerd-shim", "containerd-shim", "containerd's v1 shim binary to compare with")
	starts := fs.Int("starts", 20, "start-to-serving runs per binary")
	withContainer := fs.Bool("container", true, "also run one container per shim (needs runsc, runc and busybox)")
	jsonFile := fs.String("json", "", "write the figures to this JSON file")
	debug := fs.Bool("debug", false, "run the container's shim with -debug and add the daemon's log to a container error")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if *starts < 1 {
		return nil, fmt.Errorf("-starts must be at least 1")
	}
	if *shim == "" {
		return nil, fmt.Errorf("-shim is required: the gvisor-containerd-shim binary to measure")
	}
	ours, err := exec.LookPath(*shim)
	if err != nil {
		return nil, fmt.Errorf("-shim: %w", err)
	}
	ref, err := exec.LookPath(*refShim)
	if err != nil {
		return nil, fmt.Errorf("containerd-shim not found (install Debian's containerd package or pass -containerd-shim): %w", err)
	}
	ours, _ = filepath.Abs(ours)
	rep := &FootprintReport{Schema: "publish-bench-footprint/1", Started: time.Now().UTC(), Machine: machineInfo()}
	prints := []*ShimPrint{
		{Name: "gvisor-containerd-shim", Binary: ours, Runtime: "runsc"},
		{Name: "containerd-shim", Binary: ref, Runtime: "runc"},
	}
	// Alternate the two binaries so that machine noise hits both alike.
	samples := make([][]startSample, len(prints))
	for i := 0; i < *starts; i++ {
		for j, p := range prints {
			s, err := startToServing(p.Binary, p.Runtime)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", p.Name, err)
			}
			samples[j] = append(samples[j], s)
		}
	}
	for j, p := range prints {
		p.Starts = len(samples[j])
		sort.Slice(samples[j], func(a, b int) bool { return samples[j][a].elapsed < samples[j][b].elapsed })
		ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
		p.StartMinMS, p.StartMaxMS = ms(samples[j][0].elapsed), ms(samples[j][len(samples[j])-1].elapsed)
		p.StartP50MS = ms(percentile(durations(samples[j]), 0.5))
		mid := samples[j][len(samples[j])/2]
		p.IdleRSSKiB, p.IdleThreads = mid.rss, mid.threads
		if *withContainer {
			if err := containerFootprint(p, *debug); err != nil {
				p.ContainerError = err.Error()
			}
		}
		rep.Shims = append(rep.Shims, *p)
	}
	if *jsonFile != "" {
		b, _ := json.MarshalIndent(rep, "", "  ")
		if err := os.WriteFile(*jsonFile, append(b, '\n'), 0o644); err != nil {
			return nil, err
		}
	}
	printFootprint(stdout, rep)
	return rep, nil
}

type startSample struct {
	elapsed      time.Duration
	rss, threads int
}

func durations(s []startSample) []time.Duration {
	out := make([]time.Duration, len(s))
	for i, v := range s {
		out[i] = v.elapsed
	}
	return out
}

// startToServing launches bin as containerd does (listening socket on fd 3,
// cwd the bundle, GOMAXPROCS=2) and times exec until ShimInfo answers.
func startToServing(bin, runtime string) (startSample, error) {
	dir, err := os.MkdirTemp("", "fp-")
	if err != nil {
		return startSample{}, err
	}
	defer os.RemoveAll(dir)
	sock := filepath.Join(dir, "shim.sock")
	l, err := net.Listen("unix", sock)
	if err != nil {
		return startSample{}, err
	}
	defer l.Close()
	lf, err := l.(*net.UnixListener).File()
	if err != nil {
		return startSample{}, err
	}
	defer lf.Close()
	// The runtime root's base name must be the runtime's: the runc-exec
	// hack hands anything else to containerd-shim.
	root, work := filepath.Join(dir, runtime), filepath.Join(dir, "work")
	if err := os.Mkdir(work, 0o711); err != nil {
		return startSample{}, err
	}
	cmd := exec.Command(bin, "-namespace", "footprint", "-workdir", work,
		"-address", filepath.Join(dir, "containerd.sock"), "-containerd-binary", "containerd", "-runtime-root", root)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GOMAXPROCS=2")
	cmd.ExtraFiles = []*os.File{lf}
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	var stderr lockedBuffer
	cmd.Stdout, cmd.Stderr = &stderr, &stderr
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return startSample{}, err
	}
	exited := make(chan struct{})
	go func() {
		cmd.Wait()
		close(exited)
		cancel() // a shim that dies will never answer
	}()
	defer func() {
		cmd.Process.Kill()
		<-exited
	}()
	// The socket listens already, so this connects at once; the call is
	// answered once the shim serves.
	conn, err := net.Dial("unix", sock)
	if err != nil {
		return startSample{}, err
	}
	client := ttrpc.NewClient(conn)
	defer client.Close()
	info, err := shimapi.NewShimClient(client).ShimInfo(ctx, &types.Empty{})
	elapsed := time.Since(start)
	if err != nil {
		return startSample{}, fmt.Errorf("ShimInfo: %w; output: %s", err, strings.TrimSpace(stderr.String()))
	}
	if int(info.ShimPid) != cmd.Process.Pid {
		return startSample{}, fmt.Errorf("ShimInfo says pid %d, started %d", info.ShimPid, cmd.Process.Pid)
	}
	time.Sleep(200 * time.Millisecond) // let start-up goroutines settle
	rss, threads, err := procStatus(cmd.Process.Pid)
	if err != nil {
		return startSample{}, err
	}
	return startSample{elapsed: elapsed, rss: rss, threads: threads}, nil
}

// procStatus reads VmRSS (KiB) and Threads from /proc/<pid>/status.
func procStatus(pid int) (rss, threads int, err error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		k, v, _ := strings.Cut(line, ":")
		f := strings.Fields(v)
		if len(f) == 0 {
			continue
		}
		switch k {
		case "VmRSS":
			rss, _ = strconv.Atoi(f[0])
		case "Threads":
			threads, _ = strconv.Atoi(f[0])
		}
	}
	return rss, threads, nil
}

// containerFootprint runs one `sleep` container through a throwaway
// containerd whose v1 runtime uses p's shim and runtime, and reads the
// shim's RSS and threads while it runs.
func containerFootprint(p *ShimPrint, debug bool) (err error) {
	cfg := ctrdaemon.Config{Runtime: p.Runtime, RuntimeRootBase: p.Runtime, ShimDebug: debug}
	if p.Name != "containerd-shim" {
		cfg.Shim = p.Binary
		// containerd passes the shim no -config, and the container has no
		// network namespace of its own, where runsc refuses its default.
		cfg.ShimConfig = "[runsc_config]\n  network = \"none\"\n"
	}
	d, err := ctrdaemon.New(cfg)
	if err != nil {
		return err
	}
	defer d.Close()
	if debug {
		defer func() {
			if err != nil {
				err = fmt.Errorf("%w; containerd log:\n%s", err, d.LogTail(8<<10))
			}
		}()
	}
	rootfs := filepath.Join(d.Dir, "rootfs")
	if err := rootfsbuild.Busybox(rootfs); err != nil {
		return err
	}
	client, err := containerd.New(d.Address)
	if err != nil {
		return err
	}
	defer client.Close()
	const ns, id = "footprint", "footprint"
	ctx, cancel := context.WithTimeout(namespaces.WithNamespace(context.Background(), ns), time.Minute)
	defer cancel()
	container, err := client.NewContainer(ctx, id, containerd.WithRuntime(ctrdaemon.V1Runtime, nil),
		containerd.WithNewSpec(oci.WithRootFSPath(rootfs), oci.WithProcessArgs("/bin/sleep", "3600")))
	if err != nil {
		return fmt.Errorf("new container: %w", err)
	}
	defer container.Delete(context.Background())
	task, err := container.NewTask(ctx, cio.NullIO)
	if err != nil {
		return fmt.Errorf("new task: %w", err)
	}
	defer task.Delete(context.Background(), containerd.WithProcessKill)
	if err := task.Start(ctx); err != nil {
		return fmt.Errorf("start task: %w", err)
	}
	time.Sleep(time.Second) // let the shim settle with its container running
	if st, err := task.Status(ctx); err != nil || st.Status != containerd.Running {
		return fmt.Errorf("task not running after start: %v %v", st.Status, err)
	}
	pidFile := filepath.Join(d.Dir, "state", ctrdaemon.V1Runtime, ns, id, "shim.pid")
	b, err := os.ReadFile(pidFile)
	if err != nil {
		return fmt.Errorf("shim pid: %w", err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		return fmt.Errorf("shim pid %q: %w", b, err)
	}
	// A wrapper script execs the shim, so the pid must run the binary itself.
	if exe, err := os.Readlink(fmt.Sprintf("/proc/%d/exe", pid)); err != nil || exe != p.Binary {
		return fmt.Errorf("shim pid %d runs %q, want %s (%v)", pid, exe, p.Binary, err)
	}
	p.ContainerRSS, p.ContainerThr, err = procStatus(pid)
	return err
}

func printFootprint(out io.Writer, rep *FootprintReport) {
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "shim\tstart→serving p50 ms\tmin ms\tmax ms\tidle RSS KiB\tidle threads\tcontainer\tRSS KiB\tthreads\t")
	for _, s := range rep.Shims {
		rss, thr := "-", "-"
		if s.ContainerError == "" && s.ContainerRSS > 0 {
			rss, thr = strconv.Itoa(s.ContainerRSS), strconv.Itoa(s.ContainerThr)
		}
		fmt.Fprintf(tw, "%s\t%.1f\t%.1f\t%.1f\t%d\t%d\t%s\t%s\t%s\t\n", s.Name, s.StartP50MS, s.StartMinMS, s.StartMaxMS,
			s.IdleRSSKiB, s.IdleThreads, s.Runtime, rss, thr)
	}
	tw.Flush()
	for _, s := range rep.Shims {
		if s.ContainerError != "" {
			fmt.Fprintf(out, "%s: no container figures: %s\n", s.Name, s.ContainerError)
		}
	}
}
