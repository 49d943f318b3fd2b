package jetstream

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
)

// jszPing asks every server of the cluster for its JetStream state (the
// monitoring request JSZ of the NATS documentation, "System Events"); only
// a user of the system account may send it.
const jszPing = "$SYS.REQ.SERVER.PING.JSZ"

// replicaWait bounds the wait for the servers' answers to one JSZ request:
// a server that has not answered by then is reported as not answering.
const replicaWait = 3 * time.Second

// Replica is what one server of the stream's replica set holds of the
// stream, as the server itself says (JSZ through the system account),
// compared with the stream leader's state. The stream info's view of the
// replica (Current, Offline, Lag) is the raft log's: nats-server calls a
// replica current even when its files lost events at its restart
// (README.md, "Running on a NATS cluster"), so the verdict is taken from
// the server's own state.
type Replica struct {
	Server   string
	Leader   bool
	Answered bool // the server answered the JSZ request
	// The stream info's view.
	Current, Offline bool
	Lag              uint64
	// The server's own state of the stream (when it answered and holds one).
	HasStream         bool
	Account           string // the account the stream is in, as the server names it
	Msgs, First, Last uint64
	Deleted           uint64   // sequences the server counts as deleted
	Lost              []uint64 // sequences the server reports lost
	// The verdict: Damaged (events missing that the stream never deletes,
	// or lost), Behind (fewer events than the leader: it catches up from
	// its peers), or neither. Problem and Advice say it in words.
	Damaged, Behind bool
	Problem, Advice string
}

// OK reports whether the replica holds every event the leader holds.
func (r Replica) OK() bool { return r.Problem == "" }

// Replicas asks every server of the stream's replica set what it holds of
// the stream: a JSZ request to all servers, sent as the system account's
// user of sys (its URLs, TLS, and credentials file or nkeyFile), and
// compares each answer with the stream leader's state. It is for a store
// on a cluster (Config.Remote); a server that does not answer within a
// few seconds is reported as such.
func (s *Store) Replicas(ctx context.Context, sys Remote, nkeyFile string) ([]Replica, error) {
	if err := s.usable("replicas"); err != nil {
		return nil, err
	}
	info, err := s.stream.Info(ctx)
	if err != nil {
		return nil, fmt.Errorf("jetstream: stream %s info: %w", s.name, err)
	}
	if info.Cluster == nil || info.Cluster.Leader == "" {
		return nil, fmt.Errorf("jetstream: stream %s has no leader: %s", s.name, s.noLeaderReadText())
	}
	set := []Replica{{Server: info.Cluster.Leader, Leader: true, Current: true}}
	for _, p := range info.Cluster.Replicas {
		set = append(set, Replica{Server: p.Name, Current: p.Current, Offline: p.Offline, Lag: p.Lag})
	}
	nc, err := dialRemote(sys, nkeyFile, []nats.Option{nats.Name("ceremony replica check")})
	if err != nil {
		return nil, fmt.Errorf("jetstream: connect as the system account's user: %w", err)
	}
	defer nc.Close()
	answers, err := jszAnswers(ctx, nc, set)
	if err != nil {
		return nil, err
	}
	leader := info.State
	for i := range set {
		r := &set[i]
		a, ok := answers[r.Server]
		r.Answered = ok
		if ok {
			fillState(r, a, s.name, info.Created)
		}
		judge(r, s.name, leader.FirstSeq, leader.LastSeq)
	}
	return set, nil
}

// jszAnswers sends one JSZ request to every server and gathers the
// answers of the servers of set, by server name, until each answered or
// replicaWait passed.
func jszAnswers(ctx context.Context, nc *nats.Conn, set []Replica) (map[string]*server.JSInfo, error) {
	body, err := json.Marshal(server.JSzOptions{Accounts: true, Streams: true})
	if err != nil {
		return nil, err
	}
	inbox := nc.NewRespInbox()
	sub, err := nc.SubscribeSync(inbox)
	if err != nil {
		return nil, fmt.Errorf("jetstream: JSZ request: %w", err)
	}
	defer sub.Unsubscribe()
	if err := nc.PublishRequest(jszPing, inbox, body); err != nil {
		return nil, fmt.Errorf("jetstream: JSZ request: %w", err)
	}
	if err := nc.Flush(); err != nil {
		return nil, fmt.Errorf("jetstream: JSZ request: %w", err)
	}
	wctx, cancel := context.WithTimeout(ctx, replicaWait)
	defer cancel()
	want := map[string]bool{}
	for _, r := range set {
		want[r.Server] = true
	}
	answers := map[string]*server.JSInfo{}
	for len(answers) < len(want) {
		msg, err := sub.NextMsgWithContext(wctx)
		if errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil {
			break // the others did not answer in time
		}
		if err != nil {
			return nil, fmt.Errorf("jetstream: JSZ answers: %w", err)
		}
		var resp struct {
			Server struct {
				Name string `json:"name"`
			} `json:"server"`
			Data  *server.JSInfo   `json:"data"`
			Error *server.ApiError `json:"error"`
		}
		if err := json.Unmarshal(msg.Data, &resp); err != nil {
			return nil, fmt.Errorf("jetstream: a JSZ answer: %w", err)
		}
		if resp.Error != nil {
			return nil, fmt.Errorf("jetstream: server %s refused the JSZ request: %s (is the user of the system account?)", resp.Server.Name, resp.Error.Description)
		}
		if want[resp.Server.Name] && resp.Data != nil {
			answers[resp.Server.Name] = resp.Data
		}
	}
	return answers, nil
}

