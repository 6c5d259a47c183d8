package cri

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/containerd/containerd"

	"github.com/google/gvisor-containerd-shim/internal/ctrdaemon"
	"github.com/google/gvisor-containerd-shim/shim/config"
)

// The handlers a Node serves, all on the v1 runtime through the one shim.
const (
	Runc  = "runc"  // runtime root base "runc": the exec hack runs containerd-shim
	Runsc = "runsc" // configured with the options table
	// RunscDeprecated is runsc configured the deprecated way, with
	// runtime_engine/runtime_root.
	RunscDeprecated = "runsc-deprecated"
	// GVisor is gVisor's own v2 shim (containerd-shim-runsc-v1), served
	// when Options.GVisorShim is set.
	GVisor = "gvisor"
)

// ErrMissing wraps the error of a Node that cannot start because a binary
// it needs is not installed.
var ErrMissing = errors.New("missing dependency")

// Options configure a Node.
type Options struct {
	// Shim is the built shim binary.
	Shim string
	// ShimConfig is the shim's -config; empty means ShimConfigFor the
	// runsc on PATH.
	ShimConfig string
	// Images are more images from the busybox layer (CritestImages).
	Images []Image
	// Registry serves the images on loopback to CRI's pulls from
	// RegistryHosts (critest pulls; a pull never leaves the host).
	Registry bool
	// GVisorShim, when set, is gVisor's own v2 shim binary: the node then
	// serves it as the GVisor handler, its directory first on containerd's
	// PATH, where containerd looks for containerd-shim-runsc-v1 (containerd
	// 1.7 and later: 1.6 cannot parse its start reply), with the same runsc
	// binary and [runsc_config] as ours.
	GVisorShim string
}

// RegistryHosts are the registries whose pulls a Node with a Registry
// serves itself.
var RegistryHosts = []string{"registry.k8s.io", "gcr.io", "docker.io", "quay.io"}

// Node is a throwaway containerd with the CRI plugin on, its own CNI
// network and images, driven with crictl.
type Node struct {
	Daemon   *ctrdaemon.Daemon
	Net      *network
	Handlers []Handler
	// RunscVersion is the first line of `runsc --version`.
	RunscVersion string
	// ShimConfig is the shim's -config the node runs with.
	ShimConfig string

	crictl       string
	crictlConfig string
	images       *imageSet
	registry     *registry // nil unless Options.Registry
}

