package cri

import (
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// registry serves the image set over the registry API's pull side on
// loopback: each image under its name, the busybox image under every other
// name and tag (critest pulls many names; busybox stands in for them), and
// every blob by digest. Digests it does not hold are 404.
type registry struct {
	set      *imageSet
	listener net.Listener
	server   *http.Server
}

func startRegistry(set *imageSet) (*registry, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	r := &registry{set: set, listener: l}
	r.server = &http.Server{Handler: r}
	go r.server.Serve(l)
	return r, nil
}

// URL is the registry's http://127.0.0.1:port.
func (r *registry) URL() string { return "http://" + r.listener.Addr().String() }

// Close stops serving and closes the listener.
func (r *registry) Close() error { return r.server.Close() }

// ServeHTTP answers pulls (GET and HEAD) from the registry's blobs and
// manifests; anything else is refused.
func (r *registry) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	if req.Method != http.MethodGet && req.Method != http.MethodHead {
		http.Error(w, "pull only", http.StatusMethodNotAllowed)
		return
	}
	path := strings.TrimPrefix(req.URL.Path, "/v2/")
	if path == "" || path == req.URL.Path {
		w.Header().Set("Docker-Distribution-API-Version", "registry/2.0")
		return
	}
	if i := strings.LastIndex(path, "/manifests/"); i > 0 {
		name, ref := path[:i], path[i+len("/manifests/"):]
		// containerd names the registry host in ?ns= when it pulls
		// through a hosts.toml server.
		d, known := r.set.byName[req.URL.Query().Get("ns")+"/"+name+":"+ref]
		switch {
		case strings.HasPrefix(ref, "sha256:"):
			d = ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, Digest: digest.Digest(ref)}
		case !known:
			d = r.set.busybox
		}
		r.serveBlob(w, req, d.MediaType, d.Digest)
		return
	}
	if i := strings.LastIndex(path, "/blobs/"); i > 0 {
		r.serveBlob(w, req, "application/octet-stream", digest.Digest(path[i+len("/blobs/"):]))
		return
	}
	http.NotFound(w, req)
}

func (r *registry) serveBlob(w http.ResponseWriter, req *http.Request, mediaType string, d digest.Digest) {
	data, ok := r.set.blobs[d]
	if !ok {
		http.NotFound(w, req)
		return
	}
	w.Header().Set("Content-Type", mediaType)
	w.Header().Set("Docker-Content-Digest", d.String())
	w.Header().Set("Content-Length", strconv.Itoa(len(data)))
	if req.Method == http.MethodGet {
		w.Write(data)
	}
}

// writeHostsDir writes a containerd registry config_path directory that
// sends every pull from hosts to the registry, with no fallback to the
// real host: nothing leaves loopback.
func (r *registry) writeHostsDir(dir string, hosts []string) error {
	for _, h := range hosts {
		if err := os.MkdirAll(filepath.Join(dir, h), 0o755); err != nil {
			return err
		}
		conf := fmt.Sprintf("server = %q\n\n[host.%q]\n  capabilities = [\"pull\", \"resolve\"]\n", r.URL(), r.URL())
		if err := os.WriteFile(filepath.Join(dir, h, "hosts.toml"), []byte(conf), 0o644); err != nil {
			return err
		}
	}
	return nil
}
