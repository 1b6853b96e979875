package box

import (
	"context"
	"errors"
	"io"
	"path/filepath"
	"strings"

	"github.com/matthan/matthan/firmware"
	"github.com/matthan/matthan/firmware/bundle"
	"github.com/matthan/matthan/firmware/control"
	"github.com/matthan/matthan/firmware/update"
	"github.com/matthan/matthan/webadmin"
)

// firmwareUpdater is the page's firmware update on the box: it checks and
// saves an upload on the data partition, and asks init (which owns the
// boot partitions and the reboot) to install it.
type firmwareUpdater struct {
	u      *update.Updater // Receive and the state; init's own Updater installs
	path   string          // the received bundle
	socket string          // init's control socket
}

// newFirmwareUpdater returns the box's updater, or nil when the daemon
// does not run under the box's init or the image carries no release.
func newFirmwareUpdater(dataDir string, opt Options) webadmin.FirmwareUpdater {
	if opt.InitSocket == "" {
		return nil
	}
	relFile, keysFile := firmware.PathOnBox, bundle.KeysPathOnBox
	if opt.ReleaseFile != "" {
		relFile = opt.ReleaseFile
	}
	if opt.UpdateKeys != "" {
		keysFile = opt.UpdateKeys
	}
	rel, err := firmware.Load(relFile)
	if err != nil {
		return nil
	}
	keys, _ := bundle.LoadKeys(keysFile) // none: every bundle is refused
	dir := filepath.Join(dataDir, "update")
	return &firmwareUpdater{u: &update.Updater{Keys: keys, Running: rel, StateDir: dir},
		path: filepath.Join(dir, "upload.bundle"), socket: opt.InitSocket}
}

func (f *firmwareUpdater) Running() firmware.Release   { return f.u.Running }
func (f *firmwareUpdater) Last() (update.State, error) { return f.u.LoadState() }

func (f *firmwareUpdater) Receive(r io.Reader) (*bundle.Manifest, error) {
	return f.u.Receive(r, f.path)
}

func (f *firmwareUpdater) Install(ctx context.Context, progress func(string)) error {
	err := control.AskLines(f.socket, "update "+f.path, control.UpdateTimeout, func(l string) {
		if l != "ok" {
			progress(l)
		}
	})
	if err != nil && strings.Contains(err.Error(), "connect to init") {
		return errors.Join(errors.New("init is not reachable"), err)
	}
	return err
}
