package cri

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/containerd/containerd"
	"github.com/containerd/containerd/images"
	"github.com/containerd/containerd/namespaces"
	"github.com/opencontainers/go-digest"
	specs "github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/google/gvisor-containerd-shim/internal/rootfs"
)

// Namespace is the containerd namespace the CRI plugin keeps its images
// and containers in.
const Namespace = "k8s.io"

// BusyboxImage is the name the tests' containers use.
const BusyboxImage = "localhost/cri-test/busybox:latest"

// CritestImages are the names critest v1.37.0 pulls; the busybox image
// stands in for all of them (busybox has httpd and nc).
var CritestImages = []string{
	"registry.k8s.io/e2e-test-images/busybox:1.29-2",
	"registry.k8s.io/e2e-test-images/nginx:1.14-2",
	"registry.k8s.io/e2e-test-images/httpd:2.4.39-4",
	"registry.k8s.io/e2e-test-images/nonewprivs:1.3",
	"gcr.io/k8s-staging-cri-tools/hostnet-nginx-" + runtime.GOARCH + ":latest",
	"gcr.io/k8s-staging-cri-tools/test-image-latest:latest",
	"gcr.io/k8s-staging-cri-tools/test-image-tags:1",
	"gcr.io/k8s-staging-cri-tools/test-image-tags:2",
	"gcr.io/k8s-staging-cri-tools/test-image-tags:3",
	"gcr.io/k8s-staging-cri-tools/test-image-user-uid:latest",
	"gcr.io/k8s-staging-cri-tools/test-image-user-username:latest",
	"gcr.io/k8s-staging-cri-tools/test-image-user-uid-group:latest",
	"gcr.io/k8s-staging-cri-tools/test-image-user-username-group:latest",
	"gcr.io/k8s-staging-cri-tools/test-image-predefined-group:latest",
}

// image is one image of the archive: its single layer and its config.
type image struct {
	names  []string
	layer  []byte
	config ocispec.ImageConfig
}

// file is one entry of a layer; a Link makes it a symlink.
type file struct {
	path string
	mode int64
	data []byte
	link string
}

// ImportImages builds the pause image (as SandboxImage) and the busybox
// image (as BusyboxImage and extraNames), imports them into namespace
// k8s.io and unpacks them for the default snapshotter. Nothing is pulled.
func ImportImages(ctx context.Context, client *containerd.Client, workDir string, extraNames []string) error {
	pause, err := buildPause(workDir)
	if err != nil {
		return err
	}
	bb, err := busyboxFiles()
	if err != nil {
		return err
	}
	pauseLayer, err := layerTar(append(baseDirs(), file{path: "pause", mode: 0o755, data: pause}))
	if err != nil {
		return err
	}
	bbLayer, err := layerTar(append(baseDirs(), bb...))
	if err != nil {
		return err
	}
	path := "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
	var archive bytes.Buffer
	if err := writeOCIArchive(&archive, []image{
		{names: []string{SandboxImage}, layer: pauseLayer, config: ocispec.ImageConfig{Entrypoint: []string{"/pause"}, Env: []string{path}}},
		{names: append([]string{BusyboxImage}, extraNames...), layer: bbLayer, config: ocispec.ImageConfig{Cmd: []string{"sh"}, Env: []string{path}}},
	}); err != nil {
		return err
	}
	ctx = namespaces.WithNamespace(ctx, Namespace)
	imgs, err := client.Import(ctx, &archive)
	if err != nil {
		return fmt.Errorf("import images: %w", err)
	}
	for _, img := range imgs {
		if err := containerd.NewImage(client, img).Unpack(ctx, containerd.DefaultSnapshotter); err != nil {
			return fmt.Errorf("unpack %s: %w", img.Name, err)
		}
	}
	return nil
}

// buildPause builds ./internal/cri/pause static, as a pause image needs.
func buildPause(workDir string) ([]byte, error) {
	root, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", "github.com/google/gvisor-containerd-shim").Output()
	if err != nil {
		return nil, fmt.Errorf("pause image: locate the module (go list -m): %w", err)
	}
	out := filepath.Join(workDir, "pause")
	cmd := exec.Command("go", "build", "-o", out, "./internal/cri/pause")
	cmd.Dir = strings.TrimSpace(string(root))
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("pause image: go build: %v\n%s", err, b)
	}
	return os.ReadFile(out)
}