// Start starts the node. Close stops it and removes what it left.
func Start(ctx context.Context, opts Options) (*Node, error) {
	crictl, err := FindCrictl()
	if err != nil {
		return nil, err
	}
	for _, bin := range []string{"runc", "runsc", "containerd-shim", filepath.Join(CNIBinDir, "bridge"), filepath.Join(CNIBinDir, "host-local"), filepath.Join(CNIBinDir, "loopback")} {
		if _, err := exec.LookPath(bin); err != nil {
			return nil, fmt.Errorf("%w: %s not found (make setup installs runc, runsc, containerd and containernetworking-plugins)", ErrMissing, bin)
		}
	}
	version, err := RunscVersion()
	if err != nil {
		return nil, err
	}
	shimConfig := opts.ShimConfig
	if shimConfig == "" {
		shimConfig = ShimConfigFor(version)
	}
	var env []string
	var runsc string
	if opts.GVisorShim != "" {
		shim, err := filepath.EvalSymlinks(opts.GVisorShim)
		if err != nil {
			return nil, err
		}
		if filepath.Base(shim) != "containerd-shim-runsc-v1" {
			return nil, fmt.Errorf("gVisor shim %s: containerd runs it only as containerd-shim-runsc-v1", shim)
		}
		env = []string{"PATH=" + filepath.Dir(shim) + ":" + os.Getenv("PATH")}
		if runsc, err = exec.LookPath("runsc"); err != nil {
			return nil, err
		}
	}
	n := &Node{crictl: crictl, RunscVersion: version, ShimConfig: shimConfig}
	buildDir, err := os.MkdirTemp("", "cri-images-")
	if err != nil {
		return nil, err
	}
	n.images, err = buildImages(buildDir, opts.Images)
	os.RemoveAll(buildDir)
	if err != nil {
		return nil, err
	}
	if opts.Registry {
		if n.registry, err = startRegistry(n.images); err != nil {
			return nil, err
		}
	}
	var netErr error
	cfg := ctrdaemon.Config{
		Shim:       opts.Shim,
		ShimConfig: shimConfig,
		Env:        env,
		CRI: func(dir, shim string) string {
			n.Handlers = []Handler{
				{Name: Runc, Runtime: "runc", RuntimeRoot: filepath.Join(dir, "runc")},
				{Name: Runsc, Runtime: "runsc", RuntimeRoot: filepath.Join(dir, "runsc")},
				{Name: RunscDeprecated, Runtime: "runsc", RuntimeRoot: filepath.Join(dir, "deprecated", "runsc"), Deprecated: true},
			}
			if opts.GVisorShim != "" {
				h := Handler{Name: GVisor, Runtime: runsc, RuntimeRoot: filepath.Join(dir, "gvisor"), GVisorConfig: filepath.Join(dir, "gvisor.toml")}
				if netErr = writeGVisorConfig(h, shimConfig); netErr != nil {
					return ""
				}
				n.Handlers = append(n.Handlers, h)
			}
			confDir := filepath.Join(dir, "cni", "net.d")
			n.Net, netErr = newNetwork(confDir, filepath.Join(dir, "cni", "ipam"))
			params := ConfigParams{
				Shim:         shim,
				SandboxImage: SandboxImage,
				CNIBinDir:    CNIBinDir,
				CNIConfDir:   confDir,
				Handlers:     n.Handlers,
			}
			if n.registry != nil && netErr == nil {
				params.RegistryConfigPath = filepath.Join(dir, "certs.d")
				netErr = n.registry.writeHostsDir(params.RegistryConfigPath, RegistryHosts)
			}
			return RenderConfig(params)
		},
	}
	d, err := ctrdaemon.New(cfg)
	if err == nil && netErr != nil {
		d.Close()
		err = netErr
	}
	if err != nil {
		if n.registry != nil {
			n.registry.Close()
		}
		if n.Net != nil {
			n.Net.remove()
		}
		return nil, err
	}
	n.Daemon = d
	n.crictlConfig = filepath.Join(d.Dir, "crictl.yaml")
	endpoint := "unix://" + d.Address
	if err := os.WriteFile(n.crictlConfig, []byte(fmt.Sprintf("runtime-endpoint: %s\nimage-endpoint: %s\ntimeout: 60\n", endpoint, endpoint)), 0o644); err != nil {
		n.Close()
		return nil, err
	}
	client, err := containerd.New(d.Address, containerd.WithTimeout(10*time.Second))
	if err != nil {
		n.Close()
		return nil, err
	}
	defer client.Close()
	if err := n.images.importInto(ctx, client); err != nil {
		n.Close()
		return nil, err
	}
	return n, nil
}

// writeGVisorConfig writes the TOML gVisor's shim reads from ConfigPath:
// the runsc binary (binary_name; its default is runsc from PATH), the runsc
// root (under the node's directory, which Close cleans), and the same
// [runsc_config] flags as ours in shimConfig.
func writeGVisorConfig(h Handler, shimConfig string) error {
	cfg, err := config.Parse("shim config", []byte(shimConfig))
	if err != nil {
		return err
	}
	var b strings.Builder
	fmt.Fprintf(&b, "binary_name = %q\nroot = %q\n[runsc_config]\n", h.Runtime, h.RuntimeRoot)
	keys := make([]string, 0, len(cfg.RunscConfig))
	for k := range cfg.RunscConfig {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		fmt.Fprintf(&b, "  %s = %q\n", k, cfg.RunscConfig[k])
	}
	return os.WriteFile(h.GVisorConfig, []byte(b.String()), 0o644)
}

