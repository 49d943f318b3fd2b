// Package secret keeps secrets (keys, shares, PINs) in memory that is
// locked against swap, left out of core dumps and wiped when released, and
// hardens the process against dumps (ARCHITECTURE.md, "Engine rules": secrets).
package secret

import (
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// Harden makes the process non-dumpable (prctl PR_SET_DUMPABLE 0: no
// core file, no ptrace attach by other unprivileged processes, /proc/PID/mem
// readable only by root) and sets the core file size limit to 0. Called
// once at process start.
func Harden() error {
	if err := unix.Prctl(unix.PR_SET_DUMPABLE, 0, 0, 0, 0); err != nil {
		return fmt.Errorf("secret: prctl PR_SET_DUMPABLE 0: %w", err)
	}
	if err := unix.Setrlimit(unix.RLIMIT_CORE, &unix.Rlimit{Cur: 0, Max: 0}); err != nil {
		return fmt.Errorf("secret: setrlimit RLIMIT_CORE 0: %w", err)
	}
	return nil
}

// Buffer is n bytes of anonymous memory of their own mapping, locked in RAM
// (mlock) and excluded from core dumps (MADV_DONTDUMP). Release wipes and
// unmaps it. Bytes is the only view of it: copy nothing out of it that
// must not outlive it.
type Buffer struct {
	mem []byte // the whole mapping (page-rounded)
	n   int
}

// New maps a locked, non-dumpable buffer of n bytes. A failed mlock (a low
// RLIMIT_MEMLOCK) is an error: the caller says so rather than keep a secret
// in swappable memory.
func New(n int) (*Buffer, error) {
	if n <= 0 {
		return nil, fmt.Errorf("secret: buffer of %d bytes: the size must be positive", n)
	}
	page := os.Getpagesize()
	size := (n + page - 1) / page * page
	mem, err := unix.Mmap(-1, 0, size, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS)
	if err != nil {
		return nil, fmt.Errorf("secret: mmap %d bytes: %w", size, err)
	}
	if err := unix.Madvise(mem, unix.MADV_DONTDUMP); err != nil {
		unix.Munmap(mem)
		return nil, fmt.Errorf("secret: madvise MADV_DONTDUMP: %w", err)
	}
	if err := unix.Mlock(mem); err != nil {
		unix.Munmap(mem)
		return nil, fmt.Errorf("secret: mlock %d bytes (raise the memlock limit, ulimit -l): %w", size, err)
	}
	return &Buffer{mem: mem, n: n}, nil
}

// Copy returns a new buffer holding a copy of b, and wipes b.
func Copy(b []byte) (*Buffer, error) {
	s, err := New(len(b))
	if err != nil {
		Wipe(b)
		return nil, err
	}
	copy(s.Bytes(), b)
	Wipe(b)
	return s, nil
}

// Bytes is the secret. Nil after Release.
func (s *Buffer) Bytes() []byte {
	if s == nil || s.mem == nil {
		return nil
	}
	return s.mem[:s.n:s.n]
}

// Release wipes, unlocks and unmaps the buffer. Safe on nil and twice.
func (s *Buffer) Release() {
	if s == nil || s.mem == nil {
		return
	}
	Wipe(s.mem)
	unix.Munlock(s.mem)
	unix.Munmap(s.mem)
	s.mem = nil
}

// Wipe overwrites b with zeros.
func Wipe(b []byte) {
	for i := range b {
		b[i] = 0
	}
}
