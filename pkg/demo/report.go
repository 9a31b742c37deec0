package demo

import (
	"fmt"
	"io"
	"math"
	"slices"
	"strings"
	"text/tabwriter"

	"gonum.org/v1/gonum/mat"
	"gonum.org/v1/gonum/optimize/convex/lp"
	"gonum.org/v1/gonum/stat"

	placementv1alpha1 "github.com/proxima-sched/proxima/apis/placement/v1alpha1"
	"github.com/proxima-sched/proxima/pkg/scoring"
	"github.com/proxima-sched/proxima/pkg/state"
)

// Report is a demo's outcome: each scheduler's placements and the optimum,
// evaluated per class.
type Report struct {
	Scenario *Scenario
	Runs     []RunResult
	Optimum  *Allocation
	// Classes holds, per class, one row per scheduler and one for the optimum.
	Classes []ClassReport

	measurements *Measurements
}

// RunResult is one scheduler's placements.
type RunResult struct {
	Scheduler  string
	Placements []Placement
}

// ClassReport compares the schedulers on one class.
type ClassReport struct {
	Class string
	// HasLatency is false for classes without traffic sources.
	HasLatency bool
	Rows       []Metrics
}

// Metrics of one placement of a class.
type Metrics struct {
	Who string
	// MeanRTT and P95RTT are demand-weighted RTTs (ms) from the class's
	// sources to the pods' sites, on measured values where measured.
	MeanRTT, P95RTT float64
	// HourlyCost is the class's total hourly price.
	HourlyCost float64
	// Violations count pods placed against a hard rule: residency,
	// hardware, RTT SLO, cost cap.
	Residency, Hardware, SLO, CostCap int
	Unschedulable                     int
	Pods                              int
}

// Violations is the total of hard-rule violations.
func (m Metrics) Violations() int { return m.Residency + m.Hardware + m.SLO + m.CostCap }

// classModel is a class's policy evaluated against the scenario's sites.
type classModel struct {
	spec    ClassSpec
	weights map[string]float64 // source city → weight
	total   float64
}

func (r *Report) model(c ClassSpec) classModel {
	cm := classModel{spec: c, weights: map[string]float64{}}
	if c.Policy.Latency == nil {
		return cm
	}
	demand := map[string]SourceSpec{}
	for _, s := range r.Scenario.Sources {
		demand[s.Name] = s
	}
	for _, sw := range c.Policy.Latency.Sources {
		src, ok := demand[sw.Name]
		if !ok {
			continue
		}
		w := float64(max(src.Demand, 1))
		if sw.Weight != nil {
			w = float64(*sw.Weight)
		}
		cm.weights[src.City] += w
		cm.total += w
	}
	return cm
}

// rtt is the class's demand-weighted RTT and worst RTT at a site city.
func (cm classModel) rtt(m *Measurements, city string) (mean, worst float64) {
	for src, w := range cm.weights {
		v, _ := m.TrueRTT(src, city)
		mean += w * v
		worst = max(worst, v)
	}
	if cm.total > 0 {
		mean /= cm.total
	}
	return mean, worst
}

func (cm classModel) hourly(s SiteSpec) float64 {
	p := s.Pricing
	q := func(x interface{ AsApproximateFloat64() float64 }) float64 { return x.AsApproximateFloat64() }
	cost := 0.0
	if p.CPUCoreHour != nil {
		cost += q(p.CPUCoreHour) * q(&cm.spec.CPU)
	}
	if p.MemoryGiBHour != nil {
		cost += q(p.MemoryGiBHour) * q(&cm.spec.Memory) / (1 << 30)
	}
	if p.GPUHour != nil {
		cost += q(p.GPUHour) * float64(cm.spec.GPUs)
	}
	return cost
}

// allowed reports which hard rules site s breaks for the class.
func (cm classModel) breaks(m *Measurements, s SiteSpec, nodeHasGPU bool) (residency, hardware, slo, costCap bool) {
	pol := cm.spec.Policy
	if r := pol.Residency; r != nil {
		in := func(a *placementv1alpha1.Areas) bool {
			if a == nil {
				return false
			}
			return slices.Contains(a.Countries, s.Country) || slices.ContainsFunc(a.Jurisdictions, func(j string) bool { return slices.Contains(s.Jurisdictions, j) })
		}
		residency = in(r.Denied) || (r.Allowed != nil && !in(r.Allowed))
	}
	if len(pol.Tiers) > 0 && !slices.Contains(pol.Tiers, s.Tier) {
		residency = true // a tier rule is a placement rule too; counted with residency
	}
	hardware = pol.Hardware != nil && !nodeHasGPU
	if l := pol.Latency; l != nil && l.MaxRTTMilliseconds != nil {
		_, worst := cm.rtt(m, s.City)
		slo = worst > float64(*l.MaxRTTMilliseconds)
	}
	if c := pol.Cost; c != nil {
		costCap = cm.hourly(s) > c.MaxHourly.AsApproximateFloat64()
	}
	return
}

