package app

import (
	"context"
	"log/slog"

	"github.com/matthan/matthan/daemon/config"
	"github.com/matthan/matthan/daemon/timesync"
)

// startClock starts the box's clock discipline. On the box (-set-clock)
// it drives the system clock and the RTC, asking the configured servers
// (default: pool.ntp.org names and the uplink's gateway); elsewhere it
// only watches the host's clock, asking only servers given with -ntp.
func startClock(ctx context.Context, cfg *config.Config, log *slog.Logger, c *Core) *timesync.Discipline {
	tc := timesync.Config{
		DataDir: cfg.DataDir,
		Logf:    logf(log, "clock"),
	}
	servers := cfg.NTPServers
	if cfg.SetClock {
		tc.Clock, tc.RTC, tc.BootFile = &timesync.System{}, timesync.DeviceRTC{}, timesync.BootFile
		tc.Servers = timesync.Servers(servers, servers == nil)
	} else {
		if servers == nil {
			servers = []string{"off"}
		}
		tc.Servers = timesync.Servers(servers, false)
	}
	d := timesync.New(tc)
	c.clockRun = make(chan struct{})
	go func() {
		defer close(c.clockRun)
		d.Run(ctx)
		if s, ok := tc.Clock.(*timesync.System); ok {
			s.Close()
		}
	}()
	return d
}