func baseDirs() []file {
	var fs []file
	for _, d := range []string{"bin", "dev", "etc", "proc", "sys", "tmp", "var", "root"} {
		fs = append(fs, file{path: d + "/", mode: 0o755})
	}
	fs = append(fs,
		file{path: "etc/passwd", mode: 0o644, data: []byte("root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n")},
		file{path: "etc/group", mode: 0o644, data: []byte("root:x:0:\nnobody:x:65534:\n")})
	return fs
}

// busyboxFiles is Debian's static busybox with a symlink per applet.
func busyboxFiles() ([]file, error) {
	bin, err := os.ReadFile(rootfs.BusyboxPath)
	if err != nil {
		return nil, fmt.Errorf("busybox image (install busybox-static): %w", err)
	}
	list, err := exec.Command(rootfs.BusyboxPath, "--list").Output()
	if err != nil {
		return nil, fmt.Errorf("busybox --list: %w", err)
	}
	fs := []file{{path: "bin/busybox", mode: 0o755, data: bin}}
	for _, applet := range strings.Fields(string(list)) {
		if applet != "busybox" {
			fs = append(fs, file{path: "bin/" + applet, link: "busybox"})
		}
	}
	return fs, nil
}

func layerTar(files []file) ([]byte, error) {
	var b bytes.Buffer
	tw := tar.NewWriter(&b)
	epoch := time.Unix(0, 0)
	for _, f := range files {
		h := &tar.Header{Name: f.path, Mode: f.mode, ModTime: epoch, Format: tar.FormatPAX}
		switch {
		case f.link != "":
			h.Typeflag, h.Linkname, h.Mode = tar.TypeSymlink, f.link, 0o777
		case strings.HasSuffix(f.path, "/"):
			h.Typeflag = tar.TypeDir
		default:
			h.Typeflag, h.Size = tar.TypeReg, int64(len(f.data))
		}
		if err := tw.WriteHeader(h); err != nil {
			return nil, err
		}
		if _, err := tw.Write(f.data); err != nil {
			return nil, err
		}
	}
	return b.Bytes(), tw.Close()
}

// writeOCIArchive writes an OCI image layout tar; each manifest is listed
// once per name, which containerd's import reads from
// io.containerd.image.name.
func writeOCIArchive(w io.Writer, imgs []image) error {
	tw := tar.NewWriter(w)
	blob := func(mediaType string, data []byte) (ocispec.Descriptor, error) {
		d := ocispec.Descriptor{MediaType: mediaType, Digest: digest.FromBytes(data), Size: int64(len(data))}
		return d, writeTarFile(tw, "blobs/sha256/"+d.Digest.Encoded(), data)
	}
	index := ocispec.Index{Versioned: specs.Versioned{SchemaVersion: 2}, MediaType: ocispec.MediaTypeImageIndex}
	for _, img := range imgs {
		layer, err := blob(ocispec.MediaTypeImageLayer, img.layer)
		if err != nil {
			return err
		}
		cfg, err := json.Marshal(ocispec.Image{
			Platform: ocispec.Platform{Architecture: runtime.GOARCH, OS: "linux"},
			Config:   img.config,
			RootFS:   ocispec.RootFS{Type: "layers", DiffIDs: []digest.Digest{layer.Digest}},
		})
		if err != nil {
			return err
		}
		config, err := blob(ocispec.MediaTypeImageConfig, cfg)
		if err != nil {
			return err
		}
		man, err := json.Marshal(ocispec.Manifest{
			Versioned: specs.Versioned{SchemaVersion: 2},
			MediaType: ocispec.MediaTypeImageManifest,
			Config:    config,
			Layers:    []ocispec.Descriptor{layer},
		})
		if err != nil {
			return err
		}
		manifest, err := blob(ocispec.MediaTypeImageManifest, man)
		if err != nil {
			return err
		}
		for _, name := range img.names {
			d := manifest
			d.Annotations = map[string]string{images.AnnotationImageName: name}
			index.Manifests = append(index.Manifests, d)
		}
	}
	idx, err := json.Marshal(index)
	if err != nil {
		return err
	}
	if err := writeTarFile(tw, "index.json", idx); err != nil {
		return err
	}
	if err := writeTarFile(tw, "oci-layout", []byte(`{"imageLayoutVersion":"1.0.0"}`)); err != nil {
		return err
	}
	return tw.Close()
}

func writeTarFile(tw *tar.Writer, name string, data []byte) error {
	if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(data)), Typeflag: tar.TypeReg}); err != nil {
		return err
	}
	_, err := tw.Write(data)
	return err
}
