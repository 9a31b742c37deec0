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

package cli

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"slices"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/sets"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/yaml"

	"github.com/proxima-sched/proxima/apis/config"
	configv1 "github.com/proxima-sched/proxima/apis/config/v1"
	placementv1alpha1 "github.com/proxima-sched/proxima/apis/placement/v1alpha1"
	"github.com/proxima-sched/proxima/pkg/generated/clientset/versioned"
	"github.com/proxima-sched/proxima/pkg/probeplan"
	"github.com/proxima-sched/proxima/pkg/schedconfig"
	"github.com/proxima-sched/proxima/pkg/simulate"
	"github.com/proxima-sched/proxima/pkg/state"
	"github.com/proxima-sched/proxima/pkg/telemetry"
	"github.com/proxima-sched/proxima/pkg/version"
)

// Options are the flags every subcommand shares.
type Options struct {
	ConfigFlags *genericclioptions.ConfigFlags
	genericiooptions.IOStreams
	// Output is table, json or yaml.
	Output string
	// GPUResources and AcceptLegacySiteLabel mirror the scheduler's
	// EdgePlacement args of the same names.
	GPUResources          []string
	AcceptLegacySiteLabel bool
	MinCandidateNodes     int
	// SchedulerConfig is the scheduler's KubeSchedulerConfiguration file,
	// whose SchedulerName profile's EdgePlacement args give the settings
	// above (flags set explicitly win) and the telemetry to read.
	SchedulerConfig, SchedulerName string
	// Prometheus is the address to read live telemetry from, with the
	// scheduler's default queries unless SchedulerConfig has its own.
	Prometheus string
	// ProbeBudget is proxima-controller's probe budget (its flags of the
	// same names).
	ProbeBudget probeplan.Budget
	// ChunkSize is how many objects each list request asks for.
	ChunkSize int64

	flags *pflag.FlagSet
}

// NewCommand is `kubectl proxima`.
func NewCommand(streams genericiooptions.IOStreams) *cobra.Command {
	o := &Options{ConfigFlags: genericclioptions.NewConfigFlags(true), IOStreams: streams}
	cmd := &cobra.Command{
		Use:   "kubectl-proxima",
		Short: "Explain and simulate Proxima placements with the scheduler's own world model and scoring",
		Long: `kubectl proxima explains where proxima-scheduler placed a pod and why a pod is
pending, simulates a PlacementPolicy before it is applied, and lists sites.
It lists the cluster once and computes with the scheduler's own code
(pkg/state and pkg/scoring): on declared values, or with live telemetry
read as the scheduler reads it (--scheduler-config, --prometheus).`,
		SilenceUsage:  true,
		SilenceErrors: true,
		Version:       version.Version,
	}
	cmd.SetOut(streams.Out)
	cmd.SetErr(streams.ErrOut)
	o.ConfigFlags.AddFlags(cmd.PersistentFlags())
	cmd.PersistentFlags().StringVarP(&o.Output, "output", "o", "table", "Output format: table, json or yaml (json and yaml are stable: docs/kubectl-proxima.md).")
	cmd.PersistentFlags().StringSliceVar(&o.GPUResources, "gpu-resources", configv1.DefaultGPUResources,
		"Extended resources priced as GPUs, as the scheduler's gpuResources arg.")
	cmd.PersistentFlags().BoolVar(&o.AcceptLegacySiteLabel, "accept-legacy-site-label", false,
		"Count the legacy site label, as the scheduler's acceptLegacySiteLabel arg.")
	cmd.PersistentFlags().IntVar(&o.MinCandidateNodes, "min-candidate-nodes", int(configv1.DefaultMinCandidateNodes),
		"The scheduler's minCandidateNodes arg: PreFilter narrows to the best sites holding this many nodes with room.")
	cmd.PersistentFlags().StringVar(&o.SchedulerConfig, "scheduler-config", "",
		"The scheduler's KubeSchedulerConfiguration file: take the EdgePlacement args (and telemetry) from it.")
	cmd.PersistentFlags().StringVar(&o.SchedulerName, "scheduler-name", "proxima-scheduler", "The profile of --scheduler-config to read.")
	cmd.PersistentFlags().StringVar(&o.Prometheus, "prometheus", "",
		"Read live telemetry from this Prometheus (the scheduler's queries from --scheduler-config, else its defaults). Without it, the address in --scheduler-config is read, which may be reachable only from the cluster; without either, declared values only.")
	cmd.PersistentFlags().Int64Var(&o.ChunkSize, "chunk-size", simulate.DefaultChunkSize,
		"List the cluster's objects in pages of this many, as kubectl's --chunk-size.")
	o.ProbeBudget.AddFlags(cmd.PersistentFlags())
	o.flags = cmd.PersistentFlags()
	cmd.AddCommand(o.explainCommand(), o.whatIfCommand(), o.sitesCommand(), o.probesCommand(), o.generateCommand(), &cobra.Command{
		Use:   "version",
		Short: "Print the plugin's version",
		Args:  cobra.NoArgs,
		Run:   func(c *cobra.Command, _ []string) { fmt.Fprintln(c.OutOrStdout(), version.String("kubectl-proxima")) },
	})
	return cmd
}

