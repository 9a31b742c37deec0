// Package version holds Proxima's build version, set at link time:
//
//	go build -ldflags "-X github.com/proxima-sched/proxima/pkg/version.Version=v0.1.0"
package version

// Version is Proxima's release version; "dev" in builds without ldflags.
var Version = "dev"

// Commit is the source commit of the build, when known.
var Commit = "unknown"
