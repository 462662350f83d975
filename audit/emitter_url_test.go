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
