//go:build !linux

package pinpad

// flushInput: only the reader's buffer is discarded on this platform.
func flushInput(int) {}
