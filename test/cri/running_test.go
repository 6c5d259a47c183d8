package cri_test

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/gvisor-containerd-shim/internal/cri"
)

// counter writes out-N to stdout and err-N to stderr every 0.1 s.
var counter = cri.Container{Name: "counter", Command: []string{"sh", "-c",
	`i=0; while :; do echo out-$i; echo err-$i >&2; i=$((i+1)); sleep 0.1; done`}}

var counterLine = regexp.MustCompile(`(out|err)-(\d+)`)

// highest returns the highest N of out-N and of err-N in the logs.
func highest(stdout, stderr string) (out, err int) {
	last := func(s, stream string) int {
		n := -1
		for _, m := range counterLine.FindAllStringSubmatch(s, -1) {
			if v, _ := strconv.Atoi(m[2]); m[1] == stream && v > n {
				n = v
			}
		}
		return n
	}
	return last(stdout, "out"), last(stderr, "err")
}

// everyLineOnce checks that stream's counter lines in s run 0, 1, 2, ...
// with no gap and no repeat.
func everyLineOnce(s, stream string) error {
	want := 0
	for _, m := range counterLine.FindAllStringSubmatch(s, -1) {
		if m[1] != stream {
			continue
		}
		if v, _ := strconv.Atoi(m[2]); v != want {
			return fmt.Errorf("%s-%d follows %s-%d", stream, v, stream, want-1)
		}
		want++
	}
	if want == 0 {
		return fmt.Errorf("no %s lines", stream)
	}
	return nil
}

