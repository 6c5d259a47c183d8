package cri_test

import (
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/google/gvisor-containerd-shim/internal/cri"
)

// psOf returns `ps -o pid,args` run in container id.
func psOf(t *testing.T, n *cri.Node, id string) string {
	t.Helper()
	out, err := n.Crictl(timeout(t, time.Minute), "exec", "-s", id, "ps", "-o", "pid,args")
	if err != nil {
		t.Fatalf("ps in %s: %v", id, err)
	}
	return string(out)
}

// pidOne returns the command of pid 1 in a psOf listing.
func pidOne(ps string) string {
	m := regexp.MustCompile(`(?m)^\s*1\s+(.*?)\s*$`).FindStringSubmatch(ps)
	if m == nil {
		return ""
	}
	return m[1]
}

// A pod-wide PID namespace (CRI namespace_options.pid = POD on the pod and
// its containers: kubelet's shareProcessNamespace): each container sees the
// other's processes. With runc and a current runsc the pause process is
// pid 1 and outlives the containers. A 2022 runsc leaves pause out: the
// first app container is pid 1, so stopping it SIGKILLs the others, as the
// end of a PID namespace's init does (docs/cri.md). Either way a container
// started after that one exited runs, and the sandbox stays up.
func TestPodPIDNamespace(t *testing.T) {
	forEachHandler(t, func(t *testing.T, n *cri.Node, handler string) {
		pauseLeftOut := handler == cri.Runsc && cri.Runsc2022(n.RunscVersion)
		pod, err := n.RunPodWith(timeout(t, 2*time.Minute), handler, "pidns", cri.PodOptions{PID: cri.PIDPod})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			if err := pod.Remove(timeout(t, time.Minute)); err != nil {
				t.Errorf("removing pod: %v", err)
			}
		})
		ctx := timeout(t, 3*time.Minute)
		first, err := pod.Run(ctx, cri.Container{Name: "first", PID: cri.PIDPod, Command: []string{"sleep", "3141"}})
		if err != nil {
			t.Fatal(err)
		}
		second, err := pod.Run(ctx, cri.Container{Name: "second", PID: cri.PIDPod, Command: []string{"sleep", "2718"}})
		if err != nil {
			t.Fatal(err)
		}
		wantInit := "/pause"
		if pauseLeftOut {
			wantInit = "sleep 3141"
		}
		for _, id := range []string{first, second} {
			ps := psOf(t, n, id)
			if !strings.Contains(ps, "sleep 3141") || !strings.Contains(ps, "sleep 2718") {
				t.Errorf("ps in %s does not show both containers' processes:\n%s", id, ps)
			}
			if got := pidOne(ps); got != wantInit {
				t.Errorf("pid 1 in %s is %q, want %q:\n%s", id, got, wantInit, ps)
			}
		}

		if _, err := n.Crictl(ctx, "stop", "-t", "1", first); err != nil {
			t.Fatal(err)
		}
		if pauseLeftOut {
			if st, err := n.WaitExited(timeout(t, 30*time.Second), second); err != nil || st.ExitCode != 137 {
				t.Errorf("second container after the first (pid 1) stopped: %+v, %v; want EXITED with 137", st, err)
			}
		} else {
			time.Sleep(time.Second) // time for a wrong SIGKILL to land
			if st, err := n.Status(ctx, second); err != nil || st.State != "CONTAINER_RUNNING" {
				t.Errorf("second container after the first stopped: %+v, %v; want RUNNING", st, err)
			}
		}

		// The first container has exited (CRI keeps it); one started now
		// runs in the pod's namespace, or in a new one whose pid 1 it is.
		third, err := pod.Run(ctx, cri.Container{Name: "third", PID: cri.PIDPod, Command: []string{"sleep", "1618"}})
		if err != nil {
			t.Fatalf("a container started after the first exited: %v", err)
		}
		ps := psOf(t, n, third)
		if pauseLeftOut {
			wantInit = "sleep 1618"
		}
		if got := pidOne(ps); got != wantInit || !strings.Contains(ps, "sleep 1618") {
			t.Errorf("ps in the third container: pid 1 %q, want %q:\n%s", got, wantInit, ps)
		}
		if pi, err := pod.Inspect(ctx); err != nil || pi.Status.State != "SANDBOX_READY" {
			t.Errorf("pod after its containers came and went: %s, %v; want SANDBOX_READY", pi.Status.State, err)
		}
		if handler == cri.Runsc {
			if got := len(cri.SandboxPids(pod.ID)); got != 1 {
				t.Errorf("%d runsc-sandbox processes for the pod, want 1", got)
			}
		}
	})
}

// With kubelet's default, a PID namespace per container, a container sees
// only its own processes and is its own pid 1.
func TestContainerPIDNamespace(t *testing.T) {
	forEachHandler(t, func(t *testing.T, n *cri.Node, handler string) {
		pod := runPod(t, n, handler, "ownpid")
		ctx := timeout(t, 2*time.Minute)
		if _, err := pod.Run(ctx, cri.Container{Name: "first", Command: []string{"sleep", "3141"}}); err != nil {
			t.Fatal(err)
		}
		second, err := pod.Run(ctx, cri.Container{Name: "second", Command: []string{"sleep", "2718"}})
		if err != nil {
			t.Fatal(err)
		}
		ps := psOf(t, n, second)
		if strings.Contains(ps, "sleep 3141") || pidOne(ps) != "sleep 2718" {
			t.Errorf("ps in the second container shows more than its own processes (pid 1 %q):\n%s", pidOne(ps), ps)
		}
	})
}
