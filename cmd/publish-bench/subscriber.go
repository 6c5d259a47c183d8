package main

import (
	"bufio"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"

	"github.com/containerd/containerd"
	eventstypes "github.com/containerd/containerd/api/events"
	eventsapi "github.com/containerd/containerd/api/services/events/v1"
	"github.com/containerd/typeurl"
	"github.com/gogo/protobuf/types"

	"github.com/google/gvisor-containerd-shim/internal/syncbuf"
)

// The subscriber runs in a child process (this binary again, told by the
// environment) so that its CPU stays out of the publishing side's figures.
// It keeps one fixed-size record per TaskExit it receives, the event's
// sequence number and the CLOCK_MONOTONIC time it arrived, and writes what
// it has to stdout whenever the parent writes a byte to its stdin. Records
// thus reach the parent in a few batches per phase: reading one per event
// would cost the publishing side a wakeup per event that no shim pays.
const (
	subscriberEnv = "PUBLISH_BENCH_SUBSCRIBER" // the daemon's address
	namespaceEnv  = "PUBLISH_BENCH_NAMESPACE"
	recordSize    = 16
	idPrefix      = "bench-"
)

// maxStderr is how much of a child's output (the subscriber's, a shim's) is
// kept for error messages.
const maxStderr = 8 << 10

// arrival is one event as the subscriber saw it.
type arrival struct {
	seq  uint64
	when int64 // CLOCK_MONOTONIC ns
}

// runSubscriberIfChild runs the subscriber and exits when this process was
// started as one; otherwise it returns.
func runSubscriberIfChild() {
	address, ok := os.LookupEnv(subscriberEnv)
	if !ok {
		return
	}
	if err := subscribe(address, os.Getenv(namespaceEnv), os.Stdin, os.Stdout); err != nil {
		fmt.Fprintf(os.Stderr, "publish-bench subscriber: %v\n", err)
		os.Exit(1)
	}
	os.Exit(0)
}

func subscribe(address, namespace string, in io.Reader, out io.Writer) error {
	client, err := containerd.New(address)
	if err != nil {
		return fmt.Errorf("connect to containerd at %s: %w", address, err)
	}
	defer client.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	// The events API's own client rather than EventService().Subscribe,
	// which hands each envelope through one more goroutine: receipt is
	// timestamped right where gRPC returns it.
	filter := fmt.Sprintf("topic==%q,namespace==%q", topicTaskExit, namespace)
	session, err := eventsapi.NewEventsClient(client.Conn()).Subscribe(ctx, &eventsapi.SubscribeRequest{Filters: []string{filter}})
	if err != nil {
		return fmt.Errorf("subscribe to %s: %w", address, err)
	}

	var (
		mu sync.Mutex // guards w: the receiver writes, the flusher flushes
		w  = bufio.NewWriterSize(out, 64<<10)
	)
	go func() {
		b := make([]byte, 64)
		for {
			if _, err := in.Read(b); err != nil {
				cancel() // parent gone: the run is over
				return
			}
			mu.Lock()
			err := w.Flush()
			mu.Unlock()
			if err != nil {
				cancel()
				return
			}
		}
	}()
	var buf [recordSize]byte
	for {
		env, err := session.Recv()
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("subscription to %s: %w", address, err)
		}
		when := monotonicNow()
		seq, err := sequenceOf(env.Event)
		if err != nil {
			return err
		}
		binary.LittleEndian.PutUint64(buf[:8], seq)
		binary.LittleEndian.PutUint64(buf[8:], uint64(when))
		mu.Lock()
		w.Write(buf[:]) // writes through once 4096 records are buffered
		mu.Unlock()
	}
}

func sequenceOf(any *types.Any) (uint64, error) {
	v, err := typeurl.UnmarshalAny(any)
	if err != nil {
		return 0, fmt.Errorf("decode event: %w", err)
	}
	exit, ok := v.(*eventstypes.TaskExit)
	if !ok {
		return 0, fmt.Errorf("event %s is not a TaskExit", any.TypeUrl)
	}
	s, ok := strings.CutPrefix(exit.ContainerID, idPrefix)
	if !ok {
		return 0, fmt.Errorf("TaskExit for %q, not one of ours", exit.ContainerID)
	}
	return strconv.ParseUint(s, 10, 64)
}

// subscriberProcess is the parent's handle on the subscriber child.
type subscriberProcess struct {
	cmd      *exec.Cmd
	arrivals chan arrival // closed when the child's output ends
	stderr   *syncbuf.Buffer
	stdin    io.WriteCloser
}

// requestFlush asks the subscriber for the records it holds.
func (s *subscriberProcess) requestFlush() {
	s.stdin.Write([]byte{0}) // a dead child shows as arrivals closing
}

func startSubscriber(address, namespace string) (*subscriberProcess, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("find own executable for the subscriber: %w", err)
	}
	cmd := exec.Command(self)
	cmd.Env = append(os.Environ(), subscriberEnv+"="+address, namespaceEnv+"="+namespace)
	// The child must not outlive a killed parent.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	s := &subscriberProcess{cmd: cmd, arrivals: make(chan arrival, 1<<16), stderr: &syncbuf.Buffer{Max: maxStderr}}
	cmd.Stderr = s.stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if s.stdin, err = cmd.StdinPipe(); err != nil {
		return nil, err
	}
	// Not through reaper.Default.Start: a subscription held for the whole
	// run would fill up and stall every fork's reaping. The SIGCHLD reaper
	// collects this child when it ends.
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start subscriber: %w", err)
	}
	go func() {
		defer close(s.arrivals)
		r := bufio.NewReaderSize(stdout, 64<<10)
		var buf [recordSize]byte
		for {
			if _, err := io.ReadFull(r, buf[:]); err != nil {
				return
			}
			s.arrivals <- arrival{
				seq:  binary.LittleEndian.Uint64(buf[:8]),
				when: int64(binary.LittleEndian.Uint64(buf[8:])),
			}
		}
	}()
	return s, nil
}

// failure explains why the arrivals channel closed.
func (s *subscriberProcess) failure() error {
	msg := strings.TrimSpace(s.stderr.String())
	if msg == "" {
		msg = "no message"
	}
	return fmt.Errorf("subscriber ended: %s", msg)
}

func (s *subscriberProcess) stop() {
	s.stdin.Close()
	s.cmd.Process.Kill()
	s.cmd.Wait() // ECHILD when the reaper got it first
}
