package record_test

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/matthan/matthan/daemon/internal/recordtest"
	"github.com/matthan/matthan/daemon/record"
	"github.com/matthan/matthan/daemon/storage"
	"github.com/matthan/matthan/hwtest/testenv"
)

const ext4Env = "MATTHAN_RECORD_EXT4_DIR"

// BenchmarkDiskBytesExt4 records 3 minutes of a 720p25 ~4 Mbit/s camera
// onto a real ext4 file system (a loop-mounted image in a private mount
// namespace; needs root) with the default fsync policy, and reports what
// the block device received per byte of video: our segments and index plus
// ext4's own journal and metadata (lifetime_write_kbytes).
func BenchmarkDiskBytesExt4(b *testing.B) {
	if dir := os.Getenv(ext4Env); dir != "" {
		diskBytesChild(b, dir)
		return
	}
	if os.Geteuid() != 0 {
		b.Skip("needs root to loop-mount an ext4 image")
	}
	recordtest.LoadClip(b, "moving-720p.h264")
	mkfs := testenv.LookTool(b, "mkfs.ext4", "e2fsprogs")
	unshare := testenv.LookTool(b, "unshare", "util-linux")
	if out, err := exec.Command(unshare, "--mount", "true").CombinedOutput(); err != nil {
		b.Skipf("cannot make a mount namespace here (%v: %s)", err, out)
	}
	tmp := b.TempDir()
	img, mnt := filepath.Join(tmp, "ext4.img"), filepath.Join(tmp, "mnt")
	os.Mkdir(mnt, 0o755)
	if err := os.WriteFile(img, nil, 0o644); err != nil {
		b.Fatal(err)
	}
	os.Truncate(img, 1<<30)
	if out, err := exec.Command(mkfs, "-q", "-F", "-E", "lazy_itable_init=0,lazy_journal_init=0", img).CombinedOutput(); err != nil {
		b.Fatalf("mkfs.ext4: %v: %s", err, out)
	}
	for b.Loop() {
		cmd := exec.Command(unshare, "--mount", "--propagation", "private", "sh", "-c",
			`mount -o loop "$0" "$1" && exec "$2" -test.run='^$' -test.bench='^BenchmarkDiskBytesExt4$' -test.benchtime=1x`,
			img, mnt, os.Args[0])
		cmd.Env = append(os.Environ(), ext4Env+"="+mnt)
		out, err := cmd.CombinedOutput()
		if err != nil {
			b.Fatalf("child: %v\n%s", err, out)
		}
		var ratio, ours float64
		for _, line := range strings.Split(string(out), "\n") {
			fmt.Sscanf(line, "DISKBYTES %g %g", &ratio, &ours)
		}
		if ratio == 0 {
			b.Fatalf("child reported nothing:\n%s", out)
		}
		b.ReportMetric(ratio, "disk/received")
		b.ReportMetric(ours, "written/received")
	}
}

func diskBytesChild(b *testing.B, dir string) {
	dev := mountDevice(b, dir)
	kb := func() int64 {
		syscall.Sync()
		raw, err := os.ReadFile("/sys/fs/ext4/" + dev + "/lifetime_write_kbytes")
		if err != nil {
			b.Fatal(err)
		}
		n, _ := strconv.ParseInt(strings.TrimSpace(string(raw)), 10, 64)
		return n
	}
	clip := recordtest.LoadClip(b, "moving-720p.h264")
	st, err := storage.Open(context.Background(), dir, storage.Options{MinFreeBytes: 1, RetentionInterval: time.Hour})
	if err != nil {
		b.Fatal(err)
	}
	before := kb()
	// MATTHAN_EXT4_CAMERAS=K records K cameras at real-time pace (jbd2 then
	// batches their fsyncs); default one camera as fast as it goes.
	cams, _ := strconv.Atoi(os.Getenv("MATTHAN_EXT4_CAMERAS"))
	paced := cams > 0
	cams = max(cams, 1)
	frames := 180 * 25
	if paced {
		frames = 30 * 25
	}
	// MATTHAN_EXT4_MAXLOSS=10s measures another fsync policy.
	maxLoss, _ := time.ParseDuration(os.Getenv("MATTHAN_EXT4_MAXLOSS"))
	var fed atomic.Int64
	var wg sync.WaitGroup
	for c := range cams {
		wg.Go(func() {
			rec := record.New(st, fmt.Sprintf("cam%d", c), record.Options{MaxLoss: maxLoss})
			s := clip.Stream
			s.Epoch = time.Now()
			rec.StreamStarted(s)
			t0 := time.Now()
			for n := range frames {
				au := clip.AUs[n%len(clip.AUs)]
				au.DTS = time.Duration(n) * 40 * time.Millisecond
				au.PTS = au.DTS
				for _, nalu := range au.NALUs {
					fed.Add(int64(len(nalu)))
				}
				rec.WriteAccessUnit(&au)
				if paced {
					time.Sleep(time.Until(t0.Add(au.DTS + 40*time.Millisecond)))
				}
			}
			rec.StreamEnded(nil)
		})
	}
	wg.Wait()
	stats := st.Stats()
	st.Close()
	after := kb()
	fmt.Printf("DISKBYTES %.4f %.4f\n", float64((after-before)*1024)/float64(fed.Load()), float64(stats.VideoBytes+stats.IndexBytes)/float64(fed.Load()))
}

// mountDevice is the kernel name (loop0) of the device mounted on dir.
func mountDevice(b *testing.B, dir string) string {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) > 9 && fields[4] == dir {
			for i, f := range fields {
				if f == "-" && i+2 < len(fields) {
					return filepath.Base(fields[i+2])
				}
			}
		}
	}
	b.Fatalf("%s is not a mount point", dir)
	return ""
}
