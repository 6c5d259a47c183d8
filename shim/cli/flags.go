package cli

import (
	"errors"
	"flag"
	"fmt"
	"io"

	"github.com/google/gvisor-containerd-shim/shim/config"
)

// DefaultRuntimeRoot is containerd's default runc root. Keeping it as the
// default means a shim started without -runtime-root behaves like the runc
// shim (through the exec hack), as gVisor's legacy shim did.
const DefaultRuntimeRoot = "/run/containerd/runc"

// Flags is the shim's command line. containerd 1.6 starts a v1 shim with
// -namespace, -workdir, -address, -containerd-binary and optionally
// -criu-path, -runtime-root, -systemd-cgroup and -debug; the listening
// socket comes as fd 3 unless -socket is given.
type Flags struct {
	Debug            bool
	Namespace        string
	Socket           string
	Address          string
	WorkDir          string
	RuntimeRoot      string
	ContainerdBinary string
	ConfigPath       string

	// CriuPath and SystemdCgroup are accepted so that containerd can pass
	// them; the runsc path ignores them and logs them at debug level.
	CriuPath      string
	SystemdCgroup bool
	// Args are positional arguments, ignored like the flags above.
	Args []string
}

// ErrHelp is returned by ParseFlags for -h and -help; the usage has been
// written to the output given to ParseFlags.
var ErrHelp = flag.ErrHelp

// ParseFlags parses args (without the program name). Usage goes to usage
// only on -h; errors are returned, not printed, so that they end up as the
// shim's one-line fatal error.
func ParseFlags(args []string, usage io.Writer) (Flags, error) {
	var f Flags
	fs := newFlagSet(&f)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fs.SetOutput(usage)
			fmt.Fprintf(usage, "Usage of %s:\n", fs.Name())
			fs.PrintDefaults()
			return Flags{}, ErrHelp
		}
		return Flags{}, err
	}
	if fs.NArg() > 0 {
		f.Args = fs.Args()
	}
	return f, nil
}

// newFlagSet defines the shim's flags, stored into f.
func newFlagSet(f *Flags) *flag.FlagSet {
	fs := flag.NewFlagSet("gvisor-containerd-shim", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.BoolVar(&f.Debug, "debug", false, "enable debug output in logs")
	fs.StringVar(&f.Namespace, "namespace", "", "namespace that owns the shim")
	fs.StringVar(&f.Socket, "socket", "", "abstract socket path to serve (default: the listening socket inherited as fd 3)")
	fs.StringVar(&f.Address, "address", "", "containerd's gRPC address; events go to it (ttrpc on <address>.ttrpc)")
	fs.StringVar(&f.WorkDir, "workdir", "", "path used to store large temporary data")
	fs.StringVar(&f.RuntimeRoot, "runtime-root", DefaultRuntimeRoot, "root directory for the runtime; a base name other than \"runsc\" execs the runc shim")
	fs.StringVar(&f.ContainerdBinary, "containerd-binary", "containerd", "path to the containerd binary; the fork fallback of the event publisher runs its publish command")
	fs.StringVar(&f.ConfigPath, "config", config.DefaultPath, "path to the shim configuration file")
	fs.StringVar(&f.CriuPath, "criu-path", "", "ignored on the runsc path; the runc-exec hack passes it to the runc shim as -criu")
	fs.BoolVar(&f.SystemdCgroup, "systemd-cgroup", false, "ignored; accepted because containerd may pass it (runsc flags go in [runsc_config])")
	return fs
}

// ignored describes what the shim accepted from its command line without
// acting on it, for a debug log line.
func (f Flags) ignored() map[string]interface{} {
	fields := map[string]interface{}{}
	if f.CriuPath != "" {
		fields["criu-path"] = f.CriuPath
	}
	if f.SystemdCgroup {
		fields["systemd-cgroup"] = true
	}
	if len(f.Args) > 0 {
		fields["args"] = f.Args
	}
	return fields
}
