package main

import "testing"

func TestIsShimOf(t *testing.T) {
	const id = "0123abcd"
	for _, c := range []struct {
		argv []string
		want bool
	}{
		{[]string{"/bin/gvisor-containerd-shim", "-namespace", "k8s.io", "-workdir", "/tmp/ctrd-1/root/io.containerd.runtime.v1.linux/k8s.io/" + id, "-address", "/tmp/c.sock"}, true},
		{[]string{"containerd-shim", "-workdir", "/x/" + id + "0"}, false},
		{[]string{"/bin/containerd-shim-runsc-v1", "-namespace", "k8s.io", "-id", id, "-address", "/tmp/c.sock"}, true},
		{[]string{"/bin/containerd-shim-runsc-v1", "-namespace", "k8s.io", "-id", id, "-address", "/tmp/c.sock", "start"}, false},
		{[]string{"runsc-gofer", "-id", id}, false},
		{[]string{"/bin/containerd-shim-runsc-v1", "-id", "other"}, false},
	} {
		if got := isShimOf(c.argv, id); got != c.want {
			t.Errorf("isShimOf(%q) = %v, want %v", c.argv, got, c.want)
		}
	}
}

func TestParseRollup(t *testing.T) {
	uss, pss, err := parseRollup("00400000-7fff rw-p 00000000 00:00 0 [rollup]\nRss: 9000 kB\nPss: 5000 kB\nPss_Anon: 3000 kB\nShared_Clean: 6000 kB\nPrivate_Clean: 100 kB\nPrivate_Dirty: 2900 kB\n")
	if err != nil || uss != 3000 || pss != 5000 {
		t.Errorf("uss %d, pss %d, err %v; want 3000, 5000", uss, pss, err)
	}
	if _, _, err := parseRollup("Rss: 1 kB\n"); err == nil {
		t.Error("no Pss: no error")
	}
}
