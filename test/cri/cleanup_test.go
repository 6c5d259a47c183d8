package cri_test

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/gvisor-containerd-shim/internal/cri"
)

// stopp then rmp of a pod with running containers leaves no shim, runtime
// process, mount, network namespace or runtime state behind.
func TestStopRemovePodLeavesNothing(t *testing.T) {
	forEachHandler(t, func(t *testing.T, n *cri.Node, handler string) {
		ctx := timeout(t, 3*time.Minute)
		pod, err := n.RunPod(ctx, handler, "cleanup")
		if err != nil {
			t.Fatal(err)
		}
		ids := []string{pod.ID}
		for _, name := range []string{"one", "two"} {
			id, err := pod.Run(ctx, cri.Container{Name: name, Command: []string{"sleep", "3600"}})
			if err != nil {
				pod.Remove(ctx)
				t.Fatal(err)
			}
			ids = append(ids, id)
		}
		pi, err := pod.Inspect(ctx)
		if err != nil {
			t.Fatal(err)
		}
		var netns string
		for _, ns := range pi.Info.RuntimeSpec.Linux.Namespaces {
			if ns.Type == "network" {
				netns = ns.Path
			}
		}
		if netns == "" {
			t.Fatal("the pod's spec names no network namespace")
		}
		if got := listed(t, n, handler, ids); len(got) != len(ids) {
			t.Fatalf("before stopp, runtime lists %v, want all of %v", got, ids)
		}
		if err := pod.Remove(ctx); err != nil {
			t.Fatal(err)
		}

		// Shims exit after containerd's Delete returns: allow them a moment.
		var left []string
		for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(100 * time.Millisecond) {
			left = leftovers(t, ids)
			if len(left) == 0 || time.Now().After(deadline) {
				break
			}
		}
		for _, l := range left {
			t.Errorf("left behind: %s", l)
		}
		if _, err := os.Stat(netns); !os.IsNotExist(err) {
			t.Errorf("the pod's network namespace %s is still there (%v)", netns, err)
		}
		if got := listed(t, n, handler, ids); len(got) > 0 {
			t.Errorf("the runtime still lists %v", got)
		}
	})
}

// leftovers names the processes and mounts that mention one of ids.
func leftovers(t *testing.T, ids []string) []string {
	var found []string
	for pid, argv := range cri.Processes() {
		cmdline := strings.Join(argv, " ")
		for _, id := range ids {
			if strings.Contains(cmdline, id) {
				found = append(found, fmt.Sprintf("process %d: %s", pid, cmdline))
				break
			}
		}
	}
	mounts, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(mounts), "\n") {
		for _, id := range ids {
			if strings.Contains(line, id) {
				found = append(found, "mount: "+line)
				break
			}
		}
	}
	return found
}

// listed returns the ids that `runsc list` or `runc list` of the handler's
// root for namespace k8s.io shows.
func listed(t *testing.T, n *cri.Node, handler string, ids []string) []string {
	t.Helper()
	runtime := "runsc"
	if handler == cri.Runc {
		runtime = "runc"
	}
	root := filepath.Join(n.RuntimeRoot(handler), cri.Namespace)
	out, err := exec.Command(runtime, "--root", root, "list").CombinedOutput()
	if err != nil {
		t.Fatalf("%s --root %s list: %v: %s", runtime, root, err, out)
	}
	var got []string
	for _, id := range ids {
		if strings.Contains(string(out), id) {
			got = append(got, id)
		}
	}
	return got
}
