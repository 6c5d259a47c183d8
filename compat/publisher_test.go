package compat

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	eventtypes "github.com/containerd/containerd/api/events"
	"github.com/containerd/containerd/namespaces"
	"github.com/containerd/containerd/runtime"
	"github.com/containerd/typeurl"
	"github.com/google/gvisor-containerd-shim/internal/containerdtest"
)

func TestMain(m *testing.M) {
	// Like the shim, the test process reaps its children via sys/reaper.
	containerdtest.ReapChildren()
	os.Exit(m.Run())
}

func nsCtx() context.Context { return namespaces.WithNamespace(context.Background(), "compat-ns") }

func TestPublishReachesDaemonSubscriber(t *testing.T) {
	d := containerdtest.Start(t, containerdtest.Config{})
	client := containerdtest.Client(t, d)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	envs, errs := client.EventService().Subscribe(ctx, `topic=="/tasks/exit"`)

	p := New("containerd", d.Address)
	want := &eventtypes.TaskExit{ContainerID: "c1", ID: "c1", Pid: 42, ExitStatus: 7}
	if err := p.Publish(nsCtx(), runtime.TaskExitEventTopic, want); err != nil {
		t.Fatalf("publish: %v", err)
	}
	select {
	case env := <-envs:
		if env.Namespace != "compat-ns" || env.Topic != runtime.TaskExitEventTopic {
			t.Fatalf("envelope namespace %q topic %q", env.Namespace, env.Topic)
		}
		v, err := typeurl.UnmarshalAny(env.Event)
		if err != nil {
			t.Fatal(err)
		}
		got := v.(*eventtypes.TaskExit)
		if got.ContainerID != want.ContainerID || got.Pid != want.Pid || got.ExitStatus != want.ExitStatus {
			t.Fatalf("payload %+v, want %+v", got, want)
		}
	case err := <-errs:
		t.Fatalf("subscription: %v", err)
	case <-ctx.Done():
		t.Fatal("event never reached the subscriber")
	}
}

func TestErrorsAreClear(t *testing.T) {
	containerdtest.RequireBinaries(t, "containerd")
	event := &eventtypes.TaskExit{ContainerID: "c1"}
	cases := []struct {
		name string
		p    *Publisher
		want []string
	}{
		{"missing binary", New("/nonexistent/containerd", "/tmp/x.sock"), []string{"start /nonexistent/containerd", "no such file"}},
		// The child's own complaint must reach the caller.
		{"dead address", New("containerd", "/tmp/compat-dead.sock"), []string{"exited with status 1", `failed to dial "/tmp/compat-dead.sock"`}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := c.p.Publish(nsCtx(), runtime.TaskExitEventTopic, event)
			if err == nil {
				t.Fatal("publish succeeded")
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
		})
	}
	t.Run("no namespace", func(t *testing.T) {
		err := New("containerd", "/tmp/x.sock").Publish(context.Background(), runtime.TaskExitEventTopic, event)
		if err == nil || !strings.Contains(err.Error(), "namespace is required") {
			t.Fatalf("publish without namespace: %v", err)
		}
	})
	t.Run("timeout", func(t *testing.T) {
		p := New("containerd", "/tmp/compat-dead.sock")
		p.Timeout = 200 * time.Millisecond // containerd publish waits 2s to dial
		err := p.Publish(nsCtx(), runtime.TaskExitEventTopic, event)
		if err == nil || !strings.Contains(err.Error(), "timeout") {
			t.Fatalf("publish past its timeout: %v", err)
		}
	})
}

// A context that has already ended is an error that says so, and nothing is
// forked: before, a passed deadline started `containerd publish` and killed
// it at once, and a cancelled context ran it to the end.
func TestEndedContextDoesNotFork(t *testing.T) {
	// A stand-in that would succeed, leaving a mark that it ran: only the
	// context can fail the publish.
	dir := t.TempDir()
	bin, ran := filepath.Join(dir, "containerd"), filepath.Join(dir, "ran")
	if err := os.WriteFile(bin, []byte("#!/bin/sh\ntouch "+ran+"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	p := New(bin, "/tmp/compat-unused.sock")
	passed, cancel := context.WithDeadline(nsCtx(), time.Now().Add(-time.Second))
	defer cancel()
	cancelled, cancel2 := context.WithCancel(nsCtx())
	cancel2()
	for _, c := range []struct {
		name string
		ctx  context.Context
		want error
	}{
		{"deadline passed", passed, context.DeadlineExceeded},
		{"cancelled", cancelled, context.Canceled},
	} {
		t.Run(c.name, func(t *testing.T) {
			err := p.Publish(c.ctx, runtime.TaskExitEventTopic, &eventtypes.TaskExit{ContainerID: "c1"})
			if !errors.Is(err, c.want) {
				t.Fatalf("publish with an ended context: %v, want %v", err, c.want)
			}
			if _, err := os.Stat(ran); !errors.Is(err, os.ErrNotExist) {
				t.Fatalf("the stand-in ran (stat %s: %v)", ran, err)
			}
		})
	}
	// The stand-in works: with a live context it runs.
	if err := p.Publish(nsCtx(), runtime.TaskExitEventTopic, &eventtypes.TaskExit{ContainerID: "c1"}); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(ran); err != nil {
		t.Fatalf("the stand-in left no mark: %v", err)
	}
}
