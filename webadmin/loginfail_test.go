package webadmin

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/matthan/matthan/daemon/events"
)

// TestLoginFailuresSummary: any number of failed logins make one event a
// period, naming the most tried names and addresses, with bounded memory.
func TestLoginFailuresSummary(t *testing.T) {
	var l loginFailures
	t0 := time.Unix(1_800_000_000, 0)
	if _, ok := l.take(t0); ok {
		t.Fatal("an event without failures")
	}
	for i := range 10000 {
		l.note(fmt.Sprintf("user%d", i%50), "10.0.0.9", t0.Add(time.Duration(i)*time.Millisecond))
	}
	l.note("admin", "10.0.0.7", t0.Add(20*time.Second))
	if len(l.names) > maxFailNames || len(l.addrs) > maxFailNames {
		t.Fatalf("kept %d names, %d addresses", len(l.names), len(l.addrs))
	}
	e, ok := l.take(t0.Add(time.Minute))
	if !ok || e.Type != events.LoginFailures || e.Score != 10001 || !e.Start.Equal(t0) || !strings.Contains(e.Text, "10001 lần đăng nhập sai") || !strings.Contains(e.Text, "10.0.0.9×10000") {
		t.Fatalf("summary %+v", e)
	}
	if _, ok := l.take(t0.Add(2 * time.Minute)); ok {
		t.Fatal("the summary was not reset")
	}
}
