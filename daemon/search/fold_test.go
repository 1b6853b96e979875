package search

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/blevesearch/bleve/v2"
	"github.com/blevesearch/bleve/v2/analysis/analyzer/standard"
	"github.com/blevesearch/bleve/v2/mapping"

	"github.com/matthan/matthan/daemon/events"
)

// foldEvents: a finished motion event, one still going on (no text, no
// end), a camera going offline, a "đèn đường" event and a "dong" that is
// not "động".
func foldEvents() []events.Event {
	return []events.Event{
		{ID: "m-done", Type: events.Motion, Camera: "cam1", Start: base, End: base.Add(20 * time.Second), Text: "chuyển động 16 khối / motion 16 macroblocks"},
		{ID: "m-open", Type: events.Motion, Camera: "cam2", Start: base.Add(time.Minute)},
		{ID: "off", Type: events.CameraOffline, Camera: "cam1", Start: base.Add(2 * time.Minute), Text: "Mất kết nối camera / camera offline: describe: 503"},
		{ID: "den", Type: events.SceneChange, Camera: "cam3", Start: base.Add(3 * time.Minute), Text: "Đèn đường bật sáng"},
		{ID: "dong", Type: events.SceneChange, Camera: "cam3", Start: base.Add(4 * time.Minute), Text: "cửa đóng"},
	}
}

func TestSearchFoldsVietnamese(t *testing.T) {
	x := mustOpen(t, filepath.Join(t.TempDir(), "events.bleve"), Options{})
	t.Cleanup(func() { x.Close() })
	for _, e := range foldEvents() {
		x.Publish(e)
	}
	if err := x.Flush(); err != nil {
		t.Fatal(err)
	}
	motion := []string{"m-open", "m-done"}
	for _, tt := range []struct {
		q    string
		want []string // newest first
	}{
		{"chuyển động", motion},
		{"chuyen dong", motion},
		{"CHUYỂN ĐỘNG", motion},
		{"Chuyen Dong", motion},
		{"chuye\u0302\u0309n đo\u0302\u0323ng", motion}, // decomposed, as some phones send it
		{"motion", motion},
		{"mất kết nối", []string{"off"}},
		{"mat ket noi", []string{"off"}},
		{"MAT KET NOI", []string{"off"}},
		{"đèn đường", []string{"den"}},
		{"den duong", []string{"den"}},
		{"DEN DUONG", []string{"den"}},
		{"ĐÈN", []string{"den"}},
		{"dong", []string{"dong", "m-open", "m-done"}}, // folding makes "đóng" and "động" one word
		{"cua dong", []string{"dong"}},                 // all the words, not any
		{"xe máy", nil},
		{"+type:motion", motion}, // the query string still works
	} {
		t.Run(tt.q, func(t *testing.T) {
			res, err := x.Search(t.Context(), Query{Text: tt.q})
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, e := range res.Events {
				got = append(got, e.ID)
			}
			if !slices.Equal(got, tt.want) || res.Total != uint64(len(tt.want)) {
				t.Errorf("%q found %v (total %d), want %v", tt.q, got, res.Total, tt.want)
			}
		})
	}
	// The open event, published again when it ends, is one event.
	x.Publish(events.Event{ID: "m-open", Type: events.Motion, Camera: "cam2", Start: base.Add(time.Minute), End: base.Add(90 * time.Second), Text: "chuyển động 40 khối / motion 40 macroblocks"})
	if err := x.Flush(); err != nil {
		t.Fatal(err)
	}
	res, err := x.Search(t.Context(), Query{Text: "chuyen dong"})
	if err != nil || res.Total != 2 || res.Events[0].ID != "m-open" || res.Events[0].End.IsZero() {
		t.Fatalf("after the end: %v %+v", err, res)
	}
}

// oldMapping is the mapping before Vietnamese folding (standard analyzer,
// no mapping mark).
func oldMapping() mapping.IndexMapping {
	im := newMapping().(*mapping.IndexMappingImpl)
	im.DefaultMapping.Properties[fText].Fields[0].Analyzer = standard.Name
	delete(im.CustomAnalysis.Analyzers, foldAnalyzer)
	return im
}

