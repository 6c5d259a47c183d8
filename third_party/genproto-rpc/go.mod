// An empty stand-in for google.golang.org/genproto/googleapis/rpc, so that
// google.golang.org/genproto/googleapis/rpc/status comes from the older
// genproto containerd v1.6.38 pins (see the replace block in ../../go.mod).
module google.golang.org/genproto/googleapis/rpc

go 1.19
