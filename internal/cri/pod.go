package cri

import (
	"context"
	"encoding/json"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"time"
)

var podSeq atomic.Int64

// Pod is a pod sandbox started through CRI.
type Pod struct {
	ID      string
	Name    string
	Handler string
	// ConfigPath is its PodSandboxConfig, which crictl create needs again.
	ConfigPath string
	node       *Node
}

// Mount is a hostPath volume.
type Mount struct {
	HostPath, ContainerPath string
}

// PIDMode is a PID namespace option of CRI (namespace_options.pid).
type PIDMode int

// The PID namespace modes the harness uses; the zero value is kubelet's
// default.
const (
	// PIDContainer is a PID namespace per container (CRI's CONTAINER).
	PIDContainer PIDMode = iota
	// PIDPod is one PID namespace for the pod (CRI's POD): kubelet's
	// shareProcessNamespace sets it on the pod and on every container.
	PIDPod
)

// cri is the CRI enum value: POD is 0, CONTAINER 1.
func (m PIDMode) cri() int {
	if m == PIDPod {
		return 0
	}
	return 1
}

// Container describes an app container of a pod.
type Container struct {
	Name    string
	Command []string
	Mounts  []Mount
	PID     PIDMode
	// Privileged runs it privileged (its pod must be too): containerd gives
	// it every capability it knows and the host's devices.
	Privileged bool
	// SeccompProfile is the path of a seccomp profile (OCI's JSON) on the
	// host, CRI's Localhost profile; empty: unconfined.
	SeccompProfile string
	// Capabilities are added to the container's default set, named as
	// CRI names them (SYS_ADMIN).
	Capabilities []string
}

// PodOptions configure a pod sandbox.
type PodOptions struct {
	// PID is the sandbox's PID namespace option.
	PID PIDMode
	// Privileged lets the pod have privileged containers.
	Privileged bool
}

// RunPod starts a pod sandbox with handler and kubelet's default options
// (a PID namespace per container).
func (n *Node) RunPod(ctx context.Context, handler, name string) (*Pod, error) {
	return n.RunPodWith(ctx, handler, name, PodOptions{})
}

// RunPodWith starts a pod sandbox with handler and opts.
func (n *Node) RunPodWith(ctx context.Context, handler, name string, opts PodOptions) (*Pod, error) {
	seq := podSeq.Add(1)
	uid := fmt.Sprintf("%s-%d-%d", name, os.Getpid(), seq)
	// kubelet gives every pod a cgroup parent; CRI's pod stats read it.
	cgroupParent := fmt.Sprintf("/%s%d", cgroupPrefix(), seq)
	dir := filepath.Join(n.Daemon.Dir, "pods", uid)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	cfg := map[string]any{
		"metadata":      map[string]any{"name": name, "namespace": "cri-test", "uid": uid},
		"log_directory": dir,
		"linux": map[string]any{
			"cgroup_parent":    cgroupParent,
			"security_context": map[string]any{"namespace_options": map[string]any{"pid": opts.PID.cri()}, "privileged": opts.Privileged},
		},
	}
	path := filepath.Join(dir, "pod.json")
	if err := writeJSON(path, cfg); err != nil {
		return nil, err
	}
	out, err := n.Crictl(ctx, "runp", "--runtime", handler, path)
	if err != nil {
		return nil, err
	}
	return &Pod{ID: strings.TrimSpace(string(out)), Name: name, Handler: handler, ConfigPath: path, node: n}, nil
}

// Create creates a container in the pod from the busybox image.
func (p *Pod) Create(ctx context.Context, c Container) (string, error) {
	var mounts []map[string]any
	for _, m := range c.Mounts {
		mounts = append(mounts, map[string]any{"host_path": m.HostPath, "container_path": m.ContainerPath})
	}
	cfg := map[string]any{
		"metadata": map[string]any{"name": c.Name},
		"image":    map[string]any{"image": BusyboxImage},
		"command":  c.Command,
		"log_path": c.Name + ".log",
		"mounts":   mounts,
		"linux": map[string]any{
			"security_context": map[string]any{"namespace_options": map[string]any{"pid": c.PID.cri()}, "privileged": c.Privileged},
		},
	}
	sc := cfg["linux"].(map[string]any)["security_context"].(map[string]any)
	if c.SeccompProfile != "" {
		sc["seccomp"] = map[string]any{"profile_type": 2, "localhost_ref": c.SeccompProfile}
	}
	if len(c.Capabilities) > 0 {
		sc["capabilities"] = map[string]any{"add_capabilities": c.Capabilities}
	}
	path := filepath.Join(filepath.Dir(p.ConfigPath), c.Name+".json")
	if err := writeJSON(path, cfg); err != nil {
		return "", err
	}
	out, err := p.node.Crictl(ctx, "create", p.ID, path, p.ConfigPath)
	if err != nil {
		return "", err
	}
	return strings.TrimSpace(string(out)), nil
}

