// Package config holds the internal types of Proxima's scheduler plugin
// args, registered into kube-scheduler's config scheme.
//
// +k8s:deepcopy-gen=package
// +groupName=kubescheduler.config.k8s.io
package config
