package cri_test

import (
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/gvisor-containerd-shim/internal/cri"
)

// A privileged container runs, and so does an exec in it. containerd gives
// it every capability it knows, CAP_PERFMON, CAP_BPF and
// CAP_CHECKPOINT_RESTORE among them, which a runsc from before 2023-02
// refuses ("unknown capability"): the shim leaves them out for that runsc.
func TestPrivilegedContainer(t *testing.T) {
	forEachHandler(t, func(t *testing.T, n *cri.Node, handler string) {
		pod, err := n.RunPodWith(timeout(t, 2*time.Minute), handler, "privileged", cri.PodOptions{Privileged: true})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			if err := pod.Remove(timeout(t, time.Minute)); err != nil {
				t.Errorf("removing pod: %v", err)
			}
		})
		ctx := timeout(t, 2*time.Minute)
		id, err := pod.Run(ctx, cri.Container{Name: "privileged", Privileged: true, Command: []string{"sh", "-c", "echo ready; exec sleep 3600"}})
		if err != nil {
			t.Fatal(err)
		}
		waitLogged(t, n, id, "ready")
		out, err := n.Crictl(ctx, "exec", "-s", id, "grep", "CapEff", "/proc/self/status")
		if err != nil {
			t.Fatalf("exec in the privileged container: %v", err)
		}
		// CAP_SYS_ADMIN (bit 21) is what privileged adds over the default set.
		if f := strings.Fields(string(out)); len(f) != 2 || !hasCapBit(f[1], 21) {
			t.Errorf("exec's capabilities: %q; want CAP_SYS_ADMIN among them", out)
		}
	})
}

// hasCapBit reports whether the hex capability mask has bit set.
func hasCapBit(mask string, bit uint) bool {
	v, err := strconv.ParseUint(mask, 16, 64)
	return err == nil && v&(1<<bit) != 0
}
