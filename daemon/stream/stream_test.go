package stream

import (
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/matthan/matthan/daemon/media"
)

// logSink records what it gets; block, when set, holds every call until
// closed (a reader that stopped reading).
type logSink struct {
	mu      sync.Mutex
	got     []string
	starts  int
	block   chan struct{}
	entered chan struct{}
}

func (s *logSink) wait() {
	if s.block != nil {
		select {
		case s.entered <- struct{}{}:
		default:
		}
		<-s.block
	}
}

func (s *logSink) add(x string) {
	s.mu.Lock()
	s.got = append(s.got, x)
	s.mu.Unlock()
}

func (s *logSink) StreamStarted(st media.Stream) error {
	s.add("start:" + st.Camera)
	return nil
}

func (s *logSink) WriteAccessUnit(au *media.AccessUnit) error {
	s.wait()
	if au.Key {
		s.add("K" + string(au.NALUs[0]))
	} else {
		s.add(string(au.NALUs[0]))
	}
	return nil
}

func (s *logSink) StreamEnded(error) { s.add("end") }

func (s *logSink) log() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.got...)
}

func write(p *Publisher, name string, key bool) {
	buf := []byte(name)
	p.WriteAccessUnit(&media.AccessUnit{Key: key, NALUs: [][]byte{buf}})
	copy(buf, "!!!!!!") // the caller reuses its bytes: readers must have a copy
}

// One reader that stops reading is cut, resumes at a key frame (with the
// stream started again when it changed), and the other reader gets every
// access unit in order; the camera never waits.
func TestFrozenReaderIsCutAndResumesAtKeyFrame(t *testing.T) {
	p := New()
	good := &logSink{}
	slow := &logSink{block: make(chan struct{}), entered: make(chan struct{}, 1)}
	p.Add("good", good, ReaderOptions{})
	rs := p.Add("slow", slow, ReaderOptions{Queue: 2})
	p.StreamStarted(media.Stream{Camera: "a"})
	write(p, "1", false) // before the first key frame: nobody gets it
	write(p, "2", true)
	<-slow.entered // the slow reader is stuck inside "2"
	done := make(chan struct{})
	go func() {
		for i := 3; i <= 9; i++ {
			write(p, string(rune('0'+i)), false)
		}
		p.StreamEnded(errors.New("camera gone"))
		p.StreamStarted(media.Stream{Camera: "b"})
		write(p, "x", false)
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("the camera waited for a stuck reader")
	}
	close(slow.block) // it reads again
	for deadline := time.Now().Add(5 * time.Second); len(rs.q) > 0 && time.Now().Before(deadline); {
		time.Sleep(time.Millisecond)
	}
	write(p, "y", true)
	write(p, "z", false)
	p.Close()
	// (a new stream starts for its readers at its first key frame)
	if want := []string{"start:a", "K2", "3", "4", "5", "6", "7", "8", "9", "end", "start:b", "Ky", "z", "end"}; !slices.Equal(good.log(), want) {
		t.Errorf("good reader got %v, want %v", good.log(), want)
	}
	// The slow one: "2", what fit in its queue (4 items), the end it was
	// owed, then the new stream from its key frame.
	if want := []string{"start:a", "K2", "3", "4", "5", "6", "end", "start:b", "Ky", "z", "end"}; !slices.Equal(slow.log(), want) {
		t.Errorf("slow reader got %v, want %v", slow.log(), want)
	}
	if st := rs.Stats(); st.Cuts != 1 || st.Delivered != 7 {
		t.Errorf("slow reader stats %+v", st)
	}
}

// A reader removed mid-stream gets the stream's end and stops; a reader
// added mid-stream starts at the next key frame.
func TestAddRemove(t *testing.T) {
	p := New()
	a, b := &logSink{}, &logSink{}
	ra := p.Add("a", a, ReaderOptions{})
	p.StreamStarted(media.Stream{Camera: "c"})
	write(p, "1", true)
	p.Add("b", b, ReaderOptions{})
	write(p, "2", false)
	p.Remove(ra)
	write(p, "3", true)
	p.Close()
	if want := []string{"start:c", "K1", "2", "end"}; !slices.Equal(a.log(), want) {
		t.Errorf("a got %v, want %v", a.log(), want)
	}
	if want := []string{"start:c", "K3", "end"}; !slices.Equal(b.log(), want) {
		t.Errorf("b got %v, want %v", b.log(), want)
	}
}

// The byte bound cuts a reader as the count bound does.
func TestByteBound(t *testing.T) {
	p := New()
	s := &logSink{block: make(chan struct{}), entered: make(chan struct{}, 1)}
	r := p.Add("s", s, ReaderOptions{Queue: 100, Bytes: 3})
	p.StreamStarted(media.Stream{Camera: "c"})
	write(p, "1", true)
	<-s.entered
	for _, n := range []string{"2", "3", "4", "5"} {
		write(p, n, false)
	}
	close(s.block)
	p.Close()
	// "1" (being written) counts until written: 1+2+3 fill the 3 bytes.
	if want := []string{"start:c", "K1", "2", "3", "end"}; !slices.Equal(s.log(), want) {
		t.Errorf("got %v, want %v", s.log(), want)
	}
	if st := r.Stats(); st.Cuts != 1 || st.Dropped != 2 {
		t.Errorf("stats %+v", st)
	}
}

// TestSizeClass: a copy goes to the smallest power-of-two buffer from 4 KiB
// that holds it; past 8 MiB it is not pooled.
func TestSizeClass(t *testing.T) {
	for _, tt := range []struct{ size, want int }{
		{0, 0}, {1, 0}, {4096, 0}, {4097, 1}, {20 << 10, 3}, {8 << 20, 11}, {8<<20 + 1, classes},
	} {
		if got := class(tt.size); got != tt.want {
			t.Errorf("class(%d) = %d, want %d", tt.size, got, tt.want)
		}
	}
}

// audioSink is a logSink that takes audio.
type audioSink struct{ logSink }

func (s *audioSink) WriteAudio(u *media.AudioUnit) error {
	s.add("a" + string(u.Data) + "@" + u.PTS.String())
	return nil
}

// TestAudioFollowsThePictures: audio units reach, in order among the
// pictures, only the readers whose sink takes audio, and only once the
// reader has the stream from a key frame.
func TestAudioFollowsThePictures(t *testing.T) {
	p := New()
	a, v := &audioSink{}, &logSink{}
	p.Add("a", a, ReaderOptions{})
	p.Add("v", v, ReaderOptions{})
	p.StreamStarted(media.Stream{Camera: "c", Audio: &media.Audio{Codec: media.PCMA, SampleRate: 8000, Channels: 1}})
	au := func(s string, key bool) { p.WriteAccessUnit(&media.AccessUnit{Key: key, NALUs: [][]byte{[]byte(s)}}) }
	audio := func(s string, ms int) {
		p.WriteAudio(&media.AudioUnit{PTS: time.Duration(ms) * time.Millisecond, Data: []byte(s)})
	}
	audio("0", 0) // before the first key frame: nobody has the stream
	au("p", false)
	au("1", true)
	audio("1", 20)
	au("2", false)
	audio("2", 40)
	p.Close()
	if got, want := a.log(), []string{"start:c", "K1", "a1@20ms", "2", "a2@40ms", "end"}; !slices.Equal(got, want) {
		t.Errorf("audio reader got %q, want %q", got, want)
	}
	if got, want := v.log(), []string{"start:c", "K1", "2", "end"}; !slices.Equal(got, want) {
		t.Errorf("video reader got %q, want %q", got, want)
	}
}
