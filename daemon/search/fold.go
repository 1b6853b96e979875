package search

import (
	"strings"
	"unicode"

	"github.com/blevesearch/bleve/v2/analysis"
	"github.com/blevesearch/bleve/v2/analysis/analyzer/custom"
	"github.com/blevesearch/bleve/v2/analysis/char/asciifolding"
	"github.com/blevesearch/bleve/v2/analysis/token/lowercase"
	unicodetok "github.com/blevesearch/bleve/v2/analysis/tokenizer/unicode"
	"github.com/blevesearch/bleve/v2/mapping"
	"github.com/blevesearch/bleve/v2/registry"

	"github.com/matthan/matthan/daemon/events"
)

// Vietnamese folding: people type on phones without diacritics, or with
// Telex-less keyboards, so "chuyen dong", "CHUYỂN ĐỘNG" and "chuyển động"
// must find the same events. The text field is indexed and queried with
// foldAnalyzer: diacritics dropped (đ/Đ → d too, which Unicode
// decomposition alone does not do), then lower case. No stop words: folded
// Vietnamese words ("thể" → "the", "tổ" → "to", "ăn" → "an") would be
// dropped as English ones.
const (
	foldCharFilter = "matthan_vi_fold"
	foldAnalyzer   = "matthan_vi"
)

// mappingVersion names the analysis of the index: an index made with
// another one (or none: before folding) is rebuilt from the event log at
// open, so that boxes in the field upgrade. Change it whenever newMapping
// or the analysis changes.
const mappingVersion = "2-vi-fold"

// mappingMark is bleve's internal key holding mappingVersion.
var mappingMark = []byte("matthan.mapping")

// foldFilter drops combining marks (text typed as decomposed Unicode, as
// some phones send it) and folds the rest to ASCII.
type foldFilter struct{ ascii analysis.CharFilter }

func (f foldFilter) Filter(in []byte) []byte {
	s := string(in)
	if strings.IndexFunc(s, func(r rune) bool { return unicode.Is(unicode.Mn, r) }) >= 0 {
		s = strings.Map(func(r rune) rune {
			if unicode.Is(unicode.Mn, r) {
				return -1
			}
			return r
		}, s)
	}
	return f.ascii.Filter([]byte(s))
}

func init() {
	registry.RegisterCharFilter(foldCharFilter, func(map[string]any, *registry.Cache) (analysis.CharFilter, error) {
		return foldFilter{ascii: asciifolding.New()}, nil
	})
}

// addFoldAnalyzer adds foldAnalyzer to the index mapping.
func addFoldAnalyzer(im *mapping.IndexMappingImpl) error {
	return im.AddCustomAnalyzer(foldAnalyzer, map[string]any{
		"type":          custom.Name,
		"char_filters":  []any{foldCharFilter},
		"tokenizer":     unicodetok.Name,
		"token_filters": []any{lowercase.Name},
	})
}

// typeWords are the names people use for each type of event, Vietnamese
// and English: indexed with the event's text, so that "chuyển động" finds a
// motion event that is still going on (it has no text until it ends).
var typeWords = map[events.Type]string{
	events.Motion:         "chuyển động motion",
	events.CameraOffline:  "mất kết nối mất tín hiệu offline",
	events.CameraOnline:   "kết nối lại online",
	events.SceneChange:    "đổi cảnh scene change",
	events.Tamper:         "che phá tamper",
	events.DiskLow:        "ổ đĩa sắp đầy disk low",
	events.DiskError:      "lỗi ổ đĩa disk error",
	events.RetentionPurge: "xoá bản ghi cũ retention",
	events.Pairing:        "nút ghép nối pairing button",
	events.LoginFailures:  "đăng nhập sai login failed",
	events.Update:         "cập nhật phần mềm firmware update",
}

// indexedText is what the text field holds for e.
func indexedText(e events.Event) string {
	if w := typeWords[e.Type]; w != "" {
		return e.Text + " \n " + w
	}
	return e.Text
}

// plainWords reports whether s is words only, without query syntax: such a
// query must find events holding all of its words, in any case, with or
// without diacritics.
// "a OR b" keeps the query string's meaning (any of the words).
func plainWords(s string) bool {
	if strings.ContainsAny(s, `+-:"*?~^()[]{}!\/&|<>=`) {
		return false
	}
	for _, w := range strings.Fields(s) {
		if w == "OR" {
			return false
		}
	}
	return true
}