func (o *Options) validate() error {
	switch o.Output {
	case "table", "json", "yaml":
		return nil
	}
	return fmt.Errorf("--output must be table, json or yaml, not %q", o.Output)
}

func (o *Options) namespace() (string, error) {
	ns, _, err := o.ConfigFlags.ToRawKubeConfigLoader().Namespace()
	return ns, err
}

func (o *Options) clients() (kubernetes.Interface, versioned.Interface, error) {
	cfg, err := o.ConfigFlags.ToRESTConfig()
	if err != nil {
		return nil, nil, err
	}
	// A fleet's pods and nodes come in hundreds of pages: client-go's
	// default of 5 requests a second would spend most of a command
	// waiting on itself. The apiserver's priority and fairness still
	// guards the apiserver.
	if cfg.QPS == 0 && cfg.Burst == 0 {
		cfg.QPS, cfg.Burst = 100, 200
	}
	// Nodes and pods in protobuf, as Kubernetes' own components read them:
	// a fleet's are most of what is listed. Custom resources are JSON only.
	kcfg := rest.CopyConfig(cfg)
	kcfg.AcceptContentTypes = runtime.ContentTypeProtobuf + "," + runtime.ContentTypeJSON
	kcfg.ContentType = runtime.ContentTypeProtobuf
	kube, err := kubernetes.NewForConfig(kcfg)
	if err != nil {
		return nil, nil, err
	}
	pc, err := versioned.NewForConfig(cfg)
	if err != nil {
		return nil, nil, err
	}
	return kube, pc, nil
}

func (o *Options) world(ctx context.Context) (*simulate.World, kubernetes.Interface, error) {
	kube, pc, err := o.clients()
	if err != nil {
		return nil, nil, err
	}
	settings, err := o.settings(ctx)
	if err != nil {
		return nil, nil, err
	}
	if o.ChunkSize < 0 {
		return nil, nil, fmt.Errorf("--chunk-size must not be negative, not %d", o.ChunkSize)
	}
	w, err := simulate.Lister{Kube: kube, Placement: pc, ChunkSize: o.ChunkSize}.Load(ctx, settings)
	return w, kube, err
}