// A box in the field has an index made before folding: opening it with the
// new version rebuilds it from the event log, and then diacritic-free
// queries find its events.
func TestMappingChangeRebuildsFromLog(t *testing.T) {
	path := filepath.Join(t.TempDir(), "events.bleve")
	x := mustOpen(t, path, Options{})
	evs := foldEvents()
	for _, e := range evs {
		x.Publish(e)
	}
	if err := x.Close(); err != nil {
		t.Fatal(err)
	}
	// Replace the index by one as the old version made it, fully caught
	// up with the log.
	idx, err := bleve.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	mark, err := idx.GetInternal(logMark)
	if err != nil || len(mark) != 16 {
		t.Fatalf("log mark %x: %v", mark, err)
	}
	idx.Close()
	if err := os.RemoveAll(path); err != nil {
		t.Fatal(err)
	}
	idx, err = bleve.New(path, oldMapping())
	if err != nil {
		t.Fatal(err)
	}
	b := idx.NewBatch()
	for _, e := range evs {
		j, _ := json.Marshal(e)
		b.Index(e.ID, doc{Type: string(e.Type), Camera: e.Camera, Start: e.Start, Text: e.Text, J: string(j)})
	}
	b.SetInternal(logMark, mark)
	if err := idx.Batch(b); err != nil {
		t.Fatal(err)
	}
	if res, err := idx.Search(bleve.NewSearchRequest(bleve.NewMatchQuery("chuyen"))); err != nil || res.Total != 0 {
		t.Fatalf("the old index already folds: %v %v", err, res)
	}
	idx.Close()

	x = mustOpen(t, path, Options{})
	defer x.Close()
	if !x.Rebuilt {
		t.Error("Rebuilt not set")
	}
	<-x.catchDone
	res, err := x.Search(t.Context(), Query{Text: "chuyen dong"})
	if err != nil || res.Total != 2 {
		t.Fatalf("after the upgrade \"chuyen dong\" found %v: %v", res, err)
	}
	if n, _ := x.Count(); n != uint64(len(evs)) {
		t.Errorf("%d events in the rebuilt index, want %d", n, len(evs))
	}
	// Opening again does not rebuild.
	x.Close()
	x = mustOpen(t, path, Options{})
	defer x.Close()
	if x.Rebuilt {
		t.Error("rebuilt an index made with the current mapping")
	}
}

// viLetters is the Vietnamese alphabet with every tone, both cases.
const viLetters = "aàáảãạăằắẳẵặâầấẩẫậbcdđeèéẻẽẹêềếểễệghiìíỉĩịklmnoòóỏõọôồốổỗộơờớởỡợpqrstuùúủũụưừứửữựvxyỳýỷỹỵ" +
	"AÀÁẢÃẠĂẰẮẲẴẶÂẦẤẨẪẬBCDĐEÈÉẺẼẸÊỀẾỂỄỆGHIÌÍỈĨỊKLMNOÒÓỎÕỌÔỒỐỔỖỘƠỜỚỞỠỢPQRSTUÙÚỦŨỤƯỪỨỬỮỰVXYỲÝỶỸỴ "

// FuzzFold: the text analyzer takes any input without panicking, and
// Vietnamese text (from raw's bytes) always comes out as lower-case ASCII
// words, so that a query typed without diacritics can match it.
func FuzzFold(f *testing.F) {
	for _, s := range []string{"", "chuyển động", "ĐÈN ĐƯỜNG", "a\u0300\u0301", "\xff\xfe", "cổng/xe-máy 16:00"} {
		f.Add(s)
	}
	an := newMapping().AnalyzerNamed(foldAnalyzer)
	if an == nil {
		f.Fatal("no folding analyzer")
	}
	letters := []rune(viLetters)
	f.Fuzz(func(t *testing.T, raw string) {
		an.Analyze([]byte(raw))
		var vi []rune
		for i := 0; i < len(raw); i++ {
			vi = append(vi, letters[int(raw[i])%len(letters)])
		}
		for _, tok := range an.Analyze([]byte(string(vi))) {
			for _, c := range tok.Term {
				if c < 'a' || c > 'z' {
					t.Fatalf("%q gave the term %q", string(vi), tok.Term)
				}
			}
		}
	})
}
