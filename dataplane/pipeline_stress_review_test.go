package dataplane

import (
	"bufio"
	"crypto/tls"
	"crypto/x509"
	"io"
	"math/rand"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/portcullis/portcullis/policy"
)

// writeSplit writes in to c in pieces cut at cuts, pausing between them,
// and returns all it answered.
func writeSplit(c net.Conn, in string, cuts []int, wait time.Duration) string {
	c.SetDeadline(time.Now().Add(wait))
	prev := 0
	for _, cut := range cuts {
		io.WriteString(c, in[prev:cut])
		prev = cut
		time.Sleep(2 * time.Millisecond)
	}
	io.WriteString(c, in[prev:])
	b, _ := io.ReadAll(c)
	return string(b)
}

// r36pipeline is a random legitimate pipeline ending in a GET that
// closes, and its number of requests.
func r36pipeline(r *rand.Rand) (string, int) {
	var in strings.Builder
	k := 1 + r.Intn(4)
	for i := 0; i < k; i++ {
		req, _ := r36request(r, r.Intn(4) == 0)
		in.WriteString(req)
	}
	in.WriteString("GET /v1/status HTTP/1.1\r\nHost: svc\r\nConnection: close\r\n\r\n")
	return in.String(), k + 1
}

func r36cuts(r *rand.Rand, n int) []int {
	var cuts []int
	for j := r.Intn(5); j > 0; j-- {
		cuts = append(cuts, 1+r.Intn(n-1))
	}
	for i := 1; i < len(cuts); i++ {
		for j := i; j > 0 && cuts[j] < cuts[j-1]; j-- {
			cuts[j], cuts[j-1] = cuts[j-1], cuts[j]
		}
	}
	return cuts
}

// Random legitimate pipelines over the sidecar's own TLS listener.
func TestReview36RandomPipelinesTLS(t *testing.T) {
	t.Parallel()
	serverCA := newAuthority(t, "server CA")
	st := startStack(t, func(c *Config) {
		c.TLS = tlsFiles(t, serverCA.issue(t, "sidecar", nil, true), nil)
		c.ReadTimeout, c.HeaderTimeout = time.Minute, time.Minute
	})
	swapDoc(t, st.store, func(d *policy.Document) {
		for i := range d.Clients {
			d.Clients[i].Limit = &policy.LimitSpec{Rate: "1000000/s", Burst: 1000000}
		}
	})
	roots := x509.NewCertPool()
	roots.AddCert(serverCA.cert)
	seed := time.Now().UnixNano()
	r := rand.New(rand.NewSource(seed))
	for it := 0; it < 40; it++ {
		in, want := r36pipeline(r)
		c, err := tls.Dial("tcp", st.addr, &tls.Config{RootCAs: roots, ServerName: "127.0.0.1"})
		if err != nil {
			t.Fatal(err)
		}
		cuts := r36cuts(r, len(in))
		rs := writeSplit(c, in, cuts, 20*time.Second)
		c.Close()
		if r36bad(rs, want) {
			t.Fatalf("seed %d iter %d: cut at %v: answers %s, want %d; sent %q", seed, it, cuts, r36status(rs), want, r36short(in))
		}
	}
}

