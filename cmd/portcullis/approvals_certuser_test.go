package main

import (
	"bytes"
	"context"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/portcullis/portcullis/internal/devetcd"
	"github.com/portcullis/portcullis/policy/etcdadmin"
	"github.com/portcullis/portcullis/policy/etcdsync"
)

// certEtcd is a real etcd serving HTTPS with --client-cert-auth and
// authentication on, as deploy/kubernetes runs it: a client's certificate
// common name is its etcd user. users are given client certificates and
// the operator's permissions on prefix.
type certEtcd struct {
	endpoint, ca string
	cert, key    map[string]string // by user
}

func startCertEtcd(t *testing.T, prefix string, users ...string) *certEtcd {
	t.Helper()
	dir := t.TempDir()
	write := func(name string, b []byte) string {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, b, 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}
	ca, caKey, caPEM, _ := testCert(t, &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "etcd ca"},
		IsCA: true, KeyUsage: x509.KeyUsageCertSign, BasicConstraintsValid: true}, nil, nil)
	c := &certEtcd{ca: write("ca.pem", caPEM), cert: map[string]string{}, key: map[string]string{}}
	issue := func(serial int64, cn string, usage x509.ExtKeyUsage) (string, string) {
		_, _, certPEM, keyPEM := testCert(t, &x509.Certificate{SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: cn},
			ExtKeyUsage: []x509.ExtKeyUsage{usage}, IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}}, ca, caKey)
		return write(cn+".pem", certPEM), write(cn+"-key.pem", keyPEM)
	}
	serverCert, serverKey := issue(2, "etcd", x509.ExtKeyUsageServerAuth)
	for i, u := range append([]string{"root"}, users...) {
		c.cert[u], c.key[u] = issue(int64(3+i), u, x509.ExtKeyUsageClientAuth)
	}
	e, err := devetcd.StartTLS(filepath.Join(dir, "data"), serverCert, serverKey, c.ca)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.Close)
	c.endpoint = e.Endpoints()[0]

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	root := c.dial(t, "root")
	must := func(_ any, err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	noPassword := &clientv3.UserAddOptions{NoPassword: true}
	must(root.UserAddWithOptions(ctx, "root", "", noPassword))
	must(root.UserGrantRole(ctx, "root", "root"))
	must(root.RoleAdd(ctx, "portcullis-operator"))
	must(root.RoleGrantPermission(ctx, "portcullis-operator", prefix+"/", clientv3.GetPrefixRangeEnd(prefix+"/"), clientv3.PermissionType(clientv3.PermReadWrite)))
	for _, u := range users {
		must(root.UserAddWithOptions(ctx, u, "", noPassword))
		must(root.UserGrantRole(ctx, u, "portcullis-operator"))
	}
	must(root.AuthEnable(ctx))
	return c
}

// dial connects with user's client certificate.
func (c *certEtcd) dial(t *testing.T, user string) *clientv3.Client {
	t.Helper()
	cli, err := etcdsync.Dial(etcdsync.Config{Endpoints: []string{c.endpoint}, CACert: c.ca, Cert: c.cert[user], Key: c.key[user], DialTimeout: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cli.Close() })
	return cli
}

// cli runs an approvals subcommand with user's certificate, as the binary
// would, and returns its exit code and output.
func (c *certEtcd) cli(t *testing.T, prefix, user, name string, args ...string) (int, string) {
	t.Helper()
	var out, errOut bytes.Buffer
	args = append(args, "--etcd", c.endpoint, "--prefix", prefix, "--etcd-cacert", c.ca, "--etcd-cert", c.cert[user], "--etcd-key", c.key[user], "--timeout", "1m")
	code := etcdSub(t, "approvals "+name).main(args, &out, &errOut)
	return code, out.String() + errOut.String()
}

// With etcd authentication by client certificate (deploy/kubernetes:
// --client-cert-auth, each certificate's common name its etcd user), the
// request records the etcd user it was written as, and a grant written as
// that user is refused whatever names it claims, as under --etcd-user.
// Before, the CLI recorded the etcd user only from --etcd-user: with a
// certificate nothing was recorded, and alice, with her own certificate,
// granted her own request by claiming --actor bob --approver bob.
func TestSelfApprovalWithClientCertificate(t *testing.T) {
	t.Parallel()
	const prefix = "/certuser"
	c := startCertEtcd(t, prefix, "ops-alice", "ops-bob")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, err := etcdadmin.New(c.dial(t, "ops-alice"), prefix).PushPolicy(ctx, mustRead(t, examplePolicy), 0, etcdadmin.Meta{Actor: "alice", Reason: "setup", Ticket: "T-1"}); err != nil {
		t.Fatal(err)
	}
	code, out := c.cli(t, prefix, "ops-alice", "request", "--client", "acme-admin", "--route", "POST /v1/exports/full",
		"--reason", "export", "--ticket", "CHG-56", "--actor", "alice", "--json")
	var ap etcdsync.Approval
	if code != 0 || json.Unmarshal([]byte(out), &ap) != nil {
		t.Fatalf("approvals request = exit %d: %s", code, out)
	}
	if ap.RequesterEtcdUser != "ops-alice" {
		t.Errorf("request written with ops-alice's certificate records etcd user %q, want ops-alice", ap.RequesterEtcdUser)
	}
	code, out = c.cli(t, prefix, "ops-alice", "grant", ap.ID, "--approver", "bob", "--actor", "bob", "--note", "ok")
	if code != 1 || !strings.Contains(out, "etcd user") {
		t.Errorf("alice grants her own request as bob with her certificate = exit %d: %s; want refused, naming the etcd user", code, out)
	}
	if code, out := c.cli(t, prefix, "ops-bob", "grant", ap.ID, "--approver", "bob", "--actor", "bob", "--note", "ok"); code != 0 {
		t.Errorf("bob grants it with his certificate = exit %d: %s", code, out)
	}
}
