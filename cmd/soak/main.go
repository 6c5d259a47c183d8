// Command soak runs the probe soak (internal/soak) against a throwaway
// containerd with the CRI plugin: a pod on our shim (runsc) and one on
// containerd-shim (runc), exec probes and container restarts, and a table
// of what each shim held before and after. It exits 1 when a probe gave a
// wrong or late result or a figure grew past its tolerance. `make soak`
// runs it; the figures in docs/reliability.md come from it.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/google/gvisor-containerd-shim/internal/cri"
	"github.com/google/gvisor-containerd-shim/internal/soak"
)

// errFailed is a run that completed and found faults (already printed).
var errFailed = errors.New("failed")

func main() {
	cfg := soak.DefaultConfig()
	shim := flag.String("shim", "bin/gvisor-containerd-shim", "the built shim binary")
	flag.IntVar(&cfg.Probes, "probes", cfg.Probes, "exec probes per handler")
	flag.IntVar(&cfg.WarmUp, "warm-up", cfg.WarmUp, "probes per handler before the figures are first read (the Go runtime's one-time set-up is not growth)")
	flag.IntVar(&cfg.RestartEvery, "restart-every", cfg.RestartEvery, "restart the pod's other app container after every this many probes (0: never)")
	flag.DurationVar(&cfg.ProbeTimeout, "probe-timeout", cfg.ProbeTimeout, "the most a probe may take to give its result")
	flag.IntVar(&cfg.Checkpoints, "checkpoints", cfg.Checkpoints, "pause this many times to read the probed shims' USS once quiet (how it grows with the probes)")
	flag.DurationVar(&cfg.Quiet, "quiet", cfg.Quiet, "wait after the last call before reading the figures (the shim returns memory 2s after its last RPC)")
	keepLog := flag.String("log", "", "copy containerd's log (the shims' goroutine dumps, their stderr) to this file before the node is removed")
	flag.Parse()
	cfg.Progress = os.Stderr
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, *shim, *keepLog, cfg)
	stop()
	if err != nil {
		if !errors.Is(err, errFailed) {
			fmt.Fprintln(os.Stderr, "soak:", err)
		}
		os.Exit(1)
	}
}

func run(ctx context.Context, shimPath, keepLog string, cfg soak.Config) error {
	if os.Geteuid() != 0 {
		return errors.New("needs root (containerd and runsc do)")
	}
	shim, err := filepath.Abs(shimPath)
	if err != nil {
		return err
	}
	startCtx, cancel := context.WithTimeout(ctx, 3*time.Minute)
	node, err := cri.Start(startCtx, cri.Options{Shim: shim})
	cancel()
	if err != nil {
		return err
	}
	defer node.Close()
	rep, err := soak.Run(ctx, node, cfg)
	if keepLog != "" {
		if b, rerr := os.ReadFile(node.Daemon.LogPath); rerr != nil || os.WriteFile(keepLog, b, 0o644) != nil {
			fmt.Fprintf(os.Stderr, "soak: containerd's log not copied to %s\n", keepLog)
		}
	}
	if err != nil {
		return err
	}
	rep.Print(os.Stdout)
	if len(rep.Failures) > 0 {
		return errFailed
	}
	return nil
}
