package ctrdaemon

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// RUNSC and CONTAINERD may name the binary through symlinks (bin/runsc-current),
// but what they resolve to must carry the command's name, as it is found on
// PATH by that name; anything else is refused with the variable named.
func TestBinaryDir(t *testing.T) {
	dir := t.TempDir()
	verDir := filepath.Join(dir, "runsc-v1")
	os.Mkdir(verDir, 0o755)
	bin := filepath.Join(verDir, "runsc")
	os.WriteFile(bin, []byte("#!/bin/sh\n"), 0o755)
	os.Symlink("runsc-v1/runsc", filepath.Join(dir, "runsc-current"))
	other := filepath.Join(dir, "runsc-other")
	os.WriteFile(other, []byte("#!/bin/sh\n"), 0o755)
	plain := filepath.Join(verDir, "data")
	os.WriteFile(plain, nil, 0o644)

	for _, value := range []string{bin, filepath.Join(dir, "runsc-current")} {
		if got, err := binaryDir("RUNSC", value, "runsc"); err != nil || got != verDir {
			t.Errorf("binaryDir(%s) = %q, %v; want %q", value, got, err, verDir)
		}
	}
	if got, err := binaryDir("RUNSC", "", "runsc"); err != nil || got != "" {
		t.Errorf("binaryDir of empty = %q, %v; want nothing", got, err)
	}
	for value, want := range map[string]string{
		other:                         `its name must be "runsc"`,
		filepath.Join(dir, "missing"): "no such file",
		plain:                         "not an executable file",
		verDir:                        "not an executable file",
	} {
		_, err := binaryDir("RUNSC", value, "runsc")
		if err == nil || !strings.Contains(err.Error(), want) || !strings.HasPrefix(err.Error(), "RUNSC="+value+": ") {
			t.Errorf("binaryDir(%s) = %v; want an error naming RUNSC and %q", value, err, want)
		}
	}
}
