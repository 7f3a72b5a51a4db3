//go:build !unix

package h1

const peekSupported = false

func peekWouldBlock(uintptr) bool { return false }
