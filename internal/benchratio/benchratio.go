// Package benchratio measures an implementation against a baseline
// alternately, one operation (or one small batch) of each in turn, in the
// same run, so that the drift of a shared machine hits both alike. It
// reports the ratio of their rates per repetition as min, median and max.
package benchratio

import (
	"slices"
	"testing"
	"time"
)

// Pair is what is compared: Subject (named Name in the metrics) against
// Baseline (named "raw"). Each call does one operation (i counts from 0
// within a repetition) and returns its units of work (events); an error
// fails the benchmark.
type Pair struct {
	Name              string
	Subject, Baseline func(i int) (units int, err error)
}

// Result is the rates (units per second) of each repetition.
type Result struct {
	Subject, Baseline, Ratio []float64
}

// Run does reps repetitions of n rounds; each round times one call of
// each side, the side that goes first alternating from round to round. It
// reports, under the given unit (e.g. "events/s"), the subject's and the
// baseline's median rate and the ratio subject/baseline as min, median
// and max over the repetitions. Time outside the calls is not counted.
func Run(b *testing.B, reps, n int, unit string, p Pair) Result {
	b.Helper()
	var res Result
	for range reps {
		var tS, tB time.Duration
		var uS, uB int
		call := func(f func(int) (int, error), i int, t *time.Duration, u *int) {
			start := time.Now()
			k, err := f(i)
			*t += time.Since(start)
			if err != nil {
				b.Fatalf("operation %d: %v", i, err)
			}
			*u += k
		}
		for i := range n {
			if i%2 == 0 {
				call(p.Subject, i, &tS, &uS)
				call(p.Baseline, i, &tB, &uB)
			} else {
				call(p.Baseline, i, &tB, &uB)
				call(p.Subject, i, &tS, &uS)
			}
		}
		rs, rb := float64(uS)/tS.Seconds(), float64(uB)/tB.Seconds()
		res.Subject = append(res.Subject, rs)
		res.Baseline = append(res.Baseline, rb)
		res.Ratio = append(res.Ratio, rs/rb)
	}
	b.ReportMetric(Median(res.Subject), p.Name+"-"+unit)
	b.ReportMetric(Median(res.Baseline), "raw-"+unit)
	b.ReportMetric(slices.Min(res.Ratio), "ratio-min")
	b.ReportMetric(Median(res.Ratio), "ratio-median")
	b.ReportMetric(slices.Max(res.Ratio), "ratio-max")
	return res
}

// Median returns the median of xs (the mean of the middle two for an
// even count).
func Median(xs []float64) float64 {
	s := slices.Clone(xs)
	slices.Sort(s)
	if len(s) == 0 {
		return 0
	}
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}
