package positive

import (
	"testing"
	"time"
)

func TestOr(t *testing.T) {
	for _, tt := range []struct {
		name   string
		v, def time.Duration
		want   time.Duration
	}{
		{"set", time.Second, time.Minute, time.Second},
		{"zero", 0, time.Minute, time.Minute},
		{"negative", -time.Second, time.Minute, time.Minute},
		{"smallest positive", 1, time.Minute, 1},
	} {
		if got := Or(tt.v, tt.def); got != tt.want {
			t.Errorf("%s: Or(%v, %v) = %v, want %v", tt.name, tt.v, tt.def, got, tt.want)
		}
	}
	if got := Or(0.0, 0.45); got != 0.45 {
		t.Errorf("Or(0.0, 0.45) = %v", got)
	}
}
