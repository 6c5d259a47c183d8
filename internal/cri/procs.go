package cri

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// Processes returns the argv of every process on the host by pid, for
// finding what a node's pods run (their shims, their sandboxes).
func Processes() map[int][]string {
	paths, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	procs := map[int][]string{}
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil || len(b) == 0 {
			continue // gone, or a kernel thread
		}
		var pid int
		fmt.Sscanf(p, "/proc/%d/cmdline", &pid)
		procs[pid] = strings.Split(strings.TrimRight(string(b), "\x00"), "\x00")
	}
	return procs
}

// SandboxPids returns, in order, the pids of the runsc-sandbox processes runsc booted
// for the container id (a pod's sandbox is booted for the pod's id).
func SandboxPids(id string) []int {
	var pids []int
	for pid, argv := range Processes() {
		if argv[0] == "runsc-sandbox" && argv[len(argv)-1] == id {
			pids = append(pids, pid)
		}
	}
	sort.Ints(pids)
	return pids
}
