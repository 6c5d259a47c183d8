package runsc

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"sync"

	"github.com/containerd/containerd/log"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// lateCapabilities are the capabilities Linux added after CAP_AUDIT_READ:
// CAP_PERFMON and CAP_BPF (5.8) and CAP_CHECKPOINT_RESTORE (5.9).
// containerd gives a privileged container every capability it knows, these
// among them, and runsc releases up to 2023-01 refuse a spec that names any
// of them: `creating capabilities: unknown capability "CAP_PERFMON"`
// (google/gvisor#8529, reported against release-20230130.0).
var lateCapabilities = map[string]bool{"CAP_PERFMON": true, "CAP_BPF": true, "CAP_CHECKPOINT_RESTORE": true}

// lastReleaseWithoutLateCapabilities is the newest runsc release known to
// refuse them.
const lastReleaseWithoutLateCapabilities = "20230130"

// releaseDate finds the date in `runsc --version`: "release-20221219.0"
// from gVisor's releases, "0.0~20221219.0" from Debian's package. A runsc
// built from the Go module says VERSION_MISSING: current.
var releaseDate = regexp.MustCompile(`(?:release-|~)(\d{8})\b`)

// versionKnowsLateCapabilities reports whether the runsc whose `runsc
// --version` output is version accepts the late capabilities.
func versionKnowsLateCapabilities(version string) bool {
	m := releaseDate.FindStringSubmatch(version)
	return m == nil || m[1] > lastReleaseWithoutLateCapabilities
}

// knowsLate caches, per runsc command, whether it accepts the late
// capabilities: asked once per shim, and only of a spec that names one.
var knowsLate sync.Map

// knowsLateCapabilities runs `runsc --version` the first time. When that
// fails the spec is left as it is, and runsc's own error tells.
func (r *Runsc) knowsLateCapabilities(ctx context.Context) bool {
	if v, ok := knowsLate.Load(r.Command); ok {
		return v.(bool)
	}
	out, err := exec.CommandContext(ctx, r.Command, "--version").Output()
	known := err != nil || versionKnowsLateCapabilities(string(out))
	knowsLate.Store(r.Command, known)
	return known
}

// dropLateCapabilities removes the late capabilities from every set of
// caps and returns the names it removed, sorted.
func dropLateCapabilities(caps *specs.LinuxCapabilities) []string {
	dropped := map[string]bool{}
	for _, set := range []*[]string{&caps.Bounding, &caps.Effective, &caps.Inheritable, &caps.Permitted, &caps.Ambient} {
		var kept []string // new: the caller's slices stay as they were
		for _, c := range *set {
			if lateCapabilities[c] {
				dropped[c] = true
				continue
			}
			kept = append(kept, c)
		}
		*set = kept
	}
	names := make([]string, 0, len(dropped))
	for c := range dropped {
		names = append(names, c)
	}
	sort.Strings(names)
	return names
}

// namesLate reports whether caps has a late capability in any set.
func namesLate(caps *specs.LinuxCapabilities) bool {
	for _, set := range [][]string{caps.Bounding, caps.Effective, caps.Inheritable, caps.Permitted, caps.Ambient} {
		for _, c := range set {
			if lateCapabilities[c] {
				return true
			}
		}
	}
	return false
}

// fitCapabilities drops the late capabilities from a process this runsc
// would refuse for them, as runc leaves out capabilities its kernel lacks:
// gVisor could not grant them either. It logs what it dropped and returns
// whether it changed caps.
func (r *Runsc) fitCapabilities(ctx context.Context, what string, caps *specs.LinuxCapabilities) bool {
	if caps == nil || !namesLate(caps) || r.knowsLateCapabilities(ctx) {
		return false
	}
	dropped := dropLateCapabilities(caps)
	log.G(ctx).WithField("capabilities", dropped).Warnf("%s: leaving out capabilities this runsc does not know (release 2023-01 or older)", what)
	return true
}

// fitBundleCapabilities does fitCapabilities for the process of the
// bundle's config.json, and rewrites the file when it changed it. The rest
// of the spec is written back as it was read. A spec it cannot read is
// left to runsc, whose error says what is wrong.
func (r *Runsc) fitBundleCapabilities(ctx context.Context, bundle string) error {
	path := filepath.Join(bundle, "config.json")
	b, err := os.ReadFile(path)
	if err != nil {
		return nil
	}
	var spec map[string]json.RawMessage
	if json.Unmarshal(b, &spec) != nil {
		return nil
	}
	var process map[string]json.RawMessage
	if len(spec["process"]) == 0 || json.Unmarshal(spec["process"], &process) != nil || len(process["capabilities"]) == 0 {
		return nil
	}
	var caps specs.LinuxCapabilities
	if err := json.Unmarshal(process["capabilities"], &caps); err != nil {
		return nil
	}
	if !r.fitCapabilities(ctx, "config.json", &caps) {
		return nil
	}
	if process["capabilities"], err = json.Marshal(caps); err != nil {
		return err
	}
	if spec["process"], err = json.Marshal(process); err != nil {
		return err
	}
	if b, err = json.Marshal(spec); err != nil {
		return err
	}
	st, err := os.Stat(path)
	if err != nil {
		return err
	}
	tmp := path + ".shim"
	if err := os.WriteFile(tmp, b, st.Mode().Perm()); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}
