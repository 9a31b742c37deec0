// Package validation validates Proxima's plugin args.
package validation

import (
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/proxima-sched/proxima/apis/config"
)

// ValidateEdgePlacementArgs returns the problems with args under path.
func ValidateEdgePlacementArgs(path *field.Path, args *config.EdgePlacementArgs) error {
	var errs field.ErrorList
	if args.MinCandidateNodes < 1 || args.MinCandidateNodes > 100000 {
		errs = append(errs, field.Invalid(path.Child("minCandidateNodes"), args.MinCandidateNodes, "must be between 1 and 100000"))
	}
	if args.CacheSyncTimeoutSeconds < 1 || args.CacheSyncTimeoutSeconds > 3600 {
		errs = append(errs, field.Invalid(path.Child("cacheSyncTimeoutSeconds"), args.CacheSyncTimeoutSeconds, "must be between 1 and 3600"))
	}
	return errs.ToAggregate()
}