// fillState copies the server's state of stream (name, created at
// created) into r.
func fillState(r *Replica, a *server.JSInfo, name string, created time.Time) {
	var found *server.StreamDetail
	for _, acc := range a.AccountDetails {
		for i := range acc.Streams {
			d := &acc.Streams[i]
			if d.Name != name {
				continue
			}
			// One stream of this name per account: the creation time
			// tells ours from another account's.
			if found == nil || d.Created.Equal(created) {
				found, r.Account = d, acc.Name
			}
		}
	}
	if found == nil {
		return
	}
	st := found.State
	r.HasStream = true
	r.Msgs, r.First, r.Last, r.Deleted = st.Msgs, st.FirstSeq, st.LastSeq, uint64(st.NumDeleted)
	if st.Lost != nil {
		r.Lost = slices.Clone(st.Lost.Msgs)
	}
}

// judge sets r's verdict against the leader's first and last sequences.
func judge(r *Replica, stream string, first, last uint64) {
	copyDir := fmt.Sprintf("jetstream/%s/streams/%s in its store_dir", r.Account, stream)
	switch {
	case !r.Answered:
		r.Problem = "did not answer (down, or not reachable from the server this station reached)"
		r.Advice = fmt.Sprintf("start %s or mend its routes, then check again; until then its copy cannot be checked", r.Server)
	case !r.HasStream:
		r.Behind = true
		r.Problem = fmt.Sprintf("holds no copy of stream %s", stream)
		r.Advice = "a replica just placed or restarted without its files copies the stream from its peers: check again; if it stays, see its server log"
	case len(r.Lost) > 0 || r.Msgs < span(r.First, r.Last) || r.Deleted > 0:
		r.Damaged = true
		missing := span(r.First, r.Last) - r.Msgs
		r.Problem = fmt.Sprintf("holds %d of events %d-%d: %d missing, and the stream never deletes; its files were damaged (a cut or lost block), the server counts the missing events as deleted and does not fetch them from its peers", r.Msgs, r.First, r.Last, missing)
		if len(r.Lost) > 0 {
			r.Problem += fmt.Sprintf("; it reports sequences %v lost", r.Lost)
		}
		r.Advice = fmt.Sprintf("stop %s, move its copy of the stream (%s) aside, start it: it copies the stream from its peers; then check again", r.Server, copyDir)
	case r.Last < last || (r.Msgs > 0 && r.First > first) || (r.Msgs == 0 && last > 0):
		r.Behind = true
		r.Problem = fmt.Sprintf("holds events %s, the leader %d-%d: it is behind", seqRange(r.First, r.Last, r.Msgs), first, last)
		r.Advice = "it catches up from its peers by itself (so does a replica whose damaged block the server cut at its restart): check again; if it stays behind, see its server log ('corrupt record')"
	}
}

// span is the number of sequences first..last.
func span(first, last uint64) uint64 {
	if last < first {
		return 0
	}
	return last - first + 1
}

// seqRange names the events a replica holds.
func seqRange(first, last, msgs uint64) string {
	if msgs == 0 {
		return "none"
	}
	return fmt.Sprintf("%d-%d", first, last)
}

// shortReadWait bounds the wait of a reader whose replica delivered all it
// has while the stream leader holds more: a replica applying what the
// leader acknowledged a moment ago delivers within it; one that lost the
// events never does.
const shortReadWait = 2 * time.Second

// skipped is the error of a read of the whole stream that jumped from
// sequence want to got. The stream never deletes, so the replica serving
// the read (on a cluster, JetStream runs a reader on the server the client
// is connected to when it holds a replica) lacks the events between.
func (s *Store) skipped(want, got uint64) error {
	return fmt.Errorf("%w: the copy of stream %s on %s lacks events %d-%d (the stream never deletes; the read went from %d to %d): %s",
		ErrReplicaDamaged, s.name, s.serverName(), want, got-1, want-1, got, replicaAdvice)
}

// stopsShort is the error of a read whose replica stops at sequence at
// while the stream leader holds events up to until.
func (s *Store) stopsShort(at, until uint64) error {
	return fmt.Errorf("%w: the copy of stream %s on %s stops at event %d, the stream leader holds %d (nothing more came within %s): %s",
		ErrReplicaDamaged, s.name, s.serverName(), at, until, shortReadWait, replicaAdvice)
}

// replicaAdvice says what to do about a read from a damaged replica.
const replicaAdvice = "connect through another server (--nats with the others' URLs) and check the replicas ('ceremony audit verify-store --nats URL --nats-system-creds FILE')"

// ErrReplicaDamaged is returned (wrapped) by a read whose replica lacks
// events the stream holds.
var ErrReplicaDamaged = errors.New("a replica of the stream lacks events")

// serverName names the server this store is connected to.
func (s *Store) serverName() string {
	if name := s.nc.ConnectedServerName(); name != "" {
		return "server " + name
	}
	return "the server " + s.nc.ConnectedUrlRedacted()
}
