package etcdsync_test

import (
	"strings"
	"testing"

	"github.com/portcullis/portcullis/policy/etcdadmin"
	"github.com/portcullis/portcullis/policy/etcdsync"
)

func TestMetrics(t *testing.T) {
	t.Parallel()
	cli := dial(t, shared)
	prefix := newPrefix(t)
	rev := push(t, etcdadmin.New(cli, prefix), examplePolicy(t))
	r := runSyncer(t, cli, etcdsync.SyncConfig{Prefix: prefix})
	r.atRevision(t, rev)
	got := string(r.AppendMetrics(nil))
	for _, want := range []string{
		"# TYPE portcullis_etcd_revision gauge\nportcullis_etcd_revision ",
		"\nportcullis_policy_staleness_seconds 0",
		"\nportcullis_etcd_current 1\n",
		"\nportcullis_etcd_watch_restarts_total 0\n",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("metrics lack %q:\n%s", want, got)
		}
	}
}
