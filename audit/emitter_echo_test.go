package audit_test

import (
	"bufio"
	"net"
	"strings"
	"testing"
	"time"

	. "github.com/portcullis/portcullis/audit"
	"github.com/rs/zerolog"
)

// A collector address that answers with the request's own bytes (a
// misconfigured URL pointing at an echo service, or a hostile peer) must
// not get the collector token into the sidecar's log or its Health: the
// fasthttp client's parse errors quote what they refused unless told not
// to (SecureErrorLogMessage). Two answers over a real socket: the request
// echoed as it came, and a status line followed by the request's header
// lines, which fasthttp reads as a malformed header.
func TestEmitterLogsNoTokenFromAnEchoedAnswer(t *testing.T) {
	for name, prefix := range map[string]string{
		"echo":              "",
		"echo after status": "HTTP/1.1 200 OK\r\n",
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			defer ln.Close()
			go func() {
				for {
					c, err := ln.Accept()
					if err != nil {
						return
					}
					go func() {
						defer c.Close()
						c.SetDeadline(time.Now().Add(5 * time.Second))
						br := bufio.NewReader(c)
						var head strings.Builder
						for {
							line, err := br.ReadString('\n')
							if err != nil {
								return
							}
							head.WriteString(line)
							if line == "\r\n" {
								break
							}
						}
						c.Write([]byte(prefix + head.String() + "garbage\r\n\r\n"))
					}()
				}
			}()
			var logs logBuffer
			log := zerolog.New(&logs)
			cfg := FastConfig("http://"+ln.Addr().String(), t.TempDir())
			cfg.Token, cfg.LogInterval, cfg.Log = "secret-collector-token-0123456789", time.Millisecond, &log
			e, err := NewEmitter(cfg)
			if err != nil {
				t.Fatal(err)
			}
			defer e.Close()
			EmitN(t, e, 300)
			WaitFor(t, "failed attempts", func() bool { return e.Stats().Retries >= 3 })
			if !strings.Contains(logs.String(), `"level":"warn"`) && !strings.Contains(logs.String(), `"level":"error"`) {
				t.Fatalf("no failure logged:\n%s", logs.String())
			}
			if strings.Contains(logs.String(), cfg.Token) || strings.Contains(e.Health().String(), cfg.Token) {
				t.Errorf("the collector token reached the log or Health:\n%s\n%s", logs.String(), e.Health())
			}
		})
	}
}
