package cri

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/BurntSushi/toml"
)

// gVisor's shim reads its runsc binary, root and flags from the TOML that
// the handler's options name; containerd picks it by runtime_type.
func TestGVisorHandler(t *testing.T) {
	dir := t.TempDir()
	h := Handler{Name: GVisor, Runtime: "/opt/runsc", RuntimeRoot: filepath.Join(dir, "gvisor"), GVisorConfig: filepath.Join(dir, "gvisor.toml")}
	var cfg struct {
		Plugins map[string]struct {
			Containerd struct {
				Runtimes map[string]struct {
					RuntimeType string            `toml:"runtime_type"`
					Options     map[string]string `toml:"options"`
				} `toml:"runtimes"`
			} `toml:"containerd"`
		} `toml:"plugins"`
	}
	if _, err := toml.Decode(RenderConfig(ConfigParams{Handlers: []Handler{h}}), &cfg); err != nil {
		t.Fatal(err)
	}
	rt := cfg.Plugins["io.containerd.grpc.v1.cri"].Containerd.Runtimes[GVisor]
	if rt.RuntimeType != "io.containerd.runsc.v1" || rt.Options["TypeUrl"] != "io.containerd.runsc.v1.options" || rt.Options["ConfigPath"] != h.GVisorConfig || len(rt.Options) != 2 {
		t.Errorf("handler %+v", rt)
	}

	if err := writeGVisorConfig(h, "[shim]\n  max_procs = 2\n[runsc_config]\n  network = \"host\"\n  debug = \"true\"\n"); err != nil {
		t.Fatal(err)
	}
	var opts struct {
		BinaryName  string            `toml:"binary_name"`
		Root        string            `toml:"root"`
		RunscConfig map[string]string `toml:"runsc_config"`
	}
	md, err := toml.DecodeFile(h.GVisorConfig, &opts)
	if err != nil {
		t.Fatal(err)
	}
	if opts.BinaryName != "/opt/runsc" || opts.Root != h.RuntimeRoot || len(opts.RunscConfig) != 2 || opts.RunscConfig["network"] != "host" || opts.RunscConfig["debug"] != "true" || len(md.Undecoded()) != 0 {
		b, _ := os.ReadFile(h.GVisorConfig)
		t.Errorf("gVisor's config:\n%s", b)
	}
	if err := writeGVisorConfig(h, "[runsc_config\n"); err == nil {
		t.Error("a shim config that does not parse: no error")
	}
}
