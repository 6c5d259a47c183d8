package cri_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/gvisor-containerd-shim/internal/cri"
)

// A pod's seccomp profile applies in the container: with a Localhost
// profile that makes sethostname fail with EPERM, `hostname` fails,
// where the same container without it (CAP_SYS_ADMIN in both) sets the
// name. runsc applies OCI seccomp profiles only with oci-seccomp, which the
// tested config sets (docs/cri.md).
func TestSeccompProfile(t *testing.T) {
	profile := filepath.Join(t.TempDir(), "no-sethostname.json")
	if err := os.WriteFile(profile, []byte(`{"defaultAction": "SCMP_ACT_ALLOW", "architectures": ["SCMP_ARCH_X86_64"],
  "syscalls": [{"names": ["sethostname"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1}]}`), 0o644); err != nil {
		t.Fatal(err)
	}
	forEachHandler(t, func(t *testing.T, n *cri.Node, handler string) {
		pod := runPod(t, n, handler, "seccomp")
		ctx := timeout(t, 2*time.Minute)
		for _, c := range []struct {
			name, profile, want string
		}{
			{"unconfined", "", "rc=0"},
			{"profiled", profile, "rc=1"},
		} {
			id, err := pod.Run(ctx, cri.Container{Name: c.name, SeccompProfile: c.profile, Capabilities: []string{"SYS_ADMIN"},
				Command: []string{"sh", "-c", "hostname renamed-by-test; echo rc=$?"}})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := n.WaitExited(timeout(t, 30*time.Second), id); err != nil {
				t.Fatal(err)
			}
			stdout, stderr := logs(t, n, id)
			if !strings.Contains(stdout, c.want) {
				t.Errorf("%s: `hostname` gave stdout %q, stderr %q; want %s", c.name, stdout, stderr, c.want)
			}
		}
	})
}
