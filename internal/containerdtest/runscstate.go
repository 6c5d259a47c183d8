package containerdtest

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// RunscSpec returns the spec runsc keeps for container id in its state
// file in root: what `runsc update` changed. A sandbox's root container's
// file is "<id>_sandbox:<id>.state"; an app container's is "<sandbox
// id>_sandbox:<id>.state" with Debian's runsc, "<id>_sandbox:<sandbox
// id>.state" with current runsc.
func RunscSpec(root, id string) (*specs.Spec, error) {
	files := []string{filepath.Join(root, id+"_sandbox:"+id+".state")}
	if _, err := os.Stat(files[0]); err != nil {
		debian, _ := filepath.Glob(filepath.Join(root, "*_sandbox:"+id+".state"))
		current, _ := filepath.Glob(filepath.Join(root, id+"_sandbox:*.state"))
		files = append(debian, current...)
	}
	if len(files) != 1 {
		return nil, fmt.Errorf("runsc state files of %s in %s: %q, want one", id, root, files)
	}
	b, err := os.ReadFile(files[0])
	if err != nil {
		return nil, err
	}
	var st struct {
		Spec *specs.Spec `json:"spec"`
	}
	if err := json.Unmarshal(b, &st); err != nil || st.Spec == nil {
		return nil, fmt.Errorf("runsc state file %s: no spec (%v)", files[0], err)
	}
	return st.Spec, nil
}

// MemoryLimit is the spec's memory limit; 0 for none.
func MemoryLimit(s *specs.Spec) int64 {
	if s == nil || s.Linux == nil || s.Linux.Resources == nil || s.Linux.Resources.Memory == nil || s.Linux.Resources.Memory.Limit == nil {
		return 0
	}
	return *s.Linux.Resources.Memory.Limit
}

// RunscHasUpdate reports whether the runsc on PATH (RUNSC's) has an update
// command, asked as a user would: Debian's 2022 runsc answers `runsc help
// update` with "Subcommand update not understood" and a failure.
func RunscHasUpdate() (bool, error) {
	out, err := exec.Command("runsc", "help", "update").CombinedOutput()
	var exit *exec.ExitError
	switch {
	case err == nil:
		return true, nil
	case errors.As(err, &exit) && strings.Contains(string(out), "not understood"):
		return false, nil
	}
	return false, fmt.Errorf("runsc help update: %v: %s", err, out)
}
