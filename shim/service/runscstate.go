package service

import (
	"errors"
	"io/fs"
	"os"
	"strings"
)

// runsc keeps one state file (and a ".lock" beside it) per container in
// its root, named after the container and its sandbox: Debian's runsc
// (2022-12) "<sandbox id>_sandbox:<container id>.state", current runsc
// "<container id>_sandbox:<sandbox id>.state". A pod's app containers sit
// in the same root as their sandbox, whose own file has its id twice.
const (
	stateSandboxSep = "_sandbox:"
	stateSuffix     = ".state"
)

// containerIDs lists the ids of the containers runsc keeps in root, read
// from its state file names (a readdir: no runsc command). A root that
// does not exist yet holds none.
func containerIDs(root string) ([]string, error) {
	entries, err := os.ReadDir(root)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	// Both halves of every name: whatever the order, a sandbox's id is
	// also its root container's, so the union is exactly the containers.
	var ids []string
	seen := make(map[string]bool)
	for _, e := range entries {
		name, ok := strings.CutSuffix(e.Name(), stateSuffix)
		if !ok {
			continue
		}
		// Container ids cannot hold a ':', so the first separator is it.
		a, b, ok := strings.Cut(name, stateSandboxSep)
		if !ok || a == "" || b == "" {
			continue
		}
		for _, id := range []string{a, b} {
			if !seen[id] {
				seen[id] = true
				ids = append(ids, id)
			}
		}
	}
	return ids, nil
}

// prefixConflict returns an id in existing that is a prefix of id or of
// which id is a prefix, other than id itself. This runsc looks a
// container up by id prefix (it globs "<id>*" and an exact match does not
// win), so of two such ids the shorter one can no longer be named by any
// command: not started, killed, exec'd into or deleted.
func prefixConflict(id string, existing []string) (string, bool) {
	for _, other := range existing {
		if other != id && (strings.HasPrefix(id, other) || strings.HasPrefix(other, id)) {
			return other, true
		}
	}
	return "", false
}
