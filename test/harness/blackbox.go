/*
Copyright The Proxima Authors.

Licensed under the Apache License, Version 2.0 (the "License");
you may not use this file except in compliance with the License.
You may obtain a copy of the License at

    http://www.apache.org/licenses/LICENSE-2.0

Unless required by applicable law or agreed to in writing, software
distributed under the License is distributed on an "AS IS" BASIS,
WITHOUT WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied.
See the License for the specific language governing permissions and
limitations under the License.
*/

package harness

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/util/wait"

	"github.com/proxima-sched/proxima/pkg/controlplane"
)

// Blackbox is a real blackbox_exporter (bin/blackbox_exporter, built by
// `make tools`), the probe Proxima's RTT signal is meant to come from.
type Blackbox struct {
	// Addr is its host:port; Prometheus scrapes /probe there.
	Addr string
}

// StartBlackbox runs blackbox_exporter with the given configuration (its
// modules) on a free loopback port until the test ends.
func StartBlackbox(tb testing.TB, config []byte) *Blackbox {
	tb.Helper()
	port, err := controlplane.FreePort()
	if err != nil {
		tb.Fatal(err)
	}
	return StartBlackboxAt(tb, config, fmt.Sprintf("127.0.0.1:%d", port))
}

// StartBlackboxAt runs blackbox_exporter with the given configuration on
// addr until the test ends.
func StartBlackboxAt(tb testing.TB, config []byte, addr string) *Blackbox {
	tb.Helper()
	bin, err := controlplane.BinDir()
	if err != nil {
		tb.Fatal(err)
	}
	path := filepath.Join(bin, "blackbox_exporter")
	if _, err := os.Stat(path); err != nil {
		tb.Fatalf("blackbox_exporter not found in %s: run `make tools` first", bin)
	}
	dir := tb.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "blackbox.yml"), config, 0o600); err != nil {
		tb.Fatal(err)
	}
	b := &Blackbox{Addr: addr}
	cmd := exec.Command(path, "--config.file="+filepath.Join(dir, "blackbox.yml"), "--web.listen-address="+b.Addr, "--log.level=warn")
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	proc, err := controlplane.StartProcess(cmd)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { proc.Stop(os.Interrupt, 30*time.Second) })
	client := &http.Client{Timeout: 5 * time.Second}
	err = wait.PollUntilContextTimeout(context.Background(), 100*time.Millisecond, time.Minute, true, func(ctx context.Context) (bool, error) {
		select {
		case <-proc.Done():
			return false, errors.New("blackbox_exporter exited")
		default:
		}
		resp, err := client.Get("http://" + b.Addr + "/-/healthy")
		if err != nil {
			return false, nil
		}
		defer resp.Body.Close()
		return resp.StatusCode == http.StatusOK, nil
	})
	if err != nil {
		tb.Fatalf("blackbox_exporter did not become healthy on %s: %v", b.Addr, err)
	}
	return b
}

// PongServer answers every line it reads with "PONG": a service for a
// blackbox tcp probe with query_response to time.
func PongServer(tb testing.TB) string {
	tb.Helper()
	return serve(tb, func(c net.Conn) {
		defer c.Close()
		r := bufio.NewReader(c)
		for {
			if _, err := r.ReadString('\n'); err != nil {
				return
			}
			if _, err := io.WriteString(c, "PONG\n"); err != nil {
				return
			}
		}
	})
}

// DelayProxy forwards TCP connections to a backend and holds every chunk
// of the backend's answer for Delay before passing it on: a network path
// whose round-trip time the test sets.
type DelayProxy struct {
	// Addr is where clients connect.
	Addr  string
	delay atomic.Int64 // nanoseconds
}

// SetDelay changes the delay for data forwarded from now on.
func (p *DelayProxy) SetDelay(d time.Duration) { p.delay.Store(int64(d)) }

// StartDelayProxy forwards to backend with delay until the test ends.
func StartDelayProxy(tb testing.TB, backend string, delay time.Duration) *DelayProxy {
	tb.Helper()
	p := &DelayProxy{}
	p.SetDelay(delay)
	p.Addr = serve(tb, func(c net.Conn) {
		defer c.Close()
		up, err := net.Dial("tcp", backend)
		if err != nil {
			return
		}
		defer up.Close()
		var wg sync.WaitGroup
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, _ = io.Copy(up, c)
			_ = up.(*net.TCPConn).CloseWrite()
		}()
		buf := make([]byte, 4096)
		for {
			n, err := up.Read(buf)
			if n > 0 {
				t := time.NewTimer(time.Duration(p.delay.Load()))
				<-t.C
				if _, werr := c.Write(buf[:n]); werr != nil {
					break
				}
			}
			if err != nil {
				break
			}
		}
		_ = c.(*net.TCPConn).CloseWrite()
		wg.Wait()
	})
	return p
}

// serve accepts loopback connections and handles each in its own goroutine
// until the test ends; it returns the address.
func serve(tb testing.TB, handle func(net.Conn)) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go handle(c)
		}
	}()
	tb.Cleanup(func() { _ = ln.Close() })
	return ln.Addr().String()
}