// settings are the scheduler's args as the flags and --scheduler-config
// say, with one read of live telemetry when there is a Prometheus to read.
func (o *Options) settings(ctx context.Context) (simulate.Settings, error) {
	gpus, legacy, minCandidates := o.GPUResources, o.AcceptLegacySiteLabel, o.MinCandidateNodes
	var tel *config.TelemetryArgs
	if o.SchedulerConfig != "" {
		args, err := schedconfig.ReadEdgePlacementArgs(o.SchedulerConfig, o.SchedulerName)
		if err != nil {
			return simulate.Settings{}, err
		}
		changed := func(name string) bool { return o.flags != nil && o.flags.Changed(name) }
		if !changed("gpu-resources") {
			gpus = args.GPUResources
		}
		if !changed("accept-legacy-site-label") {
			legacy = args.AcceptLegacySiteLabel
		}
		if !changed("min-candidate-nodes") {
			minCandidates = int(args.MinCandidateNodes)
		}
		tel = args.Telemetry
	}
	if o.Prometheus != "" {
		if tel == nil {
			args, err := schedconfig.DefaultedArgs(&configv1.EdgePlacementArgs{Telemetry: &configv1.TelemetryArgs{Address: o.Prometheus}})
			if err != nil {
				return simulate.Settings{}, err
			}
			tel = args.Telemetry
		}
		tel.Address = o.Prometheus
	}
	s := simulate.Settings{GPUs: state.NewGPUResources(gpus), AcceptLegacySiteLabel: legacy, MinCandidateNodes: minCandidates,
		SchedulerName: o.SchedulerName, ProbeBudget: o.ProbeBudget}
	if tel != nil {
		c, err := telemetry.New(telemetry.ConfigFromArgs(tel), nil)
		if err != nil {
			return simulate.Settings{}, err
		}
		c.Refresh(ctx)
		s.Live = c.Load()
		if unread := state.StaleSignals(s.Live); len(unread) > 0 {
			fmt.Fprintf(o.ErrOut, "warning: could not read %s from Prometheus at %s: their values count as stale or missing here, which the scheduler may not see (set --prometheus to an address reachable from here)\n",
				strings.Join(unread, ", "), tel.Address)
		}
	}
	return s, nil
}

// DefaultExplainSites is how many sites `explain`'s table shows.
const DefaultExplainSites = 20

func (o *Options) explainCommand() *cobra.Command {
	top := DefaultExplainSites
	cmd := &cobra.Command{
		Use:   "explain pod NAME",
		Short: "Why a pod is where it is, or why it is pending",
		Long: `For a bound pod: its site, RTT per source with provenance, cost, the scheduler's
placement record, and the other sites with their score terms and why they lost
(the --sites best-ranked in the table; -o json and yaml have every one).
For a pending pod: how many sites each hard rule excluded, the feasible sites
and their free capacity, and the smallest changes that would let it schedule.`,
		Example: "  kubectl proxima explain pod checkout-api-0 -n shop\n  kubectl proxima explain pod/checkout-api-0 -o json",
		Args:    cobra.RangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := o.validate(); err != nil {
				return err
			}
			name, err := podName(args)
			if err != nil {
				return err
			}
			ns, err := o.namespace()
			if err != nil {
				return err
			}
			w, kube, err := o.world(cmd.Context())
			if err != nil {
				return err
			}
			pod, err := kube.CoreV1().Pods(ns).Get(cmd.Context(), name, metav1.GetOptions{})
			if err != nil {
				return err
			}
			if top < 0 {
				return fmt.Errorf("--sites must not be negative, not %d", top)
			}
			return o.print(Explain(w, pod), func(out io.Writer, v any) { PrintExplanation(out, v.(*Explanation), top) })
		},
	}
	cmd.Flags().IntVar(&top, "sites", DefaultExplainSites,
		"How many of the best-ranked sites the table shows (the pod's own site always), and how many names each hard rule's exclusions list; 0 for all. -o json and yaml always have every site.")
	return cmd
}

func podName(args []string) (string, error) {
	switch {
	case len(args) == 2 && (args[0] == "pod" || args[0] == "pods" || args[0] == "po"):
		return args[1], nil
	case len(args) == 1 && strings.HasPrefix(args[0], "pod/"):
		return strings.TrimPrefix(args[0], "pod/"), nil
	}
	return "", fmt.Errorf("want: explain pod NAME (or pod/NAME)")
}

