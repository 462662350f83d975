package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
)

// approvalID finds the id `approvals request` prints.
var approvalID = regexp.MustCompile(`approval (apr_[0-9a-f]+) requested`)

// approvals walks through the two-person rule of issue 20 on the route
// POST /v1/exports/full: refused without an approval, requested by
// alice, refused when alice grants it herself, granted by bob, used
// once, refused again.
func (d *demo) approvals() error {
	const full = "/v1/exports/full"
	fmt.Println("\n== two-person rule: POST /v1/exports/full needs an approval (policy: approval: {required: true, max_uses: 1, max_age: 1h})")
	if err := d.send(step{title: "full export without an approval: refused", method: "POST", path: full, headers: key(adminKey), body: "{}"}); err != nil {
		return err
	}
	fmt.Println(`$ portcullis approvals request --client acme-admin --route "POST /v1/exports/full" --reason "quarterly export for the auditor" --ticket CHG-77 --actor alice`)
	out, err := d.cliOutput("approvals", "request", "--client", "acme-admin", "--route", "POST "+full, "--reason", "quarterly export for the auditor", "--ticket", "CHG-77", "--actor", "alice")
	if err != nil {
		return err
	}
	m := approvalID.FindStringSubmatch(out)
	if m == nil {
		return fmt.Errorf("approvals request printed no approval id:\n%s", out)
	}
	id := m[1]
	fmt.Printf("$ portcullis approvals grant %s --approver alice --note \"looks fine\" --actor alice\n", id)
	if out, err := d.cliOutput("approvals", "grant", id, "--approver", "alice", "--note", "looks fine", "--actor", "alice"); err == nil {
		return fmt.Errorf("a self-approval was granted:\n%s", out)
	}
	fmt.Printf("$ portcullis approvals grant %s --approver bob --note \"ticket CHG-77 checked\" --actor bob\n", id)
	if _, err := d.cliOutput("approvals", "grant", id, "--approver", "bob", "--note", "ticket CHG-77 checked", "--actor", "bob"); err != nil {
		return err
	}
	with := map[string]string{"X-API-Key": adminKey, "X-Portcullis-Approval": id}
	if err := d.send(step{title: "full export with bob's approval: admitted, once", method: "POST", path: full, headers: with, body: "{}"}); err != nil {
		return err
	}
	if err := d.send(step{title: "the same approval again: used up, refused", method: "POST", path: full, headers: with, body: "{}"}); err != nil {
		return err
	}
	fmt.Printf("$ portcullis approvals show %s\n", id)
	_, err = d.cliOutput("approvals", "show", id)
	return err
}

// cliOutput runs the portcullis binary against the demo's etcd, prints
// its output and returns it; a non-zero exit is an error.
func (d *demo) cliOutput(args ...string) (string, error) {
	endpoints, _ := os.ReadFile(filepath.Join(d.data, "etcd-endpoints"))
	cmd := exec.Command(d.bin, args...)
	cmd.Env = append(os.Environ(), "PORTCULLIS_ETCD="+strings.TrimSpace(string(endpoints)))
	out, err := cmd.CombinedOutput()
	fmt.Print(string(out))
	if err != nil {
		return string(out), fmt.Errorf("portcullis %s: %w", strings.Join(args[:2], " "), err)
	}
	return string(out), nil
}
