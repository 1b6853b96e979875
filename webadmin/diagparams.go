package webadmin

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"time"

	"github.com/matthan/matthan/daemon/diag"
)

// RangeQuery is camera=&from=&to= of /api/daemon/segments.
type RangeQuery struct {
	Camera   string
	From, To time.Time
}

var cameraNameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$`)

// ParseRangeQuery parses camera (required), from and to (RFC 3339; to
// defaults to now, from to an hour before to). The range must be positive
// and at most maxRange. Unknown or repeated parameters are errors, so that a
// typo does not silently mean the default.
func ParseRangeQuery(rawQuery string, now time.Time, maxRange time.Duration) (RangeQuery, error) {
	v, err := parseQuery(rawQuery, "camera", "from", "to")
	if err != nil {
		return RangeQuery{}, err
	}
	var q RangeQuery
	q.Camera = v["camera"]
	if q.Camera == "" {
		return q, errors.New("camera is required: ?camera=NAME")
	}
	if !cameraNameRE.MatchString(q.Camera) {
		return q, fmt.Errorf("camera %q: not a camera name (letters, digits, '-', '_')", q.Camera)
	}
	q.To = now
	if s, ok := v["to"]; ok {
		if q.To, err = parseRFC3339("to", s); err != nil {
			return q, err
		}
	}
	q.From = q.To.Add(-diag.DefaultRange)
	if s, ok := v["from"]; ok {
		if q.From, err = parseRFC3339("from", s); err != nil {
			return q, err
		}
		if _, ok := v["to"]; !ok && q.From.Before(now) {
			q.To = now
		} else if !ok {
			q.To = q.From.Add(diag.DefaultRange)
		}
	}
	if !q.To.After(q.From) {
		return q, fmt.Errorf("to (%s) must be after from (%s)", q.To.Format(time.RFC3339), q.From.Format(time.RFC3339))
	}
	if q.To.Sub(q.From) > maxRange {
		return q, fmt.Errorf("range %s is longer than the limit %s", q.To.Sub(q.From), maxRange)
	}
	return q, nil
}

func parseRFC3339(name, s string) (time.Time, error) {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("%s=%q: want an RFC 3339 time such as 2026-11-26T08:00:00+07:00", name, s)
	}
	if t.Year() < 2000 || t.Year() > 2200 {
		return time.Time{}, fmt.Errorf("%s=%q: year out of range", name, s)
	}
	return t, nil
}

// ParseLimit parses limit= of /api/daemon/events (default 100, 1 to 5000).
func ParseLimit(rawQuery string) (int, error) {
	v, err := parseQuery(rawQuery, "limit")
	if err != nil {
		return 0, err
	}
	s, ok := v["limit"]
	if !ok {
		return diag.DefaultEvents, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 || n > diag.MaxEvents {
		return 0, fmt.Errorf("limit=%q: want a whole number from 1 to %d", s, diag.MaxEvents)
	}
	return n, nil
}

// parseQuery allows only the named parameters, each at most once.
func parseQuery(rawQuery string, allowed ...string) (map[string]string, error) {
	vals, err := url.ParseQuery(rawQuery)
	if err != nil {
		return nil, fmt.Errorf("malformed query string: %w", err)
	}
	out := make(map[string]string, len(vals))
	for k, vs := range vals {
		ok := false
		for _, a := range allowed {
			ok = ok || k == a
		}
		if !ok {
			if len(allowed) == 0 {
				return nil, fmt.Errorf("unknown parameter %q: this route takes none", k)
			}
			return nil, fmt.Errorf("unknown parameter %q: allowed are %v", k, allowed)
		}
		if len(vs) != 1 {
			return nil, fmt.Errorf("parameter %q given %d times", k, len(vs))
		}
		out[k] = vs[0]
	}
	return out, nil
}

func noParams(r *http.Request) error {
	_, err := parseQuery(r.URL.RawQuery)
	return err
}