func (o *Options) whatIfCommand() *cobra.Command {
	var (
		file     string
		replicas int
		requests map[string]string
	)
	cmd := &cobra.Command{
		Use:   "what-if -f policy.yaml [--replicas N] [--requests cpu=..,memory=..]",
		Short: "Place N pods of a PlacementPolicy against the current free capacity, without applying it",
		Long: `Places --replicas pods of the policy in the file (added to the cluster's
policies, or replacing the one of the same namespace and name) one after the
other with the scheduler's plan and score, each taking capacity from the
next. For an existing policy, its pods' requests come off their nodes first
(they are placed again under the new rules). Prints pods per site, mean and
p95 RTT, hourly cost, the pods that would not schedule and, for an existing
policy, the difference from today.`,
		Example: "  kubectl proxima what-if -f eu-api.yaml --replicas 20 --requests cpu=250m,memory=256Mi",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := o.validate(); err != nil {
				return err
			}
			policy, err := readPolicy(file)
			if err != nil {
				return err
			}
			if policy.Namespace == "" || o.ConfigFlags.Namespace != nil && *o.ConfigFlags.Namespace != "" {
				if policy.Namespace, err = o.namespace(); err != nil {
					return err
				}
			}
			reqs, err := parseRequests(requests)
			if err != nil {
				return err
			}
			w, _, err := o.world(cmd.Context())
			if err != nil {
				return err
			}
			return o.print(Simulate(w, policy, replicas, reqs), func(out io.Writer, v any) { PrintWhatIf(out, v.(*WhatIf)) })
		},
	}
	cmd.Flags().StringVarP(&file, "filename", "f", "", "The PlacementPolicy to simulate (YAML or JSON; - for stdin).")
	cmd.Flags().IntVar(&replicas, "replicas", 0, "How many pods to place (default: as many as the policy has today, or 1 for a new policy).")
	cmd.Flags().StringToStringVar(&requests, "requests", map[string]string{"cpu": "100m", "memory": "128Mi"},
		"Requests of each pod, e.g. cpu=250m,memory=256Mi,nvidia.com/gpu=1.")
	_ = cmd.MarkFlagRequired("filename")
	return cmd
}

// readPolicy reads one PlacementPolicy from a YAML or JSON file.
func readPolicy(file string) (*placementv1alpha1.PlacementPolicy, error) {
	var r io.Reader
	if file == "-" {
		r = os.Stdin
	} else {
		f, err := os.Open(file)
		if err != nil {
			return nil, err
		}
		defer func() { _ = f.Close() }()
		r = f
	}
	var p placementv1alpha1.PlacementPolicy
	if err := utilyaml.NewYAMLOrJSONDecoder(r, 4096).Decode(&p); err != nil {
		return nil, fmt.Errorf("reading %s: %w", file, err)
	}
	if p.Kind != "" && p.Kind != "PlacementPolicy" {
		return nil, fmt.Errorf("%s holds a %s, not a PlacementPolicy", file, p.Kind)
	}
	if p.Name == "" {
		return nil, fmt.Errorf("%s: the PlacementPolicy has no metadata.name", file)
	}
	return &p, nil
}

// ParseRequests parses --requests.
func parseRequests(in map[string]string) (v1.ResourceList, error) {
	out := v1.ResourceList{}
	for k, v := range in {
		q, err := resource.ParseQuantity(v)
		if err != nil {
			return nil, fmt.Errorf("--requests %s=%s: %w", k, v, err)
		}
		out[v1.ResourceName(k)] = q
	}
	return out, nil
}

