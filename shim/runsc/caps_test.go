package runsc

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

func TestVersionKnowsLateCapabilities(t *testing.T) {
	for version, want := range map[string]bool{
		"runsc version 0.0~20221219.0\nspec: 1.0.2-dev\n":     false, // Debian's
		"runsc version release-20221219.0\nspec: 1.0.2-dev\n": false,
		"runsc version release-20230130.0\n":                  false, // google/gvisor#8529
		"runsc version release-20230320.0\n":                  true,
		"runsc version release-20260901.0\n":                  true,
		"runsc version VERSION_MISSING\nspec: 1.2.1\n":        true, // the Go module's
		"": true,
	} {
		if got := versionKnowsLateCapabilities(version); got != want {
			t.Errorf("versionKnowsLateCapabilities(%q) = %v, want %v", version, got, want)
		}
	}
}

// versionRunsc is a runsc that only answers --version with version, and
// records in calls that it was asked.
func versionRunsc(t *testing.T, version string) (r *Runsc, calls string) {
	t.Helper()
	dir := t.TempDir()
	calls = filepath.Join(dir, "calls")
	script := "#!/bin/sh\necho asked >> " + calls + "\nprintf '" + version + "\\n'\n"
	path := filepath.Join(dir, "runsc")
	if err := os.WriteFile(path, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	return &Runsc{Command: path}, calls
}

func privilegedCaps() *specs.LinuxCapabilities {
	all := []string{"CAP_CHOWN", "CAP_SYS_ADMIN", "CAP_AUDIT_READ", "CAP_PERFMON", "CAP_BPF", "CAP_CHECKPOINT_RESTORE"}
	return &specs.LinuxCapabilities{Bounding: all, Effective: all, Permitted: all}
}

func writeBundle(t *testing.T, caps *specs.LinuxCapabilities) (dir string, orig []byte) {
	t.Helper()
	dir = t.TempDir()
	spec := map[string]any{
		"ociVersion":  "1.0.2-dev",
		"process":     map[string]any{"args": []string{"sh"}, "cwd": "/", "capabilities": caps, "x-unknown": 7},
		"annotations": map[string]string{"io.kubernetes.cri.container-type": "container"},
		"x-extension": map[string]any{"n": 123456789012345678},
	}
	b, err := json.Marshal(spec)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "config.json"), b, 0o600); err != nil {
		t.Fatal(err)
	}
	return dir, b
}

// With a runsc from before 2023-02, a privileged container's late
// capabilities leave its config.json, and nothing else of the spec
// changes; a current runsc gets the file untouched.
func TestFitBundleCapabilities(t *testing.T) {
	old, _ := versionRunsc(t, "runsc version 0.0~20221219.0")
	dir, orig := writeBundle(t, privilegedCaps())
	if err := old.fitBundleCapabilities(context.Background(), dir); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(filepath.Join(dir, "config.json"))
	var got, want map[string]any
	json.Unmarshal(b, &got)
	json.Unmarshal(orig, &want)
	kept := []any{"CAP_CHOWN", "CAP_SYS_ADMIN", "CAP_AUDIT_READ"}
	want["process"].(map[string]any)["capabilities"] = map[string]any{"bounding": kept, "effective": kept, "permitted": kept}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("config.json after the fit:\n%s\nwant:\n%v", b, want)
	}
	if st, _ := os.Stat(filepath.Join(dir, "config.json")); st.Mode().Perm() != 0o600 {
		t.Errorf("config.json mode %v, want 0600 as before", st.Mode().Perm())
	}

	current, _ := versionRunsc(t, "runsc version VERSION_MISSING")
	dir, orig = writeBundle(t, privilegedCaps())
	if err := current.fitBundleCapabilities(context.Background(), dir); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "config.json")); string(b) != string(orig) {
		t.Errorf("a current runsc's config.json was rewritten:\n%s", b)
	}
}

// A spec without a late capability is not rewritten, and runsc is not
// asked its version; a runsc is asked once however many specs it gets.
func TestFitCapabilitiesAsksRunscOnce(t *testing.T) {
	r, calls := versionRunsc(t, "runsc version 0.0~20221219.0")
	dir, orig := writeBundle(t, &specs.LinuxCapabilities{Bounding: []string{"CAP_CHOWN"}})
	if err := r.fitBundleCapabilities(context.Background(), dir); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "config.json")); string(b) != string(orig) {
		t.Errorf("a spec without late capabilities was rewritten:\n%s", b)
	}
	if _, err := os.Stat(calls); err == nil {
		t.Errorf("runsc was asked its version for a spec without late capabilities")
	}
	for i := 0; i < 3; i++ {
		caps := privilegedCaps()
		if !r.fitCapabilities(context.Background(), "exec", caps) || namesLate(caps) {
			t.Fatalf("fit %d left %v", i, caps)
		}
	}
	if b, _ := os.ReadFile(calls); string(b) != "asked\n" {
		t.Errorf("runsc --version ran %q times, want once", b)
	}
}

// An exec's process keeps the caller's capability sets intact.
func TestFitCapabilitiesLeavesCallerSets(t *testing.T) {
	r, _ := versionRunsc(t, "runsc version release-20221219.0")
	caps := privilegedCaps()
	before := append([]string(nil), caps.Bounding...)
	fitted := *caps
	r.fitCapabilities(context.Background(), "exec", &fitted)
	if !reflect.DeepEqual(caps.Bounding, before) {
		t.Errorf("the caller's bounding set changed: %v", caps.Bounding)
	}
	if namesLate(&fitted) {
		t.Errorf("fitted sets still name late capabilities: %+v", fitted)
	}
}
