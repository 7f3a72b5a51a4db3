package memtrim

import (
	"reflect"
	"testing"
)

// TestShrunk: a map is rebuilt only once it grew past min and fell to a
// quarter of its peak, keeping every entry; the peak restarts from there.
func TestShrunk(t *testing.T) {
	m := map[int]string{}
	for i := range 100 {
		m[i] = "v"
	}
	ptr := func(m map[int]string) uintptr { return uintptr(reflect.ValueOf(m).UnsafePointer()) }
	for i := range 74 {
		delete(m, i)
	}
	if got, peak := Shrunk(m, 100, 50); ptr(got) != ptr(m) || peak != 100 {
		t.Fatalf("rebuilt with 26 of a peak of 100")
	}
	delete(m, 74)
	got, peak := Shrunk(m, 100, 50)
	if ptr(got) == ptr(m) || peak != 25 || len(got) != 25 {
		t.Fatalf("at 25 of 100: rebuilt %v, peak %d, %d entries", ptr(got) != ptr(m), peak, len(got))
	}
	for i := 75; i < 100; i++ {
		if got[i] != "v" {
			t.Fatalf("entry %d lost in the rebuild", i)
		}
	}
	// Below min nothing is rebuilt, however small the map becomes.
	for i := 75; i < 99; i++ {
		delete(got, i)
	}
	if g2, p2 := Shrunk(got, 25, 50); ptr(g2) != ptr(got) || p2 != 25 {
		t.Fatal("rebuilt below min")
	}
}
