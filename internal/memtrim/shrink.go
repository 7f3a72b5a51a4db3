package memtrim

// Shrunk is called after a delete from m, a map whose largest size since
// it was made is peak. Go maps never shrink: one that a burst grew keeps
// its slots (and a walk over it visits them). Once m grew past min
// entries and has fallen to a quarter of its peak, Shrunk returns a copy
// of m sized for what it holds, and that size as the new peak; otherwise
// m and peak unchanged. A rebuild copies at most a quarter of the entries
// deleted since the last one.
func Shrunk[K comparable, V any](m map[K]V, peak, min int) (map[K]V, int) {
	if peak < min || len(m) > peak/4 {
		return m, peak
	}
	c := make(map[K]V, len(m))
	for k, v := range m {
		c[k] = v
	}
	return c, len(c)
}
