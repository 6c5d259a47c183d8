package cri_test

import (
	"context"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/google/gvisor-containerd-shim/internal/cri"
)

// rootNetnsMisfire is how a 2022 runsc refuses network = "sandbox" in
// every pod: its root-netns check looks for a file every netns has on
// recent kernels.
const rootNetnsMisfire = "cannot run with network enabled in root network namespace"

// nodeWithShimConfig returns the test's node when it runs with cfg, else a
// node of the test's own with cfg, closed when the test ends.
func nodeWithShimConfig(t *testing.T, cfg string) *cri.Node {
	t.Helper()
	if n := requireNode(t); n.ShimConfig == cfg {
		return n
	}
	n, err := cri.Start(timeout(t, 3*time.Minute), cri.Options{Shim: shimPath, ShimConfig: cfg})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.Close() })
	return n
}

// webPod runs a runsc pod serving "page-<name>" on 8080 and returns its IP.
func webPod(t *testing.T, n *cri.Node, name string) (*cri.Pod, string, net.IP) {
	t.Helper()
	pod := runPod(t, n, cri.Runsc, name)
	ctx := timeout(t, 2*time.Minute)
	page := "page-" + name
	id, err := pod.Run(ctx, cri.Container{Name: "httpd", Command: []string{"sh", "-c",
		`mkdir -p /www && echo ` + page + ` > /www/index.html && echo ready && exec httpd -f -p 8080 -h /www`}})
	if err != nil {
		t.Fatal(err)
	}
	waitLogged(t, n, id, "ready")
	ip, err := pod.IP(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return pod, id, ip
}

// getFromPod fetches http://ip:8080/ from inside container id (busybox nc:
// this runsc's hostinet fails busybox wget's non-blocking connect) and
// checks the page is want.
func getFromPod(t *testing.T, n *cri.Node, id string, ip net.IP, want string) {
	t.Helper()
	// Bounded: at most 20 tries of 5 s, to the other pod's own address.
	script := `for i in $(seq 20); do printf 'GET / HTTP/1.0\r\n\r\n' | nc -w 5 ` + ip.String() + ` 8080 && exit 0; sleep 0.2; done; exit 1`
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	out, err := n.Crictl(ctx, "exec", "-s", id, "sh", "-c", script)
	if err != nil || !strings.Contains(string(out), want) {
		t.Errorf("from container %s, GET %s:8080: %v, %q; want %q", id, ip, err, out, want)
	}
}

// Pods on runsc, for each [runsc_config] network mode the shim can set:
// with "sandbox" (gVisor's own network stack) and "host" (the host's stack
// in the pod's CNI netns), each pod's IP serves the host and the other pod.
// A 2022 runsc refuses "sandbox" in every pod (docs/cri.md's table).
func TestPodNetworkModes(t *testing.T) {
	for _, mode := range []string{"sandbox", "host"} {
		t.Run(mode, func(t *testing.T) {
			n := nodeWithShimConfig(t, "[runsc_config]\n  network = \""+mode+"\"\n")
			if mode == "sandbox" && cri.Runsc2022(n.RunscVersion) {
				pod, err := n.RunPod(timeout(t, 2*time.Minute), cri.Runsc, "netstack")
				if err == nil {
					pod.Remove(timeout(t, time.Minute))
					t.Fatalf("%s ran a pod with network = \"sandbox\"; docs/cri.md says it cannot", n.RunscVersion)
				}
				if !strings.Contains(err.Error(), rootNetnsMisfire) {
					t.Fatalf("runp with network = \"sandbox\" on %s: %v; want %q", n.RunscVersion, err, rootNetnsMisfire)
				}
				return
			}
			_, a, ipA := webPod(t, n, "net-a")
			_, b, ipB := webPod(t, n, "net-b")
			getFromHost(t, ipA, "page-net-a")
			getFromHost(t, ipB, "page-net-b")
			getFromPod(t, n, b, ipA, "page-net-a")
			getFromPod(t, n, a, ipB, "page-net-b")
		})
	}
}
