package pinpad

import "golang.org/x/sys/unix"

// flushInput discards what the terminal fd holds typed but not read
// (tcflush(fd, TCIFLUSH)).
func flushInput(fd int) { _ = unix.IoctlSetInt(fd, unix.TCFLSH, unix.TCIFLUSH) }
