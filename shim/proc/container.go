package proc

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"

	"github.com/containerd/containerd/log"
	"github.com/containerd/containerd/mount"
	"github.com/containerd/errdefs"
	"golang.org/x/sys/unix"

	"github.com/google/gvisor-containerd-shim/shim/runsc"
	"github.com/google/gvisor-containerd-shim/shim/stdio"
)

// Container is a container's own process: an Init (a sandbox of its own,
// including a pod's sandbox container) or an App (an app container runsc
// joins to its pod's sandbox). Execs run inside it.
type Container interface {
	Process
	Pause(ctx context.Context) error
	Resume(ctx context.Context) error
	Checkpoint(ctx context.Context, imagePath string) error
	// Ps lists the pids of the container's processes inside the sandbox;
	// none once the container stopped.
	Ps(ctx context.Context) ([]int, error)
	// Running reports whether execs may start.
	Running() bool
	execTarget() execTarget
}

// execTarget is where an exec runs: the runsc container, its containerd
// namespace, and the directory for the exec's pid files.
type execTarget struct {
	runtime       *runsc.Runsc
	id, namespace string
	dir           string
}

// ContainerConfig describes the container Create makes.
type ContainerConfig struct {
	ID string
	// Namespace is the container's containerd namespace (a logging
	// driver's CONTAINER_NAMESPACE).
	Namespace string
	Bundle    string
	// Mounts make up the rootfs, mounted at <Bundle>/rootfs; none when the
	// spec points at a rootfs of its own.
	Mounts       []mount.Mount
	Stdio        stdio.Stdio
	IoUID, IoGID int
	// Checkpoint, when set, is the image the container is restored from
	// (at Start) instead of being created. Only an Init can be restored.
	Checkpoint string
	Runtime    *runsc.Runsc
}

// The annotations containerd's CRI plugin puts on a pod's containers;
// runsc reads the same ones to join an app container to its pod's sandbox.
const (
	annotationContainerType = "io.kubernetes.cri.container-type"
	annotationSandboxID     = "io.kubernetes.cri.sandbox-id"
	containerTypeContainer  = "container"
)

// BundleSpec is what the shim reads of a bundle's spec before it creates
// the container.
type BundleSpec struct {
	// App: the spec makes the container an app container of a pod
	// (container-type "container"): runsc runs it in the sandbox of the pod
	// named by its sandbox-id annotation. The pod's sandbox container
	// ("sandbox") and plain containers (no annotation) get a sandbox of
	// their own.
	App bool
	// Terminal is the spec's process.terminal.
	Terminal bool
}

// ReadBundle reads the bundle's config.json.
func ReadBundle(bundle string) (BundleSpec, error) {
	b, err := os.ReadFile(filepath.Join(bundle, "config.json"))
	if err != nil {
		return BundleSpec{}, fmt.Errorf("invalid bundle: %w: %w", err, errdefs.ErrInvalidArgument)
	}
	var spec struct {
		Annotations map[string]string `json:"annotations"`
		Process     *struct {
			Terminal bool `json:"terminal"`
		} `json:"process"`
	}
	if err := json.Unmarshal(b, &spec); err != nil {
		return BundleSpec{}, fmt.Errorf("invalid bundle: config.json: %w: %w", err, errdefs.ErrInvalidArgument)
	}
	out := BundleSpec{Terminal: spec.Process != nil && spec.Process.Terminal}
	if spec.Annotations[annotationContainerType] != containerTypeContainer {
		return out, nil
	}
	if spec.Annotations[annotationSandboxID] == "" {
		return BundleSpec{}, fmt.Errorf("app container (annotation %s=%s) without the %s annotation: %w",
			annotationContainerType, containerTypeContainer, annotationSandboxID, errdefs.ErrInvalidArgument)
	}
	out.App = true
	return out, nil
}

// hostResources is what a container holds on the host while it exists:
// its rootfs mount and its stdio. Init and App share it.
type hostResources struct {
	rootfs string // mounted by acquire; "" when nothing was mounted
	io     *stdio.IO
}

// acquire mounts the rootfs and opens the stdio; on failure nothing is
// left held.
func (h *hostResources) acquire(ctx context.Context, cfg ContainerConfig) error {
	rootfs, err := mountRootfs(cfg.Bundle, cfg.Mounts)
	if err != nil {
		return err
	}
	h.rootfs = rootfs
	if h.io, err = stdio.Open(ctx, stdio.Config{
		ID:        cfg.ID,
		Namespace: cfg.Namespace,
		Stdio:     cfg.Stdio,
		UID:       cfg.IoUID,
		GID:       cfg.IoGID,
		Monitor:   cfg.Runtime.ProcessMonitor(),
	}); err != nil {
		h.cleanup(ctx)
		return err
	}
	return nil
}

// cleanup releases the stdio and unmounts the rootfs, after a failed
// create or at delete.
func (h *hostResources) cleanup(ctx context.Context) {
	if h.io != nil {
		h.io.Close()
	}
	unmountRootfs(ctx, h.rootfs)
	h.rootfs = ""
}

// mountRootfs mounts mounts at <bundle>/rootfs and returns that path, or
// "" when there is nothing to mount.
func mountRootfs(bundle string, mounts []mount.Mount) (string, error) {
	if len(mounts) == 0 {
		return "", nil
	}
	rootfs := filepath.Join(bundle, "rootfs")
	if err := os.MkdirAll(rootfs, 0o711); err != nil {
		return "", err
	}
	if err := mount.All(mounts, rootfs); err != nil {
		mount.UnmountAll(rootfs, 0)
		return "", fmt.Errorf("mounting rootfs: %w", err)
	}
	return rootfs, nil
}

func unmountRootfs(ctx context.Context, rootfs string) {
	if rootfs == "" {
		return
	}
	if err := mount.UnmountAll(rootfs, unix.MNT_DETACH); err != nil {
		log.G(ctx).WithError(err).Warn("unmounting rootfs")
	}
}

// deleteFromRunsc runs `runsc delete --force`; a container runsc no longer
// knows is already deleted.
func deleteFromRunsc(ctx context.Context, rt *runsc.Runsc, id string) error {
	if err := rt.Delete(ctx, id, true); err != nil && !runsc.IsNotExist(err) {
		return err
	}
	return nil
}

// bundlePidFile is where runsc writes a container's pid: the name
// containerd's v1 runtime reads after a shim died.
func bundlePidFile(bundle string) string { return filepath.Join(bundle, "init.pid") }
