// Command critest-run runs critest (cri-tools v1.37.0's CRI validation
// suite) against a throwaway containerd with the CRI plugin (see
// internal/cri), once per runtime handler, and prints passed, failed and
// skipped per handler, and the specs that pass on runc and fail on runsc.
// It runs the runsc on PATH; RUNSC names another (internal/ctrdaemon).
// The images critest pulls come from a registry on loopback that serves
// busybox stand-ins. `make critest` runs it.
package main

import (
	"context"
	"encoding/xml"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"syscall"

	"github.com/google/gvisor-containerd-shim/internal/cri"
)

// DefaultFocus is the subset of critest's specs, the one place it is
// written: `make critest` passes no -focus unless CRITEST_FOCUS is set.
const DefaultFocus = `\[k8s\.io\] (PodSandbox|Container|Multiple Containers|Streaming|Idempotence|Runtime info|Networking)`

func main() {
	o, err := parseFlags(os.Args[1:])
	if errors.Is(err, flag.ErrHelp) {
		os.Exit(0)
	}
	if err != nil {
		os.Exit(2) // the flag package has printed the error and the usage
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err = run(ctx, o, strings.Split(o.handlers, ","))
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "critest-run:", err)
		os.Exit(1)
	}
}

// options are critest-run's command-line flags.
type options struct {
	shim, critest, focus, handlers, reports string
	// shimConfig is a shim config file to run with instead of
	// internal/cri's for the runsc found (e.g. another network mode).
	shimConfig string
}

func parseFlags(args []string) (options, error) {
	var o options
	fs := flag.NewFlagSet("critest-run", flag.ContinueOnError)
	fs.StringVar(&o.shim, "shim", "bin/gvisor-containerd-shim", "the built shim binary")
	fs.StringVar(&o.critest, "critest", "bin/critest", "critest binary (`make critest` builds it)")
	fs.StringVar(&o.focus, "focus", DefaultFocus, "ginkgo focus regexp; empty runs the whole suite")
	fs.StringVar(&o.handlers, "handlers", cri.Runsc+","+cri.Runc, "runtime handlers, comma-separated, run in this order")
	fs.StringVar(&o.reports, "reports", "critest-reports", "directory for critest's JUnit reports and output")
	fs.StringVar(&o.shimConfig, "shim-config", "", "the shim's TOML config for the run (default: the tests' config for the runsc found)")
	return o, fs.Parse(args)
}

// loadShimConfig reads -shim-config; "" (not given) is the default config.
func loadShimConfig(path string) (string, error) {
	if path == "" {
		return "", nil
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("-shim-config: %w", err)
	}
	if len(strings.TrimSpace(string(b))) == 0 {
		return "", fmt.Errorf("-shim-config: %s is empty", path)
	}
	return string(b), nil
}