// Expect: 100-continue, the body sent after the 100, then more requests
// pipelined behind it in the same write as the body.
func TestReview36ExpectThenPipelined(t *testing.T) {
	t.Parallel()
	st := r36stack(t)
	r := rand.New(rand.NewSource(time.Now().UnixNano()))
	for it := 0; it < 40; it++ {
		data := r36data(r, []int{1, 100, 5000, 17000, 40000}[r.Intn(5)])
		var head, body string
		if r.Intn(2) == 0 {
			head, body = r36post+"Content-Length: "+itoa(len(data))+"\r\nExpect: 100-continue\r\n\r\n", data
		} else {
			head, body = r36post+"Transfer-Encoding: chunked\r\nExpect: 100-continue\r\n\r\n", r36chunks(r, data)
		}
		rest, want := r36pipeline(r)
		c, err := net.Dial("tcp", st.addr)
		if err != nil {
			t.Fatal(err)
		}
		c.SetDeadline(time.Now().Add(20 * time.Second))
		br := bufio.NewReader(c)
		if r.Intn(2) == 0 { // behind a GET in the same write
			io.WriteString(c, "GET /v1/status HTTP/1.1\r\nHost: svc\r\n\r\n"+head)
			if resp, err := http.ReadResponse(br, nil); err != nil || resp.StatusCode != 200 {
				t.Fatalf("the GET before %q: %v, %v", head, resp, err)
			} else {
				io.Copy(io.Discard, resp.Body)
			}
		} else {
			io.WriteString(c, head)
		}
		if line, err := br.ReadString('\n'); err != nil || !strings.HasPrefix(line, "HTTP/1.1 100 ") {
			t.Fatalf("read %q, %v; want 100 Continue", line, err)
		}
		br.ReadString('\n')
		in := body + rest
		cuts := r36cuts(r, len(in))
		go writeSplit(writeOnly{c}, in, cuts, 20*time.Second)
		b, _ := io.ReadAll(br)
		c.Close()
		if r36bad(string(b), want+1) {
			t.Fatalf("iter %d: %q then cut at %v: answers %s, want %d; sent %q", it, head, cuts, r36status(string(b)), want+1, r36short(in))
		}
	}
}

// writeOnly is a connection whose reads are left to another reader.
type writeOnly struct{ net.Conn }

func (writeOnly) Read([]byte) (int, error) { return 0, io.EOF }

// Many connections at once, pipelining good requests and ending some in
// errors (bare LF trailers and heads, broken chunks, bodies too large),
// for -race: the answers before each error all come, none refused.
func TestReview36ConcurrentPipelinesWithErrors(t *testing.T) {
	t.Parallel()
	st := r36stack(t)
	bad := []string{
		r36chunked("4\r\nbody\r\n0\r\nX-T: y\n\n"),
		r36chunked("4\r\nbody\r\n0\r\n\n"),
		"GET /v1/status HTTP/1.1\r\nHost: svc\n\n",
		r36chunked("4\r\nbodyXX0\r\n\r\n"),
		r36chunked("zz\r\nbody\r\n0\r\n\r\n"),
		r36post + "Content-Length: 99999999\r\n\r\nabc",
	}
	seed := time.Now().UnixNano()
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			r := rand.New(rand.NewSource(seed + int64(g)))
			for it := 0; it < 25; it++ {
				in, want := r36pipeline(r)
				errAt := -1
				if r.Intn(2) == 0 { // replace the closing GET by an error
					in = in[:strings.LastIndex(in, "GET /v1/status HTTP/1.1\r\nHost: svc\r\nConnection: close")]
					in += bad[r.Intn(len(bad))] + "GET /v1/status HTTP/1.1\r\nHost: svc\r\nConnection: close\r\n\r\n"
					errAt = want - 1
				}
				c, err := net.Dial("tcp", st.addr)
				if err != nil {
					t.Error(err)
					return
				}
				cuts := r36cuts(r, len(in))
				rs := writeSplit(c, in, cuts, 20*time.Second)
				c.Close()
				if errAt < 0 {
					if r36bad(rs, want) {
						t.Errorf("seed %d+%d iter %d: cut at %v: answers %s, want %d", seed, g, it, cuts, r36status(rs), want)
					}
					continue
				}
				ok := strings.Count(rs, "HTTP/1.1 200 ") + strings.Count(rs, "HTTP/1.1 429 ")
				if ok != errAt || strings.Count(rs, "HTTP/1.1 ") != errAt+1 {
					t.Errorf("seed %d+%d iter %d: cut at %v: answers %s, want %d and one refusal; sent %q", seed, g, it, cuts, r36status(rs), errAt, r36short(in))
				}
			}
		}(g)
	}
	wg.Wait()
}
