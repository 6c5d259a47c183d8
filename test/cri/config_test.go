package cri_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/BurntSushi/toml"

	"github.com/google/gvisor-containerd-shim/internal/cri"
	"github.com/google/gvisor-containerd-shim/shim/config"
)

// docBlock returns the fenced block that follows marker in docs/cri.md.
func docBlock(t *testing.T, marker string) string {
	t.Helper()
	doc, err := os.ReadFile("../../docs/cri.md")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile("(?s)<!-- " + regexp.QuoteMeta(marker) + "(:[^>]*)? -->\n```toml\n(.*?)```").FindSubmatch(doc)
	if m == nil {
		t.Fatalf("docs/cri.md has no toml block after <!-- %s -->", marker)
	}
	return string(m[2])
}

// The config docs/cri.md gives is the one the tests run (rendered from the
// same template with an installed shim's paths), and it parses.
func TestDocsConfigIsTheTestedConfig(t *testing.T) {
	full := docBlock(t, "cri-config")
	if want := "version = 2\n" + cri.RenderConfig(cri.DocParams); full != want {
		t.Errorf("docs/cri.md's config differs from internal/cri's template:\n--- doc\n%s--- template\n%s", full, want)
	}
	deprecated := docBlock(t, "cri-config-deprecated")
	if want := cri.RenderHandler(cri.Handler{Name: "runsc", Runtime: "runsc", RuntimeRoot: "/run/containerd/runsc", Deprecated: true}); deprecated != want {
		t.Errorf("docs/cri.md's deprecated handler differs from the template:\n--- doc\n%s--- template\n%s", deprecated, want)
	}
	var parsed map[string]any
	if _, err := toml.Decode(full, &parsed); err != nil {
		t.Errorf("the config does not parse: %v", err)
	}
	withDeprecated := strings.Replace(full, cri.RenderHandler(cri.DocParams.Handlers[1]), deprecated, 1)
	if withDeprecated == full {
		t.Errorf("the runsc handler's table is not in the config as rendered alone")
	}
	if _, err := toml.Decode(withDeprecated, &parsed); err != nil {
		t.Errorf("the config with the deprecated handler does not parse: %v", err)
	}
	for marker, want := range map[string]string{"shim-config": cri.ShimConfig, "shim-config-2022": cri.ShimConfig2022} {
		shim := docBlock(t, marker)
		if shim != want {
			t.Errorf("docs/cri.md's runsc.toml (%s) %q, the tests use %q", marker, shim, want)
		}
		path := filepath.Join(t.TempDir(), "runsc.toml")
		os.WriteFile(path, []byte(shim), 0o644)
		if _, err := config.Load(path); err != nil {
			t.Errorf("the shim rejects docs/cri.md's runsc.toml (%s): %v", marker, err)
		}
	}
}

// The handler configured with the deprecated runtime_engine/runtime_root
// runs pods on runsc under its own runtime root.
func TestDeprecatedHandlerConfig(t *testing.T) {
	n := requireNode(t)
	pod := runPod(t, n, cri.RunscDeprecated, "deprecated")
	root := filepath.Join(n.RuntimeRoot(cri.RunscDeprecated), cri.Namespace)
	if out, err := exec.Command("runsc", "--root", root, "list").CombinedOutput(); err != nil || !strings.Contains(string(out), pod.ID) {
		t.Fatalf("runsc --root %s list: %v: %s; want the pod's sandbox", root, err, out)
	}
	id, err := pod.Run(timeout(t, 2*time.Minute), cri.Container{Name: "exits", Command: []string{"sh", "-c", "echo on-deprecated; exit 4"}})
	if err != nil {
		t.Fatal(err)
	}
	st, err := n.WaitExited(timeout(t, 30*time.Second), id)
	if err != nil {
		t.Fatal(err)
	}
	if stdout, _ := logs(t, n, id); st.ExitCode != 4 || !strings.Contains(stdout, "on-deprecated") {
		t.Errorf("exit %d, stdout %q; want 4 and on-deprecated", st.ExitCode, stdout)
	}
}
