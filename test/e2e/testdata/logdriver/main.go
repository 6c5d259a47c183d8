// Command logdriver is a binary:// logging driver for the tests, following
// containerd-shim's contract: the process's stdout and stderr are fds 3 and
// 4, and closing fd 5 says it is ready. Run as `logdriver out <path>` (the
// URI binary:///logdriver?out=<path>), it writes <path>.pid at start, each
// line read as "stdout: line" or "stderr: line" to <path>, its
// CONTAINER_ID and CONTAINER_NAMESPACE to <path>.env, and <path>.eof once
// both streams reached EOF, just before it exits.
package main

import (
	"bufio"
	"fmt"
	"os"
	"strconv"
	"sync"
)

func main() {
	if len(os.Args) != 3 || os.Args[1] != "out" {
		fmt.Fprintln(os.Stderr, "usage: logdriver out <path>")
		os.Exit(2)
	}
	path := os.Args[2]
	must(os.WriteFile(path+".pid", []byte(strconv.Itoa(os.Getpid())), 0o644))
	must(os.WriteFile(path+".env", []byte(fmt.Sprintf("CONTAINER_ID=%s\nCONTAINER_NAMESPACE=%s\nPATH=%s\n",
		os.Getenv("CONTAINER_ID"), os.Getenv("CONTAINER_NAMESPACE"), os.Getenv("PATH"))), 0o644))
	out, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	must(err)
	var mu sync.Mutex
	var wg sync.WaitGroup
	for fd, name := range map[uintptr]string{3: "stdout", 4: "stderr"} {
		wg.Add(1)
		go func(f *os.File, name string) {
			defer wg.Done()
			s := bufio.NewScanner(f)
			for s.Scan() {
				mu.Lock()
				fmt.Fprintf(out, "%s: %s\n", name, s.Text())
				mu.Unlock()
			}
		}(os.NewFile(fd, name), name)
	}
	must(os.NewFile(5, "ready").Close())
	wg.Wait()
	must(out.Close())
	must(os.WriteFile(path+".eof", nil, 0o644))
}

func must(err error) {
	if err != nil {
		fmt.Fprintln(os.Stderr, "logdriver:", err)
		os.Exit(1)
	}
}
