package motion

import (
	"bytes"
	"fmt"
	"image"
	"image/jpeg"
	"time"

	"github.com/matthan/matthan/daemon/media"
)

// MJPEG finds motion in cameras that only send JPEG pictures: it decodes a
// picture at the analysis rate (pure Go image/jpeg), shrinks its luma 4x4,
// and compares it with the previous analysed picture on a grid of 16x16
// pixel blocks, the same grid as H.264 macroblocks; the Detector then
// applies the same background model, zones, scene-change and tamper logic
// and gives the same events.
type MJPEG struct {
	Det  *Detector
	Next media.Sink // optional: where the pictures go on to (a Gate)

	stream   media.Stream
	due      time.Duration
	prev     []uint8 // previous shrunken luma
	cur      []uint8
	act      []float32
	sw, sh   int // shrunken size
	Analysed int
	Errors   int
}

// Shrink factor of the luma plane and the block size in shrunken pixels.
const (
	mjShrink = 4
	mjBlock  = 16 / mjShrink
	// mjScale turns a block's mean absolute difference (luma levels) into
	// activity on the scale of Activity: sensor noise (2-3 levels) stays
	// under 1, a person crossing (20+) is several.
	mjScale = 1.0 / 4
	// mjFlat is the spatial standard deviation (luma levels) under which a
	// picture shows nothing: a covered lens.
	mjFlat = 4
	// mjMaxSide bounds what a camera can make us decode.
	mjMaxSide = 4096
)

// StreamStarted implements media.Sink.
func (m *MJPEG) StreamStarted(s media.Stream) error {
	m.stream, m.due, m.prev = s, 0, nil
	if m.Next != nil {
		return m.Next.StreamStarted(s)
	}
	return nil
}

// WriteAccessUnit implements media.Sink: each access unit holds one JPEG
// picture (all NAL units are concatenated).
func (m *MJPEG) WriteAccessUnit(au *media.AccessUnit) error {
	if m.stream.Codec == media.MJPEG && au.DTS >= m.due && m.Det != nil {
		iv := m.Det.Interval()
		m.due += iv
		if m.due <= au.DTS {
			m.due = au.DTS + iv
		}
		var data []byte
		if len(au.NALUs) == 1 {
			data = au.NALUs[0]
		} else {
			data = bytes.Join(au.NALUs, nil)
		}
		if err := m.Picture(m.stream.Epoch.Add(au.PTS), data); err != nil {
			m.Errors++
		}
	}
	if m.Next != nil {
		return m.Next.WriteAccessUnit(au)
	}
	return nil
}

// StreamEnded implements media.Sink.
func (m *MJPEG) StreamEnded(err error) {
	if m.Det != nil {
		m.Det.Close(m.stream.Epoch.Add(m.due))
	}
	if m.Next != nil {
		m.Next.StreamEnded(err)
	}
}

// Picture analyses one JPEG picture taken at t.
func (m *MJPEG) Picture(t time.Time, data []byte) error {
	cfg, err := jpeg.DecodeConfig(bytes.NewReader(data))
	if err != nil {
		return fmt.Errorf("motion: JPEG header: %w", err)
	}
	if cfg.Width > mjMaxSide || cfg.Height > mjMaxSide {
		return fmt.Errorf("motion: JPEG %dx%d larger than %d pixels a side", cfg.Width, cfg.Height, mjMaxSide)
	}
	img, err := jpeg.Decode(bytes.NewReader(data))
	if err != nil {
		return fmt.Errorf("motion: decode JPEG: %w", err)
	}
	return m.Image(t, img)
}

// Image analyses one decoded picture taken at t.
func (m *MJPEG) Image(t time.Time, img image.Image) error {
	b := img.Bounds()
	bw, bh := b.Dx()/16, b.Dy()/16
	if bw == 0 || bh == 0 {
		return fmt.Errorf("motion: picture %dx%d smaller than one block", b.Dx(), b.Dy())
	}
	sw, sh := bw*mjBlock, bh*mjBlock
	if sw != m.sw || sh != m.sh {
		m.sw, m.sh, m.prev = sw, sh, nil
		m.cur = make([]uint8, sw*sh)
	}
	shrinkLuma(img, m.cur, sw, sh)
	if m.prev == nil {
		m.prev = make([]uint8, len(m.cur))
		copy(m.prev, m.cur)
		return nil
	}
	if cap(m.act) < bw*bh {
		m.act = make([]float32, bw*bh)
	}
	act := m.act[:bw*bh]
	var sum, sum2 float64
	for by := 0; by < bh; by++ {
		for bx := 0; bx < bw; bx++ {
			diff := 0
			for y := by * mjBlock; y < (by+1)*mjBlock; y++ {
				row := y * sw
				for x := bx * mjBlock; x < (bx+1)*mjBlock; x++ {
					c := int(m.cur[row+x])
					d := c - int(m.prev[row+x])
					if d < 0 {
						d = -d
					}
					diff += d
					sum += float64(c)
					sum2 += float64(c * c)
				}
			}
			act[by*bw+bx] = float32(diff) / (mjBlock * mjBlock) * mjScale
		}
	}
	n := float64(len(m.cur))
	mean := sum / n
	flat := sum2/n-mean*mean < mjFlat*mjFlat
	m.prev, m.cur = m.cur, m.prev
	m.Analysed++
	m.Det.ObserveActivity(t, bw, bh, act, flat)
	return nil
}

// shrinkLuma averages mjShrink x mjShrink pixels of img's luma into dst.
func shrinkLuma(img image.Image, dst []uint8, sw, sh int) {
	b := img.Bounds()
	if yc, ok := img.(*image.YCbCr); ok {
		for y := 0; y < sh; y++ {
			for x := 0; x < sw; x++ {
				s := 0
				for yy := 0; yy < mjShrink; yy++ {
					off := yc.YOffset(b.Min.X+x*mjShrink, b.Min.Y+y*mjShrink+yy)
					for xx := 0; xx < mjShrink; xx++ {
						s += int(yc.Y[off+xx])
					}
				}
				dst[y*sw+x] = uint8(s / (mjShrink * mjShrink))
			}
		}
		return
	}
	if g, ok := img.(*image.Gray); ok {
		for y := 0; y < sh; y++ {
			for x := 0; x < sw; x++ {
				s := 0
				for yy := 0; yy < mjShrink; yy++ {
					off := g.PixOffset(b.Min.X+x*mjShrink, b.Min.Y+y*mjShrink+yy)
					for xx := 0; xx < mjShrink; xx++ {
						s += int(g.Pix[off+xx])
					}
				}
				dst[y*sw+x] = uint8(s / (mjShrink * mjShrink))
			}
		}
		return
	}
	for y := 0; y < sh; y++ {
		for x := 0; x < sw; x++ {
			s := 0
			for yy := 0; yy < mjShrink; yy++ {
				for xx := 0; xx < mjShrink; xx++ {
					r, g, bl, _ := img.At(b.Min.X+x*mjShrink+xx, b.Min.Y+y*mjShrink+yy).RGBA()
					s += int((19595*r + 38470*g + 7471*bl + 1<<15) >> 24)
				}
			}
			dst[y*sw+x] = uint8(s / (mjShrink * mjShrink))
		}
	}
}
