package jetstream

import (
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"strings"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nkeys"
)

// Subjects a client of the store uses (ARCHITECTURE.md, "Events"): the
// events, the JetStream API (stream info and create, message get,
// consumers; it covers the KV buckets' streams KV_<bucket>), the lease
// and projection buckets' keys ($KV.<bucket>.>) and the replies to its requests and
// consumers on its inbox. The embedded listener's user may use nothing
// else.
func clientPublish(stream string) []string {
	return []string{subjects, "$JS.API.>", "$KV." + LeaseBucket(stream) + ".>", "$KV." + ProjectionBucket(stream) + ".>"}
}

var clientSubscribe = []string{"_INBOX.>"}

// CreateNkeySeed writes a new NATS user nkey seed to path (mode 0600) if
// no file is there, and returns whether it made one. An existing file is
// kept: it must hold a user seed.
func CreateNkeySeed(path string) (bool, error) {
	if _, err := readUserSeed(path); err == nil {
		return false, nil
	} else if !errors.Is(err, fs.ErrNotExist) {
		return false, err
	}
	kp, err := nkeys.CreateUser()
	if err != nil {
		return false, fmt.Errorf("jetstream: create an nkey: %w", err)
	}
	seed, err := kp.Seed()
	if err != nil {
		return false, fmt.Errorf("jetstream: create an nkey: %w", err)
	}
	defer wipe(seed)
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return false, fmt.Errorf("jetstream: write the nkey seed file %s: %w", path, err)
	}
	_, werr := f.Write(append(seed, '\n'))
	if err := errors.Join(werr, f.Sync(), f.Close()); err != nil {
		os.Remove(path)
		return false, fmt.Errorf("jetstream: write the nkey seed file %s: %w", path, err)
	}
	return true, nil
}

// readUserSeed returns the key pair of the user nkey seed in path. The
// file must not be readable by others.
func readUserSeed(path string) (nkeys.KeyPair, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("jetstream: nkey seed file: %w", err)
	}
	if fi.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("jetstream: nkey seed file %s has mode %v: others may read it; chmod 600 it", path, fi.Mode().Perm())
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("jetstream: nkey seed file: %w", err)
	}
	defer wipe(data)
	kp, err := nkeys.FromSeed([]byte(strings.TrimSpace(string(data))))
	if err != nil {
		return nil, fmt.Errorf("jetstream: nkey seed file %s does not hold an nkey seed", path)
	}
	if pub, err := kp.PublicKey(); err != nil || !nkeys.IsValidPublicUserKey(pub) {
		return nil, fmt.Errorf("jetstream: nkey seed file %s does not hold a user nkey seed (it starts with SU)", path)
	}
	return kp, nil
}

// listenerUsers is the one user of the embedded listener: the public key
// of the seed in seedFile, limited to what a client of the store on
// stream uses.
func listenerUsers(seedFile, stream string) ([]*server.NkeyUser, error) {
	kp, err := readUserSeed(seedFile)
	if err != nil {
		return nil, err
	}
	defer kp.Wipe()
	pub, err := kp.PublicKey()
	if err != nil {
		return nil, fmt.Errorf("jetstream: nkey seed file %s: %w", seedFile, err)
	}
	return []*server.NkeyUser{{
		Nkey: pub,
		Permissions: &server.Permissions{
			Publish:   &server.SubjectPermission{Allow: clientPublish(stream)},
			Subscribe: &server.SubjectPermission{Allow: clientSubscribe},
		},
	}}, nil
}

// checkLoopback refuses a listen host that is not a loopback address: the
// embedded listener serves this machine only.
func checkLoopback(listen, host string) error {
	if host == "localhost" {
		return nil
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsLoopback() {
		return nil
	}
	return fmt.Errorf("jetstream: Config.Listen %q: the embedded server listens on loopback only (127.0.0.1 or [::1]); other machines use a NATS cluster", listen)
}

func wipe(b []byte) {
	for i := range b {
		b[i] = 0
	}
}
