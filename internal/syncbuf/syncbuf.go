// Package syncbuf is a bytes.Buffer that goroutines share: the sink of a
// child process's output or of a containerd client's stdio copiers, read by
// the code that started them while they may still write.
package syncbuf

import (
	"bytes"
	"sync"
)

// Buffer is safe for concurrent use. The zero value is an empty buffer that
// keeps everything written to it.
type Buffer struct {
	// Max, when above zero, is how many bytes are kept: writes beyond it
	// are accepted and discarded, so that a chatty child cannot grow its
	// reader's memory.
	Max int

	mu sync.Mutex
	b  bytes.Buffer
}

// Write appends p (as much of it as Max leaves room for) and reports all of
// it written, so that the writer never fails over the cap.
func (b *Buffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	keep := p
	if b.Max > 0 {
		keep = p[:min(len(p), max(b.Max-b.b.Len(), 0))]
	}
	b.b.Write(keep)
	return len(p), nil
}

// String returns what was kept so far.
func (b *Buffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// Bytes returns a copy of what was kept so far.
func (b *Buffer) Bytes() []byte {
	b.mu.Lock()
	defer b.mu.Unlock()
	return bytes.Clone(b.b.Bytes())
}
