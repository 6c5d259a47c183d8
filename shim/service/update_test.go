package service

import (
	"context"
	"testing"

	shimapi "github.com/containerd/containerd/runtime/v1/shim/v1"
	"github.com/containerd/errdefs"
	"github.com/containerd/typeurl"
	ptypes "github.com/gogo/protobuf/types"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// Update checks its request before anything else: no resources or ones
// that are not LinuxResources JSON are InvalidArgument; before Create it is
// FailedPrecondition, like the other RPCs. (The update itself is tested
// through CRI, test/cri TestUpdateContainerResources.)
func TestUpdateRefusesBadRequests(t *testing.T) {
	s, _ := newService(t)
	ctx := context.Background()
	if _, err := s.Update(ctx, &shimapi.UpdateTaskRequest{}); !errdefs.IsInvalidArgument(err) {
		t.Errorf("Update without resources: %v, want InvalidArgument", err)
	}
	bad := &ptypes.Any{TypeUrl: "types.containerd.io/opencontainers/runtime-spec/1/LinuxResources", Value: []byte("{not json")}
	if _, err := s.Update(ctx, &shimapi.UpdateTaskRequest{Resources: bad}); !errdefs.IsInvalidArgument(err) {
		t.Errorf("Update with bad resources: %v, want InvalidArgument", err)
	}
	limit := int64(64 << 20)
	res, err := typeurl.MarshalAny(&specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: &limit}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Update(ctx, &shimapi.UpdateTaskRequest{Resources: res}); !errdefs.IsFailedPrecondition(err) {
		t.Errorf("Update before Create: %v, want FailedPrecondition", err)
	}
}
