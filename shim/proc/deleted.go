package proc

import (
	"context"
	"fmt"

	"github.com/containerd/containerd/errdefs"
)

// deletedState: after Delete nothing is left to act on; shared by init and
// exec processes.
type deletedState struct{}

var errDeleted = fmt.Errorf("process deleted: %w", errdefs.ErrNotFound)

func (deletedState) status() string                           { return "deleted" }
func (deletedState) start(context.Context) error              { return errDeleted }
func (deletedState) delete(context.Context) error             { return errDeleted }
func (deletedState) pause(context.Context) error              { return errDeleted }
func (deletedState) resume(context.Context) error             { return errDeleted }
func (deletedState) checkpoint(context.Context, string) error { return errDeleted }
func (deletedState) kill(context.Context, uint32, bool) error { return errDeleted }
func (deletedState) setExited(int)                            {}
