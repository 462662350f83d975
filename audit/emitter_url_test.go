package audit

import (
	"strings"
	"testing"
)

// The collector URL may carry basic-authentication credentials (newPoster
// uses them). A URL that did not parse was quoted whole in the error,
// which the sidecar logs at start: the password went to the log. The
// error now names the problem without the URL.
func TestUnparsableCollectorURLHidesPassword(t *testing.T) {
	t.Parallel()
	for _, raw := range []string{"http://user:s3cr%tPw@host:1/", "http://user:s3cr tPw@host:1/", "ht tp://user:s3crtPw@host/"} {
		_, err := NewEmitter(EmitterConfig{URL: raw, SpoolDir: t.TempDir()})
		if err == nil {
			t.Errorf("%q: no error", raw)
			continue
		}
		if strings.Contains(err.Error(), "s3cr") || strings.Contains(err.Error(), "tPw") {
			t.Errorf("%q: the error shows the password: %v", raw, err)
		}
		if !strings.Contains(err.Error(), "collector URL") {
			t.Errorf("%q: the error does not name the collector URL: %v", raw, err)
		}
	}
}

// A new user's collector URLs (read100): a bare host:port failed with
// url's "first path segment in URL cannot contain colon", and a URL that
// already ended in /v1/logs posted to /v1/logs/v1/logs, where each batch
// got a 404 and waited in the spool, counted unavailable, until someone
// looked. Each is refused naming what to give; the password never shown.
func TestCollectorURLNamesTheMistake(t *testing.T) {
	t.Parallel()
	for raw, want := range map[string]string{
		"127.0.0.1:4318":                          "needs http:// or https://",
		"collector.internal:4318":                 "needs http:// or https://",
		"user:s3crtPw@collector:4318":             "needs http:// or https://",
		"http://collector:4318/v1/logs":           "ends in /v1/logs",
		"https://user:s3crtPw@collector/v1/logs/": "ends in /v1/logs",
	} {
		_, err := NewEmitter(EmitterConfig{URL: raw, SpoolDir: t.TempDir()})
		switch {
		case err == nil:
			t.Errorf("%q: no error", raw)
		case !strings.Contains(err.Error(), want):
			t.Errorf("%q: %v, want it to say %q", raw, err, want)
		case strings.Contains(err.Error(), "s3cr"):
			t.Errorf("%q: the error shows the password: %v", raw, err)
		}
	}
	for _, raw := range []string{"http://collector:4318", "http://collector:4318/", "https://collector/prefix"} {
		e, err := NewEmitter(EmitterConfig{URL: raw, SpoolDir: t.TempDir()})
		if err != nil {
			t.Errorf("%q: %v", raw, err)
			continue
		}
		e.Close()
	}
}
