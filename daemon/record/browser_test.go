package record_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/matthan/matthan/daemon/internal/recordtest"
	"github.com/matthan/matthan/daemon/record"
	"github.com/matthan/matthan/daemon/storage"
	"github.com/matthan/matthan/hwtest/testenv"
)

const playerPage = `<html><body><video id=v muted src="export.mp4"></video><pre id=out>waiting</pre><script>
const v = document.getElementById('v'), o = document.getElementById('out');
v.addEventListener('error', () => { o.textContent += ' ERROR ' + (v.error && v.error.message) });
v.addEventListener('loadedmetadata', () => { o.textContent = 'META ' + v.duration + ' ' + v.videoWidth + 'x' + v.videoHeight });
v.addEventListener('loadeddata', () => { o.textContent += ' DATA'; v.currentTime = v.duration - 0.5 });
v.addEventListener('seeked', () => { o.textContent += ' SEEKED ' + v.readyState });
</script></body></html>`

// TestExportPlaysInChromium: a browser (the officers' admin page) opens an
// exported H.264 range, decodes it and seeks to its end. (Chromium as
// shipped has no H.265 decoder; ffprobe judges those exports.)
func TestExportPlaysInChromium(t *testing.T) {
	browser := testenv.LookTool(t, "chromium", "chromium")
	clip := recordtest.LoadClip(t, "moving-720p.h264")
	dir := t.TempDir()
	st := openStore(t, dir)
	rec := record.New(st, "cam", record.Options{SegmentDuration: 4 * time.Second})
	feed(t, rec, clip, 1, 0)
	f, err := os.Create(filepath.Join(dir, "export.mp4"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := storage.Export(context.Background(), f, st, "cam", epoch.Add(3*time.Second), epoch.Add(9*time.Second)); err != nil {
		t.Fatal(err)
	}
	f.Close()
	page := filepath.Join(dir, "play.html")
	os.WriteFile(page, []byte(playerPage), 0o644)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, browser, "--headless", "--no-sandbox", "--disable-gpu",
		"--allow-file-access-from-files", "--user-data-dir="+filepath.Join(dir, "profile"),
		"--virtual-time-budget=20000", "--dump-dom", "file://"+page).Output()
	if err != nil {
		t.Fatalf("chromium: %v", err)
	}
	m := regexp.MustCompile(`<pre id="out">([^<]*)`).FindSubmatch(out)
	if m == nil {
		t.Fatalf("no result in the page:\n%s", out)
	}
	// From the key frame at 2 s to 9 s: 7 s of 1280x720, first picture
	// decoded. (Whether the seek to the end finishes before Chromium dumps
	// the page depends on timing, so it is only logged.)
	got := string(m[1])
	if want := "META 7 1280x720 DATA"; !strings.HasPrefix(got, want) || strings.Contains(got, "ERROR") {
		t.Errorf("chromium says %q, want %q", got, want)
	}
	t.Logf("chromium: %s", got)
}
