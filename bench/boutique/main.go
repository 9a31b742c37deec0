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

// Command boutique builds and judges the Online Boutique comparison
// (bench/README.md): scheduler-plugins' NetworkOverhead example placed by
// the default profile, by NetworkOverhead + TopologicalSort and by Proxima
// on one world of Sites in measured cities.
//
//	boutique world -seed N -out DIR   writes DIR: world.json, the templates, proxima.yaml and peers.yaml
//	boutique report DIR...            judges the placements the benchmarks wrote into each DIR
//
// `make bench-boutique` runs both around the scheduler_perf benchmarks
// (BenchmarkOnlineBoutique in bench/e2e and bench/peers/e2e).
package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"text/tabwriter"
	"time"

	"github.com/proxima-sched/proxima/pkg/demo"
)

func main() {
	if len(os.Args) < 2 {
		usage()
	}
	var err error
	switch os.Args[1] {
	case "world":
		err = world(os.Args[2:])
	case "report":
		if len(os.Args) < 3 {
			usage()
		}
		err = report(os.Stdout, os.Args[2:])
	default:
		usage()
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "boutique:", err)
		os.Exit(1)
	}
}

func usage() {
	fmt.Fprintln(os.Stderr, "usage: boutique world [-seed N] [-sites N] [-min-nodes N] [-max-nodes N] [-shops N] [-replicas N] [-pace D] -out DIR\n       boutique report DIR...")
	os.Exit(2)
}

func world(args []string) error {
	fs := flag.NewFlagSet("world", flag.ExitOnError)
	var opts WorldOptions
	fs.Uint64Var(&opts.Seed, "seed", 1, "draws the cities and the sites' sizes")
	fs.IntVar(&opts.Sites, "sites", 40, "sites, each in its own measured city")
	fs.IntVar(&opts.MinNodes, "min-nodes", 2, "fewest nodes of a site (a node holds one pod)")
	fs.IntVar(&opts.MaxNodes, "max-nodes", 6, "most nodes of a site")
	fs.IntVar(&opts.Shops, "shops", 4, "copies of the Online Boutique, each in its own namespace")
	fs.IntVar(&opts.Replicas, "replicas", 1, "pods per service (the Online Boutique's manifests run one)")
	pace := fs.Duration("pace", 2*time.Second, "time between two services' pods, for the first to be bound")
	out := fs.String("out", "", "directory to write the world into")
	_ = fs.Parse(args)
	if *out == "" {
		return fmt.Errorf("-out is required")
	}
	m, err := demo.LoadMeasurements()
	if err != nil {
		return err
	}
	w, err := NewWorld(m, opts)
	if err != nil {
		return err
	}
	root, err := os.Getwd()
	if err != nil {
		return err
	}
	if _, err := os.Stat(filepath.Join(root, "bench", "peers", "e2e")); err != nil {
		return fmt.Errorf("run from the repository root: %w", err)
	}
	dir, err := filepath.Abs(*out)
	if err != nil {
		return err
	}
	return w.Write(dir, root, *pace)
}

// report prints every world's comparison, then the profiles over all of
// them: edges judged, mean call RTT over every judged edge, edges over the
// bound and pods placed.
func ratio(sum float64, n int) float64 {
	if n == 0 {
		return 0
	}
	return sum / float64(n)
}

func report(out io.Writer, dirs []string) error {
	type total struct {
		pods, placed, stranded, edges, over, common int
		sum, commonSum                              float64
	}
	totals := map[string]*total{}
	var order []string
	for _, dir := range dirs {
		w, results, err := Report(dir)
		if err != nil {
			return err
		}
		Print(out, w, results)
		fmt.Fprintln(out)
		for _, r := range results {
			t := totals[r.Profile]
			if t == nil {
				t = &total{}
				totals[r.Profile] = t
				order = append(order, r.Profile)
			}
			t.pods += r.Pods
			t.placed += r.Placed
			t.edges += r.Edges
			t.over += r.OverBound
			t.sum += r.MeanRTT * float64(r.Edges)
			t.stranded += r.Stranded
			t.common += r.CommonEdges
			t.commonSum += r.CommonRTT * float64(r.CommonEdges)
		}
	}
	if len(dirs) < 2 {
		return nil
	}
	fmt.Fprintf(out, "Over %d worlds:\n", len(dirs))
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "profile\tplaced\tstranded\tedges judged\tmean call RTT ms\ton common edges\tover bound\t")
	for _, p := range order {
		t := totals[p]
		fmt.Fprintf(tw, "%s\t%d/%d\t%d\t%d\t%.1f\t%.1f (%d)\t%d\t\n", p, t.placed, t.pods, t.stranded, t.edges,
			ratio(t.sum, t.edges), ratio(t.commonSum, t.common), t.common, t.over)
	}
	return tw.Flush()
}
