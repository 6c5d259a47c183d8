package cri

import (
	"fmt"
	"os/exec"
	"regexp"
	"strings"
)

// RunscVersion returns the first line of `runsc --version` of the runsc on
// PATH: the one the node's shims run (RUNSC puts another one first, see
// internal/ctrdaemon).
func RunscVersion() (string, error) {
	out, err := exec.Command("runsc", "--version").Output()
	if err != nil {
		return "", fmt.Errorf("runsc --version: %w", err)
	}
	line, _, _ := strings.Cut(string(out), "\n")
	return strings.TrimSpace(line), nil
}

// release2022 matches a 2022 release date in a version: Debian's package
// says "0.0~20221219.0", gVisor's releases "release-20221219.0".
var release2022 = regexp.MustCompile(`(^|[^0-9])2022[01][0-9][0-3][0-9]([^0-9]|$)`)

// Runsc2022 reports whether version (RunscVersion's) is a 2022 runsc
// release, whose quirks docs/cri.md lists: network = "sandbox" fails in
// pods, and a pod-wide PID namespace leaves out the pause process. A runsc
// built from the Go module says VERSION_MISSING and is current.
func Runsc2022(version string) bool { return release2022.MatchString(version) }
