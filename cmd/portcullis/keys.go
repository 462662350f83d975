package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/portcullis/portcullis/policy"
	"go.yaml.in/yaml/v3"
)

func init() {
	keysCmds["generate"] = command{
		run:     func(args []string) int { return keysGenerate(args, os.Stdout, os.Stderr, time.Now()) },
		summary: "make a new API key and print its record for the policy's keys:",
	}
}

// keysGenerate makes a new API key for a client, prints it once and then
// the key record to paste under keys:. now is the default not-before.
func keysGenerate(args []string, stdout, stderr io.Writer, now time.Time) int {
	fs := flag.NewFlagSet("keys generate", flag.ContinueOnError)
	client := fs.String("client", "", "client `id` the key belongs to (required)")
	notBefore := fs.String("not-before", "", "RFC 3339 `time` the key becomes valid (default: now)")
	ttl := fs.Duration("ttl", 0, "how long the key is valid after not-before (default: no expiry)")
	createdBy := fs.String("created-by", "", "`name` of who made the key, for the record (default: the OS account)")
	ticket := fs.String("ticket", "", "change `ticket` the key was made for")
	if _, code, ok := parseArgs(fs, args, "", 0, stdout, stderr); !ok {
		return code
	}
	nb, err := keyWindow(*client, *notBefore, *ttl, now)
	if err != nil {
		return usageError(stderr, fs.Name(), err)
	}
	if *createdBy == "" {
		*createdBy = osAccount()
	}
	var na time.Time
	if *ttl > 0 {
		na = nb.Add(*ttl)
	}
	key, spec, err := policy.GenerateKey(*client, *createdBy, *ticket, nb, na)
	if err != nil {
		fmt.Fprintf(stderr, "portcullis keys generate: %v\n", err)
		return 1
	}
	return printKey(stdout, stderr, key, spec)
}

// keyWindow checks the flags of keys generate and returns the not-before time.
func keyWindow(client, notBefore string, ttl time.Duration, now time.Time) (time.Time, error) {
	switch {
	case client == "":
		return time.Time{}, fmt.Errorf("--client is required; name the client the key is for")
	case ttl < 0:
		return time.Time{}, fmt.Errorf("--ttl %s is negative", ttl)
	case notBefore == "":
		return now.Truncate(time.Second), nil
	}
	nb, err := time.Parse(time.RFC3339, notBefore)
	if err != nil {
		return time.Time{}, fmt.Errorf("--not-before %s: want an RFC 3339 time such as 2026-01-02T15:04:05Z", notBefore)
	}
	return nb, nil
}

// printKey prints the key once, then its record as a YAML list item.
func printKey(stdout, stderr io.Writer, key string, spec policy.KeySpec) int {
	out, err := yaml.Marshal([]policy.KeySpec{spec})
	if err != nil {
		fmt.Fprintf(stderr, "portcullis keys generate: cannot encode key record %q: %v\n", spec.ID, err)
		return 1
	}
	fmt.Fprintf(stdout, "API key for client %s (shown once, it will not be shown again; store it now):\n\n  %s\n\n", spec.Client, key)
	fmt.Fprintf(stdout, "Key record, to paste under keys: (only the SHA-256 of the key is kept):\n\n%s", indent(out))
	return 0
}

// indent prefixes every non-empty line with two spaces.
func indent(b []byte) []byte {
	var out []byte
	start := true
	for _, c := range b {
		if start && c != '\n' {
			out = append(out, ' ', ' ')
		}
		out = append(out, c)
		start = c == '\n'
	}
	return out
}
