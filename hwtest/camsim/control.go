package camsim

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// The control endpoint (HTTP, for tests that run camsim as its own process):
//
//	GET  /cameras                       all cameras' Status, as a JSON array
//	GET  /cameras/NAME                  one camera's Status
//	POST /cameras/NAME/drop             close its sessions now
//	POST /cameras/NAME/stall?for=D      send nothing for D, keep connections
//	POST /cameras/NAME/sdp-only[?on=false]  parameter sets only in the SDP (or back in band)
//	POST /cameras/NAME/jump?by=D        add D (may be negative) to RTP timestamps
//	POST /cameras/NAME/wrap[?in=D]      make the 32-bit RTP timestamp wrap in D (default 2s)
//	POST /cameras/NAME/garbage?for=D    random payloads for D
//	POST /cameras/NAME/offline?for=D    drop sessions and answer 503 for D
//	POST /cameras/NAME/clear            end every fault
//
// D is a Go duration ("1.5s", "300ms", "-10s"). A POST answers 200 with the
// camera's Status. Malformed requests get 400, unknown cameras 404, a wrong
// method 405, each with a one-line text reason.

// Action is a fault (or query) the control endpoint can apply to a camera.
type Action string

// Actions of the control endpoint.
const (
	ActionList    Action = "list"
	ActionStatus  Action = "status"
	ActionDrop    Action = "drop"
	ActionStall   Action = "stall"
	ActionSDPOnly Action = "sdp-only"
	ActionJump    Action = "jump"
	ActionWrap    Action = "wrap"
	ActionGarbage Action = "garbage"
	ActionOffline Action = "offline"
	ActionClear   Action = "clear"
)

// MaxFaultDuration bounds every duration a request may ask for.
const MaxFaultDuration = 24 * time.Hour

// Command is one parsed control request.
type Command struct {
	Action   Action
	Camera   string        // empty for ActionList
	Duration time.Duration // stall/garbage/offline: how long; jump: by how much; wrap: in how long
	On       bool          // sdp-only
}

// RequestError is a control request the endpoint refuses, with the HTTP
// status to answer.
type RequestError struct {
	Status int
	Msg    string
}

func (e *RequestError) Error() string { return e.Msg }

func badRequest(format string, args ...any) error {
	return &RequestError{Status: http.StatusBadRequest, Msg: fmt.Sprintf(format, args...)}
}

// paramSpec says which query parameter an action takes.
var paramSpec = map[Action]struct {
	name     string
	required bool
}{
	ActionStall:   {"for", true},
	ActionGarbage: {"for", true},
	ActionOffline: {"for", true},
	ActionJump:    {"by", true},
	ActionWrap:    {"in", false},
	ActionSDPOnly: {"on", false},
}