// Run creates and starts a container in the pod.
func (p *Pod) Run(ctx context.Context, c Container) (string, error) {
	id, err := p.Create(ctx, c)
	if err != nil {
		return "", err
	}
	if _, err := p.node.Crictl(ctx, "start", id); err != nil {
		return id, err
	}
	return id, nil
}

// Remove stops and removes the pod and its containers.
func (p *Pod) Remove(ctx context.Context) error {
	if _, err := p.node.Crictl(ctx, "stopp", p.ID); err != nil {
		return err
	}
	_, err := p.node.Crictl(ctx, "rmp", p.ID)
	return err
}

// cgroupPrefix names this process's pods' cgroup parents; Node.Close
// removes what is left of them.
func cgroupPrefix() string { return fmt.Sprintf("cri-test-%d-", os.Getpid()) }

// removeCgroupParents removes the pods' cgroup parents, in every v1
// hierarchy and the unified one: the runtimes remove only their own.
func removeCgroupParents() {
	dirs, _ := filepath.Glob("/sys/fs/cgroup/*/" + cgroupPrefix() + "*")
	more, _ := filepath.Glob("/sys/fs/cgroup/" + cgroupPrefix() + "*")
	for _, top := range append(dirs, more...) {
		var tree []string
		filepath.WalkDir(top, func(path string, d fs.DirEntry, err error) error {
			if err == nil && d.IsDir() {
				tree = append(tree, path)
			}
			return nil
		})
		for i := len(tree) - 1; i >= 0; i-- { // deepest first
			os.Remove(tree[i])
		}
	}
}

// PodInspect is the part of `crictl inspectp -o json` the harness reads.
type PodInspect struct {
	Status struct {
		ID      string `json:"id"`
		State   string `json:"state"`
		Network struct {
			IP string `json:"ip"`
		} `json:"network"`
	} `json:"status"`
	Info struct {
		Pid         int `json:"pid"`
		RuntimeSpec struct {
			Linux struct {
				Namespaces []struct {
					Type string `json:"type"`
					Path string `json:"path"`
				} `json:"namespaces"`
			} `json:"linux"`
		} `json:"runtimeSpec"`
	} `json:"info"`
}

// Inspect returns the pod's status and info.
func (p *Pod) Inspect(ctx context.Context) (PodInspect, error) {
	var pi PodInspect
	err := p.node.CrictlJSON(ctx, &pi, "inspectp", p.ID)
	return pi, err
}

// IP is the pod's address on the node's CNI network.
func (p *Pod) IP(ctx context.Context) (net.IP, error) {
	pi, err := p.Inspect(ctx)
	if err != nil {
		return nil, err
	}
	ip := net.ParseIP(pi.Status.Network.IP)
	if ip == nil || !p.node.Net.Contains(ip) {
		return nil, fmt.Errorf("pod %s: IP %q is not on the test network %s", p.ID, pi.Status.Network.IP, p.node.Net.Subnet)
	}
	return ip, nil
}

// ContainerStatus is the part of `crictl inspect -o json` the harness reads.
type ContainerStatus struct {
	State    string `json:"state"`
	ExitCode int32  `json:"exitCode"`
	Reason   string `json:"reason"`
	LogPath  string `json:"logPath"`
}

// Status returns a container's CRI status.
func (n *Node) Status(ctx context.Context, id string) (ContainerStatus, error) {
	var v struct {
		Status ContainerStatus `json:"status"`
	}
	err := n.CrictlJSON(ctx, &v, "inspect", id)
	return v.Status, err
}

// WaitExited polls until CRI shows the container EXITED and returns its
// status; ctx bounds the wait.
func (n *Node) WaitExited(ctx context.Context, id string) (ContainerStatus, error) {
	for {
		st, err := n.Status(ctx, id)
		if err == nil && st.State == "CONTAINER_EXITED" {
			return st, nil
		}
		select {
		case <-ctx.Done():
			return st, fmt.Errorf("container %s still %s (%v): %w", id, st.State, err, ctx.Err())
		case <-time.After(20 * time.Millisecond):
		}
	}
}

func writeJSON(path string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, b, 0o644)
}
