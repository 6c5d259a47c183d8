package containerdtest

import (
	"context"
	"os"
	"testing"
)

// The helper must give a daemon that serves both APIs, survives a restart on
// the same sockets, and leaves nothing behind.
func TestStartRestartCleanup(t *testing.T) {
	var dir string
	t.Run("daemon", func(t *testing.T) {
		d := Start(t, Config{Runtime: "runsc", RuntimeRootBase: "runsc"})
		dir = d.Dir
		c := Client(t, d)
		if _, err := c.Version(context.Background()); err != nil {
			t.Fatalf("version: %v", err)
		}
		if _, err := os.Stat(d.Address + ".ttrpc"); err != nil {
			t.Fatalf("ttrpc socket: %v", err)
		}
		if err := d.Stop(); err != nil {
			t.Fatal(err)
		}
		if err := d.Restart(); err != nil {
			t.Fatalf("restart: %v", err)
		}
		if _, err := c.Version(context.Background()); err != nil {
			t.Fatalf("version after restart: %v", err)
		}
	})
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Fatalf("daemon dir %s left behind: %v", dir, err)
	}
}