func (o *Options) sitesCommand() *cobra.Command {
	var selector string
	cmd := &cobra.Command{
		Use:   "sites [NAME...]",
		Short: "Sites with tier, country, nodes, free capacity, health, telemetry freshness and pods per policy",
		Long: `sites lists every Site, or the named ones, or those whose labels match
--selector, with tier, country, nodes, free capacity, health, telemetry
freshness and bound pods per policy. The cluster is listed in pages of
--chunk-size objects, as kubectl lists.`,
		RunE: func(cmd *cobra.Command, names []string) error {
			if err := o.validate(); err != nil {
				return err
			}
			keep, err := siteFilter(names, selector)
			if err != nil {
				return err
			}
			w, _, err := o.world(cmd.Context())
			if err != nil {
				return err
			}
			if missing := missingSites(names, w); len(missing) > 0 {
				return fmt.Errorf("no Site named %s", strings.Join(missing, ", "))
			}
			return o.print(Sites(w, keep), func(out io.Writer, v any) { PrintSites(out, v.(*SiteList)) })
		},
	}
	cmd.Flags().StringVarP(&selector, "selector", "l", "", "Only the Sites whose labels match this selector (e.g. -l region=eu-west).")
	return cmd
}

// siteFilter keeps the named sites (any when names is empty) whose labels
// match selector.
func siteFilter(names []string, selector string) (func(*placementv1alpha1.Site) bool, error) {
	if len(names) == 0 && selector == "" {
		return nil, nil
	}
	sel, err := labels.Parse(selector)
	if err != nil {
		return nil, fmt.Errorf("--selector: %w", err)
	}
	named := sets.New(names...)
	return func(s *placementv1alpha1.Site) bool {
		return (named.Len() == 0 || named.Has(s.Name)) && sel.Matches(labels.Set(s.Labels))
	}, nil
}

// missingSites are the names no Site of the world has.
func missingSites(names []string, w *simulate.World) []string {
	if len(names) == 0 {
		return nil
	}
	have := sets.New(w.Snap.World.Sites.Names...)
	var missing []string
	for _, n := range names {
		if !have.Has(n) {
			missing = append(missing, n)
		}
	}
	return missing
}

