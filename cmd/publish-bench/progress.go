package main

import (
	"fmt"
	"io"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"
)

// progress prints one status line to stderr while the run goes on: redrawn
// in place on a terminal, a plain line every few seconds otherwise (logs).
type progress struct {
	out      io.Writer
	terminal bool
	start    time.Time
	total    int64
	done     atomic.Int64

	mu    sync.Mutex
	phase string
	stop  chan struct{}
	ended chan struct{}
}

func newProgress(quiet bool, total int64) *progress {
	if quiet {
		return nil
	}
	_, err := unix.IoctlGetTermios(int(os.Stderr.Fd()), unix.TCGETS)
	p := &progress{out: os.Stderr, terminal: err == nil, start: time.Now(), total: total,
		stop: make(chan struct{}), ended: make(chan struct{})}
	go p.loop()
	return p
}

func (p *progress) add(n int64) {
	if p != nil {
		p.done.Add(n)
	}
}

func (p *progress) setPhase(s string) {
	if p == nil {
		return
	}
	p.mu.Lock()
	p.phase = s
	p.mu.Unlock()
}

func (p *progress) line() string {
	p.mu.Lock()
	phase := p.phase
	p.mu.Unlock()
	done := p.done.Load()
	return fmt.Sprintf("%s  %d/%d events (%.0f%%)  %s elapsed", phase, done, p.total,
		100*float64(done)/float64(max(p.total, 1)), time.Since(p.start).Round(time.Second))
}

func (p *progress) loop() {
	defer close(p.ended)
	every := 5 * time.Second
	if p.terminal {
		every = 250 * time.Millisecond
	}
	tick := time.NewTicker(every)
	defer tick.Stop()
	for {
		select {
		case <-tick.C:
			if p.terminal {
				fmt.Fprintf(p.out, "\r\033[K%s", p.line())
			} else {
				fmt.Fprintln(p.out, p.line())
			}
		case <-p.stop:
			if p.terminal {
				fmt.Fprint(p.out, "\r\033[K")
			}
			return
		}
	}
}

func (p *progress) close() {
	if p == nil {
		return
	}
	close(p.stop)
	<-p.ended
}
