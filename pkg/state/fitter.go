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
	"sync"

	"github.com/proxima-sched/proxima/pkg/rttmodel"
)

// fitter fits the RTT model beside a Model's worker rather than inside it:
// at 64 sources × 2,000 sites a fit takes a second or two, which would
// hold back every policy, health and node snapshot queued behind it. A
// rebuild whose RTT inputs have no finished fit asks for one and goes on
// with the fit it had (or the distance prior); when the fit is done the
// fitter asks for a rebuild, which finds it. One fit runs at a time, for
// the latest inputs asked for.
type fitter struct {
	// fit makes a fit (FitRTT; a test may hold it).
	fit func(rttmodel.RTTInput) *rttmodel.RTTFit
	// done asks the Model to rebuild the site table.
	done func()

	mu      sync.Mutex
	ready   *rttFitted // the latest finished fit
	want    *rttFitted // inputs waiting for a fit (fit unset)
	wantIn  rttmodel.RTTInput
	running bool
}

// get returns the finished fit for these inputs, or nil once one is being
// made for them.
func (f *fitter) get(in rttmodel.RTTInput, dist, measured []float64) *rttFitted {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.ready.sameInputs(in.Sites, in.Sources, dist, measured) {
		return f.ready
	}
	if f.want.sameInputs(in.Sites, in.Sources, dist, measured) {
		return nil
	}
	f.want, f.wantIn = &rttFitted{dist: dist, measured: measured, sites: in.Sites, sources: in.Sources}, in
	if !f.running {
		f.running = true
		go f.loop()
	}
	return nil
}

func (f *fitter) loop() {
	for {
		f.mu.Lock()
		job, in := f.want, f.wantIn
		f.want = nil
		if job == nil {
			f.running = false
			f.mu.Unlock()
			return
		}
		f.mu.Unlock()
		job.fit = f.fit(in)
		f.mu.Lock()
		f.ready = job
		f.mu.Unlock()
		f.done()
	}
}
