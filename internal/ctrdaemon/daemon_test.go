package ctrdaemon

import (
	"strings"
	"testing"
)

// Close must only reach what belongs to its own daemon: another daemon's
// directory may have a name that extends this one's (ctrd-12, ctrd-123).
func TestIsUnderIsDirectoryExact(t *testing.T) {
	const dir = "/tmp/ctrd-123"
	for path, want := range map[string]bool{
		dir:                         true,
		dir + "/root/io.containerd": true,
		"/tmp/ctrd-1234":            false,
		"/tmp/ctrd-1234/state":      false,
		"/tmp/ctrd-12":              false,
		"/tmp":                      false,
	} {
		if got := isUnder(path, dir); got != want {
			t.Errorf("isUnder(%q, %q) = %v, want %v", path, dir, got, want)
		}
	}
}

func TestMentionsDirIsDirectoryExact(t *testing.T) {
	const dir = "/tmp/ctrd-123"
	cmdline := func(args ...string) []byte { return []byte(strings.Join(args, "\x00") + "\x00") }
	for _, c := range []struct {
		cmdline []byte
		want    bool
	}{
		{cmdline("containerd", "--config", dir+"/config.toml"), true},
		{cmdline("runsc", "--root="+dir+"/runsc", "start", "x"), true},
		{cmdline("sleep", dir), true},
		{[]byte("sleep\x00" + dir), true}, // no trailing NUL
		{cmdline("containerd", "--config", "/tmp/ctrd-1234/config.toml"), false},
		{cmdline("runsc", "--root=/tmp/ctrd-1234/runsc", "start", "x"), false},
		// The sibling first, then the dir itself: still a match.
		{cmdline("shim", "/tmp/ctrd-1234/a", dir+"/b"), true},
		{cmdline("sleep", "1"), false},
	} {
		if got := mentionsDir(c.cmdline, dir); got != c.want {
			t.Errorf("mentionsDir(%q, %q) = %v, want %v", c.cmdline, dir, got, c.want)
		}
	}
}
