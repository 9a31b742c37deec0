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

package bench

import "flag"

// fleet adds the fleet-scale sizes (10,000 sites, 50,000 pods) to the
// benchmarks that have them: `go test -run '^$' -bench BenchmarkRebalanceJudge
// -benchtime=1x ./bench -args -fleet`. They take minutes, so `make test`,
// which runs every benchmark once, leaves them out.
var fleet = flag.Bool("fleet", false, "also run the fleet-scale sizes (10,000 sites, 50,000 pods)")
