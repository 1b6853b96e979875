package webadmin

import (
	"bufio"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
	"unicode"
)

// viAllowed are the words the Vietnamese page keeps as they are: names of
// things, standards and programs, and the other language's own name on the
// language switch.
var viAllowed = map[string]bool{
	"camera": true, "video": true, "rtsp": true, "rtsps": true, "dhcp": true, "dns": true, "mac": true, "smart": true,
	"usb": true, "mdns": true, "wi": true, "fi": true, "ip": true, "http": true, "https": true, "sha": true, "mp4": true,
	"sd": true, "english": true, "readme": true,
}

// viAllowedPhrases are removed before the words are checked: file and
// program names the page tells people to look for.
var viAllowedPhrases = []string{"matthan-verify", "matthan-network.txt", "manifest.json", "manifest.sig", "Mắt Thần"}

// TestNoEnglishInVietnamese: no common English UI word in any Vietnamese
// string the page shows: the message tables, the templates' text and the
// Vietnamese half of every L('vi', 'en') in app.js.
func TestNoEnglishInVietnamese(t *testing.T) {
	english := readWordList(t, "testdata/english-ui-words.txt")
	var found []string
	check := func(where, s string) {
		for _, w := range englishWords(s, english) {
			found = append(found, where+": "+strconv.Quote(w)+" in "+strconv.Quote(s))
		}
	}
	for k, m := range messages {
		check("messages["+k+"]", m[0])
	}
	tmpls, _ := filepath.Glob("templates/*.html")
	for _, p := range tmpls {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range templateText(string(b)) {
			check(p, s)
		}
	}
	js, err := os.ReadFile("static/app.js")
	if err != nil {
		t.Fatal(err)
	}
	pairs := viFromJS(string(js))
	if len(pairs) < 200 {
		t.Fatalf("only %d L('vi', 'en') pairs parsed from app.js", len(pairs))
	}
	for _, s := range pairs {
		check("app.js", s)
	}
	sort.Strings(found)
	for _, f := range found {
		t.Error(f)
	}
}

// TestEnglishWordsFound: the check finds what it must (so that the test
// above cannot pass by finding nothing).
func TestEnglishWordsFound(t *testing.T) {
	english := readWordList(t, "testdata/english-ui-words.txt")
	for s, want := range map[string]string{
		"Đã lưu. Daemon sẽ áp dụng khi khởi động lại.": "daemon",
		"Từ khoá (cú pháp bleve, ví dụ: type:motion)":  "bleve type motion",
		"retention_delete": "retention delete",
		"TẮT (auto)":       "auto",
		"Camera mất kết nối (không phản hồi)":            "",
		"Dùng chương trình matthan-verify, cổng USB, IP": "",
		"Đỗ xe ở đây do trời mưa":                        "",
	} {
		if got := strings.Join(englishWords(s, english), " "); got != want {
			t.Errorf("%q: found %q, want %q", s, got, want)
		}
	}
	js := `x = L('Đã xoá ' + n + ' đoạn', 'Deleted ' + n) + L("a \"b\" c", 'd') + fill(L('e\'f', (g, h) => 'i')); // L('no', 'x')`
	if got := strings.Join(viFromJS(js), "|"); got != `Đã xoá   đoạn|a "b" c|e'f|no` {
		t.Errorf("viFromJS: %q", got)
	}
}

// TestStoredNamesTranslated: what the page shows from stored values (an
// event's type, an audit action, the IR light's mode) has a Vietnamese
// name in app.js, so no raw "retention_delete" or "auto" reaches the page.
func TestStoredNamesTranslated(t *testing.T) {
	js, err := os.ReadFile("static/app.js")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ fn, file, typ, doc string }{
		{"typeName", "../daemon/events/events.go", "Type", ""},
		{"actionName", "../daemon/audit/audit.go", "", "Actions"},
		{"irModeName", "../daemon/lights/ir.go", "Mode", ""},
	} {
		keys := jsMapKeys(t, string(js), tc.fn)
		for _, v := range goStringConsts(t, tc.file, tc.typ, tc.doc) {
			if !keys[v] {
				t.Errorf("app.js %s has no name for %q (%s)", tc.fn, v, tc.file)
			}
		}
	}
}

func readWordList(t *testing.T, path string) map[string]bool {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	words := map[string]bool{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if w := strings.TrimSpace(sc.Text()); w != "" && !strings.HasPrefix(w, "#") {
			words[strings.ToLower(w)] = true
		}
	}
	if len(words) < 300 {
		t.Fatalf("%s: only %d words", path, len(words))
	}
	return words
}

