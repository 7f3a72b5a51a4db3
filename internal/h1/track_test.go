package h1

import (
	"reflect"
	"testing"
)

// TestConnsMapShrinks: the map of open connections, grown by a burst,
// is rebuilt at its size once three quarters of its peak have closed
// (Go maps never shrink; issue 17), and keeps every connection still open.
func TestConnsMapShrinks(t *testing.T) {
	s := &Server{}
	const peak = 2 * shrinkMin
	cs := make([]*conn, peak)
	for i := range cs {
		cs[i] = &conn{}
		if !s.track(cs[i], true) {
			t.Fatal("track refused a connection")
		}
	}
	grown := reflect.ValueOf(s.conns).UnsafePointer()
	for i := 0; i < peak-peak/4-1; i++ {
		s.track(cs[i], false)
	}
	if reflect.ValueOf(s.conns).UnsafePointer() != grown {
		t.Fatalf("rebuilt at %d of a peak of %d, want at %d", len(s.conns), peak, peak/4)
	}
	s.track(cs[peak-peak/4-1], false)
	if reflect.ValueOf(s.conns).UnsafePointer() == grown {
		t.Fatalf("not rebuilt at %d of a peak of %d", len(s.conns), peak)
	}
	if len(s.conns) != peak/4 || s.connsPeak != peak/4 {
		t.Fatalf("after the rebuild: %d connections, peak %d; want %d", len(s.conns), s.connsPeak, peak/4)
	}
	for _, c := range cs[peak-peak/4:] {
		if _, ok := s.conns[c]; !ok {
			t.Fatal("an open connection was lost in the rebuild")
		}
	}
	// Small maps are left alone: below shrinkMin nothing is rebuilt.
	small := reflect.ValueOf(s.conns).UnsafePointer()
	for _, c := range cs[peak-peak/4:] {
		s.track(c, false)
	}
	if len(s.conns) != 0 || reflect.ValueOf(s.conns).UnsafePointer() != small {
		t.Fatalf("%d connections left, rebuilt below shrinkMin: %v", len(s.conns), reflect.ValueOf(s.conns).UnsafePointer() != small)
	}
}
