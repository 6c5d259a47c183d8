// Package compat is the fork fallback for publishing events: it runs
// `containerd publish` once per event, as containerd's own v1 shim and
// gVisor's legacy shim do. It is slow (a process start per event) but works
// against any containerd that has the publish command.
package compat

import (
	"bytes"
	"context"
	"fmt"
	"os/exec"
	"strings"
	"time"

	"github.com/containerd/containerd/events"
	"github.com/containerd/containerd/namespaces"
	"github.com/containerd/containerd/sys/reaper"
	"github.com/containerd/typeurl"
	"github.com/gogo/protobuf/types"
)

// DefaultTimeout bounds one `containerd publish` run.
const DefaultTimeout = 10 * time.Second

// maxStderr caps how much of the child's stderr goes into an error.
const maxStderr = 1024

// Publisher forks `<Binary> --address <Address> publish` for each event.
type Publisher struct {
	Binary  string        // containerd binary, e.g. "containerd" or an absolute path
	Address string        // containerd's gRPC address
	Timeout time.Duration // per event; zero means DefaultTimeout
}

// New returns a fork publisher.
func New(binary, address string) *Publisher {
	return &Publisher{Binary: binary, Address: address, Timeout: DefaultTimeout}
}

// Publish satisfies containerd's events.Publisher. The namespace comes from ctx.
func (p *Publisher) Publish(ctx context.Context, topic string, event events.Event) error {
	ns, err := namespaces.NamespaceRequired(ctx)
	if err != nil {
		return fmt.Errorf("compat publish %s: %w", topic, err)
	}
	encoded, err := typeurl.MarshalAny(event)
	if err != nil {
		return fmt.Errorf("compat publish %s: marshal event: %w", topic, err)
	}
	return p.PublishAny(ctx, ns, topic, encoded)
}

// PublishAny publishes an already marshalled event. The direct publisher
// uses it when it falls back to forking.
func (p *Publisher) PublishAny(ctx context.Context, namespace, topic string, event *types.Any) error {
	data, err := event.Marshal()
	if err != nil {
		return fmt.Errorf("compat publish %s: marshal envelope: %w", topic, err)
	}
	// A context that has ended would start the child only to kill it at
	// once (WaitTimeout with a timeout of zero or less).
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("compat publish %s: %w", topic, err)
	}
	timeout := p.Timeout
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	if deadline, ok := ctx.Deadline(); ok {
		left := time.Until(deadline)
		if left <= 0 {
			// Passed since the check above.
			return fmt.Errorf("compat publish %s: %w", topic, context.DeadlineExceeded)
		}
		timeout = min(timeout, left)
	}

	var stderr bytes.Buffer
	cmd := exec.Command(p.Binary, "--address", p.Address, "publish", "--topic", topic, "--namespace", namespace)
	cmd.Stdin = bytes.NewReader(data)
	cmd.Stderr = &stderr
	// The shim is a subreaper that reaps every child on SIGCHLD; only the
	// reaper's Start/Wait see this child's exit status.
	exits, err := reaper.Default.Start(cmd)
	if err != nil {
		return fmt.Errorf("compat publish %s: start %s: %w", topic, p.Binary, err)
	}
	status, err := reaper.Default.WaitTimeout(cmd, exits, timeout)
	if err != nil {
		// stderr may still be written by exec's copier here: leave it out.
		return fmt.Errorf("compat publish %s: %s publish: %w", topic, p.Binary, err)
	}
	if status != 0 {
		return fmt.Errorf("compat publish %s: %s publish exited with status %d%s", topic, p.Binary, status, stderrSuffix(&stderr))
	}
	return nil
}

func stderrSuffix(b *bytes.Buffer) string {
	s := strings.TrimSpace(b.String())
	if s == "" {
		return ""
	}
	if len(s) > maxStderr {
		s = s[len(s)-maxStderr:]
	}
	return ": " + s
}
