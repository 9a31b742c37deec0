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

package state

import (
	"errors"
	"fmt"
	"strings"

	v1 "k8s.io/api/core/v1"
	resourcehelper "k8s.io/component-helpers/resource"
	schedutil "k8s.io/kubernetes/pkg/scheduler/util"

	placementv1alpha1 "github.com/proxima-sched/proxima/apis/placement/v1alpha1"
	"github.com/proxima-sched/proxima/pkg/scoring"
)

// PodPlan is one pod's policy evaluated against one Snapshot: what the
// scheduler plugin's PreFilter computes, and what `kubectl proxima`
// recomputes to explain or simulate a placement.
type PodPlan struct {
	Policy *ResolvedPolicy
	// Requests are the pod's effective requests (PodRequests).
	Requests v1.ResourceList
	// Rules are the policy in the core's terms for this pod.
	Rules scoring.Policy
	// Plan is Rules evaluated against the snapshot's World.
	Plan scoring.Plan
	// Admission is what the pod asks of a node besides its policy (empty
	// for PlanPolicy: no pod).
	Admission NodeAdmission
	// Dependencies are where the policy's dependencies ran when the plan
	// was made, in the policy's order (PlaceDependencies).
	Dependencies []DependencyPlacement

	world *scoring.World
	need  need
	// shared identifies the evaluation a PlanCache shares (Shared).
	shared uint64
}

// Shared identifies the evaluation of the plan's policy that the pods
// given it by one PlanCache share (one snapshot, policy and requests); 0
// for a plan of its own.
func (p *PodPlan) Shared() uint64 { return p.shared }

// need is the pod's requests as NodeHasRoom compares them, read once.
type need struct {
	milliCPU, memory int64
	// scalar are the extended resources (GPUs among them) and hugepages
	// requested.
	scalar []scalarNeed
}

type scalarNeed struct {
	name  v1.ResourceName
	value int64
}

func needOf(reqs v1.ResourceList) need {
	n := need{milliCPU: reqs.Cpu().MilliValue(), memory: reqs.Memory().Value()}
	for name, q := range reqs {
		if schedutil.IsScalarResourceName(name) && !q.IsZero() {
			n.scalar = append(n.scalar, scalarNeed{name, q.Value()})
		}
	}
	return n
}

// CPUMilli is the pod's CPU request in millicores.
func (p *PodPlan) CPUMilli() int64 { return p.need.milliCPU }

// Errors of PlanPod. Each makes the pod unschedulable until the world
// changes (fail closed); their messages are the reasons the scheduler
// reports.
type (
	// HardwareRuleError: the policy's hardware rule does not parse.
	HardwareRuleError struct {
		Namespace, Name string
		Err             error
	}
	// NoRequestsError: the policy caps the hourly cost and the pod requests
	// nothing, so its cost is 0 everywhere and the cap would bind nothing.
	NoRequestsError struct{ Namespace, Name string }
	// UnevaluableError: a rule cannot be put in the core's terms (a source
	// that does not exist: see UnknownSourceError; a rule invalid as
	// written: InvalidRuleError).
	UnevaluableError struct {
		Namespace, Name string
		Err             error
	}
)

func (e *HardwareRuleError) Error() string {
	return fmt.Sprintf("PlacementPolicy %s/%s has an invalid hardware rule: %v", e.Namespace, e.Name, e.Err)
}

func (e *NoRequestsError) Error() string {
	return fmt.Sprintf("PlacementPolicy %s/%s caps the hourly cost (cost.maxHourly), but the pod requests no CPU, memory or GPUs, so its cost is unknown: set resource requests",
		e.Namespace, e.Name)
}

func (e *UnevaluableError) Error() string {
	return fmt.Sprintf("PlacementPolicy %s/%s cannot be evaluated: %v", e.Namespace, e.Name, e.Err)
}

func (e *UnevaluableError) Unwrap() error { return e.Err }

// Unresolvable reports whether err from PlanPod is a verdict about the pod
// and the world (the pod is unschedulable until either changes) rather than
// an internal error.
func Unresolvable(err error) bool {
	var (
		nf *PolicyNotFoundError
		rq *PolicyRequiredError
		hw *HardwareRuleError
		nr *NoRequestsError
		un *UnknownSourceError
		ir *InvalidRuleError
	)
	return errors.As(err, &nf) || errors.As(err, &rq) || errors.As(err, &hw) || errors.As(err, &nr) || errors.As(err, &un) || errors.As(err, &ir) ||
		errors.Is(err, ErrNoCluster)
}

