package service

import (
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"testing"
)

// TestContainerIDsFromStateFiles reads ids from a root laid out as runsc
// lays it out after `runsc create` (an init and pods' app containers),
// ignoring lock files and anything else. Debian's runsc names an app
// container's file "<sandbox>_sandbox:<app>", current runsc
// "<app>_sandbox:<sandbox>" (pod2 here).
func TestContainerIDsFromStateFiles(t *testing.T) {
	root := t.TempDir()
	for _, name := range []string{
		"web-1_sandbox:web-1.state", "web-1_sandbox:web-1.lock",
		"pod_sandbox:pod.state", "pod_sandbox:app.state", "pod_sandbox:app.lock",
		"pod2_sandbox:pod2.state", "app2_sandbox:pod2.state", "app2_sandbox:pod2.lock",
		"stray.state", "notes.txt",
	} {
		if err := os.WriteFile(filepath.Join(root, name), nil, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	ids, err := containerIDs(root)
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(ids)
	if want := []string{"app", "app2", "pod", "pod2", "web-1"}; !reflect.DeepEqual(ids, want) {
		t.Errorf("ids %q, want %q", ids, want)
	}
	if ids, err := containerIDs(filepath.Join(root, "absent")); err != nil || len(ids) != 0 {
		t.Errorf("a root not created yet: %q %v, want no ids and no error", ids, err)
	}
}

func TestPrefixConflict(t *testing.T) {
	existing := []string{"web-1", "db", "api-10"}
	for _, tc := range []struct {
		id, conflict string
	}{
		{"web-10", "web-1"}, // an existing id is a prefix of the new one
		{"api-1", "api-10"}, // the new id is a prefix of an existing one
		{"web-1", ""},       // the same id is runsc's and containerd's to refuse
		{"web-2", ""},       // a shared prefix is no conflict
		{"cache", ""},       // unrelated
		{"dbx", "db"},
	} {
		got, ok := prefixConflict(tc.id, existing)
		if got != tc.conflict || ok != (tc.conflict != "") {
			t.Errorf("prefixConflict(%q) = %q, %v; want %q", tc.id, got, ok, tc.conflict)
		}
	}
}