// ParseCommand parses a control request from its method, URL path and raw
// query. Errors are *RequestError.
func ParseCommand(method, path, rawQuery string) (Command, error) {
	const prefix = "/cameras"
	if path != prefix && !strings.HasPrefix(path, prefix+"/") {
		return Command{}, &RequestError{Status: http.StatusNotFound, Msg: fmt.Sprintf("no such route %q: routes are under /cameras", path)}
	}
	rest := strings.TrimPrefix(path, prefix)
	var parts []string
	if rest != "" && rest != "/" {
		parts = strings.Split(strings.TrimPrefix(rest, "/"), "/")
	}
	for _, p := range parts {
		if p == "" {
			return Command{}, badRequest("empty segment in path %q", path)
		}
	}
	query, err := url.ParseQuery(rawQuery)
	if err != nil {
		return Command{}, badRequest("malformed query %q: %v", rawQuery, err)
	}

	var cmd Command
	switch len(parts) {
	case 0:
		cmd.Action = ActionList
	case 1:
		cmd.Action, cmd.Camera = ActionStatus, parts[0]
	case 2:
		cmd.Camera, cmd.Action = parts[0], Action(parts[1])
		switch cmd.Action {
		case ActionDrop, ActionStall, ActionSDPOnly, ActionJump, ActionWrap, ActionGarbage, ActionOffline, ActionClear:
		default:
			return Command{}, badRequest("unknown fault %q: want drop, stall, sdp-only, jump, wrap, garbage, offline or clear", parts[1])
		}
	default:
		return Command{}, badRequest("path %q has too many segments: want /cameras/NAME/FAULT", path)
	}

	wantMethod := http.MethodPost
	if cmd.Action == ActionList || cmd.Action == ActionStatus {
		wantMethod = http.MethodGet
	}
	if method != wantMethod && !(wantMethod == http.MethodGet && method == http.MethodHead) {
		return Command{}, &RequestError{Status: http.StatusMethodNotAllowed, Msg: fmt.Sprintf("%s %s: use %s", method, path, wantMethod)}
	}

	spec, takesParam := paramSpec[cmd.Action]
	for k, v := range query {
		if !takesParam || k != spec.name {
			return Command{}, badRequest("%s takes no parameter %q", cmd.Action, k)
		}
		if len(v) != 1 {
			return Command{}, badRequest("parameter %q given %d times", k, len(v))
		}
	}
	if !takesParam {
		return cmd, nil
	}
	val, given := query[spec.name]
	if !given {
		if spec.required {
			return Command{}, badRequest("%s needs ?%s=DURATION (e.g. %s=5s)", cmd.Action, spec.name, spec.name)
		}
		switch cmd.Action {
		case ActionWrap:
			cmd.Duration = 2 * time.Second
		case ActionSDPOnly:
			cmd.On = true
		}
		return cmd, nil
	}
	v := val[0]
	if cmd.Action == ActionSDPOnly {
		switch v {
		case "true", "1":
			cmd.On = true
		case "false", "0":
			cmd.On = false
		default:
			return Command{}, badRequest("on=%q: want true or false", v)
		}
		return cmd, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil {
		return Command{}, badRequest("%s=%q is not a duration (e.g. 5s, 300ms): %v", spec.name, v, err)
	}
	switch {
	case cmd.Action == ActionJump && d == 0:
		return Command{}, badRequest("by=%s: a jump must not be zero", v)
	case cmd.Action == ActionJump && (d > MaxFaultDuration || d < -MaxFaultDuration):
		return Command{}, badRequest("by=%s: at most %v either way", v, MaxFaultDuration)
	case cmd.Action == ActionWrap && (d < 0 || d > time.Hour):
		return Command{}, badRequest("in=%s: want 0 to 1h", v)
	case cmd.Action != ActionJump && cmd.Action != ActionWrap && (d <= 0 || d > MaxFaultDuration):
		return Command{}, badRequest("%s=%s: want more than 0 and at most %v", spec.name, v, MaxFaultDuration)
	}
	cmd.Duration = d
	return cmd, nil
}

// Apply carries out a parsed command on the simulator.
func (s *Sim) Apply(cmd Command) (any, error) {
	if cmd.Action == ActionList {
		out := make([]Status, 0, len(s.cameras))
		for _, c := range s.cameras {
			out = append(out, c.Status())
		}
		return out, nil
	}
	c := s.Camera(cmd.Camera)
	if c == nil {
		return nil, &RequestError{Status: http.StatusNotFound, Msg: fmt.Sprintf("%v %q: cameras are %s", ErrUnknownCamera, cmd.Camera, strings.Join(s.CameraNames(), ", "))}
	}
	switch cmd.Action {
	case ActionStatus:
	case ActionDrop:
		c.Drop()
	case ActionStall:
		c.Stall(cmd.Duration)
	case ActionSDPOnly:
		c.SetSDPOnly(cmd.On)
	case ActionJump:
		c.JumpTimestamps(cmd.Duration)
	case ActionWrap:
		c.WrapTimestamps(cmd.Duration)
	case ActionGarbage:
		c.Garbage(cmd.Duration)
	case ActionOffline:
		c.Offline(cmd.Duration)
	case ActionClear:
		c.Clear()
	default:
		return nil, badRequest("unknown action %q", cmd.Action)
	}
	return c.Status(), nil
}

// ControlHandler is the HTTP control endpoint (routes above).
func (s *Sim) ControlHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		cmd, err := ParseCommand(r.Method, r.URL.Path, r.URL.RawQuery)
		var out any
		if err == nil {
			out, err = s.Apply(cmd)
		}
		if err != nil {
			status := http.StatusInternalServerError
			var re *RequestError
			if errors.As(err, &re) {
				status = re.Status
			}
			if status == http.StatusMethodNotAllowed {
				allow := http.MethodPost
				if cmd.Action == ActionList || cmd.Action == ActionStatus || strings.Count(strings.Trim(r.URL.Path, "/"), "/") < 2 {
					allow = "GET, HEAD"
				}
				w.Header().Set("Allow", allow)
			}
			http.Error(w, "camsim: "+err.Error(), status)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		_ = enc.Encode(out)
	})
}