// PlanPod resolves the pod's policy (PolicyFor) and evaluates it against the
// snapshot for the pod's requests; nil, nil for a pod no policy governs.
// gpus are the extended resources priced as GPUs; c is where the policy's
// dependencies run (PlaceDependencies; nil: nowhere known, which only a
// policy without dependencies can be planned with). The error is one of
// PolicyNotFoundError, PolicyRequiredError, HardwareRuleError, NoRequestsError, UnevaluableError
// (wrapping UnknownSourceError when a source does not exist,
// InvalidRuleError, or ErrNoCluster), or another error from CorePolicy or
// the Cluster.
func (s *Snapshot) PlanPod(pod *v1.Pod, gpus GPUResources, c Cluster) (*PodPlan, error) {
	policy, err := s.PolicyFor(pod)
	if err != nil || policy == nil {
		return nil, err
	}
	placed, err := s.placeFor(policy, pod, c)
	if err != nil {
		return nil, err
	}
	p, err := s.PlanPolicy(policy, PodRequests(pod), gpus, placed)
	if p != nil {
		p.Admission = AdmissionOf(pod)
	}
	return p, err
}

// placeFor is PlaceDependencies with a missing Cluster reported as the
// policy's (UnevaluableError).
func (s *Snapshot) placeFor(policy *ResolvedPolicy, pod *v1.Pod, c Cluster) ([]DependencyPlacement, error) {
	placed, err := s.PlaceDependencies(policy, pod, c)
	if errors.Is(err, ErrNoCluster) {
		return nil, &UnevaluableError{Namespace: policy.Namespace, Name: policy.Name, Err: err}
	}
	return placed, err
}

// PodRequests are the pod's effective requests as a policy reads them
// (narrowing, node fit and cost): kube-scheduler's own sum of containers,
// init containers and overhead.
func PodRequests(pod *v1.Pod) v1.ResourceList {
	return resourcehelper.PodRequests(pod, resourcehelper.PodResourcesOptions{})
}

// PlanPolicy evaluates a resolved policy against the snapshot for a pod with
// the given effective requests, its dependencies placed as placed says
// (PlaceDependencies; see PlanPod).
func (s *Snapshot) PlanPolicy(policy *ResolvedPolicy, reqs v1.ResourceList, gpus GPUResources, placed []DependencyPlacement) (*PodPlan, error) {
	if len(placed) != len(policy.Spec.Dependencies) {
		return nil, &UnevaluableError{Namespace: policy.Namespace, Name: policy.Name, Err: ErrNoCluster}
	}
	if policy.HardwareErr != nil {
		return nil, &HardwareRuleError{Namespace: policy.Namespace, Name: policy.Name, Err: policy.HardwareErr}
	}
	req := RequestsOf(reqs, gpus)
	if policy.Spec.Cost != nil && req == (Requests{}) {
		return nil, &NoRequestsError{Namespace: policy.Namespace, Name: policy.Name}
	}
	p := &PodPlan{Policy: policy, Requests: reqs, world: s.World, need: needOf(reqs), Dependencies: placed}
	if err := s.CorePolicy(&policy.Spec, req, &p.Rules); err != nil {
		var (
			unknown *UnknownSourceError
			invalid *InvalidRuleError
		)
		if errors.As(err, &unknown) || errors.As(err, &invalid) {
			return nil, &UnevaluableError{Namespace: policy.Namespace, Name: policy.Name, Err: err}
		}
		return nil, err
	}
	s.dependencyRules(&policy.Spec, placed, &p.Rules)
	p.Plan.Evaluate(s.World, &p.Rules)
	return p, nil
}

// NoFeasibleSiteMessage is the reason a pod whose plan has no feasible site
// is unschedulable: "PlacementPolicy ns/name: no site meets the hard rules
// (12 sites: residency; 3 sites: max RTT 20 ms)".
func (p *PodPlan) NoFeasibleSiteMessage() string {
	msg := fmt.Sprintf("PlacementPolicy %s/%s: no site meets the hard rules", p.Policy.Namespace, p.Policy.Name)
	if sum := p.Plan.ExcludedSummary(); sum != "" {
		msg += " (" + sum + ")"
	}
	if p.Plan.ReasonCounts() == ([scoring.NumReasons]int32{}) {
		msg += " (no Sites exist)"
	}
	return msg
}

// NoNodesMessage is the reason a pod whose plan has feasible sites has no
// candidate node: the node list is not indexed yet, or no node carries the
// label of any feasible site (forgotten or mistyped).
func (p *PodPlan) NoNodesMessage(snap *Snapshot) string {
	pol := p.Policy
	if !snap.NodesIndexed() {
		return fmt.Sprintf("PlacementPolicy %s/%s: the scheduler has not listed the nodes yet", pol.Namespace, pol.Name)
	}
	ranked := p.Plan.Ranked()
	const most = 5
	sites := make([]string, 0, most)
	for _, i := range ranked[:min(len(ranked), most)] {
		sites = append(sites, snap.World.Sites.Names[i])
	}
	list := strings.Join(sites, ", ")
	if len(ranked) > most {
		list += fmt.Sprintf(" and %d more", len(ranked)-most)
	}
	return fmt.Sprintf("PlacementPolicy %s/%s: %d site(s) meet the hard rules (%s) but no node is in them: label each node with %s=<site>",
		pol.Namespace, pol.Name, len(ranked), list, placementv1alpha1.SiteLabel)
}
