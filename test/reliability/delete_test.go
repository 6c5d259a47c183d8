package reliability

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"sync"
	"testing"
	"time"
)

// scale multiplies the suite's lifecycle counts (RELIABILITY_SCALE, default 1).
func scale(n int) int {
	if f, err := strconv.Atoi(os.Getenv("RELIABILITY_SCALE")); err == nil && f > 0 {
		return n * f
	}
	return n
}

// runLifecycles runs n containers named prefix-i exiting with status(i),
// parallel at a time: start, Wait (which must report the status), Delete.
// It returns the exits that happened (process key → status) and the errors.
func (s *suite) runLifecycles(prefix string, n, parallel int, status func(int) uint32) (map[string]uint32, []error) {
	var (
		mu   sync.Mutex
		want = map[string]uint32{}
		errs []error
		wg   sync.WaitGroup
	)
	fail := func(err error) {
		mu.Lock()
		errs = append(errs, err)
		mu.Unlock()
	}
	ids := make(chan int)
	for w := 0; w < parallel; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx := s.ctx()
			for i := range ids {
				id, exit := fmt.Sprintf("%s-%d", prefix, i), status(i)
				code, err := s.lifecycle(ctx, id, exit)
				if err != nil {
					fail(err)
					continue
				}
				if code != exit {
					fail(fmt.Errorf("%s: Wait says %d, want %d", id, code, exit))
				}
				mu.Lock()
				want[id+"/"+id] = code
				mu.Unlock()
			}
		}()
	}
	for i := 0; i < n; i++ {
		ids <- i
	}
	close(ids)
	wg.Wait()
	return want, errs
}

// lifecycle runs one container that exits with status and deletes it; it
// returns the status Wait reported.
func (s *suite) lifecycle(ctx context.Context, id string, status uint32) (uint32, error) {
	c, task, err := s.tryStart(ctx, id, fmt.Sprintf("exit %d", status))
	if err != nil {
		return 0, err
	}
	exitCh, err := task.Wait(ctx)
	if err != nil {
		return 0, err
	}
	code := (<-exitCh).ExitCode()
	return code, remove(ctx, c, task)
}

// Property 2: containerd SIGKILLs the shim as soon as Delete returns. Over
// many lifecycles no TaskExit is missing and none arrives after its
// TaskDelete, because Delete of the init flushes the publisher first.
func TestShimKilledRightAfterDelete(t *testing.T) {
	s := newSuite(t, options{})
	rec := s.record()
	lifecycles := scale(100)
	const parallel = 3
	start := time.Now()
	want, errs := s.runLifecycles("del", lifecycles, parallel, func(i int) uint32 { return uint32(i % 7) })
	for _, err := range errs {
		t.Error(err)
	}
	elapsed := time.Since(start)
	time.Sleep(time.Second) // anything late would show now
	events := rec.snapshot()
	got := check(events, want)
	report(t, map[string]interface{}{"lifecycles": lifecycles, "parallel": parallel, "seconds": elapsed.Seconds(), "tally": got})
	if measuringOnly() {
		return
	}
	if got.Lost != 0 || got.LateExit != 0 || got.WrongState != 0 || got.Delivered != lifecycles {
		t.Fatalf("exits: %+v", got)
	}
	if got.Duplicated != 0 {
		t.Fatalf("%d duplicated exits without any connection break", got.Duplicated)
	}
	if pids := s.shimPids(); len(pids) != 0 {
		t.Fatalf("shims still running after delete: %v", pids)
	}
}
