package jetstream

import "testing"

// TestAckSeqs reads the stream sequence and pending count from both forms
// of the acknowledgement subject and refuses anything else.
func TestAckSeqs(t *testing.T) {
	good := []struct {
		reply        string
		seq, pending uint64
	}{
		{"$JS.ACK.CEREMONY.c1.1.42.7.1700000000000000000.3", 42, 3},
		{"$JS.ACK._.ACCHASH.CEREMONY.c1.1.42.7.1700000000000000000.0.tok", 42, 0},
		{"$JS.ACK.dom.ACCHASH.CEREMONY.c1.1.18446744073709551615.7.1.9", 18446744073709551615, 9},
		{"$JS.ACK.dom.ACCHASH.CEREMONY.c1.1.5.7.1.9.tok.more", 5, 9},
	}
	for _, g := range good {
		seq, pending, ok := ackSeqs(g.reply)
		if !ok || seq != g.seq || pending != g.pending {
			t.Errorf("ackSeqs(%q) = %d, %d, %v; want %d, %d, true", g.reply, seq, pending, ok, g.seq, g.pending)
		}
	}
	for _, bad := range []string{
		"",
		"_INBOX.abc",
		"$JS.ACK.",
		"$JS.ACK.CEREMONY.c1.1.42.7.1700000000000000000",     // 8 tokens
		"$JS.ACK.CEREMONY.c1.1.42.7.1700000000000000000.3.x", // 10 tokens
		"$JS.ACK.CEREMONY.c1.1.x42.7.1700000000000000000.3",  // not a number
		"$JS.ACK.CEREMONY.c1.1.0.7.1700000000000000000.3",    // no sequence 0
		"$JS.ACK.CEREMONY.c1.1.42.7.1700000000000000000.",    // empty pending
		"$JS.ACK.CEREMONY.c1.1.99999999999999999999.7.1.3",   // overflows
		"$JS.NAK.CEREMONY.c1.1.42.7.1700000000000000000.3",
	} {
		if seq, pending, ok := ackSeqs(bad); ok {
			t.Errorf("ackSeqs(%q) = %d, %d, true; want refused", bad, seq, pending)
		}
	}
}

// TestIsEventSubject: isEventSubject agrees with the subject eventSubject
// builds.
func TestIsEventSubject(t *testing.T) {
	for _, c := range []struct{ subject, id, typ string }{
		{"ceremony.c1.card.presented", "c1", "card.presented"},
		{"ceremony.c1.card.presented", "c", "1.card.presented"},
		{"ceremony.c1.card.presented", "c1", "card.presente"},
		{"ceremony.c1.card.presented", "c1", "card.presentedx"},
		{"ceremony.c1.card.presented", "c2", "card.presented"},
		{"ceremony.c1card.presented", "c1", "card.presented"},
		{"ceremonies.c1.card.presented", "c1", "card.presented"},
		{"ceremony.c1.", "c1", ""},
		{"ceremony.c1", "c1", ""},
		{"", "c1", "x"},
	} {
		want := c.subject == eventSubject(c.id, c.typ)
		if got := isEventSubject(c.subject, c.id, c.typ); got != want {
			t.Errorf("isEventSubject(%q, %q, %q) = %v, want %v", c.subject, c.id, c.typ, got, want)
		}
	}
}

func BenchmarkAckSeqs(b *testing.B) {
	for b.Loop() {
		if _, _, ok := ackSeqs("$JS.ACK.CEREMONY.Xk3jd8sL2p9QwE4rT6yU1i.1.1042.1001.1764676543123456789.958"); !ok {
			b.Fatal("refused")
		}
	}
}
