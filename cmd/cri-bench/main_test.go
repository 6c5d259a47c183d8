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
