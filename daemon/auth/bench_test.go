package auth

import (
	"context"
	"fmt"
	"runtime"
	"strconv"
	"sync"
	"testing"
)

// BenchmarkLoginFlood: 2,000 wrong-password logins released at once (the
// slow-body flood of the probe), from 200 addresses, with the real argon2id
// cost. It prints the peak Go heap in use, the most hashes run at once and
// how many were checked or refused busy (make bench-auth).
func BenchmarkLoginFlood(b *testing.B) {
	for b.Loop() {
		g := newGate(b, cheap)
		g.Store.params = DefaultHashParams
		g.Store.dummyHash, _ = HashPassword("not a password", DefaultHashParams)
		runtime.GC()
		peakHeap := sampleHeap()
		start := make(chan struct{})
		var wg sync.WaitGroup
		for i := range 2000 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				g.Check(context.Background(), "user"+strconv.Itoa(i%50), "sai-mật-khẩu", "10.1.0."+strconv.Itoa(i%200))
			}()
		}
		close(start)
		wg.Wait()
		peak := peakHeap()
		st := g.Store.Pool().Stats()
		fmt.Printf("BENCH login_flood_peak_heap_mb %d MB\n", peak>>20)
		fmt.Printf("BENCH login_flood_peak_hashes %d hashes\n", st.Peak)
		fmt.Printf("BENCH login_flood_refused_busy %d of 2000\n", st.Refused)
	}
}
