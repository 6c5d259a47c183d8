// Package cli is the command line of gvisor-containerd-shim: the flags of
// gVisor's legacy shim, the runc-exec hack, and, on the runsc path, the
// ttrpc server for containerd's v1 Shim API with the shim's signal handling.
// The Shim service itself comes in through a NewService function so that
// this package does not depend on it.
package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/containerd/containerd/log"
	shimapi "github.com/containerd/containerd/runtime/v1/shim/v1"
	"github.com/google/gvisor-containerd-shim/publisher"
	"github.com/google/gvisor-containerd-shim/shim/config"
	"github.com/sirupsen/logrus"
)

// ServiceInputs is what the CLI has prepared for the Shim service.
type ServiceInputs struct {
	Flags  Flags
	Config config.Config
	// BundlePath is the shim's working directory: containerd starts the shim
	// in the bundle directory.
	BundlePath string
	Publisher  *publisher.Publisher
}

// NewService builds the v1 Shim service the shim serves.
type NewService func(ServiceInputs) (shimapi.ShimService, error)

// Main runs the shim with os.Args and exits. Every fatal error is one line
// on stderr prefixed "gvisor-containerd-shim: " and exit status 1.
func Main(newService NewService) {
	err := Run(os.Args[1:], os.Environ(), os.Stderr, newService)
	switch {
	case err == nil, errors.Is(err, ErrHelp):
		os.Exit(0)
	default:
		fmt.Fprintf(os.Stderr, "gvisor-containerd-shim: %s\n", oneLine(err))
		os.Exit(1)
	}
}

// Run is Main without the exit: it parses args (without the program name),
// execs the runc shim when the runtime root asks for it (and then only
// returns on error), or serves the runsc Shim API until SIGTERM or SIGINT.
func Run(args, env []string, stderr io.Writer, newService NewService) error {
	flags, err := ParseFlags(args, stderr)
	if err != nil {
		return err
	}
	// The hack must come before anything else is set up: the runc shim
	// gets this process as it was started.
	if usesRuncShim(flags.RuntimeRoot) {
		// Only returns when there is no runc shim to become (a bad
		// config, none on PATH): the user gets the reason from Create.
		return serveUnusable(flags, stderr, execRuncShim(flags.ConfigPath, args, env))
	}
	return runRunsc(flags, stderr, newService)
}

func setupLogging(flags Flags, stderr io.Writer) context.Context {
	logrus.SetOutput(stderr)
	logrus.SetFormatter(&logrus.TextFormatter{TimestampFormat: log.RFC3339NanoFixed, FullTimestamp: true})
	if flags.Debug {
		logrus.SetLevel(logrus.DebugLevel)
	}
	entry := log.L.WithFields(logrus.Fields{"pid": os.Getpid(), "namespace": flags.Namespace})
	return log.WithLogger(context.Background(), entry)
}

// validate checks what the runsc path needs before it sets anything up.
func validate(flags Flags) error {
	if flags.Namespace == "" {
		return errors.New("-namespace is required")
	}
	if flags.Address == "" {
		return errors.New("-address is required: events go to containerd at that address")
	}
	if flags.Socket != "" {
		return checkSocketPath(flags.Socket)
	}
	return nil
}

// oneLine keeps a fatal error on the single line containerd logs.
func oneLine(err error) string {
	return strings.ReplaceAll(strings.TrimSpace(err.Error()), "\n", " ")
}
