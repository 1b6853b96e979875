package scenes

import "sort"

// Detection is one motion event a detector reported, in clip seconds.
type Detection struct {
	Start, End float64
	// Reported is when the detector said so (for a live detector, when the
	// event was published): the delay is Reported minus the truth's start.
	Reported float64
	// Region in pixels (x0, y0, x1, y1); zero when the detector gives none.
	Region [4]int
}

// GlobalDetection is a scene change or tamper event, in clip seconds.
type GlobalDetection struct {
	Type   string
	Reason string
	At     float64
	// Reported is when the detector said so (its last word on the
	// event: type and reason may be refined after the first).
	Reported float64
}

// Score counts how a detector's events match a scene's truth.
type Score struct {
	Truths, Detections           int // motion intervals in the truth; motion events reported
	TruePositives, FalsePositive int // truths found; detections matching no truth
	Delays                       []float64
	GlobalWant, GlobalHit        int // whole-picture changes expected; found with the right type
	GlobalExtra                  int // whole-picture events where there was none
	GlobalDelays                 []float64
	// Seconds of video scored (for false events per hour).
	Seconds float64
}

// Add sums two scores (for a family).
func (s *Score) Add(o Score) {
	s.Truths += o.Truths
	s.Detections += o.Detections
	s.TruePositives += o.TruePositives
	s.FalsePositive += o.FalsePositive
	s.Delays = append(s.Delays, o.Delays...)
	s.GlobalWant += o.GlobalWant
	s.GlobalHit += o.GlobalHit
	s.GlobalExtra += o.GlobalExtra
	s.GlobalDelays = append(s.GlobalDelays, o.GlobalDelays...)
	s.Seconds += o.Seconds
}

// FalsePerHour is the rate of motion events matching no truth and
// whole-picture events where there was none.
func (s Score) FalsePerHour() float64 {
	if s.Seconds <= 0 {
		return 0
	}
	return float64(s.FalsePositive+s.GlobalExtra) * 3600 / s.Seconds
}

// GlobalRight is the share of whole-picture changes found with the right
// type and reason (1 when there were none).
func (s Score) GlobalRight() float64 {
	if s.GlobalWant == 0 {
		return 1
	}
	return float64(s.GlobalHit) / float64(s.GlobalWant)
}

// MeanGlobalDelay is the mean delay of the whole-picture events found.
func (s Score) MeanGlobalDelay() float64 { return mean(s.GlobalDelays) }

// Recall is the share of truths found (1 when there were none).
func (s Score) Recall() float64 {
	if s.Truths == 0 {
		return 1
	}
	return float64(s.TruePositives) / float64(s.Truths)
}

// Precision is the share of detections that match a truth (1 when there
// were none).
func (s Score) Precision() float64 {
	if s.Detections == 0 {
		return 1
	}
	return float64(s.Detections-s.FalsePositive) / float64(s.Detections)
}

// MeanDelay is the mean of Delays in seconds (0 when none).
func (s Score) MeanDelay() float64 { return mean(s.Delays) }

// mean is the mean of xs (0 when empty).
func mean(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	var sum float64
	for _, x := range xs {
		sum += x
	}
	return sum / float64(len(xs))
}

// Slack allowed around a truth interval when matching: a detector may end
// an event a while after motion stops, and start it a little early (its
// analysis instant falls between frames).
const (
	earlySlack = 0.5
	lateSlack  = 3.0
)

// Match scores detections against truth. A detection matches a truth when
// it overlaps the truth's interval (with slack) and, if it has a region,
// its region meets the truth's. Each truth is matched at most once and each
// detection matches at most one truth; a detection that spans two truths
// (an object that stopped, reported as one event) finds only one.
func Match(t Truth, dets []Detection, globals []GlobalDetection) Score {
	s := Score{Truths: len(t.Motion), Detections: len(dets), GlobalWant: len(t.Global), Seconds: t.Duration}
	ds := append([]Detection(nil), dets...)
	sort.Slice(ds, func(i, j int) bool { return ds[i].Start < ds[j].Start })
	s.Delays, s.FalsePositive = matchOnce(t.Motion, ds, func(tr Interval, d Detection) (float64, bool) {
		if d.Start > tr.End+lateSlack || d.End < tr.Start-earlySlack || d.Start < tr.Start-earlySlack-lateSlack {
			return 0, false
		}
		if d.Region != [4]int{} && !meets(d.Region, tr.Region) {
			return 0, false
		}
		return max(0, d.Reported-tr.Start), true
	})
	s.TruePositives = len(s.Delays)
	s.GlobalDelays, s.GlobalExtra = matchOnce(t.Global, globals, func(g Global, d GlobalDetection) (float64, bool) {
		if d.Type != g.Type || g.Reason != "" && d.Reason != g.Reason || d.At < g.At-1 || d.At > g.At+6 {
			return 0, false
		}
		return max(0, d.Reported-g.At), true
	})
	s.GlobalHit = len(s.GlobalDelays)
	return s
}

// matchOnce pairs each truth with the first detection not yet taken that
// match accepts, which also gives the delay of the report. It returns the
// delays of the pairs and how many detections stayed unpaired.
func matchOnce[T, D any](truths []T, dets []D, match func(T, D) (float64, bool)) (delays []float64, unpaired int) {
	used := make([]bool, len(dets))
	for _, tr := range truths {
		for i, d := range dets {
			if used[i] {
				continue
			}
			if delay, ok := match(tr, d); ok {
				used[i] = true
				delays = append(delays, delay)
				break
			}
		}
	}
	for _, u := range used {
		if !u {
			unpaired++
		}
	}
	return delays, unpaired
}

func meets(a, b [4]int) bool {
	return a[0] < b[2] && b[0] < a[2] && a[1] < b[3] && b[1] < a[3]
}
