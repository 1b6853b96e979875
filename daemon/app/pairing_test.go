package app

import (
	"context"
	"syscall"
	"testing"
	"time"
)

// SIGUSR1 presses the pairing button (host mode and tests have no GPIO).
func TestCameraNetworkButtonSignal(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	pressed := make(chan struct{}, 1)
	watchButtonSignal(ctx, func() { pressed <- struct{}{} })
	if err := syscall.Kill(syscall.Getpid(), ButtonSignal); err != nil {
		t.Fatal(err)
	}
	select {
	case <-pressed:
	case <-time.After(10 * time.Second):
		t.Fatal("the signal did not press the button")
	}
}
