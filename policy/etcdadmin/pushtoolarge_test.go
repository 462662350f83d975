package etcdadmin

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
)

// TestPushTooLargeSaysWhy pushes valid documents too large for one etcd
// request: a push writes the document twice (the policy and its history
// entry), so a document of 800 KB is over etcd's default 1.5 MiB, and one
// of 3 MB over the 2 MiB the client sends. They failed with etcd's words
// alone, "etcdserver: request is too large" and "trying to send message
// larger than max (6000591 vs. 2097152)": no size of the document, no
// limit to raise. Now each says both, matches ErrTooLarge, and nothing is
// written.
func TestPushTooLargeSaysWhy(t *testing.T) {
	t.Parallel()
	cli := dial(t, shared)
	a := New(cli, newPrefix(t))
	base := examplePolicy(t)
	rev := push(t, a, base)
	for _, size := range []int{800_000, 3_000_000} {
		doc := padded(base, size)
		_, err := a.PushPolicy(context.Background(), doc, 0, meta)
		if !errors.Is(err, ErrTooLarge) {
			t.Fatalf("push of %d bytes: %v, want ErrTooLarge", len(doc), err)
		}
		for _, want := range []string{"the document is " + byteCount(len(doc)), "twice", "--max-request-bytes", "nothing was written"} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("push of %d bytes: %q lacks %q", len(doc), err, want)
			}
		}
	}
	hist, err := a.PolicyHistory(context.Background(), 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(hist) != 1 || hist[0].Revision != rev {
		t.Errorf("history = %d entries, want the first push alone", len(hist))
	}
}

// padded returns doc with comment lines appended up to size bytes.
func padded(doc []byte, size int) []byte {
	b := bytes.NewBuffer(append([]byte(nil), doc...))
	line := "# " + strings.Repeat("x", 97) + "\n"
	for b.Len()+len(line) <= size {
		b.WriteString(line)
	}
	return b.Bytes()
}
