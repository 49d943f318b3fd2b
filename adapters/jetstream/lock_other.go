//go:build !unix

package jetstream

// lockDir does nothing on systems without flock: there, nothing stops two
// stores from opening one directory. The product runs on Unix.
func lockDir(path string) (release func() error, err error) {
	return func() error { return nil }, nil
}
