package main

import (
	"flag"
	"io"
	"strings"
	"testing"
)

// checkEtcdGiven let an etcd flag without --etcd through when the
// --etcd's usage text named $PORTCULLIS_ETCD and the variable was set:
// a rewording of evidence pack's usage refused what it accepted, the word
// in another command's usage let its etcd flags be ignored, and with
// --policy, where evidence pack does not take $PORTCULLIS_ETCD, an
// --etcd-cacert was ignored without a word. It now knows the commands
// that take $PORTCULLIS_ETCD by the type of their --etcd (envEndpoints).
func TestEtcdGivenKnowsTheEnvironmentDefaultByType(t *testing.T) {
	t.Setenv("PORTCULLIS_ETCD", "127.0.0.1:2379")
	pack := func(usage string) *flag.FlagSet {
		var f packFlags
		fs := flag.NewFlagSet("evidence pack", flag.ContinueOnError)
		f.register(fs)
		if usage != "" {
			fs.Lookup("etcd").Usage = usage
		}
		return fs
	}
	other := func(usage string) *flag.FlagSet {
		var f etcdConnFlags
		fs := flag.NewFlagSet("collector", flag.ContinueOnError)
		f.register(fs)
		fs.Lookup("etcd").Usage = usage
		return fs
	}
	for _, tt := range []struct {
		name    string
		fs      *flag.FlagSet
		args    []string
		refused bool
	}{
		{"evidence pack", pack(""), []string{"--etcd-cacert", "ca.pem"}, false},
		{"evidence pack, its usage reworded", pack("where to read the policy from"), []string{"--etcd-cacert", "ca.pem"}, false},
		{"evidence pack --policy", pack(""), []string{"--policy", "p.yaml", "--etcd-cacert", "ca.pem"}, true},
		{"a command whose usage names the variable", other("etcd endpoints (not $PORTCULLIS_ETCD)"), []string{"--etcd-cacert", "ca.pem"}, true},
	} {
		tt.fs.SetOutput(io.Discard)
		if err := tt.fs.Parse(tt.args); err != nil {
			t.Fatal(err)
		}
		err := checkEtcdGiven(tt.fs)
		if refused := err != nil; refused != tt.refused || (refused && !strings.Contains(err.Error(), "--etcd-cacert")) {
			t.Errorf("%s %s with $PORTCULLIS_ETCD set: %v; want refused %v", tt.name, strings.Join(tt.args, " "), err, tt.refused)
		}
	}
}
