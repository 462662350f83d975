package dataplane

import (
	"fmt"
	"math/rand"
	"os"
	"sort"
	"strconv"

	"github.com/portcullis/portcullis/policy"
	"net"
	"strings"
	"testing"
	"time"
)

// sendSplit sends in to addr as two writes, split at cut, a pause between
// them so the sidecar reads them apart, and returns all it answered.
func sendSplit(t testing.TB, addr, in string, cuts []int, wait time.Duration) string {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	return writeSplit(c, in, cuts, wait) // pipeline_stress_review_test.go
}

const r36post = "POST /v1/records HTTP/1.1\r\nHost: svc\r\nX-API-Key: " + hrisKey + "\r\n"

func r36chunked(body string) string { return r36post + "Transfer-Encoding: chunked\r\n\r\n" + body }
func r36sized(body string) string {
	return r36post + "Content-Length: " + itoa(len(body)) + "\r\n\r\n" + body
}

// Legitimate pipelined sequences, split into two reads at every byte,
// each request answered 200.
func TestReview36SplitEveryByte(t *testing.T) {
	if testing.Short() {
		t.Skip("thousands of connections")
	}
	t.Parallel()
	st := r36stack(t)
	const get = "GET /v1/status HTTP/1.1\r\nHost: svc\r\n\r\n"
	const last = "GET /v1/status HTTP/1.1\r\nHost: svc\r\nConnection: close\r\n\r\n"
	bodies := []string{
		"4\r\nbody\r\n0\r\n\r\n",
		"A\r\n0123456789\r\na\r\n0123456789\r\n0\r\n\r\n",
		"000A;a=b\r\n0123456789\r\n00;x=\"y\"\r\nX-T: y\r\n\r\n",
		"1 \r\nx\r\n0\r\nA: b\nX-T: y\r\n\r\n",
		"0\r\n\r\n",
	}
	var seqs []string
	for _, b := range bodies {
		seqs = append(seqs, get+r36chunked(b)+last)
		seqs = append(seqs, r36sized("x\n\ny\r\n\n\n")+r36chunked(b)+last)
		seqs = append(seqs, r36chunked(b)+r36chunked(b)+last)
	}
	for _, in := range seqs {
		want := strings.Count(in, " HTTP/1.1\r\n")
		for cut := 1; cut < len(in); cut++ {
			rs := sendSplit(t, st.addr, in, []int{cut}, 10*time.Second)
			if r36bad(rs, want) {
				t.Errorf("%q cut at %d (%q|%q): answers %q, want %d 200", in, cut, in[max(0, cut-10):cut], in[cut:min(len(in), cut+10)], r36status(rs), want)
				break
			}
		}
	}
}

// r36stack is a sidecar with a real upstream whose clients are not
// rate limited, timeouts a minute.
func r36stack(t testing.TB) *stack {
	st, _ := r36stackUp(t)
	return st
}

func r36stackUp(t testing.TB) (*stack, *recorder) {
	st, up := startRecorded(t, func(c *Config) { c.ReadTimeout, c.HeaderTimeout = time.Minute, time.Minute })
	swapDoc(t, st.store, func(d *policy.Document) {
		for i := range d.Clients {
			d.Clients[i].Limit = &policy.LimitSpec{Rate: "1000000/s", Burst: 1000000}
		}
	})
	return st, up
}

// r36bad reports whether rs is not want answers, each 200 or 429.
func r36bad(rs string, want int) bool {
	n := strings.Count(rs, "HTTP/1.1 200 ") + strings.Count(rs, "HTTP/1.1 429 ")
	return n != want || strings.Count(rs, "HTTP/1.1 ") != want
}

// r36status is the status lines of rs, and the error of any 400.
func r36status(rs string) string {
	var out []string
	rs = strings.ReplaceAll(rs, "HTTP/1.1 ", "\r\nHTTP/1.1 ")
	for _, l := range strings.Split(rs, "\r\n") {
		if strings.HasPrefix(l, "HTTP/1.1 ") {
			out = append(out, l)
		}
		if i := strings.Index(l, "{\"error\""); i >= 0 {
			out = append(out, l[i:min(len(l), i+160)])
		}
	}
	return strings.Join(out, " | ")
}