func run(ctx context.Context, o options, handlers []string) error {
	shim, critest, focus, reports := o.shim, o.critest, o.focus, o.reports
	if os.Geteuid() != 0 {
		return errors.New("needs root (containerd and runsc do)")
	}
	shimConfig, err := loadShimConfig(o.shimConfig)
	if err != nil {
		return err
	}
	for _, p := range []*string{&shim, &critest, &reports} {
		abs, err := filepath.Abs(*p)
		if err != nil {
			return err
		}
		*p = abs
	}
	if _, err := os.Stat(shim); err != nil {
		return fmt.Errorf("%w (`make build` builds the shim)", err)
	}
	if _, err := os.Stat(critest); err != nil {
		return fmt.Errorf("%w (`make critest` builds critest)", err)
	}
	if err := os.MkdirAll(reports, 0o755); err != nil {
		return err
	}
	node, err := cri.Start(ctx, cri.Options{Shim: shim, ShimConfig: shimConfig, Images: cri.CritestImages, Registry: true})
	if err != nil {
		return err
	}
	defer node.Close()
	runscPath, _ := exec.LookPath("runsc")
	fmt.Printf("runsc: %s (%s), shim config %q\n", node.RunscVersion, runscPath, node.ShimConfig)

	results := map[string]map[string]string{} // handler → spec → passed/failed/skipped
	reasons := map[string]map[string]string{} // handler → failed spec → why
	for _, h := range handlers {
		report := filepath.Join(reports, "junit-"+h+".xml")
		args := []string{
			"--runtime-endpoint", "unix://" + node.Daemon.Address,
			"--image-endpoint", "unix://" + node.Daemon.Address,
			"--runtime-handler", h,
			"--ginkgo.junit-report", report,
			"--ginkgo.no-color",
		}
		if focus != "" {
			args = append(args, "--ginkgo.focus", focus)
		}
		fmt.Printf("==> critest, handler %s\n", h)
		out, err := os.Create(filepath.Join(reports, "critest-"+h+".log"))
		if err != nil {
			return err
		}
		cmd := exec.CommandContext(ctx, critest, args...)
		cmd.Stdout, cmd.Stderr = out, out
		runErr := cmd.Run()
		out.Close()
		if ctx.Err() != nil {
			return ctx.Err()
		}
		specs, why, err := readJUnit(report)
		if err != nil {
			return fmt.Errorf("handler %s: critest: %v; its report: %w", h, runErr, err)
		}
		results[h], reasons[h] = specs, why
		fmt.Printf("    %s\n", summary(specs))
	}

	fmt.Printf("\ncritest v1.37.0, focus %q, runsc %s\n\n| handler | passed | failed | skipped |\n|---|---|---|---|\n", focus, node.RunscVersion)
	for _, h := range handlers {
		c := counts(results[h])
		fmt.Printf("| %s | %d | %d | %d |\n", h, c["passed"], c["failed"], c["skipped"])
	}
	if runc, runsc := results[cri.Runc], results[cri.Runsc]; runc != nil && runsc != nil {
		fmt.Println("\nPassed on runc, failed on runsc:")
		var names []string
		for spec, st := range runsc {
			if st == "failed" && runc[spec] == "passed" {
				names = append(names, spec)
			}
		}
		sort.Strings(names)
		for _, n := range names {
			fmt.Printf("  - %s\n      %s\n", n, reasons[cri.Runsc][n])
		}
		if len(names) == 0 {
			fmt.Println("  (none)")
		}
	}
	for _, h := range handlers {
		fmt.Printf("\nFailed on %s:\n", h)
		var names []string
		for spec, st := range results[h] {
			if st == "failed" {
				names = append(names, spec)
			}
		}
		sort.Strings(names)
		for _, n := range names {
			fmt.Printf("  - %s\n      %s\n", n, reasons[h][n])
		}
	}
	fmt.Printf("\nReports and logs: %s\n", reports)
	return nil
}

type junitSuites struct {
	Suites []struct {
		Cases []junitCase `xml:"testcase"`
	} `xml:"testsuite"`
}

type junitCase struct {
	Name    string `xml:"name,attr"`
	Status  string `xml:"status,attr"`
	Failure *struct {
		Message string `xml:"message,attr"`
	} `xml:"failure"`
	Error   *struct{} `xml:"error"`
	Skipped *struct{} `xml:"skipped"`
}

// reason is the telling line of a failure message: the runtime's error
// when there is one.
func reason(message string) string {
	lines := strings.Split(message, "\n")
	pick := strings.TrimSpace(lines[0])
	for _, l := range lines {
		if l = strings.TrimSpace(l); strings.Contains(l, "rpc error") || strings.Contains(l, "exited with") || strings.Contains(l, "connection refused") {
			pick = l
			break
		}
	}
	if len(pick) > 240 {
		pick = pick[:240] + "…"
	}
	return pick
}

var leadingBrackets = regexp.MustCompile(`^\[[A-Za-z]+\] `)

// readJUnit returns each spec's outcome, ginkgo's suite set-up and
// tear-down left out, and the reason of each failure.
func readJUnit(path string) (map[string]string, map[string]string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, nil, err
	}
	var s junitSuites
	if err := xml.Unmarshal(b, &s); err != nil {
		return nil, nil, fmt.Errorf("%s: %w", path, err)
	}
	specs, reasons := map[string]string{}, map[string]string{}
	for _, suite := range s.Suites {
		for _, c := range suite.Cases {
			name := leadingBrackets.ReplaceAllString(c.Name, "")
			if strings.HasPrefix(name, "[SynchronizedBeforeSuite]") || strings.HasPrefix(name, "[SynchronizedAfterSuite]") || strings.HasPrefix(name, "[BeforeSuite]") || strings.HasPrefix(name, "[AfterSuite]") {
				continue
			}
			switch {
			case c.Failure != nil:
				specs[name], reasons[name] = "failed", reason(c.Failure.Message)
			case c.Error != nil:
				specs[name] = "failed"
			case c.Skipped != nil:
				specs[name] = "skipped"
			default:
				specs[name] = "passed"
			}
		}
	}
	return specs, reasons, nil
}

func counts(specs map[string]string) map[string]int {
	c := map[string]int{}
	for _, st := range specs {
		c[st]++
	}
	return c
}

func summary(specs map[string]string) string {
	c := counts(specs)
	return fmt.Sprintf("%d passed, %d failed, %d skipped", c["passed"], c["failed"], c["skipped"])
}
