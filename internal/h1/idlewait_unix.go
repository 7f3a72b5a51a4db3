//go:build unix

package h1

import "syscall"

const peekSupported = true

// peekWouldBlock reports whether the (non-blocking) socket fd has nothing
// to read: no byte, no EOF, no error.
func peekWouldBlock(fd uintptr) bool {
	var b [1]byte
	_, _, err := syscall.Recvfrom(int(fd), b[:], syscall.MSG_PEEK)
	return err == syscall.EAGAIN
}