func (r *Report) site(name string) (SiteSpec, bool) {
	i := slices.IndexFunc(r.Scenario.Sites, func(s SiteSpec) bool { return s.Name == name })
	if i < 0 {
		return SiteSpec{}, false
	}
	return r.Scenario.Sites[i], true
}

// evaluate fills Classes from the runs and the optimum.
func (r *Report) evaluate() {
	m := r.measurements
	for ci, c := range r.Scenario.Classes {
		cm := r.model(c)
		cr := ClassReport{Class: c.Name, HasLatency: cm.total > 0}
		for _, run := range r.Runs {
			met := Metrics{Who: run.Scheduler}
			var rtts []float64
			for _, p := range run.Placements {
				if p.Class != c.Name {
					continue
				}
				met.Pods++
				s, ok := r.site(p.Site)
				if !ok {
					met.Unschedulable++
					continue
				}
				mean, _ := cm.rtt(m, s.City)
				rtts = append(rtts, mean)
				met.HourlyCost += cm.hourly(s)
				res, hw, slo, cc := cm.breaks(m, s, p.NodeHasGPU)
				met.Residency += b2i(res)
				met.Hardware += b2i(hw)
				met.SLO += b2i(slo)
				met.CostCap += b2i(cc)
			}
			met.MeanRTT, met.P95RTT = meanP95(rtts, nil)
			cr.Rows = append(cr.Rows, met)
		}
		if r.Optimum != nil {
			met := Metrics{Who: "optimum", Pods: c.Pods}
			var rtts, weights []float64
			for si, s := range r.Scenario.Sites {
				x := r.Optimum.X[ci][si]
				if x <= 1e-9 {
					continue
				}
				mean, _ := cm.rtt(m, s.City)
				rtts, weights = append(rtts, mean), append(weights, x)
				met.HourlyCost += x * cm.hourly(s)
			}
			met.Unschedulable = int(math.Round(r.Optimum.Unplaced[ci]))
			met.MeanRTT, met.P95RTT = meanP95(rtts, weights)
			cr.Rows = append(cr.Rows, met)
		}
		r.Classes = append(r.Classes, cr)
	}
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// meanP95 is the (weighted) mean and 95th percentile of xs.
func meanP95(xs, ws []float64) (mean, p95 float64) {
	if len(xs) == 0 {
		return math.NaN(), math.NaN()
	}
	xs = slices.Clone(xs)
	if ws != nil {
		ws = slices.Clone(ws)
	}
	stat.SortWeighted(xs, ws)
	return stat.Mean(xs, ws), stat.Quantile(0.95, stat.Empirical, xs, ws)
}

// Allocation is the optimum: X[class][site] pods (fractional) and pods that
// fit nowhere.
type Allocation struct {
	X        [][]float64
	Unplaced []float64
}

// Optimum solves the offline placement as a transportation LP: pods of each
// class to sites, within each site's CPU (and GPU) capacity, only to sites
// that meet the class's hard rules, minimizing the sum over classes of each
// pod's objective: its RTT and its hourly cost, each divided by the class's
// largest feasible value, weighed by the latency and cost shares the
// scheduler's score gives the class's policy (state.Weights normalized by
// scoring.NormalizeWeights). It is a bound: it ignores node boundaries and
// arrival order.
func Optimum(sc *Scenario, m *Measurements) (*Allocation, error) {
	r := &Report{Scenario: sc, measurements: m}
	nc, ns := len(sc.Classes), len(sc.Sites)
	type pair struct{ c, s int }
	var pairs []pair
	var obj []float64
	for ci, c := range sc.Classes {
		cm := r.model(c)
		var maxRTT, maxCost float64
		var feas []int
		for si, s := range sc.Sites {
			res, hw, slo, cc := cm.breaks(m, s, s.GPUs > 0)
			if res || hw || slo || cc || (c.GPUs > 0 && s.GPUs == 0) {
				continue
			}
			feas = append(feas, si)
			mean, _ := cm.rtt(m, s.City)
			maxRTT, maxCost = max(maxRTT, mean), max(maxCost, cm.hourly(s))
		}
		// The score's shares of latency and cost; the optimum has no load
		// term.
		latency, cost, load := state.Weights(&c.Policy)
		wl, wc, _ := scoring.NormalizeWeights(latency, cost, load, cm.total > 0)
		for _, si := range feas {
			mean, _ := cm.rtt(m, sc.Sites[si].City)
			v := 0.0
			if maxRTT > 0 {
				v += wl * mean / maxRTT
			}
			if maxCost > 0 {
				v += wc * cm.hourly(sc.Sites[si]) / maxCost
			}
			pairs = append(pairs, pair{ci, si})
			obj = append(obj, v)
		}
	}
	// Columns: pairs, then one "unplaced" per class (penalized), then one
	// slack per site for CPU and per GPU site for GPUs.
	var gpuSites []int
	for si, s := range sc.Sites {
		if s.GPUs > 0 {
			gpuSites = append(gpuSites, si)
		}
	}
	cols := len(pairs) + nc + ns + len(gpuSites)
	rows := nc + ns + len(gpuSites)
	A := mat.NewDense(rows, cols, nil)
	b := make([]float64, rows)
	c := make([]float64, cols)
	copy(c, obj)
	for ci := range sc.Classes {
		c[len(pairs)+ci] = 1000 // leaving a pod unplaced costs more than any placement
		A.Set(ci, len(pairs)+ci, 1)
		b[ci] = float64(sc.Classes[ci].Pods)
	}
	for k, p := range pairs {
		A.Set(p.c, k, 1)
		A.Set(nc+p.s, k, sc.Classes[p.c].CPU.AsApproximateFloat64())
		if g := sc.Classes[p.c].GPUs; g > 0 {
			if gi := slices.Index(gpuSites, p.s); gi >= 0 {
				A.Set(nc+ns+gi, k, float64(g))
			}
		}
	}
	for si, s := range sc.Sites {
		A.Set(nc+si, len(pairs)+nc+si, 1)
		b[nc+si] = float64(s.Nodes * s.CPU)
	}
	for gi, si := range gpuSites {
		A.Set(nc+ns+gi, len(pairs)+nc+ns+gi, 1)
		b[nc+ns+gi] = float64(sc.Sites[si].Nodes * sc.Sites[si].GPUs)
	}
	_, x, err := lp.Simplex(c, A, b, 1e-9, nil)
	if err != nil {
		return nil, fmt.Errorf("solving the optimum: %w", err)
	}
	a := &Allocation{X: make([][]float64, nc), Unplaced: make([]float64, nc)}
	for ci := range a.X {
		a.X[ci] = make([]float64, ns)
		a.Unplaced[ci] = x[len(pairs)+ci]
	}
	for k, p := range pairs {
		a.X[p.c][p.s] = x[k]
	}
	return a, nil
}

// Print writes the comparison table.
func (r *Report) Print(w io.Writer) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "class\tscheduler\tmean RTT ms\tp95 RTT ms\tcost/h\tviolations\tunschedulable\tRTT ÷ optimum\tcost ÷ optimum\t")
	for _, cr := range r.Classes {
		opt := cr.Rows[len(cr.Rows)-1]
		for _, row := range cr.Rows {
			rtt, p95, ratio := "-", "-", "-"
			if cr.HasLatency && !math.IsNaN(row.MeanRTT) {
				rtt, p95 = fmt.Sprintf("%.1f", row.MeanRTT), fmt.Sprintf("%.1f", row.P95RTT)
				if opt.MeanRTT > 0 {
					ratio = fmt.Sprintf("%.2f", row.MeanRTT/opt.MeanRTT)
				}
			}
			costRatio := "-"
			if opt.HourlyCost > 0 {
				costRatio = fmt.Sprintf("%.2f", row.HourlyCost/opt.HourlyCost)
			}
			viol := fmt.Sprint(row.Violations())
			if row.Violations() > 0 {
				var parts []string
				for _, v := range []struct {
					n    int
					what string
				}{{row.Residency, "residency"}, {row.Hardware, "hardware"}, {row.SLO, "SLO"}, {row.CostCap, "cost cap"}} {
					if v.n > 0 {
						parts = append(parts, fmt.Sprintf("%d %s", v.n, v.what))
					}
				}
				viol = strings.Join(parts, ", ")
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%.2f\t%s\t%d\t%s\t%s\t\n", cr.Class, row.Who, rtt, p95, row.HourlyCost, viol, row.Unschedulable, ratio, costRatio)
		}
	}
	_ = tw.Flush()
}

// Row returns the metrics of who for class, and whether they exist.
func (r *Report) Row(class, who string) (Metrics, bool) {
	for _, cr := range r.Classes {
		if cr.Class != class {
			continue
		}
		for _, row := range cr.Rows {
			if row.Who == who {
				return row, true
			}
		}
	}
	return Metrics{}, false
}
