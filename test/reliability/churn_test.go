package reliability

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/containerd/containerd"
	"github.com/containerd/containerd/cio"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// Property 3: hundreds of container lifecycles, several in parallel, plus
// bursts of exec processes in long-running containers. Every exit is
// delivered exactly once with its status, before its TaskDelete.
func TestChurn(t *testing.T) {
	s := newSuite(t, options{})
	rec := s.record()
	ctx := s.ctx()
	lifecycles := scale(300)
	const parallel = 4
	const hosts, bursts, burstSize = 2, 5, 10

	var mu sync.Mutex
	want := map[string]uint32{}
	expect := func(key string, status uint32) {
		mu.Lock()
		want[key] = status
		mu.Unlock()
	}
	errs := make(chan error, hosts*(bursts*burstSize+4)) // room for every error a host can send
	start := time.Now()
	var wg sync.WaitGroup

	// Exec bursts in long-running containers, alongside the churn.
	for h := 0; h < hosts; h++ {
		wg.Add(1)
		go func(h int) {
			defer wg.Done()
			id := fmt.Sprintf("host-%d", h)
			c, task, err := s.tryStart(ctx, id, "sleep 1000")
			if err != nil {
				errs <- err
				return
			}
			spec, err := c.Spec(ctx)
			if err != nil {
				errs <- err
				return
			}
			for b := 0; b < bursts; b++ {
				var bw sync.WaitGroup
				for e := 0; e < burstSize; e++ {
					bw.Add(1)
					go func(execID string, status uint32) {
						defer bw.Done()
						if err := runExec(ctx, task, execID, status, *spec.Process); err != nil {
							errs <- err
							return
						}
						expect(id+"/"+execID, status)
					}(fmt.Sprintf("probe-%d-%d", b, e), uint32(b*burstSize+e)%128)
				}
				bw.Wait()
			}
			if err := task.Kill(ctx, 9); err != nil {
				errs <- err
				return
			}
			exitCh, err := task.Wait(ctx)
			if err != nil {
				errs <- err
				return
			}
			<-exitCh
			if err := remove(ctx, c, task); err != nil {
				errs <- err
				return
			}
			expect(id+"/"+id, 137)
		}(h)
	}

	churned, churnErrs := s.runLifecycles("churn", lifecycles, parallel, func(i int) uint32 { return uint32(i % 100) })
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	for _, err := range churnErrs {
		t.Error(err)
	}
	for key, status := range churned {
		want[key] = status
	}
	elapsed := time.Since(start)
	time.Sleep(time.Second)
	events := rec.snapshot()
	got := check(events, want)
	got.Reordered = outOfOrder(filter(events, "/tasks/exit"))
	report(t, map[string]interface{}{
		"lifecycles": lifecycles, "parallel": parallel, "execs": hosts * bursts * burstSize,
		"seconds": elapsed.Seconds(), "tally": got,
	})
	if measuringOnly() {
		return
	}
	if got.Lost != 0 || got.Duplicated != 0 || got.WrongState != 0 || got.LateExit != 0 || got.Reordered != 0 {
		t.Fatalf("churn: %+v", got)
	}
	if got.Expected != lifecycles+hosts*(bursts*burstSize+1) {
		t.Fatalf("only %d of %d processes ran", got.Expected, lifecycles+hosts*(bursts*burstSize+1))
	}
}

// runExec runs `exit status` as an exec process and checks Wait's status.
func runExec(ctx context.Context, task containerd.Task, execID string, status uint32, pspec specs.Process) error {
	pspec.Args = []string{"/bin/sh", "-c", fmt.Sprintf("exit %d", status)}
	p, err := task.Exec(ctx, execID, &pspec, cio.NullIO)
	if err != nil {
		return fmt.Errorf("exec %s: %w", execID, err)
	}
	exitCh, err := p.Wait(ctx)
	if err != nil {
		return err
	}
	if err := p.Start(ctx); err != nil {
		return fmt.Errorf("start exec %s: %w", execID, err)
	}
	st := <-exitCh
	if st.ExitCode() != status {
		return fmt.Errorf("exec %s: Wait says %d, want %d", execID, st.ExitCode(), status)
	}
	if _, err := p.Delete(ctx); err != nil {
		return fmt.Errorf("delete exec %s: %w", execID, err)
	}
	return nil
}