// englishWords lists the words of s found in english (lower case, in
// order), allowed names and phrases aside.
func englishWords(s string, english map[string]bool) []string {
	for _, p := range viAllowedPhrases {
		s = strings.ReplaceAll(s, p, " ")
	}
	var out []string
	for _, w := range strings.FieldsFunc(s, func(r rune) bool { return !unicode.IsLetter(r) && !unicode.IsDigit(r) }) {
		w = strings.ToLower(w)
		if len(w) > 1 && english[w] && !viAllowed[w] {
			out = append(out, w)
		}
	}
	return out
}

var (
	tmplAction = regexp.MustCompile(`(?s)\{\{.*?\}\}`)
	tmplTag    = regexp.MustCompile(`(?s)<[^>]*>`)
	tmplAttr   = regexp.MustCompile(`\b(?:placeholder|title|aria-label|alt)="([^"]*)"`)
)

// templateText is the text a template shows itself (its {{t}} calls are
// the message tables'): text between tags, and attributes people read.
func templateText(src string) []string {
	src = tmplAction.ReplaceAllString(src, " ")
	var out []string
	for _, m := range tmplAttr.FindAllStringSubmatch(src, -1) {
		out = append(out, m[1])
	}
	// The language switch names the other language: its English text
	// ("Tiếng Việt") shows on the English page only.
	src = strings.ReplaceAll(src, "Tiếng Việt", " ")
	for _, s := range strings.Split(tmplTag.ReplaceAllString(src, "\n"), "\n") {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}

// viFromJS returns the first argument of every L(vi, en) call in a
// script: its string literals joined by spaces (an argument may be
// 'Đã xoá ' + n + ' đoạn').
func viFromJS(src string) []string {
	var out []string
	for i := 0; i+1 < len(src); i++ {
		if src[i] != 'L' || src[i+1] != '(' || (i > 0 && isIdent(src[i-1])) {
			continue
		}
		var parts []string
		depth := 0
	arg:
		for j := i + 2; j < len(src); j++ {
			switch c := src[j]; c {
			case '\'', '"', '`':
				lit, end := jsString(src, j)
				parts = append(parts, lit)
				j = end
			case '(', '[', '{':
				depth++
			case ')', ']', '}':
				if depth == 0 {
					break arg
				}
				depth--
			case ',':
				if depth == 0 {
					break arg
				}
			}
		}
		out = append(out, strings.Join(parts, " "))
	}
	return out
}

func isIdent(c byte) bool {
	return c == '_' || c == '$' || c == '.' || c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
}

// jsString reads the literal opening at src[i]; it returns its text and
// the index of its closing quote.
func jsString(src string, i int) (string, int) {
	q := src[i]
	var b strings.Builder
	for j := i + 1; j < len(src); j++ {
		switch src[j] {
		case '\\':
			if j+1 < len(src) {
				j++
				b.WriteByte(src[j])
			}
		case q:
			return b.String(), j
		default:
			b.WriteByte(src[j])
		}
	}
	return b.String(), len(src)
}

// jsMapKeys reads the keys of the object literal in `const fn = (x) => ({ key: ..., ... }[x]`.
func jsMapKeys(t *testing.T, js, fn string) map[string]bool {
	t.Helper()
	i := strings.Index(js, "const "+fn+" = ")
	if i < 0 {
		t.Fatalf("app.js has no %s", fn)
	}
	body := js[i:]
	body = body[:strings.Index(body, "}[")]
	keys := map[string]bool{}
	for _, m := range regexp.MustCompile(`(?:[{,]\s*)([a-z_]+): L\(`).FindAllStringSubmatch(body, -1) {
		keys[m[1]] = true
	}
	return keys
}

// goStringConsts lists the string constants of a Go file: those of type
// typ, or (typ empty) those in const blocks whose comment starts with doc.
func goStringConsts(t *testing.T, path, typ, doc string) []string {
	t.Helper()
	f, err := parser.ParseFile(token.NewFileSet(), path, nil, parser.ParseComments)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, d := range f.Decls {
		g, ok := d.(*ast.GenDecl)
		if !ok || g.Tok != token.CONST {
			continue
		}
		if typ == "" && (g.Doc == nil || !strings.HasPrefix(g.Doc.Text(), doc)) {
			continue
		}
		for _, sp := range g.Specs {
			vs := sp.(*ast.ValueSpec)
			if id, ok := vs.Type.(*ast.Ident); typ != "" && (!ok || id.Name != typ) {
				continue
			}
			for _, v := range vs.Values {
				if bl, ok := v.(*ast.BasicLit); ok && bl.Kind == token.STRING {
					s, _ := strconv.Unquote(bl.Value)
					out = append(out, s)
				}
			}
		}
	}
	if len(out) == 0 {
		t.Fatalf("%s: no constants found", path)
	}
	return out
}
