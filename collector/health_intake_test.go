package collector

import (
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// getWith fetches url over loopback with the bearer token (none when
// empty) and returns the status and body.
func getWith(t *testing.T, url, token string) (int, string) {
	t.Helper()
	req, err := http.NewRequest("GET", url, nil)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var b strings.Builder
	_, err = io.Copy(&b, resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, b.String()
}

// TestHealthOnIntakeNamesNoAnchorToAnonymous: /healthz on the intake
// listener answers anyone on the senders' networks. It answered them
// what it answers the operator: each withheld anchor's file path or etcd
// key and the publication's error (the heads' seqs and hashes, the other
// collector's). It now says there only whether the collector is ok or
// degraded, to a sender too (another tenant's sidecar); --metrics-listen,
// on the monitoring network, names the anchors.
func TestHealthOnIntakeNamesNoAnchorToAnonymous(t *testing.T) {
	t.Parallel()
	anchor := FileAnchor(filepath.Join(t.TempDir(), "published-head.json"))
	pubs := []HeadPublisher{anchor}
	other := openTestStore(t, t.TempDir(), newTestKey(t), StoreConfig{}, 0, 2)
	dir := t.TempDir()
	st := openTestStore(t, dir, newTestKey(t), StoreConfig{}, 100, 3)
	for _, s := range []*Store{other, st} {
		if _, err := s.CheckAnchors(t.Context(), pubs, 5*time.Second, false); err != nil {
			t.Fatal(err)
		}
	}
	if err := other.PublishChecked(t.Context(), signed(t, other), 5*time.Second, pubs); err != nil {
		t.Fatal(err)
	}
	if err := st.PublishChecked(t.Context(), signed(t, st), 5*time.Second, pubs); !errors.Is(err, ErrHeadConflict) {
		t.Fatalf("publication over another chain's head = %v, want ErrHeadConflict", err)
	}
	col, err := New(st, Config{Tokens: []SenderToken{{Name: "alice", Token: aliceToken}}})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(col)
	srv.Config = col.HTTPServer()
	srv.Start()
	defer srv.Close()
	mon := httptest.NewServer(col.MetricsHandler())
	defer mon.Close()

	for who, token := range map[string]string{"anonymous": "", "a sender": aliceToken} {
		code, body := getWith(t, srv.URL+"/healthz", token)
		if code != http.StatusOK || !strings.Contains(body, `"degraded"`) {
			t.Errorf("%s: /healthz on the intake = %d %s; want 200 degraded", who, code, body)
		}
		for _, secret := range []string{"published-head", "another collector", "seq", "hash"} {
			if strings.Contains(body, secret) {
				t.Errorf("%s: /healthz on the intake tells %q: %s", who, secret, body)
			}
		}
	}
	code, body := getWith(t, mon.URL+"/healthz", "")
	if code != http.StatusOK || !strings.Contains(body, `"degraded"`) || !strings.Contains(body, string(anchor)) || !strings.Contains(body, "another collector") {
		t.Errorf("/healthz on --metrics-listen = %d %s; want 200 degraded naming the anchor and the problem", code, body)
	}
}
