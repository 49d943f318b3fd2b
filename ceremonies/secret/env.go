package secret

import (
	"bytes"
	"fmt"
	"os"
	"strconv"
	"strings"
)

// TakeEnv reads a secret from the environment variable name and removes it
// from the process: the value is copied out, os.Unsetenv drops it from the
// environment children would inherit, and its value in the environment
// block the kernel shows as /proc/PID/environ is overwritten with zeros.
// ok is false when the variable is not set. The caller wipes the value.
func TakeEnv(name string) (value []byte, ok bool, err error) {
	v, ok := os.LookupEnv(name)
	if !ok {
		return nil, false, nil
	}
	value = []byte(v)
	if err := os.Unsetenv(name); err != nil {
		Wipe(value)
		return nil, true, fmt.Errorf("secret: unset %s: %w", name, err)
	}
	if err := wipeEnvBlock(name); err != nil {
		Wipe(value)
		return nil, true, fmt.Errorf("secret: wipe %s from /proc/self/environ: %w", name, err)
	}
	return value, true, nil
}

// wipeEnvBlock overwrites the value of every name=value entry in the
// environment block the kernel set up at exec (the runtime copied it, so
// the block is no longer read) through /proc/self/mem.
func wipeEnvBlock(name string) error {
	start, end, err := envBlock()
	if err != nil {
		return err
	}
	mem, err := os.OpenFile("/proc/self/mem", os.O_RDWR, 0)
	if err != nil {
		return err
	}
	defer mem.Close()
	block := make([]byte, end-start)
	if _, err := mem.ReadAt(block, int64(start)); err != nil {
		return fmt.Errorf("read the block: %w", err)
	}
	defer Wipe(block)
	prefix := []byte(name + "=")
	for off := 0; off < len(block); {
		entry := block[off:]
		if n := bytes.IndexByte(entry, 0); n >= 0 {
			entry = entry[:n]
		}
		if bytes.HasPrefix(entry, prefix) {
			zeros := make([]byte, len(entry)-len(prefix))
			if _, err := mem.WriteAt(zeros, int64(start)+int64(off+len(prefix))); err != nil {
				return fmt.Errorf("overwrite the value: %w", err)
			}
		}
		off += len(entry) + 1
	}
	return nil
}

// envBlock returns env_start and env_end from /proc/self/stat (proc(5),
// fields 50 and 51).
func envBlock() (start, end uint64, err error) {
	raw, err := os.ReadFile("/proc/self/stat")
	if err != nil {
		return 0, 0, err
	}
	// Fields after the command name, which is in parentheses and may hold spaces.
	i := bytes.LastIndexByte(raw, ')')
	if i < 0 {
		return 0, 0, fmt.Errorf("/proc/self/stat: no command name")
	}
	f := strings.Fields(string(raw[i+1:])) // f[0] is field 3
	if len(f) < 49 {
		return 0, 0, fmt.Errorf("/proc/self/stat: %d fields, want at least 51", len(f)+2)
	}
	s, err1 := strconv.ParseUint(f[50-3], 10, 64)
	e, err2 := strconv.ParseUint(f[51-3], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, 0, fmt.Errorf("/proc/self/stat: env_start/env_end unreadable")
	}
	return s, e, nil
}
