package reliability

import (
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

// Property 2: containerd SIGKILLs the shim as soon as Delete returns. Over
// many lifecycles no TaskExit is missing and none arrives after its
// TaskDelete, because Delete of the init flushes the publisher first.
func TestShimKilledRightAfterDelete(t *testing.T) {
	s := newSuite(t, options{})
	rec := s.record()
	lifecycles := scale(100)
	const parallel = 3
	want := map[string]uint32{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	errs := make(chan error, lifecycles)
	ids := make(chan int)
	start := time.Now()
	for w := 0; w < parallel; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range ids {
				id := fmt.Sprintf("del-%d", i)
				status := uint32(i % 7)
				ctx := s.ctx()
				c, task, err := s.tryStart(ctx, id, fmt.Sprintf("exit %d", status))
				if err != nil {
					errs <- err
					continue
				}
				exitCh, err := task.Wait(ctx)
				if err != nil {
					errs <- err
					continue
				}
				if st := <-exitCh; st.ExitCode() != status {
					errs <- fmt.Errorf("%s: Wait says %d, want %d", id, st.ExitCode(), status)
				}
				if err := remove(ctx, c, task); err != nil {
					errs <- err
				}
				mu.Lock()
				want[id+"/"+id] = status
				mu.Unlock()
			}
		}()
	}
	for i := 0; i < lifecycles; i++ {
		ids <- i
	}
	close(ids)
	wg.Wait()
	close(errs)
	for err := range errs {
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