// waitLogsPast polls crictl logs until both streams show a line past n.
func waitLogsPast(t *testing.T, n *cri.Node, id string, past int, within time.Duration) (int, int) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		o, e := highest(logs(t, n, id))
		if o > past && e > past {
			return o, e
		}
		if time.Now().After(deadline) {
			t.Fatalf("crictl logs of %s: stdout reached out-%d, stderr err-%d in %v; want both past %d", id, o, e, within, past)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// A running container's logs show both streams, and keep growing after
// containerd restarts under it with no line lost or repeated: the lines
// written while no daemon reads wait in the fifos the shim holds open.
func TestLogsOfRunningContainerGrowAcrossContainerdRestart(t *testing.T) {
	forEachHandler(t, func(t *testing.T, n *cri.Node, handler string) {
		pod := runPod(t, n, handler, "logs")
		id, err := pod.Run(timeout(t, 2*time.Minute), counter)
		if err != nil {
			t.Fatal(err)
		}
		waitLogsPast(t, n, id, 3, 30*time.Second)
		if err := n.RestartContainerd(timeout(t, time.Minute)); err != nil {
			t.Fatal(err)
		}
		o, e := highest(logs(t, n, id))
		waitLogsPast(t, n, id, max(o, e)+10, 30*time.Second)
		stdout, stderr := logs(t, n, id)
		for _, l := range []struct{ stream, text string }{{"out", stdout}, {"err", stderr}} {
			if err := everyLineOnce(l.text, l.stream); err != nil {
				t.Errorf("%s across the restart: %v", l.stream, err)
			}
		}
		st, err := n.Status(timeout(t, time.Minute), id)
		if err != nil || st.State != "CONTAINER_RUNNING" {
			t.Errorf("after the restart: state %q (%v), want CONTAINER_RUNNING", st.State, err)
		}
	})
}

// crictl v1.37 exits 1 when the command fails and names its exit code in
// its error message.
var crictlExitCode = regexp.MustCompile(`(?:exited with|terminated with exit code) (\d+)`)

// execExitCode is the exit code of the command crictl exec ran, or -1.
func execExitCode(err error, stderr []byte) int {
	if err == nil {
		return 0
	}
	var ee *exec.ExitError
	if !errors.As(err, &ee) {
		return -1
	}
	m := crictlExitCode.FindSubmatch(stderr)
	if m == nil {
		return -1
	}
	code, _ := strconv.Atoi(string(m[1]))
	return code
}

// exec -s (ExecSync) and streaming exec (through the CRI stream server)
// give the command's output and exit code.
func TestExecSyncAndStreamingExitCodes(t *testing.T) {
	forEachHandler(t, func(t *testing.T, n *cri.Node, handler string) {
		pod := runPod(t, n, handler, "exec")
		ctx := timeout(t, 2*time.Minute)
		id, err := pod.Run(ctx, cri.Container{Name: "sleeper", Command: []string{"sleep", "3600"}})
		if err != nil {
			t.Fatal(err)
		}
		// crictl prints a successful ExecSync's stderr after its stdout,
		// both on stdout, and a failed one's stderr in its error; a
		// streaming exec's go to crictl's stdout and stderr.
		for _, tc := range []struct {
			name      string
			args      []string
			errStream func(stdout, stderr []byte) []byte
		}{
			{"sync", []string{"exec", "-s", id}, func(stdout, _ []byte) []byte { return stdout }},
			{"streaming", []string{"exec", id}, func(_, stderr []byte) []byte { return stderr }},
		} {
			for _, code := range []int{0, 7} {
				args := append(tc.args, "sh", "-c", fmt.Sprintf("echo %s-out; echo %s-err >&2; exit %d", tc.name, tc.name, code))
				stdout, stderr, err := n.CrictlOutput(ctx, args...)
				if got := execExitCode(err, stderr); got != code {
					t.Errorf("%s exec, exit %d: the command's exit code is %d (crictl: %v), stderr %q", tc.name, code, got, err, stderr)
				}
				if code != 0 {
					if !strings.Contains(string(stderr), tc.name+"-err") {
						t.Errorf("%s exec, exit %d: stderr %q, want %s-err", tc.name, code, stderr, tc.name)
					}
					continue
				}
				if !strings.Contains(string(stdout), tc.name+"-out") || !strings.Contains(string(tc.errStream(stdout, stderr)), tc.name+"-err") {
					t.Errorf("%s exec, exit %d: stdout %q, stderr %q; want %s-out and %s-err", tc.name, code, stdout, stderr, tc.name, tc.name)
				}
			}
		}
	})
}

// An exec of a command that does not exist (a probe with a typo) fails at
// once through both kinds of CRI exec, and the container is unharmed. (CRI
// has its own exec IO; containerd's Go client hung on such an exec before
// the shim let go of its fifos: test/e2e's ExecMissingBinary.)
func TestExecOfMissingBinaryFails(t *testing.T) {
	forEachHandler(t, func(t *testing.T, n *cri.Node, handler string) {
		pod := runPod(t, n, handler, "nobin")
		ctx := timeout(t, 2*time.Minute)
		id, err := pod.Run(ctx, cri.Container{Name: "sleeper", Command: []string{"sleep", "3600"}})
		if err != nil {
			t.Fatal(err)
		}
		for _, args := range [][]string{{"exec", "-s", id}, {"exec", id}} {
			execCtx, cancel := context.WithTimeout(ctx, 30*time.Second)
			_, stderr, err := n.CrictlOutput(execCtx, append(args, "/no/such/binary")...)
			hung := execCtx.Err() != nil
			cancel()
			if hung {
				t.Fatalf("crictl %s /no/such/binary did not return within 30s", strings.Join(args[:len(args)-1], " "))
			}
			if err == nil {
				t.Errorf("crictl %s /no/such/binary succeeded; stderr %q", strings.Join(args[:len(args)-1], " "), stderr)
			}
		}
		// The container is unharmed.
		if _, _, err := n.CrictlOutput(ctx, "exec", "-s", id, "true"); err != nil {
			t.Errorf("exec after the failed ones: %v", err)
		}
	})
}

// Stop with a grace period: a container that traps SIGTERM exits through
// its handler; one that ignores it is SIGKILLed when the grace period ends,
// not before.
func TestStopGracePeriod(t *testing.T) {
	forEachHandler(t, func(t *testing.T, n *cri.Node, handler string) {
		pod := runPod(t, n, handler, "stop")
		ctx := timeout(t, 3*time.Minute)
		const loop = `echo ready; while :; do sleep 0.1; done`
		trapping, err := pod.Run(ctx, cri.Container{Name: "traps", Command: []string{"sh", "-c", `trap 'echo got-term; exit 0' TERM; ` + loop}})
		if err != nil {
			t.Fatal(err)
		}
		ignoring, err := pod.Run(ctx, cri.Container{Name: "ignores", Command: []string{"sh", "-c", `trap '' TERM; ` + loop}})
		if err != nil {
			t.Fatal(err)
		}
		for _, id := range []string{trapping, ignoring} {
			waitLogged(t, n, id, "ready")
		}

		if _, err := n.Crictl(ctx, "stop", "-t", "30", trapping); err != nil {
			t.Fatal(err)
		}
		if st, err := n.Status(ctx, trapping); err != nil || st.State != "CONTAINER_EXITED" || st.ExitCode != 0 {
			t.Errorf("SIGTERM-trapping container after stop: %+v, %v; want EXITED with 0", st, err)
		}
		if stdout, _ := logs(t, n, trapping); !strings.Contains(stdout, "got-term") {
			t.Errorf("its SIGTERM handler did not run: stdout %q", stdout)
		}

		const grace = 2 * time.Second
		start := time.Now()
		if _, err := n.Crictl(ctx, "stop", "-t", strconv.Itoa(int(grace/time.Second)), ignoring); err != nil {
			t.Fatal(err)
		}
		took := time.Since(start)
		if st, err := n.Status(ctx, ignoring); err != nil || st.State != "CONTAINER_EXITED" || st.ExitCode != 137 {
			t.Errorf("SIGTERM-ignoring container after stop: %+v, %v; want EXITED with 137 (SIGKILL)", st, err)
		}
		if took < grace {
			t.Errorf("SIGTERM-ignoring container killed after %v, before its %v grace period", took, grace)
		}
	})
}

// waitLogged waits until the container's stdout has s.
func waitLogged(t *testing.T, n *cri.Node, id, s string) {
	t.Helper()
	for deadline := time.Now().Add(30 * time.Second); ; {
		stdout, _ := logs(t, n, id)
		if strings.Contains(stdout, s) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("container %s did not write %q in 30s; stdout %q", id, s, stdout)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
