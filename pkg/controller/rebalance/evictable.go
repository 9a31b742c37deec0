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

package rebalance

import (
	"fmt"

	batchv1 "k8s.io/api/batch/v1"
	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/sets"
	corelisters "k8s.io/client-go/listers/core/v1"
	volumehelpers "k8s.io/component-helpers/storage/volume"
)

// Never is a named rule under which the rebalancer never moves a pod,
// whatever its site: the pod's owner could not recreate it without loss,
// or moving it would not place it again. Each is documented in
// docs/rebalancer.md under the same name, and `kubectl proxima explain`
// names it.
type Never string

// The never-moved rules, in the order Unmovable checks them.
const (
	NeverNotBound    Never = "NotBound"
	NeverTerminating Never = "Terminating"
	NeverFinished    Never = "Finished"
	// NeverMirrorPod: a static pod's mirror (the kubelet recreates it on
	// the same node, in a loop).
	NeverMirrorPod Never = "MirrorPod"
	// NeverOtherScheduler: another scheduler would place it again.
	NeverOtherScheduler Never = "OtherScheduler"
	// NeverCritical: system-node-critical and system-cluster-critical pods.
	NeverCritical Never = "CriticalPod"
	// NeverBare: no controller recreates it.
	NeverBare Never = "NoController"
	// NeverDaemonSet: its replacement comes back on the same node.
	NeverDaemonSet Never = "DaemonSetPod"
	// NeverJob: an evicted Job pod counts as a failure against the Job's
	// backoffLimit unless its pod failure policy ignores disruptions.
	NeverJob Never = "JobPod"
	// NeverOtherOwner: a controller the rebalancer does not know to
	// recreate pods without loss (a workflow engine's step, an operator's
	// pod).
	NeverOtherOwner Never = "UnknownController"
	// NeverHostPath: it reads or writes its node's filesystem, which its
	// replacement elsewhere would not find.
	NeverHostPath Never = "HostPathVolume"
)

// Jobs finds a Job by namespace and name; nil when there is no Job lister
// (then no Job pod is moved).
type Jobs func(namespace, name string) (*batchv1.Job, error)

// Unmovable says under which rule the rebalancer never moves pod, and why,
// or "" when none applies. Moved are pods bound by one of schedulers,
// running, whose controller recreates them without loss: a ReplicaSet's
// (and so a Deployment's), a ReplicationController's, a StatefulSet's (its
// volumes are checked against the move's target), and a Job's whose pod
// failure policy ignores disruptions.
func Unmovable(pod *v1.Pod, schedulers sets.Set[string], jobs Jobs) (Never, string) {
	ref := metav1.GetControllerOf(pod)
	switch {
	case pod.Spec.NodeName == "":
		return NeverNotBound, "it is not bound to a node"
	case pod.DeletionTimestamp != nil:
		return NeverTerminating, "it is terminating"
	case pod.Status.Phase == v1.PodSucceeded || pod.Status.Phase == v1.PodFailed:
		return NeverFinished, "it has finished"
	case isMirror(pod, ref):
		return NeverMirrorPod, "it is the mirror of a static pod, which its kubelet recreates on the same node"
	case !schedulers.Has(pod.Spec.SchedulerName):
		return NeverOtherScheduler, fmt.Sprintf("it names scheduler %q, which would place it again", pod.Spec.SchedulerName)
	case isCritical(pod):
		return NeverCritical, fmt.Sprintf("it is a critical pod (priority class %q)", pod.Spec.PriorityClassName)
	case ref == nil:
		return NeverBare, "it has no controller to recreate it"
	}
	for _, vol := range pod.Spec.Volumes {
		if vol.HostPath != nil {
			return NeverHostPath, fmt.Sprintf("its volume %s is a hostPath on its node, which a replacement elsewhere would not find", vol.Name)
		}
	}
	switch {
	case ref.APIVersion == "apps/v1" && (ref.Kind == "ReplicaSet" || ref.Kind == "StatefulSet"), ref.APIVersion == "v1" && ref.Kind == "ReplicationController":
		return "", ""
	case ref.APIVersion == "apps/v1" && ref.Kind == "DaemonSet":
		return NeverDaemonSet, "a DaemonSet's pod comes back on the same node"
	case ref.APIVersion == "batch/v1" && ref.Kind == "Job":
		if jobs == nil {
			return NeverJob, "it is a Job's pod, and an evicted Job pod counts against the Job's backoffLimit"
		}
		job, err := jobs(pod.Namespace, ref.Name)
		if err != nil || job.UID != ref.UID {
			return NeverJob, fmt.Sprintf("it is Job %s's pod and the Job cannot be read", ref.Name)
		}
		if !IgnoresDisruptions(job) {
			return NeverJob, fmt.Sprintf("Job %s's pod failure policy does not ignore disruptions, so an eviction would count against its backoffLimit", ref.Name)
		}
		return "", ""
	}
	return NeverOtherOwner, fmt.Sprintf("its controller %s %s (%s) is not known to recreate it without loss", ref.Kind, ref.Name, ref.APIVersion)
}

