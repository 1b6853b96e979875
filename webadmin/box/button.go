package box

import (
	"context"
	"os"
	"os/signal"
	"syscall"
)

// signalButton calls press on every SIGUSR1 until ctx ends or the
// returned stop is called.
func signalButton(ctx context.Context, press func()) (stop func()) {
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, syscall.SIGUSR1)
	ctx, cancel := context.WithCancel(ctx)
	go func() {
		for {
			select {
			case <-ctx.Done():
				return
			case <-ch:
				press()
			}
		}
	}()
	return func() {
		signal.Stop(ch)
		cancel()
	}
}
