package cri

import (
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"

	"github.com/google/gvisor-containerd-shim/internal/containerdtest"
)

func get(t *testing.T, method, url string) (int, http.Header, []byte) {
	t.Helper()
	req, _ := http.NewRequest(method, url, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, b
}

// The registry serves each image under its name (the host from ?ns=), the
// busybox image under any other name, blobs by digest, and nothing else;
// its hosts.toml sends pulls to it with no fallback host.
func TestRegistryServesTheImageSet(t *testing.T) {
	containerdtest.RequireBinaries(t, "busybox", "go")
	set, err := buildImages(t.TempDir(), CritestImages)
	if err != nil {
		t.Fatal(err)
	}
	r, err := startRegistry(set)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()

	if code, _, _ := get(t, http.MethodGet, r.URL()+"/v2/"); code != http.StatusOK {
		t.Errorf("GET /v2/: %d", code)
	}
	httpd := set.byName["registry.k8s.io/e2e-test-images/httpd:2.4.39-4"]
	for _, tc := range []struct {
		path string
		want digest.Digest
	}{
		{"/v2/e2e-test-images/httpd/manifests/2.4.39-4?ns=registry.k8s.io", httpd.Digest},
		{"/v2/pause/manifests/3.6?ns=registry.k8s.io", set.byName[SandboxImage].Digest},
		{"/v2/k8s-staging-cri-tools/test-image-tags/manifests/1?ns=gcr.io", set.busybox.Digest},
		{"/v2/any/manifests/" + httpd.Digest.String(), httpd.Digest},
	} {
		code, h, body := get(t, http.MethodGet, r.URL()+tc.path)
		if code != http.StatusOK || digest.FromBytes(body) != tc.want || h.Get("Docker-Content-Digest") != tc.want.String() {
			t.Errorf("GET %s: %d, digest %s (header %s), want %s", tc.path, code, digest.FromBytes(body), h.Get("Docker-Content-Digest"), tc.want)
		}
	}
	if httpd.Digest == set.busybox.Digest {
		t.Error("the httpd stand-in is the plain busybox image: it needs its own command")
	}
	for d := range set.blobs {
		if code, _, body := get(t, http.MethodGet, r.URL()+"/v2/x/blobs/"+d.String()); code != http.StatusOK || digest.FromBytes(body) != d {
			t.Errorf("blob %s: %d", d, code)
		}
		if code, _, body := get(t, http.MethodHead, r.URL()+"/v2/x/blobs/"+d.String()); code != http.StatusOK || len(body) != 0 {
			t.Errorf("HEAD blob %s: %d, %d bytes", d, code, len(body))
		}
		break
	}
	if code, _, _ := get(t, http.MethodGet, r.URL()+"/v2/x/blobs/"+digest.FromString("absent").String()); code != http.StatusNotFound {
		t.Errorf("unknown blob: %d, want 404", code)
	}
	if code, _, _ := get(t, http.MethodPost, r.URL()+"/v2/x/blobs/uploads/"); code != http.StatusMethodNotAllowed {
		t.Errorf("push: %d, want 405", code)
	}

	dir := t.TempDir()
	if err := r.writeHostsDir(dir, RegistryHosts); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(dir, "registry.k8s.io", "hosts.toml"))
	if err != nil || !strings.HasPrefix(string(b), `server = "`+r.URL()+`"`) {
		t.Errorf("hosts.toml: %q, %v; want server = the registry (no fallback to the real host)", b, err)
	}
}
