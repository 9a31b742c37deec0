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

// Package schedconfig edits kube-scheduler configuration files
// (KubeSchedulerConfiguration, kubescheduler.config.k8s.io/v1) as typed
// objects, for the demo and the tests that run the scheduler with a variant
// of the shipped configuration.
//
// Rewrite reads a file as written: strictly (an unknown or duplicate field
// is an error, as it is to kube-scheduler) and without defaults, so that the
// copy it writes says what the original says plus the edit, and
// kube-scheduler fills in the same defaults for both. EditEdgePlacementArgs
// does the same for one profile's EdgePlacement args.
package schedconfig

import (
	"encoding/json"
	"fmt"
	"os"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"
	schedv1 "k8s.io/kube-scheduler/config/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/yaml"

	"github.com/proxima-sched/proxima/apis/config"
	configv1 "github.com/proxima-sched/proxima/apis/config/v1"
	"github.com/proxima-sched/proxima/apis/config/validation"
	"github.com/proxima-sched/proxima/pkg/plugins/edgeplacement"
)

var (
	configKind = schedv1.SchemeGroupVersion.WithKind("KubeSchedulerConfiguration")
	// argsKind is the kind kube-scheduler decodes a plugin's args as: the
	// plugin's name followed by Args.
	argsKind = configv1.SchemeGroupVersion.WithKind(edgeplacement.Name + "Args")
)

// Rewrite reads the KubeSchedulerConfiguration file src, applies edit (if
// any) and writes the result to dst. Comments in src are not kept.
func Rewrite(src, dst string, edit func(*schedv1.KubeSchedulerConfiguration) error) error {
	cfg, err := read(src)
	if err != nil {
		return err
	}
	if edit != nil {
		if err := edit(cfg); err != nil {
			return fmt.Errorf("editing %s: %w", src, err)
		}
	}
	out, err := yaml.Marshal(cfg)
	if err != nil {
		return err
	}
	return os.WriteFile(dst, out, 0o600)
}

// read decodes a KubeSchedulerConfiguration file strictly and without
// defaults; plugin args stay raw.
func read(path string) (*schedv1.KubeSchedulerConfiguration, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	cfg := &schedv1.KubeSchedulerConfiguration{}
	if err := yaml.UnmarshalStrict(data, cfg); err != nil {
		return nil, fmt.Errorf("reading %s: %w", path, err)
	}
	if gvk := cfg.GroupVersionKind(); gvk != configKind {
		return nil, fmt.Errorf("%s holds apiVersion %q kind %q, want %s", path, cfg.APIVersion, cfg.Kind, configKind)
	}
	return cfg, nil
}

// EditEdgePlacementArgs edits the EdgePlacement args of the profile named
// schedulerName (a profile without a name is default-scheduler's): it
// decodes them as written, strictly and without defaults, applies edit and
// encodes the result with apiVersion and kind set. The profile must list
// EdgePlacement in its pluginConfig.
func EditEdgePlacementArgs(cfg *schedv1.KubeSchedulerConfiguration, schedulerName string, edit func(*configv1.EdgePlacementArgs)) error {
	for i := range cfg.Profiles {
		prof := &cfg.Profiles[i]
		if ptr.Deref(prof.SchedulerName, corev1.DefaultSchedulerName) != schedulerName {
			continue
		}
		for j := range prof.PluginConfig {
			if pc := &prof.PluginConfig[j]; pc.Name == edgeplacement.Name {
				if err := editArgs(&pc.Args, edit); err != nil {
					return fmt.Errorf("profile %s: %w", schedulerName, err)
				}
				return nil
			}
		}
		return fmt.Errorf("profile %s has no %s pluginConfig", schedulerName, edgeplacement.Name)
	}
	return fmt.Errorf("no profile %s", schedulerName)
}

func editArgs(ext *runtime.RawExtension, edit func(*configv1.EdgePlacementArgs)) error {
	if ext.Object != nil {
		return fmt.Errorf("%s args are decoded already; only args as read can be edited", edgeplacement.Name)
	}
	args := &configv1.EdgePlacementArgs{}
	if len(ext.Raw) > 0 {
		if err := yaml.UnmarshalStrict(ext.Raw, args); err != nil {
			return fmt.Errorf("%s args: %w", edgeplacement.Name, err)
		}
	}
	if gvk := args.GroupVersionKind(); !gvk.Empty() && gvk != argsKind {
		return fmt.Errorf("%s args are apiVersion %q kind %q, want %s", edgeplacement.Name, args.APIVersion, args.Kind, argsKind)
	}
	edit(args)
	args.SetGroupVersionKind(argsKind)
	raw, err := json.Marshal(args)
	if err != nil {
		return err
	}
	ext.Raw = raw
	return nil
}

// ReadEdgePlacementArgs reads the EdgePlacement args of the profile named
// schedulerName from the KubeSchedulerConfiguration file at path, with
// defaults applied and validated, as the plugin's New receives them (for
// tools that must compute as that scheduler does: kubectl proxima and
// proxima-controller).
func ReadEdgePlacementArgs(path, schedulerName string) (*config.EdgePlacementArgs, error) {
	cfg, err := read(path)
	if err != nil {
		return nil, err
	}
	var v1args *configv1.EdgePlacementArgs
	if err := EditEdgePlacementArgs(cfg, schedulerName, func(a *configv1.EdgePlacementArgs) { v1args = a.DeepCopy() }); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	args, err := DefaultedArgs(v1args)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return args, nil
}

// DefaultedArgs is v1args with defaults applied, converted and validated,
// as the plugin's New receives them. It changes v1args (the defaults).
func DefaultedArgs(v1args *configv1.EdgePlacementArgs) (*config.EdgePlacementArgs, error) {
	configv1.SetObjectDefaults_EdgePlacementArgs(v1args)
	args := &config.EdgePlacementArgs{}
	if err := configv1.Convert_v1_EdgePlacementArgs_To_config_EdgePlacementArgs(v1args, args, nil); err != nil {
		return nil, err
	}
	if err := validation.ValidateEdgePlacementArgs(field.NewPath("args"), args); err != nil {
		return nil, err
	}
	return args, nil
}
