package motion

import (
	"bytes"
	"image"
	"image/jpeg"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/matthan/matthan/daemon/events"
	"github.com/matthan/matthan/daemon/media"
)

// street draws a 640x360 grey street with sensor noise.
func street(rng *rand.Rand, level int) *image.Gray {
	img := image.NewGray(image.Rect(0, 0, 640, 360))
	for y := 0; y < 360; y++ {
		for x := 0; x < 640; x++ {
			v := level + (x/40)%3*12 + (y/30)%2*10 + rng.IntN(9) - 4
			img.Pix[y*img.Stride+x] = uint8(max(0, min(255, v)))
		}
	}
	return img
}

func box(img *image.Gray, x0, y0, w, h int, v uint8) {
	for y := max(y0, 0); y < min(y0+h, 360); y++ {
		for x := max(x0, 0); x < min(x0+w, 640); x++ {
			img.Pix[y*img.Stride+x] = v
		}
	}
}

func TestMJPEGDetector(t *testing.T) {
	for _, tt := range []struct {
		name                  string
		paint                 func(i int, img *image.Gray) *image.Gray // i counts pictures at 5/s
		motion, scene, tamper int
	}{
		{name: "static street", paint: func(i int, img *image.Gray) *image.Gray { return img }},
		{name: "person crossing", motion: 1, paint: func(i int, img *image.Gray) *image.Gray {
			if i >= 30 && i < 55 {
				box(img, (i-30)*26, 150, 40, 110, 220)
			}
			return img
		}},
		{name: "lights switched on", scene: 1, paint: func(i int, img *image.Gray) *image.Gray {
			if i >= 40 {
				for j := range img.Pix {
					img.Pix[j] = uint8(min(255, int(img.Pix[j])+70))
				}
			}
			return img
		}},
		{name: "lens covered", tamper: 1, paint: func(i int, img *image.Gray) *image.Gray {
			if i >= 40 {
				box(img, 0, 0, 640, 360, 8)
			}
			return img
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			rec := &recorder{}
			det, err := New("mjcam", "", Config{}, rec)
			if err != nil {
				t.Fatal(err)
			}
			m := &MJPEG{Det: det}
			m.StreamStarted(media.Stream{Camera: "mjcam", Codec: media.MJPEG, Epoch: t0})
			rng := rand.New(rand.NewPCG(5, 6))
			var buf bytes.Buffer
			for i := 0; i < 80; i++ {
				img := tt.paint(i, street(rng, 90))
				buf.Reset()
				if err := jpeg.Encode(&buf, img, &jpeg.Options{Quality: 80}); err != nil {
					t.Fatal(err)
				}
				// 25 fps camera: four of five pictures are not analysed.
				for k := 0; k < 5; k++ {
					d := time.Duration(i*5+k) * 40 * time.Millisecond
					if err := m.WriteAccessUnit(&media.AccessUnit{DTS: d, PTS: d, Key: true, NALUs: [][]byte{buf.Bytes()}}); err != nil {
						t.Fatal(err)
					}
				}
			}
			m.StreamEnded(nil)
			if m.Analysed != 79 || m.Errors != 0 {
				t.Errorf("analysed %d pictures with %d errors, want 79 and 0", m.Analysed, m.Errors)
			}
			mot, sc, ta := rec.closed(events.Motion), rec.closed(events.SceneChange), rec.closed(events.Tamper)
			if len(mot) != tt.motion || len(sc) != tt.scene || len(ta) != tt.tamper {
				t.Fatalf("got %d motion, %d scene change, %d tamper events, want %d, %d, %d: %+v",
					len(mot), len(sc), len(ta), tt.motion, tt.scene, tt.tamper, rec.evs)
			}
			if tt.motion > 0 {
				if d := mot[0].Start.Sub(t0.Add(6 * time.Second)); d < 0 || d > time.Second {
					t.Errorf("motion starts %v after the person appears, want within 1 s", d)
				}
			}
		})
	}
}

func FuzzMJPEGPicture(f *testing.F) {
	var buf bytes.Buffer
	jpeg.Encode(&buf, image.NewGray(image.Rect(0, 0, 32, 32)), nil)
	f.Add(buf.Bytes())
	f.Add([]byte{0xff, 0xd8, 0xff})
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		det, _ := New("c", "", Config{}, nil)
		m := &MJPEG{Det: det}
		for i := 0; i < 3; i++ {
			_ = m.Picture(t0.Add(time.Duration(i)*time.Second), data)
		}
	})
}
