// Package cri runs a throwaway containerd with its CRI plugin on, the shim
// serving two handlers side by side on the v1 runtime (runsc, and runc
// through the exec hack), images built locally from busybox-static, and a
// CNI bridge of its own; it drives it with crictl. test/cri, the pod demo
// and the CRI benchmark use it.
package cri

import (
	"bytes"
	"text/template"
)

// ConfigParams fill ConfigTemplate.
type ConfigParams struct {
	Shim         string // the v1 runtime's shim binary (or a wrapper)
	SandboxImage string
	CNIBinDir    string
	CNIConfDir   string
	Handlers     []Handler
	// RegistryConfigPath, when set, is CRI's registry config_path (a
	// hosts.toml per registry host).
	RegistryConfigPath string
}

// Handler is one CRI runtime handler on the v1 runtime.
type Handler struct {
	Name        string
	Runtime     string // the OCI runtime binary: "runsc" or "runc"
	RuntimeRoot string // base name "runsc" selects gVisor, any other the runc shim
	// Deprecated configures it with runtime_engine/runtime_root instead of
	// the options table.
	Deprecated bool
	// GVisorConfig, when set, makes the handler gVisor's own v2 shim
	// (runtime_type io.containerd.runsc.v1, containerd 1.7 and later) with
	// this TOML as its ConfigPath; Runtime and RuntimeRoot are then unused.
	GVisorConfig string
}

// ConfigTemplate is the containerd config's plugins section that
// docs/cri.md quotes (rendered with DocParams) and the tests run.
const ConfigTemplate = `[plugins."io.containerd.runtime.v1.linux"]
  shim = "{{.Shim}}"
  shim_debug = true
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "{{.SandboxImage}}"
  restrict_oom_score_adj = true
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
  [plugins."io.containerd.grpc.v1.cri".containerd]
    default_runtime_name = "runc"
{{- range .Handlers}}
{{template "handler" .}}
{{- end}}
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "{{.CNIBinDir}}"
    conf_dir = "{{.CNIConfDir}}"
{{- if .RegistryConfigPath}}
  [plugins."io.containerd.grpc.v1.cri".registry]
    config_path = "{{.RegistryConfigPath}}"
{{- end}}
`

// HandlerTemplate is one runtime handler's table.
const HandlerTemplate = `    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.{{.Name}}]
{{- if .GVisorConfig}}
      runtime_type = "io.containerd.runsc.v1"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.{{.Name}}.options]
        TypeUrl = "io.containerd.runsc.v1.options"
        ConfigPath = "{{.GVisorConfig}}"
{{- else}}
      runtime_type = "io.containerd.runtime.v1.linux"
{{- end}}
{{- if .GVisorConfig}}
{{- else if .Deprecated}}
      runtime_engine = "{{.Runtime}}"
      runtime_root = "{{.RuntimeRoot}}"
{{- else}}
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.{{.Name}}.options]
        Runtime = "{{.Runtime}}"
        RuntimeRoot = "{{.RuntimeRoot}}"
{{- end}}`

// ShimConfig is the shim's -config for the CRI path with a current runsc:
// gVisor's own network stack (runsc's default and its secure mode) in the
// pod's CNI netns, and the pods' seccomp profiles applied (runsc ignores
// them without oci-seccomp).
const ShimConfig = `[runsc_config]
  network = "sandbox"
  oci-seccomp = "true"
`

// ShimConfig2022 is the shim's -config for a 2022 runsc (Debian's): its
// network = "sandbox" fails in every pod (a root-netns check that misfires
// on recent kernels), "host" uses the pod's CNI netns through the host's
// stack. oci-seccomp as in ShimConfig.
const ShimConfig2022 = `[runsc_config]
  network = "host"
  oci-seccomp = "true"
`

// ShimConfigFor returns the shim config the tests use with the runsc whose
// `runsc --version` is version.
func ShimConfigFor(version string) string {
	if Runsc2022(version) {
		return ShimConfig2022
	}
	return ShimConfig
}

// SandboxImage is containerd 1.6's default sandbox_image; the harness
// imports its pause image under that name.
const SandboxImage = "registry.k8s.io/pause:3.6"

// DocParams are the values docs/cri.md shows: an installed shim, Debian's
// CNI plugins, containerd's usual runtime roots.
var DocParams = ConfigParams{
	Shim:         "/usr/local/bin/gvisor-containerd-shim",
	SandboxImage: SandboxImage,
	CNIBinDir:    "/usr/lib/cni",
	CNIConfDir:   "/etc/cni/net.d",
	Handlers: []Handler{
		{Name: "runc", Runtime: "runc", RuntimeRoot: "/run/containerd/runc"},
		{Name: "runsc", Runtime: "runsc", RuntimeRoot: "/run/containerd/runsc"},
	},
}

var tmpl = template.Must(template.Must(template.New("config").Parse(ConfigTemplate)).New("handler").Parse(HandlerTemplate))

// RenderConfig renders ConfigTemplate.
func RenderConfig(p ConfigParams) string {
	var b bytes.Buffer
	if err := tmpl.ExecuteTemplate(&b, "config", p); err != nil {
		panic(err) // the template is a constant; its fields are ConfigParams'
	}
	return b.String()
}

// RenderHandler renders one handler's table.
func RenderHandler(h Handler) string {
	var b bytes.Buffer
	if err := tmpl.ExecuteTemplate(&b, "handler", h); err != nil {
		panic(err)
	}
	return b.String() + "\n"
}
