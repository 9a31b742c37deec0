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

// Command proxima-controller writes the status of Proxima's placement
// objects (node counts on Sites, unknown sites on TrafficSources, unknown
// sources and empty feasible sets on PlacementPolicies) and lifts the
// placement.proxima.dev/policy scheduling gate from pods whose policy
// resolves. Run two replicas; one leads, through a Lease.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	coreinformers "k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/client-go/tools/leaderelection"
	"k8s.io/client-go/tools/leaderelection/resourcelock"
	"k8s.io/klog/v2"

	placementv1alpha1 "github.com/proxima-sched/proxima/apis/placement/v1alpha1"
	"github.com/proxima-sched/proxima/pkg/controller/policygate"
	"github.com/proxima-sched/proxima/pkg/controller/status"
	"github.com/proxima-sched/proxima/pkg/generated/clientset/versioned"
	informers "github.com/proxima-sched/proxima/pkg/generated/informers/externalversions"
	"github.com/proxima-sched/proxima/pkg/state"
	"github.com/proxima-sched/proxima/pkg/version"
)

func main() {
	klog.InitFlags(nil)
	kubeconfig := flag.String("kubeconfig", "", "path to a kubeconfig; empty means in-cluster")
	leaderElect := flag.Bool("leader-elect", true, "take a Lease before writing status, so that one replica writes")
	leaseNamespace := flag.String("leader-elect-namespace", "proxima-system", "namespace of the Lease")
	leaseName := flag.String("leader-elect-name", "proxima-controller", "name of the Lease")
	acceptLegacy := flag.Bool("accept-legacy-site-label", false, "also count a node in the site named by its legacy label "+
		placementv1alpha1.LegacySiteLabel+" when it lacks "+placementv1alpha1.SiteLabel+
		"; the node itself can set the legacy label, so use this only while relabelling nodes on upgrade")
	schedulerNames := flag.String("scheduler-names", status.DefaultSchedulerName, "comma-separated schedulerNames that place pods with Proxima's rules "+
		"(the profiles of its KubeSchedulerConfiguration); a policy's matched pods naming another are counted in status.otherSchedulerPods")
	flag.Parse()

	ctx, cancel := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer cancel()
	if err := run(ctx, *kubeconfig, *leaderElect, *leaseNamespace, *leaseName, strings.Split(*schedulerNames, ","),
		state.Options{AcceptLegacySiteLabel: *acceptLegacy}); err != nil {
		klog.ErrorS(err, "proxima-controller failed")
		os.Exit(1)
	}
}

func run(ctx context.Context, kubeconfig string, leaderElect bool, leaseNamespace, leaseName string, schedulerNames []string, opts state.Options) error {
	logger := klog.FromContext(ctx)
	cfg, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		return fmt.Errorf("loading kubeconfig: %w", err)
	}
	cfg = rest.AddUserAgent(cfg, "proxima-controller")
	core, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return err
	}
	client, err := versioned.NewForConfig(cfg)
	if err != nil {
		return err
	}
	logger.Info("Starting proxima-controller", "version", version.Version)
	runController := func(ctx context.Context) {
		factory := informers.NewSharedInformerFactory(client, 0)
		coreFactory := coreinformers.NewSharedInformerFactory(core, 0)
		c, err := status.New(client, factory, coreFactory, opts)
		if err != nil {
			klog.FromContext(ctx).Error(err, "Creating the status controller")
			return
		}
		c.SetSchedulerNames(schedulerNames...)
		unbound := policygate.UnboundPods(core)
		gate, err := policygate.New(core, c.Model(), unbound)
		if err != nil {
			klog.FromContext(ctx).Error(err, "Creating the policy gate controller")
			return
		}
		factory.Start(ctx.Done())
		coreFactory.Start(ctx.Done())
		go unbound.Run(ctx.Done())
		go func() {
			if err := gate.Run(ctx); err != nil {
				klog.FromContext(ctx).Error(err, "Policy gate controller stopped")
			}
		}()
		if err := c.Run(ctx); err != nil {
			klog.FromContext(ctx).Error(err, "Status controller stopped")
		}
	}
	if !leaderElect {
		runController(ctx)
		return nil
	}
	id, err := os.Hostname()
	if err != nil {
		return err
	}
	lock, err := resourcelock.New(resourcelock.LeasesResourceLock, leaseNamespace, leaseName,
		core.CoreV1(), core.CoordinationV1(), resourcelock.ResourceLockConfig{Identity: id})
	if err != nil {
		return err
	}
	leaderelection.RunOrDie(ctx, leaderelection.LeaderElectionConfig{
		Lock:            lock,
		ReleaseOnCancel: true,
		LeaseDuration:   15 * time.Second,
		RenewDeadline:   10 * time.Second,
		RetryPeriod:     2 * time.Second,
		Callbacks: leaderelection.LeaderCallbacks{
			OnStartedLeading: runController,
			OnStoppedLeading: func() { logger.Info("Lost the lease; stopping") },
		},
	})
	return nil
}
