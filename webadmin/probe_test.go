package webadmin

import (
	"context"
	"errors"
	"net"
	"testing"
	"time"

	"github.com/bluenviron/gortsplib/v4"
	"github.com/bluenviron/gortsplib/v4/pkg/base"
	"github.com/bluenviron/gortsplib/v4/pkg/description"
	"github.com/bluenviron/gortsplib/v4/pkg/format"

	"github.com/matthan/matthan/daemon/camnet"
)

// mjpegCamera is an RTSP server whose one stream is MJPEG, as old
// cameras send: enough for the connection test's DESCRIBE.
type mjpegCamera struct{ st *gortsplib.ServerStream }

func (c *mjpegCamera) OnDescribe(*gortsplib.ServerHandlerOnDescribeCtx) (*base.Response, *gortsplib.ServerStream, error) {
	return &base.Response{StatusCode: base.StatusOK}, c.st, nil
}

// TestProbeRefusesMJPEG: a camera that sends MJPEG only is not reported as
// working (ingest records H.264/H.265 only): the connection test says
// MJPEG is not supported and what to change on the camera.
func TestProbeRefusesMJPEG(t *testing.T) {
	cam := &mjpegCamera{}
	var ln net.Listener
	srv := &gortsplib.Server{Handler: cam, RTSPAddress: "127.0.0.1:0", Listen: func(network, address string) (net.Listener, error) {
		l, err := net.Listen(network, address)
		ln = l
		return l, err
	}}
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	cam.st = &gortsplib.ServerStream{Server: srv, Desc: &description.Session{Medias: []*description.Media{{
		Type: description.MediaTypeVideo, Formats: []format.Format{&format.MJPEG{}},
	}}}}
	if err := cam.st.Initialize(); err != nil {
		t.Fatal(err)
	}
	defer cam.st.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	p := rtspProber{policy: camnet.Policy{AllowLoopback: true}}
	res, err := p.Probe(ctx, "rtsp://"+ln.Addr().String()+"/mjpeg")
	if !errors.Is(err, errMJPEG) || probeErrorKey(err) != "probe_mjpeg" {
		t.Fatalf("probe of an MJPEG camera: %+v, %v; want errMJPEG", res, err)
	}
	if tr("vi", "probe_mjpeg") == "probe_mjpeg" || tr("en", "probe_mjpeg") == "probe_mjpeg" {
		t.Errorf("probe_mjpeg has no message")
	}
}