// OCIRoot is the --root that a handler's shim gives runsc or runc for CRI's
// pods: every shim here (ours, containerd-shim, gVisor's) puts CRI's
// namespace, k8s.io, under the handler's runtime root.
func (n *Node) OCIRoot(handler string) string {
	return filepath.Join(n.RuntimeRoot(handler), "k8s.io")
}

// RuntimeRoot is the runtime root of the handler named name; "" for a
// handler the node does not serve.
func (n *Node) RuntimeRoot(name string) string {
	for _, h := range n.Handlers {
		if h.Name == name {
			return h.RuntimeRoot
		}
	}
	return ""
}

// Close removes every pod left, stops containerd, kills what it left,
// unmounts, and deletes the CNI bridge and the node's directory.
func (n *Node) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if n.Daemon.Pid() != 0 {
		n.Crictl(ctx, "rmp", "-fa")
	}
	err := n.Daemon.Close()
	if n.registry != nil {
		n.registry.Close()
	}
	removeCgroupParents()
	if n.Net != nil {
		n.Net.remove()
	}
	return err
}

// RestartContainerd stops containerd and starts it again on the same state,
// as a node's containerd upgrade or crash does, and waits until the CRI
// plugin serves again (it initializes after containerd's gRPC server).
func (n *Node) RestartContainerd(ctx context.Context) error {
	if err := n.Daemon.Stop(); err != nil {
		return err
	}
	if err := n.Daemon.Restart(); err != nil {
		return err
	}
	for {
		_, err := n.Crictl(ctx, "version")
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("CRI did not serve again after the restart: %w", err)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// FindCrictl returns $CRICTL, else the module's bin/crictl (`make setup`
// installs it there), else crictl from PATH.
func FindCrictl() (string, error) {
	if p := os.Getenv("CRICTL"); p != "" {
		return p, nil
	}
	if root, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", "github.com/google/gvisor-containerd-shim").Output(); err == nil {
		p := filepath.Join(strings.TrimSpace(string(root)), "bin", "crictl")
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
	}
	p, err := exec.LookPath("crictl")
	if err != nil {
		return "", fmt.Errorf("%w: crictl not found: `make setup` installs cri-tools v1.37.0's crictl into bin/", ErrMissing)
	}
	return p, nil
}

// Crictl runs crictl against the node and returns its stdout; an error
// carries its stderr.
func (n *Node) Crictl(ctx context.Context, args ...string) ([]byte, error) {
	stdout, stderr, err := n.CrictlOutput(ctx, args...)
	if err != nil {
		return stdout, fmt.Errorf("crictl %s: %w: %s", strings.Join(args, " "), err, bytes.TrimSpace(stderr))
	}
	return stdout, nil
}

// CrictlOutput runs crictl and returns both streams apart; err is an
// *exec.ExitError when crictl ran and exited non-zero.
func (n *Node) CrictlOutput(ctx context.Context, args ...string) (stdout, stderr []byte, err error) {
	var out, errOut bytes.Buffer
	cmd := exec.CommandContext(ctx, n.crictl, append([]string{"--config", n.crictlConfig}, args...)...)
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err = cmd.Run()
	return out.Bytes(), errOut.Bytes(), err
}

// CrictlJSON runs the crictl subcommand args[0] with -o json and decodes
// its output into v.
func (n *Node) CrictlJSON(ctx context.Context, v any, args ...string) error {
	out, err := n.Crictl(ctx, append([]string{args[0], "-o", "json"}, args[1:]...)...)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(out, v); err != nil {
		return fmt.Errorf("crictl %s: decode: %w: %.200s", strings.Join(args, " "), err, out)
	}
	return nil
}