// r36chunks is data framed in chunks of random sizes, spelt in random
// ways, with a random trailer section.
func r36chunks(r *rand.Rand, data string) string {
	var b strings.Builder
	for len(data) > 0 {
		k := 1 + r.Intn(len(data))
		if r.Intn(3) == 0 {
			k = len(data)
		}
		size := strconv.FormatInt(int64(k), 16)
		if r.Intn(2) == 0 {
			size = strings.ToUpper(size)
		}
		size = strings.Repeat("0", r.Intn(4)) + size
		b.WriteString(size)
		switch r.Intn(4) {
		case 0:
			b.WriteString(";a=b")
		case 1:
			b.WriteString(";name=\"q v\";x")
		case 2:
			b.WriteString(" ")
		}
		b.WriteString("\r\n" + data[:k] + "\r\n")
		data = data[k:]
	}
	b.WriteString(strings.Repeat("0", 1+r.Intn(3)))
	if r.Intn(3) == 0 {
		b.WriteString(";last=1")
	}
	b.WriteString("\r\n")
	switch r.Intn(4) {
	case 0:
		b.WriteString("X-T: y\r\n")
	case 1:
		b.WriteString("A: b\nX-T: y\r\n")
	case 2:
		b.WriteString("X-Sum: 1\r\nX-Other: two words\r\n")
	}
	b.WriteString("\r\n")
	return b.String()
}

// r36data is n bytes of body holding line ends and things that look like
// heads.
func r36data(r *rand.Rand, n int) string {
	const junk = "x\n\ny\r\n\r\n0\r\n\r\nGET / HTTP/1.1\r\nHost: a\n\nabc"
	var b strings.Builder
	for b.Len() < n {
		b.WriteString(junk[r.Intn(len(junk)):])
	}
	return b.String()[:n]
}

func r36request(r *rand.Rand, http10 bool) (req, body string) {
	sizes := []int{0, 1, 7, 100, 3000, 16 << 10, 17000, 40000}
	n := sizes[r.Intn(len(sizes))]
	if r.Intn(3) == 0 {
		n = r.Intn(200)
	}
	data := r36data(r, n)
	switch r.Intn(3) {
	case 0:
		if http10 {
			return "GET /v1/status HTTP/1.0\r\nHost: svc\r\nConnection: keep-alive\r\n\r\n", ""
		}
		return "GET /v1/status HTTP/1.1\r\nHost: svc\r\n\r\n", ""
	case 1:
		if http10 {
			return strings.Replace(r36sized(data), "HTTP/1.1\r\n", "HTTP/1.0\r\nConnection: keep-alive\r\n", 1), data
		}
		return r36sized(data), data
	}
	return r36chunked(r36chunks(r, data)), data
}

// Random legitimate pipelines of GETs, sized and chunked bodies of every
// size, chunks spelt every way, split into random reads: every request
// answered, none refused, each body received whole by the service.
func TestReview36RandomPipelines(t *testing.T) {
	t.Parallel()
	st, up := r36stackUp(t)
	seed := time.Now().UnixNano()
	if s := os.Getenv("R36SEED"); s != "" {
		seed, _ = strconv.ParseInt(s, 10, 64)
	}
	r := rand.New(rand.NewSource(seed))
	iters := 60
	if s := os.Getenv("R36ITERS"); s != "" {
		iters, _ = strconv.Atoi(s)
	}
	for it := 0; it < iters; it++ {
		var in strings.Builder
		var bodies []string
		k := 1 + r.Intn(4)
		for i := 0; i < k; i++ {
			req, body := r36request(r, r.Intn(4) == 0)
			in.WriteString(req)
			if strings.HasPrefix(req, "POST") {
				bodies = append(bodies, body)
			}
		}
		in.WriteString("GET /v1/status HTTP/1.1\r\nHost: svc\r\nConnection: close\r\n\r\n")
		s := in.String()
		var cuts []int
		for j := r.Intn(5); j > 0; j-- {
			cuts = append(cuts, 1+r.Intn(len(s)-1))
		}
		sort.Ints(cuts)
		n := len(up.received())
		rs := sendSplit(t, st.addr, s, cuts, 20*time.Second)
		want := k + 1
		if r36bad(rs, want) {
			os.WriteFile("/tmp/r36fail.txt", []byte(s), 0o644)
			t.Fatalf("seed %d iter %d: cut at %v: answers %s, want %d; sent %q", seed, it, cuts, r36status(rs), want, r36short(s))
		}
		got := up.received()[n:]
		var gotBodies []string
		for _, g := range got {
			if g.method == "POST" {
				gotBodies = append(gotBodies, string(g.body))
			}
		}
		if strings.Count(rs, "HTTP/1.1 429 ") == 0 && fmt.Sprint(gotBodies) != fmt.Sprint(bodies) {
			t.Fatalf("seed %d iter %d: %q: the service got bodies %q, want %q", seed, it, r36short(s), gotBodies, bodies)
		}
	}
}

func r36short(s string) string {
	if len(s) > 3000 {
		return s[:1500] + "..." + s[len(s)-1500:]
	}
	return s
}
