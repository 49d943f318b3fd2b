package jetstream

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	natsjs "github.com/nats-io/nats.go/jetstream"
)

// subjects is what the stream stores: ceremony.<ceremony id>.<event type>.
const subjects = "ceremony.>"

// wantStreamConfig is the stream we create (ARCHITECTURE.md, "Events"):
// file storage, nothing may be deleted or purged, no limit that would drop
// audit history. Discard is irrelevant without limits; the duplicate
// window stays at the server default.
func wantStreamConfig(name string, replicas int) natsjs.StreamConfig {
	return natsjs.StreamConfig{
		Name:              name,
		Description:       "ceremony events: append-only audit history",
		Subjects:          []string{subjects},
		Retention:         natsjs.LimitsPolicy,
		Storage:           natsjs.FileStorage,
		Replicas:          replicas,
		MaxConsumers:      -1,
		MaxMsgs:           -1,
		MaxBytes:          -1,
		MaxAge:            0,
		MaxMsgsPerSubject: -1,
		Discard:           natsjs.DiscardOld,
		DenyDelete:        true,
		DenyPurge:         true,
	}
}

// ensureStream creates the stream, or checks that the existing one has our
// settings and replicas. It never changes an existing stream.
func ensureStream(ctx context.Context, js natsjs.JetStream, name string, replicas int) (natsjs.Stream, error) {
	st, err := js.Stream(ctx, name)
	if errors.Is(err, natsjs.ErrStreamNotFound) {
		st, err = js.CreateStream(ctx, wantStreamConfig(name, replicas))
		if errors.Is(err, natsjs.ErrStreamNameAlreadyInUse) {
			st, err = js.Stream(ctx, name)
		} else if err != nil {
			return nil, fmt.Errorf("jetstream: create stream %s with %d replicas: %w", name, replicas, explainCreate(err, replicas))
		}
	}
	if err != nil {
		return nil, fmt.Errorf("jetstream: look up stream %s: %w", name, err)
	}
	if err := checkStreamConfig(st.CachedInfo().Config, replicas); err != nil {
		return nil, err
	}
	return st, nil
}

// checkStreamConfig returns an error naming every setting of an existing
// stream that differs from ours in a way that matters: anything that could
// drop, alter or hide events, or weaken durability.
func checkStreamConfig(got natsjs.StreamConfig, replicas int) error {
	var diffs []string
	differ := func(format string, args ...any) { diffs = append(diffs, fmt.Sprintf(format, args...)) }

	if got.Replicas != replicas {
		differ("replicas %d, want %d (--replicas %d uses the stream as it is)", got.Replicas, replicas, got.Replicas)
	}
	if !slices.Equal(got.Subjects, []string{subjects}) {
		differ("subjects %q, want [%q]", got.Subjects, subjects)
	}
	if got.Storage != natsjs.FileStorage {
		differ("storage %s, want file", got.Storage)
	}
	if got.Retention != natsjs.LimitsPolicy {
		differ("retention %s, want limits (other policies delete events)", got.Retention)
	}
	if got.MaxAge != 0 {
		differ("max_age %s, want no age limit", got.MaxAge)
	}
	if got.MaxBytes > 0 {
		differ("max_bytes %d, want no size limit", got.MaxBytes)
	}
	if got.MaxMsgs > 0 {
		differ("max_msgs %d, want no message limit", got.MaxMsgs)
	}
	if got.MaxMsgsPerSubject > 0 {
		differ("max_msgs_per_subject %d, want no per-subject limit", got.MaxMsgsPerSubject)
	}
	if !got.DenyDelete {
		differ("deny_delete false, want true")
	}
	if !got.DenyPurge {
		differ("deny_purge false, want true")
	}
	if got.AllowRollup {
		differ("allow_rollup_hdrs true, want false (a rollup purges events)")
	}
	if got.AllowMsgTTL {
		differ("allow_msg_ttl true, want false (a message TTL deletes events)")
	}
	if got.SubjectDeleteMarkerTTL != 0 {
		differ("subject_delete_marker_ttl %s, want none", got.SubjectDeleteMarkerTTL)
	}
	if got.Sealed {
		differ("sealed true, want false (no event could be appended)")
	}
	if got.NoAck {
		differ("no_ack true, want false (appends would not be acknowledged)")
	}
	if got.PersistMode != natsjs.DefaultPersistMode {
		differ("persist_mode %s, want default (async acknowledges before writing)", got.PersistMode)
	}
	if got.Mirror != nil {
		differ("mirror set, want none")
	}
	if len(got.Sources) > 0 {
		differ("%d sources, want none", len(got.Sources))
	}
	if got.SubjectTransform != nil {
		differ("subject_transform set, want none")
	}
	if len(diffs) > 0 {
		return fmt.Errorf("jetstream: stream %s exists with other settings: %s; refusing to use or change it (restore these settings or choose another stream name)",
			got.Name, strings.Join(diffs, "; "))
	}
	return nil
}

// explainCreate says what to do when the servers cannot place the
// replicas (JetStream error codes 10005, no peers, and 10023, insufficient
// resources).
func explainCreate(err error, replicas int) error {
	var apiErr *natsjs.APIError
	if errors.As(err, &apiErr) && (apiErr.ErrorCode == 10005 || apiErr.ErrorCode == 10023) && replicas > 1 {
		return fmt.Errorf("%w (fewer than %d JetStream servers can take it: give --replicas with the cluster's size)", err, replicas)
	}
	return err
}
