package cri_test

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/gvisor-containerd-shim/internal/cri"
)

// Two containers of one pod reach each other on localhost and share a
// hostPath volume; on runsc both run in the pod's one gVisor sandbox.
func TestPodContainersShareLocalhostVolumeAndSandbox(t *testing.T) {
	forEachHandler(t, func(t *testing.T, n *cri.Node, handler string) {
		pod := runPod(t, n, handler, "shared")
		ctx := timeout(t, 3*time.Minute)
		volume := t.TempDir()
		mount := []cri.Mount{{HostPath: volume, ContainerPath: "/data"}}
		server, err := pod.Run(ctx, cri.Container{Name: "server", Mounts: mount, Command: []string{"sh", "-c",
			`echo from-server > /data/note; echo ready; while :; do nc -l -p 9090 -e echo hello-over-localhost; done`}})
		if err != nil {
			t.Fatal(err)
		}
		waitLogged(t, n, server, "ready")
		client, err := pod.Run(ctx, cri.Container{Name: "client", Mounts: mount, Command: []string{"sh", "-c",
			`cat /data/note; echo from-client > /data/reply; for i in $(seq 50); do nc 127.0.0.1 9090 </dev/null && exit 0; sleep 0.1; done; exit 1`}})
		if err != nil {
			t.Fatal(err)
		}
		st, err := n.WaitExited(timeout(t, 30*time.Second), client)
		if err != nil {
			t.Fatal(err)
		}
		stdout, _ := logs(t, n, client)
		if st.ExitCode != 0 || !strings.Contains(stdout, "hello-over-localhost") {
			t.Errorf("client over localhost: exit %d, stdout %q; want 0 and the server's hello", st.ExitCode, stdout)
		}
		if !strings.Contains(stdout, "from-server") {
			t.Errorf("client did not read the server's file in the shared volume: stdout %q", stdout)
		}
		if b, err := os.ReadFile(filepath.Join(volume, "reply")); err != nil || string(b) != "from-client\n" {
			t.Errorf("the client's file on the host: %q, %v", b, err)
		}
		if handler == cri.Runsc {
			if got := len(cri.SandboxPids(pod.ID)); got != 1 {
				t.Errorf("%d runsc-sandbox processes for the pod, want 1", got)
			}
			for _, id := range []string{server, client} {
				if got := len(cri.SandboxPids(id)); got != 0 {
					t.Errorf("container %s has %d runsc-sandbox processes of its own, want 0 (it joins the pod's)", id, got)
				}
			}
		}
	})
}

// The pod's IP on the CNI bridge answers from the host.
func TestPodIPAnswersFromHost(t *testing.T) {
	forEachHandler(t, func(t *testing.T, n *cri.Node, handler string) {
		pod := runPod(t, n, handler, "web")
		ctx := timeout(t, 2*time.Minute)
		want := "pong-from-" + handler
		id, err := pod.Run(ctx, cri.Container{Name: "httpd", Command: []string{"sh", "-c",
			`mkdir -p /www && echo ` + want + ` > /www/index.html && echo ready && exec httpd -f -p 8080 -h /www`}})
		if err != nil {
			t.Fatal(err)
		}
		waitLogged(t, n, id, "ready")
		ip, err := pod.IP(ctx)
		if err != nil {
			t.Fatal(err)
		}
		getFromHost(t, ip, want)
	})
}

// getFromHost fetches http://ip:8080/ and checks the page is want.
func getFromHost(t *testing.T, ip net.IP, want string) {
	t.Helper()
	// Bounded: at most 50 requests, straight to the pod's own address
	// (never through a proxy from the environment).
	client := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{Proxy: nil}}
	var lastErr error
	for i := 0; i < 50; i++ {
		resp, err := client.Get(fmt.Sprintf("http://%s:8080/", ip))
		if err == nil {
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if strings.TrimSpace(string(body)) != want {
				t.Fatalf("GET %s: %q, want %q", ip, body, want)
			}
			return
		}
		lastErr = err
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("pod IP %s did not answer: %v", ip, lastErr)
}
