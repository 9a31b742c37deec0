// Package v1 is the v1 version of Proxima's scheduler plugin args, as
// written in a KubeSchedulerConfiguration's pluginConfig.
//
// +k8s:deepcopy-gen=package
// +k8s:conversion-gen=github.com/proxima-sched/proxima/apis/config
// +k8s:defaulter-gen=TypeMeta
// +k8s:defaulter-gen-input=github.com/proxima-sched/proxima/apis/config/v1
// +groupName=kubescheduler.config.k8s.io
package v1
