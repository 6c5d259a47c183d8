package grpcunary

import (
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
)

const checkMethod = "/grpc.health.v1.Health/Check"

// healthServer serves grpc-go's own health service on a unix socket: a real
// gRPC server for the client to talk to.
func healthServer(t *testing.T) (*grpc.Server, string) {
	t.Helper()
	address := filepath.Join(t.TempDir(), "grpc.sock")
	l, err := net.Listen("unix", address)
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer()
	h := health.NewServer()
	h.SetServingStatus("svc", healthpb.HealthCheckResponse_SERVING)
	healthpb.RegisterHealthServer(srv, h)
	go srv.Serve(l)
	t.Cleanup(srv.Stop)
	return srv, address
}

func dial(t *testing.T, address string) *Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	nc, err := net.Dial("unix", address)
	if err != nil {
		t.Fatal(err)
	}
	c, err := Dial(ctx, nc, "localhost")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func check(t *testing.T, c *Conn, service string) (healthpb.HealthCheckResponse_ServingStatus, error) {
	t.Helper()
	request, err := proto.Marshal(&healthpb.HealthCheckRequest{Service: service})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	response, err := c.Invoke(ctx, checkMethod, request)
	if err != nil {
		return 0, err
	}
	var r healthpb.HealthCheckResponse
	if err := proto.Unmarshal(response, &r); err != nil {
		t.Fatalf("response %x: %v", response, err)
	}
	return r.Status, nil
}

func wantCode(t *testing.T, err error, code codes.Code) {
	t.Helper()
	if s, ok := status.FromError(err); !ok || s.Code() != code {
		t.Fatalf("error %v, want code %v", err, code)
	}
}

// Many calls on one connection: the responses' DATA outgrow the server's
// connection window many times, so the client must give it back.
func TestManyCallsOnOneConnection(t *testing.T) {
	_, address := healthServer(t)
	c := dial(t, address)
	for i := 0; i < 30000; i++ {
		got, err := check(t, c, "svc")
		if err != nil {
			t.Fatalf("call %d: %v", i, err)
		}
		if got != healthpb.HealthCheckResponse_SERVING {
			t.Fatalf("call %d: status %v", i, got)
		}
	}
}

func TestServerStatusIsReturned(t *testing.T) {
	_, address := healthServer(t)
	c := dial(t, address)
	_, err := check(t, c, "nope")
	wantCode(t, err, codes.NotFound)
	if s, _ := status.FromError(err); s.Message() != "unknown service" {
		t.Errorf("message %q, want grpc-go's %q", s.Message(), "unknown service")
	}
	_, err = c.Invoke(context.Background(), "/grpc.health.v1.Health/Nope", nil)
	wantCode(t, err, codes.Unimplemented)
	_, err = c.Invoke(context.Background(), "/no.Such/Service", nil)
	wantCode(t, err, codes.Unimplemented)
	// A status is the call's outcome: the connection goes on.
	if _, err := check(t, c, "svc"); err != nil {
		t.Fatal(err)
	}
}

// A request larger than the server's 64 KiB initial windows is sent as the
// server opens them.
func TestRequestBeyondFlowControlWindow(t *testing.T) {
	_, address := healthServer(t)
	c := dial(t, address)
	_, err := check(t, c, strings.Repeat("x", 300<<10))
	wantCode(t, err, codes.NotFound)
	if _, err := check(t, c, "svc"); err != nil {
		t.Fatal(err)
	}
}

func TestStoppedServerIsUnavailable(t *testing.T) {
	srv, address := healthServer(t)
	c := dial(t, address)
	if _, err := check(t, c, "svc"); err != nil {
		t.Fatal(err)
	}
	srv.Stop()
	for i := 0; i < 2; i++ { // and the connection stays failed
		_, err := check(t, c, "svc")
		wantCode(t, err, codes.Unavailable)
	}
}

// A graceful stop sends GOAWAY and PINGs the client; a call made then is
// either served or refused as Unavailable, and none is started afterwards.
func TestGoAway(t *testing.T) {
	srv, address := healthServer(t)
	c := dial(t, address)
	stopped := make(chan struct{})
	go func() { srv.GracefulStop(); close(stopped) }()
	time.Sleep(100 * time.Millisecond) // let the GOAWAY be sent
	if _, err := check(t, c, "svc"); err != nil {
		wantCode(t, err, codes.Unavailable)
	}
	_, err := check(t, c, "svc")
	wantCode(t, err, codes.Unavailable)
	c.Close()
	<-stopped
}

// silentServer accepts, sends its SETTINGS, then reads and never answers.
func silentServer(t *testing.T, preface []byte) string {
	address := filepath.Join(t.TempDir(), "silent.sock")
	l, err := net.Listen("unix", address)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			nc, err := l.Accept()
			if err != nil {
				return
			}
			t.Cleanup(func() { nc.Close() })
			nc.Write(preface)
			go func() {
				buf := make([]byte, 4096)
				for {
					if _, err := nc.Read(buf); err != nil {
						return
					}
				}
			}()
		}
	}()
	return address
}

var emptySettings = []byte{0, 0, 0, frameSettings, 0, 0, 0, 0, 0}

func TestContextEndsAHeldCall(t *testing.T) {
	c := dial(t, silentServer(t, emptySettings))
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	_, err := c.Invoke(ctx, checkMethod, nil)
	wantCode(t, err, codes.DeadlineExceeded)

	c = dial(t, silentServer(t, emptySettings))
	ctx, cancel = context.WithCancel(context.Background())
	go func() { time.Sleep(100 * time.Millisecond); cancel() }()
	_, err = c.Invoke(ctx, checkMethod, nil)
	wantCode(t, err, codes.Canceled)
	// The held call's fate is unknown: the connection is not reused.
	_, err = c.Invoke(context.Background(), checkMethod, nil)
	wantCode(t, err, codes.Canceled)
}

func TestDialRefusesNonHTTP2Peer(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	nc, err := net.Dial("unix", silentServer(t, []byte("HTTP/1.1 400 Bad Request\r\n\r\n")))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Dial(ctx, nc, "localhost"); err == nil || !strings.Contains(err.Error(), "HTTP/2") {
		t.Fatalf("Dial: %v, want a not-HTTP/2 error", err)
	}

	// A peer that never speaks: Dial ends with its context.
	nc, err = net.Dial("unix", silentServer(t, nil))
	if err != nil {
		t.Fatal(err)
	}
	short, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
	defer cancel()
	if _, err := Dial(short, nc, "localhost"); !errors.Is(err, os.ErrDeadlineExceeded) && !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Dial: %v, want a deadline error", err)
	}
}

func TestEncodeTimeout(t *testing.T) {
	for d, want := range map[time.Duration]string{
		-time.Second:           "1n",
		1500 * time.Nanosecond: "1500n",
		time.Second:            "1000000u",
		5 * time.Minute:        "300000m",
		200 * time.Hour:        "720000S",
		30000 * time.Hour:      "1800000M",
	} {
		if got := encodeTimeout(d); got != want {
			t.Errorf("encodeTimeout(%v) = %q, want %q", d, got, want)
		}
	}
}

func TestDecodeMessage(t *testing.T) {
	if got := decodeMessage("caf%C3%A9 100%25 %zz"); got != "café 100% %zz" {
		t.Errorf("got %q", got)
	}
}
