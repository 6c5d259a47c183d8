package main

import (
	"os/exec"
	"strings"
	"testing"
)

// Every package linked into the shim runs its init in every shim process, and
// what it allocates stays resident (the shim never collects at idle). These
// were removed for that reason (docs/benchmarks.md, "What each change
// bought"); an import that brings one back must be a deliberate choice.
var notLinked = []string{
	"google.golang.org/grpc",          // the publisher's gRPC path uses internal/grpcunary
	"google.golang.org/grpc/balancer", // grpc's client machinery
	"net/http",                        // grpc's transport and x/net/http2
	"golang.org/x/net/http2",          // only its hpack is needed
	"github.com/containerd/containerd/api/services/events/v1", // gRPC stubs: the ttrpc request type has the same wire format
}

func TestShimDoesNotLinkGRPC(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", ".").Output()
	if err != nil {
		t.Fatalf("go list -deps: %v", err)
	}
	linked := map[string]bool{}
	for _, pkg := range strings.Fields(string(out)) {
		linked[pkg] = true
	}
	if !linked["github.com/google/gvisor-containerd-shim/internal/grpcunary"] {
		t.Fatalf("go list -deps output does not look like the shim's:\n%s", out)
	}
	for _, pkg := range notLinked {
		if linked[pkg] {
			t.Errorf("the shim links %s again: find the import with `go list -deps -f '{{.ImportPath}}: {{.Imports}}' ./cmd/gvisor-containerd-shim`", pkg)
		}
	}
}
