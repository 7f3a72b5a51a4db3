package main

import (
	"fmt"
	"runtime"
	"runtime/debug"
)

// version is set at build time with -ldflags "-X main.version=v1.2.3".
var version = ""

// versionString is what 'tlsgate version' prints: the release, the Go
// version and the platform.
func versionString() string {
	return fmt.Sprintf("tlsgate %s %s %s/%s", releaseVersion(), runtime.Version(), runtime.GOOS, runtime.GOARCH)
}

// releaseVersion is the release alone (v1.2.3, or the module version of a
// go install, or "(devel)"): for User-Agents and the tool version in
// reports.
func releaseVersion() string {
	if version != "" {
		return version
	}
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" {
		return bi.Main.Version
	}
	return "(devel)"
}
