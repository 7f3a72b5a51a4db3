package main

import (
	"runtime/debug"
	"testing"
)

func TestTuneGCRespectsGOGC(t *testing.T) {
	orig := debug.SetGCPercent(100)
	defer debug.SetGCPercent(orig)

	t.Setenv("GOGC", "")
	tuneGC()
	if got := debug.SetGCPercent(100); got != gatewayGCPercent {
		t.Fatalf("GOGC unset: GC percent %d, want %d", got, gatewayGCPercent)
	}
	t.Setenv("GOGC", "50")
	debug.SetGCPercent(50) // what the runtime did at start with GOGC=50
	tuneGC()
	if got := debug.SetGCPercent(100); got != 50 {
		t.Fatalf("GOGC=50: GC percent %d, want the user's 50", got)
	}
}
