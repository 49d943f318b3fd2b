package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
	"time"
)

// The station service ('ceremony serve') announces itself in its data
// directory: serviceFile names its URL, the nkey seed file its clients
// authenticate with, its pid and since when it runs. Every other command
// on that directory reads it and connects as a client.
const (
	serviceFile = "serve.json"
	serviceSeed = "serve.nk" // the listener's user nkey seed, 0600
)

// service is the content of serviceFile.
type service struct {
	URL      string    `json:"url"`
	NkeyFile string    `json:"nkey_file"`
	PID      int       `json:"pid"`
	Started  time.Time `json:"started"`
	Sync     string    `json:"sync"`
	// DualControl names the kinds the service's console puts under dual
	// control: a start of one from a terminal is refused
	// (refuseDualControl).
	DualControl []string `json:"dual_control,omitempty"`
}

func servicePath(dataDir string) string { return filepath.Join(dataDir, serviceFile) }

// readService returns the service announced in dataDir, or nil when no
// service file is there.
func readService(dataDir string) (*service, error) {
	data, err := os.ReadFile(servicePath(dataDir))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read the service file: %w", err)
	}
	var s service
	if err := json.Unmarshal(data, &s); err != nil || s.URL == "" || s.NkeyFile == "" || s.PID <= 0 {
		return nil, fmt.Errorf("service file %s is not one 'ceremony serve' wrote: remove it if no service runs", servicePath(dataDir))
	}
	return &s, nil
}

// alive reports whether the service's process exists.
func (s *service) alive() bool {
	err := syscall.Kill(s.PID, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}

// writeService writes the service file (0600) atomically.
func writeService(dataDir string, s service) error {
	data, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(dataDir, ".serve-*.json")
	if err != nil {
		return fmt.Errorf("write the service file: %w", err)
	}
	_, werr := tmp.Write(append(data, '\n'))
	if err := errors.Join(werr, tmp.Chmod(0o600), tmp.Sync(), tmp.Close()); err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("write the service file: %w", err)
	}
	if err := os.Rename(tmp.Name(), servicePath(dataDir)); err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("write the service file: %w", err)
	}
	return nil
}
