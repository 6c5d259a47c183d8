// Package procmem reads what /proc says of a process's memory and threads,
// for the tools that weigh shims (publish-bench footprint, cri-bench, the
// soak): one parser, so their figures mean the same.
package procmem

import (
	"fmt"
	"os"
	"regexp"
	"strconv"
	"strings"
)

// Usage is a process's memory, in KiB, and its threads.
type Usage struct {
	// RSS counts every page mapped, shared ones (the binary's text, libc)
	// in full in each process.
	RSS int
	// PSS divides each page by the processes sharing it.
	PSS int
	// USS (Private_Clean + Private_Dirty) is what the process alone holds:
	// what killing it frees.
	USS int
	// AnonUSS is the part of USS not backed by a file: heap, stacks, the
	// runtime's own. The rest is pages of the binary that no other process
	// has touched (the code a path runs for the first time).
	AnonUSS int
	// Threads is the process's thread count.
	Threads int
}

// Read reads pid's /proc/<pid>/smaps and /proc/<pid>/status. It reads
// smaps rather than smaps_rollup, whose totals are the same, for AnonUSS.
func Read(pid int) (Usage, error) {
	smaps, err := os.ReadFile(fmt.Sprintf("/proc/%d/smaps", pid))
	if err != nil {
		return Usage{}, err
	}
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return Usage{}, err
	}
	u, err := Parse(string(smaps), string(status))
	if err != nil {
		return u, fmt.Errorf("pid %d: %w", pid, err)
	}
	return u, nil
}

// Parse sums the mappings of smaps (the text of /proc/<pid>/smaps) and
// takes the thread count from status (that of /proc/<pid>/status).
func Parse(smaps, status string) (Usage, error) {
	var u Usage
	fileBacked, mappings := false, 0
	for _, line := range strings.Split(smaps, "\n") {
		if m := mappingHeader.FindStringSubmatch(line); m != nil {
			fileBacked = strings.HasPrefix(m[1], "/")
			mappings++
			continue
		}
		k, n, ok := field(line)
		if !ok {
			continue
		}
		switch k {
		case "Rss":
			u.RSS += n
		case "Pss":
			u.PSS += n
		case "Private_Clean", "Private_Dirty":
			u.USS += n
			if !fileBacked {
				u.AnonUSS += n
			}
		}
	}
	for _, line := range strings.Split(status, "\n") {
		if k, n, ok := field(line); ok && k == "Threads" {
			u.Threads = n
		}
	}
	switch {
	case mappings == 0:
		return u, fmt.Errorf("no mappings in smaps")
	case u.Threads == 0:
		return u, fmt.Errorf("no Threads in status")
	}
	return u, nil
}

// field parses a "Key:   123 kB" line.
func field(line string) (key string, n int, ok bool) {
	k, v, found := strings.Cut(line, ":")
	f := strings.Fields(v)
	if !found || len(f) == 0 {
		return "", 0, false
	}
	n, err := strconv.Atoi(f[0])
	return k, n, err == nil
}

// mappingHeader is the first line of a mapping in smaps (address range,
// perms, offset, dev, inode, then the path it maps, if any); its group is
// the path, empty for an anonymous mapping.
var mappingHeader = regexp.MustCompile(`^[0-9a-f]+-[0-9a-f]+ \S+ \S+ \S+ \d+\s*(.*)$`)
