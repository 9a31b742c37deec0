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

package integration

import (
	"context"
	"fmt"
	"testing"
	"time"

	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/rest"

	placementv1alpha1 "github.com/proxima-sched/proxima/apis/placement/v1alpha1"
	"github.com/proxima-sched/proxima/pkg/generated/clientset/versioned"
	"github.com/proxima-sched/proxima/test/harness"
)

// TestAppTeamRBAC: the install's aggregated ClusterRoles give users of
// Kubernetes' built-in roles what they need of Proxima and no more,
// checked by the real apiserver's RBAC for non-admin users, with the real
// kube-controller-manager aggregating the roles.
func TestAppTeamRBAC(t *testing.T) {
	ctx := context.Background()
	for name, render := range map[string]func(*testing.T) []byte{"kustomize": renderInstall, "helm": renderChart} {
		t.Run(name, func(t *testing.T) {
			cp, _, _, _ := installed(t, render(t))
			harness.StartControllerManager(t, cp, "clusterrole-aggregation")
			teamA := createNamespace(t, cp.Client, "team-a")
			teamB := createNamespace(t, cp.Client, "team-b")
			bind := func(user, role, ns string) {
				t.Helper()
				subj := []rbacv1.Subject{{Kind: rbacv1.UserKind, APIGroup: rbacv1.GroupName, Name: user}}
				ref := rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: role}
				var err error
				if ns == "" {
					_, err = cp.Client.RbacV1().ClusterRoleBindings().Create(ctx, &rbacv1.ClusterRoleBinding{
						ObjectMeta: metav1.ObjectMeta{Name: user + "-" + role}, Subjects: subj, RoleRef: ref}, metav1.CreateOptions{})
				} else {
					_, err = cp.Client.RbacV1().RoleBindings(ns).Create(ctx, &rbacv1.RoleBinding{
						ObjectMeta: metav1.ObjectMeta{Name: user + "-" + role}, Subjects: subj, RoleRef: ref}, metav1.CreateOptions{})
				}
				if err != nil {
					t.Fatal(err)
				}
			}
			as := func(user string) versioned.Interface {
				cfg := rest.CopyConfig(cp.Config)
				cfg.Impersonate = rest.ImpersonationConfig{UserName: user, Groups: []string{"system:authenticated"}}
				return versioned.NewForConfigOrDie(cfg)
			}
			validSite := placementv1alpha1.SiteSpec{Tier: placementv1alpha1.TierEdge, Country: "FR",
				Location: placementv1alpha1.GeoLocation{Latitude: "48.85", Longitude: "2.35"}}
			bind("dev", "edit", teamA)      // an application team's developer
			bind("admin-a", "admin", teamA) // its namespace admin
			bind("auditor", "view", "")     // a cluster-wide viewer
			bind("reader", "proxima-world-reader", "")
			if _, err := versioned.NewForConfigOrDie(cp.Config).PlacementV1alpha1().Sites().Create(ctx, &placementv1alpha1.Site{
				ObjectMeta: metav1.ObjectMeta{Name: "paris"}, Spec: validSite}, metav1.CreateOptions{}); err != nil {
				t.Fatal(err)
			}

			policy := func(name string) *placementv1alpha1.PlacementPolicy {
				return &placementv1alpha1.PlacementPolicy{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: costPolicy}
			}
			site := &placementv1alpha1.Site{ObjectMeta: metav1.ObjectMeta{Name: "rogue"}, Spec: validSite}
			type check struct {
				user, what string
				do         func(versioned.Interface) error
				allowed    bool
			}
			n := 0
			createPolicy := func(ns string) func(versioned.Interface) error {
				return func(c versioned.Interface) error {
					n++
					_, err := c.PlacementV1alpha1().PlacementPolicies(ns).Create(ctx, policy(fmt.Sprintf("p-%d", n)), metav1.CreateOptions{})
					return err
				}
			}
			listPolicies := func(ns string) func(versioned.Interface) error {
				return func(c versioned.Interface) error {
					_, err := c.PlacementV1alpha1().PlacementPolicies(ns).List(ctx, metav1.ListOptions{})
					return err
				}
			}
			listSites := func(c versioned.Interface) error {
				_, err := c.PlacementV1alpha1().Sites().List(ctx, metav1.ListOptions{})
				return err
			}
			listSources := func(c versioned.Interface) error {
				_, err := c.PlacementV1alpha1().TrafficSources().List(ctx, metav1.ListOptions{})
				return err
			}
			createSite := func(c versioned.Interface) error {
				_, err := c.PlacementV1alpha1().Sites().Create(ctx, site, metav1.CreateOptions{})
				return err
			}
			deleteSite := func(c versioned.Interface) error {
				return c.PlacementV1alpha1().Sites().Delete(ctx, "paris", metav1.DeleteOptions{})
			}
			checks := []check{
				{"dev", "create a policy in its namespace", createPolicy(teamA), true},
				{"dev", "list policies in its namespace", listPolicies(teamA), true},
				{"dev", "create a policy in another namespace", createPolicy(teamB), false},
				{"dev", "list policies in another namespace", listPolicies(teamB), false},
				{"dev", "list Sites (cluster-scoped; a RoleBinding does not reach them)", listSites, false},
				{"dev", "create a Site", createSite, false},
				{"admin-a", "create a policy in its namespace", createPolicy(teamA), true},
				{"admin-a", "delete a Site", deleteSite, false},
				{"auditor", "list policies in any namespace", listPolicies(""), true},
				{"auditor", "list Sites", listSites, true},
				{"auditor", "list TrafficSources", listSources, true},
				{"auditor", "create a policy", createPolicy(teamA), false},
				{"auditor", "create a Site", createSite, false},
				{"reader", "list Sites", listSites, true},
				{"reader", "list TrafficSources", listSources, true},
				{"reader", "list policies", listPolicies(teamA), false},
				{"reader", "delete a Site", deleteSite, false},
			}
			for _, c := range checks {
				client := as(c.user)
				var err error
				// The aggregation controller fills the built-in roles
				// asynchronously: wait for an allowed call, not a denied one.
				_ = wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, time.Minute, true, func(context.Context) (bool, error) {
					err = c.do(client)
					return !c.allowed || !apierrors.IsForbidden(err), nil
				})
				switch {
				case c.allowed && err != nil:
					t.Errorf("%s may not %s: %v", c.user, c.what, err)
				case !c.allowed && !apierrors.IsForbidden(err):
					t.Errorf("%s may %s (err %v), want forbidden", c.user, c.what, err)
				}
			}
		})
	}
}
