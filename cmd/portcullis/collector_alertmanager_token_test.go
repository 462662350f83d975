package main

import (
	"context"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"

	"github.com/portcullis/portcullis/alert"
	"github.com/portcullis/portcullis/collector"
)

// TestAlertmanagerRefusesSenderTokens: POST /v1/alertmanager took any
// sidecar's collector token, so a token stolen from one tenant's pod
// opened alerts (and filed tickets) naming any tenant or client, as many
// as it liked, and the trail recorded them as the collector's detections,
// with nothing to tell them from Alertmanager's. Only the tokens of
// --alertmanager-token-file are taken there now; a sender's is refused
// 401 and opens nothing, over the collector's real listener.
func TestAlertmanagerRefusesSenderTokens(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	store, det := openDetection(t, context.Background(), dir, signingKey(t), examplePolicy, nil)
	defer store.Close()
	const sidecarTok = "sidecar-a-token-0123456789abcdef0123"
	const amTok = "alertmanager-token-0123456789abcdef0123"
	senders := []collector.SenderToken{{Name: "a", Token: sidecarTok}}
	col, err := collector.New(store, collector.Config{Tokens: senders})
	if err != nil {
		t.Fatal(err)
	}
	srv := col.HTTPServer()
	if srv.Handler, err = det.routes(srv.Handler, senders, []collector.SenderToken{{Name: "prom", Token: amTok}}); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	defer srv.Close()
	post := func(token, fingerprint string) int {
		t.Helper()
		body := `{"version":"4","status":"firing","alerts":[{"status":"firing","labels":{"alertname":"TenantSaturated","tenant":"globex"},"fingerprint":"` + fingerprint + `"}]}`
		req, _ := http.NewRequest(http.MethodPost, "http://"+ln.Addr().String()+"/v1/alertmanager", strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode
	}
	if got := post(sidecarTok, "f00d0001"); got != http.StatusUnauthorized {
		t.Errorf("POST /v1/alertmanager with a sidecar's token = %d, want 401", got)
	}
	if got := post(amTok, "f00d0002"); got != http.StatusOK {
		t.Errorf("POST /v1/alertmanager with an --alertmanager-token-file token = %d, want 200", got)
	}
	as, err := alert.Load(dir)
	if err != nil || len(as) != 1 || as[0].Key != "f00d0002" {
		t.Errorf("alerts in the trail = %+v, %v; want only the one Alertmanager's token opened", as, err)
	}
}

// TestAlertmanagerTokenFileChecked: an Alertmanager token shorter than a
// collector token, or one a sidecar holds too, is refused at start,
// naming it, never showing the token.
func TestAlertmanagerTokenFileChecked(t *testing.T) {
	t.Parallel()
	var det detection
	det.engine = new(alert.Engine)
	const sidecarTok = "sidecar-a-token-0123456789abcdef0123"
	senders := []collector.SenderToken{{Name: "a", Token: sidecarTok}}
	for _, c := range []struct {
		am   collector.SenderToken
		want string
	}{
		{collector.SenderToken{Name: "prom", Token: "tiny-x"}, `"prom" is 6 bytes`},
		{collector.SenderToken{Name: "prom", Token: sidecarTok}, `"prom" is sender "a"'s`},
	} {
		_, err := det.routes(http.NotFoundHandler(), senders, []collector.SenderToken{c.am})
		if err == nil || !strings.Contains(err.Error(), c.want) || strings.Contains(err.Error(), c.am.Token) {
			t.Errorf("Alertmanager token %q: %v; want an error saying %s without the token", c.am.Name, err, c.want)
		}
	}
}
