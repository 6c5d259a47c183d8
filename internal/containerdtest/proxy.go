package containerdtest

import (
	"io"
	"net"
	"os"
	"sync"
	"testing"
)

// Proxy stands between shims and the daemon's ttrpc socket (see
// ctrdaemon.Config.TTRPCSocketName). While held, connections are accepted
// but not forwarded, so a test can restart the daemon and subscribe to its
// events before any shim gets through.
type Proxy struct {
	l      net.Listener
	target string

	mu   sync.Mutex
	gate chan struct{} // closed while released
}

// StartProxy listens on listen and forwards to target; it starts released.
func StartProxy(t testing.TB, listen, target string) *Proxy {
	t.Helper()
	os.Remove(listen)
	l, err := net.Listen("unix", listen)
	if err != nil {
		t.Fatal(err)
	}
	p := &Proxy{l: l, target: target, gate: make(chan struct{})}
	close(p.gate)
	go p.accept()
	t.Cleanup(func() { l.Close() })
	return p
}

// Hold makes new connections wait until Release.
func (p *Proxy) Hold() {
	p.mu.Lock()
	defer p.mu.Unlock()
	select {
	case <-p.gate:
		p.gate = make(chan struct{})
	default:
	}
}

// Release lets waiting and new connections through.
func (p *Proxy) Release() {
	p.mu.Lock()
	defer p.mu.Unlock()
	select {
	case <-p.gate:
	default:
		close(p.gate)
	}
}

func (p *Proxy) accept() {
	for {
		c, err := p.l.Accept()
		if err != nil {
			return
		}
		p.mu.Lock()
		gate := p.gate
		p.mu.Unlock()
		go func() {
			<-gate
			p.forward(c)
		}()
	}
}

// forward copies both ways; when either side ends, both are closed, as a
// daemon going away closes its connections.
func (p *Proxy) forward(c net.Conn) {
	defer c.Close()
	d, err := net.Dial("unix", p.target)
	if err != nil {
		return
	}
	defer d.Close()
	done := make(chan struct{}, 2)
	go func() { io.Copy(d, c); done <- struct{}{} }()
	go func() { io.Copy(c, d); done <- struct{}{} }()
	<-done
}
