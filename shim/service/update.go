package service

import (
	"context"
	"encoding/json"
	"fmt"

	shimapi "github.com/containerd/containerd/runtime/v1/shim/v1"
	"github.com/containerd/errdefs"
	ptypes "github.com/gogo/protobuf/types"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// Update sets the container's resources (CRI's UpdateContainerResources,
// Kubernetes' in-place pod resize) with `runsc update`: for a container of
// its own or a pod's sandbox, on the sandbox's cgroup; for an app
// container, in runsc's state. The service lock is not held while runsc
// runs. A runsc without update gets NotImplemented.
func (s *Service) Update(ctx context.Context, r *shimapi.UpdateTaskRequest) (*ptypes.Empty, error) {
	if r.Resources == nil {
		return nil, fmt.Errorf("update needs resources: %w", errdefs.ErrInvalidArgument)
	}
	// The v1 API carries specs.LinuxResources as JSON (typeurl), as
	// containerd's own v1 shim reads it.
	var res specs.LinuxResources
	if err := json.Unmarshal(r.Resources.Value, &res); err != nil {
		return nil, fmt.Errorf("update resources (%s): %w: %w", r.Resources.TypeUrl, err, errdefs.ErrInvalidArgument)
	}
	s.mu.Lock()
	p, rt := s.init, s.rt
	s.mu.Unlock()
	if p == nil {
		return nil, errNotCreated
	}
	select {
	case <-p.Exited():
		return nil, fmt.Errorf("cannot update container %s: it has stopped: %w", p.ID(), errdefs.ErrFailedPrecondition)
	default:
	}
	if err := rt.Update(ctx, p.ID(), &res); err != nil {
		return nil, err
	}
	return &ptypes.Empty{}, nil
}
