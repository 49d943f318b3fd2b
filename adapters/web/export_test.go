package web

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

// exportBackend writes write to the export, then returns fail.
type exportBackend struct {
	accountsOnly
	write []byte
	fail  error
}

func (b *exportBackend) Export(_ context.Context, w io.Writer) error {
	if len(b.write) > 0 {
		if _, err := w.Write(b.write); err != nil {
			return err
		}
	}
	return b.fail
}

// TestExportStreams: the export is streamed as the backend writes it; a
// failure before its first byte is an error status, one after it cuts
// the download (the client's read fails) instead of ending it as if it
// were whole.
func TestExportStreams(t *testing.T) {
	big := bytes.Repeat([]byte("export "), 64<<10)
	for _, c := range []struct {
		name       string
		b          *exportBackend
		wantStatus int
		wantBody   []byte
		wantCut    bool
	}{
		{"whole", &exportBackend{write: big}, 200, big, false},
		{"fails before its first byte", &exportBackend{fail: errors.New("read the event store: no quorum")}, 500, nil, false},
		{"fails after its start", &exportBackend{write: big, fail: errors.New("disk full")}, 200, nil, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			c.b.accountsOnly = accountsOnly{role: roleAuditor, active: true}
			now := time.Date(2026, 1, 1, 10, 0, 0, 0, time.UTC)
			srv, err := New(Config{Backend: c.b, Now: func() time.Time { return now }})
			if err != nil {
				t.Fatal(err)
			}
			cookie := logIn(t, srv, "a").Result().Cookies()[0]
			ts := httptest.NewServer(srv)
			defer ts.Close()
			req, _ := http.NewRequest("GET", ts.URL+"/api/v1/export", nil)
			req.AddCookie(cookie)
			resp, err := ts.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			body, readErr := io.ReadAll(resp.Body)
			if resp.StatusCode != c.wantStatus {
				t.Fatalf("status %d, want %d: %.200s", resp.StatusCode, c.wantStatus, body)
			}
			switch {
			case c.wantCut:
				if readErr == nil {
					t.Fatalf("a download cut short read as whole (%d bytes)", len(body))
				}
			case readErr != nil:
				t.Fatalf("read the download: %v", readErr)
			case c.wantBody != nil && !bytes.Equal(body, c.wantBody):
				t.Fatalf("downloaded %d bytes, want the %d the backend wrote", len(body), len(c.wantBody))
			case c.wantStatus == 200 && resp.Header.Get("Content-Type") != "application/x-tar":
				t.Fatalf("Content-Type %q", resp.Header.Get("Content-Type"))
			case c.wantStatus != 200 && bytes.Contains(body, []byte("export ")):
				t.Fatalf("an error response carries export bytes: %.200s", body)
			}
		})
	}
}
