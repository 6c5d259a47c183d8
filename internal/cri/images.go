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

// Image is a name for the busybox layer with a command of its own; nil Cmd
// is busybox's shell.
type Image struct {
	Name string
	Cmd  []string
}

// webServer is the command of the stand-ins for critest's httpd and nginx
// images: busybox httpd on port, and "httpd" in the log (critest looks
// for it).
func webServer(port int) []string {
	return []string{"sh", "-c", fmt.Sprintf(`mkdir -p /www && echo ok > /www/index.html && echo "httpd on :%d" && exec httpd -f -p %d -h /www`, port, port)}
}

// CritestImages are the names critest v1.37.0 pulls, all busybox stand-ins.
var CritestImages = []Image{
	{Name: "registry.k8s.io/e2e-test-images/busybox:1.29-2"},
	{Name: "registry.k8s.io/e2e-test-images/nonewprivs:1.3"},
	{Name: "registry.k8s.io/e2e-test-images/httpd:2.4.39-4", Cmd: webServer(80)},
	{Name: "registry.k8s.io/e2e-test-images/nginx:1.14-2", Cmd: webServer(80)},
	{Name: "gcr.io/k8s-staging-cri-tools/hostnet-nginx-" + runtime.GOARCH + ":latest", Cmd: webServer(12003)},
}

// file is one entry of a layer; a Link makes it a symlink.
type file struct {
	path string
	mode int64
	data []byte
	link string
}

// imageSet is the pause and busybox images as blobs and an OCI index that
// lists each manifest once per name (io.containerd.image.name).
type imageSet struct {
	blobs map[digest.Digest][]byte
	index ocispec.Index
	// busybox is the busybox manifest, which the registry serves for any
	// name it does not know.
	busybox ocispec.Descriptor
	// byName are the manifests by image name.
	byName map[string]ocispec.Descriptor
}

// buildImages builds the pause image (named SandboxImage) and the busybox
// image (BusyboxImage), and more images from its layer. Nothing is pulled.
func buildImages(workDir string, more []Image) (*imageSet, error) {
	pause, err := buildPause(workDir)
	if err != nil {
		return nil, err
	}
	bb, err := busyboxFiles()
	if err != nil {
		return nil, err
	}
	pauseLayer, err := layerTar(append(baseDirs(), file{path: "pause", mode: 0o755, data: pause}))
	if err != nil {
		return nil, err
	}
	bbLayer, err := layerTar(append(baseDirs(), bb...))
	if err != nil {
		return nil, err
	}
	path := "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
	set := &imageSet{
		blobs:  map[digest.Digest][]byte{},
		index:  ocispec.Index{Versioned: specs.Versioned{SchemaVersion: 2}, MediaType: ocispec.MediaTypeImageIndex},
		byName: map[string]ocispec.Descriptor{},
	}
	if _, err = set.add(SandboxImage, pauseLayer, ocispec.ImageConfig{Entrypoint: []string{"/pause"}, Env: []string{path}}); err != nil {
		return nil, err
	}
	if set.busybox, err = set.add(BusyboxImage, bbLayer, ocispec.ImageConfig{Cmd: []string{"sh"}, Env: []string{path}}); err != nil {
		return nil, err
	}
	for _, img := range more {
		cmd := img.Cmd
		if cmd == nil {
			cmd = []string{"sh"}
		}
		if _, err = set.add(img.Name, bbLayer, ocispec.ImageConfig{Cmd: cmd, Env: []string{path}}); err != nil {
			return nil, err
		}
	}
	return set, nil
}

// importInto imports the set into namespace k8s.io and unpacks it for
// the default snapshotter, as a pull would.
func (set *imageSet) importInto(ctx context.Context, client *containerd.Client) error {
	var archive bytes.Buffer
	if err := set.writeOCIArchive(&archive); err != nil {
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

func (set *imageSet) blob(mediaType string, data []byte) ocispec.Descriptor {
	d := ocispec.Descriptor{MediaType: mediaType, Digest: digest.FromBytes(data), Size: int64(len(data))}
	set.blobs[d.Digest] = data
	return d
}

// add adds a one-layer image named name and returns its manifest.
func (set *imageSet) add(name string, layerTar []byte, config ocispec.ImageConfig) (ocispec.Descriptor, error) {
	layer := set.blob(ocispec.MediaTypeImageLayer, layerTar)
	cfg, err := json.Marshal(ocispec.Image{
		Platform: ocispec.Platform{Architecture: runtime.GOARCH, OS: "linux"},
		Config:   config,
		RootFS:   ocispec.RootFS{Type: "layers", DiffIDs: []digest.Digest{layer.Digest}},
	})
	if err != nil {
		return ocispec.Descriptor{}, err
	}
	man, err := json.Marshal(ocispec.Manifest{
		Versioned: specs.Versioned{SchemaVersion: 2},
		MediaType: ocispec.MediaTypeImageManifest,
		Config:    set.blob(ocispec.MediaTypeImageConfig, cfg),
		Layers:    []ocispec.Descriptor{layer},
	})
	if err != nil {
		return ocispec.Descriptor{}, err
	}
	manifest := set.blob(ocispec.MediaTypeImageManifest, man)
	set.byName[name] = manifest
	d := manifest
	d.Annotations = map[string]string{images.AnnotationImageName: name}
	set.index.Manifests = append(set.index.Manifests, d)
	return manifest, nil
}

// writeOCIArchive writes the set as an OCI image layout tar, which
// containerd's import reads names from (io.containerd.image.name).
func (set *imageSet) writeOCIArchive(w io.Writer) error {
	tw := tar.NewWriter(w)
	for d, data := range set.blobs {
		if err := writeTarFile(tw, "blobs/sha256/"+d.Encoded(), data); err != nil {
			return err
		}
	}
	idx, err := json.Marshal(set.index)
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
