package main

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// socketOwner finds the pid of the process that listens on the unix socket
// at path, for the daemon's CPU figures when the tool is pointed at a running
// containerd.
func socketOwner(path string) (int, error) {
	inode, err := listeningInode(path)
	if err != nil {
		return 0, err
	}
	want := fmt.Sprintf("socket:[%s]", inode)
	fds, _ := filepath.Glob("/proc/[0-9]*/fd/*")
	for _, fd := range fds {
		if link, err := os.Readlink(fd); err == nil && link == want {
			pid, err := strconv.Atoi(strings.Split(fd, "/")[2])
			if err == nil && pid != os.Getpid() {
				return pid, nil
			}
		}
	}
	return 0, fmt.Errorf("no process holds the socket %s", path)
}

// listeningInode reads /proc/net/unix: Num RefCount Protocol Flags Type St Inode Path.
func listeningInode(path string) (string, error) {
	f, err := os.Open("/proc/net/unix")
	if err != nil {
		return "", err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		// Flags 00010000 is __SO_ACCEPTCON: a listening socket.
		if len(fields) >= 8 && fields[7] == path && fields[3] == "00010000" {
			return fields[6], nil
		}
	}
	return "", fmt.Errorf("no listening socket at %s in /proc/net/unix", path)
}
