package main

import (
	"context"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/valyala/fasthttp"

	"github.com/portcullis/portcullis/internal/devetcd"
	"github.com/portcullis/portcullis/policy/etcdadmin"
	"github.com/portcullis/portcullis/policy/etcdsync"
)

// devStack is what portcullis dev runs, on loopback, for the end-to-end
// tests: a real etcd in process, the collector storing the trail, a
// service, and two sidecars (pod-a and pod-b) watching etcd and auditing
// to the collector.
type devStack struct {
	tb       testing.TB
	data     string // etcd, the collector's store and each pod's state below it
	etcd     string // the endpoints, comma separated
	admin    *etcdadmin.Admin
	sidecars []string // the sidecars' listen addresses
}

// startDevStack starts a devStack in data on the policy doc, pushed to
// etcd under prefix, with service answering behind the sidecars, and
// returns once both sidecars are ready, on the wall clock now (nil: the
// real one) for the times it records. It stops when tb ends.
func startDevStack(tb testing.TB, data, prefix string, doc []byte, service fasthttp.RequestHandler, now func() time.Time) devStack {
	tb.Helper()
	s := devStack{tb: tb, data: data}
	emb, err := devetcd.Start(filepath.Join(data, "etcd"))
	if err != nil {
		tb.Fatal(err)
	}
	s.etcd = strings.Join(emb.Endpoints(), ",")
	cli, err := etcdsync.Dial(etcdsync.Config{Endpoints: emb.Endpoints(), DialTimeout: 5 * time.Second})
	if err != nil {
		tb.Fatal(err)
	}
	s.admin = etcdadmin.New(cli, prefix)
	if now != nil {
		s.admin = s.admin.WithClock(now)
	}
	ctx, cancel := context.WithCancel(context.Background())
	if _, err := s.admin.PushPolicy(ctx, doc, 0, etcdadmin.Meta{Actor: "e2e", Reason: "test"}); err != nil {
		tb.Fatal(err)
	}
	log := zerolog.Nop()
	f := devFlags{data: data, collector: freeAddrTB(tb), prefix: prefix, clock: now}
	token, closeCollector, err := devCollector(ctx, f, s.admin, log)
	if err != nil {
		tb.Fatal(err)
	}
	upAddr := freeAddrTB(tb)
	up := &fasthttp.Server{Handler: service}
	go up.ListenAndServe(upAddr)
	var wg sync.WaitGroup
	var admins []string
	for _, pod := range []string{"pod-a", "pod-b"} {
		listen, adminAddr := freeAddrTB(tb), freeAddrTB(tb)
		s.sidecars, admins = append(s.sidecars, listen), append(admins, adminAddr)
		wg.Go(func() {
			sidecar(ctx, sidecarFlags{listen: listen, upstream: upAddr, admin: adminAddr, collector: "http://" + f.collector,
				spoolDir: filepath.Join(data, pod, "spool"), tokenFile: token, stateDir: filepath.Join(data, pod, "state"),
				etcd: etcdConnFlags{endpoints: s.etcd, prefix: prefix}, pod: pod, drain: time.Second, clock: now}, log)
		})
	}
	tb.Cleanup(func() {
		cancel()
		wg.Wait()
		up.Shutdown()
		closeCollector()
		cli.Close()
		emb.Close()
	})
	for _, a := range admins {
		pollUntil(tb, 90*time.Second, "sidecar ready", func() (bool, string) { return status("http://"+a+"/readyz", "") == 200, "" })
	}
	return s
}
