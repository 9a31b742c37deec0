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

package controlplane

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"k8s.io/apimachinery/pkg/util/wait"
)

// Sample is one series of an instant query's answer.
type Sample struct {
	Metric map[string]string
	Value  float64
}

// Query answers an instant query.
func (p *Prometheus) Query(ctx context.Context, query string) ([]Sample, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, p.URL+"/api/v1/query?query="+url.QueryEscape(query), nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var body struct {
		Status string `json:"status"`
		Error  string `json:"error"`
		Data   struct {
			Result []struct {
				Metric map[string]string `json:"metric"`
				Value  [2]any            `json:"value"`
			} `json:"result"`
		} `json:"data"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		return nil, fmt.Errorf("query %s: %w", query, err)
	}
	if body.Status != "success" {
		return nil, fmt.Errorf("query %s: %s", query, body.Error)
	}
	out := make([]Sample, 0, len(body.Data.Result))
	for _, r := range body.Data.Result {
		s, _ := r.Value[1].(string)
		v, err := strconv.ParseFloat(s, 64)
		if err != nil {
			return nil, fmt.Errorf("query %s: value %q: %w", query, s, err)
		}
		out = append(out, Sample{Metric: r.Metric, Value: v})
	}
	return out, nil
}

// Prometheus is a real Prometheus server (bin/prometheus, built by `make
// tools`) scraping and evaluating rules every second. It can be stopped and
// started again on the same address and data, to test outages.
type Prometheus struct {
	// URL of its HTTP API.
	URL string

	bin, dir, addr string
	mu             sync.Mutex
	proc           *Process
}

// StartPrometheus starts Prometheus on a free loopback port with the given
// scrape_configs list (YAML list items, indented two spaces; see
// Exporter.ScrapeConfig) and the rule files given by name and content. Its
// configuration and data go into dir, which must outlive it. The caller
// must call Stop.
func StartPrometheus(dir, scrapeConfigs string, ruleFiles map[string][]byte) (*Prometheus, error) {
	bin, err := BinDir()
	if err != nil {
		return nil, err
	}
	p := &Prometheus{bin: filepath.Join(bin, "prometheus"), dir: dir}
	if _, err := os.Stat(p.bin); err != nil {
		return nil, fmt.Errorf("prometheus not found in %s: run `make tools` first", bin)
	}
	port, err := FreePort()
	if err != nil {
		return nil, err
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
				return nil, err
			}
			cfg += fmt.Sprintf("  - %q\n", path)
		}
	}
	cfg += "scrape_configs:\n" + scrapeConfigs
	if err := os.WriteFile(filepath.Join(p.dir, "prometheus.yml"), []byte(cfg), 0o600); err != nil {
		return nil, err
	}
	if err := p.Start(); err != nil {
		p.Stop()
		return nil, err
	}
	return p, nil
}

// Start starts the server (again) and waits until it is ready.
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
	if p.proc != nil {
		return errors.New("prometheus is already running")
	}
	proc, err := StartProcess(cmd)
	if err != nil {
		return err
	}
	p.proc = proc
	client := &http.Client{Timeout: 5 * time.Second}
	defer client.CloseIdleConnections()
	err = wait.PollUntilContextTimeout(context.Background(), 200*time.Millisecond, time.Minute, true, func(ctx context.Context) (bool, error) {
		select {
		case <-proc.Done():
			return false, fmt.Errorf("it exited: %v", proc.Err())
		default:
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, p.URL+"/api/v1/query?query=up", nil)
		if err != nil {
			return false, err
		}
		resp, err := client.Do(req)
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
	if p.proc == nil {
		return
	}
	p.proc.Stop(os.Interrupt, 30*time.Second)
	p.proc = nil
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
	// SiteRTT is proxima_site_rtt_seconds{from_site, to_site}.
	SiteRTT *prometheus.GaugeVec

	srv *http.Server
}

// NodeUtilizationQuery reads Exporter.NodeUtilization, standing in for the
// node_exporter rate query.
const NodeUtilizationQuery = `proxima_test_node_utilization`

// StartExporter serves the series on a free loopback port until Close.
func StartExporter() (*Exporter, error) {
	reg := prometheus.NewRegistry()
	e := &Exporter{
		RTT:             prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "proxima_rtt_seconds", Help: "RTT."}, []string{"source", "site"}),
		Price:           prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "proxima_site_price_multiplier", Help: "Price multiplier."}, []string{"site"}),
		Up:              prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "proxima_site_up", Help: "Site health."}, []string{"site"}),
		NodeUtilization: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "proxima_test_node_utilization", Help: "Node CPU utilization."}, []string{"instance"}),
		SiteRTT:         prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "proxima_site_rtt_seconds", Help: "RTT between sites."}, []string{"from_site", "to_site"}),
	}
	reg.MustRegister(e.RTT, e.Price, e.Up, e.NodeUtilization, e.SiteRTT)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	e.Addr = ln.Addr().String()
	e.srv = &http.Server{Handler: promhttp.HandlerFor(reg, promhttp.HandlerOpts{}), ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = e.srv.Serve(ln) }()
	return e, nil
}

// ScrapeConfig is a scrape_configs item for StartPrometheus scraping the
// exporter as job.
func (e *Exporter) ScrapeConfig(job string) string {
	return fmt.Sprintf(`  - job_name: %s
    # The exporter speaks for many nodes: keep its instance labels.
    honor_labels: true
    static_configs:
      - targets: [%q]
`, job, e.Addr)
}

// Close stops serving.
func (e *Exporter) Close() error { return e.srv.Close() }
