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
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"k8s.io/apimachinery/pkg/util/wait"

	"github.com/proxima-sched/proxima/pkg/controlplane"
)

// Prometheus is a real Prometheus server (bin/prometheus, built by `make
// tools`) scraping an Exporter every second. It can be stopped and started
// again on the same address and data, to test outages.
type Prometheus struct {
	// URL of its HTTP API.
	URL string

	bin, dir, addr string
	mu             sync.Mutex
	cmd            *exec.Cmd
}

// StartPrometheus starts Prometheus scraping the exporter; it stops when the
// test ends.
func StartPrometheus(tb testing.TB, exporter *Exporter) *Prometheus {
	tb.Helper()
	return StartPrometheusWith(tb, fmt.Sprintf(`  - job_name: proxima-test
    # The exporter speaks for many nodes: keep its instance labels.
    honor_labels: true
    static_configs:
      - targets: [%q]
`, exporter.Addr), nil)
}

// StartPrometheusWith starts Prometheus with the given scrape_configs list
// (YAML list items, indented two spaces), scraping and evaluating rules
// every second, with the rule files given by name and content; it stops
// when the test ends.
func StartPrometheusWith(tb testing.TB, scrapeConfigs string, ruleFiles map[string][]byte) *Prometheus {
	tb.Helper()
	bin, err := controlplane.BinDir()
	if err != nil {
		tb.Fatal(err)
	}
	p := &Prometheus{bin: filepath.Join(bin, "prometheus"), dir: tb.TempDir()}
	if _, err := os.Stat(p.bin); err != nil {
		tb.Fatalf("prometheus not found in %s: run `make tools` first", bin)
	}
	port, err := FreePort()
	if err != nil {
		tb.Fatal(err)
	}
	p.addr = fmt.Sprintf("127.0.0.1:%d", port)
	p.URL = "http://" + p.addr
	cfg := `global:
  scrape_interval: 1s
  evaluation_interval: 1s
`
	if len(ruleFiles) > 0 {
		cfg += "rule_files:\n"
		for name, data := range ruleFiles {
			path := filepath.Join(p.dir, name)
			if err := os.WriteFile(path, data, 0o600); err != nil {
				tb.Fatal(err)
			}
			cfg += fmt.Sprintf("  - %q\n", path)
		}
	}
	cfg += "scrape_configs:\n" + scrapeConfigs
	if err := os.WriteFile(filepath.Join(p.dir, "prometheus.yml"), []byte(cfg), 0o600); err != nil {
		tb.Fatal(err)
	}
	if err := p.Start(); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(p.Stop)
	return p
}

// Start starts the server (again) and waits until it is ready and has
// scraped the exporter.
func (p *Prometheus) Start() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	cmd := exec.Command(p.bin,
		"--config.file="+filepath.Join(p.dir, "prometheus.yml"),
		"--storage.tsdb.path="+filepath.Join(p.dir, "data"),
		"--web.listen-address="+p.addr,
		"--log.level=warn",
	)
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Start(); err != nil {
		return err
	}
	p.cmd = cmd
	err := wait.PollUntilContextTimeout(context.Background(), 200*time.Millisecond, time.Minute, true, func(ctx context.Context) (bool, error) {
		resp, err := http.Get(p.URL + "/api/v1/query?query=up")
		if err != nil {
			return false, nil
		}
		defer resp.Body.Close()
		return resp.StatusCode == http.StatusOK, nil
	})
	if err != nil {
		return fmt.Errorf("prometheus did not become ready on %s: %w", p.addr, err)
	}
	return nil
}

// Stop stops the server; Start brings it back.
func (p *Prometheus) Stop() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd == nil {
		return
	}
	_ = p.cmd.Process.Signal(os.Interrupt)
	done := make(chan struct{})
	go func() { _ = p.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		_ = p.cmd.Process.Kill()
		<-done
	}
	p.cmd = nil
}

// Exporter serves controllable series for Prometheus to scrape: RTTs, site
// prices and health, and node utilization.
type Exporter struct {
	Addr string
	// RTT is proxima_rtt_seconds{source, site}.
	RTT *prometheus.GaugeVec
	// Price is proxima_site_price_multiplier{site}.
	Price *prometheus.GaugeVec
	// Up is proxima_site_up{site}.
	Up *prometheus.GaugeVec
	// NodeUtilization is proxima_test_node_utilization{instance="<node>:9100"}.
	NodeUtilization *prometheus.GaugeVec
}

// NodeUtilizationQuery reads Exporter.NodeUtilization, standing in for the
// node_exporter rate query.
const NodeUtilizationQuery = `proxima_test_node_utilization`

// StartExporter serves the series on a free loopback port until the test ends.
func StartExporter(tb testing.TB) *Exporter {
	tb.Helper()
	reg := prometheus.NewRegistry()
	e := &Exporter{
		RTT:             prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "proxima_rtt_seconds", Help: "RTT."}, []string{"source", "site"}),
		Price:           prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "proxima_site_price_multiplier", Help: "Price multiplier."}, []string{"site"}),
		Up:              prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "proxima_site_up", Help: "Site health."}, []string{"site"}),
		NodeUtilization: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "proxima_test_node_utilization", Help: "Node CPU utilization."}, []string{"instance"}),
	}
	reg.MustRegister(e.RTT, e.Price, e.Up, e.NodeUtilization)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	e.Addr = ln.Addr().String()
	srv := &http.Server{Handler: promhttp.HandlerFor(reg, promhttp.HandlerOpts{}), ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	tb.Cleanup(func() { _ = srv.Close() })
	return e
}

// FreePort returns a free loopback TCP port.
func FreePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}