func (o *Options) probesCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "probes",
		Short: "The RTT pairs proxima-controller asks the fleet's blackbox exporters to measure this round, and why",
		Long: `probes lists the (source, site) RTT pairs Proxima plans to measure, within
the probe budget (--probe-pairs, --probe-pairs-per-site, --probe-refresh-pairs,
as proxima-controller's flags): first the pairs whose upper bound decides a
policy's max RTT at a site its other rules allow, then those whose
uncertainty could change a policy's closest site, then a rotating refresh of
the rest. Declared pairs are never probed (docs/rtt.md).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := o.validate(); err != nil {
				return err
			}
			w, _, err := o.world(cmd.Context())
			if err != nil {
				return err
			}
			return o.print(Probes(w), func(out io.Writer, v any) { PrintProbes(out, v.(*ProbeList)) })
		},
	}
}

func (o *Options) print(v any, table func(io.Writer, any)) error {
	return Print(o.Out, o.Output, v, table)
}

// Print writes v as JSON, YAML, or with table.
func Print(out io.Writer, format string, v any, table func(io.Writer, any)) error {
	switch format {
	case "json":
		b, err := json.MarshalIndent(v, "", "  ")
		if err != nil {
			return err
		}
		_, err = fmt.Fprintln(out, string(b))
		return err
	case "yaml":
		b, err := yaml.Marshal(v)
		if err != nil {
			return err
		}
		_, err = out.Write(b)
		return err
	}
	table(out, v)
	return nil
}

func ms(v *float64) string {
	if v == nil {
		return "-"
	}
	return strconv.FormatFloat(*v, 'f', 1, 64)
}

func money(v *float64) string {
	if v == nil {
		return "-"
	}
	return strconv.FormatFloat(*v, 'f', 4, 64)
}

func f2(v float64) string { return strconv.FormatFloat(v, 'f', 2, 64) }

// PrintExplanation writes an Explanation for people.
//
// The table shows the top best-ranked sites and the pod's own, each hard
// rule's exclusions name top sites, and what is left out is counted; top
// 0 shows everything.
func PrintExplanation(out io.Writer, e *Explanation, top int) {
	fmt.Fprintf(out, "Pod %s/%s", e.Namespace, e.Pod)
	if e.Policy != "" {
		fmt.Fprintf(out, " (PlacementPolicy %s)", e.Policy)
	}
	switch e.State {
	case PodBound:
		site := e.Site
		if site == "" {
			site = "no known site"
		}
		fmt.Fprintf(out, ": bound to node %s in site %s\n", e.Node, site)
	case PodPending:
		fmt.Fprintln(out, ": pending")
	default:
		fmt.Fprintln(out, ": no PlacementPolicy governs it; the default profile's rules place it")
		for _, n := range e.Notes {
			fmt.Fprintf(out, "Note: %s\n", n)
		}
		return
	}
	for _, n := range e.Notes {
		fmt.Fprintf(out, "Note: %s\n", n)
	}
	if e.Error != "" {
		fmt.Fprintf(out, "Cannot evaluate its policy: %s\n", e.Error)
	}
	if r := e.Rebalance; r != nil {
		switch {
		case r.Never != "":
			fmt.Fprintf(out, "Rebalancer (%s): never moves it (rule %s): %s\n", r.Mode, r.Never, r.Message)
		case r.Hold != "":
			fmt.Fprintf(out, "Rebalancer (%s): stays (rule %s): %s\n", r.Mode, r.Hold, r.Message)
		case !r.Move && r.Message != "":
			fmt.Fprintf(out, "Rebalancer (%s): stays: %s\n", r.Mode, r.Message)
		case !r.Move:
			fmt.Fprintf(out, "Rebalancer (%s): stays; its site breaks no hard rule and no site beats it by the policy's thresholds\n", r.Mode)
		case r.Mode == string(placementv1alpha1.RebalanceOn):
			fmt.Fprintf(out, "Rebalancer (On): moves it to site %s once its grace (or dwell and cooldown) has passed, as maxMoving and PodDisruptionBudgets allow (%s): %s\n",
				r.ToSite, r.Reason, r.Message)
		default:
			fmt.Fprintf(out, "Rebalancer (%s): would move it to site %s (%s): %s\n", r.Mode, r.ToSite, r.Reason, r.Message)
		}
	}
	if r := e.Record; r != nil {
		fmt.Fprintf(out, "Placement record (world generation %d): %s\n", r.WorldGeneration, state.Sentence(r))
		fmt.Fprintf(out, "  score: latency %s + cost %s + load %s = %s\n", f2(r.Score.Latency), f2(r.Score.Cost), f2(r.Score.Load), f2(r.Score.Total))
		if ru := r.RunnerUp; ru != nil {
			fmt.Fprintf(out, "  runner-up: %s, score %s (latency %s + cost %s + load %s): %s\n", ru.Site, f2(ru.Score.Total),
				f2(ru.Score.Latency), f2(ru.Score.Cost), f2(ru.Score.Load), ru.Lost)
		}
	} else if e.State == PodBound {
		fmt.Fprintln(out, "No placement record (bound by another scheduler, or before records existed).")
	}
	if len(e.WorldChanges) > 0 {
		fmt.Fprintf(out, "Since it was scored: %s\n", strings.Join(e.WorldChanges, "; "))
	}
	if e.SchedulerMessage != "" {
		fmt.Fprintf(out, "Scheduler: %s\n", e.SchedulerMessage)
	}
	if n := e.Now; n != nil {
		verb := "would place it"
		if e.State == PodBound {
			verb = "would place it now"
		}
		fmt.Fprintf(out, "On the current world the scheduler %s in site %s (node %s): score %s; RTT", verb, n.Site, n.Node, f2(n.Score.Total))
		for i, r := range n.RTTs {
			sep := ","
			if i == 0 {
				sep = ""
			}
			fmt.Fprintf(out, "%s %s %s", sep, r.Source, state.DescribeRTT(r))
		}
		if len(n.RTTs) == 0 {
			fmt.Fprint(out, " -")
		}
		for _, d := range n.Dependencies {
			if d.Sites == 0 {
				fmt.Fprintf(out, "; dependency %s not running yet", d.Dependency)
				continue
			}
			fmt.Fprintf(out, "; RTT to dependency %s (%d site(s)) %s", d.Dependency, d.Sites, state.DescribeRTT(d.AsSourceRTT()))
		}
		fmt.Fprintf(out, "; cost %s/h", money(n.Cost))
		if n.Egress != nil {
			fmt.Fprintf(out, " (egress %s/h)", money(n.Egress))
		}
		fmt.Fprintln(out)
	}
	if len(e.Excluded) > 0 {
		fmt.Fprint(out, "Excluded by hard rules:")
		for i, x := range e.Excluded {
			sep := ";"
			if i == 0 {
				sep = ""
			}
			names := strings.Join(x.Sites, ", ")
			if top > 0 && len(x.Sites) > top {
				names = fmt.Sprintf("%s and %d more", strings.Join(x.Sites[:top], ", "), len(x.Sites)-top)
			}
			fmt.Fprintf(out, "%s %d site(s): %s (%s)", sep, x.Count, x.Rule, names)
		}
		fmt.Fprintln(out)
	}
	// The table shows the feasible sites (all sites, with -o json or
	// yaml); when no site is feasible, the excluded ones with the values
	// that excluded them.
	sites := slices.DeleteFunc(slices.Clone(e.Sites), func(s SiteVerdict) bool { return s.Rank == 0 })
	if len(sites) == 0 {
		sites = e.Sites
	}
	sites, more := topSites(sites, top, e.Site)
	if len(sites) > 0 {
		fmt.Fprintln(out)
		tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "SITE\tRANK\tRTT MS\tCOST/H\tLATENCY\tCOST\tLOAD\tTOTAL\tFREE CPU\tFREE MEM\tVERDICT")
		for _, s := range sites {
			rank, lat, cost, load, total := "-", "-", "-", "-", "-"
			if s.Rank > 0 {
				rank = strconv.Itoa(s.Rank)
			}
			if s.Score != nil {
				lat, cost, load, total = f2(s.Score.Latency), f2(s.Score.Cost), f2(s.Score.Load), f2(s.Score.Total)
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", s.Site, rank, ms(s.LatencyMilliseconds), money(s.HourlyCost),
				lat, cost, load, total, s.Free.CPU, s.Free.Memory, s.Verdict+overBoundNote(s.OverBound)+dependencyNote(s.DependencyOverBound))
		}
		_ = tw.Flush()
		if more > 0 {
			fmt.Fprintf(out, "... and %d more site(s): --sites 0 lists every one, -o json has them all\n", more)
		}
	}
	if len(e.Suggestions) > 0 {
		fmt.Fprintln(out, "\nSmallest changes that would let it schedule:")
		for _, s := range e.Suggestions {
			fmt.Fprintf(out, "  - %s\n", s)
		}
	}
}

// topSites keeps the top best-ranked of sites (ranked sites first, in rank
// order, then the others as they come) and the one named own wherever it
// ranks, in rank order; and how many it left out. top 0 keeps all.
func topSites(sites []SiteVerdict, top int, own string) ([]SiteVerdict, int) {
	if top <= 0 || len(sites) <= top {
		return sites, 0
	}
	sorted := slices.Clone(sites)
	slices.SortStableFunc(sorted, func(a, b SiteVerdict) int {
		ra, rb := a.Rank, b.Rank
		if ra == 0 {
			ra = math.MaxInt
		}
		if rb == 0 {
			rb = math.MaxInt
		}
		return cmp.Compare(ra, rb)
	})
	kept := sorted[:top:top]
	if own != "" && !slices.ContainsFunc(kept, func(s SiteVerdict) bool { return s.Site == own }) {
		if i := slices.IndexFunc(sorted, func(s SiteVerdict) bool { return s.Site == own }); i >= 0 {
			kept = append(kept, sorted[i])
		}
	}
	return kept, len(sites) - len(kept)
}

// PrintWhatIf writes a WhatIf for people.
func PrintWhatIf(out io.Writer, r *WhatIf) {
	keys := make([]string, 0, len(r.Requests))
	for k := range r.Requests {
		keys = append(keys, string(k))
	}
	sort.Strings(keys)
	var reqs []string
	for _, k := range keys {
		q := r.Requests[v1.ResourceName(k)]
		reqs = append(reqs, k+"="+q.String())
	}
	verb := "new"
	if r.Existing {
		verb = "changed"
	}
	fmt.Fprintf(out, "What if %d pod(s) (%s) of the %s PlacementPolicy %s/%s were scheduled now:\n", r.Replicas, strings.Join(reqs, ", "), verb, r.Namespace, r.Policy)
	if r.Error != "" {
		fmt.Fprintf(out, "Cannot evaluate the policy: %s\n", r.Error)
	}
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	if r.Existing {
		fmt.Fprintln(tw, "SITE\tPODS\tTODAY\tDELTA\tRTT MS\tCOST/H PER POD")
	} else {
		fmt.Fprintln(tw, "SITE\tPODS\tRTT MS\tCOST/H PER POD")
	}
	for _, s := range r.Sites {
		if r.Existing {
			fmt.Fprintf(tw, "%s\t%d\t%d\t%+d\t%s\t%s\n", s.Site, s.Pods, s.Today, s.Delta, ms(s.LatencyMilliseconds), money(s.HourlyCostPerPod))
		} else {
			fmt.Fprintf(tw, "%s\t%d\t%s\t%s\n", s.Site, s.Pods, ms(s.LatencyMilliseconds), money(s.HourlyCostPerPod))
		}
	}
	_ = tw.Flush()
	fmt.Fprintf(out, "Placed %d, unschedulable %d", r.Placed, r.Unschedulable)
	if r.MeanRTTMilliseconds != nil {
		fmt.Fprintf(out, "; RTT mean %s ms, p95 %s ms", ms(r.MeanRTTMilliseconds), ms(r.P95RTTMilliseconds))
	}
	fmt.Fprintf(out, "; hourly cost %s\n", strconv.FormatFloat(r.HourlyCost, 'f', 4, 64))
	if r.UnschedulableReason != "" {
		fmt.Fprintf(out, "Unschedulable: %s\n", r.UnschedulableReason)
	}
	if len(r.Excluded) > 0 {
		fmt.Fprint(out, "Excluded by hard rules:")
		for i, x := range r.Excluded {
			sep := ";"
			if i == 0 {
				sep = ""
			}
			fmt.Fprintf(out, "%s %d site(s): %s", sep, x.Count, x.Rule)
		}
		fmt.Fprintln(out)
	}
}

// PrintSites writes a SiteList for people.
func PrintSites(out io.Writer, l *SiteList) {
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "SITE\tTIER\tCOUNTRY\tNODES\tREADY\tFREE CPU\tFREE MEM\tFREE PODS\tHEALTH\tTELEMETRY\tPODS")
	for _, s := range l.Sites {
		var pods []string
		keys := make([]string, 0, len(s.Pods))
		for k := range s.Pods {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			name := k
			if name == "" {
				name = "(no policy)"
			}
			pods = append(pods, fmt.Sprintf("%s=%d", name, s.Pods[k]))
		}
		podText := strings.Join(pods, ",")
		if podText == "" {
			podText = "-"
		}
		telemetry := "declared"
		if s.PriceLive != placementv1alpha1.LiveNotRead || s.HealthLive != placementv1alpha1.LiveNotRead || s.LiveRTTs > 0 {
			telemetry = fmt.Sprintf("price %s, health %s, %d live RTTs", s.PriceLive, s.HealthLive, s.LiveRTTs)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%d\t%s\t%s\t%d\t%s\t%s\t%s\n", s.Site, s.Tier, s.Country, s.Free.Nodes, s.Free.Ready, s.Free.CPU, s.Free.Memory,
			s.Free.Pods, s.Health, telemetry, podText)
	}
	_ = tw.Flush()
}

// dependencyNote says which dependency's bound excluded a site, for the
// table.
func dependencyNote(over string) string {
	if over == "" {
		return ""
	}
	return " (" + over + ")"
}