// IgnoresDisruptions reports whether the Job's pod failure policy ignores
// a pod that failed because it was disrupted (condition DisruptionTarget,
// which an eviction sets): the first rule that matches such a pod has
// action Ignore, as the Job controller applies them.
func IgnoresDisruptions(job *batchv1.Job) bool {
	if job.Spec.PodFailurePolicy == nil {
		return false
	}
	for _, r := range job.Spec.PodFailurePolicy.Rules {
		if r.OnExitCodes != nil {
			// Whether it matches depends on the container's exit code:
			// not knowable before the eviction.
			if r.Action != batchv1.PodFailurePolicyActionIgnore {
				return false
			}
			continue
		}
		for _, c := range r.OnPodConditions {
			if c.Type == v1.DisruptionTarget && (c.Status == "" || c.Status == v1.ConditionTrue) {
				return r.Action == batchv1.PodFailurePolicyActionIgnore
			}
		}
	}
	return false
}

func isMirror(pod *v1.Pod, ref *metav1.OwnerReference) bool {
	if _, ok := pod.Annotations[v1.MirrorPodAnnotationKey]; ok {
		return true
	}
	return ref != nil && ref.Kind == "Node" && ref.APIVersion == "v1"
}

// isCritical: the two system priority classes, or a priority at least as
// high as theirs.
func isCritical(pod *v1.Pod) bool {
	const systemCriticalPriority = 2_000_000_000
	return pod.Spec.PriorityClassName == "system-node-critical" || pod.Spec.PriorityClassName == "system-cluster-critical" ||
		pod.Spec.Priority != nil && *pod.Spec.Priority >= systemCriticalPriority
}

// VolumeGuard says why the pod's PersistentVolumes keep it off node (""
// when they do not): a claim not bound, or a volume whose node affinity
// (a local volume, a zonal disk) node does not meet. Without the listers
// no pod with a claim is moved.
func VolumeGuard(pvcs corelisters.PersistentVolumeClaimLister, pvs corelisters.PersistentVolumeLister, node func(string) *v1.Node) func(*v1.Pod, string) string {
	return func(pod *v1.Pod, target string) string {
		for _, vol := range pod.Spec.Volumes {
			claim := ""
			switch {
			case vol.PersistentVolumeClaim != nil:
				claim = vol.PersistentVolumeClaim.ClaimName
			case vol.Ephemeral != nil:
				claim = pod.Name + "-" + vol.Name
			default:
				continue
			}
			if pvcs == nil || pvs == nil {
				return fmt.Sprintf("its volume %s (claim %s) cannot be checked against node %s", vol.Name, claim, target)
			}
			pvc, err := pvcs.PersistentVolumeClaims(pod.Namespace).Get(claim)
			if err != nil || pvc.Spec.VolumeName == "" {
				return fmt.Sprintf("its PersistentVolumeClaim %s is not bound", claim)
			}
			pv, err := pvs.Get(pvc.Spec.VolumeName)
			if err != nil {
				return fmt.Sprintf("its PersistentVolume %s cannot be read", pvc.Spec.VolumeName)
			}
			n := node(target)
			if n == nil {
				return fmt.Sprintf("node %s is unknown", target)
			}
			if err := volumehelpers.CheckNodeAffinity(pv, n.Labels); err != nil {
				return fmt.Sprintf("its volume %s (PersistentVolume %s) is reachable only from nodes that node %s is not among, so its replacement could run only where it is",
					vol.Name, pv.Name, target)
			}
		}
		return ""
	}
}
